"""Adapters between a denoiser network and the samplers.

The network predicts one of three targets (``parameterization``): the noise ``eps``,
the clean sample ``x0``, or the velocity ``v = alpha eps - sigma x0`` (Salimans & Ho
2022), or the ``residual`` step ``d = alpha x0 - z = -sigma eps`` that moves the noisy
input onto the (scaled) clean sample, i.e. x0 prediction with a skip connection,
``x0 = (z + d) / alpha`` (the c_skip/c_out preconditioning of Karras et al. 2022 for VP).
Small near t = 0, so the network's output is well conditioned where precision matters.
The samplers always receive ``eps``: with ``z = alpha x0 + sigma eps``,
``eps = (z - alpha x0) / sigma``, ``eps = sigma z + alpha v`` and ``eps = -d / sigma``.
"""
from __future__ import annotations

import torch

from moldiff.geometry import remove_mean
from moldiff.diffusion.schedule import VPSchedule

PARAMETERIZATIONS = ("eps", "x0", "v", "residual")


def output_to_eps(out: torch.Tensor, z: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor, parameterization: str):
    """Convert a network output to a noise prediction (broadcasting alpha/sigma)."""
    if parameterization == "eps":
        return out
    if parameterization == "x0":
        return (z - alpha * out) / sigma
    if parameterization == "v":
        return sigma * z + alpha * out
    if parameterization == "residual":
        return -out / sigma
    raise ValueError(f"unknown parameterization {parameterization!r}; choose one of {PARAMETERIZATIONS}")


def target_for(parameterization: str, x0: torch.Tensor, eps: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor):
    """The regression target of ``parameterization`` for data ``x0`` and noise ``eps``."""
    if parameterization == "eps":
        return eps
    if parameterization == "x0":
        return x0
    if parameterization == "v":
        return alpha * eps - sigma * x0
    if parameterization == "residual":
        return -sigma * eps
    raise ValueError(f"unknown parameterization {parameterization!r}; choose one of {PARAMETERIZATIONS}")


def _project(z: torch.Tensor, batch: torch.Tensor, num_graphs: int, com_free: bool) -> torch.Tensor:
    """Packed ``[pos | h]`` with the position columns moved onto the zero-CoM subspace if ``com_free``."""
    if not com_free:
        return z
    return torch.cat([remove_mean(z[:, :3], batch, num_graphs), z[:, 3:]], dim=-1)


