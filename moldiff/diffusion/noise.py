"""Noise for molecular diffusion: centre-of-mass-free Gaussian positions, Gaussian features."""
from __future__ import annotations

import torch
from torch_geometric.utils import scatter


def remove_mean(x: torch.Tensor, batch: torch.Tensor, num_graphs: int | None = None) -> torch.Tensor:
    """Subtract each graph's mean from ``x`` (N, D) -> (N, D) (zero centre of geometry)."""
    mean = scatter(x, batch, dim=0, dim_size=num_graphs, reduce="mean")
    return x - mean[batch]


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
