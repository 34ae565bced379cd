"""Data: QM9 loading and splits, dataset statistics, PyG datasets and DataModules.

Import the DataModule from :mod:`moldiff.data.datamodule` (it pulls in Lightning).
"""
from moldiff.data.qm9 import (
    NUM_MOLECULES,
    QM9_ELEMENTS,
    SPLIT_SIZES,
    QM9Dataset,
    load_qm9,
    qm9_molecules,
    qm9_stats,
    split_indices,
)
from moldiff.data.stats import DatasetStats, compute_stats

__all__ = [
    "NUM_MOLECULES",
    "QM9_ELEMENTS",
    "SPLIT_SIZES",
    "DatasetStats",
    "QM9Dataset",
    "compute_stats",
    "load_qm9",
    "qm9_molecules",
    "qm9_stats",
    "split_indices",
]
