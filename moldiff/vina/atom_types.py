"""AutoDock Vina's atom typing: AutoDock types from PDBQT text, refined to X-Score types as
Vina does (:func:`xs_types`), and the same typing for a protein read by
:mod:`moldiff.data.protein` (:func:`protein_xs_types`) or for bare heavy atoms of a generated
ligand (:func:`heavy_atom_xs_types`).
"""
from __future__ import annotations

import numpy as np
import torch

from moldiff.chem.covalent import bonded_pairs
from moldiff.chem.tables import METALS, RESIDUE_ALIASES

#: X-Score types: vdW radius (Å), hydrophobic, donor, acceptor
XS = {
    "C_H": (1.9, True, False, False), "C_P": (1.9, False, False, False),
    "N_P": (1.8, False, False, False), "N_D": (1.8, False, True, False),
    "N_A": (1.8, False, False, True), "N_DA": (1.8, False, True, True),
    "O_P": (1.7, False, False, False), "O_D": (1.7, False, True, False),
    "O_A": (1.7, False, False, True), "O_DA": (1.7, False, True, True),
    "S_P": (2.0, False, False, False), "P_P": (2.1, False, False, False),
    "F_H": (1.5, True, False, False), "Cl_H": (1.8, True, False, False),
    "Br_H": (2.0, True, False, False), "I_H": (2.2, True, False, False),
    "Met_D": (1.2, False, True, False),
}
#: AutoDock types that make a bonded carbon polar (Vina's heteroatoms: any heavy non-carbon)
_CARBON = ("C", "A")
_METALS = METALS  # AutoDock types of metals are their element symbols
#: Vina's bond rule (:func:`moldiff.chem.covalent.bonded_pairs`): covalent radii + 10 %
VINA_BOND_SCALE = 1.1
#: covalent radii (Å) by AutoDock type, Vina's own table (its typing is reproduced, so its radii)
_COVALENT = {"C": 0.77, "A": 0.77, "N": 0.75, "NA": 0.75, "NS": 0.75, "O": 0.73, "OA": 0.73, "OS": 0.73,
             "S": 1.02, "SA": 1.02, "P": 1.06, "F": 0.71, "Cl": 0.99, "CL": 0.99, "Br": 1.14, "BR": 1.14,
             "I": 1.33, "H": 0.37, "HD": 0.37, "HS": 0.37}
_SIMPLE = {"SA": "S_P", "S": "S_P", "P": "P_P", "F": "F_H", "Cl": "Cl_H", "CL": "Cl_H", "Br": "Br_H",
           "BR": "Br_H", "I": "I_H"}


def pdbqt_atoms(text: str) -> tuple[np.ndarray, list[str]]:
    """Coordinates (n, 3) and AutoDock types of the ATOM/HETATM records of a PDBQT text."""
    lines = [line for line in text.splitlines() if line.startswith(("ATOM", "HETATM"))]
    pos = np.array([[float(line[30:38]), float(line[38:46]), float(line[46:54])] for line in lines]).reshape(-1, 3)
    return pos, [line.split()[-1] for line in lines]


def xs_types(pos: np.ndarray, ad_types: list[str]) -> list[str | None]:
    """X-Score type of every atom (None for hydrogens), as Vina derives it from AutoDock
    types: N/O bonded to a polar hydrogen (HD) are donors, NA/OA acceptors, a carbon bonded
    to any heavy non-carbon is polar (C_P) else hydrophobic (C_H), metals are donors
    (Met_D). Bonds: distance below 1.1 x the sum of covalent radii."""
    radius = np.array([_COVALENT.get(k, 1.3) for k in ad_types])
    bonded = bonded_pairs(pos, radius, VINA_BOND_SCALE)
    polar_h = np.array([k == "HD" for k in ad_types])
    hetero = np.array([k not in _CARBON and k[0] != "H" and k not in _METALS for k in ad_types])
    out = []
    for i, kind in enumerate(ad_types):
        if kind in ("H", "HD", "HS"):
            out.append(None)
        elif kind in _CARBON:
            out.append("C_P" if (hetero & bonded[i]).any() else "C_H")
        elif kind in ("N", "NA", "NS", "OA", "OS", "O"):
            donor = bool((polar_h & bonded[i]).any())
            acceptor = kind in ("NA", "OA", "OS", "O")
            out.append(kind[0] + "_" + ({(True, True): "DA", (True, False): "D", (False, True): "A"}
                                         .get((donor, acceptor), "P")))
        elif kind in _METALS:
            out.append("Met_D")
        else:
            out.append(_SIMPLE.get(kind, "C_P"))
    return out


