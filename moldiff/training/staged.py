"""Staged training on a lent machine with a time budget (the GPU stages in ``benchmarks/``):
measure the training rate, plan as many steps as the budget allows, train and export, sample
until a deadline; carry data sets as flat arrays to a machine without RDKit or network.

Each stage continues the last (``trainer.init_from``), so short leases add up to one run.
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import torch


def _say(*a) -> None:
    print(*a, flush=True)


#: drug-like positions (centred, |x| < 32 Å) are carried as int16 in 0.001 Å
POS_SCALE = 1000.0


def probe_training_rate(module, loader, device, steps: int, skip: int, batch_size: int) -> dict:
    """Bare training steps (forward, backward, AdamW, EMA) of ``module`` on ``loader``'s batches
    of ``batch_size``: ``steps`` timed after ``skip`` untimed ones. Returns steps/s, molecules/s
    and the last loss."""
    opt = torch.optim.AdamW(module.denoiser.parameters(), lr=1e-6)
    batches, stamps = iter(loader), []
    for _ in range(steps + skip):
        loss, _ = module._loss(next(batches).to(device), module.denoiser)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        module.ema.update_parameters(module.denoiser)
        if device.type == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
    rate = steps / (stamps[-1] - stamps[skip - 1])
    return {"steps_per_s": rate, "mol_per_s": rate * batch_size, "loss": loss.item()}


def worthwhile_batch(probes: dict, gain: float = 1.4) -> int:
    """The largest probed batch size that buys ``gain`` x the molecules/s of the one below it."""
    chosen = min(probes)
    for b in sorted(probes)[1:]:
        if probes[b]["mol_per_s"] >= gain * probes[chosen]["mol_per_s"]:
            chosen = b
    return chosen


def max_time(seconds: float, floor: float = 30.0) -> str:
    """Lightning's ``max_time`` (DD:HH:MM:SS) for ``seconds``, at least ``floor``."""
    return time.strftime("00:%H:%M:%S", time.gmtime(max(seconds, floor)))


def training_plan(args, probe: dict, chosen: int, config, run_dir: Path, device: str, t0: float):
    """The stage's config and plan: as many steps at the ``chosen`` batch as the measured rate
    fits into what the budget leaves after the probe and ``--sample-reserve``."""
    train_s = args.budget - (time.time() - t0) - args.sample_reserve - 20.0  # 20 s: Lightning's start
    steps = int(probe[chosen]["steps_per_s"] * args.rate_factor * train_s)
    if steps < 1:
        sys.exit(f"budget {args.budget:.0f} s leaves no time to train after the probe and --sample-reserve")
    init = [f"trainer.init_from={args.init}"] if args.init else []
    cfg = config(chosen, [*init, f"optim.warmup_steps={args.warmup}", f"trainer.max_steps={steps}",
                          f"trainer.max_time={max_time(train_s + 10)}", f"trainer.output_dir={run_dir}",
                          "trainer.checkpoint_every_n_steps=1000000"])
    plan = {"init": str(args.init) if args.init else None, "batch": chosen, "lr": cfg.optim.lr, "max_steps": steps,
            "max_time": cfg.trainer.max_time, "train_budget_s": round(train_s, 1), "device": device}
    return cfg, plan


def train_and_export(cfg, run_dir: Path, out: Path, plan: dict, probe: dict, prefix: str, log=None) -> Path:
    """Train ``cfg``, export best and last as ``out/<prefix>_{best,last}.pt`` (EMA weights), copy
    the metrics, keep ``out/plan.json`` current; returns the weights to sample (best, else last)."""
    from moldiff.checkpoint import export_model
    from moldiff.training.run import train

    log = log or _say

    def save_plan():
        (out / "plan.json").write_text(json.dumps({"probe": probe, "plan": plan}, indent=1))

    save_plan()
    start = time.time()
    train(cfg, progress=False)
    plan["train_wall_s"] = round(time.time() - start, 1)
    log("trained in", plan["train_wall_s"], "s")
    for name in ("best", "last"):
        if (run_dir / "checkpoints" / f"{name}.ckpt").is_file():
            plan[name] = export_model(run_dir / "checkpoints" / f"{name}.ckpt",
                                      out / f"{prefix}_{name}.pt").get("training")
            log("exported", name, plan[name])
    logs = sorted((run_dir / "logs").glob("version_*/metrics.csv"))
    if logs:
        shutil.copy(logs[-1], out / "metrics.csv")
    save_plan()
    best = out / f"{prefix}_best.pt"
    return best if best.is_file() else out / f"{prefix}_last.pt"


