"""``featbus extract`` on data without labels, and the data set's own columns passed through."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import stderr_lines

from featbus.cli import main
from featbus.datasets import load_data


def _images(busi_root, dest, n, *, with_masks=False):
    dest.mkdir(parents=True, exist_ok=True)
    files = sorted(f for f in (busi_root / "benign").glob("*.png") if "_mask" not in f.stem)[:n]
    for f in files:
        shutil.copy(f, dest / f.name)
        if with_masks:
            for m in (busi_root / "benign").glob(f"{f.stem}_mask*.png"):
                shutil.copy(m, dest / m.name)
    return [f.name for f in files]


def test_flat_folder_loads_unlabelled_only_when_labels_are_optional(busi_root, tmp_path):
    _images(busi_root, tmp_path / "flat", 3, with_masks=True)
    with pytest.raises(ValueError, match="nothing labels the images"):
        load_data(tmp_path / "flat")
    data = load_data(tmp_path / "flat", require_labels=False)
    assert data.target.tolist() == [-1, -1, -1] and data.target_names.tolist() == []
    assert all(r.meta["has_mask_file"] for r in data.data)  # masks beside the images still read
    assert "unlabelled" in data.DESCR


def test_extract_flat_folder_writes_an_empty_label_column(busi_root, tmp_path, capsys):
    names = _images(busi_root, tmp_path / "flat", 3)
    out = tmp_path / "t.csv"
    assert main(["extract", str(tmp_path / "flat"), "-f", "intensity", "-o", str(out), "-q"]) == 0
    assert "unlabelled" in capsys.readouterr().out
    table = pd.read_csv(out, keep_default_na=False)
    assert sorted(p.split("/")[-1] for p in table["path"]) == sorted(names)
    assert set(table["label"]) == {""} and set(table["target"]) == {-1}


def test_extract_one_class_folder_is_a_table_not_an_error(busi_root, tmp_path):
    _images(busi_root, tmp_path / "one" / "benign", 2)
    out = tmp_path / "t.parquet"
    assert main(["extract", str(tmp_path / "one"), "-f", "intensity", "-o", str(out), "-q"]) == 0
    assert set(pd.read_parquet(out)["label"]) == {"benign"}


def test_manifest_without_labels_passes_its_columns_through(busi_root, tmp_path, capsys):
    names = _images(busi_root, tmp_path, 2)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"image,patient,age\n{names[0]},p1,44\n{names[1]},p2,51\n")
    for suffix in ("parquet", "npz"):
        out = tmp_path / f"t.{suffix}"
        assert main(["extract", str(manifest), "-f", "intensity", "-o", str(out), "-q"]) == 0
        assert "patient, age passed through" in capsys.readouterr().out
        if suffix == "parquet":
            table = pd.read_parquet(out)
            assert table.columns[:6].tolist() == ["path", "label", "target", "group", "patient", "age"]
            assert table["patient"].tolist() == ["p1", "p2"] and table["age"].tolist() == ["44", "51"]
        else:
            with np.load(out) as z:
                assert z["extra_columns"].tolist() == ["patient", "age"]
                assert z["extra_values"].tolist() == [["p1", "44"], ["p2", "51"]]
    # a labelled manifest keeps its extra columns too; one named like a table column is refused up front
    manifest.write_text(f"image,label,target\n{names[0]},a,x\n{names[1]},b,y\n")
    assert main(["extract", str(manifest), "-f", "intensity", "-o", str(tmp_path / "u.csv"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(stderr_lines(err)) == 1 and "['target']" in err and "rename" in err, err
    assert not (tmp_path / "u.csv").exists()


def test_bus_bra_table_columns_pass_through(make_bus_bra_subset, tmp_path):
    root, _ = make_bus_bra_subset(tmp_path / "bb", 2, 2)
    out = tmp_path / "t.parquet"
    assert main(["extract", str(root), "-f", "intensity", "-o", str(out), "-q"]) == 0
    table = pd.read_parquet(out)
    assert {"case", "pathology"} <= set(table.columns)
    assert (table["pathology"].str.lower() == table["label"]).all()
