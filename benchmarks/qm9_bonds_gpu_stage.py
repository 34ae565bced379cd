"""One training stage of the bond-generating QM9 model inside a short GPU lease, then samples.

Here (with qm9pack and RDKit), once:

    python benchmarks/qm9_bonds_gpu_stage.py prepare --dir .gpu_bonds

writes QM9 as packed arrays plus its bond tables (``qm9_bonds.npz``, a few MB) and a one-file
``qm9pack`` dist-info into ``.gpu_bonds`` (add ``/.gpu_bonds/`` to ``.git/info/exclude``). On
the GPU machine, carrying ``.gpu_bonds`` (stage 1 from scratch; later stages ``--init`` the
previous stage's exported ``qm9_bonds_last.pt``, committed or carried):

    PYTHONUNBUFFERED=1 PYTHONPATH=. python3 benchmarks/qm9_bonds_gpu_stage.py run 540 --dir .gpu_bonds \\
        | tee $OUT/log.txt

1. rebuilds moldiff's QM9 and QM9-bond caches from the arrays (no RDKit needed);
2. times bare training steps at each ``--batches`` size and keeps the largest that buys
   >= 1.4x the molecules/s of the smaller one (learning rate scaled by sqrt(batch / 256));
3. trains ``configs/qm9_bonds_gpu.yaml`` (from ``--init``'s EMA weights when given: a new run
   with a fresh optimiser and a short warm-up) for as many steps as the measured rate fits
   into the budget;
4. exports best and last (``$OUT/qm9_bonds_best.pt`` / ``qm9_bonds_last.pt``, EMA weights only)
   and copies ``metrics.csv``;
5. samples ``--sample-n`` molecules at each of ``--sample-steps`` (100, then 20) with the best
   weights, in seeded chunks, until the budget, into ``$OUT/samples_raw_<steps>.pt``; score
   them here with ``python benchmarks/qm9_quality.py --from-raw samples_raw_100.pt --model
   qm9_bonds_best.pt`` (EDM protocol and ``own_*`` with the generated bonds).

Everything lands in ``$OUT`` as produced; ``plan.json`` records the probe and the plan.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from qm9_gpu_stage import prepare as prepare_qm9, rebuild_cache

from moldiff.training.staged import probe_training_rate, sample_until, train_and_export, training_plan, worthwhile_batch

T0 = time.time()
CONFIG = "configs/qm9_bonds_gpu.yaml"


def say(*a) -> None:
    print(f"[{time.time() - T0:7.1f}s]", *a, flush=True)


def prepare(folder: Path) -> None:
    """QM9 arrays (:func:`qm9_gpu_stage.prepare`) and the bond tables, into ``folder``."""
    import numpy as np

    from moldiff.data.qm9_bonds import load_qm9_bonds

    prepare_qm9(folder)
    b = load_qm9_bonds(progress=True)
    np.savez_compressed(folder / "qm9_bonds.npz", pairs=b.pairs.numpy().astype(np.uint8),
                        bond_class=b.bond_class.numpy().astype(np.uint8),
                        bond_counts=(b.bond_ptr[1:] - b.bond_ptr[:-1]).numpy().astype(np.int16),
                        charge=b.charge.numpy().astype(np.int8), source=b.source.numpy().astype(np.int8))
    print(f"wrote {folder}/qm9_bonds.npz ({(folder / 'qm9_bonds.npz').stat().st_size / 2**20:.1f} MiB)")


def rebuild_bonds(folder: Path) -> None:
    """moldiff's QM9-bond cache from ``qm9_bonds.npz`` (the GPU machine has no RDKit)."""
    import numpy as np
    import torch

    from moldiff.data.qm9_bonds import _CACHE_VERSION, QM9Bonds, _cache_path

    path = _cache_path(None)
    if path.is_file():
        return
    z = np.load(folder / "qm9_bonds.npz")
    counts = torch.from_numpy(z["bond_counts"].astype(np.int64))
    ptr = torch.zeros(len(counts) + 1, dtype=torch.long)
    torch.cumsum(counts, 0, out=ptr[1:])
    source = torch.from_numpy(z["source"].astype(np.int64))
    bonds = QM9Bonds(pairs=torch.from_numpy(z["pairs"].astype(np.int64)),
                     bond_class=torch.from_numpy(z["bond_class"].astype(np.int64)), bond_ptr=ptr,
                     charge=torch.from_numpy(z["charge"].astype(np.int64)), ok=source > 0, source=source)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"version": _CACHE_VERSION, "bonds": vars(bonds)}, path)


