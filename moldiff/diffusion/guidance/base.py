"""What every guidance transform shares: the sampling frame it binds to and the distances
the structural transforms agree on."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

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


@dataclass(frozen=True)
class Frame:
    """The sampling frame a guidance spec binds to: one batch of ligands in their pockets.

    Attributes:
        batch: (N,) complex index of each ligand atom; num_graphs: B.
        pocket_pos: (M, 3) pocket atoms, each complex centred on its pocket (the sampling frame).
        pocket_batch: (M,) complex index of each pocket atom.
        elements: the model's element vocabulary (feature column order).
        known: (N,) atoms given in full (fragment growing), or ``None``: structural transforms
            move the rest of the molecule, never these.
        closed: (N,) given atoms that take no new bond (no hydrogen to give up), or ``None``.
    """

    batch: torch.Tensor
    num_graphs: int
    pocket_pos: torch.Tensor
    pocket_batch: torch.Tensor
    elements: tuple
    known: torch.Tensor | None = None
    closed: torch.Tensor | None = None

    @property
    def pocket_extent(self) -> torch.Tensor:
        """(B,) largest distance of a pocket atom from its pocket's centre (the origin)."""
        from torch_geometric.utils import scatter

        return scatter(self.pocket_pos.norm(dim=-1), self.pocket_batch, dim=0, dim_size=self.num_graphs, reduce="max")


class X0Transform(Protocol):
    """A guidance transform: ``f(x0 (N, 3), h0 (N, F), t) -> x0 (N, 3)``, applied to the clean
    structure implied by the network's prediction at every sampling step (in the order given)."""

    def __call__(self, x0: torch.Tensor, h0: torch.Tensor | None = None, t=None) -> torch.Tensor: ...


def bind_all(guidance, frame: Frame) -> list:
    """The transforms of ``guidance`` for ``frame``: a spec (anything with ``bind``) is bound, a
    callable is used as it is (e.g. :class:`~moldiff.docking.pose.ConformerProjection`)."""
    return [g.bind(frame) if hasattr(g, "bind") else g for g in guidance]
