"""Sites whose folder carries a table: patients as groups (BUS-BRA, BrEaST-Lesions-USG), and a
table featbus does not know said so."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA
from PIL import Image

from featbus import load_data
from featbus.datasets import load_breast_lesions_usg, site_table_of


def _folder(tmp_path, table_name, header, rows):
    for cls, stem in rows:
        (tmp_path / cls).mkdir(exist_ok=True)
        Image.fromarray(np.full((24, 24), 30 + 10 * len(stem), np.uint8)).save(tmp_path / cls / f"{stem}.png")
    lines = [header] + [f"{stem},{k // 2 + 1},{cls}" for k, (cls, stem) in enumerate(rows)]
    (tmp_path / table_name).write_text("\n".join(lines) + "\n")
    return tmp_path


def test_breast_table_groups_images_by_caseid(tmp_path):
    root = _folder(tmp_path, "breast_data.csv", "ID,CaseID,Classification",
                   [("benign", "case001"), ("benign", "case002"), ("malignant", "case003"), ("malignant", "case04")])
    data = load_data(root)
    assert site_table_of(root).name == "BrEaST-Lesions-USG"
    assert data.groups.tolist() == [0, 0, 1, 1]
    assert data.data[0].meta["caseid"] == "1"
    assert "CaseID" in data.DESCR or "caseid" in data.groups_from


def test_breast_table_label_disagreeing_with_folder_is_refused(tmp_path):
    root = _folder(tmp_path, "breast_data.csv", "ID,CaseID,Classification", [("benign", "case001")])
    (root / "breast_data.csv").write_text("ID,CaseID,Classification\ncase001,1,malignant\n")
    with pytest.raises(ValueError, match="case001.*malignant.*benign"):
        load_breast_lesions_usg(root)


def test_any_table_naming_the_images_gives_their_patients(tmp_path):
    """A table featbus has no name for is read like any other (issue 81): its column naming the
    images, its label column by values, its patient column by name; said in the summary."""
    root = _folder(tmp_path, "patients.csv", "file,patient,label", [("benign", "a1"), ("malignant", "b22")])
    data = load_data(root)
    assert len(data.target) == 2 and data.groups_from == "patients: the 'patient' column of patients.csv"
    summary = data.release_summary
    assert (summary.image_column, summary.label_column, summary.group_column) == ("file", "label", "patient")
    assert "table patients.csv" in summary.text()


def test_download_wrapper_folder_is_read_through(tmp_path):
    inner = tmp_path / "Dataset_X"
    inner.mkdir()
    _folder(inner, "ignored.txt", "x", [("benign", "a1"), ("malignant", "b22")])
    assert len(load_data(tmp_path).target) == 2


@pytest.mark.skipif(not (DATA / "breast-lesions-usg").is_dir(), reason="../shared/data/breast-lesions-usg absent")
def test_shared_breast_lesions_usg():
    data = load_data(DATA / "breast-lesions-usg")
    assert data.target_names.tolist() == ["benign", "malignant", "normal"]
    assert np.bincount(data.target).tolist() == [154, 98, 4]
    assert len(np.unique(data.groups)) == len({r.meta["caseid"] for r in data.data})
    assert "pixel_size" in data.data[0].meta
