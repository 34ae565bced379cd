"""Run a training job from a :class:`~moldiff.config.TrainConfig`."""
from __future__ import annotations

import logging
from pathlib import Path

import yaml

from moldiff.config import TrainConfig, to_dict
from moldiff.errors import InputError

log = logging.getLogger(__name__)


def _loggers(cfg: TrainConfig, out: Path):
    from pytorch_lightning.loggers import TensorBoardLogger

    from moldiff.training.callbacks import RunCSVLogger

    # a new version_N folder per (re)start: a resumed run never overwrites earlier logs
    loggers = [RunCSVLogger(str(out), name="logs")]
    if cfg.trainer.tensorboard:
        try:
            loggers.append(TensorBoardLogger(str(out), name="tensorboard"))
        except ModuleNotFoundError:
            log.info("tensorboard is not installed; logging to CSV only (pip install tensorboard)")
    return loggers


def read_metrics(out: str | Path) -> list[dict]:
    """The rows of a run's CSV logs (``logs/version_*/metrics.csv``), oldest session first, as
    the run's history: a session that resumed from ``last.ckpt`` at step ``s`` redid every step
    from ``s`` on, so the earlier sessions' rows from step ``s`` on (work lost when a session was
    killed after its last checkpoint) are left out; every step appears once."""
    import csv

    def step(row: dict) -> int | None:
        try:
            return int(float(row["step"]))
        except (KeyError, TypeError, ValueError):
            return None

    rows: list[dict] = []
    folders = sorted((p for p in Path(out, "logs").glob("version_*") if p.name.split("_")[1].isdigit()),
                     key=lambda p: int(p.name.split("_")[1]))
    for folder in folders:
        if not (folder / "metrics.csv").is_file():
            continue
        with open(folder / "metrics.csv", newline="") as fh:
            # a row cut short by a killed process has missing (None) fields: not a row
            session = [r for r in csv.DictReader(fh) if None not in r and None not in r.values()]
        steps = [s for s in map(step, session) if s is not None]
        if steps:
            rows = [r for r in rows if step(r) is None or step(r) < min(steps)]
        rows.extend(session)
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
    from moldiff.checkpoint import ema_weights, read_checkpoint

    weights = ema_weights(read_checkpoint(Path(path))["state_dict"])
    if getattr(module, "condition_names", ()):
        weights = _widen_inputs(module.denoiser.state_dict(), weights, path)
    try:
        module.denoiser.load_state_dict(weights)
        module.ema.module.load_state_dict(weights)
    except RuntimeError as exc:
        raise InputError(f"{path}: weights do not fit this model ({str(exc).splitlines()[0]})") from exc
    # the EMA restarts (with its warm-up) from these weights: the new recipe may change what they mean


def _widen_inputs(own: dict, weights: dict, path) -> dict:
    """Start a conditional model from an unconditional one: a weight matrix that gained input
    columns (the condition channels appended to the input layer) keeps the old columns and
    gets zeros for the new ones, so the network starts as the unconditional model exactly."""
    import torch

    out = dict(weights)
    for key, new in own.items():
        old = weights.get(key)
        if old is not None and old.dim() == 2 and new.dim() == 2 and old.shape[0] == new.shape[0] \
                and old.shape[1] < new.shape[1]:
            wide = torch.zeros_like(new)
            wide[:, :old.shape[1]] = old
            out[key] = wide
            log.info("%s: %s widened from %d to %d inputs (new inputs start at zero weight)",
                     path, key, old.shape[1], new.shape[1])
    return out


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


def check_resumable(path: Path, module) -> None:
    """Raise :class:`InputError` unless ``path`` (a run's ``last.ckpt``) is a complete moldiff
    training checkpoint whose weights fit ``module`` -- before anything of the run is written."""
    from moldiff.serialization import load_tensors

    hint = "use another trainer.output_dir, or trainer.resume=false to start over in this folder"
    try:
        ckpt = load_tensors(path, "checkpoint")
    except InputError as exc:
        raise InputError(f"{exc}; cannot resume from it ({hint})") from None
    state = ckpt.get("state_dict") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or "moldiff" not in ckpt:
        raise InputError(f"{path}: not a moldiff training checkpoint; cannot resume from it ({hint})")
    if "optimizer_states" not in ckpt:
        raise InputError(f"{path}: an exported model (weights only), not a training checkpoint; "
                         f"start from it with trainer.init_from instead ({hint})")
    own = module.state_dict()
    differ = sorted(k for k in own.keys() | state.keys()
                    if k not in own or k not in state or tuple(own[k].shape) != tuple(state[k].shape))
    if differ:
        stored = ckpt["moldiff"].get("config", {}).get("model", {}) if isinstance(ckpt["moldiff"], dict) else {}
        now = module.run_config.get("model", {})
        changed = [f"{k} {stored.get(k)!r} -> {now.get(k)!r}" for k in sorted(now) if stored.get(k) != now.get(k)]
        what = ", ".join(f"model.{c}" for c in changed) if changed else f"{len(differ)} tensors, e.g. {differ[0]}"
        raise InputError(f"{path}: this run folder holds a model of another architecture ({what}); {hint}")


