"""Diffusion core: schedules, noise, features, loss, samplers (pure functions)."""
from moldiff.diffusion.features import FeatureCodec
from moldiff.diffusion.loss import diffusion_loss
from moldiff.diffusion.noise import com_free_noise, remove_mean
from moldiff.diffusion.sampler import SAMPLERS, get_sampler, sample_ddim, sample_ddpm, sample_dpm2m
from moldiff.diffusion.schedule import CosineSchedule, PolynomialSchedule, VPSchedule, build_schedule

__all__ = [
    "SAMPLERS",
    "CosineSchedule",
    "FeatureCodec",
    "PolynomialSchedule",
    "VPSchedule",
    "build_schedule",
    "com_free_noise",
    "diffusion_loss",
    "get_sampler",
    "remove_mean",
    "sample_ddim",
    "sample_ddpm",
    "sample_dpm2m",
]
