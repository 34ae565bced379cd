"""Sampling throughput of the denoiser + sampler (untrained weights: speed only).

    python benchmarks/sampling_speed.py --hidden 128 --layers 6 --steps 50 --batch 64

Atom counts are drawn from the QM9 training histogram (seeded). Prints one JSON line
with ``mol_per_s`` (median over ``--repeats``), seconds per batch, peak memory and the
ratio to the EDM reference implementation measured on the project's 2-core CPU machine
(64 molecules x 50 steps in ~137 s at 128 wide, 6 layers: 0.467 molecules/s).
"""
from __future__ import annotations

import argparse
import time

import torch

from _common import machine, median, peak_memory_mb, report
from moldiff.build import build_denoiser
from moldiff.config import model_config
from moldiff.data import QM9_ELEMENTS, qm9_stats
from moldiff.diffusion import SAMPLERS, FeatureCodec, PolynomialSchedule
from moldiff.diffusion.generate import sample_molecules

EDM_REFERENCE_MOL_PER_S = 64 / 137.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="egnn", choices=["egnn", "e3nn"])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--sampler", default="ddpm", choices=list(SAMPLERS))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", help="also write the result here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    codec = FeatureCodec(len(QM9_ELEMENTS))
    denoiser = build_denoiser(model_config(name=args.model, hidden=args.hidden, layers=args.layers),
                              codec.num_features).to(args.device).eval()
    counts = qm9_stats("train").sample_num_atoms(args.batch, torch.Generator().manual_seed(0))
    times = []
    for r in range(args.repeats):
        gen = torch.Generator(device=args.device).manual_seed(r)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        sample_molecules(denoiser, PolynomialSchedule(), codec, QM9_ELEMENTS, counts, steps=args.steps,
                         sampler=args.sampler, generator=gen, device=args.device)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    seconds = median(times)
    mol_per_s = args.batch / seconds
    report({
        "benchmark": "sampling_speed", "model": args.model, "hidden": args.hidden, "layers": args.layers,
        "steps": args.steps, "batch": args.batch, "sampler": args.sampler, "device": args.device,
        "mean_atoms": float(counts.float().mean()), "seconds_per_batch_median": round(seconds, 3),
        "seconds_all": [round(t, 3) for t in times], "mol_per_s": round(mol_per_s, 2),
        "edm_reference_mol_per_s": round(EDM_REFERENCE_MOL_PER_S, 3),
        "speedup_vs_edm_reference": round(mol_per_s / EDM_REFERENCE_MOL_PER_S, 1),
        "peak_memory_mb": round(peak_memory_mb(args.device), 1), "machine": machine(),
    }, args.json)


if __name__ == "__main__":
    main()
