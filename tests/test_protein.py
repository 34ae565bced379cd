"""Proteins (PDB/mmCIF), pockets and ligands: real files from ../shared/data and odd ones."""
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from moldiff.chem.ligand import check_elements, read_ligand
from moldiff.data.protein import (
    AMINO_ACIDS,
    POCKET_ELEMENTS,
    pocket_element_index,
    pocket_graph,
    read_protein,
    select_pocket,
)
from moldiff.errors import InputError

MOL2 = """@<TRIPOS>MOLECULE
ethanol
3 2 0 0 0
SMALL
NO_CHARGES

@<TRIPOS>ATOM
      1 C1          0.0000    0.0000    0.0000 C.3     1  LIG1        0.0000
      2 C2          1.5000    0.0000    0.0000 C.3     1  LIG1        0.0000
      3 O1          1.9000    1.3000    0.0000 O.3     1  LIG1        0.0000
@<TRIPOS>BOND
     1     1     2    1
     2     2     3    1
"""

PDB_LINE = "{rec:<6}{serial:>5} {name:<4}{alt:1}{res:>3} {chain:1}{num:>4}{icode:1}   " \
           "{x:8.3f}{y:8.3f}{z:8.3f}{occ:6.2f}{b:6.2f}          {element:>2}{charge:<2}"


def _pdb(path: Path, atoms) -> Path:
    lines = []
    for k, a in enumerate(atoms, 1):
        row = {**dict(rec="ATOM", serial=k, alt="", chain="A", icode="", occ=1.0, b=10.0, charge=""), **a}
        lines.append(PDB_LINE.format(**row))
    path.write_text("\n".join(lines + ["END"]) + "\n")
    return path


def test_real_proteins_read_with_their_quirks(shared_data):
    # FEP set: hydrogens present, charges in the element column (N1+)
    fep = shared_data / "fep_benchmark" / "charge_annhil__cdk2" / "cdk2_protein.pdb"
    assert "N1+" in fep.read_text()
    heavy, with_h = read_protein(fep), read_protein(fep, hydrogens=True)
    assert "H" not in set(heavy.element) and (with_h.element == "H").sum() > 4000
    assert set(heavy.element) <= {"C", "N", "O", "S", "P"}
    nz = heavy.subset((heavy.atom_name == "NZ") & (heavy.residue_name == "LYS"))
    assert len(nz) > 0 and set(nz.element) == {"N"}
    assert set(heavy.atom_name[heavy.backbone]) <= {"N", "CA", "C", "O", "OXT"}
    standard = ~heavy.hetero & np.isin(heavy.residue_type(), range(len(AMINO_ACIDS)))
    assert (heavy.atom_name[heavy.backbone] == "CA").sum() == len(np.unique(heavy.residue_index()[standard]))
    # PoseBusters entry: cofactors as HETATM, no waters
    pb = read_protein(shared_data / "posebusters_dev" / "5SAK_ZRY" / "5SAK_ZRY_protein.pdb")
    assert pb.hetero.any() and not np.isin(pb.residue_name, ["HOH"]).any()


def test_pocket_from_reference_ligand_matches_the_shipped_pocket10(shared_data):
    folder = shared_data / "posebusters_dev" / "5SAK_ZRY"
    protein = read_protein(folder / "5SAK_ZRY_protein.pdb")
    ligand = read_ligand(folder / "5SAK_ZRY_ligand.sdf")
    pocket = select_pocket(protein, ligand_pos=ligand.GetConformer().GetPositions(), radius=10.0)
    reference = read_protein(folder / "5SAK_ZRY_pocket10.pdb")  # amino-acid residues within 10 Å
    amino = pocket.subset(~pocket.hetero)
    assert set(zip(amino.chain, amino.residue_number)) == set(zip(reference.chain, reference.residue_number))
    # whole residues: every selected residue keeps all its atoms
    full = protein.residue_index()
    chosen = set(zip(pocket.chain, pocket.residue_number, pocket.insertion_code))
    mask = [(c, n, i) in chosen for c, n, i in zip(protein.chain, protein.residue_number, protein.insertion_code)]
    assert len(pocket) == int(np.sum(mask)) and len(np.unique(full[mask])) == len(chosen)
    graph = pocket_graph(pocket)
    assert graph.pos.shape == (len(pocket), 3) and int(graph.atom_type.max()) < len(POCKET_ELEMENTS)
    assert int(graph.residue_type.max()) <= len(AMINO_ACIDS)
    # centre and box definitions select around the same place
    center = ligand.GetConformer().GetPositions().mean(0)
    by_center = select_pocket(protein, center=center, radius=8.0)
    by_box = select_pocket(protein, box=(center, [16.0, 16.0, 16.0]))
    assert 0 < len(by_center) < len(protein) and 0 < len(by_box) < len(protein)


