"""Virtual screening: one receptor, a library of ligands, every core.

``moldiff dock CONFIG.yaml`` with a ``screen`` section (:class:`~moldiff.config.ScreenConfig`),
or ``moldiff dock --protein P.pdb --library LIB --reference REF -o DIR``. Output folder::

    config.yaml                    the resolved config (a rerun with other settings is refused)
    <method>/poses/<ID>.sdf        K poses of each ligand, best first (SD properties id, rank, score)
    <method>/records/<ID>.json     one record per ligand, written atomically when it finishes
    <method>/results.csv           ranked by score: rank, id, smiles, smiles_docked, score, confidence, ...
    <method>/summary.json          counts, failures, seconds per ligand, ligands per minute
    results.csv  summary.json      every method together

The library is read whole before any docking (a duplicate id or an unreadable file stops the
run before it starts); a ligand that cannot be used (unparsable SMILES, unsupported element,
no 3D embedding) is recorded with its error and skipped. Records make the run resumable
after any kill: a rerun docks only the ligands without a record whose input SMILES is the
library's. Ligands run in worker processes (``screen.workers``, one torch thread each), or
in Lightning's predict loop when ``trainer`` names several devices or nodes.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moldiff.config import DockConfig
from moldiff.errors import InputError
from moldiff.paths import write_json

log = logging.getLogger(__name__)

SCREEN_COLUMNS = ["rank", "id", "smiles", "smiles_docked", "n_heavy", "score", "confidence", "posebusters_valid",
                  "seconds", "status", "error"]
#: columns a record may lack (written by an earlier moldiff): read as empty
OPTIONAL_COLUMNS = ("rank", "confidence")
#: suffixes of a SMILES library (one ``SMILES [id]`` per line)
SMILES_SUFFIXES = (".smi", ".smiles", ".txt", ".ism", ".can")
TABLE_SUFFIXES = (".csv", ".tsv")
SDF_SUFFIXES = (".sdf", ".sdf.gz", ".mol")
FOLDER_SUFFIXES = (".sdf", ".mol", ".mol2", ".sdf.gz")


@dataclass
class LibraryEntry:
    """One ligand of a library: ``id`` (unique), the input ``smiles`` (canonical, "" when
    unreadable), the RDKit molecule (None when unreadable, with ``error``), and ``where`` it
    came from (file and line or record)."""

    id: str
    smiles: str
    mol: object | None
    where: str
    error: str = ""


def file_id(ligand_id: str) -> str:
    """The file name (stem) of a ligand id: characters outside ``A-Z a-z 0-9 . _ -`` become ``_``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", ligand_id).strip(".")[:120]
    return name or "_"


def _entry(ligand_id: str, smiles: str, where: str) -> LibraryEntry:
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None or mol.GetNumAtoms() == 0:
        return LibraryEntry(ligand_id, smiles, None, where, f"{where}: not a SMILES RDKit can parse ({smiles!r})")
    return LibraryEntry(ligand_id, Chem.MolToSmiles(mol), mol, where)


def _from_mol(ligand_id: str, mol, where: str, error: str = "") -> LibraryEntry:
    from rdkit import Chem

    if mol is None:
        return LibraryEntry(ligand_id, "", None, where, f"{where}: not a readable molecule ({error or 'RDKit'})")
    return LibraryEntry(ligand_id, Chem.MolToSmiles(Chem.RemoveHs(mol)), mol, where)


