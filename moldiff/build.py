"""Config sections become networks, schedules and codecs (registries by short name); the
training objects built from a whole run config are :mod:`moldiff.training.build`."""
from __future__ import annotations

from moldiff.config import DiffusionConfig, ModelConfig, TrainConfig


def build_codec(cfg: DiffusionConfig, num_types: int):
    from moldiff.diffusion.features import FeatureCodec

    return FeatureCodec(num_types, type_scale=cfg.type_scale, charge_scale=cfg.charge_scale)


def build_schedule(cfg: DiffusionConfig):
    from moldiff.diffusion.schedule import CosineSchedule, PolynomialSchedule

    if cfg.schedule == "polynomial":
        return PolynomialSchedule(power=cfg.power, precision=cfg.precision)
    return CosineSchedule(precision=cfg.precision)


def build_denoiser(cfg: ModelConfig, num_features: int, context_dim: int = 0):
    """The denoiser named by ``cfg.name`` with explicit keyword arguments (``context_dim``:
    conditioning values per molecule, EGNN only)."""
    from moldiff.nn import E3NNDenoiser, EGNNDenoiser

    if cfg.name == "pocket_egnn":
        from moldiff.diffusion.pocket import POCKET_FEATURES
        from moldiff.nn.pocket_egnn import PocketEGNNDenoiser

        return PocketEGNNDenoiser(
            num_features,
            POCKET_FEATURES,
            hidden=cfg.hidden,
            layers=cfg.layers,
            coords_range=cfg.coords_range,
            norm_factor=cfg.norm_factor,
            attention=cfg.attention,
            cutoff=8.0 if cfg.cutoff is None else cfg.cutoff,
            pocket_cutoff=cfg.pocket_cutoff,
            pocket_norm_factor=cfg.pocket_norm_factor,
            contact_radius=cfg.contact_radius,
        )
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
            context_dim=context_dim,
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


def is_bond_model(cfg: TrainConfig) -> bool:
    """The family that generates bonds with the atoms (:mod:`moldiff.diffusion.flow`)."""
    return cfg.model.name == "bond_egnn"


def build_bond_network(cfg: ModelConfig, num_types: int, num_charges: int, num_bonds: int):
    """The joint atoms/charges/bonds denoiser (:class:`~moldiff.nn.bond_egnn.BondEGNN`)."""
    from moldiff.nn.bond_egnn import BondEGNN

    return BondEGNN(num_types, num_charges, num_bonds, hidden=cfg.hidden, edge_hidden=cfg.edge_hidden,
                    layers=cfg.layers, num_rbf=cfg.num_rbf, coords_range=cfg.coords_range,
                    norm_factor=cfg.norm_factor, self_condition=cfg.self_condition)