def _check_accelerator(trainer) -> None:
    """A GPU asked for on a machine without one fails here, before any file is written."""
    import torch

    name = str(trainer.accelerator).lower()
    if name in ("gpu", "cuda") and not torch.cuda.is_available():
        raise InputError(f"trainer.accelerator={trainer.accelerator} but no CUDA GPU is available here "
                         "(use trainer.accelerator=cpu or auto)")


def train(cfg: TrainConfig, *, callbacks=(), progress: bool = True, datamodule=None) -> Path:
    """Train, checkpointing into ``cfg.trainer.output_dir``; resumes from ``last.ckpt``
    (or starts from ``trainer.init_from``'s weights). ``progress``: Lightning's progress bar.
    ``datamodule``: data built by the caller (e.g. from arrays carried to a GPU machine)
    instead of the one ``cfg.data`` names; ``cfg.data`` is still stored as the run's record.

    Everything that can be checked is checked before the run folder is created or changed:
    the output path, the accelerator, the checkpoint to resume from (readable, complete, the
    same architecture) and ``init_from``. Ctrl-C ends the run with :class:`KeyboardInterrupt`
    (Lightning's own handler would exit the process with status 1).

    Returns the path of the last checkpoint.
    """
    import pytorch_lightning as pl
    from lightning_fabric.utilities.exceptions import MisconfigurationException
    from pytorch_lightning.callbacks import ModelCheckpoint

    from moldiff.build import is_bond_model
    from moldiff.training.build import build_datamodule, build_module, check_task, is_pocket_task
    from moldiff.data.qm9 import QM9_ELEMENTS
    from moldiff.paths import atomic_path, check_output_dir
    from moldiff.training.callbacks import LastCheckpoint, ResumableData, SampleEvaluateCallback

    check_task(cfg)
    out = check_output_dir(cfg.trainer.output_dir, "trainer.output_dir")
    _check_accelerator(cfg.trainer)
    if cfg.trainer.matmul_precision:  # a Literal: checked when the config is read
        import torch

        torch.set_float32_matmul_precision(cfg.trainer.matmul_precision)
    pl.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    dm = build_datamodule(cfg.data, bonds=is_bond_model(cfg), properties=cfg.conditioning.properties) \
        if datamodule is None else datamodule
    if is_pocket_task(cfg):
        module = build_module(cfg, dm.elements, dm.stats.num_atoms_hist, size_pairs=dm.size_pairs)
    elif is_bond_model(cfg):
        module = build_module(cfg, QM9_ELEMENTS, dm.stats.num_atoms_hist, priors=dm.priors)
    else:
        module = build_module(cfg, QM9_ELEMENTS, dm.stats.num_atoms_hist,
                              conditioning=dm.conditioning if cfg.conditioning.properties else None)
    t = cfg.trainer
    resume = last_checkpoint(out) if t.resume else None
    if resume is not None:
        check_resumable(resume, module)
    elif t.init_from:
        init_weights(module, t.init_from)
    if cfg.trainer.compile:
        module.denoiser.compile()  # in place: state-dict keys (and checkpoints) stay the same
    ckpt_dir = out / "checkpoints"
    best = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val/loss", mode="min", save_top_k=1,
                           enable_version_counter=False)
    last = LastCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, monitor=None,
                          every_n_train_steps=cfg.trainer.checkpoint_every_n_steps, enable_version_counter=False)
    # sample-and-evaluate during training: free molecules only (pocket models are scored by benchmarks)
    sample_cb = [] if is_pocket_task(cfg) else [SampleEvaluateCallback(
        cfg.sampling.every_n_epochs, cfg.sampling.num_samples, cfg.sampling.steps, cfg.sampling.sampler,
        cfg.sampling.batch_size, cfg.sampling.seed, out_dir=out / "samples",
        time_power=cfg.sampling.time_power)]
    try:
        trainer = _trainer(cfg, out, [ResumableData(), best, last, *sample_cb, *callbacks], progress)
    except (MisconfigurationException, ValueError) as exc:  # devices=0, an unknown strategy or precision
        raise InputError(f"trainer settings: {exc}") from None
    if resume is not None:
        log.info("resuming from %s", resume)
    elif t.init_from:
        log.info("initialised the weights from %s", t.init_from)
    if trainer.is_global_zero:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "config.yaml") as tmp:
            tmp.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    call_lightning(trainer.fit, module, datamodule=dm, ckpt_path=str(resume) if resume else None,
                   weights_only=True)
    if trainer.global_step != getattr(last, "_last_global_step_saved", None):
        # a run that ends at max_steps/max_time between two periodic saves keeps its last steps
        trainer.save_checkpoint(ckpt_dir / "last.ckpt")
    return ckpt_dir / "last.ckpt"


def call_lightning(fn, *args, **kwargs):
    """Call a Trainer entry point (``fit``, ``predict``, ...) so that Ctrl-C raises
    :class:`KeyboardInterrupt` here: Lightning catches it, tears down and calls ``sys.exit(1)``
    (a silent exit status 1, with SIGINT left ignored). The SIGINT handler is restored."""
    import signal
    import threading

    main_thread = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if main_thread else None
    try:
        return fn(*args, **kwargs)
    except SystemExit as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        raise
    finally:
        if main_thread and handler is not None:
            signal.signal(signal.SIGINT, handler)