class MolecularEps:
    """``eps_fn(z, t)`` over packed molecular states ``z = [pos (3) | h (F)]`` of shape (N, 3 + F).

    Args:
        denoiser: network ``(pos, h, t (B,), batch, num_graphs) -> (out_pos, out_h)``.
        schedule: the noise schedule.
        parameterization: what the network predicts.
        batch: (N,) graph index; num_graphs: B.
        com_free: project the position noise onto the zero-CoM subspace (free molecules;
            ``False`` for a ligand in a fixed pocket frame). context: extra denoiser kwargs.
        x0_transforms: guidance, ``f(x0 (N, 3), h0 (N, F), t) -> (N, 3)`` each, applied in order
            to the clean positions implied by the prediction at every step; the step continues
            from the result (:mod:`moldiff.diffusion.guidance`: keeping the ligand in its pocket,
            clash, connectivity and energy guidance; docking's projection onto conformers).
    """

    def __init__(self, denoiser, schedule: VPSchedule, parameterization: str, batch: torch.Tensor, num_graphs: int,
                 *, com_free: bool = True, context: dict | None = None, x0_transforms=()):
        self.denoiser, self.schedule, self.parameterization = denoiser, schedule, parameterization
        self.x0_transforms = list(x0_transforms)
        self.batch, self.num_graphs = batch, num_graphs
        self.com_free, self.context = com_free, context or {}

    def __call__(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tb = t.expand(self.num_graphs).to(z.dtype)
        out_pos, out_h = self.denoiser(z[:, :3], z[:, 3:], tb, self.batch, self.num_graphs, **self.context)
        out = torch.cat([out_pos, out_h], dim=-1)
        alpha, sigma = self.schedule.alpha(t).to(z.dtype), self.schedule.sigma(t).to(z.dtype)
        eps = output_to_eps(out, z, alpha, sigma, self.parameterization)
        if self.x0_transforms:  # guidance: move the implied clean structure, continue from it
            x0 = (z[:, :3] - sigma * eps[:, :3]) / alpha
            h0 = (z[:, 3:] - sigma * eps[:, 3:]) / alpha
            for transform in self.x0_transforms:
                x0 = transform(x0, h0, t)
            eps = torch.cat([(z[:, :3] - alpha * x0) / sigma, eps[:, 3:]], dim=-1)
        return _project(eps, self.batch, self.num_graphs, self.com_free)


class FixedFeatures:
    """Condition an ``eps_fn`` on known atom features (replacement / "inpainting").

    Before every denoiser call the feature columns of ``z`` are replaced by the known
    features noised to the current time, ``alpha_t h + sigma_t n`` (fresh ``n`` each call),
    which is exactly the input distribution the network saw in training; the returned
    feature noise is the one used, so the samplers' feature columns stay consistent.
    Positions are generated as usual. Used for docking (atom types fixed, pose generated).
    """

    def __init__(self, eps_fn, schedule: VPSchedule, h: torch.Tensor, generator: torch.Generator | None = None):
        self.eps_fn, self.schedule, self.h, self.generator = eps_fn, schedule, h, generator

    def __call__(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha, sigma = self.schedule.alpha(t).to(z.dtype), self.schedule.sigma(t).to(z.dtype)
        n = torch.randn(self.h.shape, generator=self.generator, dtype=z.dtype, device=z.device)
        eps = self.eps_fn(torch.cat([z[:, :3], alpha * self.h + sigma * n], dim=1), t)
        return torch.cat([eps[:, :3], n], dim=1)


class KnownAtoms:
    """Condition an ``eps_fn`` on some atoms given in full (inpainting: fragment growing).

    ``mask`` (N,) marks the given atoms and ``known`` (N, 3 + F) holds their clean packed state
    ``[pos | h]`` (rows outside the mask are ignored). Before every denoiser call the given rows
    of ``z`` are replaced by the known state noised to the current time, ``alpha_t x + sigma_t n``
    (fresh ``n``; the replacement of Lugmayr et al. 2022, RePaint, without resampling), so the
    network sees the rest of the molecule next to the kept atoms as in training. For those rows
    the returned noise is the one that makes the sampler's own state imply the known clean state,
    ``(z - alpha_t x) / sigma_t``: every sampler step moves them onto it, and the last step ends
    on it. The free atoms are generated as usual.
    """

    def __init__(self, eps_fn, schedule: VPSchedule, known: torch.Tensor, mask: torch.Tensor,
                 generator: torch.Generator | None = None):
        self.eps_fn, self.schedule, self.known, self.mask, self.generator = eps_fn, schedule, known, mask, generator

    def __call__(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha, sigma = self.schedule.alpha(t).to(z.dtype), self.schedule.sigma(t).to(z.dtype)
        known = self.known.to(z.dtype)[self.mask]
        n = torch.randn(known.shape, generator=self.generator, dtype=z.dtype, device=z.device)
        seen = z.clone()
        seen[self.mask] = alpha * known + sigma * n
        eps = self.eps_fn(seen, t).clone()
        eps[self.mask] = (z[self.mask] - alpha * known) / sigma
        return eps


class MolecularNoise:
    """``noise_fn(z, generator)``: Gaussian, CoM-free on the position columns if ``com_free``."""

    def __init__(self, batch: torch.Tensor, num_graphs: int, *, com_free: bool = True):
        self.batch, self.num_graphs, self.com_free = batch, num_graphs, com_free

    def __call__(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
        return _project(eps, self.batch, self.num_graphs, self.com_free)


def guided_pair(denoiser, scale: float, pos, h, t, batch, num_graphs: int, **paired_context):
    """Classifier-free guidance in one network call: the B molecules twice, as graphs 0..B-1
    (conditioned) and B..2B-1 (unconditioned; ``paired_context`` says how the network tells
    them apart), mixed as ``out_u + scale * (out_c - out_u)``."""
    b = num_graphs
    out_pos, out_h = denoiser(torch.cat([pos, pos]), torch.cat([h, h]), torch.cat([t, t]),
                              torch.cat([batch, batch + b]), 2 * b, **paired_context)
    n = len(pos)
    return (out_pos[n:] + scale * (out_pos[:n] - out_pos[n:]),
            out_h[n:] + scale * (out_h[:n] - out_h[n:]))


class ClassifierFreeGuidance(torch.nn.Module):
    """A conditional denoiser steered by classifier-free guidance (Ho & Salimans 2022).

    ``out = out_u + scale * (out_c - out_u)``: ``out_c`` with the condition, ``out_u`` without
    it (the same network, trained with condition dropout). ``scale`` 1 is the plain conditional
    model, 0 the unconditional one, > 1 follows the condition more closely at some cost in
    diversity (and, measured, in validity). Every parameterisation is linear in the network
    output, so mixing outputs mixes the implied noise the same way. For ``scale`` other than 0
    and 1 the two passes run as one batch of 2B molecules.

    Args:
        denoiser: ``(pos, h, t, batch, num_graphs, condition=, condition_mask=) -> (out_pos, out_h)``.
        condition: (B, C) normalised condition values. scale: guidance scale (>= 0).
    """

    def __init__(self, denoiser, condition: torch.Tensor, scale: float = 1.0) -> None:
        super().__init__()
        self.denoiser, self.condition, self.scale = denoiser, condition, float(scale)

    def forward(self, pos, h, t, batch, num_graphs=None, **context):
        b = len(self.condition) if num_graphs is None else num_graphs
        if self.scale == 1.0:
            return self.denoiser(pos, h, t, batch, b, condition=self.condition, **context)
        if self.scale == 0.0:
            return self.denoiser(pos, h, t, batch, b, condition=None, **context)
        mask = torch.cat([torch.ones(b, dtype=torch.bool, device=pos.device),
                          torch.zeros(b, dtype=torch.bool, device=pos.device)])
        return guided_pair(self.denoiser, self.scale, pos, h, t, batch, b,
                           condition=torch.cat([self.condition, self.condition]), condition_mask=mask, **context)


class PocketFreeGuidance(torch.nn.Module):
    """A pocket-conditioned denoiser steered by classifier-free guidance on the pocket.

    ``out = out_u + scale * (out_p - out_u)``: ``out_p`` with the pocket, ``out_u`` with no
    pocket atoms (the ligand alone, as the network saw the complexes whose pocket was dropped
    in training: ``conditioning.pocket_drop_prob``). ``scale`` 1 is the plain pocket model, 0
    the pocket-free one; the two passes of other scales run as one batch of 2B ligands, the
    pocket atoms attached to the first B only. The network sees relative vectors only, so the
    pocket-free pass works in the pocket's frame unchanged.

    Args:
        denoiser: ``(pos, h, t, batch, num_graphs, pocket_pos=, pocket_h=, pocket_batch=) -> (out_pos, out_h)``
            (:class:`~moldiff.nn.pocket_egnn.PocketEGNNDenoiser`). scale: guidance scale (>= 0).
    """

    def __init__(self, denoiser, scale: float = 1.0) -> None:
        super().__init__()
        self.denoiser, self.scale = denoiser, float(scale)

    def forward(self, pos, h, t, batch, num_graphs=None, *, pocket_pos, pocket_h, pocket_batch, **context):
        b = int(batch.max()) + 1 if num_graphs is None else num_graphs
        if self.scale == 1.0:
            return self.denoiser(pos, h, t, batch, b, pocket_pos=pocket_pos, pocket_h=pocket_h,
                                 pocket_batch=pocket_batch, **context)
        if self.scale == 0.0:
            return self.denoiser(pos, h, t, batch, b, pocket_pos=pocket_pos[:0], pocket_h=pocket_h[:0],
                                 pocket_batch=pocket_batch[:0], **context)
        return guided_pair(self.denoiser, self.scale, pos, h, t, batch, b, pocket_pos=pocket_pos,
                           pocket_h=pocket_h, pocket_batch=pocket_batch, **context)
