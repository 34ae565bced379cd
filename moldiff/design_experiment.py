"""Design experiments from a config: ``moldiff design CONFIG.yaml [key=value ...]``.

For every pocket of ``data`` (a complex's protein around its ligand, posebusters_dev by
default) the model designs ``n`` ligands, and every design -- and the pocket's reference
ligand, the same way -- is scored by :func:`moldiff.metrics.pocket.evaluate_in_pocket`:
validity, connectivity, drug-likeness (QED, SA, logP, Lipinski), clashes with the protein,
PoseBusters' checks (by default the ``dock`` configuration, with the protein), Vina as
designed, Vina-minimised and Vina re-docked, ring sizes and elements.

Output folder (``output.dir``)::

    config.yaml             the resolved config
    results.csv             one row per design and one per reference ligand (kind), every pocket
    summary.json            designs against reference ligands over all pockets, and per pocket
    designs/<ID>.sdf        a pocket's designs (SD properties: the row's metrics)
    designs/records/<ID>.json   a pocket's rows and summary, written atomically when it finishes

A re-run skips pockets that have a record (``output.resume``; a damaged record is redone) and
refuses a folder holding results of other result-changing settings; a pocket that fails is
recorded with its error and the run goes on. Pockets run through Lightning's predict loop, so
the work shards over GPUs and nodes with ``trainer.strategy: ddp`` / ``devices`` / ``num_nodes``.
"""
from __future__ import annotations

import json
import logging
import math
import re
import time
from pathlib import Path

import numpy as np

from moldiff.config import DesignConfig, to_dict
from moldiff.errors import InputError
from moldiff.options import DesignOptions, resolve
from moldiff.paths import write_json

log = logging.getLogger(__name__)

#: columns of ``results.csv``: one row per design (``kind`` design) and per reference ligand
RESULT_COLUMNS = ["id", "kind", "design", "smiles", "valid", "connected", "heavy_atoms", "qed", "sa", "logp",
                  "lipinski_violations", "clash", "clash_vdw", "min_distance", "posebusters_valid", "vina",
                  "vina_min", "vina_docked", "at_least_reference_docked", "unusual_ring", "ring_sizes", "elements",
                  "fit_energy", "draws", "status", "error"]
#: per-row metrics copied from :func:`~moldiff.metrics.pocket.evaluate_in_pocket`'s rows
METRIC_KEYS = ("smiles", "connected", "heavy_atoms", "qed", "sa", "logp", "lipinski_violations", "clash",
               "clash_vdw", "min_distance", "vina", "vina_min", "vina_docked", "unusual_ring")


def file_name(complex_id: str) -> str:
    """File name of a complex id (FEP ids hold a slash)."""
    return complex_id.replace("/", "__")


def select_pockets(cfg: DesignConfig):
    """The complexes of the config, in id order (``data.ids`` and ``limit`` applied)."""
    from moldiff.data.complexes import select_complexes
    from moldiff.paths import data_path

    return select_complexes(data_path(cfg.data.root, "posebusters_dev", "data.root"), cfg.data.ids, cfg.limit)


