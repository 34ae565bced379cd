"""Protein structures (PDB / mmCIF via Biopython) and binding pockets.

A :class:`Protein` is a flat set of atom arrays (one entry per atom, first model only):
coordinates, element, atom and residue names, chain / residue number / insertion code,
backbone and hetero flags. Waters are dropped; of alternate locations Biopython keeps
the one with the highest occupancy; hydrogens are kept only when asked. Odd files are
tolerated: a missing element column (the element is guessed from the atom name), charges
in the element column (``N1+``), insertion codes, HETATM cofactors and ions.

Pockets (:func:`select_pocket`) are whole residues with any atom within ``radius`` Å of
a reference ligand or of a centre, or inside a box.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from moldiff.chem.tables import AMINO_ACIDS, METALS, POCKET_ELEMENTS, RESIDUE_ALIASES  # noqa: F401 -- re-exported
from moldiff.errors import InputError

WATERS = frozenset({"HOH", "WAT", "H2O", "DOD", "D2O", "TIP", "TIP3", "SOL"})
BACKBONE_ATOMS = frozenset({"N", "CA", "C", "O", "OXT"})
#: residue names of nucleic acids (RNA and DNA targets have no amino acids)
NUCLEOTIDES = frozenset({"A", "C", "G", "U", "I", "DA", "DC", "DG", "DT", "DI"})
_DUPLICATE = re.compile(r"defined twice|duplicate residue", re.IGNORECASE)
_TWICE = re.compile(r"Atom (\S+) defined twice in residue <Residue (\S+)")


def _is_hydrogen_twice(message: str) -> bool:
    """Biopython's "Atom H1 defined twice in residue <Residue LEU ...>" for a hydrogen (by PDB
    naming: H or D after any leading digits, in a residue that is not itself the element)."""
    match = _TWICE.search(message)
    if not match:
        return False
    name, residue = match.group(1), match.group(2)
    return name.lstrip("0123456789")[:1] in ("H", "D") and residue.upper() not in ("HG", "HO", "HF", "HS")
#: common alternative residue names -> the standard one


@dataclass
class Protein:
    """Atoms of a protein structure (all arrays have one entry per atom).

    Attributes:
        pos: (N, 3) float64 coordinates, Å.
        element: (N,) element symbols, capitalised (``"C"``, ``"Zn"``).
        atom_name: (N,) PDB atom names (``"CA"``).
        residue_name: (N,) residue names as in the file (``"LYS"``, ``"HEM"``).
        chain: (N,) chain ids. residue_number: (N,) int. insertion_code: (N,) str (``""`` if none).
        backbone: (N,) bool, backbone atom of a standard amino acid.
        hetero: (N,) bool, HETATM record (cofactors, ions, modified residues).
        path: the file read (for messages).
    """

    pos: np.ndarray
    element: np.ndarray
    atom_name: np.ndarray
    residue_name: np.ndarray
    chain: np.ndarray
    residue_number: np.ndarray
    insertion_code: np.ndarray
    backbone: np.ndarray
    hetero: np.ndarray
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.pos)

    def subset(self, mask: np.ndarray) -> Protein:
        """The atoms where ``mask`` (bool (N,) or indices) selects."""
        arrays = {f.name: getattr(self, f.name)[mask] for f in fields(self) if f.name != "path"}
        return Protein(**arrays, path=self.path)

    def residue_index(self) -> np.ndarray:
        """(N,) int: a dense index of each atom's residue (chain, number, insertion code)."""
        keys = np.char.add(np.char.add(self.chain.astype(str), "|"),
                           np.char.add(self.residue_number.astype(str), self.insertion_code.astype(str)))
        _, inverse = np.unique(keys, return_inverse=True)
        return inverse.reshape(-1)

    def residue_type(self) -> np.ndarray:
        """(N,) int: index into :data:`AMINO_ACIDS`, ``len(AMINO_ACIDS)`` for anything else."""
        lookup = {name: k for k, name in enumerate(AMINO_ACIDS)}
        names = [RESIDUE_ALIASES.get(r, r) for r in self.residue_name]
        return np.array([lookup.get(r, len(AMINO_ACIDS)) for r in names], dtype=np.int64)


def _guess_element(atom_name: str, residue_name: str) -> str:
    """Element from the atom name when the file gives none (Biopython marks those ``X``)."""
    letters = "".join(c for c in atom_name if c.isalpha())
    if len(letters) == 2 and letters == residue_name:  # ions: ZN in residue ZN, CL in CL
        return letters.capitalize()
    return letters[:1].upper()


