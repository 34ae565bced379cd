"""``moldiff report``: one self-contained HTML page for a sampling, design or docking run.

The page holds the metrics table, plots (inline SVG, no matplotlib needed) and interactive 3D
views (a small canvas viewer written here: drag to rotate, wheel to zoom; no script is fetched
from the network) of the best and worst results, with the pocket where there is one.

What the run is decides the page:

- a folder holding ``summary.json`` and ``config.yaml`` (``moldiff dock CONFIG.yaml``): the
  methods side by side, the success curve, and the best and worst complexes' top-1 poses with
  their crystal ligand and pocket;
- an SDF with a protein (``protein=`` with ``ligand=`` or ``center=``; designs or poses): the
  design metrics (:func:`~moldiff.metrics.pocket.evaluate_in_pocket`), property histograms, and
  the three best and three worst molecules by Vina score (QED without Vina) in the pocket;
- an SDF alone (``moldiff sample``): the EDM metrics, atom counts and elements, and valid and
  invalid molecules.
"""
from __future__ import annotations

import csv
import html
import json
import math
from pathlib import Path

import numpy as np

from moldiff.errors import InputError

#: element colours of the 3D views (CPK-like); others are pink
COLOURS = {"H": "#e8e8e8", "C": "#606060", "N": "#3050f8", "O": "#ff0d0d", "F": "#90e050", "P": "#ff8000",
           "S": "#e0c000", "Cl": "#1ff01f", "Br": "#a62929", "I": "#940094"}
#: palette of the plots' series
SERIES = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")


# --- plots as SVG ---------------------------------------------------------------------------
def svg_histogram(values, *, title: str, xlabel: str, bins: int = 20, reference: float | None = None) -> str:
    """A histogram of ``values`` as an SVG string (a dashed line at ``reference``)."""
    values = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if len(values) == 0:
        return f"<p>{html.escape(title)}: no values</p>"
    lo, hi = float(values.min()), float(values.max())
    if reference is not None and math.isfinite(reference):
        lo, hi = min(lo, reference), max(hi, reference)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    w, h, left, bottom = 360, 220, 40, 36
    pw, ph = w - left - 10, h - bottom - 24
    top = counts.max() or 1
    parts = [_svg_head(w, h, title)]
    for k, c in enumerate(counts):
        x = left + pw * k / bins
        bh = ph * c / top
        parts.append(f'<rect x="{x:.1f}" y="{24 + ph - bh:.1f}" width="{pw / bins - 1:.1f}" height="{bh:.1f}" '
                     f'fill="{SERIES[0]}"><title>{edges[k]:.3g} to {edges[k + 1]:.3g}: {c}</title></rect>')
    if reference is not None and math.isfinite(reference):
        x = left + pw * (reference - lo) / (hi - lo)
        parts.append(f'<line x1="{x:.1f}" y1="24" x2="{x:.1f}" y2="{24 + ph}" stroke="#d62728" '
                     'stroke-dasharray="4 3"><title>reference</title></line>')
    parts += _axes(left, 24, pw, ph, f"{lo:.3g}", f"{hi:.3g}", "0", str(int(top)), xlabel)
    return "".join(parts) + "</svg>"


def svg_lines(series: dict[str, tuple[np.ndarray, np.ndarray]], *, title: str, xlabel: str, ylabel: str,
              ymax: float | None = None) -> str:
    """Lines ``{label: (x, y)}`` as an SVG string with a legend."""
    xs = np.concatenate([np.asarray(x, float) for x, _ in series.values()]) if series else np.zeros(1)
    ys = np.concatenate([np.asarray(y, float) for _, y in series.values()]) if series else np.zeros(1)
    x0, x1 = float(xs.min()), float(xs.max()) or 1.0
    y0, y1 = 0.0, ymax if ymax is not None else (float(ys.max()) or 1.0)
    w, h, left, bottom = 360, 220, 40, 36
    pw, ph = w - left - 10, h - bottom - 24
    parts = [_svg_head(w, h, title)]
    for k, (label, (x, y)) in enumerate(series.items()):
        pts = " ".join(f"{left + pw * (a - x0) / ((x1 - x0) or 1):.1f},{24 + ph - ph * (b - y0) / ((y1 - y0) or 1):.1f}"
                       for a, b in zip(x, y))
        colour = SERIES[k % len(SERIES)]
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{left + 8}" y="{40 + 14 * k}" font-size="11" fill="{colour}">{html.escape(label)}</text>')
    parts += _axes(left, 24, pw, ph, f"{x0:.3g}", f"{x1:.3g}", f"{y0:.3g}", f"{y1:.3g}", xlabel, ylabel)
    return "".join(parts) + "</svg>"