def _read_smiles_file(path: Path) -> list[LibraryEntry]:
    from moldiff.paths import read_text

    out = []
    for k, line in enumerate(read_text(path, "ligand library").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if k == 1 and parts[0].lower() == "smiles":  # a header line
            continue
        ligand_id = parts[1].strip() if len(parts) > 1 else f"{path.stem}_{k}"
        out.append(_entry(ligand_id, parts[0], f"{path} line {k}"))
    return out


def _read_table(path: Path, id_column: str, smiles_column: str) -> list[LibraryEntry]:
    from moldiff.paths import read_text

    text = read_text(path, "ligand library")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    columns = {c.strip().lower(): c for c in (reader.fieldnames or [])}
    if smiles_column.lower() not in columns:
        raise InputError(f"{path}: no {smiles_column!r} column (columns: {', '.join(reader.fieldnames or []) or 'none'}; "
                         "set screen.smiles_column)")
    smiles_key, id_key = columns[smiles_column.lower()], columns.get(id_column.lower())
    out = []
    for k, row in enumerate(reader, start=2):
        smiles = (row.get(smiles_key) or "").strip()
        ligand_id = (row.get(id_key) or "").strip() if id_key else ""
        out.append(_entry(ligand_id or f"{path.stem}_{k}", smiles, f"{path} line {k}"))
    return out


def _read_sdf_records(path: Path, *, single_id: str | None = None) -> list[LibraryEntry]:
    """Records of an SDF/MOL file; ids from an ``id`` property, else the title line, else
    ``<file stem>_<record>`` (``single_id`` for a one-record file of a folder)."""
    from moldiff.chem.sdf import read_sdf

    records = read_sdf(path, sanitize=True)
    errors = dict(records.errors)
    out = []
    for k, mol in enumerate(records.mols, start=1):
        title = ""
        if mol is not None:
            title = mol.GetProp("id") if mol.HasProp("id") else (mol.GetProp("_Name") if mol.HasProp("_Name") else "")
        ligand_id = title.strip() or (single_id if single_id and len(records.mols) == 1 else f"{path.stem}_{k}")
        out.append(_from_mol(ligand_id, mol, f"{path} record {k}", errors.get(k, "")))
    return out


def read_library(source: str | Path, *, id_column: str = "id", smiles_column: str = "smiles") -> list[LibraryEntry]:
    """Every ligand of a library, in file order (see :class:`~moldiff.config.ScreenConfig`).

    Raises :class:`InputError` naming the file for a missing or empty library, an unknown
    format, a CSV without the SMILES column, or two ligands with the same id (or ids that
    map to the same file name). Unparsable molecules are entries with an ``error``.
    """
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.lower().endswith(FOLDER_SUFFIXES))
        if not files:
            raise InputError(f"{path}: no ligand files ({', '.join(FOLDER_SUFFIXES)}) in this folder")
        entries = []
        for f in files:
            if f.suffix.lower() == ".mol2":
                from moldiff.chem.ligand import read_ligand

                try:
                    entries.append(_from_mol(f.stem, read_ligand(f), str(f)))
                except InputError as exc:
                    entries.append(LibraryEntry(f.stem, "", None, str(f), str(exc)))
            else:
                entries += _read_sdf_records(f, single_id=f.name.split(".")[0])
    elif not path.is_file():
        raise InputError(f"{path}: no such ligand library")
    elif path.suffix.lower() in SMILES_SUFFIXES:
        entries = _read_smiles_file(path)
    elif path.suffix.lower() in TABLE_SUFFIXES:
        entries = _read_table(path, id_column, smiles_column)
    elif path.name.lower().endswith(SDF_SUFFIXES):
        entries = _read_sdf_records(path)
    else:
        raise InputError(f"{path}: unknown library format (SMILES {'/'.join(SMILES_SUFFIXES)}, table "
                         f"{'/'.join(TABLE_SUFFIXES)}, SDF, or a folder of ligand files)")
    if not entries:
        raise InputError(f"{path}: the library holds no ligands")
    seen: dict[str, LibraryEntry] = {}
    for e in entries:
        key = file_id(e.id)
        if key in seen:
            other = seen[key]
            same = "the same id" if other.id == e.id else f"ids that share the file name {key!r}"
            raise InputError(f"{path}: {other.where} ({other.id!r}) and {e.where} ({e.id!r}) have {same}; "
                             "ligand ids must be unique")
        seen[key] = e
    return entries


def prepare_for_docking(mol, *, strip_salts: bool = True, ph: float | None = 7.4):
    """``(molecule, SMILES)`` as docked: the largest organic fragment (``strip_salts``) in its
    most probable charge state at ``ph`` (:func:`moldiff.chem.protonation.protonate`; ``None``:
    as given)."""
    from rdkit import Chem, rdBase
    from rdkit.Chem.MolStandardize import rdMolStandardize

    from moldiff.chem.protonation import protonate

    with rdBase.BlockLogs():
        if strip_salts and len(Chem.GetMolFrags(mol)) > 1:
            mol = rdMolStandardize.LargestFragmentChooser(preferOrganic=True).choose(Chem.RemoveHs(mol))
        if ph is not None:
            mol = protonate(mol, ph)
    return mol, Chem.MolToSmiles(Chem.RemoveHs(mol))


def screen_site(cfg: DockConfig) -> dict:
    s = cfg.screen
    if s.reference is not None:
        return {"reference": s.reference}
    if s.center is not None:
        return {"center": list(s.center)}
    return {"box": (list(s.box[:3]), list(s.box[3:]))}


