"""Heavy-atom 3D structures -> RDKit molecules with bond orders, charges and hydrogens.

Pocket models generate heavy atoms only (as DiffSBDD and TargetDiff do). Turning their
output into a molecule a chemist can use takes three steps, each from the geometry:

1. **connectivity**: a pair is bonded when its distance is below ``scale`` times the sum
   of the covalent radii; an atom with more neighbours than its element allows keeps
   the shortest bonds, except that a ring bond is given up rather than the only link of
   a fragment;
2. **bond orders**: a bond is a double-bond candidate when it is shorter than the midpoint
   of the element pair's single and double lengths (:mod:`moldiff.chem.tables`) and both
   atoms have valence left; a maximum-cardinality matching over the candidates (shortest
   bonds preferred) picks the double bonds, so aromatic rings come out Kekulé-alternating
   and no atom gets two. Triple bonds: shorter than the double/triple midpoint, both ends
   linear or terminal;
3. **charges and hydrogens**: tetravalent N / trivalent O become +1; the remaining
   valence is filled with hydrogens placed by RDKit (``AddHs(addCoords=True)``), and
   stereochemistry is read from the 3D coordinates.

The result is sanitised; when the assignment cannot be sanitised the molecule falls back
to single bonds, and ``None`` means even that failed (an atom over its valence). What
this does *not* judge is whether the geometry is good: score it with the PoseBusters
checks or the bond-length/angle distributions.
"""
from __future__ import annotations

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Geometry import Point3D

from moldiff.chem.covalent import bonded_pairs, covalent_radii
from moldiff.chem.molecule import Mol3D
from moldiff.chem.tables import DOUBLE_BOND_PM, SINGLE_BOND_PM, TRIPLE_BOND_PM

#: neutral valence used to decide whether an atom has room for a double bond
VALENCE = {"C": 4, "N": 3, "O": 2, "S": 2, "P": 3, "B": 3, "F": 1, "Cl": 1, "Br": 1, "I": 1, "H": 1}
#: most neighbours an atom may have (hypervalent S/P allowed)
MAX_DEGREE = {"C": 4, "N": 4, "O": 2, "S": 6, "P": 5, "B": 4, "F": 1, "Cl": 1, "Br": 1, "I": 1, "H": 1}


def _length(table: dict, a: str, b: str) -> float | None:
    value = table.get((a, b), table.get((b, a)))
    return None if value is None else value / 100.0


def connectivity(symbols, pos: np.ndarray, scale: float = 1.15) -> list[tuple[int, int]]:
    """Bonded pairs ``(i, j)``, i < j, from covalent radii, with each atom's degree capped."""
    pos = np.asarray(pos, dtype=np.float64)
    radii = covalent_radii(symbols)
    dist = np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1))
    close = bonded_pairs(pos, radii, scale)
    i, j = np.nonzero(np.triu(close))
    order = np.argsort(dist[i, j] / (radii[i] + radii[j]))  # most convincing bonds first
    cap = [MAX_DEGREE.get(s, 4) for s in symbols]
    nb: list[set[int]] = [set() for _ in symbols]
    dropped = []
    for k in order:
        a, b = int(i[k]), int(j[k])
        if len(nb[a]) < cap[a] and len(nb[b]) < cap[b]:
            nb[a].add(b)
            nb[b].add(a)
        else:
            dropped.append((a, b))
    # a dropped bond that was the only link of a fragment is taken back where a full end can
    # give up a ring bond instead (its longest one whose ends stay connected without it)
    for a, b in dropped:
        if _connected(nb, a, b):
            continue
        freed = []
        for x in (a, b):
            if len(nb[x]) < cap[x]:
                continue
            ring = next((c for c in sorted(nb[x], key=lambda c: -dist[x, c]) if _connected(nb, x, c, skip=(x, c))),
                        None)
            if ring is None:
                break
            nb[x].discard(ring)
            nb[ring].discard(x)
            freed.append((x, ring))
        if len(nb[a]) < cap[a] and len(nb[b]) < cap[b]:
            nb[a].add(b)
            nb[b].add(a)
        else:  # could not make room at both ends: undo
            for x, c in freed:
                nb[x].add(c)
                nb[c].add(x)
    return sorted((a, b) for a in range(len(symbols)) for b in nb[a] if a < b)


