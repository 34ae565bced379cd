"""The pocket-conditioned denoiser on a real complex: E(3) equivariance of the complex as
a whole, fixed pocket atoms, dependence on the pocket, batch independence."""
import pytest
import torch

from moldiff.data.complexes import LIGAND_ELEMENTS, complex_graph, find_complexes
from moldiff.data.protein import AMINO_ACIDS, POCKET_ELEMENTS
from moldiff.diffusion.pocket import encode_pocket
from moldiff.nn.pocket_egnn import PocketEGNNDenoiser, complex_edges
from moldiff.testing import random_orthogonal

POCKET_FEATURES = len(POCKET_ELEMENTS) + len(AMINO_ACIDS) + 2


def _inputs(graphs, dtype=torch.float64):
    lig_batch = torch.cat([torch.full((g.pos.shape[0],), k) for k, g in enumerate(graphs)])
    pocket_batch = torch.cat([torch.full((g.pocket_pos.shape[0],), k) for k, g in enumerate(graphs)])
    h = torch.cat([torch.nn.functional.one_hot(g.atom_type, len(LIGAND_ELEMENTS)) for g in graphs]).to(dtype)
    h = torch.cat([h, torch.cat([g.charge for g in graphs])[:, None].to(dtype)], dim=1)
    ph = torch.cat([encode_pocket(g.pocket_type, g.pocket_residue_type, g.pocket_backbone, dtype) for g in graphs])
    gen = torch.Generator().manual_seed(0)
    pos = torch.cat([g.pos for g in graphs]).to(dtype)
    pos = pos + 0.5 * torch.randn(pos.shape, generator=gen, dtype=dtype)  # a noisy ligand
    t = torch.rand(len(graphs), generator=gen, dtype=dtype)
    pocket_pos = torch.cat([g.pocket_pos for g in graphs]).to(dtype)
    return pos, h, t, lig_batch, len(graphs), pocket_pos, ph, pocket_batch


@pytest.fixture(scope="module")
def graphs(shared_data):
    entries = {e.id: e for e in find_complexes(shared_data / "smoke")}
    return [complex_graph(entries[k], radius=8.0) for k in ("dd_1a0q", "dsbdd_3rfm")]


def _model(pocket_cutoff=4.5, contact_radius=None):
    torch.manual_seed(0)
    return PocketEGNNDenoiser(len(LIGAND_ELEMENTS) + 1, POCKET_FEATURES, hidden=32, layers=3,
                              cutoff=6.0, pocket_cutoff=pocket_cutoff, contact_radius=contact_radius).double()


@pytest.mark.parametrize("pocket_cutoff,contact_radius", [(None, None), (4.5, None), (None, 5.0)])
def test_complex_equivariance(graphs, pocket_cutoff, contact_radius):
    model = _model(pocket_cutoff, contact_radius)
    pos, h, t, batch, b, ppos, ph, pbatch = _inputs(graphs)
    out_pos, out_h = model(pos, h, t, batch, b, ppos, ph, pbatch)
    assert out_pos.abs().max() > 1e-4  # not trivially zero
    for k in range(3):
        q = random_orthogonal(generator=torch.Generator().manual_seed(k), reflection=k == 1)
        shift = torch.tensor([10.0, -4.0, 7.0], dtype=torch.float64) * k
        rot_pos, rot_h = model(pos @ q.T + shift, h, t, batch, b, ppos @ q.T + shift, ph, pbatch)
        torch.testing.assert_close(rot_pos, out_pos @ q.T, atol=1e-9, rtol=1e-7)
        torch.testing.assert_close(rot_h, out_h, atol=1e-9, rtol=1e-7)