def run(args) -> None:
    out = Path(os.environ.get("OUT", "gpu_out"))
    out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(args.dir / "site"))
    os.environ.setdefault("MOLDIFF_CACHE", "/tmp/moldiff_cache")
    import torch

    cuda = args.accelerator == "gpu"
    say("torch", torch.__version__, torch.cuda.get_device_name(0) if cuda else "cpu")
    rebuild_cache(args.dir)
    rebuild_bonds(args.dir)
    from moldiff.api import load
    from moldiff.training.build import build_datamodule, build_module
    from moldiff.config import TrainConfig, load_config
    from moldiff.data.qm9 import QM9_ELEMENTS
    from moldiff.training.run import init_weights

    run_dir = args.run_dir
    if run_dir.exists():  # train() would resume from it instead of starting anew
        sys.exit(f"{run_dir}: exists; give a new --run-dir")
    dev = torch.device("cuda" if cuda else "cpu")
    if cuda:
        torch.set_float32_matmul_precision("high")

    def config(batch: int, extra=()):
        lr = args.base_lr * (batch / 256) ** 0.5
        return load_config(CONFIG, TrainConfig, [
            f"data.batch_size={batch}", f"data.num_workers={args.workers}", f"optim.lr={lr:.3g}",
            f"trainer.accelerator={args.accelerator}", *args.override, *extra])

    probe = {}
    for batch in args.batches:
        cfg = config(batch)
        dm = build_datamodule(cfg.data, bonds=True)
        dm.setup("fit")
        module = build_module(cfg, QM9_ELEMENTS, dm.stats.num_atoms_hist, priors=dm.priors).to(dev)
        if args.init:
            init_weights(module, args.init)
        probe[batch] = probe_training_rate(module, dm.train_dataloader(), dev, args.probe_steps, skip=10,
                                           batch_size=batch)
        say("probe batch", batch, {k: round(v, 3) for k, v in probe[batch].items()})
        del dm, module
    chosen = worthwhile_batch(probe)

    cfg, plan = training_plan(args, probe, chosen, config, run_dir,
                              torch.cuda.get_device_name(0) if cuda else "cpu", T0)
    plan["overrides"] = args.override
    say("plan", plan)
    weights = train_and_export(cfg, run_dir, out, plan, probe, "qm9_bonds", log=say)

    model = load(weights, device=str(dev))
    for n_steps in args.sample_steps:
        sample_until(model, args.sample_n, args.sample_batch, n_steps, T0 + args.budget - 8,
                     out / f"samples_raw_{n_steps}.pt",
                     {"sampler": "flow", "time_power": model.default_time_power, "weights": weights.name,
                      "device": plan["device"]}, log=say)
    say("done")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare", help="write the data to carry (on a machine with qm9pack and RDKit)")
    pp.add_argument("--dir", type=Path, default=Path(".gpu_bonds"))
    pr = sub.add_parser("run", help="train, export, sample (on the GPU machine)")
    pr.add_argument("budget", type=float, help="seconds for the whole command")
    pr.add_argument("--dir", type=Path, default=Path(".gpu_bonds"))
    pr.add_argument("--init", type=Path, default=None, help="continue from these weights (a previous stage)")
    pr.add_argument("--run-dir", type=Path, default=Path(f"/tmp/runs/bonds_stage_{int(T0)}"))
    pr.add_argument("--accelerator", default="gpu")
    pr.add_argument("--batches", type=lambda s: [int(b) for b in s.split(",")], default=[256, 512])
    pr.add_argument("--base-lr", type=float, default=5e-4, help="peak learning rate at batch 256")
    pr.add_argument("--warmup", type=int, default=300)
    pr.add_argument("--rate-factor", type=float, default=0.8, help="Lightning's steps/s over the bare probe's")
    pr.add_argument("--override", nargs="*", default=[], help="more key=value config overrides")
    pr.add_argument("--probe-steps", type=int, default=30)
    pr.add_argument("--workers", type=int, default=8)
    pr.add_argument("--sample-n", type=int, default=10000)
    pr.add_argument("--sample-steps", type=int, nargs="+", default=[100, 20])
    pr.add_argument("--sample-batch", type=int, default=1000)
    pr.add_argument("--sample-reserve", type=float, default=90.0, help="seconds kept for export and sampling")
    args = p.parse_args()
    prepare(args.dir) if args.cmd == "prepare" else run(args)


if __name__ == "__main__":
    main()
