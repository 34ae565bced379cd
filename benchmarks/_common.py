"""Shared helpers of the benchmark scripts."""
from __future__ import annotations

import json
import platform
import resource
import statistics
import time

import torch


def machine() -> dict:
    info = {"platform": platform.platform(), "cpu": platform.processor() or platform.machine(),
            "torch": torch.__version__, "threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _no_nan(x):
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, dict):
        return {k: _no_nan(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_no_nan(v) for v in x]
    return x


def report(result: dict, path: str | None) -> None:
    """Print one JSON line and optionally write it to ``path`` (NaN written as null: strict JSON)."""
    result = _no_nan(result)
    line = json.dumps(result)
    print(line)
    if path:
        with open(path, "w") as fh:
            fh.write(json.dumps(result, indent=2) + "\n")


def median(xs):
    return statistics.median(xs)


# --- GPU stages (qm9_gpu_stage.py, pocket_gpu_stage.py) ------------------------------------------
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
