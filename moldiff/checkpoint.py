"""The checkpoint format: what a moldiff checkpoint or model file holds, reading it safely, and
writing the file a model is shipped or shared as.

A file is ``{"moldiff": metadata, "state_dict": tensors}``; the metadata is plain data
(``format``, ``schema_version``, ``task``, ``elements``, the full training ``config``,
``training`` progress). Files are read with ``weights_only=True``
(:func:`moldiff.serialization.load_tensors`): loading never runs code from the file.

* :func:`read_checkpoint` -- read and check a file;
* :func:`export_model` -- a training checkpoint stripped to what sampling needs;
* :func:`release_model` -- a shipped model file and its card from a checkpoint and a config
  (sampling defaults come from the config, never from editing the file afterwards).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from moldiff.errors import InputError

#: checkpoint formats this module reads (written by moldiff.training.module and export_model)
CHECKPOINT_FORMAT = "moldiff.diffusion"
SCHEMA_VERSION = 1
#: prefix of the EMA weights in a training checkpoint's state dict
EMA_PREFIX = "ema.module."


def read_checkpoint(path: str | Path) -> dict:
    """A moldiff checkpoint or model file, checked (format, schema, metadata, tensors only)."""
    from moldiff.serialization import load_tensors

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file")
    ckpt = load_tensors(path, "checkpoint")  # tensors and plain data only: never runs code from the file
    if not isinstance(ckpt, dict) or "moldiff" not in ckpt or "state_dict" not in ckpt:
        raise InputError(f"{path}: not a moldiff checkpoint (no moldiff metadata)")
    meta = ckpt["moldiff"]
    if not isinstance(meta, dict) or not isinstance(ckpt["state_dict"], dict):
        raise InputError(f"{path}: not a moldiff checkpoint (malformed metadata)")
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path}: a moldiff checkpoint of another kind ({meta.get('format')})")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise InputError(f"{path}: checkpoint schema {meta.get('schema_version')} is not supported "
                         f"(this moldiff reads schema {SCHEMA_VERSION})")
    bad = [k for k, tp in (("config", dict), ("elements", list)) if not isinstance(meta.get(k), tp)]
    bad += [k for k, v in ckpt["state_dict"].items() if not isinstance(v, torch.Tensor)][:1]
    if bad:
        raise InputError(f"{path}: damaged moldiff checkpoint (bad or missing {', '.join(map(str, bad))})")
    return ckpt


def stored_config(meta: dict, path: str | Path):
    """The :class:`~moldiff.config.TrainConfig` a checkpoint was trained with. Files written
    before the data and model sections became tagged unions stored every data set's and every
    network's keys; those that do not belong to the section's ``name`` are dropped here."""
    import dataclasses
    import typing

    from moldiff.config import DataConfig, ModelConfig, TrainConfig, from_dict
    from moldiff.schema import tag_of

    config = dict(meta["config"])
    for key, union in (("data", DataConfig), ("model", ModelConfig)):
        section = config.get(key)
        if not isinstance(section, dict):
            continue
        members = typing.get_args(union)
        cls = {tag_of(m): m for m in members}.get(section.get("name", tag_of(members[0])))
        if cls is not None:
            names = {f.name for f in dataclasses.fields(cls)}
            config[key] = {k: v for k, v in section.items() if k in names}
    return from_dict(TrainConfig, config, where=f"{path} (stored config)")


def ema_weights(state: dict) -> dict:
    """The EMA network's weights of a checkpoint state dict, with the ``ema.module.`` prefix removed."""
    return {k[len(EMA_PREFIX):]: v for k, v in state.items() if k.startswith(EMA_PREFIX)}


def resolve_model(path: str | Path | None) -> tuple[Path, dict]:
    """``None`` or a shipped model's name -> (its file, its card); a path -> (path, {})."""
    from moldiff import pretrained

    if path is None or (str(path) in pretrained.MODELS and not Path(path).is_file()):
        name = pretrained.DEFAULT if path is None else str(path)
        return pretrained.model_path(name), {"name": name, **pretrained.model_card(name)}
    return Path(path), {}


def export_model(checkpoint: str | Path, output: str | Path, *, meta: dict | None = None) -> dict:
    """Strip a training checkpoint to what sampling needs (EMA weights, config, atom-count
    histogram, training progress) and write it atomically. Returns the stored metadata
    (``meta``: metadata to store instead of the checkpoint's, e.g. with new sampling defaults).

    A 128 x 6 EGNN goes from ~13 MB (weights, EMA, optimiser state) to ~2.6 MB.
    """
    from moldiff.paths import atomic_path

    checkpoint, output = Path(checkpoint), Path(output)
    ckpt = read_checkpoint(checkpoint)
    state = {k: v for k, v in ckpt["state_dict"].items()
             if k.startswith(EMA_PREFIX) or k in ("num_atoms_hist", "size_pairs", "charges")
             or k.startswith("prior_") or k.startswith("condition_")}
    if not ema_weights(state):
        raise InputError(f"{checkpoint}: checkpoint has no EMA weights to export")
    meta = dict(ckpt["moldiff"] if meta is None else meta)
    meta.setdefault("training", {"epoch": ckpt.get("epoch"), "global_step": ckpt.get("global_step"),
                                 "source": checkpoint.name})
    with atomic_path(output) as tmp:
        torch.save({"moldiff": meta, "state_dict": state}, tmp)
    return meta


def release_model(checkpoint: str | Path, output: str | Path, *, sampling: dict | None = None,
                  card: dict | None = None) -> dict:
    """Write a model file to ship (:func:`export_model`) whose stored config carries the
    sampling defaults ``sampling`` (keys of :class:`moldiff.config.SamplingConfig`, validated),
    and its card next to it (``output`` with ``.json``: ``card`` as given -- the data, hardware
    and measured figures; :func:`moldiff.api.load` adds the file's training progress).

    This is how every shipped model is made: ``moldiff model release configs/release/NAME.yaml``
    (:class:`~moldiff.config.ReleaseConfig`). Returns the stored metadata.
    """
    from moldiff.config import SamplingConfig, from_dict, merge, to_dict
    from moldiff.paths import atomic_path

    checkpoint, output = Path(checkpoint), Path(output)
    ckpt = read_checkpoint(checkpoint)
    meta = dict(ckpt["moldiff"])
    cfg = stored_config(meta, checkpoint)
    if sampling:
        merged = merge(to_dict(cfg.sampling), sampling)
        cfg.sampling = from_dict(SamplingConfig, merged, where="release sampling defaults", prefix="sampling.")
    meta["config"] = to_dict(cfg)
    meta = export_model(checkpoint, output, meta=meta)
    if card is not None:
        with atomic_path(output.with_suffix(".json")) as tmp:
            Path(tmp).write_text(json.dumps(card, indent=1) + "\n")
    return meta
