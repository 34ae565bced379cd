"""moldiff report: one self-contained HTML page per run, rendered in headless Chromium."""
from __future__ import annotations

import re

import pytest
from helpers import render_in_chromium

from moldiff.cli import main


def _check_renders(page, tmp_path, views: int):
    text = page.read_text()
    assert "<script src" not in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    dom, console = render_in_chromium(page, tmp_path)
    assert console == [], console  # no script error, nothing logged
    drawn = re.search(r'data-views-drawn="(\d+)"', dom)
    assert drawn and int(drawn.group(1)) == views == text.count('class="mol3d"')


def test_report_of_sampled_molecules(tmp_path, capsys):
    samples = tmp_path / "samples.sdf"
    assert main(["sample", "-n", "6", "--steps", "10", "-o", str(samples), "-q"]) == 0
    assert main(["report", str(samples), "-q"]) == 0
    page = tmp_path / "samples.html"
    assert f"wrote {page}" in capsys.readouterr().out
    text = page.read_text()
    assert "<h2>Metrics</h2>" in text and "mol_stability" in text and "atoms per molecule" in text
    _check_renders(page, tmp_path, views=6)


def test_report_of_designs_in_the_example_pocket(tmp_path):
    from moldiff.examples import example_files

    pytest.importorskip("vina")
    ligand = example_files()["ligand"]  # the crystal ligand stands in for designs: a known molecule
    page = tmp_path / "designs.html"
    assert main(["report", str(ligand), "--example", "--posebusters", "off", "-o", str(page), "-q"]) == 0
    text = page.read_text()
    assert "Best and worst by vina" in text and "reference" in text
    _check_renders(page, tmp_path, views=1)


def test_report_refuses_what_it_cannot_show(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "-q"]) == 2
    assert "not a docking experiment folder" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.sdf"), "-q"]) == 2
    assert not (tmp_path / "missing.html").exists()


def test_report_needs_no_matplotlib(tmp_path):
    """The quick start installs no plotting extra: the report draws its own SVG plots."""
    import os
    import subprocess
    import sys

    blocker = tmp_path / "block" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'matplotlib'\", name='matplotlib')\n")
    samples = tmp_path / "s.sdf"
    assert main(["sample", "-n", "3", "--steps", "5", "-o", str(samples), "-q"]) == 0
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "block")}
    proc = subprocess.run([sys.executable, "-m", "moldiff", "report", str(samples), "-q"], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "s.html").read_text().count("<svg") >= 1
