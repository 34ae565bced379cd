"""Shared fixtures.

The shared structure data live outside the repository, in ``../shared/data`` (or
``$MOLDIFF_DATA``). Outside this workplace, tests that need it skip with a reason;
under ``CI=true`` a missing folder is a failure, never a skip.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(1)
# the commands tests start run one thread too: with a worker per core (pytest-xdist), a
# subprocess that spread over every core would slow the other workers several-fold
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: a worker per core, at most 4 (each holds torch, RDKit and the models)."""
    return max(1, min(4, os.cpu_count() or 1))

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    env = os.environ.get("MOLDIFF_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


# configs name data paths relative to the data root (moldiff.paths.data_path): point it at the
# shared folder for the tests and the commands they run
if shared_data_dir() is not None:
    os.environ.setdefault("MOLDIFF_DATA", str(shared_data_dir()))


#: fixtures that read the shared data folder: a test using one (directly or through another
#: fixture) is marked ``data``
DATA_FIXTURES = {"shared_data"}


#: the test files that take longest on 2 cores (a clean-clone CI run's --durations), heaviest
#: first: they are handed to the xdist workers before the rest (pyproject: --dist loadfile
#: --no-loadscope-reorder), so that no long file starts last and runs alone at the end
HEAVY_FIRST = ("test_readme.py", "test_faults.py", "test_notebooks.py", "test_bond_model.py", "test_screen.py",
               "test_cli.py", "test_conditional.py", "test_design.py", "test_fragment_growing.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.data)
    rank = {name: k for k, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        msg = "shared data folder not found (../shared/data or $MOLDIFF_DATA)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " -- required under CI=true")
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def local_complex() -> tuple[Path, Path]:
    """``(protein.pdb, ligand.sdf)`` of the small complex in ``tests/data/complex`` (no shared
    data needed: pocket, design and docking tests always run)."""
    folder = REPO / "tests" / "data" / "complex"
    return folder / "protein.pdb", folder / "ligand.sdf"


@pytest.fixture(scope="session")
def smoke_ligands(shared_data: Path) -> list[Path]:
    files = sorted((shared_data / "smoke").glob("*/ligand.sdf"))
    assert len(files) >= 20, f"expected the 21 smoke complexes in {shared_data / 'smoke'}"
    return files


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def tiny_complex(tmp_path_factory) -> tuple[Path, Path]:
    """A self-made complex (peptide protein.pdb + ligand.sdf), present on every machine."""
    from helpers import write_tiny_complex

    return write_tiny_complex(tmp_path_factory.mktemp("complex") / "tiny")
