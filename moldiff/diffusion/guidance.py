"""Sampling-time structure guidance: projections of the predicted clean structure.

Each is an ``x0_project`` of :class:`~moldiff.diffusion.wrappers.MolecularEps`: at every
sampling step the clean positions implied by the network's prediction are moved onto a
set of acceptable structures, and the sampler continues from the moved prediction (the
network sees, and repairs, the result at the next step). The last step returns the
projected prediction itself. They enforce what a small model trained on little data has
not learned -- not leaving the pocket's free space, being one molecule -- in the spirit
of the clash and bond drifts of DecompDiff (Guan et al. 2023), as projections. Reported
figures always say whether they were on.
"""
from __future__ import annotations

import torch

#: Å: default closest approach of a designed ligand heavy atom to a protein heavy atom under
#: clash guidance. The clash criteria are < 2.0 Å and < 0.75 x the vdW sum (2.55 Å for C-C,
#: 2.7 for S-S); hydrogen-bonded N/O pairs sit at 2.7-3.0 Å.
CLASH_DISTANCE = 2.8
#: Å: atoms closer than this are taken as bonded when finding a structure's fragments. The
#: assembly bonds atoms within 1.15 x their covalent radii (1.75 Å for C-C, 1.58 for N-O,
#: 1.52 for O-O); the guidance sees positions only, so it uses a distance every pair bonds at.
BOND_DISTANCE = 1.5
#: Å: under clash guidance a pair bonded on entry is held within BOND_DISTANCE - BOND_SLACK
BOND_SLACK = 0.02
#: Å: a fragment is moved so that its closest atom to the main fragment is this far away
JOIN_DISTANCE = 1.4
#: Å: no two atoms of a guided structure closer than this (shorter than any bond)
MIN_DISTANCE = 1.1
#: Å: under clash guidance, pairs apart on entry (at least this far), two atoms bonded to a
#: common atom (an angle; 2.1 Å is 89 degrees between 1.5 Å bonds, real 1-3 distances are
#: 2.3-2.5 Å) and the longest side of a bonded triangle are kept at least this far apart
SPREAD_DISTANCE = 2.1