class LigandDocker:
    """Docks one library ligand with one method into the screen's site and writes its poses
    and record (atomically). The receptor is read once."""

    def __init__(self, cfg: DockConfig, method: str, folder: Path, model=None):
        from moldiff.data.protein import read_protein
        from moldiff.docking.dock import Docker

        self.cfg, self.method, self.folder = cfg, method, folder
        self.docker = Docker(model, cfg) if method == "moldiff" else None
        self.protein = read_protein(cfg.screen.receptor)
        self.site = screen_site(cfg)

    def record_path(self, entry: LibraryEntry) -> Path:
        return self.folder / "records" / f"{file_id(entry.id)}.json"

    def __call__(self, entry: LibraryEntry) -> dict:
        from moldiff.docking.dock import vina_dock, write_poses

        cfg, start = self.cfg, time.perf_counter()
        row = {"id": entry.id, "smiles": entry.smiles, "smiles_docked": None, "n_heavy": None, "score": None,
               "confidence": None, "posebusters_valid": None, "seconds": None, "status": "ok", "error": "",
               "method": self.method}
        try:
            if entry.mol is None:
                raise InputError(entry.error)
            mol, row["smiles_docked"] = prepare_for_docking(entry.mol, strip_salts=cfg.screen.strip_salts,
                                                            ph=cfg.screen.protonation_ph)
            row["n_heavy"] = mol.GetNumHeavyAtoms()
            if self.method == "moldiff":
                result = self.docker.dock(self.protein, mol, radius=cfg.screen.radius, name=entry.id, **self.site)
            else:
                result = vina_dock(self.protein, mol, radius=cfg.screen.radius, k=cfg.num_poses, seed=cfg.seed,
                                   exhaustiveness=cfg.vina.exhaustiveness, conformers=cfg.conformers,
                                   name=entry.id, **self.site)
            for pose in result.poses:
                pose.SetProp("id", entry.id)
            if cfg.posebusters:
                from moldiff.metrics.pocket import posebusters_dock_checks

                checks = posebusters_dock_checks(result.poses[:1], self.protein.path or cfg.screen.receptor)
                row["posebusters_valid"] = None if checks is None else bool(checks[0])
            path = self.folder / "poses" / f"{file_id(entry.id)}.sdf"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_poses(result, path)
            row["score"] = result.scores[0]
            if result.poses[0].HasProp("confidence"):  # ranking=confidence/combined
                row["confidence"] = result.poses[0].GetDoubleProp("confidence")
        except InputError as exc:
            row.update(status="error", error=str(exc))
        except Exception as exc:  # noqa: BLE001 -- one broken ligand must not stop a screen
            log.debug("ligand %s failed", entry.id, exc_info=True)
            row.update(status="error", error=f"{type(exc).__name__}: {exc}")
        row["seconds"] = time.perf_counter() - start
        row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        path = self.record_path(entry)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(row, path)
        return row


def read_screen_record(path: Path, entry: LibraryEntry, method: str) -> dict | None:
    """A ligand's record, or ``None`` when there is none or it is unusable (damaged, another
    ligand's or method's, or made from another SMILES under the same id): docked again."""
    if not path.is_file():
        return None
    try:
        row = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(row, dict) or row.get("id") != entry.id or row.get("method") != method:
            raise ValueError("not this ligand's record")
        if row.get("smiles") != entry.smiles:
            raise ValueError(f"made from another SMILES ({row.get('smiles')!r})")
        missing = [k for k in SCREEN_COLUMNS if k not in OPTIONAL_COLUMNS and k not in row]
        if missing or row["status"] not in ("ok", "error"):
            raise ValueError(f"missing {', '.join(missing) or 'status'}")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning("%s: unusable record (%s); docking %s again", path, exc, entry.id)
        return None
    return row


def ranked(rows: list[dict]) -> list[dict]:
    """Rows best first: docked ligands by score (lower is better), then failures in library order."""
    ok = sorted((r for r in rows if r["status"] == "ok" and r.get("score") is not None), key=lambda r: r["score"])
    rest = [r for r in rows if not (r["status"] == "ok" and r.get("score") is not None)]
    out = []
    for k, r in enumerate(ok, start=1):
        out.append({**r, "rank": k})
    return out + [{**r, "rank": None} for r in rest]


def write_screen_table(rows: list[dict], path: Path, columns=SCREEN_COLUMNS) -> None:
    from moldiff.paths import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})


