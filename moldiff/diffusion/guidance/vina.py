"""Energy guidance: the predicted ligand moved down Vina's energy with its pocket."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from moldiff.diffusion.guidance.base import Frame

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


@dataclass(frozen=True)
class VinaEnergy:
    """Guidance spec: :class:`VinaGuidance` with the pocket atoms' X-Score types ``pocket_types``
    (:func:`~moldiff.vina.atom_types.protein_xs_types`): those of every pocket atom of the batch,
    or of one pocket that every complex of the batch shares."""

    pocket_types: tuple
    t_max: float = 1.0

    def bind(self, frame: Frame) -> VinaGuidance:
        types = list(self.pocket_types)
        if len(types) != len(frame.pocket_pos) and len(types) * frame.num_graphs == len(frame.pocket_pos):
            types = types * frame.num_graphs
        return VinaGuidance(frame.pocket_pos, types, frame.pocket_batch, frame.batch, frame.elements,
                            t_max=self.t_max)
