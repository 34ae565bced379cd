"""AutoDock Vina, in one place for metrics, docking and design guidance.

* :mod:`~moldiff.vina.atom_types` -- AutoDock and X-Score atom typing (PDBQT, proteins, bare
  heavy atoms);
* :mod:`~moldiff.vina.energy` -- Vina's scoring function in torch: pair terms, the ligand-pocket
  energy of a design, a batched differentiable energy and grid maps for pose search;
* :mod:`~moldiff.vina.prepare` -- receptor and ligand PDBQT (meeko), poses back from PDBQT;
* :mod:`~moldiff.vina.scorer` -- Vina itself (the ``eval`` extra): scoring, optimisation, docking.

A leaf of the package: it imports chemistry tables and nothing of models, data, metrics or docking.
"""