def sample_until(model, n: int, batch: int, steps: int, deadline: float, path: Path, meta: dict, log=None) -> None:
    """Sample up to ``n`` molecules at ``steps`` in seeded chunks of ``batch`` (each seeded with its
    first index) until ``deadline``, rewriting the packed samples (plus ``meta``) to ``path`` after
    every chunk, so that a lease that ends early still returns what was sampled."""
    import torch

    from moldiff.data.qm9 import QM9_ELEMENTS

    log = log or _say
    samples, start = [], time.time()
    for k in range(0, n, batch):
        per_chunk = (time.time() - start) / max(k // batch, 1)
        if time.time() + 1.3 * per_chunk > deadline:
            log("sampling stopped by the budget at", len(samples), "molecules,", steps, "steps")
            break
        samples += model.sample_mol3d(min(batch, n - k), steps=steps, seed=k, batch_size=batch, as_arrays=True)
        torch.save({**pack_samples(samples, QM9_ELEMENTS), "steps": steps, **meta,
                    "seeds": f"chunks of {batch}, each seeded with its first index",
                    "sampling_s": round(time.time() - start, 1)}, path)
        log("sampled", len(samples), "at", steps, "steps")


def pack_samples(samples: list, elements: tuple[str, ...]) -> dict:
    """``(elements, positions, charges)`` records (``None`` for failures) -> flat arrays."""
    import numpy as np

    import torch

    ok = [r for r in samples if r is not None]
    # tensors and plain data only, so the file is read back with torch.load(weights_only=True)
    arrays = {"counts": np.array([len(r[0]) for r in ok], dtype=np.int16),
              "types": np.array([elements.index(e) for r in ok for e in r[0]], dtype=np.int8),
              "pos": np.concatenate([r[1] for r in ok]), "charges": np.concatenate([r[2] for r in ok]).astype(np.int8)}
    if ok and len(ok[0]) == 4:  # the bond family: (i, j, order) rows per molecule
        arrays["bond_counts"] = np.array([len(r[3]) for r in ok], dtype=np.int16)
        arrays["bonds"] = np.concatenate([r[3] for r in ok]).astype(np.float32).reshape(-1, 3)
    return {"elements": list(elements), "num_failed": len(samples) - len(ok),
            **{k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}}


def unpack_samples(blob: dict) -> tuple[list, dict]:
    """:func:`pack_samples`'s arrays (plus metadata) -> Mol3D records (failures as ``None``), metadata."""
    import numpy as np

    from moldiff.chem.molecule import Mol3D

    elements = blob["elements"]
    counts, types, pos, charges = (np.asarray(blob[k]) for k in ("counts", "types", "pos", "charges"))
    ends = np.cumsum(counts.astype(np.int64))
    spans = list(zip(np.r_[0, ends[:-1]], ends))
    bonds = [None] * len(spans)
    if "bonds" in blob:
        table, b_ends = np.asarray(blob["bonds"], dtype=np.float64), np.cumsum(np.asarray(blob["bond_counts"]))
        bonds = [table[a:b] for a, b in zip(np.r_[0, b_ends[:-1]], b_ends)]
    mols = [Mol3D([elements[t] for t in types[a:b]], pos[a:b].astype(np.float64), charges[a:b].astype(np.int64),
                  bond) for (a, b), bond in zip(spans, bonds)]
    mols += [None] * int(blob.get("num_failed", 0))
    meta = {k: v for k, v in blob.items()
            if k not in ("counts", "types", "pos", "charges", "elements", "bonds", "bond_counts")}
    return mols, meta


def pack_graphs(graphs, druglike: bool) -> dict:
    """One split's graphs -> flat arrays (drug-like positions as int16 in 0.001 Å)."""
    import numpy as np

    pos = np.concatenate([g.pos.numpy() for g in graphs])
    if druglike:
        if np.abs(pos).max() * POS_SCALE >= 32767:
            raise ValueError("a drug-like conformer extends beyond 32 Å of its centre")
        pos = np.round(pos * POS_SCALE).astype(np.int16)
    arrays = {"counts": np.array([g.pos.shape[0] for g in graphs], dtype=np.int32), "pos": pos,
              "atom_type": np.concatenate([g.atom_type.numpy() for g in graphs]).astype(np.int8),
              "charge": np.concatenate([g.charge.numpy() for g in graphs]).astype(np.int8)}
    if druglike:
        return {**arrays, "idx": np.array([int(g.idx) for g in graphs], dtype=np.int64)}
    return {**arrays, "pocket_counts": np.array([g.pocket_pos.shape[0] for g in graphs], dtype=np.int32),
            "pocket_pos": np.concatenate([g.pocket_pos.numpy() for g in graphs]).astype(np.float32),
            **{k: np.concatenate([getattr(g, k).numpy() for g in graphs]).astype(np.int8)
               for k in ("pocket_type", "pocket_residue_type", "pocket_backbone")},
            "id": np.array([g.id for g in graphs]), "target": np.array([g.target for g in graphs])}


def unpack_graphs(a: dict) -> list:
    """Packed arrays of one split -> the PyG graphs the data module would have made."""
    import numpy as np
    import torch
    from torch_geometric.data import Data

    from moldiff.data.datamodule import _empty_pocket

    ends = np.cumsum(a["counts"].astype(np.int64))
    pos = torch.from_numpy(a["pos"].astype(np.float32) / (POS_SCALE if a["pos"].dtype == np.int16 else 1.0))
    atom_type = torch.from_numpy(a["atom_type"].astype(np.int64))
    charge = torch.from_numpy(a["charge"].astype(np.int64))
    pocket = "pocket_counts" in a
    if pocket:
        p_ends = np.cumsum(a["pocket_counts"].astype(np.int64))
        p_pos = torch.from_numpy(a["pocket_pos"])
        p_int = {k: torch.from_numpy(a[k].astype(np.int64)) for k in ("pocket_type", "pocket_residue_type")}
        p_int["pocket_backbone"] = torch.from_numpy(a["pocket_backbone"].astype(bool))
    graphs = []
    for k, (lo, hi) in enumerate(zip(np.r_[0, ends[:-1]], ends)):
        g = Data(pos=pos[lo:hi].clone(), atom_type=atom_type[lo:hi].clone(), charge=charge[lo:hi].clone())
        if pocket:
            plo, phi = (0 if k == 0 else int(p_ends[k - 1])), int(p_ends[k])
            g.pocket_pos = p_pos[plo:phi].clone()
            for key, v in p_int.items():
                setattr(g, key, v[plo:phi].clone())
            g.num_pocket_atoms = phi - plo
            g.id, g.target = str(a["id"][k]), str(a["target"][k])
        else:
            g.idx = torch.tensor([int(a["idx"][k])])
            _empty_pocket(g)
        graphs.append(g)
    return graphs
