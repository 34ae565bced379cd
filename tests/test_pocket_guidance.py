"""Classifier-free guidance on the pocket: pocket dropout in training, the guided denoiser's
exact mix, and the option's path through design (API and CLI) with a clear refusal for a
model trained without pocket dropout."""
import numpy as np
import pytest
import torch

from moldiff.cli import main
from moldiff.data.complexes import LIGAND_ELEMENTS, complex_graph, find_complexes
from moldiff.diffusion import FeatureCodec, PolynomialSchedule
from moldiff.diffusion.pocket import POCKET_FEATURES, pocket_diffusion_loss
from moldiff.diffusion.wrappers import PocketFreeGuidance
from moldiff.errors import InputError
from moldiff.nn.pocket_egnn import PocketEGNNDenoiser


@pytest.fixture(scope="module")
def batch(shared_data):
    from torch_geometric.loader import DataLoader

    entries = find_complexes(shared_data / "smoke")[:6]
    graphs = [complex_graph(e, radius=8.0) for e in entries]
    (b,) = DataLoader(graphs, batch_size=len(graphs), follow_batch=["pocket_pos"])
    return b


class _Spy(torch.nn.Module):
    """Records what the network is shown."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.seen = []

    def forward(self, pos, h, t, batch, num_graphs, pocket_pos, pocket_h, pocket_batch):
        self.seen.append((pos.detach(), batch, pocket_batch))
        return pos * self.w, h * self.w


@pytest.mark.parametrize("drop_prob", [0.0, 0.5, 1.0])
def test_pocket_dropout_shows_some_ligands_alone_and_centred(batch, drop_prob):
    codec, schedule = FeatureCodec(len(LIGAND_ELEMENTS)), PolynomialSchedule()
    spy = _Spy()
    pocket_diffusion_loss(spy, schedule, codec, batch, generator=torch.Generator().manual_seed(1), drop_prob=drop_prob)
    pos, lig_batch, pocket_batch = spy.seen[0]
    b = batch.num_graphs
    with_pocket = torch.zeros(b, dtype=torch.bool)
    with_pocket[pocket_batch.unique()] = True
    counts = torch.bincount(batch.pocket_pos_batch, minlength=b)
    for g in range(b):
        if with_pocket[g]:  # the whole pocket or none of it
            assert int((pocket_batch == g).sum()) == int(counts[g])
        else:  # the ligand alone: centred on itself, zero-CoM noise, so the noisy input is centred too
            assert pos[lig_batch == g].mean(0).abs().max() < 1e-4
    dropped = int((~with_pocket).sum())
    if drop_prob == 0.0:
        assert dropped == 0
    elif drop_prob == 1.0:
        assert dropped == b and len(pocket_batch) == 0
    else:  # each complex's draw from the generator, before anything else
        expected = torch.rand(b, generator=torch.Generator().manual_seed(1)) < drop_prob
        assert torch.equal(~with_pocket, expected) and 0 < dropped < b
    # with the pocket the ligand stays in the pocket's frame: not centred on itself
    kept = with_pocket.nonzero().flatten().tolist()
    assert all(pos[lig_batch == g].mean(0).abs().max() > 1e-3 for g in kept)


def test_pocket_dropout_loss_trains_both_models(batch):
    """A network trained with pocket dropout learns the ligand with and without its pocket."""
    torch.manual_seed(0)
    codec, schedule = FeatureCodec(len(LIGAND_ELEMENTS)), PolynomialSchedule()
    model = PocketEGNNDenoiser(codec.num_features, POCKET_FEATURES, hidden=32, layers=2, cutoff=6.0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(0)

    def losses():
        with torch.no_grad():
            return [pocket_diffusion_loss(model, schedule, codec, batch, generator=torch.Generator().manual_seed(1),
                                          drop_prob=p)[0].item() for p in (0.0, 1.0)]

    before = losses()
    for _ in range(40):
        loss, _ = pocket_diffusion_loss(model, schedule, codec, batch, generator=gen, drop_prob=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = losses()
    assert after[0] < 0.8 * before[0] and after[1] < 0.8 * before[1]


def test_pocket_guidance_is_the_exact_mix_of_two_passes(batch):
    torch.manual_seed(0)
    codec = FeatureCodec(len(LIGAND_ELEMENTS))
    net = PocketEGNNDenoiser(codec.num_features, POCKET_FEATURES, hidden=16, layers=2, cutoff=6.0).double()
    from moldiff.diffusion.pocket import pocket_context

    context, centres = pocket_context(batch, torch.float64)
    gen = torch.Generator().manual_seed(0)
    pos = (batch.pos.double() - centres[batch.batch]) + torch.randn(batch.pos.shape, generator=gen, dtype=torch.float64)
    h = codec.encode(batch.atom_type, batch.charge, dtype=torch.float64)
    t = torch.rand(batch.num_graphs, generator=gen, dtype=torch.float64)
    b = batch.num_graphs
    with_p = net(pos, h, t, batch.batch, b, **context)
    empty = {k: v[:0] for k, v in context.items()}
    without = net(pos, h, t, batch.batch, b, **empty)
    assert (with_p[0] - without[0]).abs().max() > 1e-4  # the pocket matters
    for scale in (0.0, 1.0, 2.5):
        got = PocketFreeGuidance(net, scale)(pos, h, t, batch.batch, b, **context)
        for g, c, u in zip(got, with_p, without):
            torch.testing.assert_close(g, u + scale * (c - u), atol=1e-9, rtol=1e-7)


# --- through design ----------------------------------------------------------------------------
def _train(tmp_path_factory, shared_data, *overrides):
    from moldiff.config import TrainConfig, load_config
    from moldiff.training.run import train

    out = tmp_path_factory.mktemp("pocket_cfg")
    cfg = load_config("configs/test/pocket_tiny.yaml", TrainConfig,
                      [f"trainer.output_dir={out}", f"data.root={shared_data / 'smoke'}", *overrides])
    return train(cfg, progress=False)


def test_design_with_pocket_guidance(tmp_path_factory, shared_data, local_complex, tmp_path, capsys):
    import moldiff

    protein, ligand = local_complex
    guided_path = _train(tmp_path_factory, shared_data, "conditioning.pocket_drop_prob=0.3")
    guided = moldiff.load(guided_path)
    assert guided.pocket_drop_prob == 0.3 and guided.info()["pocket_drop_prob"] == 0.3
    kwargs = {"ligand": ligand, "n": 2, "steps": 6, "num_atoms": 10, "seed": 1, "vina_guidance": False}
    plain = guided.design_mol3d(protein, **kwargs)
    one = guided.design_mol3d(protein, guidance_scale=1.0, **kwargs)
    two = guided.design_mol3d(protein, guidance_scale=2.0, **kwargs)
    again = guided.design_mol3d(protein, guidance_scale=2.0, **kwargs)
    np.testing.assert_array_equal(plain[0].pos, one[0].pos)  # 1 is the plain pocket model
    np.testing.assert_array_equal(two[0].pos, again[0].pos)  # reproducible
    assert not np.allclose(plain[0].pos, two[0].pos) and all(np.isfinite(m.pos).all() for m in two)
    out = tmp_path / "guided.sdf"
    code = main(["design", "--protein", str(protein), "--ligand", str(ligand), "-n", "2", "--steps", "4",
                 "--num-atoms", "10", "--guidance-scale", "2", "--model", str(guided_path), "-o", str(out),
                 "-q"])
    assert code == 0 and out.exists(), capsys.readouterr().err
    # a model trained with every pocket has no pocket-free model to guide with: refused, named
    plain_path = _train(tmp_path_factory, shared_data)
    plain_model = moldiff.load(plain_path)
    with pytest.raises(InputError, match="pocket dropout"):
        plain_model.design_mol3d(protein, guidance_scale=2.0, **kwargs)
    refused = tmp_path / "refused.sdf"
    code = main(["design", "--protein", str(protein), "--ligand", str(ligand), "-n", "2", "--guidance-scale", "2",
                 "--model", str(plain_path), "-o", str(refused), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "pocket dropout" in err and "Traceback" not in err and not refused.exists()


def test_pocket_dropout_is_refused_for_other_models():
    from moldiff.config import TrainConfig, load_config
    from moldiff.training.build import check_task

    cfg = load_config("configs/test/pocket_tiny.yaml", TrainConfig, ["conditioning.pocket_drop_prob=0.2"])
    check_task(cfg)
    qm9 = load_config("configs/qm9_alpha_cpu.yaml", TrainConfig, ["conditioning.pocket_drop_prob=0.2"])
    with pytest.raises(InputError, match="pocket_drop_prob applies to pocket models"):
        check_task(qm9)
    with pytest.raises(InputError, match="pocket_drop_prob"):
        load_config("configs/test/pocket_tiny.yaml", TrainConfig, ["conditioning.pocket_drop_prob=1.5"])
