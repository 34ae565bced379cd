"""Samplers as pure functions of ``(eps_fn, schedule, z_init, steps)``.

``eps_fn(z, t) -> eps_pred`` predicts the noise in ``z`` at time ``t`` (a 0-dim tensor,
``t = 1`` noise, ``t = 0`` data). Conditioning, guidance and output parameterisation
are wrappers around the denoiser (see :mod:`moldiff.diffusion.wrappers`), never flags
here. ``noise_fn(z, generator)`` draws noise shaped like ``z`` (e.g. CoM-free for
positions); by default a standard Gaussian. A ``torch.Generator`` makes a run exact
to reproduce; ``callback(i, t, z, x0_pred)`` sees every step (trajectories).

Equations for a VP process, steps s < t (Kingma et al. 2021, Variational Diffusion
Models, Eq. 26-29; Song et al. 2021, DDIM, Eq. 12 with eta = 0; Lu et al. 2022,
DPM-Solver++, for the second-order multistep SDE step).
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from moldiff.diffusion.schedule import VPSchedule

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
NoiseFn = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]
Callback = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], None]


def _default_noise(z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)


def time_grid(steps: int, power: float = 1.0, dtype=torch.float64, device=None) -> torch.Tensor:
    """``steps + 1`` times from 1 down to 0: ``t_i = u_i ** power`` over a uniform ``u``.

    ``power = 1`` is the uniform grid; ``power > 1`` spends more of the steps at low noise,
    where the fine geometry (bond lengths, hydrogens) is settled.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not power > 0:
        raise ValueError(f"time-grid power must be positive, got {power}")
    return torch.linspace(1.0, 0.0, steps + 1, dtype=dtype, device=device) ** power


@torch.no_grad()
def sample_ddpm(
    eps_fn: EpsFn,
    schedule: VPSchedule,
    z_init: torch.Tensor,
    steps: int,
    *,
    noise_fn: NoiseFn | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    time_power: float = 1.0,
    noise_scale: float = 1.0,
) -> torch.Tensor:
    """Ancestral sampling of p(z_s | z_t) from t = 1 to t = 0 in ``steps`` steps.

    The last step (to s = 0) returns the posterior mean, i.e. the model's x0 estimate
    moved to t = 0, without adding noise. ``time_power``: the step grid (:func:`time_grid`).
    ``noise_scale``: multiplies the noise added at each step (< 1: a lower-temperature
    sampler that trades diversity for stability; 1: the model's distribution).
    """
    noise_fn = noise_fn or _default_noise
    grid = time_grid(steps, time_power, device=z_init.device)
    z = z_init
    for i in range(steps):
        t, s = grid[i], grid[i + 1]
        a_t, a_s = schedule.alpha(t), schedule.alpha(s)
        sig2_t, sig2_s = schedule.sigma(t) ** 2, schedule.sigma(s) ** 2
        a_ts = a_t / a_s
        sig2_ts = sig2_t - a_ts**2 * sig2_s
        eps = eps_fn(z, t.to(z.dtype))
        if callback is not None:
            callback(i, t, z, ((z - sig2_t.sqrt() * eps) / a_t).to(z.dtype))
        mean = z / a_ts - (sig2_ts / (a_ts * sig2_t.sqrt())) * eps
        if i + 1 < steps:
            std = (sig2_ts * sig2_s / sig2_t).sqrt()
            z = (mean + noise_scale * std * noise_fn(z, generator)).to(z.dtype)
        else:
            z = mean.to(z.dtype)
    return z


@torch.no_grad()
def sample_ddim(
    eps_fn: EpsFn,
    schedule: VPSchedule,
    z_init: torch.Tensor,
    steps: int,
    *,
    noise_fn: NoiseFn | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    time_power: float = 1.0,
    noise_scale: float = 1.0,
) -> torch.Tensor:
    """Deterministic DDIM (eta = 0): ``z_s = alpha_s x0_pred + sigma_s eps_pred``.

    Given ``z_init`` the result is deterministic; ``noise_fn``, ``generator`` and
    ``noise_scale`` are accepted for a uniform signature and unused. ``time_power``: the
    step grid (:func:`time_grid`).
    """
    grid = time_grid(steps, time_power, device=z_init.device)
    z = z_init
    for i in range(steps):
        t, s = grid[i], grid[i + 1]
        eps = eps_fn(z, t.to(z.dtype))
        x0 = (z - schedule.sigma(t) * eps) / schedule.alpha(t)
        if callback is not None:
            callback(i, t, z, x0.to(z.dtype))
        z = (schedule.alpha(s) * x0 + schedule.sigma(s) * eps).to(z.dtype) if i + 1 < steps else x0.to(z.dtype)
    return z


@torch.no_grad()
def sample_dpm2m(
    eps_fn: EpsFn,
    schedule: VPSchedule,
    z_init: torch.Tensor,
    steps: int,
    *,
    noise_fn: NoiseFn | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    time_power: float = 1.0,
    noise_scale: float = 1.0,
) -> torch.Tensor:
    """Second-order multistep stochastic sampler, one network call per step
    (DPM-Solver++(2M) SDE, Lu et al. 2022; the midpoint form of k-diffusion).

    Written in the half log-SNR ``lambda = log(alpha / sigma)`` with ``h = lambda_s - lambda_t``,
    the first-order part of a step is exactly :func:`sample_ddpm`'s posterior step::

        z_s = (sigma_s / sigma_t) e^-h z_t + alpha_s (1 - e^-2h) x0_t + sigma_s sqrt(1 - e^-2h) n

    and from the second step on the clean estimate is extrapolated along the previous one,
    ``x0_t + (h / 2 h_prev) (x0_t - x0_prev)``, which cancels the first-order error of
    holding ``x0`` fixed over the step. The last step adds no noise. ``time_power`` and
    ``noise_scale`` as for :func:`sample_ddpm`.
    """
    noise_fn = noise_fn or _default_noise
    grid = time_grid(steps, time_power, device=z_init.device)
    z = z_init
    x0_prev = h_prev = None
    for i in range(steps):
        t, s = grid[i], grid[i + 1]
        a_t, sig_t, a_s, sig_s = schedule.alpha(t), schedule.sigma(t), schedule.alpha(s), schedule.sigma(s)
        h = 0.5 * (schedule.log_snr(s) - schedule.log_snr(t))
        eps = eps_fn(z, t.to(z.dtype))
        x0 = (z - sig_t * eps) / a_t
        if callback is not None:
            callback(i, t, z, x0.to(z.dtype))
        keep = -torch.expm1(-2.0 * h)  # 1 - e^-2h
        x0_step = x0 if x0_prev is None else x0 + (0.5 * h / h_prev) * (x0 - x0_prev)
        mean = (sig_s / sig_t) * torch.exp(-h) * z + a_s * keep * x0_step
        if i + 1 < steps:
            z = (mean + noise_scale * sig_s * keep.sqrt() * noise_fn(z, generator)).to(z.dtype)
        else:
            z = mean.to(z.dtype)
        x0_prev, h_prev = x0, h
    return z


SAMPLERS = {"ddpm": sample_ddpm, "ddim": sample_ddim, "dpm2m": sample_dpm2m}


def get_sampler(name: str):
    """A sampler function by short name (``"ddpm"``, ``"ddim"`` or ``"dpm2m"``)."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
    return SAMPLERS[name]
