"""Hostile and odd inputs through every command, in-process (``moldiff.cli.main``).

Each case must end with exit status 2 (a user mistake), one line on stderr naming the
problem (RDKit's and Lightning's own output included: ``capfd`` sees the file descriptor),
no traceback, and nothing written where the output would have gone.
"""
from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from moldiff.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "test" / "tiny.yaml"
DOCK = REPO / "configs" / "docking" / "posebusters_dev.yaml"
QM9_MODEL = REPO / "moldiff" / "pretrained" / "qm9_egnn.pt"
BIG = str(2**63)


class _RunsCode:
    """Unpickling this runs ``touch MARKER``: a file that loads it has executed code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_complex):
    """Bad and good input files, written once for the table below."""
    d = tmp_path_factory.mktemp("bad")
    protein, ligand = tiny_complex
    f = {"protein": protein, "ligand": ligand, "dir": d}
    (d / "binary.yaml").write_bytes(b"\xff\xfe\x00\x81trainer:\n  max_epochs: 1\n")
    (d / "empty.yaml").write_text("# nothing but a comment\n")
    (d / "a_file").write_text("I am a file, not a folder\n")
    marker = d / "PWNED"
    f["marker"] = marker
    torch.save({"moldiff": {"format": "moldiff.diffusion"}, "state_dict": {}, "x": _RunsCode(marker)},
               d / "crafted.pt")
    with open(d / "crafted_raw.pt", "wb") as fh:  # a bare pickle (protocol 2), not a torch zip file
        pickle.dump({"x": _RunsCode(marker)}, fh, protocol=2)
    (d / "truncated.pt").write_bytes(QM9_MODEL.read_bytes()[:4000])
    (d / "bad.smi").write_text("CCO\nC1CC(\n")
    # a ligand as HETATM records only: no protein residue
    lines = [line for line in ligand.read_text().splitlines()]
    from rdkit import Chem

    mol = Chem.MolFromMolFile(str(ligand), removeHs=False)
    (d / "hetatm_only.pdb").write_text(Chem.MolToPDBBlock(mol))
    # residue 3 renumbered as 2: two residues with one id (Biopython would drop atoms)
    rows = protein.read_text().splitlines()
    dup = [r[:22] + "   2" + r[26:] if r.startswith(("ATOM", "HETATM")) and r[22:26].strip() == "3" else r
           for r in rows]
    (d / "duplicate.pdb").write_text("\n".join(dup) + "\n")
    # an SDF with an element evaluate does not know (U)
    block = Chem.MolToMolBlock(mol)
    (d / "uranium.sdf").write_text(block.replace(" C   0", " U   0", 1) + "$$$$\n")
    assert len(lines) > 3
    return f


def _run(argv, capfd):
    code = main([str(a) for a in argv])
    out, err = capfd.readouterr()
    return code, out, err


def _assert_clean_error(code, err, fragment, expected_code=2):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == expected_code, err
    assert "Traceback" not in err
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert fragment in lines[0], lines[0]


# (name, argv builder, fragment of the message, output that must not appear)
CASES = [
    # configs
    ("train: binary YAML", lambda f, o: ["train", f["dir"] / "binary.yaml"], "not a text (UTF-8) file", None),
    ("train: empty YAML", lambda f, o: ["train", f["dir"] / "empty.yaml"], "empty config", None),
    ("train: lr nan", lambda f, o: ["train", TINY, f"trainer.output_dir={o}", "optim.lr=nan"],
     "optim.lr: expected a finite number", "dir"),
    ("train: lr inf", lambda f, o: ["train", TINY, f"trainer.output_dir={o}", "optim.lr=.inf"],
     "optim.lr: expected a finite number", "dir"),
    ("train: seed 2^63", lambda f, o: ["train", TINY, f"trainer.output_dir={o}", f"trainer.seed={BIG}"],
     "trainer.seed", "dir"),
    ("train: output_dir is a file", lambda f, o: ["train", TINY, f"trainer.output_dir={f['dir'] / 'a_file'}"],
     "is an existing file", None),
    ("train: option between config and overrides", lambda f, o: ["train", TINY, "-q", "bogus.key=1"],
     "unknown key(s) bogus", None),
    ("evaluate: binary config", lambda f, o: ["evaluate", f["ligand"], "--config", f["dir"] / "binary.yaml"],
     "not a text (UTF-8) file", None),
    ("dock: binary config", lambda f, o: ["dock", f["dir"] / "binary.yaml"], "not a text (UTF-8) file", None),
    ("dock: seed 2^63", lambda f, o: ["dock", DOCK, f"output.dir={o}", f"data.root={f['protein'].parent.parent}",
                                      f"seed={BIG}"], "seed", "dir"),
    ("dock: a QM9 model", lambda f, o: ["dock", DOCK, "-q", f"output.dir={o}",
                                        f"data.root={f['protein'].parent.parent}", "model=qm9", "baseline=none"],
     "not a pocket model", "dir"),
    ("dock: output.dir is a file", lambda f, o: ["dock", DOCK, f"output.dir={f['dir'] / 'a_file'}",
                                                 f"data.root={f['protein'].parent.parent}"], "is an existing file", None),
    # seeds and numbers on the command line
    ("sample: seed 2^63", lambda f, o: ["sample", "-n", "1", "-o", o, "--seed", BIG], "--seed", "file"),
    ("sample: seed -1", lambda f, o: ["sample", "-n", "1", "-o", o, "--seed", "-1"], "--seed", "file"),
    ("sample: noise nan", lambda f, o: ["sample", "-n", "1", "-o", o, "--noise-scale", "nan"], "finite", "file"),
    ("sample: 151 atoms", lambda f, o: ["sample", "-n", "1", "-o", o, "--num-atoms", "151"],
     "--num-atoms: 151 is above the maximum 150", "file"),
    ("design: seed 2^63", lambda f, o: ["design", "--protein", f["protein"], "--ligand", f["ligand"], "-o", o,
                                        "--seed", BIG], "--seed", "file"),
    ("design: radius inf", lambda f, o: ["design", "--protein", f["protein"], "--ligand", f["ligand"], "-o", o,
                                         "--radius", "inf"], "finite", "file"),
    ("dock one: seed 2^63", lambda f, o: ["dock", "--protein", f["protein"], "--ligand", f["ligand"],
                                          "--reference", f["ligand"], "-o", o, "--seed", BIG], "--seed", "file"),
    # models and checkpoints
    ("sample: a pocket model", lambda f, o: ["sample", "--model", "pocket", "-n", "1", "-o", o],
     "a pocket model", "file"),
    ("sample: crafted checkpoint", lambda f, o: ["sample", "--model", f["dir"] / "crafted.pt", "-o", o],
     "refused to load", "file"),
    ("model info: crafted pickle", lambda f, o: ["model", "info", f["dir"] / "crafted_raw.pt"], "refused to load",
     None),
    ("design: crafted model", lambda f, o: ["design", "--protein", f["protein"], "--ligand", f["ligand"], "-o", o,
                                            "--model", f["dir"] / "crafted.pt"], "refused to load", "file"),
    ("sample: truncated checkpoint", lambda f, o: ["sample", "--model", f["dir"] / "truncated.pt", "-o", o],
     "not a readable checkpoint", "file"),
    # outputs that cannot be written (root passes os.access: only trying tells)
    ("sample: output under /proc", lambda f, o: ["sample", "-n", "1", "-o", "/proc/moldiff_test.sdf"],
     "not writable", None),
    ("sample: output is a folder", lambda f, o: ["sample", "-n", "1", "-o", f["dir"]], "is a directory", None),
    # structures
    ("evaluate: element U in a pocket", lambda f, o: ["evaluate", f["dir"] / "uranium.sdf", "--protein", f["protein"],
                                                      "--ligand", f["ligand"], "--json", o], "unsupported element",
     "file"),
    ("evaluate: SMILES reference with a bad line", lambda f, o: ["evaluate", f["ligand"], "--reference",
                                                                 f["dir"] / "bad.smi"], "line 2: unparsable SMILES",
     None),
    ("design: HETATM-only protein", lambda f, o: ["design", "--protein", f["dir"] / "hetatm_only.pdb", "--ligand",
                                                  f["ligand"], "-o", o], "no protein residues", "file"),
    ("design: duplicate residue ids", lambda f, o: ["design", "--protein", f["dir"] / "duplicate.pdb", "--ligand",
                                                    f["ligand"], "-o", o], "duplicate residue", "file"),
    ("design: a protein as the ligand", lambda f, o: ["design", "--protein", f["protein"], "--ligand",
                                                      f["protein"], "-o", o], "looks like a protein", "file"),
    ("dock one: a protein as the ligand", lambda f, o: ["dock", "--protein", f["protein"], "--ligand", f["protein"],
                                                        "--reference", f["ligand"], "-o", o], "looks like a protein",
     "file"),
]


@pytest.mark.parametrize("name, argv, fragment, output", CASES, ids=[c[0] for c in CASES])
def test_bad_input_ends_in_one_clean_line(name, argv, fragment, output, files, tmp_path, capfd):
    out = tmp_path / ("run" if output == "dir" else "out.sdf")
    code, _, err = _run(argv(files, out), capfd)
    _assert_clean_error(code, err, fragment)
    assert not out.exists(), f"{name}: {out} was written"
    assert not files["marker"].exists(), "a crafted file ran code"


def test_resume_from_a_truncated_checkpoint_writes_nothing(tmp_path, capfd):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(QM9_MODEL.read_bytes()[:50_000])
    code, _, err = _run(["train", TINY, "-q", f"trainer.output_dir={run}"], capfd)
    _assert_clean_error(code, err, "cannot resume from it")
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints"]  # no logs/version_N, no config.yaml


def test_resume_into_another_architecture_changes_nothing(tmp_path, capfd):
    run = tmp_path / "run"
    base = ["train", TINY, "-q", f"trainer.output_dir={run}", "trainer.max_steps=2", "trainer.max_epochs=1",
            "sampling.every_n_epochs=0", "trainer.checkpoint_every_n_steps=1"]
    assert _run(base, capfd)[0] == 0
    config = (run / "config.yaml").read_text()
    logs = sorted((run / "logs").iterdir())
    code, _, err = _run([*base, "model.hidden=24"], capfd)
    _assert_clean_error(code, err, "another architecture (model.hidden 16 -> 24)")
    assert (run / "config.yaml").read_text() == config and sorted((run / "logs").iterdir()) == logs


def test_a_docking_rerun_with_other_settings_is_refused(tiny_complex, tmp_path, capfd):
    root = tiny_complex[0].parent.parent
    base = ["dock", DOCK, "-q", f"data.root={root}", f"output.dir={tmp_path / 'run'}", "baseline=none",
            "refine=false", "ranking=fit", "posebusters=false", "num_poses=2", "steps=4", "conformers=2"]
    assert _run(base, capfd)[0] == 0
    config = (tmp_path / "run" / "config.yaml").read_text()
    code, _, err = _run([*base, "steps=5"], capfd)
    _assert_clean_error(code, err, "holds results of other settings (steps: 4 -> 5)")
    assert (tmp_path / "run" / "config.yaml").read_text() == config
    assert _run([*base, "limit=1"], capfd)[0] == 0  # selection keys do not change results


def test_a_damaged_docking_record_is_redone(tiny_complex, tmp_path, capfd, caplog):
    root = tiny_complex[0].parent.parent
    out = tmp_path / "run"
    base = ["dock", DOCK, f"data.root={root}", f"output.dir={out}", "baseline=none", "refine=false",
            "ranking=fit", "posebusters=false", "num_poses=2", "steps=4", "conformers=2"]
    assert _run(base, capfd)[0] == 0
    record = out / "moldiff" / "records" / "tiny.json"
    good = yaml.safe_load(record.read_text())
    record.write_text('{"method": "moldiff", "id": "ti')  # cut off mid-write by another tool
    code, _, err = _run(base, capfd)
    assert code == 0 and "unusable record" in caplog.text
    assert yaml.safe_load(record.read_text())["top1_rmsd"] == pytest.approx(good["top1_rmsd"])
    header, row = (out / "results.csv").read_text().splitlines()[:2]
    assert row.split(",")[header.split(",").index("n_heavy")] == str(good["n_heavy"])  # an int, not 7.0


def test_an_empty_sdf_record_is_malformed_not_a_molecule(files, tmp_path):
    from moldiff.chem.sdf import read_sdf

    block = files["ligand"].read_text()
    empty = "empty\n     RDKit          3D\n\n  0  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n"
    path = tmp_path / "with_empty.sdf"
    path.write_text(block + empty)
    records = read_sdf(path)
    assert len(records) == 2 and records.mols[1] is None and "no atoms" in records.errors[0][1]


def test_loaders_never_run_code_from_a_file(files):
    """Every reader of torch files: the crafted file is refused and the marker never appears."""
    from moldiff.api import load
    from moldiff.errors import InputError
    from moldiff.serialization import UnsafeFileError, load_tensors

    for path in (files["dir"] / "crafted.pt", files["dir"] / "crafted_raw.pt"):
        with pytest.raises(UnsafeFileError):
            load_tensors(path)
        with pytest.raises(InputError, match="refused"):
            load(path)
    assert not files["marker"].exists()


def test_crafted_cache_files_are_rebuilt_not_run(files, tmp_path, monkeypatch, caplog):
    """A crafted file placed where the QM9 cache lives is refused (and rebuilt), never executed."""
    from moldiff.data import qm9

    monkeypatch.setenv("MOLDIFF_CACHE", str(tmp_path))
    path = qm9._cache_path(None)
    shutil.copy(files["dir"] / "crafted.pt", path)
    arrays = qm9.load_qm9()
    assert len(arrays) == qm9.NUM_MOLECULES and "unusable QM9 cache" in caplog.text
    assert not files["marker"].exists()


def test_a_write_that_fails_at_the_end_is_one_line_and_leaves_nothing(tmp_path, capfd, monkeypatch):
    """The disk fills up (or the folder turns read-only) after the work: no traceback, no file."""
    import errno

    import moldiff.paths

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(src))

    monkeypatch.setattr(moldiff.paths.os, "replace", full_disk)
    out = tmp_path / "out.sdf"
    code, _, err = _run(["sample", "-q", "-n", "1", "--steps", "3", "-o", out], capfd)
    _assert_clean_error(code, err, "out.sdf: cannot write (No space left on device)")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


def test_crafted_complex_and_druglike_caches_are_refused(files, tmp_path, caplog):
    from moldiff.data import complexes, druglike

    path = files["dir"] / "crafted.pt"
    assert complexes._read_cache(path, 1) is None and druglike._read_cache(path) is None
    assert caplog.text.count("rebuilding") == 2
    assert not files["marker"].exists()


def test_a_truncated_or_edited_smiles_cache_is_rebuilt_not_used(tmp_path, caplog):
    from moldiff.metrics.reference import _read_smiles_cache, _write_smiles_cache

    path = tmp_path / "smiles.txt"
    _write_smiles_cache(["C", "CC", "CCO"], path)
    assert _read_smiles_cache(path) == {"C", "CC", "CCO"}
    text = path.read_text()
    path.write_text(text[: len(text) - 4])  # cut short: a novelty of 1.0 would follow
    assert _read_smiles_cache(path) is None
    path.write_text(text.replace("CCO", "CCN"))  # same count, other content
    assert _read_smiles_cache(path) is None
    path.write_text("C\nCC\nCCO\n")  # an older cache without a header
    assert _read_smiles_cache(path) is None
    assert caplog.text.count("damaged SMILES cache") == 3


def test_ctrl_c_inside_rdkit_embedding_is_not_swallowed():
    """RDKit's embedding catches SIGINT itself and returns fewer conformers; moldiff raises."""
    import subprocess
    import sys

    code = """
import os, signal, threading, time
from rdkit import Chem
from moldiff.docking.pose import embed_conformers
mol = Chem.AddHs(Chem.MolFromSmiles("CC(C)Cc1ccc(cc1)C(C)C(=O)OC2CCCCC2C3CCCCC3C(=O)NCCCCCCCCCN"))
threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
start = time.perf_counter()
try:
    out = embed_conformers(mol, 2000, seed=1, optimize=False)
    print("finished", out.GetNumConformers(), round(time.perf_counter() - start, 1))
except KeyboardInterrupt:
    print("interrupted", round(time.perf_counter() - start, 1))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.startswith("interrupted"), proc.stdout + proc.stderr[-1000:]
    assert "Interrupted, cancelling" not in proc.stderr  # RDKit's message is replaced by the exception


def test_a_missing_optional_package_is_one_line_naming_the_extra(monkeypatch, tmp_path, capsys):
    """A command that needs an extra the user did not install (here: matplotlib for the plots of
    a report path stubbed to need it) ends with the pip line, not a traceback."""
    import moldiff.viz.html as html

    def needs_matplotlib(*args, **kwargs):  # what importing matplotlib raises where it is missing
        raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")

    monkeypatch.setattr(html, "write_report", needs_matplotlib)
    sdf = tmp_path / "x.sdf"
    sdf.write_text("")
    assert main(["report", str(sdf)]) == 2
    err = capsys.readouterr().err
    assert "'matplotlib'" in err and "pip install 'moldiff[notebooks]'" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
