"""BUS-BRA and BrEaST-Lesions-USG exactly as their publishers ship them, from the real images (issue 81 aims).

The shared copies (../shared/data/bus-bra, ../shared/data/breast-lesions-usg) are re-packed: class
folders with ``<ID>_mask.png`` beside each image. Here their files are laid back out as the
publishers ship them (each file hard-linked, or copied where a link cannot be made: never a
symbolic link, which would lead out of the release):

* BUS-BRA (doi:10.5281/zenodo.8231412): ``BUSBRA/Images/bus_0001-l.png``,
  ``BUSBRA/Masks/mask_0001-l.png``, ``bus_data.csv`` (the shared copy's own table, the published
  columns) and the partitions ``5-fold-cv.csv`` / ``10-fold-cv.csv`` (ID, Pathology, kFold; folds
  by patient);
* BrEaST-Lesions-USG (TCIA doi:10.7937/9WKK-Q141): ``BrEaST-Lesions_USG-images_and_masks/case001.png``
  beside ``case001_tumor.png``, and the clinical ``.xlsx`` beside the folder, built from
  ``breast_data.csv`` with the published column names (Image_filename, Mask_tumor_filename,
  Mask_other_filename, ..., Diagnosis, Classification).

Read with no option: every image read once, every mask paired, the publisher's label and patient
columns. Skipped without the shared data; each test takes a few seconds (not marked slow).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
from _release_builders import BREAST_COLUMNS, BREAST_FOLDER, BREAST_SHEET
from conftest import DATA

from featbus.datasets import read_release

BUS_BRA = DATA / "bus-bra"
BREAST = DATA / "breast-lesions-usg"


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _names(rel, root: Path) -> list[str]:
    return [Path(p).resolve().relative_to(root.resolve()).as_posix() for p in rel.images]


@pytest.mark.skipif(not (BUS_BRA / "bus_data.csv").is_file(), reason="../shared/data/bus-bra is absent")
def test_bus_bra_as_published(tmp_path):
    import pandas as pd

    table = pd.read_csv(BUS_BRA / "bus_data.csv")
    root = tmp_path / "BUSBRA"
    for row in table.itertuples():
        folder = BUS_BRA / row.Pathology
        _place(folder / f"{row.ID}.png", root / "Images" / f"{row.ID}.png")
        _place(folder / f"{row.ID}_mask.png", root / "Masks" / f"mask_{row.ID.removeprefix('bus_')}.png")
    shutil.copyfile(BUS_BRA / "bus_data.csv", root / "bus_data.csv")
    cases = sorted(table.Case.unique())
    for k in (5, 10):
        fold = {case: 1 + i % k for i, case in enumerate(cases)}
        pd.DataFrame({"ID": table.ID, "Pathology": table.Pathology, "kFold": table.Case.map(fold)}).to_csv(
            root / f"{k}-fold-cv.csv", index=False)

    rel = read_release(root)
    s = rel.summary
    images = _names(rel, root)
    assert sorted(images) == sorted(f"Images/{i}.png" for i in table.ID), s.text()
    assert s.n_images == len(table) == 809
    assert s.n_masks_paired == s.n_mask_files == len(table)
    by_id = table.set_index("ID")
    for image, masks, label, group in zip(images, rel.masks, rel.labels, rel.groups):
        ident = Path(image).stem
        assert [Path(m).name for m in masks] == [f"mask_{ident.removeprefix('bus_')}.png"]
        assert label == by_id.Pathology[ident]
        assert str(group) == str(by_id.Case[ident])
    assert Path(s.table).name == "bus_data.csv"
    assert (s.image_column, s.label_column, s.group_column) == ("ID", "Pathology", "Case")
    assert s.patient_source == "column"
    assert s.n_patients == table.Case.nunique() == 490
    assert s.classes == dict(Counter(table.Pathology)) == {"benign": 566, "malignant": 243}
    assert dict(s.left_out_counts()) == {}  # every mask paired, nothing else left out


@pytest.mark.skipif(not (BREAST / "breast_data.csv").is_file(), reason="../shared/data/breast-lesions-usg is absent")
def test_breast_lesions_usg_as_published(tmp_path):
    import pandas as pd

    table = pd.read_csv(BREAST / "breast_data.csv")
    folder = tmp_path / BREAST_FOLDER
    for row in table.itertuples():
        _place(BREAST / row.Classification / f"{row.ID}.png", folder / f"{row.ID}.png")
        _place(BREAST / row.Classification / f"{row.ID}_mask.png", folder / f"{row.ID}_tumor.png")
    sheet = pd.DataFrame({
        "CaseID": table.CaseID, "Image_filename": table.ID + ".png", "Mask_tumor_filename": table.ID + "_tumor.png",
        "Mask_other_filename": None,
        **{c: table[c] for c in BREAST_COLUMNS if c in table.columns and c != "CaseID"},
    })[list(BREAST_COLUMNS)]
    sheet.to_excel(tmp_path / BREAST_SHEET, index=False)

    rel = read_release(tmp_path)
    s = rel.summary
    images = _names(rel, tmp_path)
    assert sorted(images) == sorted(f"{BREAST_FOLDER}/{i}.png" for i in table.ID), s.text()
    assert s.n_images == len(table) == 256
    assert s.n_masks_paired == s.n_mask_files == len(table)
    by_id = table.set_index("ID")
    for image, masks, label, group in zip(images, rel.masks, rel.labels, rel.groups):
        ident = Path(image).stem
        assert [Path(m).name for m in masks] == [f"{ident}_tumor.png"]
        assert label == by_id.Classification[ident]
        assert str(group) == str(by_id.CaseID[ident])
    assert Path(s.table).name == BREAST_SHEET
    assert (s.image_column, s.label_column, s.group_column) == ("Image_filename", "Classification", "CaseID")
    assert s.patient_source == "column"
    assert s.n_patients == 256
    assert s.classes == {"benign": 154, "malignant": 98, "normal": 4}
    assert dict(s.left_out_counts()) == {}  # every mask paired, nothing else left out
