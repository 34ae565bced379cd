"""``moldiff`` end to end, as a user runs it: in process through ``moldiff.cli.main`` (what the
console script calls), and once as ``python -m moldiff`` in a subprocess."""
import json
import os
import subprocess
import sys

import pytest

from moldiff.chem import write_sdf

from helpers import embed, run_cli

KEYS = ("n", "atom_stability", "mol_stability", "validity", "connectivity", "uniqueness", "novelty")


def run(*args, cwd=None):
    return run_cli(*args, cwd=cwd)


def test_python_dash_m_moldiff_runs_in_a_subprocess():
    """The real entry point: a fresh interpreter, exit status and streams as a shell sees them."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    ok = subprocess.run([sys.executable, "-m", "moldiff", "--version"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and ok.stdout.startswith("moldiff ")
    bad = subprocess.run([sys.executable, "-m", "moldiff", "sample", "-n", "0", "-o", "x.sdf"], capture_output=True,
                         text=True, env=env)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("moldiff: error:") and "Traceback" not in bad.stderr


def assert_user_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("moldiff: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def qm9_sdf(tmp_path_factory):
    path = tmp_path_factory.mktemp("qm9") / "qm9_test.sdf"
    proc = run("qm9", "export", "--split", "test", "--limit", "200", "-o", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "wrote 200 QM9 test molecules" in proc.stdout
    return path


def test_evaluate_end_to_end(qm9_sdf, tmp_path):
    out = tmp_path / "metrics.json"
    plots = tmp_path / "plots"
    proc = run("evaluate", str(qm9_sdf), "--reference", "qm9", "--json", str(out), "--plots", str(plots), "-q")
    assert proc.returncode == 0, proc.stderr
    assert "mol_stability" in proc.stdout and "QM9 data (published)" in proc.stdout
    assert f"wrote 6 figures to {plots}" in proc.stdout
    names = {"metrics", "atom_counts", "elements", "bond_lengths", "bond_angles", "torsions"}
    assert {p.stem for p in plots.glob("*.png")} == names
    metrics = json.loads(out.read_text())
    assert metrics["n"] == 200
    for key in KEYS[1:]:
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["mol_stability"] > 0.9 and metrics["validity"] > 0.9 and metrics["novelty"] > 0.95
    assert metrics["bonds"] == "table" and metrics["malformed_records"] == []


def test_evaluate_plots_argument_must_be_a_folder(qm9_sdf, tmp_path):
    proc = run("evaluate", str(qm9_sdf), "--plots", str(qm9_sdf))
    assert_user_error(proc, "--plots must name a folder")


def test_evaluate_with_file_bonds_and_config(qm9_sdf, tmp_path):
    cfg = tmp_path / "ev.yaml"
    cfg.write_text("bonds: file\ndruglike: true\n")
    out = tmp_path / "m.json"
    proc = run("evaluate", str(qm9_sdf), "--config", str(cfg), "--json", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(out.read_text())
    assert metrics["bonds"] == "file" and metrics["novelty"] is None and "qed" in metrics
    cfg.write_text("bond: file\n")
    assert_user_error(run("evaluate", str(qm9_sdf), "--config", str(cfg)), "ev.yaml", "unknown key(s) bond")


def test_malformed_record_in_large_file_is_counted_not_fatal(qm9_sdf, tmp_path):
    records = qm9_sdf.read_text().split("$$$$\n")
    records[5] = "garbage\nrecord\n"
    mixed = tmp_path / "mixed.sdf"
    mixed.write_text("$$$$\n".join(records))
    out = tmp_path / "m.json"
    proc = run("evaluate", str(mixed), "--json", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(out.read_text())
    assert metrics["n"] == 200 and metrics["n_malformed"] == 1
    assert metrics["malformed_records"][0]["record"] == 6
    assert "1 malformed record(s)" in proc.stdout
    assert_user_error(run("evaluate", str(mixed), "--strict"), "mixed.sdf", "record 6")


def test_bad_inputs_give_one_line_errors(tmp_path):
    assert_user_error(run("evaluate", str(tmp_path / "missing.sdf")), "missing.sdf", "no such file")
    empty = tmp_path / "empty.sdf"
    empty.write_text("")
    assert_user_error(run("evaluate", str(empty)), "empty.sdf", "empty file")
    bad = tmp_path / "bad.sdf"
    bad.write_text("x\n\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n")
    assert_user_error(run("evaluate", str(bad)), "bad.sdf", "record 1")
    uranium = tmp_path / "u.sdf"
    write_sdf([embed("CO")], uranium)
    uranium.write_text(uranium.read_text().replace(" O ", " U "))
    assert_user_error(run("evaluate", str(uranium)), "u.sdf", "record 1", "unsupported element(s) U")


def test_unwritable_outputs_leave_nothing(qm9_sdf, tmp_path):
    target = tmp_path / "no_such_dir" / "m.json"
    assert_user_error(run("evaluate", str(qm9_sdf), "--json", str(target)), "does not exist")
    assert not target.parent.exists()
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):  # root ignores permission bits
            pytest.skip("running as a user who can write anywhere")
        assert_user_error(run("evaluate", str(qm9_sdf), "--json", str(ro / "m.json")), "not writable")
    finally:
        ro.chmod(0o755)


def test_export_bad_arguments(tmp_path):
    assert_user_error(run("qm9", "export", "--limit", "0", "-o", str(tmp_path / "x.sdf")), "--limit")
    proc = run("evaluate")  # usage errors are one line too, pointing to --help
    assert proc.returncode == 2 and "required: file" in proc.stderr and "moldiff evaluate --help" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_qm9_info_json():
    proc = run("qm9", "info", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["num_molecules"] == 100_000 and info["split_sizes"]["test"] == 13_083
    assert set(info["atom_type_marginals"]) == {"H", "C", "N", "O", "F"}


def test_version():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("moldiff ")