def _connected(nb: list[set[int]], a: int, b: int, skip: tuple[int, int] | None = None) -> bool:
    """Whether ``b`` is reachable from ``a`` in the graph ``nb`` (without the edge ``skip``)."""
    seen, stack = {a}, [a]
    while stack:
        x = stack.pop()
        for y in nb[x]:
            if skip is not None and {x, y} == set(skip):
                continue
            if y == b:
                return True
            if y not in seen:
                seen.add(y)
                stack.append(y)
    return False


def _is_linear(k: int, neighbours: list[list[int]], pos: np.ndarray) -> bool:
    nb = neighbours[k]
    if len(nb) <= 1:
        return True
    if len(nb) > 2:
        return False
    u, v = pos[nb[0]] - pos[k], pos[nb[1]] - pos[k]
    cos = float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-9))
    return cos < -0.94  # angle > ~160 degrees


def _angles(k: int, neighbours: list[list[int]], pos: np.ndarray) -> list[float]:
    nb = neighbours[k]
    out = []
    for x in range(len(nb)):
        for y in range(x + 1, len(nb)):
            u, v = pos[nb[x]] - pos[k], pos[nb[y]] - pos[k]
            cos = float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-9))
            out.append(float(np.degrees(np.arccos(np.clip(cos, -1, 1)))))
    return out


def _can_be_sp2(k: int, neighbours: list[list[int]], pos: np.ndarray) -> bool:
    """Geometry allows a double bond at atom k: planar with 3 neighbours, open angle with 2."""
    angles = _angles(k, neighbours, pos)
    if len(neighbours[k]) == 3:
        return sum(angles) > 345.0
    if len(neighbours[k]) == 2:
        return angles[0] > 112.0
    return True


