import numpy as np
import pytest
from rdkit import Chem

from moldiff.chem import Mol3D, canonical_smiles, from_rdkit, infer_bonds, read_sdf, table_bond_orders, to_rdkit, write_sdf
from moldiff.chem.bonds import bond_list

from helpers import embed, mol3d


def _orders(m: Mol3D) -> dict[tuple[str, str, int], int]:
    """Histogram of (element, element, order) over inferred bonds."""
    out: dict = {}
    for i, j, k in bond_list(table_bond_orders(m.symbols, m.pos)):
        key = (*sorted((m.symbols[i], m.symbols[j])), int(k))
        out[key] = out.get(key, 0) + 1
    return out


@pytest.mark.parametrize(
    "smiles, expected",
    [
        ("CCO", {("C", "C", 1): 1, ("C", "O", 1): 1, ("C", "H", 1): 5, ("H", "O", 1): 1}),
        ("C=C", {("C", "C", 2): 1, ("C", "H", 1): 4}),
        ("C#N", {("C", "N", 3): 1, ("C", "H", 1): 1}),
        ("CC(=O)N", {("C", "C", 1): 1, ("C", "O", 2): 1, ("C", "N", 1): 1, ("C", "H", 1): 3, ("H", "N", 1): 2}),
    ],
)
def test_table_protocol_recovers_bonds_of_relaxed_molecules(smiles, expected):
    assert _orders(mol3d(smiles)) == expected


def test_table_protocol_margins():
    # C-C single reference 154 pm + 10 pm margin; double 134 + 5; triple 120 + 3
    def cc(distance):
        return table_bond_orders(["C", "C"], np.array([[0, 0, 0], [distance, 0, 0]]))[0, 1]

    assert cc(1.65) == 0 and cc(1.63) == 1 and cc(1.40) == 1 and cc(1.38) == 2 and cc(1.24) == 2 and cc(1.22) == 3
    assert table_bond_orders(["H"], np.zeros((1, 3))).shape == (1, 1)


def test_unsupported_element_in_table_raises_key_error():
    with pytest.raises(KeyError):
        table_bond_orders(["C", "Xe"], np.zeros((2, 3)))


def test_rdkit_method_assigns_orders_and_charges_of_a_zwitterion():
    mol = embed("[NH3+]CC(=O)[O-]")  # glycine zwitterion
    m = from_rdkit(mol, with_bonds=False)
    m.charge[:] = 0  # coordinates and elements only
    out = infer_bonds(m, "rdkit", total_charge=0)
    assert sorted(out.charge.tolist()) == [-1] + [0] * (m.num_atoms - 2) + [1]
    assert canonical_smiles(to_rdkit(out)) == Chem.MolToSmiles(Chem.MolFromSmiles("[NH3+]CC(=O)[O-]"))
    with pytest.raises(ValueError, match="unknown bond inference method"):
        infer_bonds(m, "guess")


def test_mol3d_rdkit_round_trip_keeps_atoms_bonds_charges_coordinates():
    mol = embed("C[N+](C)(C)CC(=O)[O-]")
    m = from_rdkit(mol)
    back = to_rdkit(m, sanitize=True)
    assert [a.GetSymbol() for a in back.GetAtoms()] == [a.GetSymbol() for a in mol.GetAtoms()]
    assert [a.GetFormalCharge() for a in back.GetAtoms()] == [a.GetFormalCharge() for a in mol.GetAtoms()]
    assert {(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), b.GetBondType()) for b in back.GetBonds()} == {
        (b.GetBeginAtomIdx(), b.GetEndAtomIdx(), b.GetBondType()) for b in mol.GetBonds()
    }
    assert np.allclose(back.GetConformer().GetPositions(), mol.GetConformer().GetPositions())
    with pytest.raises(ValueError, match="no bonds"):
        to_rdkit(Mol3D(["C"], np.zeros((1, 3))))
    with pytest.raises(ValueError, match="no conformer"):
        from_rdkit(Chem.MolFromSmiles("CC"))


def test_sdf_round_trip_on_real_ligands(smoke_ligands, tmp_path):
    mols = []
    for path in smoke_ligands:
        records = read_sdf(path)
        assert not records.errors
        mols.extend(records.mols)
    for i, mol in enumerate(mols):
        mol.SetProp("_Name", f"lig{i}")
        mol.SetProp("score", f"{i * 0.5:.1f}")
    out = tmp_path / "all.sdf"
    assert write_sdf(mols, out) == len(mols)
    back = read_sdf(out).mols
    assert len(back) == len(mols)
    for a, b in zip(mols, back):
        assert [x.GetSymbol() for x in a.GetAtoms()] == [x.GetSymbol() for x in b.GetAtoms()]
        assert [x.GetFormalCharge() for x in a.GetAtoms()] == [x.GetFormalCharge() for x in b.GetAtoms()]
        assert [x.GetBondType() for x in a.GetBonds()] == [x.GetBondType() for x in b.GetBonds()]
        assert np.abs(a.GetConformer().GetPositions() - b.GetConformer().GetPositions()).max() < 1e-4
        assert b.GetProp("score") == a.GetProp("score") and b.GetProp("_Name") == a.GetProp("_Name")
    assert any(x.GetSymbol() == "H" for m in back for x in m.GetAtoms())  # hydrogens kept
    assert any(x.GetFormalCharge() != 0 for m in back for x in m.GetAtoms())  # charges kept


def test_sdf_round_trip_of_inferred_molecules(tmp_path):
    m = infer_bonds(mol3d("OC(=O)C#N"), "table")
    out = tmp_path / "one.sdf"
    write_sdf([to_rdkit(m)], out)
    back = from_rdkit(read_sdf(out).mols[0])
    assert back.symbols == m.symbols
    assert np.array_equal(back.bonds, m.bonds)
    assert np.abs(back.pos - m.pos).max() < 1e-4


def test_write_sdf_is_atomic(tmp_path):
    good = embed("CCO")
    out = tmp_path / "x.sdf"
    with pytest.raises(ValueError, match="no 3D conformer"):
        write_sdf([good, Chem.MolFromSmiles("CC")], out)
    assert not out.exists() and list(tmp_path.iterdir()) == []
