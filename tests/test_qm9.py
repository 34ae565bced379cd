import numpy as np
import pytest
import torch

from moldiff.data import NUM_MOLECULES, QM9_ELEMENTS, SPLIT_SIZES, QM9Dataset, load_qm9, qm9_stats, split_indices
from moldiff.data.datamodule import QM9DataModule
from moldiff.data.qm9 import _cache_path
from moldiff.errors import InputError


def test_split_sizes_are_edm_and_partition_the_data():
    splits = {s: split_indices(s) for s in SPLIT_SIZES}
    assert {s: len(v) for s, v in splits.items()} == {"train": 100_000, "val": 17_748, "test": 13_083}
    together = np.concatenate(list(splits.values()))
    assert len(np.unique(together)) == NUM_MOLECULES == 130_831
    assert np.array_equal(split_indices("test"), split_indices("test"))  # deterministic
    with pytest.raises(InputError, match="unknown QM9 split"):
        split_indices("valid")


def test_train_histogram_matches_the_split_edm_reports():
    # EDM's published QM9 (with H) training histogram of atom counts; equality shows
    # that our seed-0 permutation reproduces their training split.
    stats = qm9_stats("train")
    hist = {k: int(v) for k, v in enumerate(stats.num_atoms_hist) if v}
    expected_subset = {3: 1, 9: 124, 13: 3060, 17: 13025, 18: 13364, 19: 13832, 22: 3393, 27: 266, 29: 25}
    assert {k: hist[k] for k in expected_subset} == expected_subset
    assert 28 not in hist and sum(hist.values()) == 100_000
    marg = stats.atom_type_marginals
    assert marg.shape == (5,) and marg.sum() == pytest.approx(1.0)
    assert marg[QM9_ELEMENTS.index("H")] == pytest.approx(0.512, abs=1e-3)
    assert marg[QM9_ELEMENTS.index("F")] < 0.002
    assert stats.charge_counts[1] == stats.charge_counts[-1] > 0  # zwitterions are neutral overall


def test_sample_num_atoms_is_reproducible_and_follows_histogram():
    stats = qm9_stats("train")
    a = stats.sample_num_atoms(2000, torch.Generator().manual_seed(1))
    b = stats.sample_num_atoms(2000, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert stats.num_atoms_hist[a.numpy()].min() > 0  # only counts that occur
    assert abs(a.double().mean().item() - 18.0) < 0.3


def test_arrays_are_consistent():
    arrays = load_qm9()
    assert len(arrays) == NUM_MOLECULES and arrays.ptr[-1] == len(arrays.pos) == len(arrays.atom_type)
    assert arrays.pos.dtype == torch.float32 and arrays.atom_type.max() == 4
    assert arrays.index[0] == 1 and arrays.index[-1] == 133_885
    assert arrays.num_atoms.min() == 3 and arrays.num_atoms.max() == 29
    # molecule 1 is methane: C then four H, C-H about 1.09 Å
    lo, hi = int(arrays.ptr[0]), int(arrays.ptr[1])
    assert [QM9_ELEMENTS[i] for i in arrays.atom_type[lo:hi]] == ["C", "H", "H", "H", "H"]
    d = (arrays.pos[lo + 1 : hi] - arrays.pos[lo]).norm(dim=1)
    assert torch.allclose(d, torch.full((4,), 1.09), atol=0.01)
    assert int(arrays.charge.sum()) == 0


@pytest.mark.slow
def test_conversion_is_cached_and_a_corrupt_cache_is_rebuilt(tmp_path):
    fresh = load_qm9(tmp_path)  # converts the CSVs into tmp_path
    path = _cache_path(tmp_path)
    assert path.is_file()
    assert not list(tmp_path.glob("*.tmp"))
    default = load_qm9()
    assert torch.equal(fresh.pos, default.pos) and fresh.smiles[:5] == default.smiles[:5]
    path.write_bytes(b"not a torch file")
    again = load_qm9(tmp_path)
    assert torch.equal(again.atom_type, fresh.atom_type)


def test_dataset_items_and_datamodule_batches():
    ds = QM9Dataset("test", limit=10)
    assert len(ds) == 10
    item = ds[0]
    assert set(item.keys()) == {"pos", "atom_type", "charge", "idx"}
    assert item.pos.shape == (item.num_nodes, 3) and item.atom_type.dtype == torch.int64
    assert item.idx.item() == split_indices("test")[0]
    dm = QM9DataModule(batch_size=4, limit_train=12, limit_val=5, seed=3)
    batch = next(iter(dm.train_dataloader()))
    assert batch.num_graphs == 4 and batch.batch.max() == 3
    # positions centred per molecule
    for g in range(batch.num_graphs):
        assert batch.pos[batch.batch == g].mean(0).abs().max() < 1e-5
    # the seeded shuffle is reproducible
    again = next(iter(QM9DataModule(batch_size=4, limit_train=12, seed=3).train_dataloader()))
    assert torch.equal(batch.idx, again.idx)
    assert len(list(dm.val_dataloader())) == 2
    assert dm.stats.num_molecules == 100_000


def test_sliced_batches_equal_pyg_collate_of_the_items():
    from torch_geometric.loader import DataLoader

    from moldiff.data.datamodule import EpochSampler
    from moldiff.data.transforms import CenterPositions

    fast = list(QM9DataModule(batch_size=16, limit_train=100, seed=5).train_dataloader())
    items = QM9Dataset("train", limit=100, transform=CenterPositions())
    ref = list(DataLoader(items, batch_size=16, sampler=EpochSampler(len(items), 5)))
    assert len(fast) == len(ref) == 7
    for a, b in zip(fast, ref):
        assert a.num_graphs == b.num_graphs
        for key in ("atom_type", "charge", "batch", "ptr", "idx"):
            assert torch.equal(a[key], b[key]), key
        assert torch.allclose(a.pos, b.pos, atol=1e-5)
    raw = QM9Dataset("val", limit=3).collate([2, 0])  # uncentred: the dataset's own coordinates
    assert torch.equal(raw.pos, torch.cat([QM9Dataset("val", limit=3)[i].pos for i in (2, 0)]))
