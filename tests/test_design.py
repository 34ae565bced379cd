"""Pocket design end to end: molecule assembly from heavy atoms, a tiny pocket model trained
on real complexes, `moldiff.design`, `moldiff design`, and the in-pocket evaluation
(clashes, PoseBusters, Vina) on crystal ligands."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from rdkit import Chem

from helpers import embed
from moldiff.chem.assemble import assemble_ligand, connectivity
from moldiff.chem.molecule import Mol3D
from moldiff.cli import main
from moldiff.errors import InputError
from moldiff.ligand_design import generate, sample_ligand_sizes


def _heavy(mol: Chem.Mol) -> Mol3D:
    mol = Chem.RemoveHs(mol)
    return Mol3D([a.GetSymbol() for a in mol.GetAtoms()], mol.GetConformer().GetPositions(),
                 [a.GetFormalCharge() for a in mol.GetAtoms()])


def _smiles(mol: Chem.Mol) -> str:
    return Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=False)


@pytest.mark.parametrize("smiles", [
    "c1ccccc1", "c1ccncc1", "Cc1ccc(C(=O)NC2CC2)cc1", "N#Cc1ccc(F)cc1", "NS(=O)(=O)c1ccc(Cl)s1",
    "O=C(O)CCc1c[nH]cn1", "CC(=O)OC1CCN(C)CC1", "O=P(O)(O)OCC1OCCC1", "C=CC(=O)N1CCOCC1", "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
])
def test_assembly_recovers_the_molecule_from_heavy_atoms(smiles):
    """Bond orders, aromaticity and hydrogens come back from an MMFF conformer's heavy atoms."""
    mol = embed(smiles)
    out = assemble_ligand(_heavy(mol))
    assert out is not None
    assert _smiles(out) == Chem.MolToSmiles(Chem.MolFromSmiles(smiles), isomericSmiles=False)
    assert out.GetNumAtoms() == mol.GetNumAtoms()  # hydrogens added
    heavy = [a.GetIdx() for a in out.GetAtoms() if a.GetAtomicNum() > 1]
    np.testing.assert_allclose(out.GetConformer().GetPositions()[heavy],
                               Chem.RemoveHs(mol).GetConformer().GetPositions(), atol=1e-6)  # frame kept


def test_assembly_of_crystal_ligands(shared_data):
    """Crystal ligands (heavy atoms only, real geometry): most come back exactly; the rest
    are tautomers or protonation states (same heavy-atom graph), never a different skeleton."""
    from rdkit.Chem import rdMolHash

    from moldiff.chem.ligand import read_ligand

    files = sorted((shared_data / "posebusters_dev").glob("*/*_ligand.sdf"))[:40]
    exact = 0
    for path in files:
        ref = read_ligand(path, hydrogens="remove")
        out = assemble_ligand(_heavy(ref))
        assert out is not None, path
        exact += _smiles(out) == Chem.MolToSmiles(ref, isomericSmiles=False)
        # the same skeleton: the heavy-atom graph with elements, bond orders and charges ignored
        def skeleton(m):
            m = Chem.RemoveHs(m)
            Chem.RemoveStereochemistry(m)  # stereo comes from the 3D geometry, read separately
            return rdMolHash.MolHash(m, rdMolHash.HashFunction.ElementGraph)

        assert skeleton(out) == skeleton(ref), path
        assert len(Chem.GetMolFrags(out)) == len(Chem.GetMolFrags(ref)), path
    assert exact >= 0.7 * len(files)


def test_connectivity_caps_valence():
    """Five atoms crowding one carbon: it keeps its four closest neighbours."""
    pos = np.array([[0, 0, 0], [1.5, 0, 0], [-1.5, 0, 0], [0, 1.5, 0], [0, -1.5, 0], [0, 0, 1.45]], float)
    bonds = connectivity(["C"] * 6, pos)
    assert sum(0 in b for b in bonds) == 4 and (0, 5) in bonds