def test_odd_pdb_files(tmp_path):
    atoms = [  # no element column on the first residue, an insertion code, an ion, a water, an altloc
        dict(name=" N  ", res="GLY", num=1, x=0, y=0, z=0, element=""),
        dict(name=" CA ", res="GLY", num=1, x=1.4, y=0, z=0, element=""),
        dict(name=" CA ", res="GLY", num=1, icode="A", x=3, y=0, z=0, element="C"),
        dict(name=" OG ", res="SER", num=2, alt="A", occ=0.7, x=5, y=0, z=0, element="O"),
        dict(name=" OG ", res="SER", num=2, alt="B", occ=0.3, x=5, y=1, z=0, element="O"),
        dict(rec="HETATM", name="ZN  ", res=" ZN", num=90, x=6, y=0, z=0, element="ZN", charge="2+"),
        dict(rec="HETATM", name="FE  ", res="SF4", num=91, x=7, y=0, z=0, element="FE"),
        dict(rec="HETATM", name=" O  ", res="HOH", num=99, x=8, y=0, z=0, element="O"),
        dict(name=" H  ", res="SER", num=2, x=5, y=0, z=1, element="H"),
    ]
    protein = read_protein(_pdb(tmp_path / "odd.pdb", atoms))
    assert list(protein.element) == ["N", "C", "C", "O", "Zn", "Fe"]
    assert list(protein.insertion_code) == ["", "", "A", "", "", ""]
    assert len(np.unique(protein.residue_index())) == 5  # GLY 1, GLY 1A, SER 2, ZN, SF4
    assert protein.pos[3].tolist() == [5.0, 0.0, 0.0]  # the altloc with the higher occupancy
    assert protein.backbone.tolist() == [True, True, True, False, False, False]
    assert protein.hetero.tolist() == [False, False, False, False, True, True]
    types = pocket_element_index(list(protein.element) + ["Xe"])
    assert [POCKET_ELEMENTS[k] for k in types] == ["N", "C", "C", "O", "metal", "metal", "other"]
    assert len(read_protein(tmp_path / "odd.pdb", hydrogens=True, waters=True)) == 8


def test_bad_proteins_and_sites_give_clear_errors(tmp_path, shared_data):
    with pytest.raises(InputError, match="no such protein file"):
        read_protein(tmp_path / "missing.pdb")
    (tmp_path / "empty.pdb").write_text("REMARK nothing here\nEND\n")
    with pytest.raises(InputError, match="empty.pdb: no"):
        read_protein(tmp_path / "empty.pdb")
    (tmp_path / "bad.cif").write_text("data_x\nloop_\n_atom_site.id\n1 2 3\n")
    with pytest.raises(InputError, match="bad.cif"):
        read_protein(tmp_path / "bad.cif")
    protein = read_protein(shared_data / "smoke" / "dd_1a0q" / "protein.pdb")
    with pytest.raises(InputError, match=r"protein.pdb: no protein atoms within 10 Å of the centre .* Å away"):
        select_pocket(protein, center=[500.0, 0.0, 0.0])
    with pytest.raises(InputError, match="exactly one"):
        select_pocket(protein)
    with pytest.raises(InputError, match="radius must be positive"):
        select_pocket(protein, center=[0, 0, 0], radius=0)


def test_ligands_from_sdf_mol2_smiles_and_errors(tmp_path, shared_data):
    sdf = shared_data / "fep_benchmark" / "charge_annhil__cdk2" / "cdk2_ligands.sdf"
    ligands = read_ligand(sdf, all_records=True)
    assert len(ligands) > 1 and all(m.GetNumConformers() == 1 for m in ligands)
    first = read_ligand(sdf)
    assert any(a.GetSymbol() == "H" for a in first.GetAtoms())
    heavy = read_ligand(sdf, hydrogens="remove")
    assert all(a.GetSymbol() != "H" for a in heavy.GetAtoms())
    added = read_ligand(shared_data / "smoke" / "dd_1a0q" / "ligand.sdf", hydrogens="add")
    assert added.GetNumAtoms() > Chem.RemoveHs(added).GetNumAtoms()
    mol2 = tmp_path / "ethanol.mol2"
    mol2.write_text(MOL2)
    ethanol = read_ligand(mol2)
    assert ethanol.GetNumAtoms() == 3 and ethanol.GetConformer().GetAtomPosition(2).x == pytest.approx(1.9)
    mol2.write_text(MOL2.replace("C.3", "Q.9"))
    with pytest.raises(InputError, match="ethanol.mol2: RDKit cannot read this MOL2"):
        read_ligand(mol2)
    mol = read_ligand("CCO")
    assert mol.GetNumAtoms() == 3 and mol.GetNumConformers() == 0
    with pytest.raises(InputError, match="not a file and not a SMILES"):
        read_ligand("C1CC(")
    with pytest.raises(InputError, match="no such ligand file"):
        read_ligand(tmp_path / "none.sdf")
    (tmp_path / "lig.xyz").write_text("3\n\nC 0 0 0\n")
    with pytest.raises(InputError, match="unsupported ligand format"):
        read_ligand(tmp_path / "lig.xyz")
    with pytest.raises(InputError, match="unsupported element"):
        check_elements(Chem.MolFromSmiles("C[Se]C"), ("C", "N", "O"), "lig.sdf")
