"""Noise for molecular diffusion: centre-of-mass-free Gaussian positions, Gaussian features."""
from __future__ import annotations

import torch

from moldiff.geometry import remove_mean

__all__ = ["com_free_noise", "gaussian_noise", "remove_mean"]


def com_free_noise(
    batch: torch.Tensor, dim: int = 3, *, generator: torch.Generator | None = None, dtype=torch.float32
) -> torch.Tensor:
    """Standard Gaussian noise on the zero-CoM subspace of each graph: (N, dim).

    Drawn as N(0, I) then projected, which is the isotropic Gaussian on the
    (n - 1) * dim-dimensional subspace (EDM, Sec. 3.2).
    """
    eps = torch.randn(batch.numel(), dim, generator=generator, dtype=dtype, device=batch.device)
    return remove_mean(eps, batch)


def gaussian_noise(shape, *, generator: torch.Generator | None = None, dtype=torch.float32, device=None) -> torch.Tensor:
    """Plain standard Gaussian noise (used for the atom-feature channels)."""
    return torch.randn(*shape, generator=generator, dtype=dtype, device=device)
