"""The evaluation figures as PNG files (``moldiff evaluate ... --plots DIR``)."""
from __future__ import annotations

from pathlib import Path

from moldiff.metrics import geometry


def reference_molecules(name: str | None, limit: int = 2000, bonds: str = "table"):
    """Molecules to compare distributions against: ``"qm9"`` -> the first ``limit`` molecules of
    the QM9 training split (a random subset: the split is a seeded permutation); else None."""
    if name is None or str(name).lower() != "qm9":
        return None
    from moldiff.data.qm9 import qm9_molecules

    return geometry.with_bonds(qm9_molecules("train", limit=limit), bonds)


def write_evaluation_plots(mols, out_dir: str | Path, *, metrics: dict | None = None,
                           reference=None, published: dict | None = None) -> list[Path]:
    """Write metrics.png (if ``metrics``), atom_counts.png, elements.png, bond_lengths.png,
    bond_angles.png and torsions.png into ``out_dir`` (created). ``mols``: RDKit molecules
    with bonds; ``reference``: RDKit molecules for the distributions (e.g.
    :func:`reference_molecules`). Files are written atomically. Returns the paths."""
    from moldiff.paths import atomic_path
    from moldiff.viz import plots

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = {}
    if metrics is not None:
        figures["metrics"] = plots.metric_bars(metrics, published, reference_label="QM9 data (published)")
    ref = reference or None
    figures["atom_counts"] = plots.count_histogram(geometry.atom_counts(mols),
                                                   geometry.atom_counts(ref) if ref else None)
    figures["elements"] = plots.fraction_bars(geometry.element_fractions(mols),
                                              geometry.element_fractions(ref) if ref else None)
    for name, fn, unit in (("bond_lengths", geometry.bond_lengths, "Å"), ("bond_angles", geometry.bond_angles, "°"),
                           ("torsions", geometry.torsions, "°")):
        gen = fn(mols)
        if not gen:
            continue
        figures[name] = plots.distributions(gen, fn(ref) if ref else None, unit=unit, title=name.replace("_", " "))
    paths = []
    for name, fig in figures.items():
        path = out_dir / f"{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
        paths.append(path)
    return paths
