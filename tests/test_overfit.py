"""A tiny model trained for a few hundred CPU steps on one QM9 molecule regenerates it."""
from collections import Counter

import pytest
import torch
from torch_geometric.data import Batch

from moldiff.data import QM9_ELEMENTS, QM9Dataset, load_qm9, split_indices
from moldiff.data.transforms import CenterPositions
from moldiff.diffusion import FeatureCodec, PolynomialSchedule, diffusion_loss
from moldiff.diffusion.generate import sample_molecules
from moldiff.metrics import assess
from moldiff.nn import EGNNDenoiser

METHANOL_GDB_INDEX = 8  # QM9 molecule gdb_8, CH3OH, in the training split


@pytest.mark.slow
def test_tiny_model_regenerates_the_molecule_it_was_trained_on():
    torch.manual_seed(0)
    rows = split_indices("train")
    row = int((load_qm9().index[torch.from_numpy(rows)] == METHANOL_GDB_INDEX).nonzero()[0, 0])
    data = QM9Dataset("train", limit=row + 1, transform=CenterPositions())[row]
    target = Counter(QM9_ELEMENTS[i] for i in data.atom_type.tolist())
    assert target == Counter({"H": 4, "C": 1, "O": 1})

    codec, schedule = FeatureCodec(5, type_scale=1.0), PolynomialSchedule()
    denoiser = EGNNDenoiser(codec.num_features, hidden=64, layers=4)
    opt = torch.optim.Adam(denoiser.parameters(), lr=2e-3)
    batch = Batch.from_data_list([data] * 32)
    h = codec.encode(batch.atom_type, batch.charge)
    losses = []
    for _ in range(800):
        loss, _ = diffusion_loss(denoiser, schedule, batch.pos, h, batch.batch, batch.num_graphs,
                                 parameterization="residual")
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-50:]) < 0.5 * sum(losses[:50])

    denoiser.eval()
    mols = sample_molecules(denoiser, schedule, codec, QM9_ELEMENTS, torch.full((8,), data.num_nodes), steps=100,
                            parameterization="residual", generator=torch.Generator().manual_seed(0))
    regenerated = [m for m in mols if Counter(m.symbols) == target and assess(m).stable]
    assert regenerated, [("".join(m.symbols), assess(m).smiles) for m in mols]
    assert all(assess(m).smiles == "CO" for m in regenerated)
