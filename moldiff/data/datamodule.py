"""LightningDataModules: QM9 molecules, and ligands (with or without pockets) for pocket models."""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch_geometric.loader import DataLoader

from moldiff.data.qm9 import QM9Dataset, qm9_stats
from moldiff.data.transforms import CenterPositions


class EpochSampler(torch.utils.data.Sampler):
    """The training shuffle: a permutation fixed by ``(seed, epoch)`` that a resumed run
    continues where the interrupted one stopped.

    Lightning calls :meth:`set_epoch` before each epoch and saves :meth:`state_dict` in every
    checkpoint (through :class:`ResumableLoader`); ``trained`` (samples of the current epoch
    already trained on) is kept by :class:`~moldiff.training.callbacks.ResumableData`. After a
    restart mid-epoch the sampler yields the rest of that epoch's permutation, so no molecule
    of the epoch is seen twice or skipped, and the run matches one never interrupted.
    """

    def __init__(self, num_samples: int, seed: int) -> None:
        self.num_samples, self.seed = num_samples, seed
        self.epoch, self.trained, self._skip = 0, 0, 0

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self.trained, self._skip = epoch, 0, 0

    def __iter__(self):
        order = torch.randperm(self.num_samples, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        skip, self._skip = self._skip, 0
        return iter(order[skip:].tolist())

    def __len__(self) -> int:  # the whole epoch: Lightning counts a resumed epoch's batches from the saved index
        return self.num_samples

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "trained": self.trained, "num_samples": self.num_samples, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        if state.get("num_samples") == self.num_samples and state.get("seed") == self.seed:
            self.epoch, self.trained = int(state["epoch"]), int(state["trained"])
            self._skip = self.trained
        else:  # another data set or seed: the saved position means nothing here
            self.epoch, self.trained, self._skip = int(state.get("epoch", 0)), 0, 0


class _Resumable:
    """A DataLoader whose position in the epoch is saved in checkpoints (Lightning's stateful
    loader protocol), through its :class:`EpochSampler`; a no-op for any other sampler (e.g.
    the distributed one Lightning puts in under DDP)."""

    def state_dict(self) -> dict:
        return self.sampler.state_dict() if isinstance(self.sampler, EpochSampler) else {}

    def load_state_dict(self, state: dict) -> None:
        if state and isinstance(self.sampler, EpochSampler):
            self.sampler.load_state_dict(state)

    def mark_trained(self, batches: int) -> None:
        """``batches`` batches of the current epoch are trained on (called after each step)."""
        if isinstance(self.sampler, EpochSampler):
            self.sampler.trained = min(batches * self.batch_size, self.sampler.num_samples)


class ResumableLoader(_Resumable, torch.utils.data.DataLoader):
    """:class:`torch.utils.data.DataLoader` that resumes mid-epoch (:class:`_Resumable`)."""


class ResumablePyGLoader(_Resumable, DataLoader):
    """PyG's ``DataLoader`` that resumes mid-epoch (:class:`_Resumable`)."""


class _SplitLoaders(pl.LightningDataModule):
    """train/val/test PyG loaders over ``self.datasets`` (filled by ``setup``); the training
    shuffle is an :class:`EpochSampler` seeded by ``self.seed`` (resumable mid-epoch);
    ``follow_batch`` as PyG's ``DataLoader``."""

    follow_batch: list[str] | None = None

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        dataset = self.datasets[split]
        order = {"sampler": EpochSampler(len(dataset), self.seed)} if shuffle else {"shuffle": False}
        return self._dataloader(dataset, resumable=shuffle, batch_size=self.batch_size,
                                num_workers=self.num_workers, persistent_workers=self.num_workers > 0, **order)

    def _dataloader(self, dataset, resumable: bool = False, **kwargs) -> DataLoader:
        """The loader over one split (PyG's, collating the items one by one)."""
        return (ResumablePyGLoader if resumable else DataLoader)(dataset, follow_batch=self.follow_batch, **kwargs)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


class QM9DataModule(_SplitLoaders):
    """QM9 train/val/test loaders of PyG batches, positions centred per molecule.

    Args:
        batch_size: molecules per batch.
        num_workers: DataLoader worker processes.
        cache: folder of the processed QM9 file (default: ``MOLDIFF_CACHE``/platform cache).
        limit_train, limit_val, limit_test: truncate splits (quick runs and tests).
        seed: seed of the training shuffle (reproducible epochs).
        half: train on ``"first"`` or ``"second"`` half of the training split only (EDM's
            property protocol). properties: QM9 property names carried as ``y`` (B, P).
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
        half: str | None = None,
        properties=(),
    ) -> None:
        super().__init__()
        self.half, self.properties = half, tuple(properties)
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
                    split, cache=self.cache, limit=self.limits[split], transform=CenterPositions(),
                    half=self.half if split == "train" else None, properties=self.properties,
                )

    def _dataloader(self, dataset: QM9Dataset, resumable: bool = False, **kwargs) -> torch.utils.data.DataLoader:
        # batches are sliced from the flat arrays (QM9Dataset.collate), not collated molecule by
        # molecule: the same batches as PyG's loader with the same sampler, ~30x less CPU per batch
        cls = ResumableLoader if resumable else torch.utils.data.DataLoader
        return cls(range(len(dataset)), collate_fn=partial(dataset.collate, center=True), **kwargs)

    @property
    def conditioning(self) -> dict:
        """The training molecules' property statistics a conditional model keeps
        (:func:`~moldiff.data.qm9_properties.condition_stats`)."""
        from moldiff.data.qm9_properties import condition_stats

        self.setup()
        train = self.datasets["train"]
        rows = torch.as_tensor(train.rows)
        return condition_stats(train.y[rows], train.arrays.num_atoms[rows], seed=self.seed)

    @property
    def stats(self):
        """Training-split statistics (atom-count histogram, type marginals); of the half trained on."""
        if self._stats is None:
            self._stats = qm9_stats("train", cache=self.cache, half=self.half)
        return self._stats


class QM9BondDataModule(QM9DataModule):
    """QM9 with bond tables (:class:`~moldiff.data.qm9_bonds.QM9BondDataset`), for models that
    generate bonds: batches carry ``edge_index`` (every pair of a molecule) and ``bond_type``;
    ``charge`` is a class index. :attr:`priors` are the training split's class frequencies."""

    def setup(self, stage: str | None = None) -> None:
        from moldiff.data.qm9_bonds import QM9BondDataset

        for split in ("train", "val", "test"):
            if split not in self.datasets:
                self.datasets[split] = QM9BondDataset(split, cache=self.cache, limit=self.limits[split])

    @property
    def priors(self) -> dict:
        self.setup()
        return self.datasets["train"].priors()


def _default_data_file(given: str | None, relative: str, key: str) -> Path:
    """``given`` (relative paths read against the data root) or ``relative`` under the data root
    (:func:`moldiff.paths.data_path`)."""
    from moldiff.paths import data_path

    return data_path(given, relative, f"data.{key}")


def _empty_pocket(graph):
    """Ligand-only graph (pre-training) with the pocket fields of a complex, empty."""
    graph.pocket_pos = torch.zeros(0, 3)
    graph.pocket_type = torch.zeros(0, dtype=torch.long)
    graph.pocket_residue_type = torch.zeros(0, dtype=torch.long)
    graph.pocket_backbone = torch.zeros(0, dtype=torch.long)
    graph.num_pocket_atoms = 0
    return graph


class PocketDataModule(_SplitLoaders):
    """Ligands for pocket models: ``"complexes"`` (ligand + pocket, split by target) or
    ``"druglike"`` (ligands alone, centred; the pre-training set).

    Atom types index :data:`~moldiff.data.complexes.HEAVY_LIGAND_ELEMENTS` (hydrogens are
    not modelled). Batches carry ``pocket_pos_batch`` (``follow_batch``).

    Args:
        name: ``"complexes"`` or ``"druglike"``. root: complex folder. radius: pocket radius, Å.
        split: train/val/test shares of targets. smiles, num_molecules, val_fraction,
        build_workers: the drug-like set. batch_size, num_workers, limit_*: as QM9. seed:
        split, subset and shuffle seed.
    """

    follow_batch = ["pocket_pos"]

    def __init__(self, name: str = "complexes", *, root: str | None = None, radius: float = 10.0,
                 split=(0.8, 0.1, 0.1), smiles: str | None = None, num_molecules: int = 20000,
                 val_fraction: float = 0.05, build_workers: int = 1, batch_size: int = 16, num_workers: int = 0,
                 limit_train: int | None = None, limit_val: int | None = None, limit_test: int | None = None,
                 seed: int = 0) -> None:
        super().__init__()
        from moldiff.data.complexes import HEAVY_LIGAND_ELEMENTS

        if name not in ("complexes", "druglike"):
            raise ValueError(f"unknown pocket data set {name!r}")
        self.name, self.radius, self.split_fractions = name, radius, tuple(split)
        self.root = _default_data_file(root, "fep_benchmark", "root") if name == "complexes" else None
        self.smiles = _default_data_file(smiles, "moses/train.csv.gz", "smiles") if name == "druglike" else None
        self.num_molecules, self.val_fraction, self.build_workers = num_molecules, val_fraction, build_workers
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.limits = {"train": limit_train, "val": limit_val, "test": limit_test}
        self.elements = HEAVY_LIGAND_ELEMENTS
        self.datasets: dict[str, list] = {}
        self.skipped: list = []

    def _complexes(self) -> dict[str, list]:
        from moldiff.data.complexes import ComplexDataset, split_by_target

        ds = ComplexDataset(self.root, radius=self.radius)
        self.skipped = ds.skipped
        index = {e.id: k for k, e in enumerate(ds.entries)}
        parts = split_by_target(ds.entries, self.split_fractions, seed=self.seed)
        return {s: [ds[index[e.id]] for e in rows] for s, rows in parts.items()}

    def _druglike(self) -> dict[str, list]:
        from moldiff.data.druglike import DRUGLIKE_ELEMENTS, DrugLike3D

        ds = DrugLike3D(self.smiles, self.num_molecules, seed=self.seed, workers=self.build_workers)
        remap = torch.tensor([self.elements.index(e) if e in self.elements else -1 for e in DRUGLIKE_ELEMENTS])
        graphs = []
        for k in range(len(ds)):
            g = ds[k]
            g.atom_type = remap[g.atom_type]
            graphs.append(_empty_pocket(g))
        order = np.random.RandomState(self.seed).permutation(len(graphs))
        n_val = int(round(self.val_fraction * len(graphs)))
        val = [graphs[k] for k in order[:n_val]]
        return {"train": [graphs[k] for k in order[n_val:]], "val": val, "test": val}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        parts = self._complexes() if self.name == "complexes" else self._druglike()
        from moldiff.errors import InputError

        for split, graphs in parts.items():
            self.datasets[split] = graphs[: self.limits[split]]
        for split in ("train", "val"):
            if not self.datasets[split]:
                raise InputError(f"{self.root or self.smiles}: the {split} split is empty "
                                 f"(too few targets for split {list(self.split_fractions)})")

    @property
    def stats(self):
        """Training-split ligand statistics (atom-count histogram, type marginals)."""
        from moldiff.data.stats import compute_stats

        self.setup()
        train = self.datasets["train"]
        return compute_stats(torch.tensor([g.pos.shape[0] for g in train]), torch.cat([g.atom_type for g in train]),
                             torch.cat([g.charge for g in train]), self.elements)

    @property
    def size_pairs(self) -> torch.Tensor:
        """(2, M) pocket atoms and ligand atoms of each training complex (ligand size given the pocket)."""
        self.setup()
        return torch.tensor([[int(g.num_pocket_atoms), g.pos.shape[0]] for g in self.datasets["train"]],
                            dtype=torch.long).T.contiguous()
