"""Fragment growing: designs that keep given atoms exactly (``moldiff design --fix``, ``fixed=``)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from helpers import run_cli


@pytest.fixture(scope="module")
def fragment(tmp_path_factory, local_complex):
    """The local complex's trimethoxyphenyl, cut out of the crystal ligand (protein frame)."""
    from moldiff.chem.ligand import read_ligand

    lig = read_ligand(local_complex[1], hydrogens="remove")
    ring = next(r for r in lig.GetRingInfo().AtomRings() if all(lig.GetAtomWithIdx(i).GetIsAromatic() for i in r))
    keep = set(ring)
    for i in ring:
        for o in lig.GetAtomWithIdx(i).GetNeighbors():
            if o.GetSymbol() == "O":
                keep |= {o.GetIdx(), *(x.GetIdx() for x in o.GetNeighbors())}
    rw = Chem.RWMol(lig)
    for i in sorted(set(range(lig.GetNumAtoms())) - keep, reverse=True):
        rw.RemoveAtom(i)
    frag = rw.GetMol()
    Chem.SanitizeMol(frag)
    path = tmp_path_factory.mktemp("fragment") / "trimethoxyphenyl.sdf"
    Chem.MolToMolFile(frag, str(path))
    assert Chem.MolToSmiles(frag) == "COc1cccc(OC)c1OC"
    return path


def test_grown_designs_keep_the_fragment_exactly_and_are_one_molecule(local_complex, fragment):
    import moldiff
    from moldiff.chem.ligand import read_ligand
    from moldiff.metrics.pocket import is_connected

    protein, _ = local_complex
    given = read_ligand(fragment, hydrogens="remove")
    k = given.GetNumAtoms()
    mols = moldiff.design(protein, fixed=fragment, n=4, steps=30, num_atoms=20, seed=0)
    made = [m for m in mols if m is not None]
    assert len(made) == 4
    for m in made:
        heavy = Chem.RemoveHs(m)
        assert m.GetIntProp("moldiff_kept_atoms") == k and heavy.GetNumAtoms() == 20
        # the first k atoms: the fragment's elements, charges and coordinates, bit for bit
        assert [a.GetSymbol() for a in m.GetAtoms()][:k] == [a.GetSymbol() for a in given.GetAtoms()]
        assert [a.GetFormalCharge() for a in m.GetAtoms()][:k] == [a.GetFormalCharge() for a in given.GetAtoms()]
        assert np.array_equal(m.GetConformer().GetPositions()[:k], given.GetConformer().GetPositions())
        for bond in given.GetBonds():  # every bond kept, none added between kept atoms
            mine = m.GetBondBetweenAtoms(bond.GetBeginAtomIdx(), bond.GetEndAtomIdx())
            assert mine is not None and mine.GetIsAromatic() == bond.GetIsAromatic()
            if not bond.GetIsAromatic():
                assert mine.GetBondType() == bond.GetBondType()
        kept_pairs = {(min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), max(b.GetBeginAtomIdx(), b.GetEndAtomIdx()))
                      for b in m.GetBonds() if b.GetBeginAtomIdx() < k and b.GetEndAtomIdx() < k}
        assert len(kept_pairs) == given.GetNumBonds()
        assert is_connected(m)
        # a kept atom bonds to new atoms only where the fragment had a hydrogen
        for a in given.GetAtoms():
            new = [nb for nb in m.GetAtomWithIdx(a.GetIdx()).GetNeighbors() if nb.GetIdx() >= k and nb.GetAtomicNum() > 1]
            assert len(new) <= a.GetTotalNumHs()
        assert m.GetProp("moldiff_valid") == "1"
    assert len({Chem.MolToSmiles(Chem.RemoveHs(m)) for m in made}) == 4  # grown four different ways


def test_known_atoms_end_exactly_as_given_under_every_sampler():
    from moldiff.diffusion.sampler import get_sampler
    from moldiff.diffusion.schedule import CosineSchedule
    from moldiff.diffusion.wrappers import KnownAtoms

    schedule = CosineSchedule()
    gen = torch.Generator().manual_seed(0)
    known = torch.randn(6, 5, generator=gen)
    mask = torch.tensor([True, True, False, True, False, False])
    seen = []

    def eps_fn(z, t):
        seen.append(z[mask].clone())
        return torch.zeros_like(z)

    for name in ("ddpm", "ddim"):
        z = torch.randn(6, 5, generator=gen)
        out = get_sampler(name)(KnownAtoms(eps_fn, schedule, known, mask, gen), schedule, z, 50, generator=gen)
        assert torch.allclose(out[mask], known[mask], atol=1e-3)  # the sampler lands on them (exact after the reset)
        assert not torch.allclose(out[~mask], known[~mask], atol=0.1)
    assert not torch.allclose(seen[0], known[mask], atol=0.1)  # the network saw them noised at t = 1
    assert torch.allclose(seen[-1], known[mask], atol=0.2)