def read_protein(path: str | Path, *, hydrogens: bool = False, waters: bool = False) -> Protein:
    """Read the first model of a PDB (``.pdb``, ``.ent``) or mmCIF (``.cif``) file.

    Args:
        hydrogens: keep hydrogen (and deuterium) atoms.
        waters: keep water molecules.

    Raises:
        InputError: missing file, unreadable structure, or no atoms left.
    """
    from Bio.PDB import MMCIFParser, PDBParser

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such protein file")
    suffix = path.suffix.lower()
    # QUIET=False: Biopython's warnings are recorded below (never printed), and QUIET would drop them
    parser = MMCIFParser(QUIET=False) if suffix in (".cif", ".mmcif") else PDBParser(QUIET=False)
    kind = "mmCIF" if suffix in (".cif", ".mmcif") else "PDB"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            structure = parser.get_structure(path.stem, str(path))
    except Exception as exc:  # Biopython raises assorted errors on malformed files
        raise InputError(f"{path}: not a readable {kind} file "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
    # Biopython drops atoms whose residue id (chain, number, insertion code) repeats an earlier
    # residue of another name, or whose name repeats in a residue, and only warns: a structure
    # missing atoms would be silently wrong downstream (hydrogens that are dropped anyway aside)
    dropped = [str(w.message) for w in caught if _DUPLICATE.search(str(w.message))
               and (hydrogens or not _is_hydrogen_twice(str(w.message)))]
    if dropped:
        first = re.sub(r"^(WARNING|PDBConstructionException): ", "", dropped[0]).strip()
        raise InputError(f"{path}: duplicate residue or atom ids, atoms would be lost ({first}; "
                         f"{len(dropped)} such record(s)); give each residue its own number or insertion code")
    models = list(structure.get_models())
    if not models:
        raise InputError(f"{path}: no atoms (no MODEL/ATOM/HETATM records)")
    cols: dict[str, list] = {k: [] for k in ("pos", "element", "atom_name", "residue_name", "chain",
                                             "residue_number", "insertion_code", "backbone", "hetero")}
    for chain in models[0]:
        for residue in chain:
            het, number, icode = residue.get_id()
            name = residue.get_resname().strip()
            if name in WATERS and not waters:
                continue
            standard = RESIDUE_ALIASES.get(name, name) in AMINO_ACIDS
            for atom in residue:  # disordered atoms: Biopython yields the selected (highest occupancy) altloc
                element = (atom.element or "").strip().capitalize()
                if not element or element == "X" or not element.isalpha():
                    element = _guess_element(atom.get_id(), name)
                if element in ("H", "D") and not hydrogens:
                    continue
                cols["pos"].append(atom.get_coord())
                cols["element"].append(element if element != "D" else "H")
                cols["atom_name"].append(atom.get_id())
                cols["residue_name"].append(name)
                cols["chain"].append(chain.get_id())
                cols["residue_number"].append(number)
                cols["insertion_code"].append(icode.strip())
                cols["backbone"].append(standard and atom.get_id() in BACKBONE_ATOMS)
                cols["hetero"].append(het.startswith("H_"))
    if not cols["pos"]:
        raise InputError(f"{path}: no protein atoms (after removing waters{'' if hydrogens else ' and hydrogens'})")
    names = set(cols["residue_name"])
    if not any(RESIDUE_ALIASES.get(r, r) in AMINO_ACIDS or r in NUCLEOTIDES for r in names):
        shown = ", ".join(sorted(names)[:5]) + (" ..." if len(names) > 5 else "")
        raise InputError(f"{path}: no protein residues (no amino acid or nucleotide; residues: {shown}); "
                         "is this a ligand file?")
    return Protein(
        pos=np.asarray(cols["pos"], dtype=np.float64),
        element=np.array(cols["element"], dtype=object),
        atom_name=np.array(cols["atom_name"], dtype=object),
        residue_name=np.array(cols["residue_name"], dtype=object),
        chain=np.array(cols["chain"], dtype=object),
        residue_number=np.asarray(cols["residue_number"], dtype=np.int64),
        insertion_code=np.array(cols["insertion_code"], dtype=object),
        backbone=np.asarray(cols["backbone"], dtype=bool),
        hetero=np.asarray(cols["hetero"], dtype=bool),
        path=path,
    )


def select_pocket(protein: Protein, *, ligand_pos: np.ndarray | None = None, center=None, box=None,
                  radius: float = 10.0) -> Protein:
    """Whole residues of ``protein`` that make up a binding site.

    Exactly one of:
        ligand_pos: (M, 3) Å, a reference ligand: residues with any atom within ``radius``
            of any ligand atom.
        center: (3,) Å: residues with any atom within ``radius`` of the point.
        box: ``(center (3,), size (3,))`` Å: residues with any atom inside the box.

    Raises:
        InputError: no or several site definitions, a non-positive radius, or an empty
            pocket (the site is away from the protein), naming the protein file.
    """
    where = protein.path or "protein"
    given = [x is not None for x in (ligand_pos, center, box)]
    if sum(given) != 1:
        raise InputError("define the pocket by exactly one of a reference ligand, a centre or a box")
    if radius <= 0:
        raise InputError(f"pocket radius must be positive, got {radius}")
    if box is not None:
        c, size = (np.asarray(v, dtype=np.float64).reshape(3) for v in box)
        if (size <= 0).any():
            raise InputError(f"box size must be positive, got {size.tolist()}")
        near = (np.abs(protein.pos - c) <= size / 2).all(axis=1)
        site = f"the box at {np.round(c, 2).tolist()} of size {np.round(size, 2).tolist()}"
    else:
        ref = np.asarray(ligand_pos if ligand_pos is not None else center, dtype=np.float64).reshape(-1, 3)
        if not np.isfinite(ref).all():
            raise InputError("pocket site coordinates must be finite")
        near = np.zeros(len(protein), dtype=bool)
        for chunk in np.array_split(ref, max(1, len(ref) // 64)):  # bounded memory for big ligands
            d2 = ((protein.pos[:, None, :] - chunk[None, :, :]) ** 2).sum(-1)
            near |= (d2 <= radius**2).any(axis=1)
        site = (f"the reference ligand ({len(ref)} atoms)" if ligand_pos is not None
                else f"the centre {np.round(ref[0], 2).tolist()}")
        site = f"{radius:g} Å of {site}"
    if not near.any():
        target = c[None] if box is not None else ref
        nearest = min(np.sqrt(((protein.pos - x) ** 2).sum(-1)).min() for x in target)
        raise InputError(f"{where}: no protein atoms within {site} (nearest atom {nearest:.1f} Å away); "
                         "is the site in this protein's frame?")
    residues = protein.residue_index()
    return protein.subset(np.isin(residues, np.unique(residues[near])))


def binding_site(protein, *, reference=None, center=None, box=None, radius: float = 10.0):
    """Read ``protein`` (path or :class:`Protein`) and cut the site given by exactly one of
    ``reference`` (a ligand file or RDKit molecule with 3D coordinates: only its coordinates
    are used), ``center`` or ``box`` (:func:`select_pocket`).

    Returns ``(protein, pocket, reference heavy-atom positions or None)``.
    """
    from moldiff.chem.ligand import read_ligand

    prot = protein if isinstance(protein, Protein) else read_protein(protein)
    ligand_pos = None
    if reference is not None:
        ref = reference if hasattr(reference, "GetConformer") else read_ligand(reference, hydrogens="remove")
        if ref.GetNumConformers() == 0:
            raise InputError(f"{reference}: the reference ligand has no 3D coordinates (a SMILES cannot define a site)")
        ligand_pos = ref.GetConformer().GetPositions()
    pocket = select_pocket(prot, ligand_pos=ligand_pos, center=center, box=box, radius=radius)
    return prot, pocket, ligand_pos




def pocket_element_index(elements) -> np.ndarray:
    """(N,) int index into :data:`POCKET_ELEMENTS` (metals -> ``metal``, others -> ``other``)."""
    lookup = {e: k for k, e in enumerate(POCKET_ELEMENTS[:-2])}
    metal, other = len(POCKET_ELEMENTS) - 2, len(POCKET_ELEMENTS) - 1
    return np.array([lookup.get(e, metal if e in METALS else other) for e in elements], dtype=np.int64)


def pocket_graph(pocket: Protein):
    """A PyG ``Data`` of pocket atoms: ``pos`` (N, 3) float32 Å, ``atom_type`` (index into
    :data:`POCKET_ELEMENTS`), ``residue_type`` (index into :data:`AMINO_ACIDS`, 20 = other),
    ``backbone`` (bool) and ``residue`` (dense residue index)."""
    import torch
    from torch_geometric.data import Data

    return Data(
        pos=torch.as_tensor(pocket.pos, dtype=torch.float32),
        atom_type=torch.as_tensor(pocket_element_index(pocket.element)),
        residue_type=torch.as_tensor(pocket.residue_type()),
        backbone=torch.as_tensor(pocket.backbone),
        residue=torch.as_tensor(pocket.residue_index()),
    )