def _svg_head(w: int, h: int, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
            f'class="plot"><text x="{w / 2}" y="15" text-anchor="middle" font-size="13">{html.escape(title)}</text>')


def _axes(left, top, pw, ph, xlo, xhi, ylo, yhi, xlabel, ylabel="count") -> list[str]:
    b = top + ph
    return [f'<line x1="{left}" y1="{b}" x2="{left + pw}" y2="{b}" stroke="#333"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{b}" stroke="#333"/>',
            f'<text x="{left}" y="{b + 14}" font-size="10">{html.escape(xlo)}</text>',
            f'<text x="{left + pw}" y="{b + 14}" font-size="10" text-anchor="end">{html.escape(xhi)}</text>',
            f'<text x="{left + pw / 2}" y="{b + 30}" font-size="11" text-anchor="middle">{html.escape(xlabel)}</text>',
            f'<text x="{left - 4}" y="{b}" font-size="10" text-anchor="end">{html.escape(ylo)}</text>',
            f'<text x="{left - 4}" y="{top + 8}" font-size="10" text-anchor="end">{html.escape(yhi)}</text>',
            f'<text x="10" y="{top + ph / 2}" font-size="11" transform="rotate(-90 10 {top + ph / 2})" '
            f'text-anchor="middle">{html.escape(ylabel)}</text>']


# --- 3D scenes --------------------------------------------------------------------------------
def mol_scene(mol, *, pocket=None, extra=None, title: str = "") -> dict:
    """A 3D scene for the viewer: ``mol`` (RDKit, with a conformer) drawn in sticks, ``extra``
    (e.g. the crystal ligand) in thin green, ``pocket`` atoms ((symbols, (N, 3) positions)) as
    small translucent spheres."""
    atoms, bonds = [], []

    def add(m, layer):
        offset = len(atoms)
        pos = m.GetConformer().GetPositions()
        for a, p in zip(m.GetAtoms(), pos):
            atoms.append([round(float(v), 3) for v in p] + [a.GetSymbol(), layer])
        for b in m.GetBonds():
            bonds.append([offset + b.GetBeginAtomIdx(), offset + b.GetEndAtomIdx(), layer])

    if extra is not None:
        add(extra, 1)
    add(mol, 0)
    if pocket is not None:
        for s, p in zip(*pocket):
            atoms.append([round(float(v), 3) for v in p] + [s, 2])
    return {"title": title, "atoms": atoms, "bonds": bonds}


