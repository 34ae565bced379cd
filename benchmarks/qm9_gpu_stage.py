"""One training stage of the QM9 model inside a short GPU lease (the `device` tool), then samples.

Here (with qm9pack installed), once:

    python benchmarks/qm9_gpu_stage.py prepare --dir .gpu

writes QM9 as packed arrays (28 MB, under the lease's 64 MB carry limit) and a one-file
``qm9pack`` dist-info into ``.gpu`` (ignored by git; the GPU machine has no qm9pack, RDKit
or network). On the GPU machine, carrying ``.gpu``:

    PYTHONPATH=. python3 benchmarks/qm9_gpu_stage.py run 550 --dir .gpu --init moldiff/pretrained/qm9_egnn.pt

(``--config configs/qm9_alpha_gpu.yaml --name qm9_alpha``: the property-conditioned model of
EDM's protocol, from the unconditional weights; its input layer is widened with zero weights.)

1. rebuilds moldiff's QM9 cache from the arrays;
2. times bare training steps (forward, backward, AdamW, EMA) at each ``--batches`` size and
   keeps the largest that buys >= 1.4x the molecules/s of the smaller one (the learning
   rate is scaled by sqrt(batch / 256));
3. trains ``configs/qm9_gpu.yaml`` from ``--init``'s EMA weights (a new run: fresh AdamW,
   warm-up + cosine) for as many steps as the measured rate fits into what is left of the
   budget (``trainer.max_time`` as the safety stop);
4. exports best (lowest EMA validation loss) and last to ``$OUT/qm9_best.pt`` / ``qm9_last.pt``
   and copies the run's ``metrics.csv``;
5. samples ``--sample-n`` molecules (100 steps) with the best weights, in chunks of
   ``--sample-batch`` seeded with the chunk's first index, until the budget, into
   ``$OUT/samples_raw.pt``; score them on a machine with RDKit with
   ``python benchmarks/qm9_quality.py --from-raw samples_raw.pt --model qm9_best.pt``.

Everything lands in ``$OUT`` as it is produced: a run stopped late still returns its weights.
``plan.json`` records the probe and the plan. CUDA sampling is not bit-reproducible between
runs (atomic scatter-adds): the same seeds give statistically, not exactly, equal samples.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from moldiff.training.staged import (probe_training_rate, sample_until, train_and_export, training_plan,
                                     worthwhile_batch)

T0 = time.time()


def say(*a) -> None:
    print(f"[{time.time() - T0:7.1f}s]", *a, flush=True)


def prepare(folder: Path) -> None:
    """QM9 arrays + a qm9pack dist-info stub for the cache name, into ``folder``."""
    from importlib import metadata

    import numpy as np

    from moldiff.data.qm9 import load_qm9
    from moldiff.data.qm9_properties import load_qm9_properties

    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "qm9_properties.npy", load_qm9_properties().numpy())  # 6 MB: property-conditioned runs
    a = vars(load_qm9())
    np.savez_compressed(folder / "qm9_arrays.npz", pos=a["pos"].numpy(),
                        atom_type=a["atom_type"].numpy().astype(np.int8),
                        charge=a["charge"].numpy().astype(np.int8), ptr=a["ptr"].numpy(),
                        index=a["index"].numpy(), smiles=np.array(a["smiles"]))
    version = metadata.version("qm9pack")
    info = folder / "site" / f"qm9pack-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: qm9pack\nVersion: {version}\n")
    print(f"wrote {folder}/qm9_arrays.npz and {info}")


def rebuild_cache(folder: Path) -> None:
    import numpy as np
    import torch

    from moldiff.data.qm9 import QM9Arrays, _cache_path, write_cache
    from moldiff.data.qm9_properties import PROPERTIES, _CACHE_VERSION
    from moldiff.data.qm9_properties import _cache_path as properties_path

    if (folder / "qm9_properties.npy").is_file() and not properties_path(None).is_file():
        path = properties_path(None)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"version": _CACHE_VERSION, "names": list(PROPERTIES),
                    "values": torch.from_numpy(np.load(folder / "qm9_properties.npy"))}, path)
    if _cache_path(None).is_file():
        return
    z = np.load(folder / "qm9_arrays.npz")
    write_cache(QM9Arrays(pos=torch.from_numpy(z["pos"]), atom_type=torch.from_numpy(z["atom_type"].astype(np.int64)),
                          charge=torch.from_numpy(z["charge"].astype(np.int64)), ptr=torch.from_numpy(z["ptr"]),
                          index=torch.from_numpy(z["index"]), smiles=z["smiles"].tolist()))


def run(args) -> None:
    out = Path(os.environ.get("OUT", "gpu_out"))
    out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(args.dir / "site"))
    os.environ.setdefault("MOLDIFF_CACHE", "/tmp/moldiff_cache")
    import torch

    cuda = args.accelerator == "gpu"
    say("torch", torch.__version__, torch.cuda.get_device_name(0) if cuda else "cpu")
    rebuild_cache(args.dir)
    from moldiff.api import load
    from moldiff.training.build import build_datamodule, build_module
    from moldiff.config import TrainConfig, load_config
    from moldiff.data.qm9 import QM9_ELEMENTS
    from moldiff.training.run import init_weights

    run_dir = args.run_dir
    if run_dir.exists():  # train() would resume from it instead of starting from --init
        sys.exit(f"{run_dir}: exists; give a new --run-dir")
    dev = torch.device("cuda" if cuda else "cpu")
    if cuda:
        torch.set_float32_matmul_precision("high")

    def config(batch: int, extra=()):
        lr = args.base_lr * (batch / 256) ** 0.5
        return load_config(args.config, TrainConfig, [
            f"data.batch_size={batch}", f"data.num_workers={args.workers}", f"optim.lr={lr:.3g}",
            f"trainer.accelerator={args.accelerator}", f"sampling.time_power={args.time_power}",
            f"sampling.sampler={args.sampler}", f"sampling.noise_scale={args.noise_scale}", *extra])

    # 2. probe
    probe = {}
    for batch in args.batches:
        cfg = config(batch)
        properties = cfg.conditioning.properties
        dm = build_datamodule(cfg.data, properties=properties)
        dm.setup("fit")
        module = build_module(cfg, QM9_ELEMENTS, dm.stats.num_atoms_hist,
                              conditioning=dm.conditioning if properties else None).to(dev)
        init_weights(module, args.init)
        probe[batch] = probe_training_rate(module, dm.train_dataloader(), dev, args.probe_steps, skip=10,
                                           batch_size=batch)
        say("probe batch", batch, {k: round(v, 3) for k, v in probe[batch].items()})
        del dm, module
    chosen = worthwhile_batch(probe)

    # 3. train, 4. export
    cfg, plan = training_plan(args, probe, chosen, config, run_dir,
                              torch.cuda.get_device_name(0) if cuda else "cpu", T0)
    say("plan", plan)
    weights = train_and_export(cfg, run_dir, out, plan, probe, args.name)

    # 5. sample
    model = load(weights, device=str(dev))
    if model.condition_names:  # scoring needs the requested values: sample where the classifier runs
        say("property-conditioned model: no samples here (benchmarks/qm9_conditional.py scores it)")
        return
    sample_until(model, args.sample_n, args.sample_batch, 100, T0 + args.budget - 8, out / "samples_raw.pt",
                 {"sampler": model.default_sampler, "time_power": model.default_time_power,
                  "noise_scale": model.default_noise_scale, "weights": weights.name, "device": plan["device"]})
    say("done")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare", help="write the data to carry (on a machine with qm9pack)")
    pp.add_argument("--dir", type=Path, default=Path(".gpu"))
    pr = sub.add_parser("run", help="train, export, sample (on the GPU machine)")
    pr.add_argument("budget", type=float, help="seconds for the whole command")
    pr.add_argument("--dir", type=Path, default=Path(".gpu"))
    pr.add_argument("--init", type=Path, default=Path("moldiff/pretrained/qm9_egnn.pt"))
    pr.add_argument("--config", default="configs/qm9_gpu.yaml",
                    help="the run's config (configs/qm9_alpha_gpu.yaml: property-conditioned)")
    pr.add_argument("--name", default="qm9", help="exported files: $OUT/<name>_best.pt, <name>_last.pt")
    pr.add_argument("--run-dir", type=Path, default=Path(f"/tmp/runs/stage_{int(T0)}"))
    pr.add_argument("--accelerator", default="gpu")
    pr.add_argument("--batches", type=lambda s: [int(b) for b in s.split(",")], default=[256, 512])
    pr.add_argument("--base-lr", type=float, default=2e-4, help="peak learning rate at batch 256")
    pr.add_argument("--warmup", type=int, default=200)
    pr.add_argument("--rate-factor", type=float, default=0.8, help="Lightning's steps/s over the bare probe's")
    pr.add_argument("--time-power", type=float, default=3.0, help="the exported model's sampling step grid")
    pr.add_argument("--sampler", default="dpm2m", help="the exported model's default sampler")
    pr.add_argument("--noise-scale", type=float, default=0.7, help="the exported model's default noise scale")
    pr.add_argument("--probe-steps", type=int, default=40)
    pr.add_argument("--workers", type=int, default=8)
    pr.add_argument("--sample-n", type=int, default=10000)
    pr.add_argument("--sample-batch", type=int, default=1000)
    pr.add_argument("--sample-reserve", type=float, default=60.0, help="seconds kept for export and sampling")
    args = p.parse_args()
    prepare(args.dir) if args.cmd == "prepare" else run(args)


if __name__ == "__main__":
    main()
