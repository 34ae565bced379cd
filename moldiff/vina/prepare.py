"""Receptor and ligand preparation for AutoDock Vina: PDBQT text of a pocket (meeko's residue
templates, cofactors and ions typed by element) and of a ligand, poses back from PDBQT."""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from rdkit import Chem, rdBase

from moldiff.errors import InputError

#: AutoDock atom types of cofactor / ion heavy atoms by element (typed by element only:
#: enough for Vina's steric and hydrophobic terms; H-bond donors among them are not marked)
COFACTOR_TYPES = {"C": "C", "N": "N", "O": "OA", "S": "SA", "P": "P", "F": "F", "CL": "Cl", "BR": "Br", "I": "I",
                  "ZN": "Zn", "FE": "Fe", "MG": "Mg", "MN": "Mn", "CA": "Ca"}


def receptor_pdbqt(protein_file: str | Path, pocket_residues) -> str:
    """PDBQT text of the pocket: standard amino-acid residues with polar hydrogens (meeko's
    templates), plus the heavy atoms of cofactors and ions in the pocket typed by element
    (:data:`COFACTOR_TYPES`; meeko has no offline templates for them), so poses cannot
    be placed into a cofactor or metal site. Waters are left out."""
    from Bio.PDB import PDBIO, MMCIFParser, PDBParser, Select
    from Bio.PDB.Polypeptide import is_aa
    from meeko import MoleculePreparation, PDBQTWriterLegacy, Polymer, ResidueChemTemplates

    protein_file = Path(protein_file)
    parser = MMCIFParser(QUIET=True) if protein_file.suffix.lower() in (".cif", ".mmcif") else PDBParser(QUIET=True)
    structure = parser.get_structure("receptor", str(protein_file))
    wanted = set(pocket_residues)

    class PocketSelect(Select):
        def accept_model(self, model):
            return model.id == structure[0].id if hasattr(structure, "__getitem__") else True

        def accept_residue(self, residue):
            chain = residue.get_parent().id
            return is_aa(residue, standard=True) and (chain, residue.id[1], residue.id[2].strip()) in wanted

        def accept_atom(self, atom):
            return (not atom.is_disordered()) or atom.get_altloc() in ("A", " ")

    io = PDBIO()
    io.set_structure(structure)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pocket.pdb"
        io.save(str(path), PocketSelect())
        text = path.read_text()
    templates = ResidueChemTemplates.create_from_defaults()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # meeko logs every residue cut at the pocket's edge (expected: ignored)
    try:
        with rdBase.BlockLogs():
            polymer = Polymer.from_pdb_string(text, templates, MoleculePreparation(), allow_bad_res=True,
                                              default_altloc="A")
            rigid, _ = PDBQTWriterLegacy.write_from_polymer(polymer)
    finally:
        root.setLevel(level)
    if not rigid.strip():
        raise InputError(f"{protein_file}: no pocket residue could be prepared for Vina")
    return rigid + _cofactor_pdbqt(structure, wanted, is_aa)


def _cofactor_pdbqt(structure, wanted, is_aa) -> str:
    """ATOM records (PDBQT) of the non-amino-acid, non-water residues among ``wanted``."""
    lines = []
    for residue in next(iter(structure)).get_residues():
        chain = residue.get_parent().id
        key = (chain, residue.id[1], residue.id[2].strip())
        if key not in wanted or is_aa(residue, standard=True) or residue.get_resname() in ("HOH", "WAT", "DOD"):
            continue
        for atom in residue.get_atoms():
            if atom.is_disordered() and atom.get_altloc() not in ("A", " "):
                continue
            kind = COFACTOR_TYPES.get((atom.element or "").strip().upper())
            if kind is None:
                continue
            x, y, z = atom.coord
            lines.append(f"ATOM  {len(lines) + 1:5d} {atom.get_name()[:4]:<4} {residue.get_resname()[:3]:>3} "
                         f"{chain[:1]:1}{residue.id[1] % 10000:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00    "
                         f"+0.000 {kind:<2}")
    return "\n".join(lines) + ("\n" if lines else "")


def ligand_pdbqt(mol: Chem.Mol) -> str | None:
    """PDBQT of a ligand with 3D hydrogens (meeko); None if it cannot be prepared."""
    from meeko import MoleculePreparation, PDBQTWriterLegacy

    try:
        with rdBase.BlockLogs():
            setups = MoleculePreparation().prepare(Chem.AddHs(mol, addCoords=True))
            text, ok, _ = PDBQTWriterLegacy.write_string(setups[0])
    except Exception:  # noqa: BLE001 -- meeko raises many kinds for odd molecules; recorded as "not scored"
        return None
    return text if ok else None


def _pdbqt_types(text: str) -> set[str]:
    """Vina's X-Score atom types of a PDBQT ligand, which the grid maps are computed for
    (:func:`moldiff.vina.atom_types.xs_types`: the AutoDock type refined by bonded polar
    hydrogens and heteroatoms). Keyed on the AutoDock type alone, a ligand with a hydroxyl
    could be scored against maps made from ligands whose oxygens are all acceptors, and
    Vina aborts the process ("Affinity map for atom type O_DA is not present")."""
    from moldiff.vina.atom_types import pdbqt_atoms, xs_types

    return {t for t in xs_types(*pdbqt_atoms(text)) if t is not None}


def pdbqt_poses(text: str) -> list[Chem.Mol]:
    """Every pose of a meeko-written PDBQT (one per MODEL) as an RDKit molecule with
    hydrogens and bond orders (from meeko's SMILES remark)."""
    from meeko import PDBQTMolecule, RDKitMolCreate

    with rdBase.BlockLogs():
        mol = RDKitMolCreate.from_pdbqt_mol(PDBQTMolecule(text, skip_typing=True))[0]
    if mol is None:
        return []
    return [Chem.Mol(mol, confId=c.GetId()) for c in mol.GetConformers()]


def pocket_residues(pocket) -> list[tuple[str, int, str]]:
    """``(chain, resseq, icode)`` of every residue of a pocket :class:`~moldiff.data.protein.Protein`."""
    return sorted({(c, int(r), i.strip()) for c, r, i in zip(pocket.chain, pocket.residue_number,
                                                             pocket.insertion_code)})