def test_connectivity_gives_up_a_ring_bond_before_a_fragment():
    """A carbon crowded by a 4-ring (0-1-6-2), two carbons and, a little farther, a terminal
    oxygen: capping by distance alone drops the oxygen's only bond; the ring bond goes instead."""
    pos = np.array([[0, 0, 0], [1.40, 0, 0], [0, 1.40, 0], [-1.41, 0, 0], [0, -1.42, 0], [0, 0, 1.56],
                    [1.40, 1.40, 0]], float)
    bonds = connectivity(["C", "C", "C", "C", "C", "O", "C"], pos)
    assert (0, 5) in bonds and sum(0 in b for b in bonds) == 4
    assert {(0, 3), (0, 4), (1, 6), (2, 6)} <= set(bonds) and len(bonds) == 6  # one ring bond of 0 left


def test_ligand_sizes_follow_the_pocket_size():
    pairs = torch.tensor([[100, 110, 120, 500, 510, 520], [10, 11, 12, 40, 41, 42]])
    gen = torch.Generator().manual_seed(0)
    small = sample_ligand_sizes(pairs, 105, 50, neighbours=3, generator=gen)
    big = sample_ligand_sizes(pairs, 505, 50, neighbours=3, generator=gen)
    assert set(small.tolist()) <= {10, 11, 12} and set(big.tolist()) <= {40, 41, 42}
    fallback = sample_ligand_sizes(torch.zeros(2, 0, dtype=torch.long), 300, 20, np.array([0, 0, 0, 5]))
    assert (fallback == 3).all()


# --- a tiny pocket model trained on the smoke complexes ------------------------------------------
@pytest.fixture(scope="module")
def pocket_run(tmp_path_factory, shared_data):
    from moldiff.config import TrainConfig, load_config
    from moldiff.training.run import train

    out = tmp_path_factory.mktemp("pocket_run")
    cfg = load_config("configs/test/pocket_tiny.yaml", TrainConfig,
                      [f"trainer.output_dir={out}", f"data.root={shared_data / 'smoke'}"])
    return train(cfg, progress=False)


@pytest.fixture()
def site(local_complex):
    return local_complex


@pytest.fixture()
def smoke_site(shared_data):
    """A smoke complex (the clash test's thresholds were set on it)."""
    folder = shared_data / "smoke" / "dd_1a0q"
    return folder / "protein.pdb", folder / "ligand.sdf"


def test_pocket_model_designs_in_the_protein_frame_reproducibly(pocket_run, site):
    import moldiff
    from moldiff.api import PocketModel

    protein, ligand = site
    model = moldiff.load(pocket_run)
    assert isinstance(model, PocketModel) and model.size_pairs.shape[1] > 0
    kwargs = {"ligand": ligand, "n": 3, "steps": 8, "num_atoms": 12}
    first = model.design_mol3d(protein, seed=1, **kwargs)
    again = model.design_mol3d(protein, seed=1, **kwargs)
    other = model.design_mol3d(protein, seed=2, **kwargs)
    np.testing.assert_array_equal(first[0].pos, again[0].pos)
    assert not np.allclose(first[0].pos, other[0].pos)
    # (the protein frame itself is checked with an oracle denoiser in test_pocket_model.py)
    assert all(m.num_atoms == 12 and np.isfinite(m.pos).all() for m in first)
    mols = moldiff.design(protein, model=model, seed=1, **kwargs)
    assert len(mols) == 3 and all(m is None or m.GetNumHeavyAtoms() == 12 for m in mols)
    # sampler, grid and temperature reach the sampler (defaults: the model's config), bad values are refused
    assert (model.default_sampler, model.default_time_power, model.default_noise_scale) == ("ddpm", 1.0, 1.0)
    for knob in ({"sampler": "dpm2m"}, {"time_power": 2.0}, {"noise_scale": 0.5}):
        moved = model.design_mol3d(protein, seed=1, **kwargs, **knob)
        assert not np.allclose(first[0].pos, moved[0].pos), knob
    model.default_sampler = "dpm2m"
    np.testing.assert_array_equal(model.design_mol3d(protein, seed=1, **kwargs)[0].pos,
                                  model.design_mol3d(protein, seed=1, sampler="dpm2m", **kwargs)[0].pos)
    with pytest.raises(InputError, match="noise_scale: 1.5 is above the maximum"):
        model.design_mol3d(protein, seed=1, noise_scale=1.5, **kwargs)
    with pytest.raises(InputError, match="sampler: .euler. is not one of"):
        model.design_mol3d(protein, seed=1, sampler="euler", **kwargs)