class PocketRepulsion:
    """Clash guidance: push predicted clean ligand atoms out of the protein.

    Applied to the implied clean positions at every sampling step (an ``x0_project`` of
    :class:`~moldiff.diffusion.wrappers.MolecularEps`): each ligand atom closer than
    ``distance`` to a pocket atom of its own complex is moved away from it by the overlap
    (and atoms of one ligand closer than :data:`MIN_DISTANCE` apart from each other),
    ``iterations`` sweeps (each moves an atom by half its summed overlaps). Pairs bonded on
    entry (closer than :data:`BOND_DISTANCE`) are held within it, so pushing one atom of a
    bond out of the protein drags its partner along instead of breaking the molecule (after
    :class:`FragmentJoin`, a joined fragment stays joined). The push does not crush the
    ligand into itself: pairs at least :data:`SPREAD_DISTANCE` apart on entry stay so, and so
    do the two ends of every bond angle; a bonded triangle (a 3-membered ring, rare in
    drug-like molecules, and what crushing a ligand makes) loses its longest bond, which is
    then spread like an angle. An atom wedged between protein atoms may stay a little closer
    than ``distance``.
    The network then sees, and repairs, the moved structure at the next step. The same
    idea as the clash drift of DecompDiff (Guan et al. 2023), as a projection.

    Args:
        pocket_pos: (M, 3) pocket atoms in the sampling frame; pocket_batch: (M,) complex index.
        batch: (N,) complex index of each ligand atom.
    """

    def __init__(self, pocket_pos: torch.Tensor, pocket_batch: torch.Tensor, batch: torch.Tensor,
                 distance: float = CLASH_DISTANCE, iterations: int = 100):
        if not distance > 0:
            raise ValueError(f"clash distance must be positive, got {distance}")
        self.pocket_pos, self.distance, self.iterations = pocket_pos, float(distance), iterations
        self.same = batch.unsqueeze(1) == pocket_batch.unsqueeze(0)  # (N, M)
        self.own = (batch.unsqueeze(1) == batch.unsqueeze(0)).fill_diagonal_(False)  # (N, N)

    def __call__(self, x0: torch.Tensor) -> torch.Tensor:
        p = self.pocket_pos.to(x0.dtype)
        # candidate pairs once (atoms move at most a few Å in the sweeps), then sweeps over them
        reach = self.distance + 3.0
        li, pj = ((torch.cdist(x0, p) < reach) & self.same).nonzero().T
        inner_d = torch.cdist(x0, x0)
        bonded = (inner_d < BOND_DISTANCE) & self.own
        bonded = bonded & ~self._triangle_longest(bonded, inner_d)  # 3-rings lose their longest bond
        angle = ((bonded.to(x0.dtype) @ bonded.to(x0.dtype)) > 0) & self.own & ~bonded
        spread = ((inner_d >= SPREAD_DISTANCE) | angle) & self.own & ~bonded
        near = (inner_d < SPREAD_DISTANCE + 2.0) & self.own
        ai, aj = (near & ~spread).nonzero().T      # never on top of each other
        si, sj = (near & spread).nonzero().T       # kept SPREAD_DISTANCE apart
        bi, bj = bonded.nonzero().T                # bonded on entry: keep bonded
        keep = BOND_DISTANCE - BOND_SLACK
        for _ in range(self.iterations):
            diff = x0[li] - p[pj]
            d = diff.norm(dim=-1, keepdim=True).clamp_min(1e-6)
            overlap = (self.distance - d).clamp_min(0.0)
            inner = x0[ai] - x0[aj]  # and ligand atoms never on top of each other
            di = inner.norm(dim=-1, keepdim=True).clamp_min(1e-6)
            crowd = (MIN_DISTANCE - di).clamp_min(0.0)
            apart = x0[si] - x0[sj]  # nor crushed together
            ds = apart.norm(dim=-1, keepdim=True).clamp_min(1e-6)
            squeeze = (SPREAD_DISTANCE - ds).clamp_min(0.0)
            bond = x0[bi] - x0[bj]
            db = bond.norm(dim=-1, keepdim=True).clamp_min(1e-6)
            stretch = (db - keep).clamp_min(0.0)
            if not ((overlap > 0).any() or (crowd > 0).any() or (squeeze > 1e-3).any() or (stretch > 1e-3).any()):
                break
            # half the summed overlaps per sweep (a crowded pair moves apart symmetrically,
            # a stretched bond contracts symmetrically)
            step = torch.zeros_like(x0).index_add_(0, li, 0.5 * overlap * diff / d)
            # bonds: the mean of an atom's stretched bonds' pulls (a sum over many partners of a
            # crowded high-noise prediction overshoots and diverges)
            pull = torch.zeros_like(x0).index_add_(0, bi, -0.5 * stretch * bond / db)
            count = torch.zeros_like(x0[:, :1]).index_add_(0, bi, (stretch > 0).to(x0.dtype))
            step = step + pull / count.clamp_min(1.0)
            step = step.index_add_(0, ai, 0.25 * crowd * inner / di)
            x0 = x0 + step.index_add_(0, si, 0.25 * squeeze * apart / ds)
        return x0

    @staticmethod
    def _triangle_longest(bonded: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """(N, N) bool: pairs that are the longest side of a triangle of ``bonded`` pairs."""
        i, j = bonded.nonzero().T
        common = bonded[i] & bonded[j]                      # (E, N): atoms bonded to both ends
        longest = common & (d[i] <= d[i, j, None]) & (d[j] <= d[i, j, None])
        out = torch.zeros_like(bonded)
        out[i[longest.any(1)], j[longest.any(1)]] = True
        return out | out.T


def fragments(x: torch.Tensor, batch: torch.Tensor, bond_distance: float = BOND_DISTANCE) -> torch.Tensor:
    """(N,) fragment label of every atom (the smallest atom index of its connected
    component under ``distance < bond_distance``, within its own molecule)."""
    n = len(x)
    adjacent = (torch.cdist(x, x) < bond_distance) & (batch.unsqueeze(0) == batch.unsqueeze(1))
    labels = torch.arange(n, device=x.device)
    big = torch.full((n, n), n, device=x.device)
    while True:
        new = torch.where(adjacent, labels.unsqueeze(0), big).min(dim=1).values.minimum(labels)
        if torch.equal(new, labels):
            return labels
        labels = new


class FragmentJoin:
    """Connectivity guidance: every fragment of a predicted molecule is moved rigidly
    towards its largest fragment until its closest atom pair is ``join_distance`` apart
    (repeated ``rounds`` times, fragments may merge on the way). A generated ligand that
    falls apart into pieces is otherwise a set of molecules, not a design.

    Args:
        batch: (N,) molecule index of each atom.
    """

    def __init__(self, batch: torch.Tensor, bond_distance: float = BOND_DISTANCE,
                 join_distance: float = JOIN_DISTANCE, rounds: int = 3):
        if not 0 < join_distance < bond_distance:
            raise ValueError(f"need 0 < join distance ({join_distance}) < bond distance ({bond_distance})")
        self.batch, self.bond_distance, self.join_distance, self.rounds = batch, bond_distance, join_distance, rounds

    def _attach(self, part: torch.Tensor, main: torch.Tensor) -> torch.Tensor:
        """``part`` translated so that its closest atom to ``main`` is ``join_distance`` from
        it, then further along that line until no pair is closer than :data:`MIN_DISTANCE`."""
        d = torch.cdist(part, main)
        k = int(d.argmin())
        i, j = k // d.shape[1], k % d.shape[1]
        gap = main[j] - part[i]
        dist = gap.norm().clamp_min(1e-9)
        part = part + gap * (1 - self.join_distance / dist)
        away = -gap / dist
        for _ in range(20):
            if torch.cdist(part, main).min() >= MIN_DISTANCE:
                break
            part = part + 0.2 * away
        return part

    def __call__(self, x0: torch.Tensor) -> torch.Tensor:
        x0 = x0.clone()
        for _ in range(self.rounds):
            labels = fragments(x0, self.batch, self.bond_distance)
            roots = labels == torch.arange(len(x0), device=x0.device)
            broken = (torch.bincount(self.batch[roots]) > 1).nonzero().squeeze(1)  # molecules in pieces
            if len(broken) == 0:
                break
            for g in broken.tolist():
                atoms = (self.batch == g).nonzero().squeeze(1)
                names, counts = torch.unique(labels[atoms], return_counts=True)
                main = atoms[labels[atoms] == names[counts.argmax()]]
                for name in names:
                    part = atoms[labels[atoms] == name]
                    if part[0] in main:
                        continue
                    x0[part] = self._attach(x0[part], x0[main])
                    main = torch.cat([main, part])
        return x0


def compose(first, second):
    """``second(first(x))``; either may be ``None``."""
    if first is None or second is None:
        return first or second
    return lambda x: second(first(x))


#: Å^2 mol/kcal: gradient step of :class:`VinaGuidance` (x <- x - STEP * dE/dx)
VINA_STEP = 0.1
#: Å: the most one atom moves in one :class:`VinaGuidance` iteration
VINA_MAX_MOVE = 0.2


class VinaGuidance:
    """Energy guidance: the predicted clean ligand moves down the gradient of Vina's
    intermolecular energy with its pocket.

    An ``x0_guide`` of :class:`~moldiff.diffusion.wrappers.MolecularEps`, applied before the
    clash and connectivity projections: at every step whose time is at most ``t_max`` the
    implied clean ligand atoms are typed (elements from the implied clean features, X-Score
    types from elements and geometry, :func:`~moldiff.vina.atom_types.heavy_atom_xs_types`) and
    take ``iterations`` gradient steps (``step`` Å^2 mol/kcal, at most ``max_move`` Å per atom)
    on the Vina terms (:func:`~moldiff.vina.energy.pair_energy`, Vina 1.2 weights, 8 Å
    cutoff) summed over ligand-pocket heavy-atom pairs of each complex. Pocket atoms are typed
    once (:func:`~moldiff.vina.atom_types.protein_xs_types`). This steers designs towards
    contacts Vina rewards -- the metric they are then scored by, so figures with it say so
    (property guidance, as in TAGMol, Dorna et al. 2024).

    Args:
        pocket_pos: (M, 3) pocket heavy atoms in the sampling frame; pocket_types: their X-Score
            types; pocket_batch: (M,) complex index. batch: (N,) complex index of each ligand atom.
        elements: the model's element vocabulary (feature column order).
    """

    def __init__(self, pocket_pos: torch.Tensor, pocket_types, pocket_batch: torch.Tensor, batch: torch.Tensor,
                 elements, *, step: float = VINA_STEP, max_move: float = VINA_MAX_MOVE, iterations: int = 3,
                 t_max: float = 1.0):
        from moldiff.vina.atom_types import type_arrays

        if len(pocket_types) != len(pocket_pos):
            raise ValueError(f"{len(pocket_types)} pocket types for {len(pocket_pos)} pocket atoms")
        if not (step > 0 and max_move > 0 and iterations >= 1):
            raise ValueError("Vina guidance needs a positive step, maximum move and iteration count")
        self.pocket_pos, self.batch, self.elements = pocket_pos, batch, tuple(elements)
        self.step, self.max_move, self.iterations, self.t_max = step, max_move, iterations, t_max
        self.same = batch.unsqueeze(1) == pocket_batch.unsqueeze(0)  # (N, M)
        self.pocket_arrays = type_arrays(list(pocket_types))

    def ligand_types(self, x0: torch.Tensor, h0: torch.Tensor) -> list[str]:
        from moldiff.vina.atom_types import heavy_atom_xs_types

        index = h0[:, : len(self.elements)].argmax(dim=1).tolist()
        elements = [self.elements[k] for k in index]
        pos = x0.detach().double().cpu().numpy()
        out = [""] * len(elements)
        for g in torch.unique(self.batch).tolist():  # bonds within each molecule only
            atoms = (self.batch == g).nonzero().squeeze(1).tolist()
            for a, t in zip(atoms, heavy_atom_xs_types(pos[atoms], [elements[a] for a in atoms])):
                out[a] = t
        return out

    def energy(self, x: torch.Tensor, types: list[str]) -> torch.Tensor:
        """(B,) Vina intermolecular energy of ligand atoms ``x`` (N, 3) typed ``types``, per complex."""
        from moldiff.vina.energy import CUTOFF, pair_energy, pair_tables

        radii, hydrophobic, hbond = (t.to(x.device) for t in pair_tables(types, self.pocket_arrays, x.dtype))
        r = torch.cdist(x, self.pocket_pos.to(x.dtype))
        e = (pair_energy(r - radii, hydrophobic, hbond) * ((r < CUTOFF) & self.same)).sum(1)
        return torch.zeros(int(self.batch.max()) + 1, dtype=x.dtype, device=x.device).index_add_(0, self.batch, e)

    def __call__(self, x0: torch.Tensor, h0: torch.Tensor, t) -> torch.Tensor:
        if float(t) > self.t_max:
            return x0
        types = self.ligand_types(x0, h0)
        with torch.inference_mode(False), torch.enable_grad():
            x = x0.detach().clone()
            for _ in range(self.iterations):
                x.requires_grad_(True)
                (grad,) = torch.autograd.grad(self.energy(x, types).sum(), x)
                move = -self.step * grad
                norm = move.norm(dim=-1, keepdim=True).clamp_min(1e-12)
                x = (x + move * torch.clamp(self.max_move / norm, max=1.0)).detach()
        return x.to(x0.dtype)
