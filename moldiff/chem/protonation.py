"""Charge states for a pH from a short table of ionisable groups (the ones that decide most
drug-like molecules' charge in water): carboxylic, sulfonic and phosphonic acids, tetrazoles
and acyl sulfonamides lose a proton below their pKa; aliphatic amines, amidines and
guanidines gain one above it. Everything else (phenols, anilines, amides, sulfonamides,
pyridines, imidazoles, ...) is left as given.

Approximate pKa values (textbook, e.g. Williams' pKa tables; Manallack, Perspect. Med. Chem.
2007 for their frequency in drugs). Neighbouring sites are not independent: only one amine of a
pair up to three bonds apart is protonated (piperazine's second pKa is ~5.6), and only one
acidic OH per phosphorus. The result is one most-probable state, not an enumeration.

    >>> protonate(Chem.MolFromSmiles("NCC(=O)O"), 7.4)   # glycine -> [NH3+]CC(=O)[O-]
"""
from __future__ import annotations

from rdkit import Chem

#: an amidine/guanidine N without an electron-withdrawing substituent
_PLAIN = "!$(N[!#6;!#1]);!$(N-C=[O,S]);!$(N-C#N)"
#: (name, SMARTS with the ionisable atom first, pKa, "acid" | "base")
GROUPS: tuple[tuple[str, str, float, str], ...] = (
    ("sulfonic acid", "[OX2H1]S(=O)(=O)", -1.0, "acid"),
    ("phosphonic/phosphoric acid", "[OX2H1]P(=O)", 2.0, "acid"),
    ("carboxylic acid", "[OX2H1][CX3]=O", 4.5, "acid"),
    ("acyl sulfonamide", "[NX3H1](C=O)S(=O)=O", 4.5, "acid"),
    ("tetrazole", "[nH]1nnnc1", 4.9, "acid"),
    ("tetrazole", "[nH]1nncn1", 4.9, "acid"),
    # acyl-, cyano-, sulfonyl- and aryl-substituted ones are not basic enough
    ("guanidine", f"[NX2;{_PLAIN};!$(N-a)]=[CX3]([NX3;{_PLAIN}])[NX3;{_PLAIN}]", 13.0, "base"),
    ("amidine", f"[NX2;{_PLAIN};!$(N-a)]=[CX3;!$(C-[O,S])]([#6,#1])[NX3;{_PLAIN}]", 12.0, "base"),
    # an amine N whose every neighbour is an sp3 carbon (not aniline, amide, sulfonamide, N-N, N-O)
    ("aliphatic amine", "[NX3;H0,H1,H2;+0;!$(N~[!#6;!#1]);!$(N-[#6;!X4])]", 10.0, "base"),
)
_PATTERNS = [(name, Chem.MolFromSmarts(smarts), pka, kind) for name, smarts, pka, kind in GROUPS]
#: bonds within which a second amine is not protonated after a first
AMINE_EXCLUSION_BONDS = 3


def ionisable_sites(mol: Chem.Mol, ph: float) -> list[tuple[int, int, str]]:
    """``(atom index, charge change, group name)`` of the sites that change charge at ``ph``
    (``mol`` without explicit hydrogens), in the order they are applied."""
    sites, taken = [], set()
    phosphorus = set()
    distance = Chem.GetDistanceMatrix(mol)
    amines: list[int] = []
    for name, pattern, pka, kind in _PATTERNS:
        change = -1 if kind == "acid" else 1
        if (kind == "acid" and not pka < ph) or (kind == "base" and not pka > ph):
            continue
        for match in mol.GetSubstructMatches(pattern):
            atom = match[0]
            if atom in taken or mol.GetAtomWithIdx(atom).GetFormalCharge() != 0:
                continue
            if name.startswith("phosphon"):
                if match[1] in phosphorus:
                    continue
                phosphorus.add(match[1])
            if kind == "base":
                if any(distance[atom, other] <= AMINE_EXCLUSION_BONDS for other in amines):
                    continue
                amines.append(atom)
            taken.add(atom)
            sites.append((atom, change, name))
    return sites


def protonate(mol: Chem.Mol, ph: float = 7.4) -> Chem.Mol:
    """A copy of ``mol`` in its most probable charge state at ``ph`` (see the module
    docstring); explicit hydrogens are removed first and not added back."""
    out = Chem.RWMol(Chem.RemoveHs(mol))
    for atom_index, change, _ in ionisable_sites(out, ph):
        atom = out.GetAtomWithIdx(atom_index)
        hydrogens = atom.GetTotalNumHs()
        atom.SetFormalCharge(atom.GetFormalCharge() + change)
        atom.SetNoImplicit(True)
        atom.SetNumExplicitHs(hydrogens + change)
    out = out.GetMol()
    Chem.SanitizeMol(out)
    return out