VIEWER_JS = r"""
(function () {
  const colours = %(colours)s;
  function draw(canvas, scene, state) {
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    const [a, b] = state.angles, ca = Math.cos(a), sa = Math.sin(a), cb = Math.cos(b), sb = Math.sin(b);
    const pts = scene.atoms.map(function (t) {
      const x = t[0] - state.c[0], y = t[1] - state.c[1], z = t[2] - state.c[2];
      const x1 = ca * x + sa * z, z1 = -sa * x + ca * z;
      const y2 = cb * y - sb * z1, z2 = sb * y + cb * z1;
      return [w / 2 + state.zoom * x1, h / 2 - state.zoom * y2, z2];
    });
    const items = [];
    scene.bonds.forEach(function (bd) { items.push({z: (pts[bd[0]][2] + pts[bd[1]][2]) / 2, bond: bd}); });
    scene.atoms.forEach(function (t, i) { items.push({z: pts[i][2], atom: i}); });
    items.sort(function (p, q) { return p.z - q.z; });
    items.forEach(function (it) {
      if (it.bond) {
        const p = pts[it.bond[0]], q = pts[it.bond[1]];
        ctx.strokeStyle = it.bond[2] === 1 ? "rgba(40,160,40,0.8)" : "#555";
        ctx.lineWidth = it.bond[2] === 1 ? 2 : 4;
        ctx.beginPath(); ctx.moveTo(p[0], p[1]); ctx.lineTo(q[0], q[1]); ctx.stroke();
      } else {
        const t = scene.atoms[it.atom], p = pts[it.atom], layer = t[4];
        const r = state.zoom * (layer === 2 ? 0.18 : (t[3] === "H" ? 0.16 : 0.28));
        ctx.globalAlpha = layer === 2 ? 0.35 : 1.0;
        ctx.fillStyle = layer === 1 ? "rgba(40,160,40,0.9)" : (colours[t[3]] || "#ff69b4");
        ctx.beginPath(); ctx.arc(p[0], p[1], Math.max(r, 1), 0, 2 * Math.PI); ctx.fill();
        ctx.globalAlpha = 1.0;
      }
    });
  }
  function view(canvas, scene) {
    const own = scene.atoms.filter(function (t) { return t[4] !== 2; });
    const c = [0, 1, 2].map(function (k) {
      return own.reduce(function (s, t) { return s + t[k]; }, 0) / Math.max(own.length, 1);
    });
    const extent = own.reduce(function (m, t) {
      return Math.max(m, Math.hypot(t[0] - c[0], t[1] - c[1], t[2] - c[2]));
    }, 1.0);
    const state = {angles: [0.4, 0.3], zoom: 0.38 * Math.min(canvas.width, canvas.height) / (extent + 2), c: c};
    let drag = null;
    canvas.addEventListener("mousedown", function (e) { drag = [e.clientX, e.clientY]; });
    window.addEventListener("mouseup", function () { drag = null; });
    canvas.addEventListener("mousemove", function (e) {
      if (!drag) return;
      state.angles[0] += (e.clientX - drag[0]) * 0.01; state.angles[1] += (e.clientY - drag[1]) * 0.01;
      drag = [e.clientX, e.clientY]; draw(canvas, scene, state);
    });
    canvas.addEventListener("wheel", function (e) {
      e.preventDefault(); state.zoom *= e.deltaY < 0 ? 1.1 : 0.9; draw(canvas, scene, state);
    }, {passive: false});
    draw(canvas, scene, state);
  }
  const scenes = JSON.parse(document.getElementById("moldiff-scenes").textContent);
  let drawn = 0;
  document.querySelectorAll("canvas.mol3d").forEach(function (canvas) {
    view(canvas, scenes[Number(canvas.dataset.scene)]); drawn += 1;
  });
  document.body.setAttribute("data-views-drawn", String(drawn));
})();
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; } td, th { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #f3f3f3; } td.num { text-align: right; } .plots svg { margin: 0 1em 1em 0; }
.views { display: flex; flex-wrap: wrap; gap: 12px; } figure { margin: 0; } canvas.mol3d { border: 1px solid #ccc; }
figcaption { font-size: 0.85em; max-width: 300px; overflow-wrap: anywhere; } .note { color: #666; font-size: 0.9em; }
"""


def _table(rows: list[list], header: list[str]) -> str:
    def cell(v):
        if isinstance(v, float):
            return f'<td class="num">{v:.3g}</td>' if math.isfinite(v) else '<td class="num">-</td>'
        if isinstance(v, int) and not isinstance(v, bool):
            return f'<td class="num">{v}</td>'
        return f"<td>{html.escape('-' if v is None else str(v))}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _page(title: str, sections: list[str], scenes: list[dict]) -> str:
    views = json.dumps(scenes).replace("</", "<\\/")
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{''.join(sections)}"
            f"<script type=\"application/json\" id=\"moldiff-scenes\">{views}</script>"
            f"<script>{VIEWER_JS % {'colours': json.dumps(COLOURS)}}</script></body></html>")


def _views(scenes: list[dict], start: int) -> str:
    figs = []
    for k, scene in enumerate(scenes):
        figs.append(f'<figure><canvas class="mol3d" width="300" height="260" data-scene="{start + k}"></canvas>'
                    f"<figcaption>{html.escape(scene['title'])}</figcaption></figure>")
    return '<div class="views">' + "".join(figs) + "</div>"