def summarize_screen(rows: list[dict], wall_seconds: float | None, workers: int) -> dict:
    ok = [r for r in rows if r["status"] == "ok"]
    secs = [r["seconds"] for r in rows if r.get("seconds") is not None]
    scores = [r["score"] for r in ok if r.get("score") is not None]
    checked = [r for r in ok if r.get("posebusters_valid") is not None]
    errors: dict[str, int] = {}
    for r in rows:
        if r["status"] != "ok":
            kind = r["error"].split(":")[0] if r["error"].startswith(("RuntimeError", "ValueError")) else "input"
            errors[kind] = errors.get(kind, 0) + 1
    return {
        "n": len(rows), "n_ok": len(ok), "n_error": len(rows) - len(ok), "errors": errors,
        "best_score": min(scores) if scores else None,
        "median_score": float(np.median(scores)) if scores else None,
        "posebusters_valid_top1": (sum(r["posebusters_valid"] for r in checked) / len(checked)) if checked else None,
        "seconds_per_ligand_median": float(np.median(secs)) if secs else None,
        "workers": workers,
        "wall_seconds_this_run": wall_seconds,
        "ligands_per_minute_this_run": None,
    }


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# --- worker processes ---------------------------------------------------------------------------
_WORKER: LigandDocker | None = None


def _init_worker(cfg: DockConfig, method: str, folder: Path, parent: int) -> None:
    import signal
    import threading

    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the workers

    def orphaned():  # the parent was killed (kill -9): stop rather than linger
        while os.getppid() == parent:
            time.sleep(2.0)
        os._exit(0)

    threading.Thread(target=orphaned, daemon=True).start()
    torch.set_num_threads(1)
    global _WORKER
    model = None
    if method == "moldiff":
        import moldiff

        model = moldiff.load(cfg.model)
    _WORKER = LigandDocker(cfg, method, folder, model)


def _work(entry: LibraryEntry) -> dict:
    return _WORKER(entry)


