"""The one place where config objects become library objects."""
from __future__ import annotations

from moldiff.config import QM9DataConfig


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
