"""The shipped QM9 model: package data, model card, default loading and sample quality."""
import json
from pathlib import Path

import pytest

import moldiff
from moldiff import pretrained
from moldiff.errors import InputError

from helpers import run_cli
from moldiff.metrics import evaluate

REPO = Path(__file__).resolve().parents[1]

CARD_KEYS = {"title", "data", "split", "selection", "architecture", "training", "sampling", "metrics", "steps_table"}


def _cli(*args):
    return run_cli(*args)  # in process: moldiff.cli.main


def test_shipped_model_is_package_data_with_a_complete_card():
    path = pretrained.model_path()
    assert path.parent.name == "pretrained" and path.stat().st_size <= 25e6
    card = pretrained.model_card()
    assert CARD_KEYS <= card.keys(), CARD_KEYS - card.keys()
    for key in ("hardware", "hours", "epochs", "steps", "batch_size"):
        assert key in card["training"], key
    for key in ("n", "steps", "atom_stability", "mol_stability", "validity", "uniqueness", "novelty"):
        assert key in card["metrics"], key
    assert [row["steps"] for row in card["steps_table"]] == sorted(row["steps"] for row in card["steps_table"])
    with pytest.raises(InputError, match="unknown shipped model"):
        pretrained.model_path("qm10")


@pytest.mark.slow
def test_default_load_matches_card_and_samples_real_molecules():
    model = moldiff.load()  # no argument: the shipped QM9 model
    card = model.info()
    assert card["name"] == "qm9" and card["elements"] == ["H", "C", "N", "O", "F"]
    assert card["parameters"] == card["architecture"]["parameters"]
    assert card["training"]["epoch"] is not None
    # the sampler the card describes (and its figures were measured with) is the one the weights default to
    sampling = card["sampling"]
    assert (model.default_sampler, model.default_steps, model.default_time_power, model.default_noise_scale) == (
        sampling["sampler"], sampling["steps"], sampling["time_power"], sampling["noise_scale"])
    mols = model.sample_mol3d(32, steps=50, seed=0, batch_size=32)
    metrics = evaluate(mols)
    # an untrained network of the same shape scatters the atoms: atom stability 0, uniqueness 0.03
    # the shipped model (card: ~94 % atom stability, ~80 % validity at 50-100 steps) clears these with margin
    assert metrics["atom_stability"] >= 0.8 and metrics["validity"] >= 0.4 and metrics["uniqueness"] >= 0.8, metrics
    again = model.sample_mol3d(2, steps=5, seed=0)
    assert (again[0].pos == model.sample_mol3d(2, steps=5, seed=0)[0].pos).all()


def test_cli_samples_with_the_shipped_model_and_prints_its_card(tmp_path):
    out = tmp_path / "s.sdf"
    proc = _cli("sample", "-n", "4", "--steps", "5", "-o", str(out), "-q")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "wrote 4 molecules" in proc.stdout and out.read_text().count("$$$$") == 4
    proc = _cli("sample", "--info")
    assert proc.returncode == 0 and "hardware" in proc.stdout and "mol_stability" in proc.stdout
    proc = _cli("model", "info", "--json")
    info = json.loads(proc.stdout)
    assert info["name"] == "qm9" and info["config"]["model"]["name"] == "egnn"
    proc = _cli("sample", "-n", "4")
    assert proc.returncode == 2 and "output file is required" in proc.stderr
    proc = _cli("sample", "--model", str(tmp_path / "none.pt"), "-o", str(tmp_path / "never.sdf"))
    assert proc.returncode == 2 and "no such checkpoint" in proc.stderr
    assert not (tmp_path / "never.sdf").exists()


@pytest.mark.parametrize("name", sorted(pretrained.MODELS))
def test_each_shipped_file_is_what_its_release_config_makes(name, tmp_path, capsys):
    """No shipped file is edited by hand: ``moldiff model release configs/release/NAME.yaml``
    from the shipped weights reproduces the file (weights, stored config and sampling defaults,
    training record) and its card."""
    import torch
    import yaml

    from moldiff.checkpoint import read_checkpoint, stored_config
    from moldiff.cli import main

    release = REPO / "configs" / "release" / f"{name}.yaml"
    shipped = pretrained.model_path(name)
    out = tmp_path / "released.pt"
    assert main(["model", "release", str(release), "--checkpoint", str(shipped), "-o", str(out), "-q"]) == 0
    assert f"released {name}" in capsys.readouterr().out
    a, b = read_checkpoint(shipped), read_checkpoint(out)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert stored_config(a["moldiff"], shipped) == stored_config(b["moldiff"], out)
    assert a["moldiff"]["training"] == b["moldiff"]["training"]
    wanted = yaml.safe_load(release.read_text())["sampling"]
    assert {k: b["moldiff"]["config"]["sampling"][k] for k in wanted} == wanted
    assert json.loads(out.with_suffix(".json").read_text()) == pretrained.model_card(name)
    # a release changes what it is told to, and nothing else
    assert main(["model", "release", str(release), "--checkpoint", str(shipped), "-o", str(out), "-q",
                 "sampling.steps=7"]) == 0
    assert read_checkpoint(out)["moldiff"]["config"]["sampling"]["steps"] == 7