def test_pocket_conditions_the_output_and_batches_are_independent(graphs):
    model = _model()
    pos, h, t, batch, b, ppos, ph, pbatch = _inputs(graphs)
    out_pos, out_h = model(pos, h, t, batch, b, ppos, ph, pbatch)
    moved = ppos.clone()
    moved[pbatch == 0] += 0.7 * torch.randn(moved[pbatch == 0].shape, dtype=moved.dtype,
                                            generator=torch.Generator().manual_seed(1))
    new_pos, _ = model(pos, h, t, batch, b, moved, ph, pbatch)
    assert (new_pos[batch == 0] - out_pos[batch == 0]).abs().max() > 1e-6  # complex 0 sees its pocket
    torch.testing.assert_close(new_pos[batch == 1], out_pos[batch == 1])  # complex 1 does not
    one, pone = batch == 1, pbatch == 1
    alone, _ = model(pos[one], h[one], t[1:], batch[one] - 1, 1, ppos[pone], ph[pone], pbatch[pone] - 1)
    torch.testing.assert_close(alone, out_pos[batch == 1], atol=1e-9, rtol=1e-7)


def test_contact_radius_lets_a_touching_protein_atom_move_the_ligand(graphs):
    """With the flat 1/100 weight a protein atom in contact barely moves a ligand atom;
    with the contact envelope it moves it as much as a ligand neighbour would."""
    pos, h, t, batch, b, ppos, ph, pbatch = _inputs(graphs)
    one, pone = batch == 0, pbatch == 0
    pos, h, ppos, ph = pos[one], h[one], ppos[pone], ph[pone]
    batch, pbatch = batch[one], pbatch[pone]
    near = torch.cdist(pos[:1], ppos)[0].argmin()  # the protein atom nearest to ligand atom 0
    effect = {}
    for radius in (None, 5.0):
        model = _model(None, radius)
        for layer in model.layers:  # coordinate steps large enough to compare
            torch.nn.init.normal_(layer.coord_mlp[-1].weight, std=0.3)
        out, _ = model(pos, h, t[:1], batch, 1, ppos, ph, pbatch)
        moved = ppos.clone()
        moved[near] = pos[0] + 1.0 * (ppos[near] - pos[0]) / (ppos[near] - pos[0]).norm()  # 1 Å from atom 0
        out_moved, _ = model(pos, h, t[:1], batch, 1, moved, ph, pbatch)
        effect[radius] = (out_moved[0] - out[0]).norm().item()
    assert effect[5.0] > 10 * effect[None], effect


