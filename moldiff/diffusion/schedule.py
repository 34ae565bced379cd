"""Variance-preserving noise schedules in closed form over continuous time.

``t in [0, 1]``, ``t = 0`` is data and ``t = 1`` is (almost) pure noise. Each schedule
defines ``alpha(t)^2``; then ``sigma(t)^2 = 1 - alpha(t)^2`` and
``log_snr(t) = log(alpha^2 / sigma^2)``. A small precision floor ``s`` keeps both
endpoints finite: ``alpha^2 = (1 - 2 s) f(t) + s``, so ``alpha^2(0) = 1 - s`` and
``alpha^2(1) = s`` (EDM's "precision" trick, Hoogeboom et al. 2022, App. B).
No lookup tables: every quantity is a vectorised function of ``t``.
"""
from __future__ import annotations

import math

import torch


class VPSchedule:
    """Base class: subclasses implement :meth:`_f` (the un-floored alpha^2, from 1 to 0)."""

    name = "base"

    def __init__(self, precision: float = 1e-5) -> None:
        if not 0.0 < precision < 0.5:
            raise ValueError(f"precision must be in (0, 0.5), got {precision}")
        self.precision = precision

    def _f(self, t: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def alpha2(self, t: torch.Tensor) -> torch.Tensor:
        """alpha(t)^2, shape of ``t``."""
        t = torch.as_tensor(t)
        s = self.precision
        return (1.0 - 2.0 * s) * self._f(t.clamp(0.0, 1.0)) + s

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """Signal scale alpha(t)."""
        return self.alpha2(t).sqrt()

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """Noise scale sigma(t) = sqrt(1 - alpha(t)^2)."""
        return (1.0 - self.alpha2(t)).sqrt()

    def log_snr(self, t: torch.Tensor) -> torch.Tensor:
        """log(alpha^2 / sigma^2), strictly decreasing in ``t``."""
        a2 = self.alpha2(t)
        return torch.log(a2) - torch.log1p(-a2)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(precision={self.precision})"


class PolynomialSchedule(VPSchedule):
    """EDM's polynomial schedule: ``alpha^2 = (1 - t^power)^2`` (power 2 in the paper)."""

    name = "polynomial"

    def __init__(self, power: float = 2.0, precision: float = 1e-5) -> None:
        super().__init__(precision)
        if power <= 0:
            raise ValueError(f"power must be positive, got {power}")
        self.power = power

    def _f(self, t: torch.Tensor) -> torch.Tensor:
        return (1.0 - t**self.power) ** 2

    def __repr__(self) -> str:
        return f"PolynomialSchedule(power={self.power}, precision={self.precision})"


class CosineSchedule(VPSchedule):
    """Cosine schedule (Nichol & Dhariwal 2021): ``alpha^2 = cos^2(pi/2 (t+s)/(1+s)) / cos^2(pi/2 s/(1+s))``."""

    name = "cosine"

    def __init__(self, offset: float = 0.008, precision: float = 1e-5) -> None:
        super().__init__(precision)
        self.offset = offset

    def _f(self, t: torch.Tensor) -> torch.Tensor:
        s = self.offset
        f = torch.cos(0.5 * math.pi * (t + s) / (1 + s)) ** 2 / math.cos(0.5 * math.pi * s / (1 + s)) ** 2
        return f.clamp(0.0, 1.0)

    def __repr__(self) -> str:
        return f"CosineSchedule(offset={self.offset}, precision={self.precision})"


SCHEDULES = {"polynomial": PolynomialSchedule, "cosine": CosineSchedule}


def build_schedule(name: str, **kwargs) -> VPSchedule:
    """A schedule by short name (``"polynomial"`` or ``"cosine"``)."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    return SCHEDULES[name](**kwargs)
