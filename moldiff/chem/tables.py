"""Reference tables of the EDM/QM9 evaluation protocol.

Typical covalent bond lengths (pm) for single, double and triple bonds, the margins
(10/5/3 pm) tuned so that the QM9 ground-truth geometries score as stable as
possible, and the valence tables used for atom/molecule stability.

Sources: the bond lengths are the standard textbook values (wiredchemist.com bond
energies/lengths table; chemistry-reference.com) as used by G-SchNet, EDM
(Hoogeboom et al., ICML 2022) and their successors; the charge-aware valence table
follows MiDi (Vignac et al., 2023).
"""
from __future__ import annotations

# --- bond lengths (pm), unordered element pairs -------------------------------------
SINGLE_BOND_PM: dict[tuple[str, str], float] = {}
DOUBLE_BOND_PM: dict[tuple[str, str], float] = {}
TRIPLE_BOND_PM: dict[tuple[str, str], float] = {}

_SINGLE = """
H H 74 | H C 109 | H N 101 | H O 96 | H F 92 | H B 119 | H Si 148 | H P 144 | H As 152
H S 134 | H Cl 127 | H Br 141 | H I 161
C C 154 | C N 147 | C O 143 | C F 135 | C Si 185 | C P 184 | C S 182 | C Cl 177
C Br 194 | C I 214
N N 145 | N O 140 | N F 136 | N Cl 175 | N Br 214 | N S 168 | N I 222 | N P 177
O O 148 | O F 142 | O Br 172 | O S 151 | O P 163 | O Si 163 | O Cl 164 | O I 194
F F 142 | F S 158 | F Si 160 | F Cl 166 | F Br 178 | F P 156 | F I 187
B Cl 175
Si Si 233 | Si S 200 | Si Cl 202 | Si Br 215 | Si I 243
Cl Cl 199 | Cl P 203 | Cl S 207 | Cl Br 214
S S 204 | S Br 225 | S P 210 | S I 234
Br Br 228 | Br P 222
P P 221
I I 266
"""
_DOUBLE = "C C 134 | C N 129 | C O 120 | C S 160 | N N 125 | N O 121 | O O 121 | O P 150 | P S 186"
_TRIPLE = "C C 120 | C N 116 | C O 113 | N N 110"


def _parse(text: str, table: dict[tuple[str, str], float]) -> None:
    for item in text.replace("\n", "|").split("|"):
        if item.strip():
            a, b, length = item.split()
            table[(a, b)] = table[(b, a)] = float(length)


_parse(_SINGLE, SINGLE_BOND_PM)
_parse(_DOUBLE, DOUBLE_BOND_PM)
_parse(_TRIPLE, TRIPLE_BOND_PM)

#: Margins (pm) added to the single/double/triple reference lengths (EDM protocol).
BOND_MARGINS_PM: tuple[float, float, float] = (10.0, 5.0, 3.0)

#: Elements for which the protocol can infer bonds from coordinates.
SUPPORTED_ELEMENTS: tuple[str, ...] = (
    "H", "B", "C", "N", "O", "F", "Al", "Si", "P", "S", "Cl", "As", "Br", "I", "Hg", "Bi",
)

# --- valence tables -----------------------------------------------------------------
#: EDM's table: allowed total bond order per element (charges ignored).
EDM_VALENCES: dict[str, tuple[int, ...]] = {
    "H": (1,), "C": (4,), "N": (3,), "O": (2,), "F": (1,), "B": (3,), "Al": (3,),
    "Si": (4,), "P": (3, 5), "S": (4,), "Cl": (1,), "As": (3,), "Br": (1,), "I": (1,),
    "Hg": (1, 2), "Bi": (3, 5),
}

#: Charge-aware table in the style of MiDi: (element, formal charge) -> allowed valences.
CHARGED_VALENCES: dict[tuple[str, int], tuple[int, ...]] = {
    ("H", 0): (1,), ("H", 1): (0,), ("H", -1): (0,),
    ("C", 0): (4,), ("C", 1): (3,), ("C", -1): (3,),
    ("N", 0): (3,), ("N", 1): (4,), ("N", -1): (2,),
    ("O", 0): (2,), ("O", 1): (3,), ("O", -1): (1,),
    ("F", 0): (1,), ("F", -1): (0,),
    ("B", 0): (3,), ("B", -1): (4,),
    ("Al", 0): (3,), ("Si", 0): (4,),
    ("P", 0): (3, 5), ("P", 1): (4,),
    ("S", 0): (2, 4, 6), ("S", 1): (3,), ("S", -1): (1,),
    ("Cl", 0): (1,), ("Br", 0): (1,), ("I", 0): (1,), ("As", 0): (3,),
    ("Hg", 0): (1, 2), ("Bi", 0): (3, 5),
}


# --- residues and pocket atoms (the one copy: data, chemistry, docking and Vina typing read these)
#: the 20 standard amino acids (PDB residue names)
AMINO_ACIDS = ("ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE",
               "LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL")
#: protonation-state and modified-residue names read as their standard amino acid
RESIDUE_ALIASES = {"HID": "HIS", "HIE": "HIS", "HIP": "HIS", "HSD": "HIS", "HSE": "HIS", "HSP": "HIS",
                   "CYX": "CYS", "CYM": "CYS", "ASH": "ASP", "GLH": "GLU", "LYN": "LYS", "MSE": "MET"}
#: metal elements (capitalised symbols): pocket atoms of class ``metal``, Vina's metal donors
METALS = frozenset({"Li", "Na", "K", "Mg", "Ca", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Cd", "Hg", "Sr", "Ba",
                    "Cs", "Rb", "Pt", "Au", "Ag", "Mo", "W", "V", "Cr", "Al", "Ga", "Pb", "Sn"})
#: pocket atom vocabulary; anything else is "metal" or "other", never dropped
POCKET_ELEMENTS = ("C", "N", "O", "S", "H", "P", "Se", "metal", "other")
