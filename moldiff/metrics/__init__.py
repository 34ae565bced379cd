"""Metrics: stability, validity, connectivity, uniqueness, novelty, drug-likeness."""
from moldiff.metrics.evaluate import METRIC_KEYS, Assessment, assess, assess_all, evaluate, summarise
from moldiff.metrics.reference import qm9_train_smiles, reference_smiles
from moldiff.metrics.stability import stable_atoms

__all__ = [
    "METRIC_KEYS",
    "Assessment",
    "assess",
    "assess_all",
    "evaluate",
    "qm9_train_smiles",
    "reference_smiles",
    "stable_atoms",
    "summarise",
]