def test_joins_leave_anchored_atoms_and_avoid_closed_ones():
    from moldiff.diffusion.guidance import FragmentJoin

    x = torch.tensor([[0.0, 0, 0], [1.4, 0, 0],     # kept: atom 1 is closed (no hydrogen to give)
                      [1.4, 4.0, 0]])                # a stray atom, nearest to the closed one
    anchor = torch.tensor([True, True, False])
    closed = torch.tensor([False, True, False])
    out = FragmentJoin(torch.zeros(3, dtype=torch.long), anchor=anchor, closed=closed)(x)
    assert torch.equal(out[:2], x[:2])
    d = torch.cdist(out[2:], out[:2])[0]
    assert d[0] == pytest.approx(1.4, abs=1e-4) and d[1] > 1.5   # joined to the open atom
    plain = FragmentJoin(torch.zeros(3, dtype=torch.long), anchor=anchor)(x)
    assert torch.cdist(plain[2:], plain[:2])[0][1] == pytest.approx(1.4, abs=1e-4)  # without: the nearest
    # an anchored piece is never moved onto a larger free one
    x2 = torch.cat([x[:2], torch.tensor([[9.0, 0, 0], [10.4, 0, 0], [11.8, 0, 0]])])
    out2 = FragmentJoin(torch.zeros(5, dtype=torch.long), anchor=torch.tensor([True, True, False, False, False]))(x2)
    assert torch.equal(out2[:2], x2[:2]) and torch.cdist(out2[2:], out2[:2]).min() == pytest.approx(1.4, abs=1e-4)


def test_assembly_keeps_the_fragments_bonds_and_its_closed_atoms(fragment):
    from moldiff.chem.assemble import assemble_ligand
    from moldiff.chem.ligand import read_ligand
    from moldiff.chem.molecule import Mol3D

    kept = read_ligand(fragment, hydrogens="remove")
    Chem.Kekulize(kept, clearAromaticFlags=True)
    pos = kept.GetConformer().GetPositions()
    closed = next(a.GetIdx() for a in kept.GetAtoms() if a.GetTotalNumHs() == 0 and a.GetSymbol() == "C"
                  and a.GetDegree() == 3)
    opened = next(a.GetIdx() for a in kept.GetAtoms() if a.GetIsAromatic() is False and a.GetTotalNumHs() == 1)
    away = lambda i: pos[i] + 1.45 * (pos[i] - pos.mean(0)) / np.linalg.norm(pos[i] - pos.mean(0))
    m = Mol3D([a.GetSymbol() for a in kept.GetAtoms()] + ["C", "C"], np.vstack([pos, away(closed), away(opened)]))
    mol = assemble_ligand(m, kept=kept)
    assert mol is not None
    assert all(n.GetIdx() < kept.GetNumAtoms() or n.GetAtomicNum() == 1
               for n in mol.GetAtomWithIdx(closed).GetNeighbors())            # the closed atom took no bond
    assert mol.GetBondBetweenAtoms(opened, kept.GetNumAtoms() + 1) is not None  # the open one did
    assert all(mol.GetBondBetweenAtoms(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) is not None for b in kept.GetBonds())


