"""Training throughput (forward + backward + AdamW step) on real QM9 batches.

    python benchmarks/training_speed.py --hidden 128 --layers 6 --batch 64

Prints one JSON line with ``mol_per_s`` (median over timed steps after warm-up) and
peak memory. ``--compile`` wraps the denoiser in ``torch.compile``.
"""
from __future__ import annotations

import argparse
import time

import torch

from _common import machine, median, peak_memory_mb, report
from moldiff.build import build_denoiser
from moldiff.config import model_config
from moldiff.data.datamodule import QM9DataModule
from moldiff.diffusion import FeatureCodec, PolynomialSchedule, diffusion_loss


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="egnn", choices=["egnn", "e3nn"])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=30, help="timed steps")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    codec = FeatureCodec(5)
    denoiser = build_denoiser(model_config(name=args.model, hidden=args.hidden, layers=args.layers),
                              codec.num_features).to(args.device)
    model = torch.compile(denoiser) if args.compile else denoiser
    opt = torch.optim.AdamW(denoiser.parameters(), lr=1e-4)
    schedule = PolynomialSchedule()
    loader = QM9DataModule(batch_size=args.batch, limit_train=args.batch * (args.steps + args.warmup)).train_dataloader()
    times = []
    for i, batch in enumerate(loader):
        batch = batch.to(args.device)
        t0 = time.perf_counter()
        h = codec.encode(batch.atom_type, batch.charge)
        loss, _ = diffusion_loss(model, schedule, batch.pos, h, batch.batch, batch.num_graphs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(denoiser.parameters(), 1.0)
        opt.step()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    seconds = median(times)
    report({
        "benchmark": "training_speed", "model": args.model, "hidden": args.hidden, "layers": args.layers,
        "batch": args.batch, "compile": args.compile, "device": args.device, "timed_steps": len(times),
        "seconds_per_step_median": round(seconds, 4), "mol_per_s": round(args.batch / seconds, 1),
        "parameters": sum(p.numel() for p in denoiser.parameters()),
        "peak_memory_mb": round(peak_memory_mb(args.device), 1), "machine": machine(),
    }, args.json)


if __name__ == "__main__":
    main()
