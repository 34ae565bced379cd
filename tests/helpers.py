"""Small molecule builders for tests (real RDKit geometries, seeded)."""
from __future__ import annotations

from rdkit import Chem
from rdkit.Chem import AllChem

from moldiff.chem.molecule import Mol3D, from_rdkit


def embed(smiles: str, seed: int = 0) -> Chem.Mol:
    """SMILES -> RDKit molecule with explicit hydrogens and an MMFF-relaxed conformer."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    assert AllChem.EmbedMolecule(mol, params) == 0, smiles
    AllChem.MMFFOptimizeMolecule(mol)
    return mol


def mol3d(smiles: str, seed: int = 0, *, with_bonds: bool = False) -> Mol3D:
    return from_rdkit(embed(smiles, seed), with_bonds=with_bonds)


#: a 14-residue peptide: a small, self-made "protein" for pocket, design and docking tests
PEPTIDE = "GSWKDYLEFAHKRG"


def write_tiny_complex(folder, ligand_smiles: str = "Oc1ccccc1", seed: int = 7):
    """Write ``folder/protein.pdb`` (a seeded 3D peptide, heavy atoms) and ``folder/ligand.sdf``
    (``ligand_smiles`` with hydrogens, centred on the peptide) and return both paths: a complex
    in the plain layout of :func:`moldiff.data.complexes.find_complexes`, made here, not copied."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    peptide = Chem.AddHs(Chem.MolFromSequence(PEPTIDE))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    params.useRandomCoords = True
    assert AllChem.EmbedMolecule(peptide, params) == 0
    peptide = Chem.RemoveHs(peptide)
    protein = folder / "protein.pdb"
    protein.write_text(Chem.MolToPDBBlock(peptide))
    ligand = embed(ligand_smiles, seed)
    centre = peptide.GetConformer().GetPositions().mean(0)
    conf = ligand.GetConformer()
    shift = centre - conf.GetPositions().mean(0)
    for k in range(ligand.GetNumAtoms()):
        p = conf.GetAtomPosition(k)
        conf.SetAtomPosition(k, (p.x + shift[0], p.y + shift[1], p.z + shift[2]))
    path = folder / "ligand.sdf"
    writer = Chem.SDWriter(str(path))
    writer.write(ligand)
    writer.close()
    return protein, path


def render_in_chromium(page, tmp_path) -> tuple[str, list[str]]:
    """Open ``page`` (an HTML file) in headless Chromium; returns (the DOM after its scripts ran,
    the console messages). Skips where Chromium is missing, except under ``CI=true`` (.ci/run
    installs Debian's chromium), where that is a failure."""
    import os
    import shutil
    import subprocess

    import pytest

    exe = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if exe is None:
        msg = "headless Chromium not found (Debian: apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " -- required under CI=true")
        pytest.skip(msg)
    proc = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
                           "--virtual-time-budget=5000", "--dump-dom", page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


def run_cli(*args, cwd=None):
    """``moldiff ARGS`` run in this process through :func:`moldiff.cli.main` (what the console
    script calls), stdout and stderr captured: a :class:`subprocess.CompletedProcess`. Python
    warnings are ignored, as ``PYTHONWARNINGS=ignore`` did for the subprocess this replaces."""
    import contextlib
    import io
    import os
    import subprocess
    import warnings

    from moldiff.cli import main

    out, err = io.StringIO(), io.StringIO()
    before = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            code = main([str(a) for a in args])
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(["moldiff", *map(str, args)], code, out.getvalue(), err.getvalue())
