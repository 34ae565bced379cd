"""Pocket-conditioned design benchmark on posebusters_dev (evaluation only, never training).

    python benchmarks/design_posebusters.py --n 10 --limit 20 --steps 100 --seed 0 --json out.json

For each complex of ``--data`` (``<ID>/<ID>_protein.pdb`` + ``<ID>_ligand.sdf``) the pocket is
the residues within 10 Å of the crystal ligand; ``--n`` ligands are designed there with the
shipped design model ``pocket_design`` (or ``--model NAME|CKPT``; ligand sizes drawn given the pocket size, or with
``--num-atoms reference`` the crystal ligand's heavy-atom count) and scored
with :func:`moldiff.metrics.pocket.evaluate_in_pocket`: validity, connectivity, uniqueness,
diversity, QED, SA, logP, Lipinski, clashes with the protein, PoseBusters' intramolecular
checks and Vina score / Vina-minimised score, side by side with the crystal ligand scored
the same way. Prints one JSON line per complex and a summary table (means over complexes, and
the median Vina scores over all designs with the share scoring at least their crystal ligand);
``--json`` writes everything with the model and machine. ``--sdf-dir`` keeps the molecules.
"""
from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from _common import machine, report
from moldiff.api import PocketModel, load
from moldiff.chem.ligand import read_ligand
from moldiff.chem.sdf import write_sdf
from moldiff.data.complexes import find_complexes, split_by_target
from moldiff.diffusion import SAMPLERS
from moldiff.metrics.pocket import evaluate_in_pocket

#: per-design fields kept in the JSON
PER_MOLECULE_KEYS = ("smiles", "heavy_atoms", "connected", "clash", "clash_vdw", "posebusters", "qed", "sa", "vina",
                     "vina_min")
SUMMARY_KEYS = ("validity", "connectivity", "valid_and_connected", "uniqueness", "diversity", "qed", "sa", "logp",
                "lipinski", "clash_2A", "clash_vdw", "posebusters_mol_valid", "vina", "vina_min", "heavy_atoms",
                "reference_qed", "reference_sa", "reference_logp", "reference_vina", "reference_vina_min",
                "seconds_design", "redrawn")


