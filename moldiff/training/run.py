"""Run a training job from a :class:`~moldiff.config.TrainConfig`."""
from __future__ import annotations

import logging
from pathlib import Path

import yaml

from moldiff.config import TrainConfig, to_dict
from moldiff.errors import InputError

log = logging.getLogger(__name__)


def _loggers(cfg: TrainConfig, out: Path):
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

    # a new version_N folder per (re)start: a resumed run never overwrites earlier logs
    loggers = [CSVLogger(str(out), name="logs")]
    if cfg.trainer.tensorboard:
        try:
            loggers.append(TensorBoardLogger(str(out), name="tensorboard"))
        except ModuleNotFoundError:
            log.info("tensorboard is not installed; logging to CSV only (pip install tensorboard)")
    return loggers


def read_metrics(out: str | Path) -> list[dict]:
    """All rows of a run's CSV logs (``logs/version_*/metrics.csv``), oldest session first."""
    import csv

    rows: list[dict] = []
    folders = sorted(Path(out, "logs").glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    for folder in folders:
        if (folder / "metrics.csv").is_file():
            with open(folder / "metrics.csv") as fh:
                rows.extend(csv.DictReader(fh))
    return rows


def last_checkpoint(out: Path) -> Path | None:
    """The checkpoint a resumed run continues from (``checkpoints/last.ckpt``), if any."""
    path = out / "checkpoints" / "last.ckpt"
    return path if path.is_file() else None


def init_weights(module, path: str | Path) -> None:
    """Copy the EMA weights of a moldiff checkpoint into ``module`` (network and EMA).

    For fine-tuning or changing the recipe (e.g. the parameterisation) of a trained model;
    the optimiser, schedule and step counter start fresh.
    """
    from moldiff.api import _read_checkpoint, ema_weights

    weights = ema_weights(_read_checkpoint(Path(path))["state_dict"])
    try:
        module.denoiser.load_state_dict(weights)
        module.ema.module.load_state_dict(weights)
    except RuntimeError as exc:
        raise InputError(f"{path}: weights do not fit this model ({str(exc).splitlines()[0]})") from exc
    # the EMA restarts (with its warm-up) from these weights: the new recipe may change what they mean


def _trainer(cfg: TrainConfig, out: Path, callbacks: list, progress: bool = True):
    import pytorch_lightning as pl

    t = cfg.trainer
    return pl.Trainer(
        default_root_dir=str(out),
        max_epochs=t.max_epochs,
        max_steps=t.max_steps,
        max_time=t.max_time,
        accelerator=t.accelerator,
        devices=t.devices,
        strategy=t.strategy,
        num_nodes=t.num_nodes,
        precision=t.precision,
        gradient_clip_val=cfg.optim.grad_clip,
        log_every_n_steps=t.log_every_n_steps,
        check_val_every_n_epoch=t.check_val_every_n_epoch,
        limit_val_batches=t.limit_val_batches,
        deterministic=t.deterministic,
        logger=_loggers(cfg, out),
        callbacks=callbacks,
        enable_model_summary=False,
        enable_progress_bar=progress,
    )


def train(cfg: TrainConfig, *, callbacks=(), progress: bool = True, datamodule=None) -> Path:
    """Train, checkpointing into ``cfg.trainer.output_dir``; resumes from ``last.ckpt``
    (or starts from ``trainer.init_from``'s weights). ``progress``: Lightning's progress bar.
    ``datamodule``: data built by the caller (e.g. from arrays carried to a GPU machine)
    instead of the one ``cfg.data`` names; ``cfg.data`` is still stored as the run's record.

    Returns the path of the last checkpoint.
    """
    import pytorch_lightning as pl
    from lightning_fabric.utilities.exceptions import MisconfigurationException
    from pytorch_lightning.callbacks import ModelCheckpoint

    from moldiff.build import build_datamodule, build_module, check_task, is_pocket_task
    from moldiff.data.qm9 import QM9_ELEMENTS
    from moldiff.training.callbacks import SampleEvaluateCallback

    check_task(cfg)
    if cfg.trainer.matmul_precision:  # a Literal: checked when the config is read
        import torch

        torch.set_float32_matmul_precision(cfg.trainer.matmul_precision)
    out = Path(cfg.trainer.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    dm = build_datamodule(cfg.data) if datamodule is None else datamodule
    if is_pocket_task(cfg):
        module = build_module(cfg, dm.elements, dm.stats.num_atoms_hist, size_pairs=dm.size_pairs)
    else:
        module = build_module(cfg, QM9_ELEMENTS, dm.stats.num_atoms_hist)
    if cfg.trainer.compile:
        module.denoiser.compile()  # in place: state-dict keys (and checkpoints) stay the same
    ckpt_dir = out / "checkpoints"
    best = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val/loss", mode="min", save_top_k=1,
                           enable_version_counter=False)
    last = ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, monitor=None,
                           every_n_train_steps=cfg.trainer.checkpoint_every_n_steps, enable_version_counter=False)
    # sample-and-evaluate during training: free molecules only (pocket models are scored by benchmarks)
    sample_cb = [] if is_pocket_task(cfg) else [SampleEvaluateCallback(
        cfg.sampling.every_n_epochs, cfg.sampling.num_samples, cfg.sampling.steps, cfg.sampling.sampler,
        cfg.sampling.batch_size, cfg.sampling.seed, out_dir=out / "samples",
        time_power=cfg.sampling.time_power)]
    t = cfg.trainer
    try:
        trainer = _trainer(cfg, out, [best, last, *sample_cb, *callbacks], progress)
    except MisconfigurationException as exc:  # e.g. accelerator: gpu on a machine without one
        raise InputError(f"trainer settings: {exc}") from exc
    if trainer.is_global_zero:
        (out / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    resume = last_checkpoint(out) if t.resume else None
    if resume is not None:
        log.info("resuming from %s", resume)
    elif t.init_from:
        init_weights(module, t.init_from)
        log.info("initialised the weights from %s", t.init_from)
    trainer.fit(module, datamodule=dm, ckpt_path=str(resume) if resume else None)
    if trainer.global_step != getattr(last, "_last_global_step_saved", None):
        # a run that ends at max_steps/max_time between two periodic saves keeps its last steps
        trainer.save_checkpoint(ckpt_dir / "last.ckpt")
    return ckpt_dir / "last.ckpt"
