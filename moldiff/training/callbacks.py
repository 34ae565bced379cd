"""Sample-and-evaluate during training (rank zero only, DDP-safe)."""
from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger

log = logging.getLogger(__name__)


class SampleEvaluateCallback(pl.Callback):
    """Every ``every_n_epochs`` validation epochs, sample molecules with the EMA weights,
    score them (EDM protocol) and log ``sample/*`` metrics; the SDF goes to ``out_dir``.

    Only global rank zero samples; its metrics are logged with ``rank_zero_only=True``,
    so the other ranks never wait on a collective that rank zero is not part of.
    """

    def __init__(self, every_n_epochs: int, num_samples: int, steps: int, sampler: str, batch_size: int,
                 seed: int = 0, out_dir: str | Path | None = None, time_power: float = 1.0) -> None:
        self.every_n_epochs = every_n_epochs
        self.num_samples, self.steps, self.sampler = num_samples, steps, sampler
        self.batch_size, self.seed, self.time_power = batch_size, seed, time_power
        self.out_dir = Path(out_dir) if out_dir else None
        self.history: list[dict] = []

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module) -> None:
        if trainer.sanity_checking or self.every_n_epochs <= 0:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        if not trainer.is_global_zero:
            return
        from moldiff.models import BondModel, MolDiffModel
        from moldiff.chem.sdf import write_sdf
        from moldiff.metrics import evaluate

        if pl_module.task == "bonds":  # the model's own bonds are scored (and written)
            model = BondModel.from_module(pl_module)
            mols3d = model.sample_mol3d(self.num_samples, steps=self.steps, seed=self.seed,
                                        batch_size=self.batch_size, time_power=self.time_power)
            metrics = evaluate(mols3d, bonds="file")
        else:
            model = MolDiffModel.from_module(pl_module)
            mols3d = model.sample_mol3d(self.num_samples, steps=self.steps, sampler=self.sampler, seed=self.seed,
                                        batch_size=self.batch_size, time_power=self.time_power)
            metrics = evaluate(mols3d)
        record = {"epoch": trainer.current_epoch, "step": trainer.global_step, **metrics}
        self.history.append(record)
        for key in ("atom_stability", "mol_stability", "validity", "uniqueness", "connectivity"):
            pl_module.log(f"sample/{key}", float(metrics[key]), rank_zero_only=True)
        log.info("epoch %d samples: atom stab %.3f, mol stab %.3f, validity %.3f", trainer.current_epoch,
                 metrics["atom_stability"], metrics["mol_stability"], metrics["validity"])
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            write_sdf(model.to_rdkit(mols3d), self.out_dir / f"epoch{trainer.current_epoch:04d}.sdf")


class RunCSVLogger(CSVLogger):
    """Lightning's CSV logger, which also takes a step's row ahead of Lightning
    (:meth:`log_step_ahead`) and then drops Lightning's identical copy of it.

    Lightning writes a step's metrics only after the step's ``on_train_batch_end`` hooks, where
    checkpoints are saved; a run killed between the two would resume after a step whose row was
    never written. :class:`ResumableData` hands the row over before the checkpoint instead.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._ahead: tuple[int, dict] | None = None

    def log_step_ahead(self, metrics: dict, step: int) -> None:
        super().log_metrics(metrics, step)
        self._ahead = (step, dict(metrics))

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead == (step, dict(metrics)):
            return  # already logged by log_step_ahead
        super().log_metrics(metrics, step)


def _step_row(trainer: pl.Trainer) -> tuple[dict, int] | None:
    """The row (scalar metrics, step) Lightning will log for the training step that just ended, or
    None where it logs none (accumulating, between ``log_every_n_steps``, or a Lightning without
    these internals: then the row is simply logged later, as Lightning does)."""
    from lightning_fabric.utilities.apply_func import convert_tensors_to_scalars

    try:
        loop, connector = trainer.fit_loop, trainer._logger_connector
        if (loop._should_accumulate() and trainer.lightning_module.automatic_optimization) \
                or not connector.should_update_logs:
            return None
        row = convert_tensors_to_scalars(dict(connector.metrics["log"]))
        step = row.pop("step", None)
        if step is None:
            row.setdefault("epoch", trainer.current_epoch)
            step = loop.epoch_loop._batches_that_stepped
        return (row, int(step)) if row else None
    except AttributeError:
        return None


class ResumableData(pl.Callback):
    """Tells a resumable training loader (:class:`~moldiff.data.datamodule.ResumableLoader`) how
    many batches of the epoch are trained on, after every step and before any checkpoint of that
    step is written (Lightning runs checkpoint callbacks last), so a run killed mid-epoch resumes
    at the next unseen batch instead of starting the epoch again; hands the step's metrics to the
    :class:`RunCSVLogger` at the same point and flushes the loggers before each checkpoint, so
    the logs hold every checkpointed step."""

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        loader = trainer.train_dataloader
        if hasattr(loader, "mark_trained"):
            loader.mark_trained(batch_idx + 1)
        loggers = [lg for lg in trainer.loggers if isinstance(lg, RunCSVLogger)]
        if loggers and trainer.is_global_zero and (row := _step_row(trainer)) is not None:
            for logger in loggers:
                logger.log_step_ahead(*row)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module, checkpoint: dict) -> None:
        # the logs reach the disk before the checkpoint that makes their steps final: a run
        # killed after a checkpoint keeps every step it checkpointed in its metrics.csv
        for logger in trainer.loggers:
            logger.save()


class LastCheckpoint(ModelCheckpoint):
    """``last.ckpt`` every ``every_n_train_steps`` steps, except on the last batch of an epoch,
    where it is written at the end of the epoch instead.

    Lightning's loop state saved from an epoch's final batch is ambiguous (the batch counts one
    short, the epoch not yet finished): a run resumed from it and later resumed again repeats or
    skips steps. At the end of the epoch the state is the one Lightning's own epoch-end
    checkpoints have, and resumes cleanly.
    """

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self._every_n_train_steps >= 1 and batch_idx + 1 >= trainer.num_training_batches:
            self._epoch_end_pending = True
            return
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module) -> None:
        if getattr(self, "_epoch_end_pending", False) and self._last_global_step_saved != trainer.global_step:
            self._save_topk_checkpoint(trainer, self._monitor_candidates(trainer))
        self._epoch_end_pending = False
        super().on_train_epoch_end(trainer, pl_module)
