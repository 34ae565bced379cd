"""The bond-generating family: joint flow matching of coordinates, elements, charges and bonds.

Equivariance of the network (moldiff.testing), the QM9 bond tables, the discrete-flow sampler
on a toy distribution with its exact denoiser, a tiny model that learns one molecule with its
bonds, and training -> load -> sample -> SDF through the API and the CLI.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem

from moldiff.cli import main
from moldiff.data.qm9_bonds import CHARGES, QM9BondDataset
from moldiff.diffusion.flow import BOND_ORDERS, jump, sample_categorical, sample_flow, time_grid
from moldiff.nn.bond_egnn import BondEGNN
from moldiff.testing import assert_bond_denoiser_equivariant

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "test" / "bonds_tiny.yaml"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("self_condition", [True, False])
def test_network_is_e3_and_permutation_equivariant(dtype, self_condition):
    torch.manual_seed(0)
    net = BondEGNN(5, 3, 5, hidden=16, edge_hidden=8, layers=2, self_condition=self_condition)
    assert_bond_denoiser_equivariant(net, dtype, self_condition=self_condition)


def test_the_harness_catches_a_network_that_reads_raw_coordinates():
    class Leaky(BondEGNN):
        def forward(self, pos, *args, **kwargs):
            out = super().forward(pos, *args, **kwargs)
            out["atom_type"] = out["atom_type"] + pos[:, :1]  # depends on the frame
            return out

    with pytest.raises(AssertionError, match="atom_type logits not invariant"):
        assert_bond_denoiser_equivariant(Leaky(5, 3, 5, hidden=16, edge_hidden=8, layers=1), torch.float64)


def test_qm9_bond_tables_rebuild_the_molecules_of_their_smiles():
    import pandas as pd

    from moldiff.data.qm9 import QM9_ELEMENTS, _csv_paths

    ds = QM9BondDataset("test", limit=40)
    smiles = pd.concat([pd.read_csv(p, usecols=["Index", "SMILES"]) for p in _csv_paths()], ignore_index=True)
    smiles = dict(zip(smiles["Index"], smiles["SMILES"]))
    batch = ds.collate(list(range(40)))
    assert (batch.bond_type == batch.bond_type[_reverse(batch.edge_index)]).all()  # symmetric
    assert set(batch.bond_type.tolist()) <= set(range(len(BOND_ORDERS))) and 0 in batch.bond_type
    for g in range(40):
        mol = _sanitized(_to_rdkit(batch, g, QM9_ELEMENTS))
        want = Chem.MolToSmiles(Chem.MolFromSmiles(smiles[int(ds.arrays.index[batch.idx[g]])]))
        assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == want


def _reverse(edge_index):
    from moldiff.nn.bond_egnn import reverse_edges

    return reverse_edges(edge_index, int(edge_index.max()) + 1)


def _to_rdkit(batch, g, elements):
    from moldiff.chem.molecule import Mol3D, to_rdkit

    atoms = (batch.batch == g).nonzero().flatten()
    lo = int(atoms[0])
    src, dst = batch.edge_index
    keep = (batch.batch[src] == g) & (src < dst) & (batch.bond_type > 0)
    bonds = torch.stack([src[keep] - lo, dst[keep] - lo,
                         torch.tensor(BOND_ORDERS)[batch.bond_type[keep]]], 1).double().numpy()
    symbols = [elements[i] for i in batch.atom_type[atoms].tolist()]
    charges = [CHARGES[c] for c in batch.charge[atoms].tolist()]
    return to_rdkit(Mol3D(symbols, batch.pos[atoms].double().numpy(), charges, bonds))


def test_discrete_flow_sampler_reaches_the_data_distribution_with_the_exact_denoiser():
    """One categorical variable, data q, marginal prior p0: the exact p(x1 | x_t) is known in closed
    form, and the sampler (with and without noise) must end at q."""
    q = torch.tensor([0.5, 0.3, 0.15, 0.05])
    p0 = torch.tensor([0.1, 0.2, 0.3, 0.4])
    gen = torch.Generator().manual_seed(0)
    n = 40_000
    for noise in (0.0, 1.0):
        x = sample_categorical(p0, (n,), generator=gen)
        grid = time_grid(40, 2.0)
        for k in range(40):
            t, dt = float(grid[k]), float(grid[k + 1] - grid[k])
            like = t * torch.nn.functional.one_hot(x, 4) + (1 - t) * p0[x][:, None]  # p_t(x | x1 = j)
            post = q[None] * like
            post = post / post.sum(1, keepdim=True)
            x = jump(x, post, torch.full((n,), t), dt, p0, noise, generator=gen)
        freq = torch.bincount(x, minlength=4).float() / n
        assert torch.allclose(freq, q, atol=0.01), (noise, freq)


def test_the_last_step_decodes_by_sampling_or_by_the_most_probable_class():
    """A network whose prediction never changes: with ``last_step="argmax"`` every element,
    charge and bond ends as the most probable class (bonds symmetric); with ``"sample"`` a
    fair share ends elsewhere; an unknown mode is refused."""
    torch.manual_seed(0)
    n_types, n_charges = 4, 3
    type_logits = torch.randn(n_types)
    charge_logits = torch.tensor([2.0, 0.0, 0.5])
    bond_logits = torch.tensor([0.3, 1.0, -0.5, -1.0, 0.0])

    def network(pos, atom_type, charge, bond, t, batch, *, edge_index, num_graphs, self_cond=None):
        return {"pos": pos, "atom_type": type_logits.expand(len(pos), -1),
                "charge": charge_logits.expand(len(pos), -1), "bond_type": bond_logits.expand(edge_index.shape[1], -1)}

    priors = {"atom_type": torch.full((n_types,), 1 / n_types), "charge": torch.full((n_charges,), 1 / n_charges),
              "bond_type": torch.full((5,), 0.2)}
    counts = torch.full((50,), 6)
    out = {mode: sample_flow(network, counts, priors, 1.0, steps=5, last_step=mode,
                             generator=torch.Generator().manual_seed(1)) for mode in ("argmax", "sample")}
    best = out["argmax"]
    assert (best["atom_type"] == type_logits.argmax()).all()
    assert (best["charge"] == 0).all() and (best["bond_type"] == 1).all()
    drawn = out["sample"]
    assert 0.2 < (drawn["bond_type"] != 1).float().mean() < 0.8
    src, dst = drawn["edge_index"]
    lookup = {(a, b): v for a, b, v in zip(src.tolist(), dst.tolist(), drawn["bond_type"].tolist())}
    assert all(lookup[(b, a)] == v for (a, b), v in lookup.items())
    with pytest.raises(ValueError, match="last_step"):
        sample_flow(network, counts, priors, 1.0, steps=2, last_step="mode")


@pytest.mark.slow
def test_a_tiny_model_learns_one_molecule_with_its_bonds():

    from moldiff.training.module import FlowModule

    from moldiff.data.qm9 import QM9_ELEMENTS

    torch.manual_seed(0)
    ds = QM9BondDataset("train", limit=300)
    row = 233  # NC(=O)C#CC(F)(F)F: single, double and triple bonds, four elements, 11 atoms
    one = ds.collate([row])
    target = Chem.MolToSmiles(Chem.RemoveHs(_sanitized(_to_rdkit(one, 0, QM9_ELEMENTS))))
    assert target == "NC(=O)C#CC(F)(F)F"
    batch = ds.collate([row] * 16)
    net = BondEGNN(5, 3, 5, hidden=48, edge_hidden=24, layers=3)
    module = FlowModule(net, ("H", "C", "N", "O", "F"), torch.ones(30), priors=ds.priors(), charges=CHARGES,
                        coord_scale=1.4)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(1200):
        loss, _ = module._loss(batch, net)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-40:]) < 0.6 * sum(losses[:40])
    net.eval()
    # 100 steps: about half the samples are exact here (a quarter at 50 steps), so the bar below
    # sits far under the expected count and far above chance (an untrained network: none).
    out = sample_flow(net, torch.full((32,), one.num_nodes), module.priors, 1.4, steps=100,
                      generator=torch.Generator().manual_seed(0))
    got = []
    for g in range(32):
        mol = _to_rdkit(_as_batch(out), g, ("H", "C", "N", "O", "F"))
        try:
            got.append(Chem.MolToSmiles(Chem.RemoveHs(_sanitized(mol))))
        except Exception:  # noqa: BLE001
            got.append(None)
    assert Counter(got)[target] >= 8, (target, got)  # regenerated with its bonds, charges and elements


def _sanitized(mol):
    Chem.SanitizeMol(mol)
    return mol


def _as_batch(out):
    from types import SimpleNamespace

    return SimpleNamespace(batch=out["batch"], edge_index=out["edge_index"], bond_type=out["bond_type"],
                           atom_type=out["atom_type"], charge=out["charge"], pos=out["pos"])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bonds")
    assert main(["train", TINY, "-q", f"trainer.output_dir={out}"]) == 0
    return out


def test_train_load_sample_writes_the_generated_bonds(tiny_run, tmp_path, capsys):
    import moldiff

    model = moldiff.load(tiny_run / "checkpoints" / "last.ckpt")
    assert type(model).__name__ == "BondModel" and model.info()["task"] == "bonds"
    a = model.sample_mol3d(5, steps=6, seed=3)
    b = model.sample_mol3d(5, steps=6, seed=3)
    assert all(x.bonds is not None for x in a)
    assert [x.symbols for x in a] == [x.symbols for x in b] and all((x.bonds == y.bonds).all() for x, y in zip(a, b))
    out = tmp_path / "s.sdf"
    capsys.readouterr()
    assert main(["sample", "-q", "--model", tiny_run / "checkpoints" / "last.ckpt", "-n", "4", "--steps", "5",
                 "-o", out]) == 0
    printed = capsys.readouterr().out
    assert "with the generated bonds" in printed and "EDM protocol" in printed
    written = [m for m in Chem.SDMolSupplier(str(out), removeHs=False, sanitize=False)]
    assert len(written) == 4 and all(m.HasProp("moldiff_valid") for m in written)
    sampled = model.to_rdkit(model.sample_mol3d(4, steps=5, seed=0))
    assert [m.GetNumBonds() for m in written] == [m.GetNumBonds() for m in sampled]  # the file keeps them


def test_the_families_refuse_each_others_commands(tiny_run, tmp_path, capfd):
    ckpt = tiny_run / "checkpoints" / "last.ckpt"
    code = main(["sample", "--model", ckpt, "-n", "2", "-o", tmp_path / "x.sdf", "--sampler", "ddim"])
    err = capfd.readouterr().err
    assert code == 2 and "does not apply" in err and len(err.strip().splitlines()) == 1
    code = main(["design", "--protein", "p.pdb", "--center", "0", "0", "0", "-o", tmp_path / "y.sdf",
                 "--model", ckpt])
    err = capfd.readouterr().err
    assert code == 2 and "not a pocket model" in err
    assert not (tmp_path / "x.sdf").exists() and not (tmp_path / "y.sdf").exists()


def test_the_last_step_option_reaches_the_bond_sampler_and_is_refused_elsewhere(tiny_run, tmp_path, capfd):
    import moldiff

    model = moldiff.load(tiny_run / "checkpoints" / "last.ckpt")
    assert model.last_step == "argmax" and model.info()["last_step"] == "argmax"
    kept = model.sample_mol3d(6, steps=4, seed=2)
    drawn = model.sample_mol3d(6, steps=4, seed=2, last_step="sample")
    assert [m.symbols for m in kept] != [m.symbols for m in drawn] or any(
        not np.array_equal(a.bonds, b.bonds) for a, b in zip(kept, drawn))
    code = main(["sample", "--model", "qm9", "-n", "2", "-o", tmp_path / "x.sdf", "--last-step", "sample"])
    err = capfd.readouterr().err
    assert code == 2 and "last_step is for bond-generating models" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.sdf").exists()
