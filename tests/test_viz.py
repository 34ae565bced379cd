"""Plots render to PNG with the content they claim (axes, series, distances); 3D views build."""
import numpy as np
import pytest
from rdkit import Chem

from helpers import embed
from moldiff.metrics import geometry

from moldiff.viz import plots, view3d


@pytest.fixture(scope="module")
def mols():
    return [embed(s, seed=k) for k, s in enumerate(["CCO", "CC(=O)N", "c1ccccc1O", "CC#N", "OCC(F)CO"])]


def _png(fig, tmp_path, name):
    path = tmp_path / f"{name}.png"
    fig.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    return path


def test_geometry_extraction_is_chemical(mols):
    lengths = geometry.bond_lengths(mols)
    assert 1.05 < lengths["C-H"].mean() < 1.12 and 1.45 < lengths["C-C"].max() < 1.56
    angles = geometry.bond_angles(mols)
    assert 100 < np.median(angles["C-C-H"]) < 125 and set(angles) >= {"C-C-O", "H-C-H"}
    assert 175 < geometry.bond_angles([mols[3]])["C-C-N"][0] <= 180  # nitrile is linear
    tors = geometry.torsions(mols)
    assert all(np.abs(v).max() <= 180 for v in tors.values())
    ring = geometry.torsions([mols[2]])["C-C-C-C"]
    assert np.abs(ring).max() < 5  # a flat benzene ring
    assert geometry.atom_counts(mols).tolist() == [m.GetNumAtoms() for m in mols]
    assert abs(sum(geometry.element_fractions(mols).values()) - 1) < 1e-12


def test_distribution_plot_panels_and_distances(mols, tmp_path):
    gen, ref = geometry.bond_lengths(mols[:3]), geometry.bond_lengths(mols)
    fig = plots.distributions(gen, ref, top=4)
    axes = fig.get_axes()
    assert len(axes) == min(4, len(gen))
    title = axes[0].get_title()
    key = title.split()[0]
    assert key in gen and f"W1 = {geometry.wasserstein(gen[key], ref[key]):.3g}" in title
    assert len(axes[0].patches) > 10  # histogram bars of both series
    assert [t.get_text().split(" (")[0] for t in axes[0].get_legend().get_texts()] == ["reference", "generated"]
    _png(fig, tmp_path, "dist")


def test_metric_bars_count_and_steps_plot(tmp_path):
    metrics = {"n": 10, "atom_stability": 0.9, "mol_stability": 0.5, "validity": 0.8, "novelty": None}
    fig = plots.metric_bars(metrics, {"atom_stability": 0.99, "mol_stability": 0.952, "validity": 0.977})
    ax = fig.get_axes()[0]
    assert len(ax.patches) == 6 and [t.get_text() for t in ax.get_xticklabels()] == ["atom stab.", "mol. stab.",
                                                                                       "validity"]
    assert sorted(round(p.get_height(), 1) for p in ax.patches)[:3] == [50.0, 80.0, 90.0]
    _png(fig, tmp_path, "bars")
    rows = [{"steps": s, "atom_stability": a, "mol_stability": m, "validity": v, "seconds_per_mol": s / 100}
            for s, a, m, v in [(100, 0.9, 0.4, 0.8), (25, 0.7, 0.1, 0.6), (50, 0.8, 0.2, 0.7)]]
    fig = plots.quality_vs_steps(rows)
    left, right = fig.get_axes()
    assert len(left.get_lines()) == 3 and list(left.get_lines()[1].get_xdata()) == [25, 50, 100]
    assert list(right.get_lines()[0].get_ydata()) == [0.25, 0.5, 1.0]
    fig = plots.count_histogram(np.array([5, 6, 6, 7]), np.array([6, 6, 7, 7]))
    assert "W1 = 0.5" in fig.get_axes()[0].get_title()


def test_docking_plots(tmp_path):
    rmsd = {"moldiff": np.array([0.5, 1.5, 3.0, np.nan]), "vina": np.array([1.0, 4.0, 5.0, 6.0])}
    fig = plots.success_curve(rmsd)
    ax = fig.get_axes()[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["moldiff: 50 % < 2 Å (n=4)", "vina: 25 % < 2 Å (n=4)"]
    curve = ax.get_lines()[0].get_ydata()
    assert curve[0] == 0 and curve[-1] == 75  # the failure (nan) never counts as a success
    fig = plots.rmsd_vs_size({"moldiff": np.array([10, 20, 30, 40])}, {"moldiff": rmsd["moldiff"]})
    assert len(fig.get_axes()[0].collections) == 1
    _png(fig, tmp_path, "scatter")


def test_property_histograms_mark_the_reference(tmp_path):
    values = {"qed": np.array([0.2, 0.4, 0.5, 0.7]), "vina": np.array([-6.0, -5.0, np.nan, -7.5]),
              "sa": np.array([np.nan, np.nan])}  # nothing finite: no panel
    fig = plots.property_histograms(values, {"qed": 0.6, "vina": -8.1})
    axes = fig.get_axes()
    assert [ax.get_xlabel() for ax in axes] == ["QED", "Vina score (kcal/mol)"]
    assert axes[1].get_lines()[0].get_xdata()[0] == -8.1
    labels = [t.get_text() for t in axes[1].get_legend().get_texts()]
    assert sorted(labels) == ["designed (n=3, mean -6.17)", "reference -8.10"]
    assert sum(p.get_height() for p in axes[0].patches) == 4
    _png(fig, tmp_path, "properties")


def test_3d_views_build(mols, shared_data):
    grid = view3d.molecule_grid(mols, cols=3)
    html = grid._make_html()
    assert html.count("addModel") >= len(mols)
    traj = view3d.trajectory([mols[0], mols[0]])
    assert "addModelsAsFrames" in traj._make_html()
    protein = shared_data / "smoke" / "dd_1a0q" / "protein.pdb"
    ligand = Chem.MolFromMolFile(str(shared_data / "smoke" / "dd_1a0q" / "ligand.sdf"))
    view = view3d.complex_view(protein, ligand, crystal=ligand)
    assert view._make_html().count("addModel") == 3
