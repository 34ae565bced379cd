"""Plots (matplotlib) and 3D views (py3Dmol) of moldiff outputs, for notebooks and the CLI.

Needs the ``notebooks`` extra (``pip install 'moldiff[notebooks]'``) for matplotlib and py3Dmol.
"""
from moldiff.viz.plots import (
    count_histogram,
    distributions,
    fraction_bars,
    metric_bars,
    quality_vs_steps,
    rmsd_vs_size,
    success_curve,
)

__all__ = ["count_histogram", "distributions", "fraction_bars", "metric_bars", "quality_vs_steps",
           "rmsd_vs_size", "success_curve"]