def test_designs_take_the_reference_ligands_size_on_request(pocket_run, site):
    import moldiff
    from moldiff.chem.ligand import read_ligand
    from moldiff.errors import InputError

    protein, ligand = site
    model = moldiff.load(pocket_run)
    heavy = read_ligand(ligand, hydrogens="remove").GetNumHeavyAtoms()
    mols = model.design_mol3d(protein, ligand=ligand, n=2, steps=4, num_atoms="reference", seed=0)
    assert [m.num_atoms for m in mols] == [heavy, heavy]
    with_h = read_ligand(ligand, hydrogens="add")  # an RDKit molecule with hydrogens: still heavy atoms
    assert with_h.GetNumAtoms() > heavy
    mols = model.design_mol3d(protein, ligand=with_h, n=1, steps=4, num_atoms="reference", seed=0)
    assert mols[0].num_atoms == heavy
    with pytest.raises(InputError, match="needs a reference ligand"):
        model.design_mol3d(protein, center=(0.0, 0.0, 0.0), n=2, steps=4, num_atoms="reference")


def test_clash_guidance_keeps_designs_off_the_protein(pocket_run, smoke_site):
    import moldiff

    protein, ligand = smoke_site
    model = moldiff.load(pocket_run)
    pocket = model.pocket(protein, ligand=ligand)[1].pos.double().numpy()

    def closest(mols):
        return min(np.linalg.norm(m.pos[:, None] - pocket[None], axis=-1).min() for m in mols)

    # (no redraws and the docking centre radius: the clash guidance alone)
    kwargs = {"ligand": ligand, "n": 3, "steps": 8, "num_atoms": 12, "seed": 1, "redraw": 0, "center_radius": 7.0}
    free = closest(model.design_mol3d(protein, clash_distance=0, **kwargs))
    guided = closest(model.design_mol3d(protein, join_fragments=False, **kwargs))  # default 2.8 Å
    assert free < 1.5 and guided > 2.7, (free, guided)  # clear of the 2 Å clash criterion
    # with connectivity guidance too, repulsion holds bonds: an atom wedged in the protein and
    # bonded to the molecule may stay closer (the tiny model's 12 atoms are in 3-5 pieces)
    both = closest(model.design_mol3d(protein, **kwargs))
    assert both > 1.5, both


def test_connectivity_guidance_makes_one_fragment(pocket_run, site):
    import moldiff
    from moldiff.diffusion.guidance import fragments

    protein, ligand = site
    model = moldiff.load(pocket_run)
    kwargs = {"ligand": ligand, "n": 4, "steps": 8, "num_atoms": 14, "seed": 3, "clash_distance": 0}

    def pieces(mols):
        return [fragments(torch.as_tensor(m.pos), torch.zeros(m.num_atoms, dtype=torch.long)).unique().numel()
                for m in mols]

    assert max(pieces(model.design_mol3d(protein, join_fragments=False, **kwargs))) > 1  # the tiny model alone
    assert pieces(model.design_mol3d(protein, **kwargs)) == [1, 1, 1, 1]


def test_ligand_pocket_energy_tells_a_fit_from_an_overlap(site):
    from moldiff.chem.ligand import read_ligand
    from moldiff.data.protein import binding_site
    from moldiff.vina.energy import ligand_pocket_energy
    from moldiff.vina.atom_types import protein_xs_types

    protein, ligand = site
    _, pocket, ligand_pos = binding_site(protein, reference=ligand, radius=10.0)
    symbols = [a.GetSymbol() for a in read_ligand(ligand, hydrogens="remove").GetAtoms()]
    types = protein_xs_types(pocket)
    crystal = ligand_pocket_energy(ligand_pos, symbols, pocket.pos, types)
    # the same ligand with its centre moved 2 Å beyond the pocket atom closest to its centre
    # (into the protein)
    centre = ligand_pos.mean(0)
    wall = pocket.pos[np.linalg.norm(pocket.pos - centre, axis=1).argmin()]
    inside = ligand_pos - centre + wall + 2.0 * (wall - centre) / np.linalg.norm(wall - centre)
    buried = ligand_pocket_energy(inside, symbols, pocket.pos, types)
    assert crystal < -5.0 and buried > 10.0, (crystal, buried)


