"""Matplotlib figures for moldiff outputs.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot's global
state (safe in scripts, servers and notebooks, where it displays inline); save it with
``fig.savefig("x.png")``. Distances between generated and reference distributions are
printed on the plots (1-D Wasserstein, in the data's units).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from moldiff.metrics.geometry import wasserstein

GENERATED, REFERENCE = "#1f77b4", "#7f7f7f"
METRIC_LABELS = {"atom_stability": "atom stab.", "mol_stability": "mol. stab.", "validity": "validity",
                 "connectivity": "connected", "uniqueness": "unique", "novelty": "novel"}


def metric_bars(metrics: dict, reference: dict | None = None, *, keys=tuple(METRIC_LABELS),
                label: str = "moldiff", reference_label: str = "reference") -> Figure:
    """Bars of the fractions in ``metrics`` (%), with ``reference`` values beside them."""
    keys = [k for k in keys if metrics.get(k) is not None]
    fig = Figure(figsize=(1.2 * len(keys) + 2, 3.6), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(keys))
    width = 0.38 if reference else 0.6
    vals = [100 * metrics[k] for k in keys]
    bars = ax.bar(x - (width / 2 if reference else 0), vals, width, label=label, color=GENERATED)
    ax.bar_label(bars, fmt="%.1f", fontsize=8)
    if reference:
        ref = [100 * reference[k] if reference.get(k) is not None else np.nan for k in keys]
        rb = ax.bar(x + width / 2, ref, width, label=reference_label, color=REFERENCE)
        ax.bar_label(rb, fmt="%.1f", fontsize=8)
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xticks(x, [METRIC_LABELS.get(k, k) for k in keys])
    ax.set_ylabel("%")
    ax.set_ylim(0, 105)
    ax.set_title(f"{label}: {metrics.get('n', '?')} molecules")
    return fig


def distributions(generated: dict[str, np.ndarray], reference: dict[str, np.ndarray] | None = None, *,
                  top: int = 6, unit: str = "Å", title: str = "bond lengths", bins: int = 60) -> Figure:
    """Histograms of the ``top`` most frequent keys (e.g. ``"C-H"``) of ``generated``, over
    ``reference``'s, with the Wasserstein distance of each pair in its panel."""
    keys = sorted(generated, key=lambda k: -len(generated[k]))[:top]
    cols = min(3, max(len(keys), 1))
    rows = max(1, int(np.ceil(len(keys) / cols)))
    fig = Figure(figsize=(4 * cols, 2.8 * rows), layout="constrained")
    fig.suptitle(title)
    for n, key in enumerate(keys):
        ax = fig.add_subplot(rows, cols, n + 1)
        gen = generated[key]
        ref = reference.get(key, np.array([])) if reference is not None else np.array([])
        both = np.concatenate([gen, ref]) if len(ref) else gen
        lo, hi = np.percentile(both, [0.5, 99.5]) if len(both) else (0, 1)
        edges = np.linspace(lo, hi if hi > lo else lo + 1, bins)
        if len(ref):
            ax.hist(ref, edges, density=True, color=REFERENCE, alpha=0.5, label=f"reference ({len(ref)})")
        ax.hist(gen, edges, density=True, histtype="step", color=GENERATED, lw=1.5, label=f"generated ({len(gen)})")
        text = key if not len(ref) else f"{key}   W1 = {wasserstein(gen, ref):.3g} {unit}"
        ax.set_title(text, fontsize=9)
        ax.set_xlabel(unit)
        ax.legend(fontsize=7)
    return fig


