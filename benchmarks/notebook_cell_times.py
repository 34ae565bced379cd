"""Seconds per code cell of a notebook, run headless (nbclient), optionally beside a busy process.

    python benchmarks/notebook_cell_times.py notebooks/03_pocket_design.ipynb --busy --json out.json

``--busy`` starts one single-threaded CPU-bound process beside the kernel for the whole run (what
a second pytest worker does on a 2-core machine), to show how the notebook's threading behaves
when the machine is not idle. Prints one line per cell and writes the times with the machine.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

from _common import machine, report


def _spin() -> None:
    while True:
        sum(i * i for i in range(10000))


def main() -> None:
    import nbformat
    from nbclient import NotebookClient

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("notebook")
    p.add_argument("--busy", action="store_true", help="one single-threaded busy process beside the kernel")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    nb = nbformat.read(args.notebook, as_version=4)
    busy = mp.Process(target=_spin, daemon=True) if args.busy else None
    if busy is not None:
        busy.start()
    cells = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            client = NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": tmp}})
            with client.setup_kernel():
                for i, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    start = time.perf_counter()
                    client.execute_cell(cell, i)
                    seconds = time.perf_counter() - start
                    first = (cell.source.splitlines() or [""])[0][:60]
                    cells.append({"cell": i, "seconds": round(seconds, 2), "first_line": first})
                    print(f"cell {i:3d} {seconds:8.1f} s  {first}", flush=True)
    finally:
        if busy is not None:
            busy.terminate()
    total = sum(c["seconds"] for c in cells)
    print(f"total {total:.1f} s")
    report({"benchmark": "notebook_cell_times", "notebook": Path(args.notebook).name, "busy": args.busy,
            "cells": cells, "total_seconds": round(total, 2), "machine": machine()}, args.json)


if __name__ == "__main__":
    main()
