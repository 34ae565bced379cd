"""Pre-train and fine-tune the pocket model inside one short GPU lease (the `device` tool).

Here (with RDKit and ``../shared/data``), once:

    python benchmarks/pocket_gpu_stage.py prepare --dir .gpu_pocket --num-molecules 100000

builds (or reads from moldiff's cache) the drug-like conformer set and the fep_benchmark
complexes exactly as ``configs/pocket/*.yaml`` would, split them as the data modules do, and
writes the splits as packed arrays (positions as int16 in 0.001 Å / float32 for complexes) to
carry: the GPU machine has no RDKit and no ``../shared/data``. On the GPU machine:

    PYTHONPATH=. python3 benchmarks/pocket_gpu_stage.py run 540 --dir .gpu_pocket \\
        --init moldiff/pretrained/pocket_egnn.pt

1. times bare training steps on the drug-like set at each ``--batches`` size and keeps the
   largest that buys >= 1.4x the molecules/s of the smaller one;
2. pre-trains ``configs/pocket/druglike_pretrain.yaml`` from ``--init``'s EMA weights for the
   time the fine-tuning leaves (steps from the measured rate, ``max_time`` as the safety stop),
   learning rate ``--pretrain-lr`` x sqrt(batch / 256);
3. fine-tunes ``configs/pocket/fep_finetune.yaml`` from the pre-training's best (lowest EMA
   validation loss) for ``--finetune-epochs`` at ``--finetune-batch`` (the CPU recipe: longer
   fine-tuning on 74 targets skewed the atom types: the comment in run()), keeping the lowest
   validation loss;
4. exports the pre-training's best and the fine-tuning's best and last to ``$OUT``
   (``pocket_pretrain_best.pt``, ``pocket_best.pt``, ``pocket_last.pt``) with both runs'
   ``metrics.csv``. ``plan.json`` records the probes and the plans.

Score the exported model here with ``benchmarks/design_posebusters.py --model pocket_best.pt``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from moldiff.training.staged import max_time, pack_graphs, probe_training_rate, unpack_graphs, worthwhile_batch

T0 = time.time()


def say(*a) -> None:
    print(f"[{time.time() - T0:7.1f}s]", *a, flush=True)


def _split_arrays(z, split: str) -> dict:
    return {k[len(split) + 1:]: z[k] for k in z.files if k.startswith(split + "/")}


def prepare(args) -> None:
    import numpy as np

    from moldiff.training.build import build_datamodule
    from moldiff.config import TrainConfig, load_config

    args.dir.mkdir(parents=True, exist_ok=True)
    pre = load_config("configs/pocket/druglike_pretrain.yaml", TrainConfig,
                      [f"data.num_molecules={args.num_molecules}", f"data.build_workers={args.build_workers}"])
    fine = load_config("configs/pocket/fep_finetune.yaml", TrainConfig)
    manifest = {}
    for name, cfg in (("druglike", pre), ("complexes", fine)):
        dm = build_datamodule(cfg.data)
        dm.setup()
        arrays = {}
        for split in ("train", "val", "test"):
            arrays.update({f"{split}/{k}": v for k, v in pack_graphs(dm.datasets[split], name == "druglike").items()})
        np.savez_compressed(args.dir / f"{name}.npz", **arrays)
        manifest[name] = {"config": {k: v for k, v in vars(cfg.data).items()},
                          "sizes": {s: len(dm.datasets[s]) for s in ("train", "val", "test")}}
        say(name, manifest[name]["sizes"], f"{(args.dir / f'{name}.npz').stat().st_size / 2**20:.1f} MiB")
    (args.dir / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))


# --- the GPU run -----------------------------------------------------------------------------
def _datamodule(name: str, folder: Path, batch: int, workers: int):
    import numpy as np

    from moldiff.data.datamodule import PocketDataModule

    z = np.load(folder / f"{name}.npz")
    label = str(folder / f"{name}.npz")
    dm = PocketDataModule(name, root=label if name == "complexes" else None,
                          smiles=label if name == "druglike" else None, batch_size=batch, num_workers=workers)
    dm.datasets = {s: unpack_graphs(_split_arrays(z, s)) for s in ("train", "val", "test")}
    return dm


def _probe(cfg, dm, init: Path | None, dev, steps: int) -> dict:
    from moldiff.training.build import build_module
    from moldiff.training.run import init_weights

    module = build_module(cfg, dm.elements, dm.stats.num_atoms_hist).to(dev)
    if init:
        init_weights(module, init)
    return probe_training_rate(module, dm.train_dataloader(), dev, steps, skip=5, batch_size=dm.batch_size)


def run(args) -> None:
    out = Path(os.environ.get("OUT", "gpu_out"))
    out.mkdir(parents=True, exist_ok=True)
    import torch

    from moldiff.api import export_model
    from moldiff.config import TrainConfig, load_config
    from moldiff.training.run import train

    cuda = args.accelerator == "gpu"
    dev = torch.device("cuda" if cuda else "cpu")
    device_name = torch.cuda.get_device_name(0) if cuda else "cpu"
    say("torch", torch.__version__, device_name)
    if args.run_dir.exists():
        sys.exit(f"{args.run_dir}: exists; give a new --run-dir")
    if cuda:
        torch.set_float32_matmul_precision("high")
    plan: dict = {"device": device_name, "init": str(args.init), "budget_s": args.budget}

    def save_plan():
        (out / "plan.json").write_text(json.dumps(plan, indent=1))

    def config(path: str, batch: int, lr: float, extra=()):
        return load_config(path, TrainConfig, [f"data.batch_size={batch}", f"data.num_workers={args.workers}",
                                               f"optim.lr={lr:.3g}", f"trainer.accelerator={args.accelerator}",
                                               *extra])

    def stage(name, path, dm, batch, lr, init, seconds, probe, extra=(), steps=None):
        steps = steps or int(probe["steps_per_s"] * args.rate_factor * seconds)
        run_dir = args.run_dir / name
        # the steps end the run (the configs' max_epochs would cut it short: a stage-1 lesson)
        cfg = config(path, batch, lr, [f"trainer.init_from={init}", f"trainer.max_steps={steps}",
                                       "trainer.max_epochs=1000", f"trainer.max_time={max_time(seconds + 15)}",
                                       f"trainer.output_dir={run_dir}", "trainer.checkpoint_every_n_steps=1000000",
                                       *extra])
        dm.batch_size = batch
        plan[name] = {"batch": batch, "lr": cfg.optim.lr, "max_steps": steps, "budget_s": round(seconds, 1),
                      "probe": probe, "train_size": len(dm.datasets["train"]), "val_size": len(dm.datasets["val"])}
        say(name, "plan", plan[name])
        save_plan()
        start = time.time()
        try:
            train(cfg, progress=False, datamodule=dm)
        except FloatingPointError as exc:  # a diverged run keeps its best checkpoint so far
            plan[name]["error"] = str(exc)
            say(name, "stopped:", exc)
        plan[name]["wall_s"] = round(time.time() - start, 1)
        logs = sorted((run_dir / "logs").glob("version_*/metrics.csv"))
        if logs:
            shutil.copy(logs[-1], out / f"{name}_metrics.csv")
        return run_dir / "checkpoints"

    # 1. probe the pre-training batch size
    pre_path, fine_path = "configs/pocket/druglike_pretrain.yaml", "configs/pocket/fep_finetune.yaml"
    druglike = _datamodule("druglike", args.dir, args.batches[0], args.workers)
    complexes = _datamodule("complexes", args.dir, args.finetune_batch, args.workers)
    say("data", {n: {s: len(dm.datasets[s]) for s in dm.datasets} for n, dm in
                 (("druglike", druglike), ("complexes", complexes))})
    probes = {}
    for batch in args.batches:
        druglike.batch_size = batch
        probes[batch] = _probe(config(pre_path, batch, 1e-4), druglike, args.init, dev, args.probe_steps)
        say("probe batch", batch, {k: round(v, 3) for k, v in probes[batch].items()})
    chosen = worthwhile_batch(probes)
    fine_probe = _probe(config(fine_path, args.finetune_batch, 1e-4), complexes, args.init, dev, args.probe_steps)
    say("probe fine-tuning", {k: round(v, 3) for k, v in fine_probe.items()})
    plan["probes"] = {"pretrain": probes, "finetune": fine_probe}

    # 2. pre-train, 3. fine-tune: a few epochs, as on CPU. Stage 1 fine-tuned 165 epochs (best
    # validation loss at 126): its unguided designs in posebusters pockets were 15 % F and 6 % S
    # against 2.4 % and 1.2 % in its training ligands; 3 epochs at batch 8 kept them at 2.6 / 1.8 %.
    fine_steps = args.finetune_epochs * -(-len(complexes.datasets["train"]) // args.finetune_batch)
    fine_s = fine_steps / (fine_probe["steps_per_s"] * args.rate_factor) + 15.0 * args.finetune_epochs
    left = args.budget - (time.time() - T0) - args.reserve
    pre_s = left - fine_s - 40.0  # Lightning's starts and the pre-training's per-epoch validation
    if pre_s < 10:
        sys.exit(f"budget {args.budget:.0f} s leaves no time to pre-train: the fine-tuning alone needs ~{fine_s:.0f} s")
    best_pre = stage("pretrain", pre_path, druglike, chosen, args.pretrain_lr * (chosen / 256) ** 0.5, args.init,
                     pre_s, probes[chosen], [f"optim.warmup_steps={args.warmup}"]) / "best.ckpt"
    if best_pre.is_file():
        plan["pretrain"]["best"] = export_model(best_pre, out / "pocket_pretrain_best.pt").get("training")
    else:  # no validation finished: fine-tune from the initial weights
        best_pre = args.init
    save_plan()
    del druglike
    ckpts = stage("finetune", fine_path, complexes, args.finetune_batch, args.finetune_lr, best_pre, fine_s,
                  fine_probe, steps=fine_steps)
    for name in ("best", "last"):
        if (ckpts / f"{name}.ckpt").is_file():
            plan["finetune"][name] = export_model(ckpts / f"{name}.ckpt", out / f"pocket_{name}.pt").get("training")
            say("exported", name, plan["finetune"][name])
    save_plan()
    say("done")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare", help="write the data to carry (here, with RDKit and ../shared/data)")
    pp.add_argument("--dir", type=Path, default=Path(".gpu_pocket"))
    pp.add_argument("--num-molecules", type=int, default=100000)
    pp.add_argument("--build-workers", type=int, default=2)
    pr = sub.add_parser("run", help="pre-train, fine-tune, export (on the GPU machine)")
    pr.add_argument("budget", type=float, help="seconds for the whole command")
    pr.add_argument("--dir", type=Path, default=Path(".gpu_pocket"))
    pr.add_argument("--init", type=Path, default=Path("moldiff/pretrained/pocket_egnn.pt"))
    pr.add_argument("--run-dir", type=Path, default=Path(f"/tmp/runs/pocket_{int(T0)}"))
    pr.add_argument("--accelerator", default="gpu")
    pr.add_argument("--batches", type=lambda s: [int(b) for b in s.split(",")], default=[256, 512])
    pr.add_argument("--pretrain-lr", type=float, default=5e-4, help="peak pre-training learning rate at batch 256")
    pr.add_argument("--finetune-epochs", type=int, default=3, help="fine-tuning epochs (pre-training gets the rest)")
    pr.add_argument("--finetune-batch", type=int, default=8)
    pr.add_argument("--finetune-lr", type=float, default=2e-4)
    pr.add_argument("--warmup", type=int, default=200)
    pr.add_argument("--rate-factor", type=float, default=0.8, help="Lightning's steps/s over the bare probe's")
    pr.add_argument("--probe-steps", type=int, default=30)
    pr.add_argument("--workers", type=int, default=8)
    pr.add_argument("--reserve", type=float, default=40.0, help="seconds kept for exports and stops")
    args = p.parse_args()
    prepare(args) if args.cmd == "prepare" else run(args)


if __name__ == "__main__":
    main()
