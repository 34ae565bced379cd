"""What docking experiments and screens share: the settings check that keeps two experiments
out of one folder, the Lightning predict loop that shards work over devices and nodes, and
the resolved config written beside the results."""
from __future__ import annotations

import logging
from pathlib import Path

from moldiff.config import to_dict
from moldiff.errors import InputError

log = logging.getLogger(__name__)


#: config keys that choose which complexes run or where results go; every other key changes
#: results, so a folder's records are only reused under the same values
SELECTION_KEYS = ("limit", "data.ids", "baseline", "method", "output", "trainer", "screen.workers",
                  "screen.library", "screen.id_column", "screen.smiles_column")


def _settings(cfg_dict: dict) -> dict:
    """The result-changing settings of a config, as flat ``{dotted key: value}``."""
    flat: dict = {}

    def walk(d, prefix=""):
        for k, v in d.items():
            key = prefix + k
            if any(key == s or key.startswith(s + ".") for s in SELECTION_KEYS):
                continue
            if isinstance(v, dict):
                walk(v, key + ".")
            else:
                flat[key] = v

    walk(cfg_dict)
    return flat


def check_same_settings(out: Path, cfg) -> None:
    """Raise :class:`InputError` when ``out`` holds records made with other result-changing
    settings (its ``config.yaml`` differs): reusing them would mix two experiments in one table."""
    import yaml

    stored_file = out / "config.yaml"
    has_records = any(out.glob("*/records/*.json")) if out.is_dir() else False
    if not has_records:
        return
    try:
        stored = yaml.safe_load(stored_file.read_text(encoding="utf-8"))
        if not isinstance(stored, dict):
            raise ValueError("not a mapping")
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise InputError(f"{out}: holds records but its config.yaml is missing or unreadable "
                         f"({type(exc).__name__}), so they cannot be matched to these settings; "
                         "use a new output.dir") from None
    old, new = _settings(stored), _settings(to_dict(cfg))
    changed = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(old.keys() | new.keys())
               if old.get(k) != new.get(k)]
    if changed:
        shown = "; ".join(changed[:4]) + (f"; {len(changed) - 4} more" if len(changed) > 4 else "")
        raise InputError(f"{out}: holds results of other settings ({shown}); use a new output.dir, "
                         "or the same settings to resume")


def predict_trainer(cfg, progress: bool = True):
    """The Lightning Trainer of the predict loop (built before any file is written: a bad
    ``trainer`` section fails here with :class:`InputError`)."""
    import pytorch_lightning as pl
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):  # device banners, tips
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return pl.Trainer(accelerator=cfg.trainer.accelerator, devices=cfg.trainer.devices,
                          strategy=cfg.trainer.strategy, num_nodes=cfg.trainer.num_nodes, logger=False,
                          enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False,
                          inference_mode=False)  # guidance and pose search take gradients (under no_grad)
    except (MisconfigurationException, ValueError, RuntimeError) as exc:
        raise InputError(f"trainer settings: {exc}") from None


def predict(cfg, worker, pending: list, trainer, progress: bool = True, unit: str = "complex") -> None:
    """Run ``worker`` (a callable on one item with ``.method`` and ``.docker``) over ``pending``
    items in Lightning's predict loop (sharded by DDP), with a bar in ``unit`` (rank zero's
    share under DDP)."""
    from moldiff.progress import Progress

    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader

    class DockingTask(pl.LightningModule):
        def __init__(self):
            super().__init__()
            model = getattr(worker, "model", None)
            if model is None and getattr(worker, "docker", None) is not None:
                model = worker.docker.model
            self.denoiser = model.denoiser if model is not None else torch.nn.Identity()

        def transfer_batch_to_device(self, batch, device, dataloader_idx):
            return batch  # complex entries or ligands; the worker moves tensors itself

        def predict_step(self, batch, batch_idx):
            done = [worker(entry) for entry in batch]
            bar.update(len(batch))
            return done

    from moldiff.training.run import call_lightning

    loader = DataLoader(pending, batch_size=1, shuffle=False, collate_fn=list)
    share = -(-len(pending) // max(trainer.world_size, 1))
    with Progress(share, getattr(worker, "label", None) or f"docking ({worker.method})", unit,
                  enabled=progress and trainer.is_global_zero) as bar:
        # Ctrl-C: KeyboardInterrupt here (Lightning would exit with status 1 and no message)
        call_lightning(trainer.predict, DockingTask(), loader, return_predictions=False)


def write_yaml(data: dict, path: Path) -> None:
    import yaml

    from moldiff.paths import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(data, sort_keys=False))