def bond_orders(symbols, pos: np.ndarray, bonds: list[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """Orders (1, 2 or 3) for ``bonds`` from their lengths and the atoms' free valence."""
    import networkx as nx

    pos = np.asarray(pos, dtype=np.float64)
    n = len(symbols)
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for a, b in bonds:
        neighbours[a].append(b)
        neighbours[b].append(a)
    free = np.array([VALENCE.get(s, 4) - len(neighbours[k]) for k, s in enumerate(symbols)])
    orders = {bond: 1 for bond in bonds}
    length = {bond: float(np.linalg.norm(pos[bond[0]] - pos[bond[1]])) for bond in bonds}
    for (a, b) in sorted(bonds, key=length.get):  # triple bonds first: nitriles, alkynes
        single, double, triple = (_length(t, symbols[a], symbols[b]) for t in
                                  (SINGLE_BOND_PM, DOUBLE_BOND_PM, TRIPLE_BOND_PM))
        if triple is None or double is None or free[a] < 2 or free[b] < 2:
            continue
        if length[(a, b)] < (double + triple) / 2 + 0.03 and _is_linear(a, neighbours, pos) \
                and _is_linear(b, neighbours, pos):
            orders[(a, b)] = 3
            free[a] -= 2
            free[b] -= 2
    for k, s in enumerate(symbols):  # sulfonyl, sulfinyl, phosphate: S=O / P=O to terminal O (and N)
        if s not in ("S", "P") or len(neighbours[k]) < 3:
            continue
        room = (6 if s == "S" else 5) - len(neighbours[k])
        terminal = sorted((nb for nb in neighbours[k] if symbols[nb] in ("O", "N") and free[nb] >= 1
                           and len(neighbours[nb]) == 1), key=lambda nb: length[(min(k, nb), max(k, nb))])
        for nb in terminal[:max(room, 0)]:
            orders[(min(k, nb), max(k, nb))] = 2
            free[nb] -= 1
        free[k] = 0
    sp2 = [_can_be_sp2(k, neighbours, pos) for k in range(n)]
    for ring in nx.minimum_cycle_basis(nx.Graph(bonds)) if bonds else []:  # flat 5/6-rings: aromatic candidates
        if len(ring) in (5, 6):
            centred = pos[ring] - pos[ring].mean(0)
            if np.linalg.svd(centred, compute_uv=False)[-1] / np.sqrt(len(ring)) < 0.1:  # RMS off-plane, Å
                for k in ring:
                    sp2[k] = sp2[k] or len(neighbours[k]) == 2
    candidates = []
    for (a, b) in bonds:
        if orders[(a, b)] != 1 or free[a] < 1 or free[b] < 1 or not (sp2[a] and sp2[b]):
            continue
        single, double = _length(SINGLE_BOND_PM, symbols[a], symbols[b]), _length(DOUBLE_BOND_PM, symbols[a],
                                                                                     symbols[b])
        if single is None or double is None:
            continue
        cut = (single + double) / 2 + 0.02
        if length[(a, b)] < cut:
            candidates.append((a, b, 1.0 + (cut - length[(a, b)])))  # shorter = more double-like

    def terminal(a, b, elements):
        return any(len(neighbours[k]) == 1 and symbols[k] in elements for k in (a, b))

    # carbonyl/thiocarbonyl first, then bonds between non-terminal atoms (rings, chains), then
    # terminal N last: amides stay amides, adenine keeps its NH2 and aromatic ring
    passes = [lambda a, b: terminal(a, b, ("O", "S")),
              lambda a, b: not terminal(a, b, ("O", "S", "N")),
              lambda a, b: True]
    for accept in passes:
        graph = nx.Graph()
        graph.add_weighted_edges_from((a, b, w) for a, b, w in candidates
                                      if orders[(a, b)] == 1 and free[a] >= 1 and free[b] >= 1 and accept(a, b))
        for a, b in nx.max_weight_matching(graph, maxcardinality=True):
            orders[(min(a, b), max(a, b))] = 2
            free[a] = free[b] = 0  # one double bond per atom (no allenes, no cumulenes)
    return orders


def _build(symbols, pos, charges, orders: dict, fix_charges: bool) -> Chem.Mol:
    rw = Chem.RWMol()
    conf = Chem.Conformer(len(symbols))
    for k, s in enumerate(symbols):
        atom = Chem.Atom(s)
        atom.SetFormalCharge(int(charges[k]))
        rw.AddAtom(atom)
        conf.SetAtomPosition(k, Point3D(*map(float, pos[k])))
    kinds = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    for (a, b), order in orders.items():
        rw.AddBond(a, b, kinds[order])
    if fix_charges:
        for atom in rw.GetAtoms():
            valence = sum(b.GetBondTypeAsDouble() for b in atom.GetBonds())
            sym = atom.GetSymbol()
            if (sym == "N" and valence == 4) or (sym == "O" and valence == 3):
                atom.SetFormalCharge(1)
            elif (sym == "N" and valence > 4) or (sym == "O" and valence > 3):
                raise ValueError("over-valent atom")
    mol = rw.GetMol()
    mol.AddConformer(conf, assignId=True)
    Chem.SanitizeMol(mol)
    return mol


#: Å: heavy atoms closer than this are one atom drawn twice; no structure is assembled from them
MIN_ATOM_GAP = 0.5


def overlapping(pos) -> bool:
    """Whether two of the positions (N, 3) lie closer than :data:`MIN_ATOM_GAP`."""
    pos = np.asarray(pos, dtype=np.float64)
    if len(pos) < 2:
        return False
    gaps = np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1)) + np.eye(len(pos)) * MIN_ATOM_GAP
    return bool(gaps.min() < MIN_ATOM_GAP)