# --- the three kinds of run -----------------------------------------------------------------
def report_molecules(sdf: Path, *, progress: bool = False) -> str:
    """The page for an SDF of generated molecules (``moldiff sample``)."""
    from moldiff.chem.sdf import read_sdf
    from moldiff.chem.tables import SUPPORTED_ELEMENTS
    from moldiff.metrics import evaluate

    records = read_sdf(sdf, allowed_elements=SUPPORTED_ELEMENTS)
    metrics = evaluate(records.mols, progress=progress)
    mols = [m for m in records.mols if m is not None]
    rows = [[k, v] for k, v in metrics.items() if not isinstance(v, (list, dict))]
    counts = [m.GetNumAtoms() for m in mols]
    elements: dict[str, int] = {}
    for m in mols:
        for a in m.GetAtoms():
            elements[a.GetSymbol()] = elements.get(a.GetSymbol(), 0) + 1
    total = sum(elements.values()) or 1
    from moldiff.metrics.pocket import is_valid

    ok = [m.GetIntProp("moldiff_valid") == 1 if m.HasProp("moldiff_valid") else is_valid(m) for m in mols]
    valid = [m for m, v in zip(mols, ok) if v]
    invalid = [m for m, v in zip(mols, ok) if not v]
    picks = [(m, "valid") for m in valid[:4]] + [(m, "not valid") for m in invalid[:4]]  # file order: unbiased
    scenes = [mol_scene(m, title=f"{m.GetProp('_Name') if m.HasProp('_Name') else 'molecule'} ({label}; "
                                 f"{m.GetNumAtoms()} atoms)") for m, label in picks]
    sections = [f"<p>{html.escape(str(sdf))}: {len(records.mols)} records; bonds inferred from distances (EDM "
                "protocol).</p>", "<h2>Metrics</h2>", _table(rows, ["metric", "value"]),
                "<h2>Distributions</h2><div class=\"plots\">",
                svg_histogram(counts, title="atoms per molecule", xlabel="atoms"),
                _table([[e, n, n / total] for e, n in sorted(elements.items())], ["element", "atoms", "fraction"]),
                "</div>", "<h2>Valid and invalid molecules</h2>", _views(scenes, 0)]
    return _page(f"moldiff report: {sdf.name}", sections, scenes)


def report_pocket(sdf: Path, protein, *, ligand=None, center=None, posebusters: str = "fast",
                  progress: bool = False) -> str:
    """The page for designs or poses in a pocket."""
    from moldiff.chem.ligand import read_ligand
    from moldiff.chem.sdf import read_sdf
    from moldiff.chem.tables import SUPPORTED_ELEMENTS
    from moldiff.metrics.pocket import evaluate_in_pocket, sanitized

    records = read_sdf(sdf, allowed_elements=SUPPORTED_ELEMENTS)
    reference = read_ligand(ligand, hydrogens="add") if ligand is not None else None
    if reference is None and center is None:
        raise InputError("a report in a pocket needs the site: --ligand REF.sdf or --center X Y Z")
    metrics = evaluate_in_pocket(records.mols, protein, reference=reference, center=center, posebusters=posebusters,
                                 progress=progress)
    per = metrics["per_molecule"]
    valid = [c for c in map(sanitized, records.mols) if c is not None]
    keys = ["n", "validity", "connectivity", "uniqueness", "diversity", "qed", "sa", "logp", "lipinski", "clash_2A",
            "posebusters_mol_valid", "vina", "vina_min", "heavy_atoms"]
    rows = [[k, metrics.get(k), metrics.get(f"reference_{k}") if k in ("qed", "sa", "logp", "vina", "vina_min")
             else None] for k in keys]
    by = "vina" if any(r.get("vina") == r.get("vina") and r.get("vina") is not None for r in per) else "qed"
    sign = 1 if by == "vina" else -1  # lower Vina is better, higher QED is better
    order = sorted(range(len(per)), key=lambda i: sign * _num(per[i].get(by), sign))
    pocket_atoms = _pocket_atoms(protein, reference, center)
    chosen = [(i, "best") for i in order[:3]] + [(i, "worst") for i in order[::-1][:3] if i not in order[:3]]
    scenes = [mol_scene(valid[i], pocket=pocket_atoms, extra=reference,
                        title=f"{label} by {by}: {per[i].get(by, float('nan')):.2f}; {per[i]['smiles']}")
              for i, label in chosen]
    plots = [svg_histogram([r.get(k) for r in per], title=k, xlabel=k,
                           reference=metrics.get(f"reference_{k}")) for k in ("qed", "sa", "vina", "heavy_atoms")
             if any(r.get(k) is not None for r in per)]
    sections = [f"<p>{html.escape(str(sdf))}: {metrics['n']} molecules in the pocket of {html.escape(str(protein))}"
                + (f"; reference ligand {html.escape(str(ligand))} (green in the views)" if ligand else "")
                + f"; PoseBusters {html.escape(posebusters)}.</p>",
                "<h2>Metrics</h2>", _table(rows, ["metric", "molecules", "reference"]),
                "<h2>Properties</h2><div class=\"plots\">", *plots, "</div>",
                f"<h2>Best and worst by {by}</h2>", _views(scenes, 0),
                "<p class=\"note\">Pocket atoms within 8 Å of the site are drawn small and faint; "
                "drag to rotate, wheel to zoom.</p>"]
    return _page(f"moldiff report: {sdf.name}", sections, scenes)