def _clean(value):
    """JSON/CSV-safe: NaN -> None, numpy scalars -> Python."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def design_rows(metrics: dict, mols: list, pocket_id: str) -> tuple[list[dict], dict | None]:
    """``(one row per design, the reference's row or None)`` from ``evaluate_in_pocket``'s
    ``metrics`` of the designs ``mols`` (``None`` where no molecule was assembled)."""
    by_index = {r["index"]: r for r in metrics["per_molecule"]}
    reference = metrics.get("reference_smiles")
    ref_docked = metrics.get("reference_vina_docked")
    rows = []
    for k, mol in enumerate(mols):
        m = by_index.get(k)
        row = {"id": pocket_id, "kind": "design", "design": k, "valid": m is not None, "status": "ok", "error": ""}
        if mol is not None:
            row["fit_energy"] = mol.GetDoubleProp("moldiff_fit_energy") if mol.HasProp("moldiff_fit_energy") else None
            row["draws"] = mol.GetIntProp("moldiff_draws") if mol.HasProp("moldiff_draws") else None
        if m is not None:
            row.update({key: m.get(key) for key in METRIC_KEYS})
            row["posebusters_valid"] = m.get("posebusters")
            row["ring_sizes"] = " ".join(map(str, m["ring_sizes"]))
            row["elements"] = " ".join(f"{el}{c}" for el, c in m["elements"].items())
            docked = m.get("vina_docked")
            if _clean(docked) is not None and _clean(ref_docked) is not None:
                row["at_least_reference_docked"] = bool(docked <= ref_docked)
        rows.append({k2: _clean(v) for k2, v in row.items()})
    ref_row = None
    if reference is not None:
        ref_row = {"id": pocket_id, "kind": "reference", "design": None, "valid": True, "smiles": reference,
                   "status": "ok", "error": ""}
        ref_row.update({key: metrics.get(f"reference_{key}") for key in METRIC_KEYS if key != "smiles"})
        ref_row["connected"] = True if ref_row.get("connected") is None else ref_row["connected"]
        ref_row["posebusters_valid"] = metrics.get("reference_posebusters")
        ref_row["ring_sizes"] = " ".join(map(str, metrics.get("reference_ring_sizes") or []))
        ref_row["elements"] = " ".join(f"{el}{c}" for el, c in (metrics.get("reference_elements") or {}).items())
        ref_row = {k2: _clean(v) for k2, v in ref_row.items()}
    return rows, ref_row


def _mean(values) -> float | None:
    values = [float(v) for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _share(rows, key, *, of_all: bool = False) -> float | None:
    """Share of ``rows`` whose ``key`` is true: among rows that have it, or (``of_all``) among
    all rows (a design without the value -- invalid, or its check timed out -- counts as not).
    ``None`` where no row has the value (the check was not run)."""
    if all(r.get(key) is None for r in rows):
        return None
    have = rows if of_all else [r for r in rows if r.get(key) is not None]
    return float(np.mean([bool(r.get(key)) for r in have])) if have else None


def summarize(designs: list[dict], references: list[dict], pockets: list[dict] | None = None) -> dict:
    """Designs against reference ligands from ``results.csv`` rows. Shares of *all* designs:
    validity, valid_and_connected, posebusters_valid (an invalid design or a timed-out check
    counts as not passing). Among valid designs: clash rates, unusual rings, and means of QED,
    SA, logP, Vina (as designed, minimised, re-docked; with medians). ``at_least_reference_docked``:
    share of re-docked designs scoring at least their pocket's re-docked reference.
    ``uniqueness`` / ``diversity``: means over ``pockets`` (per-pocket summaries)."""
    from moldiff.metrics.pocket import element_shares, ring_size_counts

    def block(rows, all_rows):
        valid = [r for r in rows if r.get("valid")]

        def parsed(r):
            return {"ring_sizes": [int(x) for x in (r.get("ring_sizes") or "").split()],
                    "elements": {el: int(k) for el, k in re.findall(r"([A-Z][a-z]?)(\d+)", r.get("elements") or "")}}

        out = {
            "n": len(all_rows),
            "validity": _share(all_rows, "valid", of_all=True),
            "valid_and_connected": (float(np.mean([bool(r.get("valid")) and bool(r.get("connected"))
                                                   for r in all_rows])) if all_rows else None),
            "posebusters_valid": _share(all_rows, "posebusters_valid", of_all=True),
            "clash_2A": _share(valid, "clash"), "clash_vdw": _share(valid, "clash_vdw"),
            "unusual_ring": _share(valid, "unusual_ring"),
            "qed": _mean(r.get("qed") for r in valid), "sa": _mean(r.get("sa") for r in valid),
            "logp": _mean(r.get("logp") for r in valid),
            "lipinski": _share([{"ok": r["lipinski_violations"] <= 1} for r in valid
                                if r.get("lipinski_violations") is not None], "ok"),
            "heavy_atoms": _mean(r.get("heavy_atoms") for r in valid),
            "ring_sizes": ring_size_counts([parsed(r) for r in valid]),
            "elements": element_shares([parsed(r) for r in valid]),
        }
        for key in ("vina", "vina_min", "vina_docked"):
            values = [r[key] for r in valid if r.get(key) is not None]
            out[key] = float(np.mean(values)) if values else None
            out[f"{key}_median"] = float(np.median(values)) if values else None
        return out

    out = {"designs": block(designs, designs), "reference": block(references, references)}
    out["designs"]["at_least_reference_docked"] = _share(designs, "at_least_reference_docked")
    if pockets is not None:
        ok = [p for p in pockets if p.get("status") == "ok"]
        out["designs"]["uniqueness"] = _mean(p["summary"]["designs"].get("uniqueness") for p in ok)
        out["designs"]["diversity"] = _mean(p["summary"]["designs"].get("diversity") for p in ok)
        secs = [p["seconds_design"] / max(p["n"], 1) for p in ok if p.get("seconds_design") is not None]
        out["seconds_per_design_median"] = float(np.median(secs)) if secs else None
        out["pockets"] = {"n": len(pockets), "n_ok": len(ok), "n_error": len(pockets) - len(ok)}
    return out


class PocketDesigner:
    """Designs ligands for one pocket, scores them, and writes its SDF and record (atomically)."""

    method = "design"
    label = "designing"

    def __init__(self, cfg: DesignConfig, folder: Path, model):
        self.cfg, self.folder, self.model = cfg, folder, model
        self.options = resolve(DesignOptions, cfg, where="config")

    def record_path(self, entry) -> Path:
        return self.folder / "records" / f"{file_name(entry.id)}.json"

    def __call__(self, entry) -> dict:
        from moldiff.chem.ligand import read_ligand
        from moldiff.chem.sdf import write_sdf
        from moldiff.data.complexes import structure_file
        from moldiff.metrics.pocket import evaluate_in_pocket

        cfg, ev = self.cfg, self.cfg.evaluate
        record = {"id": entry.id, "status": "ok", "error": "", "n": cfg.n, "seconds_design": None,
                  "seconds_evaluate": None, "rows": [], "summary": None}
        try:
            protein = structure_file(entry)
            reference = read_ligand(entry.ligand, hydrogens="add") if entry.record is None else \
                read_ligand(entry.ligand, hydrogens="add", all_records=True)[entry.record]
            site = ({"ligand": reference} if cfg.site == "reference"
                    else {"center": reference.GetConformer().GetPositions().mean(0)})
            start = time.perf_counter()
            mols = self.model.design(protein, **site, options=self.options)
            record["seconds_design"] = time.perf_counter() - start
            start = time.perf_counter()
            metrics = evaluate_in_pocket(mols, protein, reference=reference, radius=self.model.radius,
                                         vina=ev.vina, vina_minimise=ev.vina_minimise, posebusters=ev.posebusters,
                                         redock=ev.redock_exhaustiveness if ev.redock else None,
                                         seconds=ev.time_limit)
            record["seconds_evaluate"] = time.perf_counter() - start
            rows, ref_row = design_rows(metrics, mols, entry.id)
            record["rows"] = rows + ([ref_row] if ref_row is not None else [])
            summary = summarize(rows, [ref_row] if ref_row is not None else [])
            summary["designs"].update(uniqueness=_clean(metrics["uniqueness"]), diversity=_clean(metrics["diversity"]))
            record["summary"] = summary
            made = []
            for row, mol in zip(rows, mols):
                if mol is None:
                    continue
                for key in ("qed", "sa", "vina", "vina_min", "vina_docked"):
                    if row.get(key) is not None:
                        mol.SetDoubleProp(f"moldiff_{key}", round(float(row[key]), 3))
                if row.get("posebusters_valid") is not None:
                    mol.SetIntProp("moldiff_posebusters_valid", int(row["posebusters_valid"]))
                made.append(mol)
            sdf = self.folder / f"{file_name(entry.id)}.sdf"
            sdf.parent.mkdir(parents=True, exist_ok=True)
            write_sdf(made, sdf)
        except InputError as exc:
            record.update(status="error", error=str(exc))
        except Exception as exc:  # noqa: BLE001 -- one broken pocket must not stop the experiment
            log.debug("pocket %s failed", entry.id, exc_info=True)
            record.update(status="error", error=f"{type(exc).__name__}: {exc}")
        if record["status"] == "error":
            record["rows"] = [{"id": entry.id, "kind": "pocket", "status": "error", "error": record["error"]}]
        path = self.record_path(entry)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(record, path)
        return record


def read_record(path: Path, entry_id: str) -> dict | None:
    """A pocket's record, or ``None`` when there is none or it is unusable (damaged, another
    pocket's): the pocket is then designed again, with a warning."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("id") != entry_id:
            raise ValueError("not this pocket's record")
        if record.get("status") not in ("ok", "error") or not isinstance(record.get("rows"), list):
            raise ValueError("no status or rows")
        if record["status"] == "ok" and not isinstance(record.get("summary"), dict):
            raise ValueError("no summary")
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        log.warning("%s: unusable record (%s); designing for %s again", path, exc, entry_id)
        return None
    return record


def _write_table(rows: list[dict], path: Path) -> None:
    import csv

    from moldiff.paths import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in RESULT_COLUMNS})