def assemble_ligand(m: Mol3D, *, add_hydrogens: bool = True, scale: float = 1.15,
                    kept: Chem.Mol | None = None) -> Chem.Mol | None:
    """A sanitised RDKit molecule (with hydrogens placed in 3D) from generated heavy atoms.

    Formal charges predicted by the model are kept where the bonds allow them. Returns
    ``None`` when no consistent structure exists (see the module docstring).

    ``kept``: fragment growing -- a heavy-atom molecule (Kekulé form) whose atoms are the first
    atoms of ``m``: its bonds, bond orders and formal charges are kept as they are, none is
    added between its atoms, and a kept atom takes new (single) bonds only up to the number of
    hydrogens it had (or its :data:`KEPT_ROOM` property).
    """
    symbols = list(m.symbols)
    pos = np.asarray(m.pos, dtype=np.float64)
    if overlapping(pos):  # atoms on top of each other: no structure (and RDKit's 3D stereo fails)
        return None
    bonds = connectivity(symbols, pos, scale)
    charges = np.zeros(len(symbols), dtype=int) if m.charge is None else np.array(m.charge, dtype=int)
    given: dict = {}
    if kept is not None:
        bonds, given = keep_fragment(kept, bonds, pos)
        charges[: kept.GetNumAtoms()] = [a.GetFormalCharge() for a in kept.GetAtoms()]
    mol = None
    with rdBase.BlockLogs():
        for orders in (bond_orders(symbols, pos, bonds), {bond: 1 for bond in bonds}):
            orders.update(given)
            for q in ((charges, np.zeros_like(charges)) if kept is None else
                      (charges, np.where(np.arange(len(charges)) < kept.GetNumAtoms(), charges, 0))):
                try:
                    mol = _build(symbols, pos, q, orders, fix_charges=True)
                    break
                except (ValueError, RuntimeError):  # MolSanitizeException is a ValueError
                    continue
            if mol is not None:
                break
        if mol is None:
            return None
        if add_hydrogens:
            mol = Chem.AddHs(mol, addCoords=True)
        Chem.AssignStereochemistryFrom3D(mol)
    if m.name:
        mol.SetProp("_Name", m.name)
    return mol


#: atom property of a kept atom: how many new bonds it may take (scaffold hopping: the bonds cut
#: from the replaced core); without it, as many as the atom has hydrogens
KEPT_ROOM = "moldiff_room"


def kept_room(atom: Chem.Atom) -> int:
    """New (single) bonds kept ``atom`` may take: its :data:`KEPT_ROOM` property, else its hydrogens."""
    return atom.GetIntProp(KEPT_ROOM) if atom.HasProp(KEPT_ROOM) else atom.GetTotalNumHs()


def keep_fragment(kept: Chem.Mol, bonds: list[tuple[int, int]], pos: np.ndarray):
    """``(bonds, orders of the kept and the new bonds to kept atoms)`` for :func:`assemble_ligand`."""
    k = kept.GetNumAtoms()
    own = {(min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), max(b.GetBeginAtomIdx(), b.GetEndAtomIdx())):
           int(b.GetBondTypeAsDouble()) for b in kept.GetBonds()}
    room = [kept_room(a) for a in kept.GetAtoms()]
    new = [(a, b) for a, b in bonds if a >= k and b >= k]
    reach = sorted(((a, b) for a, b in bonds if (a < k) != (b < k)),
                   key=lambda ab: float(np.linalg.norm(pos[ab[0]] - pos[ab[1]])))
    given = dict(own)
    for a, b in reach:  # shortest first, while the kept atom has a hydrogen to give up
        if room[a] > 0:
            room[a] -= 1
            new.append((a, b))
            given[(a, b)] = 1
    return sorted([*own, *new]), given


def largest_fragment_share(mol: Chem.Mol) -> float:
    """Heavy atoms in the largest fragment / all heavy atoms (1.0 = connected)."""
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    if not heavy:
        return 0.0
    frags = Chem.GetMolFrags(mol)
    best = max(sum(1 for k in f if mol.GetAtomWithIdx(k).GetAtomicNum() > 1) for f in frags)
    return best / len(heavy)


