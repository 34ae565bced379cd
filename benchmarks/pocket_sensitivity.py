"""How much a pocket model's prediction depends on its pocket.

    python benchmarks/pocket_sensitivity.py [--model pocket|CKPT] [--json out.json]

Held-out (validation) fep_benchmark complexes of configs/pocket/fep_finetune.yaml, ligands
noised to t; the relative change of the position output when the pocket is moved 100 Å
away (no ligand-pocket edges left). A model blind to its pocket scores ~0.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch_geometric.loader import DataLoader

from _common import machine, report
import moldiff
from moldiff.training.build import build_datamodule
from moldiff.config import TrainConfig, load_config
from moldiff.diffusion.pocket import pocket_context

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pocket")
    parser.add_argument("--times", type=float, nargs="+", default=[0.1, 0.3, 0.5, 0.7, 0.9])
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cfg = load_config(REPO / "configs" / "pocket" / "fep_finetune.yaml", TrainConfig,
                      [f"data.root={REPO.parent / 'shared' / 'data' / 'fep_benchmark'}"])
    dm = build_datamodule(cfg.data)
    dm.setup()
    batch = next(iter(DataLoader(dm.datasets["val"], batch_size=8, follow_batch=["pocket_pos"])))
    model = moldiff.load(args.model)
    ctx, centres = pocket_context(batch)
    x = batch.pos - centres[batch.batch]
    h = model.codec.encode(batch.atom_type, batch.charge)
    away = {**ctx, "pocket_pos": ctx["pocket_pos"] + 100.0}
    gen = torch.Generator().manual_seed(0)
    rows = []
    for t in args.times:
        tt = torch.tensor(t)
        a, s = model.schedule.alpha(tt).float(), model.schedule.sigma(tt).float()
        zx = a * x + s * torch.randn(x.shape, generator=gen)
        zh = a * h + s * torch.randn(h.shape, generator=gen)
        tb = tt.expand(batch.num_graphs).float()
        with torch.no_grad():
            near, _ = model.denoiser(zx, zh, tb, batch.batch, batch.num_graphs, **ctx)
            far, _ = model.denoiser(zx, zh, tb, batch.batch, batch.num_graphs, **away)
        rows.append({"t": t, "relative_change": float((near - far).abs().mean() / near.abs().mean())})
        print(f"t = {t:.2f}: position output changes by {100 * rows[-1]['relative_change']:.1f} % without the pocket")
    report({"benchmark": "pocket_sensitivity", "model": args.model, "complexes": int(batch.num_graphs),
            "rows": rows, "machine": machine()}, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
