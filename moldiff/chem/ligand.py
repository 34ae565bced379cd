"""Ligands from SDF, MOL2, PDB or SMILES as RDKit molecules (bond orders and charges kept).

:func:`read_ligand` is the one entry point for every command that takes a ligand; it
names the file (or SMILES) and the problem when RDKit cannot use the input.
"""
from __future__ import annotations

from pathlib import Path

from rdkit import Chem

from moldiff.chem.tables import AMINO_ACIDS
from moldiff.errors import InputError
from moldiff.paths import read_text

LIGAND_SUFFIXES = (".sdf", ".mol", ".sdf.gz", ".mol2", ".pdb")


def _hydrogens(mol: Chem.Mol, mode: str, where: str) -> Chem.Mol:
    if mode == "keep":
        return mol
    if mode == "remove":
        return Chem.RemoveAllHs(mol)  # also H that define stereo or sit on isotopes
    if mode == "add":
        return Chem.AddHs(mol, addCoords=mol.GetNumConformers() > 0)
    raise InputError(f"{where}: hydrogens must be keep, remove or add, got {mode!r}")


#: a "ligand" with more heavy atoms than this is refused (a protein or a complex passed by mistake)
MAX_LIGAND_HEAVY_ATOMS = 250
_AMINO_ACIDS = frozenset(AMINO_ACIDS)


def _check_not_a_protein(mol: Chem.Mol, where: str) -> None:
    """Refuse a protein (or a whole complex) read as a ligand: more than
    :data:`MAX_LIGAND_HEAVY_ATOMS` heavy atoms, or amino-acid residues from a PDB file."""
    heavy = sum(a.GetAtomicNum() > 1 for a in mol.GetAtoms())
    residues = set()
    for atom in mol.GetAtoms():
        info = atom.GetPDBResidueInfo()
        if info is not None and info.GetResidueName().strip() in _AMINO_ACIDS:
            residues.add((info.GetChainId(), info.GetResidueNumber(), info.GetInsertionCode()))
    if heavy > MAX_LIGAND_HEAVY_ATOMS or len(residues) >= 3:
        what = f"{len(residues)} amino-acid residues" if len(residues) >= 3 else f"{heavy} heavy atoms"
        raise InputError(f"{where}: this looks like a protein, not a ligand ({what}); pass proteins with "
                         f"--protein (ligands have at most {MAX_LIGAND_HEAVY_ATOMS} heavy atoms)")


def read_ligand(source: str | Path, *, hydrogens: str = "keep", all_records: bool = False):
    """Read a ligand (or all records of an SDF with ``all_records=True``).

    Args:
        source: a file (``.sdf``/``.mol``/``.sdf.gz``, ``.mol2``, ``.pdb``) or a SMILES string
            (no coordinates then).
        hydrogens: ``"keep"`` as in the input, ``"remove"`` or ``"add"`` (with coordinates
            when the input has a conformer).

    Returns:
        An RDKit ``Mol`` (sanitised), or a list of them with ``all_records``.

    Raises:
        InputError: missing file, unsupported format, unparsable molecule, empty file.
    """
    from moldiff.chem.sdf import _capture_errors, _summarise_rdkit_errors, read_sdf

    text = str(source)
    path = Path(text)
    is_file_like = path.suffix.lower() in (".sdf", ".mol", ".mol2", ".pdb", ".gz") or path.exists()
    if not is_file_like:
        from rdkit import rdBase

        with rdBase.BlockLogs():  # RDKit's multi-line parse report; the error below names the input
            mol = Chem.MolFromSmiles(text)
        if mol is None or mol.GetNumAtoms() == 0:
            raise InputError(f"{text!r}: not a file and not a SMILES RDKit can parse")
        mols = [mol]
    elif not path.is_file():
        raise InputError(f"{path}: no such ligand file")
    elif path.name.lower().endswith((".sdf", ".mol", ".sdf.gz")):
        records = read_sdf(path, sanitize=True)
        mols = [m for m in records.mols if m is not None]
        if not mols:
            detail = records.errors[0][1] if records.errors else "no records"
            raise InputError(f"{path}: no readable ligand ({detail})")
        if records.errors and not all_records:
            k, err = records.errors[0]
            if k == 1:
                raise InputError(f"{path}: record 1 is not a readable molecule ({err})")
    elif path.suffix.lower() in (".mol2", ".pdb"):
        mol2 = path.suffix.lower() == ".mol2"
        text = read_text(path, "ligand")
        with _capture_errors() as capture:  # RDKit's own report goes into the one-line message
            mol = (Chem.MolFromMol2Block(text, removeHs=False) if mol2 else
                   Chem.MolFromPDBBlock(text, removeHs=False))
        if mol is None:
            detail = _summarise_rdkit_errors(capture.messages)
            raise InputError(f"{path}: RDKit cannot read this {'MOL2' if mol2 else 'PDB'} ligand ({detail})")
        mols = [mol]
    else:
        raise InputError(f"{path}: unsupported ligand format (use one of {', '.join(LIGAND_SUFFIXES)} or SMILES)")
    for m in mols:
        if m.GetNumAtoms() == 0:
            raise InputError(f"{text}: empty molecule")
        _check_not_a_protein(m, text)
    mols = [_hydrogens(m, hydrogens, text) for m in mols]
    return mols if all_records else mols[0]


def check_elements(mol: Chem.Mol, allowed, where: str) -> None:
    """Raise :class:`InputError` naming ``where`` if ``mol`` has an element outside ``allowed``."""
    bad = sorted({a.GetSymbol() for a in mol.GetAtoms()} - set(allowed))
    if bad:
        raise InputError(f"{where}: unsupported element(s) {', '.join(bad)} (supported: {', '.join(allowed)})")