def test_redraw_replaces_designs_that_overlap_the_protein(pocket_run, site):
    import moldiff

    protein, ligand = site
    model = moldiff.load(pocket_run)
    # the tiny model without guidance puts designs into the protein (see the clash test)
    kwargs = {"ligand": ligand, "n": 6, "steps": 8, "num_atoms": 12, "seed": 1, "clash_distance": 0,
              "join_fragments": False, "vina_guidance": False, "center_radius": 7.0}
    once, _, fits_once = generate(model, protein, redraw=0, **kwargs)
    again, _, fits = generate(model, protein, redraw=2, **kwargs)
    assert [d for _, d in fits_once] == [1] * 6
    assert any(e > 0 for e, _ in fits_once), fits_once
    for k, ((e0, _), (e, draws)) in enumerate(zip(fits_once, fits)):
        assert e <= e0  # the lowest-energy draw is kept
        if e0 <= 0:  # a design that fits is not drawn again
            assert draws == 1
            np.testing.assert_array_equal(once[k].pos, again[k].pos)
        else:
            assert draws > 1
    assert sum(e < e0 for (e0, _), (e, _) in zip(fits_once, fits)) >= 3, (fits_once, fits)  # most overlap less
    mols = model.design(protein, relax=False, redraw=2, **kwargs)
    made = [(m, f) for m, f in zip(mols, fits) if m is not None]
    assert made and all(m.GetIntProp("moldiff_draws") == f[1] and
                        m.GetDoubleProp("moldiff_fit_energy") == pytest.approx(f[0], abs=1e-3) for m, f in made)
    with pytest.raises(InputError, match="redraw"):
        model.design_mol3d(protein, ligand=ligand, n=1, steps=2, redraw=-1)


def test_redraw_replaces_designs_no_molecule_can_be_assembled_from(pocket_run, site, monkeypatch):
    """Two atoms drawn on top of each other (as the design model sometimes does beside a kept
    fragment) leave nothing to assemble: such a design is drawn again, like one that overlaps
    the protein; without redraws it is returned as drawn."""
    import moldiff
    import moldiff.diffusion.pocket as pocket_module
    from moldiff.chem.assemble import overlapping

    protein, ligand = site
    model = moldiff.load(pocket_run)
    sample = pocket_module.sample_in_pocket
    calls = []

    def collapsing(*args, **kwargs):
        made = sample(*args, **kwargs)
        calls.append(len(made))
        if len(calls) == 1:  # the first draw: atom 1 onto atom 0 in every design
            for m in made:
                m.pos[1] = m.pos[0] + 0.1
        return made

    monkeypatch.setattr(pocket_module, "sample_in_pocket", collapsing)
    kwargs = {"ligand": ligand, "n": 3, "steps": 4, "num_atoms": 10, "seed": 1, "vina_guidance": False}
    once, _, fits_once = generate(model, protein, redraw=0, **kwargs)
    assert calls == [3] and all(overlapping(m.pos) for m in once) and [d for _, d in fits_once] == [1] * 3
    calls.clear()
    again, _, fits = generate(model, protein, redraw=1, **kwargs)
    assert calls == [3, 3] and [d for _, d in fits] == [2] * 3
    assert not any(np.allclose(m.pos[1], m.pos[0] + 0.1) for m in again)


def test_redraw_shrinks_prior_sizes_only(pocket_run, site, monkeypatch):
    import moldiff
    import moldiff.diffusion.pocket as pocket_module

    protein, ligand = site
    model = moldiff.load(pocket_run)
    calls = []
    sample = pocket_module.sample_in_pocket

    def spy(*args, **kwargs):
        calls.append(args[5].tolist())  # num_atoms of the call
        return sample(*args, **kwargs)

    monkeypatch.setattr(pocket_module, "sample_in_pocket", spy)
    kwargs = {"ligand": ligand, "n": 4, "steps": 4, "seed": 1, "clash_distance": 0, "join_fragments": False,
              "vina_guidance": False, "center_radius": 7.0, "redraw": 2}
    _, _, fits = generate(model, protein, **kwargs)  # sizes from the prior
    assert len(calls) > 1, fits
    first = calls[0]
    bad = [i for i, (e, draws) in enumerate(fits) if draws > 1]
    assert calls[1] == [max(2, round(first[i] * 0.8)) for i in bad]
    calls.clear()
    generate(model, protein, num_atoms=12, **kwargs)  # a size the user gave is kept
    assert len(calls) > 1 and all(size == 12 for call in calls for size in call)


