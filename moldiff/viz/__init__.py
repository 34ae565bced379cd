"""Plots (matplotlib) and 3D views (py3Dmol) of moldiff outputs, for notebooks and the CLI, and
the HTML report (:mod:`moldiff.viz.html`, no extra needed).

``plots`` and ``view3d`` need the ``notebooks`` extra (``pip install 'moldiff[notebooks]'``);
they are imported on first use, so ``moldiff report`` works without matplotlib.
"""
from __future__ import annotations

_PLOTS = ("count_histogram", "distributions", "fraction_bars", "metric_bars", "quality_vs_steps",
          "rmsd_vs_size", "success_curve")

__all__ = list(_PLOTS)


def __getattr__(name: str):
    if name in _PLOTS:
        from moldiff.viz import plots

        return getattr(plots, name)
    raise AttributeError(f"module 'moldiff.viz' has no attribute {name!r}")