def count_histogram(generated: np.ndarray, reference: np.ndarray | None = None, *, xlabel: str = "atoms per molecule"
                    ) -> Figure:
    """Normalised histograms of integer counts (atoms per molecule)."""
    fig = Figure(figsize=(6, 3.4), layout="constrained")
    ax = fig.add_subplot()
    values = np.concatenate([generated, reference]) if reference is not None else generated
    edges = np.arange(values.min(), values.max() + 2) - 0.5
    if reference is not None:
        ax.hist(reference, edges, density=True, color=REFERENCE, alpha=0.5, label="reference")
    ax.hist(generated, edges, density=True, histtype="step", color=GENERATED, lw=1.5, label="generated")
    if reference is not None:
        ax.set_title(f"W1 = {wasserstein(generated.astype(float), reference.astype(float)):.3g} atoms", fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction")
    ax.legend(fontsize=8)
    return fig


def fraction_bars(generated: dict[str, float], reference: dict[str, float] | None = None, *,
                  xlabel: str = "element") -> Figure:
    """Side-by-side bars of categorical fractions (atom types)."""
    keys = sorted(set(generated) | set(reference or {}))
    fig = Figure(figsize=(1 + 0.8 * len(keys), 3.4), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(keys))
    width = 0.4 if reference else 0.6
    ax.bar(x - (width / 2 if reference else 0), [generated.get(k, 0) for k in keys], width, color=GENERATED,
           label="generated")
    if reference:
        ax.bar(x + width / 2, [reference.get(k, 0) for k in keys], width, color=REFERENCE, label="reference")
    ax.set_xticks(x, keys)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of atoms")
    ax.legend(fontsize=8)
    return fig


def quality_vs_steps(rows: list[dict], *, keys=("atom_stability", "mol_stability", "validity")) -> Figure:
    """Metrics (%) and sampling time against sampling steps, from ``benchmarks/qm9_quality.py`` rows."""
    rows = sorted(rows, key=lambda r: r["steps"])
    steps = [r["steps"] for r in rows]
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    ax, ax_t = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for key in keys:
        ax.plot(steps, [100 * r[key] for r in rows], "o-", label=METRIC_LABELS.get(key, key))
    ax.set_xscale("log")
    ax.set_xlabel("sampling steps")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax_t.plot(steps, [r["seconds_per_mol"] for r in rows], "o-", color="k")
    ax_t.set_xscale("log")
    ax_t.set_yscale("log")
    ax_t.set_xlabel("sampling steps")
    ax_t.set_ylabel("seconds per molecule")
    return fig


def success_curve(rmsd: dict[str, np.ndarray], *, max_rmsd: float = 10.0) -> Figure:
    """Docking: share of complexes with RMSD below each threshold, one curve per method,
    the 2 Å success rate in the legend."""
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.add_subplot()
    grid = np.linspace(0, max_rmsd, 201)
    for method, values in rmsd.items():
        values = np.asarray(values, dtype=float)
        values = np.where(np.isfinite(values), values, np.inf)  # failures never succeed
        rate = [(values < g).mean() * 100 for g in grid]
        ax.plot(grid, rate, label=f"{method}: {100 * (values < 2).mean():.0f} % < 2 Å (n={len(values)})")
    ax.axvline(2.0, color="k", ls=":", lw=1)
    ax.set_xlabel("RMSD threshold (Å)")
    ax.set_ylabel("complexes below threshold (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def rmsd_vs_size(sizes: dict[str, np.ndarray], rmsd: dict[str, np.ndarray]) -> Figure:
    """Docking: per-complex RMSD against ligand heavy-atom count, one series per method."""
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.add_subplot()
    for method in rmsd:
        ax.scatter(sizes[method], rmsd[method], s=14, alpha=0.7, label=method)
    ax.axhline(2.0, color="k", ls=":", lw=1)
    ax.set_xlabel("ligand heavy atoms")
    ax.set_ylabel("top-1 RMSD (Å)")
    ax.legend(fontsize=8)
    return fig


def property_histograms(values: dict[str, np.ndarray], reference: dict[str, float] | None = None, *,
                        bins: int = 20, labels: dict[str, str] | None = None) -> Figure:
    """Pocket design: one panel per property (e.g. ``qed``, ``sa``, ``vina``) with a histogram
    of the designed ligands' values and the reference ligand's value as a vertical line."""
    keys = [k for k, v in values.items() if np.isfinite(np.asarray(v, dtype=float)).any()]
    labels = {"qed": "QED", "sa": "SA score", "logp": "logP", "vina": "Vina score (kcal/mol)",
              "vina_min": "Vina minimised (kcal/mol)", "heavy_atoms": "heavy atoms", **(labels or {})}
    fig = Figure(figsize=(3.2 * max(len(keys), 1), 3.0), layout="constrained")
    axes = fig.subplots(1, max(len(keys), 1), squeeze=False)[0]
    for ax, key in zip(axes, keys):
        v = np.asarray(values[key], dtype=float)
        v = v[np.isfinite(v)]
        ax.hist(v, bins=bins, color=GENERATED, alpha=0.8, label=f"designed (n={len(v)}, mean {v.mean():.2f})")
        if reference and reference.get(key) is not None and np.isfinite(reference[key]):
            ax.axvline(reference[key], color="k", ls="--", lw=1.5, label=f"reference {reference[key]:.2f}")
        ax.set_xlabel(labels.get(key, key))
        ax.legend(fontsize=7)
    axes[0].set_ylabel("ligands")
    return fig
