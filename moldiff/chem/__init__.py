"""Chemistry: bond inference, RDKit conversion, SDF input/output, valence tables."""
from moldiff.chem.bonds import table_bond_orders
from moldiff.chem.molecule import Mol3D, canonical_smiles, from_rdkit, infer_bonds, to_rdkit
from moldiff.chem.sdf import read_sdf, write_sdf

__all__ = [
    "Mol3D",
    "canonical_smiles",
    "from_rdkit",
    "infer_bonds",
    "read_sdf",
    "table_bond_orders",
    "to_rdkit",
    "write_sdf",
]