#: protein side-chain N/O X-Score types by (residue, atom name) with Vina's usual protonation
#: (meeko's templates: HIS as HIE, LYS/ARG charged, ASP/GLU deprotonated); backbone N is a
#: donor (PRO's is not), backbone O/OXT acceptors
_PROTEIN_POLAR = {
    ("SER", "OG"): "O_DA", ("THR", "OG1"): "O_DA", ("TYR", "OH"): "O_DA",
    ("ASN", "OD1"): "O_A", ("ASN", "ND2"): "N_D", ("GLN", "OE1"): "O_A", ("GLN", "NE2"): "N_D",
    ("ASP", "OD1"): "O_A", ("ASP", "OD2"): "O_A", ("GLU", "OE1"): "O_A", ("GLU", "OE2"): "O_A",
    ("LYS", "NZ"): "N_D", ("ARG", "NE"): "N_D", ("ARG", "NH1"): "N_D", ("ARG", "NH2"): "N_D",
    ("HIS", "ND1"): "N_A", ("HIS", "NE2"): "N_D", ("TRP", "NE1"): "N_D",
}
_ELEMENT_XS = {"S": "S_P", "Se": "S_P", "P": "P_P", "F": "F_H", "Cl": "Cl_H", "Br": "Br_H", "I": "I_H"}
_HETERO_ELEMENTS = ("N", "O", "S", "P", "F", "Cl", "Br", "I", "Se")


def _bonded(pos: np.ndarray, elements) -> np.ndarray:
    """(N, N) bool: heavy-atom bonds from covalent radii + 10 % (as :func:`xs_types`)."""
    radius = np.array([_COVALENT.get(e, _COVALENT.get(e.upper(), 1.3)) for e in elements])
    return bonded_pairs(pos, radius, VINA_BOND_SCALE)


def protein_xs_types(protein) -> list[str]:
    """X-Score type of every heavy atom of a :class:`~moldiff.data.protein.Protein` without
    hydrogens, from residue templates (:data:`_PROTEIN_POLAR`; the typing Vina gives a
    receptor prepared with polar hydrogens), carbons polar when bonded to a heteroatom, metals
    donors; other N/O (cofactors) as the receptor preparation of
    :func:`moldiff.vina.prepare.receptor_pdbqt` types them: O acceptor, N plain. On the first 5
    posebusters_dev pockets 2,859 of 2,863 heavy atoms get the type Vina gives the prepared
    receptor (the rest: histidine tautomers; ``benchmarks/pocket_typing.py``)."""

    pos, elements = np.asarray(protein.pos, dtype=float), list(protein.element)
    bonded = _bonded(pos, elements)
    hetero = np.array([e in _HETERO_ELEMENTS for e in elements])
    out = []
    for i, (e, name, res) in enumerate(zip(elements, protein.atom_name, protein.residue_name)):
        res = RESIDUE_ALIASES.get(res, res)
        if e == "C":
            out.append("C_P" if (hetero & bonded[i]).any() else "C_H")
        elif e in ("N", "O"):
            if name == "N":
                out.append("N_P" if res == "PRO" else "N_D")
            elif name in ("O", "OXT"):
                out.append("O_A")
            else:
                out.append(_PROTEIN_POLAR.get((res, name), "O_A" if e == "O" else "N_P"))
        elif e in METALS:
            out.append("Met_D")
        else:
            out.append(_ELEMENT_XS.get(e, "C_P"))
    return out


def heavy_atom_xs_types(pos: np.ndarray, elements) -> list[str]:
    """X-Score types of a ligand known only by heavy atoms and positions (a structure being
    generated): carbons polar when bonded to a heteroatom; N with at most two heavy neighbours
    donor-acceptor (it may carry a hydrogen or a lone pair), with three or more plain; O with
    one heavy neighbour donor-acceptor (hydroxyl or carbonyl), with two acceptor."""
    pos = np.asarray(pos, dtype=float)
    bonded = _bonded(pos, list(elements))
    hetero = np.array([e in _HETERO_ELEMENTS for e in elements])
    degree = bonded.sum(1)
    out = []
    for i, e in enumerate(elements):
        if e == "C":
            out.append("C_P" if (hetero & bonded[i]).any() else "C_H")
        elif e == "N":
            out.append("N_DA" if degree[i] <= 2 else "N_P")
        elif e == "O":
            out.append("O_DA" if degree[i] <= 1 else "O_A")
        else:
            out.append(_ELEMENT_XS.get(e, "C_P"))
    return out


def type_arrays(types: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-atom vdW radius (float64) and hydrophobic, donor, acceptor flags (bool) of X-Score types."""
    rows = [XS[t] for t in types]
    as_t = [torch.tensor([r[k] for r in rows], dtype=torch.float64 if k == 0 else torch.bool) for k in range(4)]
    return tuple(as_t)
