"""The denoising loss as a pure function."""
from __future__ import annotations

import torch
from torch_geometric.utils import scatter

from moldiff.geometry import remove_mean
from moldiff.diffusion.schedule import VPSchedule
from moldiff.diffusion.wrappers import target_for


def diffusion_loss(
    denoiser,
    schedule: VPSchedule,
    pos: torch.Tensor,
    h: torch.Tensor,
    batch: torch.Tensor,
    num_graphs: int,
    *,
    parameterization: str = "eps",
    t: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    com_free: bool | torch.Tensor = True,
    context: dict | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Simple (unweighted) denoising loss, EDM's L2 objective for continuous time.

    Args:
        denoiser: ``(pos, h, t, batch, num_graphs) -> (out_pos, out_h)``.
        pos: (N, 3) Å, CoM-free per graph. h: (N, F) encoded atom features.
        batch: (N,). num_graphs: B.
        parameterization: ``"eps"``, ``"x0"`` or ``"v"``.
        t: optional (B,) times in [0, 1]; uniform if omitted.
        com_free: position noise on the zero-CoM subspace (free molecules); ``False`` for
            a ligand in a fixed pocket frame, where the centre of mass is learned too; a (B,)
            bool tensor chooses per graph (pocket models trained with pocket dropout).
        context: extra keyword arguments for the denoiser (e.g. the pocket).

    Returns:
        The scalar loss (per-graph mean squared error over atoms and channels, averaged
        over graphs) and a dict of detached parts (``loss_pos``, ``loss_h``).
    """
    dtype, device = pos.dtype, pos.device
    if t is None:
        t = torch.rand(num_graphs, generator=generator, dtype=dtype, device=device)
    alpha = schedule.alpha(t).to(dtype)[batch].unsqueeze(-1)
    sigma = schedule.sigma(t).to(dtype)[batch].unsqueeze(-1)
    eps_pos = torch.randn(pos.shape, generator=generator, dtype=dtype, device=device)
    if isinstance(com_free, torch.Tensor):
        eps_pos = torch.where(com_free.to(device)[batch].unsqueeze(-1), remove_mean(eps_pos, batch, num_graphs), eps_pos)
    elif com_free:
        eps_pos = remove_mean(eps_pos, batch, num_graphs)
    eps_h = torch.randn(h.shape, generator=generator, dtype=dtype, device=device)
    out_pos, out_h = denoiser(alpha * pos + sigma * eps_pos, alpha * h + sigma * eps_h, t, batch, num_graphs,
                              **(context or {}))
    err_pos = ((out_pos - target_for(parameterization, pos, eps_pos, alpha, sigma)) ** 2).sum(-1)
    err_h = ((out_h - target_for(parameterization, h, eps_h, alpha, sigma)) ** 2).sum(-1)
    dims = pos.shape[1] + h.shape[1]
    per_graph = scatter((err_pos + err_h) / dims, batch, dim=0, dim_size=num_graphs, reduce="mean")
    parts = {
        "loss_pos": scatter(err_pos / 3, batch, dim=0, dim_size=num_graphs, reduce="mean").mean().detach(),
        "loss_h": scatter(err_h / h.shape[1], batch, dim=0, dim_size=num_graphs, reduce="mean").mean().detach(),
    }
    return per_graph.mean(), parts
