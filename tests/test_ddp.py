"""Distributed training really works: Lightning's DDP strategy on 2 CPU processes (gloo).

Lightning's DDP launcher re-runs the launching command once per extra rank, so the run
is driven by a small script (written here) rather than from inside pytest.
"""
import pytest
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path


from moldiff.training.run import read_metrics

pytestmark = pytest.mark.slow  # two training processes

REPO = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import pytorch_lightning as pl
    import torch
    from moldiff.config import TrainConfig, load_config
    from moldiff.training.callbacks import SampleEvaluateCallback
    from moldiff.training.run import train

    torch.set_num_threads(1)
    out = sys.argv[1]

    class Recorder(pl.Callback):
        def __init__(self):
            self.seen = []

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            self.seen.extend(batch.idx.tolist())

        def on_train_end(self, trainer, module):
            sampler = next(c for c in trainer.callbacks if isinstance(c, SampleEvaluateCallback))
            record = {"rank": trainer.global_rank, "world": trainer.world_size, "seen": self.seen,
                      "sampled": len(sampler.history)}
            with open(os.path.join(out, f"rank{trainer.global_rank}.json"), "w") as fh:
                json.dump(record, fh)

    cfg = load_config(sys.argv[2], TrainConfig, [
        f"trainer.output_dir={out}", "trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu",
        "trainer.max_epochs=4", "data.limit_train=64", "data.batch_size=8", "optim.lr=0.002",
        "sampling.every_n_epochs=2", "sampling.num_samples=4", "sampling.steps=5",
    ])
    train(cfg, callbacks=[Recorder()])
    """
)


def test_ddp_on_two_cpu_processes(tmp_path):
    script = tmp_path / "run_ddp.py"
    script.write_text(SCRIPT)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(script), str(out), str(REPO / "configs/test/tiny.yaml")],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    seen0, seen1 = set(ranks[0]["seen"]), set(ranks[1]["seen"])
    # each epoch the 64 molecules are split between the ranks: 32 each, disjoint
    assert len(ranks[0]["seen"]) == len(ranks[1]["seen"]) == 4 * 32
    first0, first1 = set(ranks[0]["seen"][:32]), set(ranks[1]["seen"][:32])
    assert not first0 & first1 and len(first0 | first1) == 64
    assert seen0 | seen1 == first0 | first1
    # sampling in the callback ran on rank zero only, at epochs 1 and 3
    assert ranks[0]["sampled"] == 2 and ranks[1]["sampled"] == 0
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["epoch0001.sdf", "epoch0003.sdf"]
    # one set of checkpoints
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    losses = [float(r["train/loss"]) for r in read_metrics(out) if r.get("train/loss")]
    assert len(losses) == 16  # 4 steps per epoch per rank, logged by rank zero
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4, losses