def scored(v) -> bool:
    """Neither missing nor NaN."""
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def nanmean(values) -> float | None:
    values = [v for v in values if scored(v)]
    return float(np.mean(values)) if values else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/posebusters_dev")
    p.add_argument("--model", default="pocket_design", help="shipped model name (pocket_design, pocket) or checkpoint")
    p.add_argument("--n", type=int, default=10, help="ligands per pocket")
    p.add_argument("--limit", type=int, default=None, help="first N complexes (sorted by id)")
    p.add_argument("--skip", type=int, default=0, help="skip the first K complexes (sorted by id) before --limit")
    p.add_argument("--num-atoms", choices=["prior", "reference"], default="prior",
                   help="ligand sizes: drawn given the pocket size (prior) or the crystal ligand's heavy-atom count")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sampler", choices=list(SAMPLERS), default=None, help="default: the model's")
    p.add_argument("--time-power", type=float, default=None, help="step grid t = u^P (default: the model's)")
    p.add_argument("--noise-scale", type=float, default=None, help="sampling temperature (default: the model's)")
    p.add_argument("--clash-distance", type=float, default=None,
                   help="clash guidance distance, Å (default: the model's, 2.8; 0: off)")
    p.add_argument("--no-join", action="store_true", help="no connectivity guidance")
    p.add_argument("--no-vina-guidance", action="store_true", help="no energy (Vina) guidance")
    p.add_argument("--no-relax", action="store_true", help="no restrained force-field relaxation of the designs")
    p.add_argument("--redraw", type=int, default=None,
                   help="draw designs that overlap the protein again up to K times (default: the package's, 2; 0: off)")
    p.add_argument("--center-radius", type=float, default=None,
                   help="keep the predicted ligand's centre this close to the pocket centre, Å (default 3)")
    p.add_argument("--no-vina", action="store_true")
    p.add_argument("--no-minimise", action="store_true",
                   help="Vina score only, no Vina-minimised score (minimising clashing designs is slow)")
    p.add_argument("--pb-fast", action="store_true", help="PoseBusters checks without the internal-energy one")
    p.add_argument("--sdf-dir", help="write each complex's designs here as <ID>.sdf")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--guidance-scale", type=float, default=None,
                   help="classifier-free guidance on the pocket (a model trained with pocket dropout)")
    p.add_argument("--split", choices=["train", "val", "test"], default=None,
                   help="a training data set (fep_benchmark): only this split of its targets (the training "
                        "runs' split_by_target, seed 0) -- to choose settings without posebusters_dev")
    p.add_argument("--per-target", type=int, default=None, help="at most K complexes of each target")
    p.add_argument("--json", help="write per-complex rows and the summary here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load(args.model)
    if not isinstance(model, PocketModel):
        raise SystemExit(f"{args.model}: not a pocket model")
    entries = find_complexes(args.data)
    if args.split:
        entries = split_by_target(entries)[args.split]
    if args.per_target:
        taken: Counter = Counter()
        kept = []
        for e in entries:
            taken[e.target] += 1
            if taken[e.target] <= args.per_target:
                kept.append(e)
        entries = kept
    entries = entries[args.skip:][: args.limit]
    options = {"center_radius": args.center_radius}
    if args.redraw is not None:
        options["redraw"] = args.redraw
    rows = []
    for entry in entries:
        start = time.perf_counter()
        try:
            reference = read_ligand(entry.ligand, hydrogens="add") if entry.record is None else \
                read_ligand(entry.ligand, hydrogens="add", all_records=True)[entry.record]
            mols = model.design(entry.protein, ligand=reference, n=args.n, steps=args.steps, seed=args.seed,
                                num_atoms=None if args.num_atoms == "prior" else "reference",
                                clash_distance=args.clash_distance, join_fragments=not args.no_join,
                                vina_guidance=not args.no_vina_guidance, relax=not args.no_relax,
                                sampler=args.sampler, time_power=args.time_power, noise_scale=args.noise_scale,
                                guidance_scale=args.guidance_scale, **options)
            draws = [m.GetIntProp("moldiff_draws") for m in mols if m is not None and m.HasProp("moldiff_draws")]
            seconds = time.perf_counter() - start
            if args.sdf_dir:
                Path(args.sdf_dir).mkdir(parents=True, exist_ok=True)
                write_sdf([m for m in mols if m is not None], Path(args.sdf_dir) / f"{entry.id}.sdf")
            metrics = evaluate_in_pocket(mols, entry.protein, reference=reference, vina=not args.no_vina,
                                         vina_minimise=not args.no_minimise,
                                         posebusters="fast" if args.pb_fast else True)
            per_molecule = [{k: r.get(k) for k in PER_MOLECULE_KEYS if k in r} for r in metrics.pop("per_molecule")]
            row = {"id": entry.id, "status": "ok", "seconds_design": seconds, **metrics,
                   "redrawn": float(np.mean([d > 1 for d in draws])) if draws else None, "per_molecule": per_molecule}
        except Exception as exc:  # noqa: BLE001 -- one failing complex is recorded, the run goes on
            row = {"id": entry.id, "status": f"error: {type(exc).__name__}: {exc}"}
        rows.append(row)
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()
               if k in ("id", "status", "validity", "connectivity", "vina", "reference_vina", "clash_2A")}, flush=True)
    ok = [r for r in rows if r["status"] == "ok"]
    summary = {k: nanmean([r.get(k) for r in ok]) for k in SUMMARY_KEYS}
    # pooled over all scored designs: the mean of a few badly clashing designs says little of the rest
    for key in ("vina", "vina_min"):
        pairs = [(d[key], r.get(f"reference_{key}")) for r in ok for d in r["per_molecule"] if scored(d.get(key))]
        summary[f"{key}_median"] = float(np.median([v for v, _ in pairs])) if pairs else None
        better = [v <= ref for v, ref in pairs if scored(ref)]
        summary[f"{key}_at_least_reference"] = float(np.mean(better)) if better else None
    summary["complexes"], summary["failed"] = len(ok), len(rows) - len(ok)
    print(f"\n{'metric':<24}{'designed':>12}{'reference':>12}")
    for key in ("validity", "connectivity", "uniqueness", "diversity", "qed", "sa", "logp", "lipinski", "clash_2A",
                "clash_vdw", "posebusters_mol_valid", "vina", "vina_min", "vina_median", "vina_min_median"):
        ref = summary.get(f"reference_{key}")
        fmt = (lambda v: "-" if v is None else f"{v:.3f}")
        print(f"{key:<24}{fmt(summary[key]):>12}{fmt(ref) if f'reference_{key}' in summary else '':>12}")
    print(f"designs scoring at least their crystal ligand: Vina {summary['vina_at_least_reference']}, "
          f"minimised {summary['vina_min_at_least_reference']}")
    report({"benchmark": "design_posebusters", "model": args.model, "n_per_pocket": args.n, "steps": args.steps,
            "sampler": args.sampler or model.default_sampler,
            "time_power": model.default_time_power if args.time_power is None else args.time_power,
            "noise_scale": model.default_noise_scale if args.noise_scale is None else args.noise_scale,
            "num_atoms": args.num_atoms, "clash_distance": args.clash_distance, "join_fragments": not args.no_join,
            "vina_guidance": not args.no_vina_guidance, "relax": not args.no_relax,
            "redraw": args.redraw, "center_radius": args.center_radius, "skip": args.skip, "limit": args.limit,
            "seed": args.seed, "data": args.data, "guidance_scale": args.guidance_scale, "split": args.split,
            "per_target": args.per_target, "summary": summary, "rows": rows, "machine": machine()}, args.json)


if __name__ == "__main__":
    main()
