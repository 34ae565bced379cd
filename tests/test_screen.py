"""Virtual screening (moldiff.docking.screen) and charge states for a pH (moldiff.chem.protonation)."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rdkit import Chem

from helpers import embed, run_cli
from moldiff.chem.protonation import protonate
from moldiff.errors import InputError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("given, expected", [
    ("CC(=O)Nc1ccc(O)cc1", "CC(=O)Nc1ccc(O)cc1"),          # phenol (pKa ~10) and amide stay neutral
    ("NCC(=O)O", "[NH3+]CC(=O)[O-]"),                       # glycine: zwitterion
    ("CCN(CC)CC", "CC[NH+](CC)CC"),                         # tertiary amine
    ("C1CNCCN1", "C1C[NH2+]CCN1"),                          # piperazine: one of the two
    ("Nc1ccccc1", "Nc1ccccc1"),                             # aniline
    ("c1ccncc1", "c1ccncc1"),                               # pyridine
    ("c1c[nH]cn1", "c1c[nH]cn1"),                           # imidazole (pKa ~7)
    ("NC(=N)c1ccccc1", "NC(=[NH2+])c1ccccc1"),              # benzamidine
    ("CNC(=N)NC#N", "CNC(=N)NC#N"),                         # cyanoguanidine is not basic
    ("NS(=O)(=O)c1ccccc1", "NS(=O)(=O)c1ccccc1"),           # sulfonamide
    ("c1ccccc1-c1nn[nH]n1", "c1ccc(-c2nn[n-]n2)cc1"),       # tetrazole
    ("C[N+](C)(C)C", "C[N+](C)(C)C"),                       # already charged
])
def test_protonation_gives_the_textbook_state_at_ph_7_4(given, expected):
    out = protonate(Chem.MolFromSmiles(given), 7.4)
    assert Chem.MolToSmiles(out) == Chem.MolToSmiles(Chem.MolFromSmiles(expected))


def test_protonation_follows_the_ph():
    acid = Chem.MolFromSmiles("CC(=O)O")
    assert Chem.MolToSmiles(protonate(acid, 2.0)) == "CC(=O)O"
    amine = Chem.MolFromSmiles("CCN")
    assert Chem.MolToSmiles(protonate(amine, 12.0)) == "CCN"


# --- libraries ----------------------------------------------------------------------------------
def _write_sdf(path, named):
    writer = Chem.SDWriter(str(path))
    for name, smiles in named:
        mol = embed(smiles)
        if name is not None:
            mol.SetProp("_Name", name)
        writer.write(mol)
    writer.close()


def test_every_library_format_reads_with_ids_and_unreadable_entries(tmp_path):
    from moldiff.docking.screen import read_library

    smi = tmp_path / "lib.smi"
    smi.write_text("SMILES id\n# comment\nCCO ethanol\n\nc1ccccc1O\nnot_a_smiles bad\n")
    entries = read_library(smi)
    assert [e.id for e in entries] == ["ethanol", "lib_5", "bad"]
    assert entries[1].smiles == "Oc1ccccc1" and entries[2].mol is None and "line 6" in entries[2].error

    table = tmp_path / "lib.csv"
    table.write_text("Name,SMILES,mw\nA-1,CCN,45\nA/2,CCC(=O)O,74\n")
    entries = read_library(table, id_column="name")
    assert [(e.id, e.smiles) for e in entries] == [("A-1", "CCN"), ("A/2", "CCC(=O)O")]
    with pytest.raises(InputError, match="lib.csv: no 'smi' column"):
        read_library(table, smiles_column="smi")

    sdf = tmp_path / "lib.sdf"
    _write_sdf(sdf, [("aspirin", "CC(=O)Oc1ccccc1C(=O)O"), (None, "CCO")])
    assert [e.id for e in read_library(sdf)] == ["aspirin", "lib_2"]

    folder = tmp_path / "folder"
    folder.mkdir()
    _write_sdf(folder / "first.sdf", [(None, "CCO")])
    _write_sdf(folder / "second.sdf", [("named", "CCN")])
    assert [e.id for e in read_library(folder)] == ["first", "named"]


def test_duplicate_ids_and_bad_libraries_are_refused_before_any_work(tmp_path):
    from moldiff.docking.screen import file_id, read_library

    dup = tmp_path / "dup.smi"
    dup.write_text("CCO x\nCCN y\nCCC x\n")
    with pytest.raises(InputError, match=r"dup.smi line 1 \('x'\) and .*line 3 \('x'\) have the same id"):
        read_library(dup)
    clash = tmp_path / "clash.smi"
    clash.write_text("CCO a/b\nCCN a_b\n")
    with pytest.raises(InputError, match="share the file name 'a_b'"):
        read_library(clash)
    assert file_id("../etc/passwd") == "_etc_passwd"
    empty = tmp_path / "empty.smi"
    empty.write_text("# nothing\n")
    with pytest.raises(InputError, match="empty.smi: the library holds no ligands"):
        read_library(empty)
    (tmp_path / "lib.xyz").write_text("3\n\nC 0 0 0\n")
    with pytest.raises(InputError, match="lib.xyz: unknown library format"):
        read_library(tmp_path / "lib.xyz")


# --- screens ------------------------------------------------------------------------------------
CHEAP = ["--steps", "4", "-k", "2", "--conformers", "2", "--search-steps", "6", "--no-posebusters"]


def _library(path, n_extra=0):
    lines = ["CC(=O)Nc1ccc(O)cc1 paracetamol", "OC(=O)c1ccccc1O.[Na+] salicylate", "C[Si](C)(C)C silane",
             "xyz broken", "CCN(CC)CCNC(=O)c1ccc(N)cc1 procainamide"]
    extra = ["CCO", "CCCO", "CCCCO", "CC(C)O", "OCCO", "CCOC", "CC(=O)C", "CCCN", "c1ccccc1", "Cc1ccccc1"]
    lines += [f"{s} extra{k}" for k, s in enumerate(extra[:n_extra])]
    path.write_text("\n".join(lines) + "\n")
    return path


def _rows(folder):
    with open(folder / "moldiff" / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_screen_ranks_records_failures_and_resumes(local_complex, tmp_path):
    """A library through ``moldiff dock --library``: one pose file per docked ligand named by
    its id, a ranked table with failures recorded, protonated SMILES, a rerun that docks
    nothing, a changed SMILES under the same id docked again, and other settings refused."""
    protein, ligand = local_complex
    lib = _library(tmp_path / "lib.smi")
    out = tmp_path / "screen"
    args = ["dock", "--protein", protein, "--library", lib, "--reference", ligand, "-o", out, "--workers", "1", *CHEAP]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert "3 of 5 ligands docked, 2 failed" in proc.stdout
    rows = _rows(out)
    assert [r["id"] for r in rows[:3]] and {r["id"] for r in rows[:3]} == {"paracetamol", "salicylate", "procainamide"}
    scores = [float(r["score"]) for r in rows[:3]]
    assert scores == sorted(scores) and [r["rank"] for r in rows] == ["1", "2", "3", "", ""]
    by_id = {r["id"]: r for r in rows}
    assert by_id["salicylate"]["smiles_docked"] == "O=C([O-])c1ccccc1O"        # salt stripped, acid ionised
    assert by_id["procainamide"]["smiles_docked"] == "CC[NH+](CC)CCNC(=O)c1ccc(N)cc1"
    assert "Si not supported" in by_id["silane"]["error"] and by_id["broken"]["status"] == "error"
    poses = sorted(p.name for p in (out / "moldiff" / "poses").iterdir())
    assert poses == ["paracetamol.sdf", "procainamide.sdf", "salicylate.sdf"]
    first = next(Chem.SDMolSupplier(str(out / "moldiff" / "poses" / "salicylate.sdf"), removeHs=False))
    assert first.GetProp("id") == "salicylate" and first.GetNumConformers() == 1
    assert Chem.MolToSmiles(Chem.RemoveHs(first)) == "O=C([O-])c1ccccc1O"

    records = {p.name: p.stat().st_mtime_ns for p in (out / "moldiff" / "records").iterdir()}
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in (out / "moldiff" / "records").iterdir()} == records
    assert json.loads((out / "moldiff" / "summary.json").read_text())["n_docked_this_run"] == 0

    lib.write_text(lib.read_text().replace("CC(=O)Nc1ccc(O)cc1 paracetamol", "CC(=O)Nc1ccc(OC)cc1 paracetamol"))
    changed = run_cli(*args)
    assert changed.returncode == 0 and json.loads((out / "moldiff" / "summary.json").read_text())["n_docked_this_run"] == 1
    assert {r["id"]: r for r in _rows(out)}["paracetamol"]["smiles"] == "COc1ccc(NC(C)=O)cc1"

    other = run_cli(*[a if a != "4" else "5" for a in args])
    assert other.returncode != 0 and "holds results of other settings (steps: 4 -> 5)" in other.stderr
    assert "Traceback" not in other.stderr


def test_the_example_screen_config_names_files_that_exist():
    from moldiff.config import DockConfig, load_config
    from moldiff.docking.screen import read_library

    cfg = load_config(REPO / "configs" / "docking" / "screen_example.yaml", DockConfig)
    assert (REPO / cfg.screen.receptor).is_file() and (REPO / cfg.screen.reference).is_file()
    entries = read_library(REPO / cfg.screen.library)
    assert len(entries) == 5 and all(e.mol is not None for e in entries)


def test_screen_config_checks_the_site_and_library_before_any_work(local_complex, tmp_path):
    from moldiff.config import DockConfig, load_config

    protein, ligand = local_complex
    cfg = tmp_path / "screen.yaml"
    cfg.write_text(f"screen:\n  receptor: {protein}\n  library: {tmp_path / 'missing.smi'}\n  reference: {ligand}\n"
                   f"output:\n  dir: {tmp_path / 'out'}\n")
    proc = run_cli("dock", cfg)
    assert proc.returncode != 0 and "missing.smi: no such ligand library" in proc.stderr
    assert not (tmp_path / "out").exists()
    cfg.write_text(f"screen:\n  receptor: {protein}\n  library: x.smi\n  center: [0, 0, 0]\n  reference: {ligand}\n")
    with pytest.raises(InputError, match="exactly one of reference, center, box"):
        load_config(cfg, DockConfig)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_screen_killed_mid_run_resumes_without_lost_or_duplicated_rows(local_complex, tmp_path):
    """kill -9 of a two-worker screen once a few ligands have records; the rerun docks the rest:
    every ligand exactly once in the table, the finished ones not docked again."""
    protein, ligand = local_complex
    lib = _library(tmp_path / "lib.smi", n_extra=10)
    out = tmp_path / "screen"
    cmd = [sys.executable, "-m", "moldiff", "dock", "-q", "--protein", str(protein), "--library", str(lib),
           "--reference", str(ligand), "-o", str(out), "--workers", "2", *CHEAP]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=log)
    records = out / "moldiff" / "records"
    deadline = time.time() + 240
    while time.time() < deadline and (not records.is_dir() or len(list(records.glob("*.json"))) < 6):
        assert proc.poll() is None, (tmp_path / "first.log").read_text()
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    log.close()
    time.sleep(3)  # orphaned workers notice and stop
    before = {p.name: p.stat().st_mtime_ns for p in records.glob("*.json")}
    assert 6 <= len(before) < 15
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = _rows(out)
    assert sorted(r["id"] for r in rows) == sorted([*(f"extra{k}" for k in range(10)), "paracetamol", "salicylate",
                                                    "silane", "broken", "procainamide"])
    after = {p.name: p.stat().st_mtime_ns for p in records.glob("*.json")}
    assert all(after[name] == t for name, t in before.items())  # finished ligands not redone
    summary = json.loads((out / "moldiff" / "summary.json").read_text())
    assert summary["n_docked_this_run"] == 15 - len(before) and summary["n"] == 15


def test_screen_from_python_with_a_centre_and_two_worker_processes(local_complex, tmp_path):
    """The API on the Vina method (every ligand docked by AutoDock Vina in two spawned workers):
    a ranked DataFrame, one pose file per ligand."""
    from moldiff.docking import screen

    protein, ligand = local_complex
    centre = Chem.MolFromMolFile(str(ligand)).GetConformer().GetPositions().mean(0)
    lib = tmp_path / "lib.csv"
    lib.write_text("id,smiles\nm1,CC(=O)Nc1ccc(O)cc1\nm2,OCc1ccccc1\nm3,CCN\n")
    table = screen(protein, lib, tmp_path / "out", center=centre, method="vina", workers=2, posebusters=False,
                   num_poses=2, conformers=2, vina={"exhaustiveness": 1}, progress=False)
    assert list(table["id"].sort_values()) == ["m1", "m2", "m3"] and list(table["rank"]) == [1, 2, 3]
    assert table["score"].is_monotonic_increasing and (table["status"] == "ok").all()
    assert sorted(p.name for p in (tmp_path / "out" / "vina" / "poses").iterdir()) == ["m1.sdf", "m2.sdf", "m3.sdf"]
    summary = json.loads((tmp_path / "out" / "vina" / "summary.json").read_text())
    assert summary["workers"] == 2 and summary["n_ok"] == 3
