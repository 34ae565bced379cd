"""LightningDataModule for QM9."""
from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from torch_geometric.loader import DataLoader

from moldiff.data.qm9 import QM9Dataset, qm9_stats
from moldiff.data.transforms import CenterPositions


class QM9DataModule(pl.LightningDataModule):
    """QM9 train/val/test loaders of PyG batches, positions centred per molecule.

    Args:
        batch_size: molecules per batch.
        num_workers: DataLoader worker processes.
        cache: folder of the processed QM9 file (default: ``MOLDIFF_CACHE``/platform cache).
        limit_train, limit_val, limit_test: truncate splits (quick runs and tests).
        seed: seed of the training shuffle (reproducible epochs).
    """

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        cache: str | Path | None = None,
        limit_train: int | None = None,
        limit_val: int | None = None,
        limit_test: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.cache = cache
        self.limits = {"train": limit_train, "val": limit_val, "test": limit_test}
        self.seed = seed
        self.datasets: dict[str, QM9Dataset] = {}
        self._stats = None

    def setup(self, stage: str | None = None) -> None:
        for split in ("train", "val", "test"):
            if split not in self.datasets:
                self.datasets[split] = QM9Dataset(
                    split, cache=self.cache, limit=self.limits[split], transform=CenterPositions()
                )

    @property
    def stats(self):
        """Training-split statistics (atom-count histogram, type marginals)."""
        if self._stats is None:
            self._stats = qm9_stats("train", cache=self.cache)
        return self._stats

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            generator=generator,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
