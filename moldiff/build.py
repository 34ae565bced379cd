"""The one place where config objects become library objects (registries by short name)."""
from __future__ import annotations

from moldiff.config import DiffusionConfig, ModelConfig, QM9DataConfig, TrainConfig


def build_datamodule(cfg: QM9DataConfig):
    """A :class:`~moldiff.data.datamodule.QM9DataModule` from its config section."""
    from moldiff.data.datamodule import QM9DataModule

    return QM9DataModule(
        batch_size=cfg.batch_size,
        num_workers=cfg.num_workers,
        cache=cfg.cache,
        limit_train=cfg.limit_train,
        limit_val=cfg.limit_val,
        limit_test=cfg.limit_test,
        seed=cfg.seed,
    )


def build_codec(cfg: DiffusionConfig, num_types: int):
    from moldiff.diffusion.features import FeatureCodec

    return FeatureCodec(num_types, type_scale=cfg.type_scale, charge_scale=cfg.charge_scale)


def build_schedule(cfg: DiffusionConfig):
    from moldiff.diffusion.schedule import CosineSchedule, PolynomialSchedule

    if cfg.schedule == "polynomial":
        return PolynomialSchedule(power=cfg.power, precision=cfg.precision)
    return CosineSchedule(precision=cfg.precision)


def build_denoiser(cfg: ModelConfig, num_features: int):
    """The denoiser named by ``cfg.name`` with explicit keyword arguments."""
    from moldiff.nn import E3NNDenoiser, EGNNDenoiser

    if cfg.name == "egnn":
        return EGNNDenoiser(
            num_features,
            hidden=cfg.hidden,
            layers=cfg.layers,
            coords_range=cfg.coords_range,
            norm_factor=cfg.norm_factor,
            attention=cfg.attention,
            cutoff=cfg.cutoff,
            max_neighbors=cfg.max_neighbors,
        )
    return E3NNDenoiser(
        num_features,
        scalars=cfg.hidden,
        vectors=cfg.vectors,
        layers=cfg.layers,
        num_basis=cfg.num_basis,
        cutoff=cfg.cutoff,
        max_neighbors=cfg.max_neighbors,
    )


def build_module(cfg: TrainConfig, elements: tuple[str, ...], num_atoms_hist):
    """The LightningModule of a run (denoiser, schedule, codec and optimiser settings)."""
    from moldiff.config import to_dict
    from moldiff.training.module import DiffusionModule

    codec = build_codec(cfg.diffusion, len(elements))
    return DiffusionModule(
        denoiser=build_denoiser(cfg.model, codec.num_features),
        schedule=build_schedule(cfg.diffusion),
        codec=codec,
        elements=elements,
        num_atoms_hist=num_atoms_hist,
        parameterization=cfg.diffusion.parameterization,
        lr=cfg.optim.lr,
        weight_decay=cfg.optim.weight_decay,
        ema_decay=cfg.optim.ema_decay,
        lr_schedule=cfg.optim.lr_schedule,
        warmup_steps=cfg.optim.warmup_steps,
        run_config=to_dict(cfg),
    )
