"""Shared helpers of the benchmark scripts."""
from __future__ import annotations

import json
import platform
import resource
import statistics

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