def test_design_keeps_the_ligand_centre_in_the_pocket_core(pocket_run, site):
    import moldiff

    protein, ligand = site
    model = moldiff.load(pocket_run)
    centre = model.pocket(protein, ligand=ligand)[1].pos.double().numpy().mean(0)  # sampling frame's origin
    kwargs = {"ligand": ligand, "n": 6, "steps": 8, "num_atoms": 12, "seed": 2, "clash_distance": 0,
              "join_fragments": False, "vina_guidance": False, "redraw": 0}

    def offsets(radius):
        return [np.linalg.norm(m.pos.mean(0) - centre) for m in model.design_mol3d(protein, center_radius=radius,
                                                                                     **kwargs)]

    assert max(offsets(1.0)) <= 1.05  # (float32 sampling)
    assert max(offsets(7.0)) > 1.5
    with pytest.raises(InputError, match="center_radius must be positive"):
        model.design_mol3d(protein, ligand=ligand, n=1, steps=2, center_radius=0)


def test_design_uses_the_shipped_design_model_and_docking_the_pocket_model(site, tmp_path, capsys):
    import moldiff
    from moldiff import pretrained
    from moldiff.api import PocketModel

    design, dock = moldiff.load(pretrained.DESIGN), moldiff.load("pocket")
    assert isinstance(design, PocketModel) and pretrained.DESIGN == "pocket_design"
    card = design.info()
    assert {"title", "task", "data", "training", "sampling", "limitations", "metrics"} <= card.keys()
    assert card["name"] == "pocket_design" and card["metrics"]["design_posebusters_10"]["vina_mean"] < 0
    weights = [dict(m.denoiser.named_parameters()) for m in (design, dock)]
    assert not all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])  # two trained models
    protein, ligand = site
    out = tmp_path / "d.sdf"
    assert main(["design", "--protein", str(protein), "--ligand", str(ligand), "-n", "1", "--steps", "2",
                 "--num-atoms", "8", "-o", str(out), "-q"]) == 0
    assert "model pocket_design" in capsys.readouterr().out