def run_design_experiment(cfg: DesignConfig, *, progress: bool = True) -> dict:
    """Run a design experiment; returns the overall summary (also ``summary.json``).

    Raises :class:`InputError` before any work -- and before the output folder is made or
    changed -- for a missing data root or complex id, an unwritable output folder, an unknown
    or non-pocket model, Vina or PoseBusters checks without the ``eval`` extra, a bad
    ``trainer`` section, or a folder holding results of other settings.
    """
    from moldiff.docking.runs import check_same_settings, predict, predict_trainer, write_yaml
    from moldiff.paths import check_output_dir
    from moldiff.vina.scorer import vina_available

    entries = select_pockets(cfg)
    ev = cfg.evaluate
    if (ev.vina or ev.redock) and not vina_available():
        raise InputError("this experiment scores with Vina: pip install 'moldiff[eval]', or set "
                         "evaluate.vina=false evaluate.redock=false")
    if ev.posebusters != "off":
        try:
            import posebusters  # noqa: F401
        except ImportError:
            raise InputError("this experiment runs PoseBusters' checks: pip install 'moldiff[eval]', or set "
                             "evaluate.posebusters=off") from None
    out = check_output_dir(cfg.output.dir, "output.dir")
    import moldiff

    model = moldiff.load(cfg.model)
    if not hasattr(model, "design"):
        raise InputError(f"{cfg.model}: not a pocket model (design needs one, e.g. the shipped 'pocket_design')")
    check_same_settings(out, cfg)
    trainer = predict_trainer(cfg, progress)
    out.mkdir(parents=True, exist_ok=True)  # every check is done: only now is the folder made or changed
    write_yaml(to_dict(cfg), out / "config.yaml")
    worker = PocketDesigner(cfg, out / "designs", model)
    done = {e.id for e in entries if cfg.output.resume and read_record(worker.record_path(e), e.id) is not None}
    pending = [e for e in entries if e.id not in done]
    log.info("%d pockets (%d done before, %d to design) -> %s", len(entries), len(done), len(pending), out)
    if pending:
        predict(cfg, worker, pending, trainer, progress, unit="pocket")
    records = [rec for e in entries if (rec := read_record(worker.record_path(e), e.id)) is not None]
    rows = [row for rec in records for row in rec["rows"]]
    _write_table(rows, out / "results.csv")
    summary = summarize([r for r in rows if r.get("kind") == "design"],
                        [r for r in rows if r.get("kind") == "reference"], records)
    summary["per_pocket"] = {rec["id"]: ({"status": "ok", **rec["summary"]} if rec["status"] == "ok"
                                         else {"status": "error", "error": rec["error"]}) for rec in records}
    write_json(summary, out / "summary.json")
    return summary
