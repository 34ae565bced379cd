"""Property-based tests: random bytes and random mutations of valid SDF, PDB, MOL2, YAML and
SMILES files either read or raise :class:`~moldiff.errors.InputError` -- never another
exception (which the CLI would show as a traceback). Seeded (``derandomize``) for CI;
``MOLDIFF_FUZZ_EXAMPLES`` sets the examples per test (60 by default)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem

from helpers import embed, write_tiny_complex
from moldiff.chem.ligand import read_ligand
from moldiff.chem.sdf import read_sdf
from moldiff.config import DockConfig, TrainConfig, load_config
from moldiff.data.protein import read_protein
from moldiff.errors import InputError
from moldiff.metrics.reference import reference_smiles

REPO = Path(__file__).resolve().parents[1]
#: examples per test; MOLDIFF_FUZZ_EXAMPLES=2000 for a longer hunt than CI's
FUZZ = settings(max_examples=int(os.environ.get("MOLDIFF_FUZZ_EXAMPLES", "60")), deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_BASE: dict[str, bytes] = {}


def _base(kind: str) -> bytes:
    """Valid files to mutate (made once per session, from self-made molecules)."""
    if not _BASE:
        folder = Path(tempfile.mkdtemp(prefix="moldiff-fuzz-"))
        protein, ligand = write_tiny_complex(folder / "c")
        mol = embed("CC(=O)Nc1ccc(O)cc1")
        _BASE["sdf"] = ligand.read_bytes() + Chem.MolToMolBlock(mol).encode() + b"$$$$\n"
        _BASE["pdb"] = protein.read_bytes()
        _BASE["pdb_ligand"] = Chem.MolToPDBBlock(mol).encode()
        _BASE["mol2"] = (REPO / "tests" / "data" / "paracetamol.mol2").read_bytes()
        _BASE["yaml"] = (REPO / "configs" / "test" / "tiny.yaml").read_bytes()
        _BASE["dock_yaml"] = (REPO / "configs" / "docking" / "posebusters_dev.yaml").read_bytes()
        _BASE["smi"] = b"CCO ethanol\nc1ccccc1 benzene\n# a comment\nCC(=O)Nc1ccc(O)cc1\n"
    return _BASE[kind]


@st.composite
def mutated(draw, kind: str) -> bytes:
    """``kind``'s valid file with up to 8 random edits: bytes replaced, deleted or inserted, lines
    dropped, duplicated or swapped, the file cut short."""
    data = bytearray(_base(kind))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["replace", "delete", "insert", "drop_line", "dup_line", "swap_lines", "cut"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if op == "replace":
            data[at:at + 1] = draw(st.binary(min_size=1, max_size=3))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 20))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=12) | st.sampled_from(
                [b"\n", b"$$$$\n", b"nan", b"-", b"999", b"\x00", b"  ", b": ", b"ATOM  ", b"M  END\n"]))
        else:
            lines = bytes(data).split(b"\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if op == "drop_line":
                del lines[i]
            elif op == "dup_line":
                lines.insert(i, lines[i])
            elif op == "swap_lines":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines = lines[:i]
            data = bytearray(b"\n".join(lines))
    return bytes(data)


def _reads_or_input_error(read, data: bytes, suffix: str):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"input{suffix}"
        path.write_bytes(data)
        try:
            read(path)
        except InputError:
            pass


READERS = {
    "sdf": (lambda p: read_sdf(p), ".sdf"),
    "sdf_ligand": (lambda p: read_ligand(p, hydrogens="add"), ".sdf"),
    "pdb": (lambda p: read_protein(p), ".pdb"),
    "pdb_ligand": (lambda p: read_ligand(p), ".pdb"),
    "mol2": (lambda p: read_ligand(p), ".mol2"),
    "yaml": (lambda p: load_config(p, TrainConfig), ".yaml"),
    "dock_yaml": (lambda p: load_config(p, DockConfig), ".yaml"),
    "smi": (lambda p: reference_smiles(p), ".smi"),
}
BASE_KIND = {"sdf_ligand": "sdf"}


@pytest.mark.parametrize("reader", list(READERS))
@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes(reader, data):
    read, suffix = READERS[reader]
    _reads_or_input_error(read, data, suffix)


@pytest.mark.parametrize("reader", list(READERS))
@FUZZ
@given(data=st.data())
def test_mutated_valid_files(reader, data):
    read, suffix = READERS[reader]
    _reads_or_input_error(read, data.draw(mutated(BASE_KIND.get(reader, reader))), suffix)


@pytest.mark.parametrize("reader", list(READERS))
def test_the_unmutated_files_read(reader):
    read, suffix = READERS[reader]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"input{suffix}"
        path.write_bytes(_base(BASE_KIND.get(reader, reader)))
        read(path)  # the mutations start from files that are valid
