"""Small molecule builders for tests (real RDKit geometries, seeded)."""
from __future__ import annotations

from rdkit import Chem
from rdkit.Chem import AllChem

from moldiff.chem.molecule import Mol3D, from_rdkit


def embed(smiles: str, seed: int = 0) -> Chem.Mol:
    """SMILES -> RDKit molecule with explicit hydrogens and an MMFF-relaxed conformer."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    assert AllChem.EmbedMolecule(mol, params) == 0, smiles
    AllChem.MMFFOptimizeMolecule(mol)
    return mol


def mol3d(smiles: str, seed: int = 0, *, with_bonds: bool = False) -> Mol3D:
    return from_rdkit(embed(smiles, seed), with_bonds=with_bonds)
