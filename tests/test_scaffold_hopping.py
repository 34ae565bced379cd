"""Scaffold hopping: designs that keep a ligand's substituents exactly and generate a new core
between them (``moldiff design --hop``, ``hop=``)."""
from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from helpers import run_cli


def _placed(smiles: str) -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=7)
    return Chem.RemoveHs(mol)


def test_the_core_is_the_murcko_scaffold_or_the_smarts_and_its_cut_bonds_are_single():
    from moldiff.errors import InputError
    from moldiff.ligand_design import core_atoms

    mol = _placed("CC(C)Oc1ccc(cc1)C(F)(F)F")  # isopropoxy and CF3 on a benzene
    assert core_atoms(mol) == [4, 5, 6, 7, 8, 9]
    assert core_atoms(mol, "c1ccccc1O") == [3, 4, 5, 6, 7, 8, 9]
    lactam = _placed("CCN1CCCC1=O")  # the exocyclic O is the scaffold's (double bond)
    assert core_atoms(lactam) == [2, 3, 4, 5, 6, 7]
    assert core_atoms(lactam, "C1CCCN1") == [2, 3, 4, 5, 6, 7]  # a terminal double-bonded atom joins the core
    for mol, core, message in [(_placed("CCCO"), None, "no ring system"),
                               (_placed("c1ccccc1"), None, "whole ligand"),
                               (mol, "[N+]", "does not match"),
                               (mol, "c1cc(", "not a SMARTS"),
                               (_placed("Cc1ccccc1"), "cc", "aromatic bond"),
                               (_placed("C=C1CCCC1=CC"), "C1CCCC1", "double bond")]:
        with pytest.raises(InputError, match=message):
            core_atoms(mol, core)


def test_the_substituents_keep_their_hydrogens_and_take_bonds_only_where_the_core_was():
    from moldiff.chem.assemble import KEPT_ROOM, kept_room
    from moldiff.ligand_design import hop_fragment

    mol = _placed("NCc1ccc(O)cc1C(=O)N")  # aminomethyl, hydroxy, amide on a benzene
    name, kept, region, core, exits, path = hop_fragment(mol)
    assert core == "c1ccccc1"
    assert np.array_equal(region, mol.GetConformer().GetPositions()[[2, 3, 4, 5, 7, 8]])
    assert Chem.MolToSmiles(kept, allHsExplicit=True).count(".") == 2  # three pieces
    # the aminomethyl's C, the O and the amide's C each lose one bond to the ring; the N's keep their hydrogens
    assert [kept_room(a) for a in kept.GetAtoms()] == [0, 1, 1, 1, 0, 0]
    assert [a.GetTotalNumHs() for a in kept.GetAtoms()] == [2, 2, 1, 0, 0, 2]
    assert all(a.HasProp(KEPT_ROOM) for a in kept.GetAtoms())


def test_the_held_path_joins_every_exit_through_the_old_core_by_fewest_bonds():
    from moldiff.ligand_design import core_atoms, core_path, hop_fragment

    biphenyl = _placed("Cc1ccc(cc1)-c1ccc(C)cc1")  # methyls para on both rings: the path crosses both
    core = core_atoms(biphenyl)
    assert core_path(biphenyl, core, [1, 10]) == [9, 8, 7, 4, 3, 2]  # exit 10 back to exit 1, 6 atoms
    ortho = _placed("Cc1ccccc1C")                                       # neighbouring exits: nothing between
    assert core_path(ortho, core_atoms(ortho), [1, 6]) == []
    three = _placed("NCc1ccc(O)cc1C(=O)N")                              # exits 2, 5, 8: one atom (7) joins 5
    assert core_path(three, core_atoms(three), [2, 5, 8]) == [7]
    *_, exits, path = hop_fragment(three)
    assert np.array_equal(path, three.GetConformer().GetPositions()[[7]]) and len(exits) == 3
    assert core_path(_placed("CC.c1ccccc1"), [2, 3, 4, 5, 6, 7], [2, 0]) == []   # an exit out of reach: left out