#: Å: how far :func:`relax_ligand` lets a heavy atom move before its restraint pulls back
RELAX_MAX_DISPLACEMENT = 0.3
#: kcal/mol/Å^2: the restraint's force constant beyond that
RELAX_FORCE_CONSTANT = 100.0
#: Å: :func:`relax_ligand` keeps ligand heavy atoms at least this far from protein heavy atoms
#: (or as far as they were, if closer)
RELAX_CONTACT = 3.5
#: kcal/mol/Å^2: the contact restraint's force constant (flat-bottomed: zero outside its bound).
#: At the position restraint's 100, MMFF's bond and angle repairs pushed contacts 0.1-0.3 Å
#: inside their bound (a design's 2.15 Å contact relaxed to 1.96 Å, a 2.80 Å one to 2.51 Å, in
#: 6XG5_TOP, ad hoc; tests/test_design.py); at 1e4 they stay within 0.03 Å of it
RELAX_CONTACT_FORCE_CONSTANT = 1.0e4


def relax_ligand(mol: Chem.Mol, pocket_pos=None, *, max_displacement: float = RELAX_MAX_DISPLACEMENT,
                 force_constant: float = RELAX_FORCE_CONSTANT, contact: float = RELAX_CONTACT,
                 contact_force_constant: float = RELAX_CONTACT_FORCE_CONSTANT, max_iters: int = 1000,
                 fixed: tuple[int, ...] = ()) -> Chem.Mol:
    """A copy of ``mol`` (with hydrogens and 3D coordinates) minimised with MMFF94 (UFF where
    MMFF has no parameters), every heavy atom restrained to within ``max_displacement`` Å of
    where it was (flat-bottomed, ``force_constant`` beyond): bond lengths, angles and planarity
    are repaired while the pose is kept. ``pocket_pos`` (M, 3): protein heavy atoms, fixed; no
    ligand heavy atom may come closer to one of those within 6 Å than it was or than
    ``contact`` Å, whichever is less (a ligand relaxed alone swells into the protein; restraint
    ``contact_force_constant``). The position restraint is soft: in designs heavy atoms moved up
    to ~1 Å while bonds were repaired. Stereo is re-read from the result. Returns the input unchanged when neither force field can type it.
    ``fixed``: atoms that do not move at all (the kept atoms of fragment growing).
    """
    from rdkit.Chem import AllChem

    out = Chem.Mol(mol)
    with rdBase.BlockLogs():
        props = AllChem.MMFFGetMoleculeProperties(out)
        if props is not None:
            ff = AllChem.MMFFGetMoleculeForceField(out, props)
            add, keep_apart = ff.MMFFAddPositionConstraint, ff.MMFFAddDistanceConstraint
        elif AllChem.UFFHasAllMoleculeParams(out):
            ff = AllChem.UFFGetMoleculeForceField(out)
            add, keep_apart = ff.UFFAddPositionConstraint, ff.UFFAddDistanceConstraint
        else:
            return mol
        if ff is None:
            return mol
        heavy = [a.GetIdx() for a in out.GetAtoms() if a.GetAtomicNum() > 1]
        pairs = []
        if pocket_pos is not None and len(pocket_pos):
            pos = out.GetConformer().GetPositions()[heavy]
            protein = np.asarray(pocket_pos, dtype=np.float64)
            dist = np.sqrt(((pos[:, None] - protein[None]) ** 2).sum(-1))
            near = np.nonzero((dist < 6.0).any(axis=0))[0]
            for k, j in enumerate(near):
                ff.AddExtraPoint(*protein[j].tolist(), fixed=True)
                pairs.extend((heavy[i], out.GetNumAtoms() + k, min(float(dist[i, j]), contact))
                             for i in range(len(heavy)))
        ff.Initialize()
        for i in heavy:
            if i in fixed:
                ff.AddFixedPoint(i)
            else:
                add(i, max_displacement, force_constant)
        for i, j, closest in pairs:
            keep_apart(i, j, False, closest, 1e3, contact_force_constant)
        ff.Minimize(maxIts=max_iters)
        Chem.AssignStereochemistryFrom3D(out)
    return out