def test_design_cli_writes_ligands_and_evaluate_scores_them(pocket_run, site, tmp_path, capsys):
    protein, ligand = site
    out = tmp_path / "designs.sdf"
    assert main(["design", "--protein", str(protein), "--ligand", str(ligand), "-n", "3", "--steps", "8",
                 "--num-atoms", "10", "--model", str(pocket_run), "-o", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "assembled" in printed and "drawn again (overlapped the protein)" in printed
    mols = [m for m in Chem.SDMolSupplier(str(out), removeHs=False)]
    assert 1 <= len(mols) <= 3 and all(m.GetNumHeavyAtoms() == 10 for m in mols)
    assert all(1 <= m.GetIntProp("moldiff_draws") <= 3 and m.HasProp("moldiff_fit_energy") for m in mols)
    assert all(any(a.GetAtomicNum() == 1 for a in m.GetAtoms()) for m in mols if m.GetNumAtoms() > 10)
    report = tmp_path / "eval.json"
    assert main(["evaluate", str(out), "--protein", str(protein), "--ligand", str(ligand), "--no-vina", "-q",
                 "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["n"] == len(mols) and 0 <= data["validity"] <= 1 and data["vina"] is None


@pytest.mark.parametrize("args, message", [
    (["--center", "500", "500", "500"], "no protein atoms within"),
    ([], "exactly one of"),
    (["--ligand", "NOT_A_FILE.sdf"], "no such ligand file"),
    (["--center", "0", "0", "0", "--num-atoms", "0"], "--num-atoms: 0 is below the minimum 2"),
    (["--center", "0", "0", "0", "--clash-distance", "-1"], "--clash-distance: -1.0 is below the minimum 0.0"),
    (["--center", "0", "0", "0", "--num-atoms", "ref"], "--num-atoms ref needs --ligand"),
    (["--center", "0", "0", "0", "--num-atoms", "many"], "expected a number or 'ref'"),
    (["--center", "0", "0", "0", "--redraw", "-1"], "--redraw: -1 is below the minimum 0"),
    (["--center", "0", "0", "0", "--center-radius", "0"], "--center-radius must be positive"),
])
def test_design_cli_bad_input(pocket_run, site, tmp_path, capsys, args, message):
    protein, _ = site
    out = tmp_path / "out.sdf"
    code = main(["design", "--protein", str(protein), *args, "-n", "2", "--steps", "4", "--model", str(pocket_run),
                 "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists()


def test_design_cli_names_an_unparsable_ligand(pocket_run, site, tmp_path, capsys):
    protein, _ = site
    bad = tmp_path / "broken.sdf"
    bad.write_text("not a molecule\n\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n$$$$\n")
    out = tmp_path / "out.sdf"
    code = main(["design", "--protein", str(protein), "--ligand", str(bad), "-n", "2", "--model", str(pocket_run),
                 "-o", str(out), "-q"])
    assert code == 2 and str(bad) in capsys.readouterr().err and not out.exists()


def test_qm9_model_is_not_a_pocket_model(site, tmp_path, capsys):
    protein, ligand = site
    code = main(["design", "--protein", str(protein), "--ligand", str(ligand), "--model", "qm9", "-o",
                 str(tmp_path / "x.sdf"), "-q"])
    assert code == 2 and "not a pocket model" in capsys.readouterr().err


# --- evaluation in the pocket on crystal ligands -------------------------------------------------
def test_crystal_ligand_scores_in_its_pocket(shared_data):
    """The crystal pose: valid, connected, no clash, passes PoseBusters' intramolecular checks,
    a favourable Vina score that local optimisation does not worsen; the same ligand pushed
    into the protein clashes."""
    from moldiff.chem.ligand import read_ligand
    from moldiff.metrics.pocket import evaluate_in_pocket

    folder = shared_data / "posebusters_dev" / "6M2B_EZO"
    ref = read_ligand(folder / "6M2B_EZO_ligand.sdf", hydrogens="add")
    shifted = Chem.Mol(ref)
    conf = shifted.GetConformer()
    protein_pos = __import__("moldiff.data.protein", fromlist=["read_protein"]).read_protein(
        folder / "6M2B_EZO_protein.pdb").pos
    lig = conf.GetPositions()
    nearest = protein_pos[np.argmin(((protein_pos - lig.mean(0)) ** 2).sum(1))]
    for k in range(shifted.GetNumAtoms()):
        conf.SetAtomPosition(k, (lig[k] + (nearest - lig.mean(0))).tolist())  # centre on a protein atom
    out = evaluate_in_pocket([ref, shifted, None], folder / "6M2B_EZO_protein.pdb", reference=ref)
    rows = out["per_molecule"]
    assert out["n"] == 3 and out["validity"] == pytest.approx(2 / 3)
    assert rows[0]["clash"] is False and rows[1]["clash"] is True
    assert rows[0]["posebusters"] is True
    assert rows[0]["vina"] < -5 and rows[0]["vina_min"] <= rows[0]["vina"] + 1e-6
    assert rows[1]["vina"] > rows[0]["vina"]
    assert out["reference_vina"] == pytest.approx(rows[0]["vina"])
    quick = evaluate_in_pocket([ref], folder / "6M2B_EZO_protein.pdb", reference=ref, vina_minimise=False,
                               posebusters="fast")
    assert quick["per_molecule"][0]["vina"] == pytest.approx(rows[0]["vina"], abs=1e-3)
    assert np.isnan(quick["per_molecule"][0]["vina_min"]) and quick["per_molecule"][0]["posebusters"] is True


def test_design_scoring_with_the_protein_and_redocking(local_complex):
    """PoseBusters' dock checks (with the protein) pass the crystal ligand and fail a strained
    three-membered ring dropped into the site; re-docking finds the crystal ligand's basin and
    ranks the poor design below it; ring and element reports count what is there."""
    from rdkit.Chem import AllChem

    from moldiff.chem.ligand import read_ligand
    from moldiff.metrics.pocket import evaluate_in_pocket

    protein, ligand = local_complex
    ref = read_ligand(ligand, hydrogens="add")
    poor = Chem.AddHs(Chem.MolFromSmiles("C1CC1CCCC"))
    AllChem.EmbedMolecule(poor, randomSeed=1)
    conf = poor.GetConformer()
    pos = conf.GetPositions()
    shift = ref.GetConformer().GetPositions().mean(0) - pos.mean(0)
    for k in range(poor.GetNumAtoms()):
        conf.SetAtomPosition(k, (pos[k] + shift).tolist())
    out = evaluate_in_pocket([poor], protein, reference=ref, posebusters="dock", redock=1, vina_minimise=False)
    row = out["per_molecule"][0]
    assert out["posebusters_checks"] == "dock" and out["reference_posebusters"] is True
    assert row["posebusters"] is False and out["posebusters_valid"] == 0.0
    assert out["reference_vina_docked"] < -8 and row["vina_docked"] > out["reference_vina_docked"] + 2
    assert out["at_least_reference_docked"] == 0.0
    assert row["unusual_ring"] is True and row["ring_sizes"] == [3] and out["ring_sizes"] == {"3": 1}
    assert out["elements"] == {"C": 1.0} and out["reference_ring_sizes"] == [6, 6, 6]


def test_vina_maps_cover_donor_types(shared_data):
    """A hydroxyl oxygen needs Vina's O_DA map, an ether oxygen's (O_A) does not cover it:
    scoring it against the ether's maps must give NaN, not abort the process."""
    pytest.importorskip("vina")
    from rdkit.Chem import AllChem

    from moldiff.docking.dock import read_site
    from moldiff.vina.prepare import pocket_residues
    from moldiff.vina.scorer import VinaScorer

    folder = shared_data / "posebusters_dev" / "6M2B_EZO"
    prot, pocket, centre, _ = read_site(folder / "6M2B_EZO_protein.pdb", reference=folder / "6M2B_EZO_ligand.sdf")

    def placed(smiles):
        mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
        AllChem.EmbedMolecule(mol, randomSeed=0)
        conf = mol.GetConformer()
        pos = conf.GetPositions()
        for k in range(mol.GetNumAtoms()):
            conf.SetAtomPosition(k, (pos[k] - pos.mean(0) + centre).tolist())
        return mol

    ether, alcohol = placed("CCOCC"), placed("CCCCO")
    scorer = VinaScorer(prot.path, pocket_residues(pocket), centre, size=20.0)
    scorer.prepare_maps([ether])
    assert np.isfinite(scorer.score(ether, minimise=False)[0])
    assert np.isnan(scorer.score(alcohol, minimise=False)[0])
    scorer.prepare_maps([ether, alcohol])
    assert np.isfinite(scorer.score(alcohol, minimise=False)[0])


def test_relax_ligand_repairs_bonds_and_keeps_the_pose(site):
    """A crystal ligand with every heavy atom jittered by ~0.15 Å: the restrained relaxation
    brings its bond lengths back towards the crystal's while no heavy atom leaves the jittered
    pose by much more than the 0.3 Å flat bottom."""
    from moldiff.chem.assemble import RELAX_MAX_DISPLACEMENT, relax_ligand
    from moldiff.chem.ligand import read_ligand

    _, ligand = site
    crystal = read_ligand(ligand, hydrogens="add")
    heavy = [a.GetIdx() for a in crystal.GetAtoms() if a.GetAtomicNum() > 1]
    rng = np.random.default_rng(0)
    jittered = Chem.Mol(crystal)
    conf = jittered.GetConformer()
    for i in range(jittered.GetNumAtoms()):
        p = np.asarray(conf.GetAtomPosition(i)) + rng.normal(0, 0.15 / np.sqrt(3), 3)
        conf.SetAtomPosition(i, p.tolist())

    def bond_error(mol):
        pos, ref = mol.GetConformer().GetPositions(), crystal.GetConformer().GetPositions()
        return np.mean([abs(np.linalg.norm(pos[b.GetBeginAtomIdx()] - pos[b.GetEndAtomIdx()])
                            - np.linalg.norm(ref[b.GetBeginAtomIdx()] - ref[b.GetEndAtomIdx()]))
                        for b in mol.GetBonds() if b.GetBeginAtom().GetAtomicNum() > 1 < b.GetEndAtom().GetAtomicNum()])

    relaxed = relax_ligand(jittered)
    assert bond_error(relaxed) < 0.5 * bond_error(jittered), (bond_error(relaxed), bond_error(jittered))
    moved = np.linalg.norm(relaxed.GetConformer().GetPositions()[heavy] - conf.GetPositions()[heavy], axis=1)
    assert moved.max() < RELAX_MAX_DISPLACEMENT + 0.2, moved.max()
    assert Chem.MolToSmiles(Chem.RemoveHs(relaxed)) == Chem.MolToSmiles(Chem.RemoveHs(jittered))
    # protein atoms 3.0 Å out along each heavy atom's direction from the centre: relaxed
    # alone the ligand swells towards them; with them as fixed points no contact shortens
    pos = conf.GetPositions()[heavy]
    out = pos - pos.mean(0)
    wall = pos + 3.0 * out / np.linalg.norm(out, axis=1, keepdims=True)
    near = lambda mol: np.linalg.norm(mol.GetConformer().GetPositions()[heavy][:, None] - wall[None], axis=-1).min()
    start = near(jittered)
    assert near(relax_ligand(jittered, wall)) > start - 0.02 and near(relaxed) < start - 0.02, (start, near(relaxed))


def test_relax_ligand_keeps_protein_contacts_under_strain(site):
    """A crystal ligand shrunk to 80 % about its centre in its own pocket: MMFF wants its bonds
    back and pushes atoms outwards, but no heavy-atom contact with the protein shortens below
    min(as given, RELAX_CONTACT) (at the position restraint's force constant they shortened by
    0.18 Å here)."""
    from moldiff.chem.assemble import RELAX_CONTACT, relax_ligand
    from moldiff.chem.ligand import read_ligand
    from moldiff.data.protein import read_protein, select_pocket

    protein_file, ligand = site
    crystal = read_ligand(ligand, hydrogens="add")
    heavy = [a.GetIdx() for a in crystal.GetAtoms() if a.GetAtomicNum() > 1]
    pocket = select_pocket(read_protein(protein_file), ligand_pos=crystal.GetConformer().GetPositions(), radius=8.0)
    shrunk = Chem.Mol(crystal)
    conf = shrunk.GetConformer()
    pos = conf.GetPositions()
    centre = pos[heavy].mean(0)
    for i in range(shrunk.GetNumAtoms()):
        conf.SetAtomPosition(i, (centre + 0.8 * (pos[i] - centre)).tolist())

    def contacts(mol):  # each ligand heavy atom's nearest protein heavy atom
        p = mol.GetConformer().GetPositions()[heavy]
        return np.linalg.norm(p[:, None] - pocket.pos[None], axis=-1).min(axis=1)

    before, after = contacts(shrunk), contacts(relax_ligand(shrunk, pocket.pos))
    assert before.min() < RELAX_CONTACT
    assert (after >= np.minimum(before, RELAX_CONTACT) - 0.03).all(), (before - after).max()


def test_pocket_data_packed_for_a_gpu_machine_round_trips_and_trains(tmp_path, shared_data):
    """The GPU stages (moldiff.training.staged, benchmarks/pocket_gpu_stage.py) carry the complexes as arrays and trains on them through
    ``train(datamodule=...)``: the graphs come back field for field, and the run uses them."""

    import moldiff
    from moldiff.training.build import build_datamodule
    from moldiff.config import TrainConfig, load_config
    from moldiff.data.datamodule import PocketDataModule
    from moldiff.training.run import train

    from moldiff.training.staged import pack_graphs, unpack_graphs

    cfg = load_config("configs/test/pocket_tiny.yaml", TrainConfig,
                      [f"trainer.output_dir={tmp_path / 'run'}", f"data.root={shared_data / 'smoke'}",
                       "trainer.max_epochs=1"])
    built = build_datamodule(cfg.data)
    built.setup()
    carried = PocketDataModule("complexes", root="packed", batch_size=cfg.data.batch_size)
    carried.datasets = {s: unpack_graphs(pack_graphs(built.datasets[s], druglike=False)) for s in built.datasets}
    for split, graphs in built.datasets.items():
        assert len(carried.datasets[split]) == len(graphs) > 0
        for a, b in zip(carried.datasets[split], graphs):
            assert set(a.keys()) == set(b.keys())
            for key in b.keys():
                if torch.is_tensor(b[key]):
                    assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
                else:
                    assert a[key] == b[key], key
    carried.datasets["train"] = carried.datasets["train"][:3]  # not what cfg.data would build
    model = moldiff.load(train(cfg, progress=False, datamodule=carried))
    assert model.size_pairs.shape[1] == 3 < built.size_pairs.shape[1]
    torch.testing.assert_close(model.size_pairs, carried.size_pairs)