def test_pocket_repulsion_pushes_atoms_out_of_their_own_pocket_only():
    from moldiff.diffusion.guidance import PocketRepulsion

    gen = torch.Generator().manual_seed(0)
    pocket = torch.randn(40, 3, generator=gen, dtype=torch.float64) * 6
    pocket = pocket[pocket.norm(dim=1) > 4]  # a shell around an empty cavity
    pocket_batch = torch.zeros(len(pocket), dtype=torch.long)
    pocket = torch.cat([pocket, pocket])
    pocket_batch = torch.cat([pocket_batch, pocket_batch + 1])
    x0 = torch.randn(20, 3, generator=gen, dtype=torch.float64) * 3
    batch = torch.cat([torch.zeros(10, dtype=torch.long), torch.ones(10, dtype=torch.long)])
    x0[0] = pocket[0] + 0.3  # deep in a protein atom
    out = PocketRepulsion(pocket[pocket_batch == 0], pocket_batch[pocket_batch == 0], batch, 2.8)(x0)
    d = torch.cdist(out[batch == 0], pocket[pocket_batch == 0])
    assert torch.cdist(x0[:10], pocket[:len(pocket) // 2]).min() < 1 and d.min() > 2.7
    torch.testing.assert_close(out[batch == 1], x0[batch == 1])  # complex 1 has no pocket atoms here
    far = torch.cdist(x0[:10], pocket[: len(pocket) // 2]).min(1).values > 2.8
    torch.testing.assert_close(out[:10][far], x0[:10][far])  # atoms already clear do not move
    with pytest.raises(ValueError, match="positive"):
        PocketRepulsion(pocket, pocket_batch, batch, 0.0)


def test_pocket_repulsion_keeps_bonded_atoms_bonded():
    """A protein atom 0.5 Å from the end atom of a 3-atom chain (1.4 Å bonds): the end atom is
    pushed out and drags the chain with it instead of leaving it behind as a second fragment."""
    from moldiff.diffusion.guidance import BOND_DISTANCE, PocketRepulsion, fragments

    x0 = torch.tensor([[0.0, 0, 0], [1.4, 0, 0], [2.8, 0, 0]], dtype=torch.float64)
    pocket = torch.tensor([[2.8, 0.5, 0.0]], dtype=torch.float64)
    batch = torch.zeros(3, dtype=torch.long)
    out = PocketRepulsion(pocket, torch.zeros(1, dtype=torch.long), batch, 2.8)(x0)
    assert torch.cdist(out, pocket).min() > 2.7
    bonds = (out[1:] - out[:-1]).norm(dim=1)
    assert bonds.max() < BOND_DISTANCE and fragments(out, batch).unique().numel() == 1, bonds


def test_pocket_repulsion_does_not_crush_the_ligand_into_rings():
    """Two chains side by side 2.4 Å apart, a protein atom pressing on one: the push moves the
    chains together as a whole, never closer than SPREAD_DISTANCE (a crushed pair would bond and
    make a ring); a bonded triangle on entry loses its longest bond and opens into an angle."""
    from moldiff.diffusion.guidance import BOND_DISTANCE, SPREAD_DISTANCE, PocketRepulsion

    chain = torch.tensor([[0.0, 0, 0], [1.4, 0, 0], [2.8, 0, 0]], dtype=torch.float64)
    x0 = torch.cat([chain, chain + torch.tensor([0.0, 2.4, 0])])
    pocket = torch.tensor([[1.4, -1.0, 0.0]], dtype=torch.float64)  # 1 Å below the middle of chain 1
    batch = torch.zeros(6, dtype=torch.long)
    out = PocketRepulsion(pocket, torch.zeros(1, dtype=torch.long), batch, 2.8)(x0)
    assert torch.cdist(out, pocket).min() > 2.7
    between = torch.cdist(out[:3], out[3:])
    assert between.min() > SPREAD_DISTANCE - 0.05, between  # without the spread: 1.1 Å (bonded)
    triangle = torch.tensor([[0.0, 0, 0], [1.4, 0, 0], [0.7, 1.2, 0]], dtype=torch.float64)
    far = torch.tensor([[20.0, 0, 0]], dtype=torch.float64)
    out = PocketRepulsion(far, torch.zeros(1, dtype=torch.long), torch.zeros(3, dtype=torch.long), 2.8)(triangle)
    d = torch.cdist(out, out)[torch.triu_indices(3, 3, 1).unbind()].sort().values
    assert d[:2].max() < BOND_DISTANCE and d[2] > SPREAD_DISTANCE - 0.05, d  # two bonds and an angle


def test_fragment_join_connects_each_molecule_without_mixing_molecules():
    from moldiff.diffusion.guidance import FragmentJoin, fragments

    chain = torch.tensor([[0.0, 0, 0], [1.3, 0, 0], [2.6, 0, 0]], dtype=torch.float64)
    x0 = torch.cat([chain, chain + torch.tensor([0.0, 6.0, 0]), chain[:2] + torch.tensor([0.0, 0, 5.0]),  # molecule 0
                    chain + 20.0])  # molecule 1: one fragment
    batch = torch.tensor([0] * 8 + [1] * 3)
    assert fragments(x0, batch).unique().numel() == 4
    out = FragmentJoin(batch)(x0)
    labels = fragments(out, batch)
    assert labels[:8].unique().numel() == 1 and labels[8:].unique().numel() == 1 and labels[0] != labels[8]
    torch.testing.assert_close(out[8:], x0[8:])  # an intact molecule does not move
    for part in (slice(0, 3), slice(3, 6), slice(6, 8)):  # fragments move rigidly
        torch.testing.assert_close(torch.cdist(out[part], out[part]), torch.cdist(x0[part], x0[part]))
    owner = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2])
    d = torch.cdist(out[:8], out[:8])[owner[:, None] != owner[None]]
    assert d.min() > 1.39  # fragments joined at the join distance, not on top of each other


def test_complex_edges_respect_cutoffs_and_complexes(graphs):
    pos, _, _, batch, _, ppos, _, pbatch = _inputs(graphs)
    edges = complex_edges(pos, batch, ppos, pbatch, cutoff=5.0, pocket_cutoff=3.0)
    x = torch.cat([pos, ppos])
    graph_of = torch.cat([batch, pbatch])
    src, dst = edges
    assert (graph_of[src] == graph_of[dst]).all()
    d = (x[src] - x[dst]).norm(dim=1)
    n = len(pos)
    lp = (src < n) != (dst < n)
    pp = (src >= n) & (dst >= n)
    assert lp.any() and pp.any() and (d[lp] <= 5.0).all() and (d[pp] <= 3.0).all()
    ll = (src < n) & (dst < n)
    sizes = torch.bincount(batch)
    assert int(ll.sum()) == int((sizes * (sizes - 1)).sum())


def test_pocket_diffusion_loss_trains(graphs):
    from torch_geometric.loader import DataLoader

    from moldiff.diffusion import FeatureCodec, PolynomialSchedule
    from moldiff.diffusion.pocket import POCKET_FEATURES, pocket_diffusion_loss

    torch.manual_seed(0)
    codec, schedule = FeatureCodec(len(LIGAND_ELEMENTS)), PolynomialSchedule()
    model = PocketEGNNDenoiser(codec.num_features, POCKET_FEATURES, hidden=32, layers=2, cutoff=6.0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    (batch,) = DataLoader(graphs, batch_size=2, follow_batch=["pocket_pos"])
    gen = torch.Generator().manual_seed(0)

    def eval_loss():
        with torch.no_grad():
            return pocket_diffusion_loss(model, schedule, codec, batch, parameterization="eps",
                                         generator=torch.Generator().manual_seed(1))[0].item()

    before = eval_loss()
    for _ in range(40):
        loss, parts = pocket_diffusion_loss(model, schedule, codec, batch, parameterization="eps", generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert eval_loss() < 0.7 * before and set(parts) == {"loss_pos", "loss_h"}


class _Oracle(torch.nn.Module):
    """Knows the crystal ligands (in pocket-centred frames): returns the exact noise."""

    def __init__(self, schedule, x0, h0):
        super().__init__()
        self.schedule, self.x0, self.h0 = schedule, x0, h0
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, pos, h, t, batch, num_graphs, pocket_pos, pocket_h, pocket_batch):
        assert pocket_pos.mean(0).norm() < 1e-3  # every pocket centred on the origin
        alpha = self.schedule.alpha(t)[batch].unsqueeze(-1).to(pos.dtype)
        sigma = self.schedule.sigma(t)[batch].unsqueeze(-1).to(pos.dtype)
        return (pos - alpha * self.x0) / sigma, (h - alpha * self.h0) / sigma


def test_pocket_sampling_frame_with_an_oracle_denoiser(graphs):
    """Exact noise predictions must reproduce the crystal ligands in the protein's frame:
    checks the pocket-centred frame, the non-CoM-free noise and the shift back."""
    from torch_geometric.loader import DataLoader

    from moldiff.diffusion import FeatureCodec, PolynomialSchedule
    from moldiff.diffusion.pocket import pocket_centres, sample_in_pocket

    codec, schedule = FeatureCodec(len(LIGAND_ELEMENTS)), PolynomialSchedule()
    (batch,) = DataLoader(graphs, batch_size=2, follow_batch=["pocket_pos"])
    centres = pocket_centres(batch.pocket_pos, batch.pocket_pos_batch, 2)
    oracle = _Oracle(schedule, batch.pos - centres[batch.batch], codec.encode(batch.atom_type, batch.charge))
    num_atoms = torch.tensor([g.pos.shape[0] for g in graphs])
    mols = sample_in_pocket(oracle, schedule, codec, LIGAND_ELEMENTS, batch, num_atoms, steps=50,
                            generator=torch.Generator().manual_seed(0))
    for m, g in zip(mols, graphs):
        assert torch.allclose(torch.as_tensor(m.pos, dtype=torch.float32), g.pos, atol=1e-3)
        assert m.symbols == [LIGAND_ELEMENTS[k] for k in g.atom_type.tolist()]


def test_pocket_atoms_out_of_reach_do_not_change_the_output():
    """Pocket atoms farther than the cutoff from every ligand atom have no edge: removing them
    from the input must give the same output (checks the network's pruning and re-indexing)."""
    torch.manual_seed(0)
    net = PocketEGNNDenoiser(11, 31, hidden=16, layers=2, cutoff=5.0).double()
    pos = torch.randn(9, 3, dtype=torch.double)
    h = torch.randn(9, 11, dtype=torch.double)
    batch = torch.tensor([0] * 5 + [1] * 4)
    pocket_pos = torch.randn(300, 3, dtype=torch.double) * 6
    pocket_h = torch.randn(300, 31, dtype=torch.double)
    pocket_batch = torch.tensor([0] * 170 + [1] * 130)
    t = torch.tensor([0.3, 0.8], dtype=torch.double)
    d = torch.cdist(pocket_pos, pos)
    near = ((d <= 5.0) & (pocket_batch[:, None] == batch[None])).any(1)
    assert 20 < int(near.sum()) < 280
    full = net(pos, h, t, batch, 2, pocket_pos, pocket_h, pocket_batch)
    kept = net(pos, h, t, batch, 2, pocket_pos[near], pocket_h[near], pocket_batch[near])
    net.prune_pocket = False  # every pocket atom through every layer: the reference
    reference = net(pos, h, t, batch, 2, pocket_pos, pocket_h, pocket_batch)
    net.prune_pocket = True
    for a, b, c in zip(full, kept, reference):
        assert torch.allclose(a, b, atol=1e-12) and torch.allclose(a, c, atol=1e-12)
    moved = pocket_pos.clone()
    moved[near.nonzero()[0]] += 0.5  # a pocket atom in reach does matter
    assert not torch.allclose(net(pos, h, t, batch, 2, moved, pocket_h, pocket_batch)[0], full[0])


def test_shipped_pocket_model_sees_its_pocket(graphs):
    """The shipped pocket model's prediction for a noisy ligand must depend on the protein
    around it (a model trained with the flat 1/100 pocket weight changed by a few % when the
    pocket was moved away: it was blind to it, and fails this test)."""
    import moldiff

    model = moldiff.load("pocket")
    g = graphs[0]
    centre = g.pocket_pos.mean(0)
    pos, ppos = g.pos - centre, g.pocket_pos - centre
    ph = encode_pocket(g.pocket_type, g.pocket_residue_type, g.pocket_backbone)
    h = model.codec.encode(g.atom_type, g.charge)
    batch, pbatch = torch.zeros(len(pos), dtype=torch.long), torch.zeros(len(ppos), dtype=torch.long)
    gen = torch.Generator().manual_seed(0)
    for t in (0.3, 0.7):
        tt = torch.tensor(t)
        a, s = model.schedule.alpha(tt).float(), model.schedule.sigma(tt).float()
        z = a * pos + s * torch.randn(pos.shape, generator=gen)
        zh = a * h + s * torch.randn(h.shape, generator=gen)
        with torch.no_grad():
            near, _ = model.denoiser(z, zh, tt.reshape(1), batch, 1, ppos, ph, pbatch)
            away, _ = model.denoiser(z, zh, tt.reshape(1), batch, 1, ppos + 100.0, ph, pbatch)
        assert (near - away).abs().mean() > 0.05 * near.abs().mean(), t