def test_stray_atoms_beside_a_grown_molecule_are_dropped_and_nothing_else():
    from moldiff.ligand_design import drop_strays

    mol = Chem.AddHs(Chem.MolFromSmiles("c1ccccc1CCO.N.C"))   # kept: the ring (atoms 0-5); strays N and C
    AllChem.EmbedMolecule(mol, randomSeed=7)
    mol.SetProp("_Name", "design")
    out, dropped = drop_strays(mol, 6, 3)
    assert dropped == 2 and Chem.MolToSmiles(Chem.RemoveHs(out)) == "OCCc1ccccc1"
    assert len(Chem.GetMolFrags(out)) == 1 and out.GetProp("_Name") == "design"
    keep = list(Chem.GetMolFrags(mol)[0])   # what stays, in its order
    assert np.array_equal(out.GetConformer().GetPositions(), mol.GetConformer().GetPositions()[keep])
    assert [a.GetSymbol() for a in out.GetAtoms()] == [mol.GetAtomWithIdx(i).GetSymbol() for i in keep]
    for limit in (0, 1):  # more stray heavy atoms than allowed: unchanged
        same, none = drop_strays(mol, 6, limit)
        assert same is mol and none == 0
    linked = Chem.AddHs(Chem.MolFromSmiles("c1ccccc1.CCO"))   # kept atoms in two pieces (an unjoined link)
    AllChem.EmbedMolecule(linked, randomSeed=7)
    assert drop_strays(linked, 8, 3) == (linked, 0)


def test_fix_on_the_command_line_and_its_refusals(local_complex, fragment, tmp_path):
    protein, _ = local_complex
    out = tmp_path / "grown.sdf"
    done = run_cli("design", "--protein", str(protein), "--fix", str(fragment), "-n", "2", "--steps", "10", "-o",
                   str(out), "-q")
    assert done.returncode == 0, done.stderr
    assert "kept: the first 12 atoms" in done.stdout and f"--ligand {fragment}" in done.stdout
    assert all(m.GetIntProp("moldiff_kept_atoms") == 12 for m in Chem.SDMolSupplier(str(out)))

    silicon = Chem.AddHs(Chem.MolFromSmiles("c1ccccc1[Si](C)(C)C"))
    AllChem.EmbedMolecule(silicon, randomSeed=3)
    Chem.MolToMolFile(silicon, str(tmp_path / "si.sdf"))
    flat = Chem.MolFromSmiles("c1ccccc1")
    AllChem.Compute2DCoords(flat)
    Chem.MolToMolFile(flat, str(tmp_path / "flat.sdf"))
    two = Chem.AddHs(Chem.MolFromSmiles("CCO.CC"))
    AllChem.EmbedMolecule(two, randomSeed=3)
    Chem.MolToMolFile(two, str(tmp_path / "two.sdf"))
    for args, message in [(["--fix", str(tmp_path / "none.sdf")], "none.sdf: no such ligand file"),
                          (["--fix", str(tmp_path / "si.sdf")], "si.sdf: element(s) Si not generated"),
                          (["--fix", str(tmp_path / "flat.sdf")], "flat.sdf: the kept fragment needs 3D"),
                          (["--fix", str(tmp_path / "two.sdf")], "two.sdf: the kept fragment is 2 pieces"),
                          (["--fix", str(fragment), "--num-atoms", "12"], "the kept fragment has 12 heavy atoms")]:
        bad = tmp_path / "bad.sdf"
        done = run_cli("design", "--protein", str(protein), *args, "-n", "2", "-o", str(bad), "-q")
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
        assert not bad.exists()


@pytest.fixture(scope="module")
def two_pieces(tmp_path_factory, local_complex):
    """The local crystal ligand without its N(CH3)CH2 linker: the aryl and the bicycle, in place."""
    from moldiff.chem.ligand import read_ligand

    lig = read_ligand(local_complex[1], hydrogens="remove")
    match = lig.GetSubstructMatch(Chem.MolFromSmarts("c-N(-[CH3])-[CH2]-[C;R]"))
    rw = Chem.RWMol(lig)
    for atom in rw.GetAtoms():
        atom.SetNoImplicit(False)
    for i in sorted(match[1:4], reverse=True):
        rw.RemoveAtom(i)
    cut = rw.GetMol()
    Chem.SanitizeMol(cut)
    folder = tmp_path_factory.mktemp("pieces")
    paths = []
    for k, piece in enumerate(Chem.GetMolFrags(cut, asMols=True)):
        paths.append(folder / f"piece{k}.sdf")
        Chem.MolToMolFile(piece, str(paths[-1]))
    assert len(paths) == 2
    return paths


