import pytest

from moldiff.chem import read_sdf, to_rdkit, write_sdf
from moldiff.chem.molecule import infer_bonds
from moldiff.chem.tables import SUPPORTED_ELEMENTS
from moldiff.errors import InputError

from helpers import embed, mol3d

MALFORMED = "broken\n  junk\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\nnot an atom line\nM  END\n$$$$\n"


def _good_sdf(path, n=3):
    write_sdf([embed(s) for s in ["CCO", "C=O", "CC#N"][:n]], path)
    return path.read_text()


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InputError, match=r"nope\.sdf: no such file"):
        read_sdf(tmp_path / "nope.sdf")
    empty = tmp_path / "empty.sdf"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty\.sdf: empty file"):
        read_sdf(empty)
    with pytest.raises(InputError, match="not a file"):
        read_sdf(tmp_path)


def test_single_malformed_record_names_file_and_record(tmp_path):
    bad = tmp_path / "bad.sdf"
    bad.write_text(MALFORMED)
    with pytest.raises(InputError) as err:
        read_sdf(bad)
    msg = str(err.value)
    assert msg.startswith(str(bad)) and "record 1" in msg and "\n" not in msg


def test_malformed_records_in_a_larger_file_are_counted(tmp_path):
    path = tmp_path / "mixed.sdf"
    good = _good_sdf(path)
    path.write_text(good + MALFORMED + good)
    records = read_sdf(path)
    assert len(records) == 7
    assert [k for k, _ in records.errors] == [4]
    assert records.mols[3] is None and all(m is not None for i, m in enumerate(records.mols) if i != 3)
    assert "line" in records.errors[0][1]
    with pytest.raises(InputError, match="record 4"):
        read_sdf(path, strict=True)


def test_unsupported_element_names_the_record(tmp_path):
    path = tmp_path / "xe.sdf"
    good = _good_sdf(path, 2)
    path.write_text(good + _good_sdf(tmp_path / "se.sdf", 1).replace(" O ", " Se"))
    with pytest.raises(InputError, match=r"xe\.sdf: record 3 .*unsupported element\(s\) Se"):
        read_sdf(path, allowed_elements=SUPPORTED_ELEMENTS)
    assert len(read_sdf(path)) == 3  # without a vocabulary any element is read


def test_gzipped_sdf(tmp_path):
    import gzip

    text = _good_sdf(tmp_path / "a.sdf")
    gz = tmp_path / "a.sdf.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(text)
    assert len(read_sdf(gz)) == 3


def test_write_sdf_to_missing_folder(tmp_path):
    mol = to_rdkit(infer_bonds(mol3d("CO"), "table"))
    with pytest.raises(InputError, match="does not exist"):
        write_sdf([mol], tmp_path / "no" / "x.sdf")