def _run_pool(cfg: DockConfig, method: str, folder: Path, pending: list[LibraryEntry], workers: int,
              bar) -> None:
    """Dock ``pending`` in ``workers`` spawned processes; each finished ligand advances ``bar``.
    Ctrl-C terminates the workers (a ligand they were docking has no record and is redone).
    The workers are not daemons: docking bounds Vina and PoseBusters in child processes."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")  # no fork of a process holding torch's and RDKit's threads
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                               initargs=(cfg, method, folder, os.getpid()))
    try:
        queue = iter(pending)
        running = {pool.submit(_work, e) for e in _take(queue, 2 * workers)}
        while running:
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()  # a worker that died raises here (BrokenProcessPool)
                bar.update(1)
            running |= {pool.submit(_work, e) for e in _take(queue, len(finished))}
        pool.shutdown()
    except BaseException:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise


def _take(items, n: int) -> list:
    out = []
    for _ in range(n):
        try:
            out.append(next(items))
        except StopIteration:
            break
    return out


def _uses_lightning(cfg: DockConfig) -> bool:
    t = cfg.trainer
    return t.accelerator != "cpu" or t.devices not in (1, "1") or t.num_nodes > 1


def run_screen(cfg: DockConfig, *, progress: bool = True) -> dict:
    """Screen ``cfg.screen.library`` against ``cfg.screen.receptor``; returns ``{method: summary}``
    (also in ``summary.json``). Every check (library, receptor, site, model, Vina, folder
    settings) is made before the output folder is made or changed."""
    from moldiff.docking.runs import check_same_settings, predict, predict_trainer, write_yaml
    from moldiff.data.protein import binding_site
    from moldiff.paths import check_output_dir
    from moldiff.progress import Progress
    from moldiff.schema import to_dict
    from moldiff.vina.scorer import vina_available

    s = cfg.screen
    if cfg.data.root is not None or cfg.data.ids:
        raise InputError("data.root / data.ids select complexes; a screen docks screen.library (remove one of them)")
    entries = read_library(s.library, id_column=s.id_column, smiles_column=s.smiles_column)
    if cfg.limit:
        entries = entries[: cfg.limit]
    binding_site(s.receptor, **screen_site(cfg), radius=s.radius)  # receptor and site readable
    methods = [cfg.method] + ([cfg.baseline] if cfg.baseline != "none" and cfg.baseline != cfg.method else [])
    if ("vina" in methods or cfg.refine or cfg.ranking != "fit") and not vina_available():
        raise InputError("this screen uses Vina (baseline, refinement or ranking): pip install 'moldiff[eval]', "
                         "or set baseline=none refine=false ranking=fit")
    out = check_output_dir(cfg.output.dir, "output.dir")
    if "moldiff" in methods:
        import moldiff

        if not hasattr(moldiff.load(cfg.model), "design"):
            raise InputError(f"{cfg.model}: not a pocket model (docking needs one, e.g. the shipped 'pocket')")
    check_same_settings(out, cfg)
    lightning = _uses_lightning(cfg)
    trainer = predict_trainer(cfg, progress) if lightning else None
    workers = min(s.workers or default_workers(), 64)
    out.mkdir(parents=True, exist_ok=True)
    write_yaml(to_dict(cfg), out / "config.yaml")
    summaries, all_rows = {}, []
    for method in methods:
        folder = out / method
        done = set()
        if cfg.output.resume:
            records = folder / "records"
            done = {e.id for e in entries if read_screen_record(records / f"{file_id(e.id)}.json", e, method)}
        pending = [e for e in entries if e.id not in done]
        log.info("%s: %d ligands (%d done before, %d to dock) -> %s", method, len(entries), len(done),
                 len(pending), folder)
        start = time.perf_counter()
        n_workers = 1 if lightning else max(1, min(workers, len(pending)))
        if pending and lightning:
            import moldiff

            worker = LigandDocker(cfg, method, folder, moldiff.load(cfg.model) if method == "moldiff" else None)
            predict(cfg, worker, pending, trainer, progress, unit="ligand")
        elif pending:
            with Progress(len(pending), f"screening ({method})", "ligand", enabled=progress) as bar:
                if n_workers == 1:
                    _run_here(cfg, method, folder, pending, bar)
                else:
                    _run_pool(cfg, method, folder, pending, n_workers, bar)
        wall = time.perf_counter() - start
        by_id = {}
        for e in entries:
            row = read_screen_record(folder / "records" / f"{file_id(e.id)}.json", e, method)
            if row is not None:
                by_id[e.id] = row
        rows = ranked([by_id[e.id] for e in entries if e.id in by_id])
        write_screen_table(rows, folder / "results.csv")
        summary = summarize_screen(rows, wall if pending else None, n_workers)
        if pending:
            summary["ligands_per_minute_this_run"] = 60.0 * len(pending) / wall
        summary["n_docked_this_run"] = len(pending)
        summaries[method] = summary
        write_json(summary, folder / "summary.json")
        all_rows += rows
    write_screen_table(all_rows, out / "results.csv", ["method", *SCREEN_COLUMNS])
    write_json(summaries, out / "summary.json")
    return summaries


def _run_here(cfg: DockConfig, method: str, folder: Path, pending: list[LibraryEntry], bar) -> None:
    """Dock ``pending`` in this process, on one torch thread (as each worker process does)."""
    import torch

    import moldiff

    worker = LigandDocker(cfg, method, folder, moldiff.load(cfg.model) if method == "moldiff" else None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for entry in pending:
            worker(entry)
            bar.update(1)
    finally:
        torch.set_num_threads(threads)


def screen(receptor, library, output, *, reference=None, center=None, box=None, method: str = "moldiff",
           model: str = "pocket", workers: int | None = None, protonation_ph: float | None = 7.4,
           posebusters: bool = True, progress: bool = True, **options):
    """Screen ``library`` against ``receptor`` from Python; returns the ranked results table
    (a pandas ``DataFrame``, as ``<output>/<method>/results.csv``).

        >>> table = screen("P.pdb", "library.csv", "runs/screen", reference="REF.sdf", workers=2)
        >>> table.head()

    The site is exactly one of ``reference``/``center``/``box`` (``box``: centre and size, six
    numbers); ``options`` are :class:`~moldiff.options.DockOptions` fields (``num_poses``,
    ``steps``, ``search_steps``, ``seed``, ...). Resumable: a second call with the same
    arguments docks only the ligands without a result.
    """
    import pandas as pd

    from moldiff.schema import from_dict

    site = {k: (list(v) if v is not None and k != "reference" else v) for k, v in
            (("reference", reference), ("center", center), ("box", box))}
    site = {k: (str(v) if k == "reference" and v is not None else v) for k, v in site.items()}
    data = {**options, "method": method, "model": model, "posebusters": posebusters,
            "screen": {"receptor": str(receptor), "library": str(library), **site, "workers": workers,
                       "protonation_ph": protonation_ph},
            "output": {"dir": str(output)}}
    cfg = from_dict(DockConfig, data, where="screen()")
    run_screen(cfg, progress=progress)
    return pd.read_csv(Path(output) / method / "results.csv")
