"""Chemistry: bond inference, RDKit conversion, SDF input/output, valence and residue tables.

Submodules are imported on first use (``moldiff.chem.tables`` needs no RDKit; the rest does),
so code that only needs the tables runs where RDKit is not installed (a GPU training machine).
"""
from importlib import import_module

_EXPORTS = {
    "table_bond_orders": "moldiff.chem.bonds",
    "Mol3D": "moldiff.chem.molecule",
    "canonical_smiles": "moldiff.chem.molecule",
    "from_rdkit": "moldiff.chem.molecule",
    "infer_bonds": "moldiff.chem.molecule",
    "to_rdkit": "moldiff.chem.molecule",
    "read_sdf": "moldiff.chem.sdf",
    "write_sdf": "moldiff.chem.sdf",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'moldiff.chem' has no attribute {name!r}")
