"""Docking: conformer projection and RMSD helpers, conditioning on fixed atom types, one
complex through the API and the CLI, and a docking experiment from config (both methods,
results files, resume, a broken complex recorded, config errors before any work)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import Chem

from helpers import embed
from moldiff.cli import main
from moldiff.docking.pose import ConformerProjection, embed_conformers, prepare_ligand, symmetric_rmsd
from moldiff.geometry import kabsch

TINY = ["num_poses=3", "steps=8", "conformers=4", "search_steps=3", "search_chains=1", "vina.exhaustiveness=1"]


def _rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_kabsch_and_conformer_projection_recover_rigid_placements():
    mol = embed_conformers(prepare_ligand(embed("C[C@H](N)C(=O)Nc1ccccc1F"), ("C", "N", "O", "F")), 6, seed=1)
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    confs = np.stack([c.GetPositions()[heavy] for c in mol.GetConformers()])
    assert len(confs) >= 2
    rot, shift = _rotation(0), np.array([3.0, -2.0, 7.0])
    target = confs[1] @ rot.T + shift
    r, t, rmsd = kabsch(confs[1], target)
    assert rmsd < 1e-6 and np.allclose(r, rot, atol=1e-6) and np.allclose(t, shift, atol=1e-5)
    proj = ConformerProjection(confs)
    noisy = target + 0.05 * np.random.default_rng(0).normal(size=target.shape)
    out = proj(torch.tensor(np.stack([target, noisy]).reshape(-1, 3)))
    assert proj.chosen[0] == 1
    assert np.abs(out[: len(heavy)].numpy() - target).max() < 1e-5
    # the noisy copy comes back as a rigid copy of the conformer chosen for it, close to the input
    got = out[len(heavy):].numpy()
    chosen = confs[int(proj.chosen[1])]
    dist = lambda x: np.linalg.norm(x[:, None] - x[None], axis=-1)  # noqa: E731
    assert np.abs(dist(got) - dist(chosen)).max() < 1e-5
    assert np.sqrt(((got - noisy) ** 2).sum(-1).mean()) <= np.sqrt(((target - noisy) ** 2).sum(-1).mean()) + 1e-6
    # a mirror image cannot be reached by a rotation: the projection keeps the chirality
    mirrored = target * np.array([-1.0, 1.0, 1.0])
    back = proj(torch.tensor(mirrored)).numpy()
    assert np.sqrt(((back - mirrored) ** 2).sum(-1).mean()) > 0.1


def test_symmetric_rmsd_is_symmetry_aware_and_matches_other_protonation_states():
    acid = embed("OC(=O)c1ccccc1")
    shifted = Chem.Mol(acid)
    conf = shifted.GetConformer()
    for k in range(shifted.GetNumAtoms()):
        p = conf.GetAtomPosition(k)
        conf.SetAtomPosition(k, (p.x + 1.5, p.y, p.z))
    assert symmetric_rmsd(shifted, acid) == pytest.approx(1.5, abs=1e-6)  # no re-alignment
    # swap the ring's ortho/meta atoms (a symmetry of the molecule): RMSD stays 0
    heavy = Chem.RemoveHs(acid)
    order = list(range(heavy.GetNumAtoms()))
    order[4], order[8], order[5], order[7] = order[8], order[4], order[7], order[5]
    assert symmetric_rmsd(Chem.RenumberAtoms(heavy, order), heavy) == pytest.approx(0.0, abs=1e-6)
    # the carboxylate record of the same pose (another protonation state) still matches
    anion = Chem.RWMol(heavy)
    anion.GetAtomWithIdx(0).SetFormalCharge(-1)
    Chem.SanitizeMol(anion)
    assert symmetric_rmsd(anion.GetMol(), heavy) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2**31 - 2, 2**31 - 1, 2**31, 12345])
def test_every_seed_gives_the_requested_conformer_diversity(seed):
    """RDKit's ETKDG with randomSeed 0 (or 2^31 - 1) returns identical conformers, which pruning
    collapses to one; every user seed must give as many distinct conformers as other seeds."""
    from moldiff.checks import rdkit_seed

    mol = prepare_ligand(embed("CCOC(=O)c1ccccc1NCCCN"), ("C", "N", "O"))
    confs = embed_conformers(mol, 8, seed=seed, optimize=False)
    assert confs.GetNumConformers() >= 6
    assert 1 <= rdkit_seed(seed) <= 2**31 - 2


def test_prepare_ligand_drops_coordinates_and_rejects_what_cannot_be_docked():
    mol = embed("CCOc1ccccc1")
    lig = prepare_ligand(mol, ("C", "O"))
    assert lig.GetNumConformers() == 0  # a crystal pose cannot leak into the prediction
    assert lig.GetNumAtoms() == mol.GetNumAtoms()
    from moldiff.errors import InputError

    with pytest.raises(InputError, match="Si"):
        prepare_ligand(Chem.MolFromSmiles("C[Si](C)(C)C"), ("C", "O"))
    with pytest.raises(InputError, match="fragments"):
        prepare_ligand(Chem.MolFromSmiles("CCO.[Na+].[Cl-]"), ("C", "O", "Na", "Cl"))


@pytest.fixture(scope="module")
def pocket_model():
    import moldiff

    return moldiff.load("pocket")


def test_docking_keeps_the_atom_types_and_is_reproducible(pocket_model, shared_data):
    """One smoke complex through the API: the poses are the input molecule (same graph, an
    RDKit geometry), sorted by Vina score, identical for the same seed."""
    from moldiff.docking import Docker

    folder = shared_data / "smoke" / "pbw_1ia1"
    docker = Docker(pocket_model, conformers=4, search_steps=3, search_chains=1)
    runs = [docker.dock(folder / "protein.pdb", folder / "ligand.sdf", reference=folder / "ligand.sdf", k=3, steps=6,
                        seed=3) for _ in range(2)]
    ref = Chem.MolFromMolFile(str(folder / "ligand.sdf"))
    for pose in runs[0].poses:
        assert Chem.MolToSmiles(Chem.RemoveHs(pose)) == Chem.MolToSmiles(ref)
        assert pose.GetNumAtoms() > ref.GetNumAtoms()  # hydrogens with coordinates
    scores = runs[0].scores
    assert scores == sorted(scores) and all(np.isfinite(scores))
    assert [p.GetIntProp("rank") for p in runs[0].poses] == [1, 2, 3]
    a, b = (np.concatenate([p.GetConformer().GetPositions() for p in r.poses]) for r in runs)
    assert np.allclose(a, b, atol=1e-4)


@pytest.fixture(scope="module")
def experiment(shared_data, tmp_path_factory):
    """A tiny experiment over two smoke complexes and a broken one, moldiff and Vina."""
    root = tmp_path_factory.mktemp("dockdata")
    for name in ("pbw_1ia1", "pbw_1uou"):
        (root / name).symlink_to(shared_data / "smoke" / name)
    broken = root / "broken"
    broken.mkdir()
    (broken / "protein.pdb").symlink_to(shared_data / "smoke" / "pbw_1ia1" / "protein.pdb")
    (broken / "ligand.sdf").write_text("not a molecule\n$$$$\n")
    out = tmp_path_factory.mktemp("dockrun") / "run"
    args = ["dock", "configs/docking/posebusters_dev.yaml", f"data.root={root}", f"output.dir={out}", *TINY]
    assert main(args) == 0
    return root, out, args


@pytest.mark.slow
def test_experiment_writes_poses_tables_and_summary_for_both_methods(experiment):
    _, out, _ = experiment
    table = pd.read_csv(out / "results.csv")
    assert sorted(set(table.method)) == ["moldiff", "vina"]
    assert len(table) == 6
    bad = table[table.id == "broken"]
    assert (bad.status == "error").all() and bad.error.str.contains("ligand.sdf").all()
    good = table[table.id != "broken"]
    assert (good.status == "ok").all() and good.top1_rmsd.notna().all()
    assert (good.best_rmsd <= good.top1_rmsd + 1e-9).all()
    summary = json.loads((out / "summary.json").read_text())
    for method in ("moldiff", "vina"):
        s = summary[method]
        assert s["n"] == 3 and s["n_error"] == 1
        assert s["success_top1"] == pytest.approx(((good.method == method) & (good.top1_rmsd < 2)).sum() / 3)
        assert s["posebusters_valid_top1"] is not None
        poses = Chem.SDMolSupplier(str(out / method / "poses" / "pbw_1ia1.sdf"), removeHs=False)
        mols = [m for m in poses]
        # moldiff returns K poses; Vina up to K (as many distinct poses as its search found)
        assert (len(mols) == 3 if method == "moldiff" else 1 <= len(mols) <= 3) and all(m is not None for m in mols)
        scores = [m.GetDoubleProp("score") for m in mols]
        assert scores == sorted(scores)
        row = good[(good.method == method) & (good.id == "pbw_1ia1")].iloc[0]
        assert mols[0].GetDoubleProp("rmsd") == pytest.approx(row.top1_rmsd)
    assert (out / "config.yaml").is_file() and (out / "vina" / "results.csv").is_file()


def test_experiment_resumes_without_redoing_finished_complexes(experiment):
    _, out, args = experiment
    records = sorted((out / "moldiff" / "records").glob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in records]
    assert main(args) == 0
    assert [p.stat().st_mtime_ns for p in records] == stamps
    assert len(pd.read_csv(out / "results.csv")) == 6


@pytest.mark.parametrize("override, message", [
    ("bogus=1", "unknown key"), ("num_poses=two", "num_poses"), ("data.root=/nonexistent/dock", "does not exist"),
])
def test_broken_configs_fail_before_any_work(override, message, tmp_path, capsys):
    out = tmp_path / "never"
    code = main(["dock", "configs/docking/posebusters_dev.yaml", f"output.dir={out}", override])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_dock_one_complex_from_smiles_on_the_command_line(shared_data, tmp_path, capsys):
    folder = shared_data / "smoke" / "pbw_1ia1"
    out = tmp_path / "poses.sdf"
    smiles = Chem.MolToSmiles(Chem.MolFromMolFile(str(folder / "ligand.sdf")))
    code = main(["dock", "--protein", str(folder / "protein.pdb"), "--ligand", smiles, "--reference",
                 str(folder / "ligand.sdf"), "-o", str(out), "-k", "2", "--steps", "5", "--conformers", "3", "--search-steps", "2",
                 "--search-chains", "1"])
    assert code == 0
    assert "RMSD to reference" in capsys.readouterr().out
    assert len([m for m in Chem.SDMolSupplier(str(out)) if m is not None]) == 2
    code = main(["dock", "--protein", str(folder / "protein.pdb"), "--ligand", "C1CC(", "--reference",
                 str(folder / "ligand.sdf"), "-o", str(tmp_path / "bad.sdf")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("moldiff: error:") and "C1CC(" in err[-1]
    assert not (tmp_path / "bad.sdf").exists()


def test_vina_receptor_keeps_cofactors_in_the_pocket(shared_data):
    """meeko types amino acids only; cofactors in the pocket (here NADP) must still be there,
    or Vina places ligands into their site (PoseBusters' cofactor-overlap checks then fail)."""
    from moldiff.data.protein import read_protein, select_pocket
    from moldiff.vina.prepare import pocket_residues, receptor_pdbqt

    folder = shared_data / "posebusters_dev" / "6XG5_TOP"
    ligand = Chem.MolFromMolFile(str(folder / "6XG5_TOP_ligand.sdf"))
    site = select_pocket(read_protein(folder / "6XG5_TOP_protein.pdb"), ligand_pos=ligand.GetConformer().GetPositions())
    text = receptor_pdbqt(folder / "6XG5_TOP_protein.pdb", pocket_residues(site))
    cofactor = [line for line in text.splitlines() if line.startswith("ATOM") and line[17:20] == "NDP"]
    assert len(cofactor) == 48
    assert {line.split()[-1] for line in cofactor} == {"C", "N", "OA", "P"}
    assert "HOH" not in text


def test_random_placements_are_rigid_copies_near_the_centre():
    from moldiff.docking.dock import random_placements

    mol = embed_conformers(prepare_ligand(embed("CC(=O)Nc1ccc(O)cc1"), ("C", "N", "O")), 3, seed=0)
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    centre = np.array([10.0, -5.0, 2.0])
    out = random_placements(mol, centre, 6, seed=0)
    dist = lambda x: np.linalg.norm(x[:, None] - x[None], axis=-1)  # noqa: E731
    confs = [dist(c.GetPositions()[heavy]) for c in mol.GetConformers()]
    for pos in out:
        assert np.linalg.norm(pos.mean(0) - centre) <= 2.0 + 1e-9
        assert min(np.abs(dist(pos) - c).max() for c in confs) < 1e-6
    assert not np.allclose(out[0], out[1])
    assert all(np.allclose(a, b) for a, b in zip(out, random_placements(mol, centre, 6, seed=0)))


def test_ligands_with_explicit_stereo_hydrogens_are_docked_on_heavy_atoms(shared_data):
    """td_3ug2's SDF keeps every hydrogen (RDKit's RemoveHs keeps some for stereo): the
    docking vocabulary is heavy atoms, so all of them must go, and RMSD still works."""
    mol = Chem.MolFromMolFile(str(shared_data / "smoke" / "td_3ug2" / "ligand.sdf"), removeHs=False)
    lig = prepare_ligand(mol, ("C", "N", "O", "F", "Cl"))
    assert sum(a.GetAtomicNum() > 1 for a in lig.GetAtoms()) == 31
    assert symmetric_rmsd(mol, mol) == pytest.approx(0.0, abs=1e-9)


def test_report_of_a_docking_experiment(experiment, tmp_path, capsys):
    from helpers import render_in_chromium

    _, out, _ = experiment
    page = tmp_path / "dock.html"
    assert main(["report", str(out), "-o", str(page), "-q"]) == 0
    text = page.read_text()
    assert "success_top1" in text and "top-1 success against the RMSD threshold" in text
    dom, console = render_in_chromium(page, tmp_path)
    assert text.count('class="mol3d"') == 2  # the best and the worst of the two docked complexes
    assert console == [] and 'data-views-drawn="2"' in dom
