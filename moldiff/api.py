"""Public Python API: load a trained model and sample molecules.

    >>> import moldiff
    >>> model = moldiff.load()                      # the shipped QM9 model
    >>> model = moldiff.load("runs/qm9/checkpoints/best.ckpt")
    >>> mols = model.sample(n=10, steps=100, seed=0)   # RDKit molecules with 3D conformers

The model classes are :mod:`moldiff.models`, the file format :mod:`moldiff.checkpoint`, the
design policy :mod:`moldiff.ligand_design`, options :mod:`moldiff.options`; this module builds a
model from a file (:func:`load`) and re-exports what a user script needs.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from moldiff.checkpoint import export_model, read_checkpoint, release_model, resolve_model  # noqa: F401
from moldiff.errors import InputError
from moldiff.models import BondModel, MolDiffModel, PocketModel, TrainedModel  # noqa: F401
from moldiff.options import DesignOptions, DockOptions, SamplingOptions  # noqa: F401

log = logging.getLogger(__name__)


def load(path: str | Path | None = None,
         device: str | torch.device = "cpu") -> MolDiffModel | PocketModel | BondModel:
    """Load a trained model: the shipped QM9 model (``path=None`` or ``"qm9"``), a training
    checkpoint (``last.ckpt`` / ``best.ckpt``: its EMA weights) or an exported model file.

    Lightning is not imported; sampling needs only the denoiser, schedule and codec.

    Raises:
        InputError: missing, corrupt, foreign or incompatible checkpoint; unusable device.
    """
    from moldiff.build import build_codec, build_denoiser, build_schedule
    from moldiff.checkpoint import ema_weights, stored_config

    path, card = resolve_model(path)
    try:
        device = torch.device(device)
    except RuntimeError as exc:
        raise InputError(f"invalid device {device!r}: {exc}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device} requested but CUDA is not available here; use --device cpu")
    ckpt = read_checkpoint(path)
    meta, state = ckpt["moldiff"], ckpt["state_dict"]
    cfg = stored_config(meta, path)
    elements = tuple(meta["elements"])
    card = {**card, "file": str(path), "training": {**card.get("training", {}), **meta.get("training", {})}}
    if meta.get("task") == "bonds":
        return _load_bond_model(path, cfg, meta, state, elements, card, device)
    codec = build_codec(cfg.diffusion, len(elements))
    properties = list(cfg.conditioning.properties)
    denoiser = build_denoiser(cfg.model, codec.num_features, context_dim=len(properties))
    try:
        denoiser.load_state_dict(ema_weights(state))
    except RuntimeError as exc:
        raise InputError(f"{path}: weights do not match the stored config ({str(exc).splitlines()[0]})") from exc
    if "num_atoms_hist" not in state:
        raise InputError(f"{path}: checkpoint has no atom-count histogram")
    sampling = cfg.sampling
    if meta.get("task", "molecules") == "pocket":
        model = PocketModel(denoiser, build_schedule(cfg.diffusion), codec, elements, state["num_atoms_hist"].numpy(),
                            state.get("size_pairs", torch.zeros(2, 0)), parameterization=cfg.diffusion.parameterization,
                            default_steps=sampling.steps, radius=getattr(cfg.data, "radius", 10.0), default_sampler=sampling.sampler,
                            default_time_power=sampling.time_power, default_noise_scale=sampling.noise_scale,
                            config=meta["config"], card=card)
        model.denoiser.to(device)
        return model
    conditioning = None
    if properties:
        missing = [k for k in ("condition_mean", "condition_mad", "condition_table") if k not in state]
        if missing:
            raise InputError(f"{path}: property-conditioned model without {', '.join(missing)}")
        conditioning = {"properties": properties, "mean": state["condition_mean"], "mad": state["condition_mad"],
                        "table": state["condition_table"], "guidance_scale": cfg.conditioning.guidance_scale}
    model = MolDiffModel(denoiser, build_schedule(cfg.diffusion), codec, elements, state["num_atoms_hist"].numpy(),
                         parameterization=cfg.diffusion.parameterization, default_steps=sampling.steps,
                         default_sampler=sampling.sampler, default_time_power=sampling.time_power,
                         default_noise_scale=sampling.noise_scale, conditioning=conditioning,
                         config=meta["config"], card=card)
    model.denoiser.to(device)
    return model


def _load_bond_model(path, cfg, meta, state, elements, card, device) -> BondModel:
    from moldiff.build import build_bond_network
    from moldiff.checkpoint import ema_weights

    needed = ["prior_atom_type", "prior_charge", "prior_bond_type", "charges", "num_atoms_hist"]
    missing = [k for k in needed if k not in state]
    if missing:
        raise InputError(f"{path}: bond-model checkpoint without {', '.join(missing)}")
    priors = {k: state[f"prior_{k}"] for k in ("atom_type", "charge", "bond_type")}
    network = build_bond_network(cfg.model, len(elements), len(state["charges"]), len(priors["bond_type"]))
    try:
        network.load_state_dict(ema_weights(state))
    except RuntimeError as exc:
        raise InputError(f"{path}: weights do not match the stored config ({str(exc).splitlines()[0]})") from exc
    model = BondModel(network, elements, state["num_atoms_hist"].numpy(), priors, state["charges"].tolist(),
                      coord_scale=cfg.flow.coord_scale, default_steps=cfg.sampling.steps,
                      default_time_power=cfg.sampling.time_power, cat_noise=cfg.flow.cat_noise,
                      last_step=cfg.flow.last_step,
                      config=meta["config"], card=card)
    model.denoiser.to(device)
    return model


def __getattr__(name: str):
    if name == "mark_validity":  # needs RDKit: imported when asked for
        from moldiff.chem.validity import mark_validity

        return mark_validity
    raise AttributeError(f"module 'moldiff.api' has no attribute {name!r}")
