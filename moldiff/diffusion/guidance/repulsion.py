"""Clash guidance: predicted ligand atoms pushed out of the protein."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from moldiff.diffusion.guidance.base import BOND_DISTANCE, BOND_SLACK, MIN_DISTANCE, SPREAD_DISTANCE, Frame

#: Å: default closest approach of a designed ligand heavy atom to a protein heavy atom under
#: clash guidance. The clash criteria are < 2.0 Å and < 0.75 x the vdW sum (2.55 Å for C-C,
#: 2.7 for S-S); hydrogen-bonded N/O pairs sit at 2.7-3.0 Å.
CLASH_DISTANCE = 2.8


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

    def __call__(self, x0: torch.Tensor, h0=None, t=None) -> torch.Tensor:
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


@dataclass(frozen=True)
class Clash:
    """Guidance spec: :class:`PocketRepulsion` at ``distance`` Å from the frame's pocket atoms."""

    distance: float = CLASH_DISTANCE
    iterations: int = 100

    def bind(self, frame: Frame) -> PocketRepulsion:
        return PocketRepulsion(frame.pocket_pos, frame.pocket_batch, frame.batch, self.distance, self.iterations)