def report_docking(folder: Path) -> str:
    """The page for a docking experiment folder (``moldiff dock CONFIG.yaml``)."""
    import yaml

    from moldiff.chem.ligand import read_ligand
    from moldiff.config import DockConfig, from_dict
    from moldiff.docking.experiment import entry_ligand, safe_name, select_entries

    summary = json.loads((folder / "summary.json").read_text())
    cfg = from_dict(DockConfig, yaml.safe_load((folder / "config.yaml").read_text()), where=str(folder / "config.yaml"))
    with open(folder / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    methods = list(summary)
    keys = sorted({k for s in summary.values() for k in s})
    table = _table([[k, *(summary[m].get(k) for m in methods)] for k in keys], ["", *methods])
    rmsd = {m: np.asarray([float(r["top1_rmsd"]) for r in rows if r["method"] == m and r["top1_rmsd"]])
            for m in methods}
    grid = np.linspace(0, 10, 41)
    curve = svg_lines({m: (grid, np.array([(v <= x).mean() if len(v) else 0 for x in grid])) for m, v in rmsd.items()},
                      title="top-1 success against the RMSD threshold", xlabel="RMSD (Å)",
                      ylabel="fraction of complexes", ymax=1.0)
    entries = {e.id: e for e in select_entries(cfg)}
    first = [r for r in rows if r["method"] == methods[0] and r["top1_rmsd"] and r["id"] in entries]
    first.sort(key=lambda r: float(r["top1_rmsd"]))
    picks = [(r, "best") for r in first[:2]] + [(r, "worst") for r in first[::-1][:2] if r not in first[:2]]
    scenes = []
    for r, label in picks:
        entry = entries[r["id"]]
        crystal = entry_ligand(entry)
        poses = read_ligand(folder / methods[0] / "poses" / f"{safe_name(entry.id)}.sdf", all_records=True)
        scenes.append(mol_scene(poses[0], pocket=_pocket_atoms(entry.protein, crystal, None), extra=crystal,
                                title=f"{label}: {entry.id}, top-1 RMSD {float(r['top1_rmsd']):.2f} Å ({methods[0]})"))
    sections = [f"<p>{html.escape(str(folder))}: {len({r['id'] for r in rows})} complexes, methods "
                f"{', '.join(methods)}.</p>", "<h2>Summary</h2>", table, "<h2>Success</h2><div class=\"plots\">",
                curve, svg_histogram(np.concatenate(list(rmsd.values())) if rmsd else [], title="top-1 RMSD (all methods)",
                                     xlabel="RMSD (Å)"), "</div>",
                f"<h2>Best and worst complexes ({html.escape(methods[0])})</h2>", _views(scenes, 0),
                "<p class=\"note\">Top-1 pose in element colours, crystal ligand in green, pocket atoms faint.</p>"]
    return _page(f"moldiff report: {folder.name}", sections, scenes)


def write_report(path, out, *, protein=None, ligand=None, center=None, posebusters: str = "fast",
                 progress: bool = False) -> Path:
    """Write the page for ``path`` (see the module docstring) to ``out`` atomically; returns ``out``."""
    from moldiff.paths import atomic_path, check_writable

    path, out = Path(path), Path(out)
    check_writable(out)
    if path.is_dir():
        if not (path / "summary.json").is_file() or not (path / "config.yaml").is_file():
            raise InputError(f"{path}: not a docking experiment folder (no summary.json and config.yaml); "
                             "give an SDF file for samples or designs")
        text = report_docking(path)
    elif not path.is_file():
        raise InputError(f"{path}: no such file or folder")
    elif protein is not None:
        text = report_pocket(path, protein, ligand=ligand, center=center, posebusters=posebusters, progress=progress)
    else:
        if ligand is not None or center is not None:
            raise InputError("--ligand/--center define a pocket and need --protein")
        text = report_molecules(path, progress=progress)
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out


def _num(v, sign) -> float:
    return float(v) if v is not None and v == v else sign * math.inf


def _pocket_atoms(protein, reference, center, radius: float = 8.0):
    """(symbols, positions) of the protein's heavy atoms within ``radius`` of the site."""
    from moldiff.data.protein import read_protein

    prot = read_protein(protein)
    site = (reference.GetConformer().GetPositions() if reference is not None
            else np.asarray(center, dtype=float).reshape(1, 3))
    d = np.sqrt(((prot.pos[:, None, :] - site[None]) ** 2).sum(-1)).min(1)
    keep = d < radius
    return [str(e) for e in prot.element[keep]], prot.pos[keep]
