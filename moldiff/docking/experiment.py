"""Docking experiments from a config: ``moldiff dock CONFIG.yaml [key=value ...]``.

Output folder (``output.dir``)::

    config.yaml            the resolved config
    results.csv            one row per (method, complex): every method side by side
    summary.json           per method: success rates, median RMSD, PoseBusters-valid rate, time
    <method>/poses/<ID>.sdf    K poses, best first (properties: rank, score, rmsd, ...)
    <method>/results.csv   <method>/summary.json   <method>/records/<ID>.json

Each complex's record is written atomically when it finishes; a re-run skips complexes that
have one (``output.resume``; a damaged record is redone), and a complex that fails is recorded
with its error without stopping the run. A re-run with other result-changing settings is
refused rather than mixed into the same tables. Complexes run through Lightning's predict loop, so a large screen shards
over GPUs and nodes with the usual ``trainer.strategy: ddp`` / ``devices`` / ``num_nodes``.
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np

from moldiff.config import DockConfig, to_dict
from moldiff.docking.runs import check_same_settings, predict, predict_trainer, write_yaml
from moldiff.errors import InputError
from moldiff.paths import write_json

log = logging.getLogger(__name__)

#: Å, the success threshold of pose prediction
SUCCESS_RMSD = 2.0
RESULT_COLUMNS = ["method", "id", "n_heavy", "top1_rmsd", "best_rmsd", "top5_rmsd", "score", "posebusters_valid",
                  "seconds", "status", "error"]


def safe_name(complex_id: str) -> str:
    """File name of a complex id (FEP ids hold a slash)."""
    return complex_id.replace("/", "__")


def resolve_root(cfg: DockConfig) -> Path:
    from moldiff.paths import data_path

    return data_path(cfg.data.root, "posebusters_dev", "data.root")


def select_entries(cfg: DockConfig):
    """The complexes of the config, in id order (``data.ids`` and ``limit`` applied)."""
    from moldiff.data.complexes import select_complexes

    return select_complexes(resolve_root(cfg), cfg.data.ids, cfg.limit)


def entry_ligand(entry):
    """The RDKit ligand of a complex entry (its SDF record for multi-ligand files)."""
    from moldiff.chem.ligand import read_ligand

    if entry.record is None:
        return read_ligand(entry.ligand)
    return read_ligand(entry.ligand, all_records=True)[entry.record]


class ComplexDocker:
    """Docks one complex with one method and writes its poses and record (atomically)."""

    def __init__(self, cfg: DockConfig, method: str, folder: Path, model=None):
        from moldiff.docking.dock import Docker

        self.cfg, self.method, self.folder = cfg, method, folder
        self.docker = Docker(model, cfg) if method == "moldiff" else None

    def record_path(self, entry) -> Path:
        return self.folder / "records" / f"{safe_name(entry.id)}.json"

    def __call__(self, entry) -> dict:
        from moldiff.data.complexes import structure_file
        from moldiff.docking.dock import vina_dock, write_poses
        from moldiff.docking.pose import symmetric_rmsd

        cfg, start = self.cfg, time.perf_counter()
        row = {"method": self.method, "id": entry.id, "n_heavy": None, "top1_rmsd": None, "best_rmsd": None,
               "top5_rmsd": None, "score": None, "posebusters_valid": None, "seconds": None, "status": "ok",
               "error": ""}
        try:
            ligand = entry_ligand(entry)
            row["n_heavy"] = ligand.GetNumHeavyAtoms()
            protein = structure_file(entry)
            site = ({"reference": ligand} if cfg.pocket.site == "reference"
                    else {"center": ligand.GetConformer().GetPositions().mean(0)})
            if self.method == "moldiff":
                result = self.docker.dock(protein, ligand, radius=cfg.pocket.radius, name=entry.id, **site)
            else:
                result = vina_dock(protein, ligand, radius=cfg.pocket.radius, k=cfg.num_poses, seed=cfg.seed,
                                   exhaustiveness=cfg.vina.exhaustiveness, conformers=cfg.conformers, name=entry.id,
                                   **site)
            rmsd = [symmetric_rmsd(p, ligand) for p in result.poses]
            for pose, r in zip(result.poses, rmsd):
                pose.SetDoubleProp("rmsd", r)
            if cfg.posebusters:
                from moldiff.metrics.pocket import posebusters_dock_checks
                from moldiff.timebound import TIMED_OUT

                checks = posebusters_dock_checks(result.poses[:1], protein)
                row["posebusters_valid"] = None if checks is None else bool(checks[0])
                if checks and checks[0] is TIMED_OUT:  # counted as not valid, and said so
                    row["posebusters_timed_out"] = True
            poses = self.folder / "poses" / f"{safe_name(entry.id)}.sdf"
            poses.parent.mkdir(parents=True, exist_ok=True)
            write_poses(result, poses)
            row.update(top1_rmsd=rmsd[0], best_rmsd=float(np.nanmin(rmsd)) if not np.isnan(rmsd).all() else None,
                       top5_rmsd=float(np.nanmin(rmsd[:5])) if not np.isnan(rmsd[:5]).all() else None,
                       score=result.scores[0])
        except InputError as exc:
            row.update(status="error", error=str(exc))
        except Exception as exc:  # noqa: BLE001 -- one broken complex must not stop a screen
            log.debug("complex %s failed", entry.id, exc_info=True)
            row.update(status="error", error=f"{type(exc).__name__}: {exc}")
        row["seconds"] = time.perf_counter() - start
        row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        path = self.record_path(entry)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(row, path)
        return row


def summarize(rows: list[dict]) -> dict:
    """Success rates (top-1 / top-5 RMSD < 2 Å; failed complexes count as misses), median
    top-1 RMSD, PoseBusters-valid share of top-1 poses, and time per complex."""
    n = len(rows)
    ok = [r for r in rows if r["status"] == "ok"]

    def rate(pred):
        return sum(1 for r in rows if pred(r)) / n if n else None

    def below(key):
        return lambda r: r.get(key) is not None and r[key] < SUCCESS_RMSD

    top1 = [r["top1_rmsd"] for r in ok if r["top1_rmsd"] is not None]
    checked = [r for r in ok if r.get("posebusters_valid") is not None]
    secs = [r["seconds"] for r in rows if r.get("seconds") is not None]
    return {
        "n": n, "n_ok": len(ok), "n_error": n - len(ok),
        "success_top1": rate(below("top1_rmsd")),
        "success_top5": rate(below("top5_rmsd")),
        "success_best": rate(below("best_rmsd")),
        "median_top1_rmsd": float(np.median(top1)) if top1 else None,
        "posebusters_valid_top1": (sum(r["posebusters_valid"] for r in checked) / len(checked)) if checked else None,
        "success_top1_and_pb_valid": (rate(lambda r: below("top1_rmsd")(r) and r.get("posebusters_valid") is True)
                                      if checked else None),
        "seconds_per_complex_median": float(np.median(secs)) if secs else None,
        "seconds_per_complex_mean": float(np.mean(secs)) if secs else None,
    }


def _write_table(rows: list[dict], path: Path) -> None:
    """``rows`` as CSV (:data:`RESULT_COLUMNS`), atomically; integers stay integers and a
    missing value is an empty field (pandas would turn an integer column with a gap into floats)."""
    import csv

    from moldiff.paths import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in RESULT_COLUMNS})


def read_record(path: Path, entry_id: str, method: str) -> dict | None:
    """A complex's record, or ``None`` when there is none or it is unusable (damaged JSON, another
    complex's or method's, missing columns): the complex is then docked again, with a warning."""
    if not path.is_file():
        return None
    try:
        row = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(row, dict) or row.get("id") != entry_id or row.get("method") != method:
            raise ValueError("not this complex's record")
        missing = [k for k in RESULT_COLUMNS if k not in row]
        if missing or row["status"] not in ("ok", "error"):
            raise ValueError(f"missing {', '.join(missing) or 'status'}")
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        log.warning("%s: unusable record (%s); docking %s again", path, exc, entry_id)
        return None
    return row


def run_experiment(cfg: DockConfig, *, progress: bool = True) -> dict:
    """Run a docking experiment; returns ``{method: summary}`` (also in ``summary.json``).
    With a ``screen`` section it is a virtual screen (:func:`moldiff.docking.screen.run_screen`).

    Raises :class:`InputError` before any work -- and before the output folder is made or
    changed -- for a missing data root, an unwritable output folder, an unknown or non-pocket
    model, a Vina setting without the ``eval`` extra, or a folder holding results of other
    settings (:func:`check_same_settings`). A damaged record is docked again (:func:`read_record`).
    Ctrl-C raises :class:`KeyboardInterrupt`; the complex it interrupted is not recorded.
    """
    from moldiff.vina.scorer import vina_available
    from moldiff.paths import check_output_dir

    if cfg.screen is not None:
        from moldiff.docking.screen import run_screen

        return run_screen(cfg, progress=progress)
    entries = select_entries(cfg)
    methods = [cfg.method] + ([cfg.baseline] if cfg.baseline != "none" and cfg.baseline != cfg.method else [])
    if ("vina" in methods or cfg.refine or cfg.ranking != "fit") and not vina_available():
        raise InputError("this experiment uses Vina (baseline, refinement or ranking): pip install 'moldiff[eval]', "
                         "or set baseline=none refine=false ranking=fit")
    out = check_output_dir(cfg.output.dir, "output.dir")
    model = None
    if "moldiff" in methods:
        import moldiff

        model = moldiff.load(cfg.model)
        if not hasattr(model, "design"):
            raise InputError(f"{cfg.model}: not a pocket model (docking needs one, e.g. the shipped 'pocket')")
    check_same_settings(out, cfg)
    trainer = predict_trainer(cfg, progress)
    # every check is done: only now is the folder made or changed
    out.mkdir(parents=True, exist_ok=True)
    write_yaml(to_dict(cfg), out / "config.yaml")
    summaries, all_rows = {}, []
    for method in methods:
        folder = out / method
        worker = ComplexDocker(cfg, method, folder, model)
        done = {e.id for e in entries
                if cfg.output.resume and read_record(worker.record_path(e), e.id, method) is not None}
        pending = [e for e in entries if e.id not in done]
        log.info("%s: %d complexes (%d done before, %d to dock) -> %s", method, len(entries), len(done),
                 len(pending), folder)
        if pending:
            predict(cfg, worker, pending, trainer, progress)
        rows = [row for e in entries if (row := read_record(worker.record_path(e), e.id, method)) is not None]
        _write_table(rows, folder / "results.csv")
        summaries[method] = summarize(rows)
        write_json(summaries[method], folder / "summary.json")
        all_rows += rows
    _write_table(all_rows, out / "results.csv")
    write_json(summaries, out / "summary.json")
    return summaries
