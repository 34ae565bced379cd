"""Faults: a docking experiment and a training run killed (SIGKILL) at random points and run
again, and Ctrl-C (SIGINT) in both. Nothing may be lost, duplicated or half-written: every
complex has one record and one row, every step of training is in the history once, and the
results equal those of a run that was never interrupted."""
from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from helpers import write_tiny_complex
from moldiff.cli import main
from moldiff.training.run import read_metrics

pytestmark = pytest.mark.slow  # kills and interrupts real runs (10-30 s each)

REPO = Path(__file__).resolve().parents[1]
DOCK = REPO / "configs" / "docking" / "posebusters_dev.yaml"
TINY = REPO / "configs" / "test" / "tiny.yaml"
#: fast docking without Vina: the shipped pocket model places, the conformer fit ranks
FAST_DOCK = ["baseline=none", "refine=false", "ranking=fit", "posebusters=false", "num_poses=2", "steps=30",
             "conformers=10"]
LIGANDS = ["Oc1ccccc1", "CC(=O)Nc1ccc(O)cc1", "OC(=O)c1ccccc1", "c1ccc2ccccc2c1", "CCN(CC)CC", "NC(=O)c1cccnc1",
           "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "COc1ccc(CCN)cc1", "O=C1NC(=O)c2ccccc12", "Cc1ccc(S(N)(=O)=O)cc1",
           "OCC1OC(O)C(O)C(O)C1O", "c1ccc(-c2ccccn2)cc1"]


def _env():
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("CI", None)
    return env


def _start(args, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "moldiff", *map(str, args)], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, proc, timeout=240.0) -> bool:
    """Poll until ``predicate()`` or the process ends; True when the predicate held."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if proc.poll() is not None:
            return predicate()
        time.sleep(0.05)
    raise AssertionError("timed out")


def _kill_at_random_points(args, progress, rng: random.Random, runs: int, longest: float) -> int:
    """Start ``moldiff *args`` ``runs`` times; each time, once ``progress()`` changes (work was
    saved), wait a random time up to ``longest`` seconds and SIGKILL it. Returns the kills."""
    kills = 0
    for _ in range(runs):
        proc = _start(args, REPO)
        before = progress()
        _wait_for(lambda: progress() != before, proc)
        time.sleep(rng.uniform(0.0, longest))
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait()
    return kills


@pytest.fixture(scope="module")
def complexes(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faultdata")
    for k, smiles in enumerate(LIGANDS):
        write_tiny_complex(root / f"c{k}", smiles, seed=7 + k)
    return root


def _records(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "moldiff" / "records").glob("*.json"))}


def _assert_complete(out: Path, ids: list[str]) -> None:
    records = _records(out)
    assert sorted(records) == ids
    assert all(r["status"] == "ok" for r in records.values()), records
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["id"] for r in rows) == ids  # one row each: nothing lost, nothing twice
    assert not list(out.rglob("*.tmp")), "a half-written file was left behind"
    for i in ids:
        text = (out / "moldiff" / "poses" / f"{i}.sdf").read_text()
        assert text.count("$$$$") == 2  # num_poses=2, both complete


def test_docking_experiment_killed_at_random_points(complexes, tmp_path, capsys):
    ids = sorted(p.name for p in complexes.iterdir())
    reference = tmp_path / "reference"
    assert main(["dock", DOCK, "-q", f"data.root={complexes}", f"output.dir={reference}", *FAST_DOCK]) == 0
    capsys.readouterr()
    out = tmp_path / "killed"
    args = ["dock", DOCK, "-q", f"data.root={complexes}", f"output.dir={out}", *FAST_DOCK]
    # kill -9 after a random delay once complexes start to finish, then go on
    kills = _kill_at_random_points(args, lambda: len(_records(out)) if out.exists() else 0, random.Random(0),
                                   runs=4, longest=0.8)
    assert kills >= 2, "the experiment finished before it could be interrupted twice"
    assert main(args) == 0
    _assert_complete(out, ids)
    got, want = _records(out), _records(reference)
    for i in ids:  # the same poses as the run that was never interrupted
        assert got[i]["top1_rmsd"] == pytest.approx(want[i]["top1_rmsd"], abs=1e-3)
        assert got[i]["score"] == pytest.approx(want[i]["score"], abs=1e-3)


def test_ctrl_c_in_a_docking_experiment_says_interrupted_and_records_nothing_partial(complexes, tmp_path):
    ids = sorted(p.name for p in complexes.iterdir())
    out = tmp_path / "run"
    args = ["dock", DOCK, f"data.root={complexes}", f"output.dir={out}", *FAST_DOCK]
    proc = _start(args, REPO)
    _wait_for(lambda: out.exists() and len(_records(out)) >= 1, proc)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the experiment finished before the interrupt")
    assert proc.returncode == 130 and "moldiff: interrupted" in err, err[-2000:]
    assert "Traceback" not in err
    proc = _start(args, REPO)  # the rerun completes what the interrupt left
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    _assert_complete(out, ids)


EPOCHS = 5  # of 8 steps (tiny.yaml: 64 molecules, batch 8)


def _train_args(out: Path) -> list:
    return ["train", TINY, "-q", f"trainer.output_dir={out}", f"trainer.max_epochs={EPOCHS}", "sampling.every_n_epochs=0",
            "trainer.checkpoint_every_n_steps=2"]


def _step(ckpt: Path) -> int:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"]


def test_training_killed_at_random_points_resumes_without_loss_or_duplicates(tmp_path):
    out = tmp_path / "run"
    last = out / "checkpoints" / "last.ckpt"
    kills = _kill_at_random_points(_train_args(out), lambda: last.stat().st_mtime_ns if last.exists() else None,
                                   random.Random(1), runs=3, longest=0.5)
    assert kills >= 2, "training finished before it could be interrupted twice"
    proc = _start(_train_args(out), REPO)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    assert _step(last) == 8 * EPOCHS
    steps = [int(r["step"]) for r in read_metrics(out) if r.get("train/loss")]
    assert steps == list(range(8 * EPOCHS))  # every step once in the history
    assert _step(out / "checkpoints" / "best.ckpt") <= 8 * EPOCHS
    assert not list(out.rglob("*.tmp"))


def test_ctrl_c_in_training_says_interrupted_and_resumes(tmp_path):
    out = tmp_path / "run"
    last = out / "checkpoints" / "last.ckpt"
    proc = _start(_train_args(out), REPO)
    _wait_for(lambda: last.exists(), proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("training finished before the interrupt")
    assert proc.returncode == 130 and "moldiff: interrupted" in err, err[-2000:]
    assert "Traceback" not in err
    proc = _start(_train_args(out), REPO)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    assert _step(last) == 8 * EPOCHS
