"""The drug-like 3D set built from MOSES SMILES: seeded subset, real conformers, cache, manifest."""
import numpy as np
import pytest
import torch

from moldiff.data.druglike import DRUGLIKE_ELEMENTS, DrugLike3D, read_smiles_column
from moldiff.errors import InputError


def test_build_is_seeded_cached_and_chemically_sound(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("MOLDIFF_CACHE", str(tmp_path))
    source = shared_data / "moses" / "train.csv.gz"
    ds = DrugLike3D(source, 12, seed=3, progress=False)
    assert len(ds) == 12 and ds.manifest["n_failures"] == 0 and ds.manifest["seed"] == 3
    again = DrugLike3D(source, 12, seed=3, progress=False)  # from the cache
    assert again.smiles == ds.smiles and all(np.array_equal(a, b) for a, b in zip(again.pos, ds.pos))
    assert DrugLike3D(source, 12, seed=4, progress=False, cache=False).smiles != ds.smiles
    g = ds[0]
    assert "H" not in [DRUGLIKE_ELEMENTS[k] for k in g.atom_type.tolist()]
    assert torch.allclose(g.pos.mean(0), torch.zeros(3), atol=1e-4)
    # bonded heavy-atom distances are chemical (MMFF geometry): the nearest neighbour of
    # every heavy atom sits 1.1-1.9 Å away
    d = torch.cdist(g.pos, g.pos) + 10 * torch.eye(len(g.pos))
    nearest = d.min(1).values
    assert (nearest > 1.1).all() and (nearest < 1.9).all()
    with_h = DrugLike3D(source, 12, seed=3, progress=False, hydrogens=True)[0]
    assert with_h.pos.shape[0] > g.pos.shape[0]


def test_bad_sources(tmp_path):
    with pytest.raises(InputError, match="no such SMILES file"):
        DrugLike3D(tmp_path / "none.csv", 3)
    small = tmp_path / "small.csv"
    small.write_text("SMILES\nCCO\nc1ccccc1\n")
    assert read_smiles_column(small) == ["CCO", "c1ccccc1"]
    with pytest.raises(InputError, match="asked for 5 molecules but the file has 2"):
        DrugLike3D(small, 5)
    with pytest.raises(InputError, match="n must be positive"):
        DrugLike3D(small, 0)