def test_linking_keeps_both_pieces_and_joins_them(local_complex, two_pieces):
    import moldiff
    from moldiff.chem.ligand import read_ligand
    from moldiff.ligand_design import kept_atoms, link_ends, linker_sizes
    from moldiff.metrics.pocket import is_connected

    protein, _ = local_complex
    a, b = (read_ligand(p, hydrogens="remove") for p in two_pieces)
    k = a.GetNumAtoms() + b.GetNumAtoms()
    expected = np.vstack([a.GetConformer().GetPositions(), b.GetConformer().GetPositions()])
    mols = moldiff.design(protein, fixed=two_pieces, n=3, steps=30, seed=0)
    made = [m for m in mols if m is not None]
    assert len(made) >= 2
    both = Chem.CombineMols(a, b)
    i, j = link_ends(both, torch.tensor([x.GetTotalNumHs() == 0 for x in both.GetAtoms()])).tolist()
    assert both.GetAtomWithIdx(i).GetTotalNumHs() > 0 and both.GetAtomWithIdx(j).GetTotalNumHs() > 0
    kept = kept_atoms(moldiff.load("pocket_design"), list(two_pieces))
    assert kept.ends.tolist() == [i, j]
    sizes = (k + linker_sizes(float(np.linalg.norm(kept.link_to[0] - kept.link_to[1])), 3)).tolist()
    assert k + 3 in sizes  # the crystal's linker, N(CH3)CH2
    for m in made:
        pos = m.GetConformer().GetPositions()
        assert np.array_equal(pos[:k], expected)
        assert m.GetNumHeavyAtoms() in sizes
        for end in (i, j):  # each end bonded to a new atom (held where its bond points)
            assert any(nb.GetIdx() >= k for nb in m.GetAtomWithIdx(end).GetNeighbors()), Chem.MolToSmiles(m)
    assert sum(is_connected(m) for m in made) >= 2  # the linker joins the two pieces


def test_link_targets_sit_where_the_crystal_linker_atoms_are(two_pieces, local_complex):
    """The crystal's linker N(CH3)CH2 taken out: the targets of its two ends -- an aromatic
    carbon (the ring's exocyclic direction) and an sp3 ring carbon with two ring neighbours (its
    tetrahedral position toward the other end) -- are the crystal's N and CH2."""
    from moldiff.chem.ligand import read_ligand
    from moldiff.ligand_design import LINK_BOND, link_ends, link_targets

    lig = read_ligand(local_complex[1], hydrogens="remove")
    n, ch2 = (lig.GetSubstructMatch(Chem.MolFromSmarts("c-N(-[CH3])-[CH2]-[C;R]"))[k] for k in (1, 3))
    a, b = (read_ligand(p, hydrogens="remove") for p in two_pieces)
    both = Chem.CombineMols(a, b)
    pos = both.GetConformer().GetPositions()
    i, j = link_ends(both, torch.tensor([x.GetTotalNumHs() == 0 for x in both.GetAtoms()])).tolist()
    targets = link_targets(both, pos, [i, j])
    assert np.allclose(np.linalg.norm(targets - pos[[i, j]], axis=1), LINK_BOND)
    crystal = lig.GetConformer().GetPositions()
    near = [min(np.linalg.norm(t - crystal[n]), np.linalg.norm(t - crystal[ch2])) for t in targets]
    assert max(near) < 0.3, near
    # an end with one neighbour: on the cone at the tetrahedral angle, turned toward the other end
    chain = Chem.AddHs(Chem.MolFromSmiles("CC.C"))
    AllChem.EmbedMolecule(chain, randomSeed=1)
    heavy = Chem.RemoveHs(chain)
    p = heavy.GetConformer().GetPositions()
    p[2] = p[1] + np.array([0.0, 0.0, 4.0])
    t = link_targets(heavy, p, [1, 2])[0]
    u, v = p[0] - p[1], t - p[1]
    assert np.degrees(np.arccos(u @ v / np.linalg.norm(u) / np.linalg.norm(v))) == pytest.approx(109.5, abs=0.1)
    assert np.linalg.norm(t - p[2]) < np.linalg.norm(p[1] - p[2])  # turned toward the other end


def test_link_refusals(local_complex, two_pieces, fragment, tmp_path):
    protein, _ = local_complex
    for args, message in [(["--link", str(two_pieces[0]), str(two_pieces[0])], "overlap"),
                          (["--fix", str(fragment), "--link", *map(str, two_pieces)], "give one of")]:
        done = run_cli("design", "--protein", str(protein), *args, "-n", "2", "-o", str(tmp_path / "x.sdf"), "-q")
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert not (tmp_path / "x.sdf").exists()
