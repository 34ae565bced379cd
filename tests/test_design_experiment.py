"""Design experiments from config (moldiff.design_experiment, ``moldiff design CONFIG.yaml``)."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from rdkit import Chem

from helpers import run_cli
from moldiff.errors import InputError

REPO = Path(__file__).resolve().parents[1]
#: tiny settings: two designs of 8 heavy atoms in 4 steps, Vina score only
TINY = ["n=2", "steps=4", "num_atoms=8", "redraw=0", "relax=false", "evaluate.posebusters=off",
        "evaluate.vina_minimise=false", "evaluate.redock=false"]


@pytest.fixture()
def pockets(local_complex, tmp_path) -> Path:
    """A data folder of three complexes: two good ones (the local complex twice) and one whose
    ligand file is broken."""
    protein, ligand = local_complex
    root = tmp_path / "pockets"
    for name in ("A1", "B2", "C3"):
        (root / name).mkdir(parents=True)
        shutil.copy(protein, root / name / "protein.pdb")
        shutil.copy(ligand, root / name / "ligand.sdf")
    (root / "C3" / "ligand.sdf").write_text("not a molecule\n\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n$$$$\n")
    return root


def _config(pockets: Path, out: Path, *extra: str):
    from moldiff.config import DesignConfig, load_config

    return load_config(REPO / "configs" / "design" / "posebusters_dev.yaml", DesignConfig,
                       [f"data.root={pockets}", f"output.dir={out}", *TINY, *extra])


def test_design_experiment_writes_tables_sdfs_and_resumes(pockets, tmp_path):
    from moldiff.design_experiment import run_design_experiment

    out = tmp_path / "run"
    summary = run_design_experiment(_config(pockets, out), progress=False)
    assert summary["pockets"] == {"n": 3, "n_ok": 2, "n_error": 1}
    assert summary["designs"]["n"] == 4 and summary["reference"]["n"] == 2
    assert summary["designs"]["posebusters_valid"] is None  # not run: not measured, not 0 %
    assert summary["designs"]["vina"] < 50 and summary["reference"]["vina"] < -5
    assert summary["per_pocket"]["C3"]["status"] == "error" and "ligand.sdf" in summary["per_pocket"]["C3"]["error"]
    assert summary["per_pocket"]["A1"]["designs"]["n"] == 2
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["designs"]["n"] == 4 and set(on_disk["per_pocket"]) == {"A1", "B2", "C3"}

    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    kinds = [(r["id"], r["kind"]) for r in rows]
    assert kinds.count(("A1", "design")) == 2 and kinds.count(("A1", "reference")) == 1
    assert kinds.count(("C3", "pocket")) == 1
    for row in rows:
        if row["kind"] == "design" and row["valid"] == "True":
            assert float(row["vina"]) < 50 and row["heavy_atoms"] == "8"
    ref = next(r for r in rows if r["kind"] == "reference")
    assert ref["valid"] == "True" and ref["connected"] == "True" and ref["vina"] != ""
    # one SDF per pocket, each design scored in its SD properties
    mols = [m for m in Chem.SDMolSupplier(str(out / "designs" / "A1.sdf"), removeHs=False)]
    assert 1 <= len(mols) <= 2 and all(m.HasProp("moldiff_vina") for m in mols)

    # resumed: finished pockets are not designed again (their records are untouched), a missing
    # record is designed again, and the tables are rewritten over every pocket
    stamp = (out / "designs" / "records" / "A1.json").stat().st_mtime_ns
    (out / "designs" / "records" / "B2.json").unlink()
    again = run_design_experiment(_config(pockets, out), progress=False)
    assert (out / "designs" / "records" / "A1.json").stat().st_mtime_ns == stamp
    assert (out / "designs" / "records" / "B2.json").is_file()
    assert again["designs"]["n"] == 4 and again["per_pocket"]["A1"] == summary["per_pocket"]["A1"]


def test_same_seed_same_designs(pockets, tmp_path):
    from moldiff.design_experiment import run_design_experiment

    smiles = []
    for name in ("x", "y"):
        run_design_experiment(_config(pockets, tmp_path / name, "data.ids=[A1]"), progress=False)
        with open(tmp_path / name / "results.csv", newline="") as fh:
            smiles.append([(r["smiles"], r["vina"]) for r in csv.DictReader(fh)])
    assert smiles[0] == smiles[1] and len(smiles[0]) == 3


@pytest.mark.parametrize("override, message", [
    ("data.ids=[A1,ZZ9]", "no complex with id ZZ9"),
    ("model=qm9", "not a pocket model"),
    ("evaluate.posebusters=maybe", "evaluate.posebusters"),
    ("n=0", "n: 0 is below the minimum 1"),
])
def test_bad_settings_are_refused_before_the_folder_is_made(pockets, tmp_path, override, message):
    from moldiff.design_experiment import run_design_experiment

    out = tmp_path / "never"
    with pytest.raises(InputError, match=message):
        run_design_experiment(_config(pockets, out, override), progress=False)
    assert not out.exists()


def test_a_folder_of_other_settings_is_refused(pockets, tmp_path):
    from moldiff.design_experiment import run_design_experiment

    out = tmp_path / "run"
    run_design_experiment(_config(pockets, out, "data.ids=[A1]"), progress=False)
    before = sorted(p.name for p in out.rglob("*"))
    with pytest.raises(InputError, match="other settings"):
        run_design_experiment(_config(pockets, out, "data.ids=[A1]", "n=3"), progress=False)
    assert sorted(p.name for p in out.rglob("*")) == before


def test_design_cli_runs_a_config_and_refuses_flags_beside_it(pockets, tmp_path):
    config = REPO / "configs" / "design" / "posebusters_dev.yaml"
    out = tmp_path / "cli"
    done = run_cli("design", str(config), f"data.root={pockets}", "data.ids=[A1]", f"output.dir={out}", *TINY, "-q")
    assert done.returncode == 0, done.stderr
    assert "reference ligands" in done.stdout and "results.csv" in done.stdout
    assert (out / "results.csv").is_file() and (out / "config.yaml").is_file()

    done = run_cli("design", str(config), "-n", "3", f"output.dir={tmp_path / 'no'}", "-q")
    assert done.returncode == 2 and "leave out -n" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "no").exists()
    done = run_cli("design", str(tmp_path / "missing.yaml"), "-q")
    assert done.returncode == 2 and "missing.yaml" in done.stderr and "Traceback" not in done.stderr
