"""Complex folders: layouts of ../shared/data (+ CrossDocked), split by target, featurised cache."""
import shutil

import pytest
import torch

from moldiff.data.complexes import LIGAND_ELEMENTS, ComplexDataset, complex_graph, find_complexes, split_by_target
from moldiff.data.protein import POCKET_ELEMENTS
from moldiff.errors import InputError


def test_layouts_of_the_shared_data_are_found(shared_data):
    smoke = find_complexes(shared_data / "smoke")
    assert len(smoke) == 21 and {e.layout for e in smoke} == {"plain"}
    pb = find_complexes(shared_data / "posebusters_dev")
    assert len(pb) == 100 and all(e.pocket is not None and e.pocket.name.endswith("_pocket10.pdb") for e in pb)
    fep = find_complexes(shared_data / "fep_benchmark")
    assert len(fep) == 1343 and len({e.target for e in fep}) == 92  # one entry per ligand record


def test_crossdocked_layout_and_bad_roots(tmp_path, shared_data):
    family = tmp_path / "cd" / "ABL1_HUMAN"
    family.mkdir(parents=True)
    src = shared_data / "posebusters_dev" / "5SAK_ZRY"
    shutil.copy(src / "5SAK_ZRY_pocket10.pdb", family / "5sak_A_rec_zry_lig_tt_min_0_pocket10.pdb")
    shutil.copy(src / "5SAK_ZRY_ligand.sdf", family / "5sak_A_rec_zry_lig_tt_min_0.sdf")
    (entry,) = find_complexes(tmp_path / "cd")
    assert entry.layout == "crossdocked" and entry.target == "ABL1_HUMAN"
    graph = complex_graph(entry)
    assert graph.pos.shape[0] == 18 and graph.pocket_pos.shape[0] > 100
    with pytest.raises(InputError, match="does not exist"):
        find_complexes(tmp_path / "nowhere")
    (tmp_path / "empty" / "x").mkdir(parents=True)
    with pytest.raises(InputError, match="no complexes found"):
        find_complexes(tmp_path / "empty")


def test_split_by_target_never_shares_a_target(shared_data):
    entries = find_complexes(shared_data / "fep_benchmark")
    split = split_by_target(entries, (0.8, 0.1, 0.1), seed=0)
    targets = {k: {e.target for e in v} for k, v in split.items()}
    assert not (targets["train"] & targets["val"]) and not (targets["train"] & targets["test"])
    assert not (targets["val"] & targets["test"])
    assert sum(len(v) for v in split.values()) == len(entries)
    assert [len(targets[k]) for k in ("train", "val", "test")] == [74, 9, 9]
    assert split_by_target(entries, seed=0)["val"] == split["val"] != split_by_target(entries, seed=1)["val"]
    with pytest.raises(InputError, match="fractions"):
        split_by_target(entries, (0.5, 0.5, 0.5))


def test_dataset_featurises_caches_and_records_skips(tmp_path, shared_data, monkeypatch):
    monkeypatch.setenv("MOLDIFF_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "mini"
    for name in ("dd_1a0q", "dsbdd_3rfm"):
        shutil.copytree(shared_data / "smoke" / name, root / name)
    bad = root / "se_ligand"  # a ligand element outside the vocabulary: recorded, not dropped silently
    shutil.copytree(shared_data / "smoke" / "dd_1a0q", bad)
    text = (bad / "ligand.sdf").read_text().splitlines()
    for k, line in enumerate(text[4:], 4):
        if line[31:34].strip() == "C":
            text[k] = line[:31] + "Se " + line[34:]
            break
    (bad / "ligand.sdf").write_text("\n".join(text) + "\n")
    ds = ComplexDataset(root, progress=False)
    assert len(ds) == 2 and [sid for sid, _ in ds.skipped] == ["se_ligand"]
    assert "unsupported element(s) Se" in ds.skipped[0][1]
    g = ds[0]
    assert g.id == "dd_1a0q" and int(g.atom_type.max()) < len(LIGAND_ELEMENTS)
    assert int(g.pocket_type.max()) < len(POCKET_ELEMENTS)
    # the pocket surrounds the ligand: every ligand atom has a pocket atom within 6 Å
    assert (torch.cdist(g.pos, g.pocket_pos).min(1).values < 6.0).all()
    assert len(list((tmp_path / "cache").glob("complexes_mini_*.pt"))) == 1
    again = ComplexDataset(root, progress=False)  # from the cache
    assert torch.equal(again[1].pocket_pos, ds[1].pocket_pos) and again.skipped == ds.skipped
    with_h = ComplexDataset(root, hydrogens=True, progress=False, cache=False)
    assert with_h[0].pocket_pos.shape[0] > g.pocket_pos.shape[0]  # the smoke proteins carry hydrogens


def test_fep_folder_reads_shared_files_once_with_the_same_graphs(tmp_path, shared_data, monkeypatch):
    import moldiff.data.protein as protein_module

    monkeypatch.setenv("MOLDIFF_CACHE", str(tmp_path / "cache"))
    shutil.copytree(shared_data / "fep_benchmark" / "charge_annhil__cdk2", tmp_path / "fep" / "charge_annhil__cdk2")
    entries = find_complexes(tmp_path / "fep")
    assert len(entries) == 4
    reads = []
    original = protein_module.read_protein
    monkeypatch.setattr(protein_module, "read_protein", lambda *a, **k: reads.append(a) or original(*a, **k))
    ds = ComplexDataset(tmp_path / "fep", progress=False, cache=False)
    assert len(reads) == 1 and len(ds) == 4
    for entry, graph in zip(entries, ds):
        alone = complex_graph(entry)
        assert torch.equal(alone.pos, graph.pos) and torch.equal(alone.pocket_pos, graph.pocket_pos)
        assert torch.equal(alone.atom_type, graph.atom_type)
