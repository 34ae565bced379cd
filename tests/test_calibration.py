"""The metrics reproduce the published statistics of the QM9 data (EDM, Table 2)."""
import pytest

from moldiff.data import qm9_molecules
from moldiff.metrics import evaluate, qm9_train_smiles

pytestmark = pytest.mark.slow  # the full QM9 split (minutes on a cold cache)

PUBLISHED = {"atom_stability": 0.990, "mol_stability": 0.952, "validity": 0.977}


@pytest.fixture(scope="module")
def test_split_metrics():
    return evaluate(qm9_molecules("test"))


@pytest.mark.parametrize("key", sorted(PUBLISHED))
def test_qm9_test_split_matches_published_data_statistics(test_split_metrics, key):
    assert test_split_metrics["n"] == 13_083
    assert test_split_metrics[key] == pytest.approx(PUBLISHED[key], abs=0.005)


def test_qm9_is_connected_and_unique(test_split_metrics):
    assert test_split_metrics["connectivity"] > 0.999
    assert test_split_metrics["uniqueness"] > 0.999
    assert test_split_metrics["mol_stability_charged"] >= test_split_metrics["mol_stability"]


def test_novelty_against_the_training_split():
    reference = qm9_train_smiles()
    assert 95_000 < len(reference) <= 100_000
    train = evaluate(qm9_molecules("train", limit=300), reference=reference)
    test = evaluate(qm9_molecules("test", limit=300), reference=reference)
    assert train["novelty"] == 0.0
    assert test["novelty"] > 0.99
