"""Connectivity guidance: a predicted ligand kept in one piece."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from moldiff.diffusion.guidance.base import BOND_DISTANCE, JOIN_DISTANCE, MIN_DISTANCE, Frame


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
        anchor: (N,) atoms that stay where they are (kept atoms of fragment growing): a fragment
            holding one is never moved, and in a molecule with anchors the others join the
            anchored fragment with the most anchors.
        closed: (N,) atoms nothing is attached to (kept atoms without a hydrogen to give up).
    """

    def __init__(self, batch: torch.Tensor, bond_distance: float = BOND_DISTANCE,
                 join_distance: float = JOIN_DISTANCE, rounds: int = 3, anchor: torch.Tensor | None = None,
                 closed: torch.Tensor | None = None):
        if not 0 < join_distance < bond_distance:
            raise ValueError(f"need 0 < join distance ({join_distance}) < bond distance ({bond_distance})")
        self.batch, self.bond_distance, self.join_distance, self.rounds = batch, bond_distance, join_distance, rounds
        self.anchor, self.closed = anchor, closed

    def _attach(self, part: torch.Tensor, main: torch.Tensor, open_: torch.Tensor | None = None) -> torch.Tensor:
        """``part`` translated so that its closest atom to ``main`` (to one of ``main``'s atoms
        marked ``open_``, where some are) is ``join_distance`` from it, then further along that
        line until no pair is closer than :data:`MIN_DISTANCE`."""
        d = torch.cdist(part, main)
        if open_ is not None and open_.any():
            d = torch.where(open_[None, :], d, torch.full_like(d, float("inf")))
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

    def __call__(self, x0: torch.Tensor, h0=None, t=None) -> torch.Tensor:
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
                anchored = torch.zeros_like(counts)
                if self.anchor is not None:
                    anchored = torch.stack([self.anchor[atoms][labels[atoms] == name].sum() for name in names])
                main = atoms[labels[atoms] == names[(counts + len(atoms) * anchored).argmax()]]
                for name, pinned in zip(names, anchored):
                    part = atoms[labels[atoms] == name]
                    if part[0] in main or pinned > 0:
                        continue
                    x0[part] = self._attach(x0[part], x0[main], None if self.closed is None else ~self.closed[main])
                    main = torch.cat([main, part])
        return x0


@dataclass(frozen=True)
class Connect:
    """Guidance spec: :class:`FragmentJoin` over the frame's molecules. :func:`~moldiff.diffusion.pocket.sample_in_pocket`
    also joins the returned structures once more (the last step's other transforms may split them)."""

    def bind(self, frame: Frame) -> FragmentJoin:
        return FragmentJoin(frame.batch, anchor=getattr(frame, "known", None), closed=getattr(frame, "closed", None))
