"""Per-item time bounds (moldiff.timebound) and their use in pocket evaluation."""
from __future__ import annotations

import json
import time

import pytest

from moldiff.timebound import TIMED_OUT, map_bounded


def _nap(seconds):
    time.sleep(seconds)
    return seconds


def _fail(x):
    raise ValueError(f"bad item {x}")


def test_an_item_over_the_bound_is_recorded_and_the_rest_go_on():
    start = time.perf_counter()
    ticks = []
    out = map_bounded(_nap, [0.0, 30.0, 0.01, 0.0], seconds=1.0, progress=lambda: ticks.append(1))
    assert out == [0.0, TIMED_OUT, 0.01, 0.0] and len(ticks) == 4
    assert time.perf_counter() - start < 10  # the 30 s item was killed after about 1 s
    assert not TIMED_OUT and repr(TIMED_OUT) == "TIMED_OUT"


def test_without_a_bound_items_run_here_and_errors_name_the_item():
    assert map_bounded(_nap, [0.0, 0.0], seconds=None) == [0.0, 0.0]
    with pytest.raises(RuntimeError, match="bad item 2"):
        map_bounded(_fail, [2], seconds=5.0)
    with pytest.raises(ValueError, match="bad item 3"):
        map_bounded(_fail, [3], seconds=None)


def test_evaluate_in_a_pocket_records_timeouts_and_can_skip_posebusters(shared_data, tmp_path, capsys):
    pytest.importorskip("posebusters")
    from moldiff.cli import main

    protein = shared_data / "smoke" / "dd_1a0q" / "protein.pdb"
    ligand = shared_data / "smoke" / "dd_1a0q" / "ligand.sdf"
    report = tmp_path / "eval.json"
    assert main(["evaluate", str(ligand), "--protein", str(protein), "--ligand", str(ligand), "--no-vina", "-q",
                 "--time-limit", "0.001", "--json", str(report)]) == 0
    assert "timed out in the PoseBusters checks" in capsys.readouterr().out
    data = json.loads(report.read_text())
    assert data["posebusters_timed_out"] == 1 and data["posebusters_mol_valid"] == 0.0
    assert data["per_molecule"][0]["posebusters_timed_out"] is True
    assert main(["evaluate", str(ligand), "--protein", str(protein), "--ligand", str(ligand), "--no-vina", "-q",
                 "--posebusters", "fast", "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["posebusters_timed_out"] == 0 and data["posebusters_mol_valid"] == 1.0
    assert main(["evaluate", str(ligand), "--protein", str(protein), "--ligand", str(ligand), "--no-vina", "-q",
                 "--posebusters", "off", "--json", str(report)]) == 0
    assert json.loads(report.read_text())["posebusters_mol_valid"] is None
    assert main(["evaluate", str(ligand), "--protein", str(protein), "--ligand", str(ligand), "--no-vina", "-q",
                 "--time-limit", "-1"]) == 2


def test_evaluate_scores_ligands_read_from_a_file_with_vina(tmp_path, capsys):
    """An SDF is read unsanitised; Vina's ligand preparation needs ring information, and every
    design read from a file used to get no Vina score (NaN) while the reference had one."""
    pytest.importorskip("vina")
    from moldiff.cli import main
    from moldiff.examples import example_files

    report = tmp_path / "eval.json"
    assert main(["evaluate", str(example_files()["ligand"]), "--example", "--posebusters", "off", "-q",
                 "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["vina"] is not None and data["vina"] < -5 and abs(data["vina"] - data["reference_vina"]) < 0.5
    assert data["vina_timed_out"] == 0


def test_vina_docking_is_time_bounded(tmp_path):
    pytest.importorskip("vina")
    from moldiff.docking.dock import vina_dock
    from moldiff.errors import InputError
    from moldiff.examples import example_files

    files = example_files()
    with pytest.raises(InputError, match="timed out"):
        vina_dock(files["protein"], files["ligand"], reference=files["ligand"], k=2, conformers=2, seconds=0.01)
