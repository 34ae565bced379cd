"""Sampling throughput of the denoiser + sampler (untrained weights: speed only).

    python benchmarks/sampling_speed.py --hidden 128 --layers 6 --steps 50 --batch 64
    python benchmarks/sampling_speed.py --model bond_egnn --hidden 128 --layers 6 --steps 50 --batch 64

``--model bond_egnn``: the bond-generating family (:class:`~moldiff.nn.bond_egnn.BondEGNN`,
``--edge-hidden`` wide pair features, every pair of a molecule) sampled by
:func:`~moldiff.diffusion.flow.sample_flow` (self-conditioned, ``--last-step`` decoding); each
step is one network call, as for the other samplers.

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
    p.add_argument("--model", default="egnn", choices=["egnn", "e3nn", "bond_egnn"])
    p.add_argument("--edge-hidden", type=int, default=64, help="bond_egnn: pair feature width")
    p.add_argument("--last-step", default="argmax", choices=["argmax", "sample"], help="bond_egnn: last-step decoding")
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
    counts = qm9_stats("train").sample_num_atoms(args.batch, torch.Generator().manual_seed(0))
    sample = bond_sampler(args) if args.model == "bond_egnn" else atom_sampler(args)
    times = []
    for r in range(args.repeats):
        gen = torch.Generator(device=args.device).manual_seed(r)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        sample(counts, gen)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    seconds = median(times)
    mol_per_s = args.batch / seconds
    report({
        "benchmark": "sampling_speed", "model": args.model, "hidden": args.hidden, "layers": args.layers,
        "steps": args.steps, "batch": args.batch, "device": args.device,
        "sampler": "flow" if args.model == "bond_egnn" else args.sampler,
        **({"edge_hidden": args.edge_hidden, "last_step": args.last_step} if args.model == "bond_egnn" else {}),
        "mean_atoms": float(counts.float().mean()), "seconds_per_batch_median": round(seconds, 3),
        "seconds_all": [round(t, 3) for t in times], "mol_per_s": round(mol_per_s, 2),
        "edm_reference_mol_per_s": round(EDM_REFERENCE_MOL_PER_S, 3),
        "speedup_vs_edm_reference": round(mol_per_s / EDM_REFERENCE_MOL_PER_S, 1),
        "peak_memory_mb": round(peak_memory_mb(args.device), 1), "machine": machine(),
    }, args.json)


def atom_sampler(args):
    """The atoms-only family: an untrained denoiser under the EDM schedule and ``--sampler``."""
    codec = FeatureCodec(len(QM9_ELEMENTS))
    denoiser = build_denoiser(model_config(name=args.model, hidden=args.hidden, layers=args.layers),
                              codec.num_features).to(args.device).eval()

    def sample(counts, gen):
        return sample_molecules(denoiser, PolynomialSchedule(), codec, QM9_ELEMENTS, counts, steps=args.steps,
                                sampler=args.sampler, generator=gen, device=args.device)
    return sample


def bond_sampler(args):
    """The bond-generating family: an untrained BondEGNN, QM9's classes, uniform priors (the
    cost of a step does not depend on them: every pair is a graph edge)."""
    from moldiff.build import build_bond_network
    from moldiff.data.qm9_bonds import CHARGES
    from moldiff.diffusion.flow import BOND_ORDERS, sample_flow

    num_types, num_charges, num_bonds = len(QM9_ELEMENTS), len(CHARGES), len(BOND_ORDERS)
    cfg = model_config(name="bond_egnn", hidden=args.hidden, layers=args.layers, edge_hidden=args.edge_hidden)
    network = build_bond_network(cfg, num_types, num_charges, num_bonds).to(args.device).eval()
    priors = {k: torch.full((n,), 1.0 / n, device=args.device)
              for k, n in (("atom_type", num_types), ("charge", num_charges), ("bond_type", num_bonds))}

    def sample(counts, gen):
        with torch.no_grad():
            return sample_flow(network, counts, priors, 1.0, steps=args.steps, generator=gen, device=args.device,
                               last_step=args.last_step)
    return sample


if __name__ == "__main__":
    main()
