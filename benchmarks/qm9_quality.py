"""Sample quality of a trained model under the EDM/QM9 protocol, and sampling speed.

    python benchmarks/qm9_quality.py --n 1000 --steps 100 --seed 0
    python benchmarks/qm9_quality.py --n 1000 --steps 25 50 100 250 --json steps.json
    python benchmarks/qm9_quality.py --model BONDS.pt --steps 20 100 --cat-noise 0 1 5   # bond family

Samples ``--n`` molecules with the shipped QM9 model (or ``--model CKPT``), atom counts
drawn from the training histogram, bonds from the QM9 bond-length table, and prints one
JSON line per step count with the ``moldiff evaluate`` metrics (novelty against the QM9
training split unless ``--no-novelty``) plus ``mol_per_s`` and ``seconds_per_mol``
(sampling only, not evaluation). ``--json`` writes all rows with the model and machine.

    python benchmarks/qm9_quality.py --from-raw samples_raw.pt --model M.pt --json out.json

scores molecules sampled elsewhere (e.g. on a GPU machine without RDKit: packed arrays as
written by ``benchmarks/qm9_gpu_stage.py``); the timing is the one stored with them.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from _common import machine, report
from moldiff.training.staged import unpack_samples
from moldiff.api import load
from moldiff.diffusion import SAMPLERS
from moldiff.metrics import evaluate, reference_smiles


def _metrics(mols, reference, own: bool) -> dict:
    """EDM-protocol metrics (bonds from the QM9 bond-length table); with ``own``, also the
    metrics with the model's own bonds and charges (``own_*``, as MiDi/SemlaFlow report)."""
    metrics = evaluate(mols, reference=reference)
    if own:
        metrics.update({f"own_{k}": v for k, v in evaluate(mols, bonds="file", reference=reference).items()})
    return metrics


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="shipped model name or checkpoint (default: shipped qm9)")
    p.add_argument("--n", type=int, default=1000, help="molecules per step count")
    p.add_argument("--steps", type=int, nargs="+", default=[100])
    p.add_argument("--sampler", default=None, choices=list(SAMPLERS))
    p.add_argument("--time-power", type=float, default=None, help="step grid t = u^P (default: the model's)")
    p.add_argument("--noise-scale", type=float, default=None,
                   help="noise scale of the stochastic samplers (default: the model's; 1: the model's distribution)")
    p.add_argument("--cat-noise", type=float, nargs="+", default=[None],
                   help="bond family: the categorical jumps' noise, one row per value (default: the model's)")
    p.add_argument("--last-step", choices=["argmax", "sample"], default=None,
                   help="bond family: decode the last step by argmax or by sampling (default: the model's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--no-novelty", action="store_true", help="skip novelty (its reference takes ~90 s once)")
    p.add_argument("--sdf-dir", help="also write the samples here as steps<S>.sdf")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", help="write all rows here")
    p.add_argument("--from-raw", help="score these packed samples instead of sampling (see the module doc)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.sdf_dir:
        Path(args.sdf_dir).mkdir(parents=True, exist_ok=True)
    model = load(args.model, device=args.device)
    reference = None if args.no_novelty else reference_smiles("qm9", progress=False)
    rows = []
    if args.from_raw:
        from moldiff.serialization import load_tensors

        mols, meta = unpack_samples(load_tensors(args.from_raw, "packed samples file"))
        metrics = _metrics(mols, reference, own=mols and mols[0] is not None and mols[0].bonds is not None)
        seconds = meta.get("sampling_s")
        row = {"steps": meta.get("steps"), "sampler": meta.get("sampler", "ddpm"),
               "time_power": meta.get("time_power", model.default_time_power),
               "noise_scale": meta.get("noise_scale", 1.0), **metrics, "sampled_on": meta.get("device"), "sampling_seconds": seconds,
               "mol_per_s": round(len(mols) / seconds, 2) if seconds else None,
               "seconds_per_mol": round(seconds / len(mols), 5) if seconds else None, "raw_file": str(args.from_raw)}
        rows.append(row)
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
        args.n, args.steps = len(mols), []
    own = getattr(model, "default_sampler", None) == "flow"  # the bond family: its own bonds are scored too
    runs = [(steps, eta) for steps in args.steps for eta in (args.cat_noise if own else [None])]
    for steps, eta in runs:
        start = time.perf_counter()
        kwargs = {"cat_noise": eta, "last_step": args.last_step} if own else {"sampler": args.sampler, "noise_scale": args.noise_scale}
        mols = model.sample_mol3d(args.n, steps=steps, seed=args.seed, batch_size=args.batch_size, progress=True,
                                  time_power=args.time_power, **kwargs)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        metrics = _metrics(mols, reference, own)
        if args.sdf_dir:
            from moldiff.chem.sdf import write_sdf

            write_sdf(model.to_rdkit(mols), Path(args.sdf_dir) / f"steps{steps}.sdf")
        row = {"steps": steps, "sampler": args.sampler or model.default_sampler,
               "time_power": model.default_time_power if args.time_power is None else args.time_power,
               "noise_scale": model.default_noise_scale if args.noise_scale is None else args.noise_scale,
               **({"cat_noise": model.cat_noise if eta is None else eta,
                   "last_step": args.last_step or model.last_step} if own else {}), **metrics,
               "sampling_seconds": round(seconds, 2), "mol_per_s": round(args.n / seconds, 2),
               "seconds_per_mol": round(seconds / args.n, 4)}
        rows.append(row)
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    info = model.info()
    report({
        "benchmark": "qm9_quality", "model": info.get("name") or str(args.model), "file": info.get("file"),
        "training": info.get("training"), "n": args.n, "seed": args.seed, "batch_size": args.batch_size,
        "device": rows[0].get("sampled_on") if args.from_raw else args.device, "protocol": "EDM: histogram atom counts, QM9 bond-length table, RDKit validity"
                    + ("; own_*: the model's own bonds and charges" if own else ""),
        "rows": rows, "machine": machine(),
    }, args.json)


if __name__ == "__main__":
    main()