def test_hopped_designs_keep_the_substituents_and_join_them_with_a_new_core(local_complex):
    import moldiff
    from moldiff.chem.ligand import read_ligand
    from moldiff.ligand_design import hop_fragment, hop_sizes
    from moldiff.metrics.pocket import is_connected

    protein, ligand = local_complex
    core = "c1ccccc1"  # the trimethoxyphenyl's ring: its three methoxy groups and the amine N are kept
    _, kept, region, old, exits, path = hop_fragment(read_ligand(ligand, hydrogens="remove"), core)
    k = kept.GetNumAtoms()
    assert old == "c1ccccc1" and len(exits) == 4 and k == 21
    mols = moldiff.design(protein, hop=ligand, core=core, n=4, steps=30, seed=0)
    made = [m for m in mols if m is not None]
    assert len(made) >= 3
    sizes = (k + hop_sizes(len(region), 4)).tolist()
    for m in made:
        assert m.GetIntProp("moldiff_kept_atoms") == k and m.GetNumHeavyAtoms() in sizes
        assert np.array_equal(m.GetConformer().GetPositions()[:k], kept.GetConformer().GetPositions())
        assert [a.GetSymbol() for a in m.GetAtoms()][:k] == [a.GetSymbol() for a in kept.GetAtoms()]
        for a in kept.GetAtoms():  # new bonds only where the old core was bonded, as many
            new = [nb for nb in m.GetAtomWithIdx(a.GetIdx()).GetNeighbors() if nb.GetIdx() >= k and nb.GetAtomicNum() > 1]
            assert len(new) <= a.GetIntProp("moldiff_room")
        assert m.HasProp("moldiff_core")
        # the new core sits where the old one was (relaxation moves atoms up to ~1 Å)
        pos = m.GetConformer().GetPositions()[k:m.GetNumHeavyAtoms()]
        reach = np.sqrt(((pos[:, None] - region[None]) ** 2).sum(-1)).min(1)
        assert reach.max() < 3.0, reach
    assert sum(is_connected(m) for m in made) >= 2  # every substituent joined to the new ring


def test_hop_on_the_command_line_and_its_refusals(local_complex, tmp_path):
    protein, ligand = local_complex
    out = tmp_path / "hops.sdf"
    done = run_cli("design", "--protein", str(protein), "--hop", str(ligand), "--core", "c1ccccc1", "-n", "2",
                   "--steps", "10", "-o", str(out), "-q")
    assert done.returncode == 0, done.stderr
    assert "substituents" in done.stdout and "new core" in done.stdout
    mols = [m for m in Chem.SDMolSupplier(str(out), removeHs=False) if m is not None]
    assert mols and all(m.HasProp("moldiff_core") and m.HasProp("moldiff_kept_atoms") for m in mols)
    for args, message in [(["--core", "c1ccccc1"], "needs --hop"),
                          (["--hop", str(ligand), "--fix", str(ligand)], "give one of"),
                          (["--hop", str(ligand), "--core", "[Cl]"], "does not match")]:
        bad = tmp_path / "x.sdf"
        done = run_cli("design", "--protein", str(protein), *args, "-n", "2", "-o", str(bad), "-q")
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert not bad.exists()


def test_new_atoms_are_held_near_the_old_core_and_kept_ones_stay():
    import torch

    from moldiff.diffusion.pocket import HOP_REACH, _Near

    region = torch.tensor([[0.0, 0.0, 0.0], [1.4, 0.0, 0.0]])         # the old core, protein frame
    centres = torch.tensor([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0]])       # two molecules' frame origins
    batch = torch.tensor([0, 0, 0, 1, 1])
    free = torch.tensor([False, True, True, True, True])
    x0 = torch.tensor([[9.0, 9.0, 9.0], [0.7, 0.5, 0.0], [1.4, 6.0, 0.0], [-3.6, 0.0, 4.0], [-10.0, 0.0, 0.0]])
    out = _Near(free, batch, region, centres)(x0)
    assert torch.equal(out[0], x0[0])                                   # a kept atom: where it was
    assert torch.equal(out[1], x0[1])                                   # already within reach
    assert torch.allclose(out[2], torch.tensor([1.4, HOP_REACH, 0.0]))  # pulled straight to its nearest
    for i in (3, 4):                                                    # in each molecule's own frame
        gap = (out[i] + centres[1] - region).norm(dim=-1).min()
        assert gap == pytest.approx(HOP_REACH, abs=1e-5)
