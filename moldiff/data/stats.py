"""Dataset statistics computed from the data (never pasted in).

Used by samplers to draw atom counts and by priors for atom types.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def sample_from_histogram(hist, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``n`` indices (e.g. atom counts) with probabilities proportional to ``hist``."""
    probs = torch.as_tensor(np.asarray(hist) / np.sum(hist), dtype=torch.float64)
    return torch.multinomial(probs, n, replacement=True, generator=generator)


@dataclass(frozen=True)
class DatasetStats:
    """Atom-count histogram and atom-type / charge marginals of a split.

    Attributes:
        num_atoms_hist: (max_atoms + 1,) int64 counts, entry n = molecules with n atoms.
        atom_type_counts: (K,) int64 counts of each element over all atoms.
        charge_counts: {formal charge: count}.
        elements: the element vocabulary ``atom_type`` indexes.
    """

    num_atoms_hist: np.ndarray
    atom_type_counts: np.ndarray
    charge_counts: dict[int, int]
    elements: tuple[str, ...]

    @property
    def num_molecules(self) -> int:
        return int(self.num_atoms_hist.sum())

    @property
    def num_atoms_prob(self) -> np.ndarray:
        """Normalised atom-count distribution."""
        return self.num_atoms_hist / self.num_atoms_hist.sum()

    @property
    def atom_type_marginals(self) -> np.ndarray:
        """(K,) share of each element among all atoms."""
        return self.atom_type_counts / self.atom_type_counts.sum()

    def sample_num_atoms(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` atom counts from the histogram (reproducible with ``generator``)."""
        return sample_from_histogram(self.num_atoms_hist, n, generator)

    def to_dict(self) -> dict:
        return {
            "num_molecules": self.num_molecules,
            "num_atoms_hist": {int(k): int(v) for k, v in enumerate(self.num_atoms_hist) if v},
            "atom_type_marginals": dict(zip(self.elements, map(float, self.atom_type_marginals))),
            "charge_counts": {int(k): int(v) for k, v in self.charge_counts.items()},
        }


def compute_stats(
    num_atoms: torch.Tensor, atom_type: torch.Tensor, charge: torch.Tensor, elements: tuple[str, ...]
) -> DatasetStats:
    """Statistics from per-molecule atom counts and the concatenated per-atom arrays."""
    hist = np.bincount(num_atoms.numpy(), minlength=int(num_atoms.max()) + 1).astype(np.int64)
    types = np.bincount(atom_type.numpy(), minlength=len(elements)).astype(np.int64)
    values, counts = np.unique(charge.numpy(), return_counts=True)
    return DatasetStats(hist, types, dict(zip(values.tolist(), counts.tolist())), tuple(elements))
