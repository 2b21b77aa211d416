"""Names wherever they exist (issue 101 item 4): the file names a hub parquet's image structs keep,
an archive's members and Label Studio's uploads go through the patient rules of files on disk, so
the same images named ``PREFIX_NUMBER`` (one prefix a patient) group into the same patients whether
they lie in a folder, a zip, a ``push_to_hub`` parquet or behind a Label Studio export."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
from _format_builders import frame, png

from featbus.datasets import read_release

pytest.importorskip("pyarrow")

#: ``(file name, class)``: four patients of three images each, two patients a class.
NAMES = [(f"P{p:03d}_{i}.png", ("benign", "malignant")[p % 2]) for p in range(1, 5) for i in (1, 2, 3)]
#: The patients as the names say them.
TRUTH = {frozenset(n for n, _ in NAMES if n.startswith(f"P{p:03d}_")) for p in range(1, 5)}


def _partition(names, groups) -> set[frozenset]:
    out: dict = {}
    for name, group in zip(names, groups):
        out.setdefault(group, set()).add(name)
    return {frozenset(v) for v in out.values()}


def _folder(tmp: Path) -> Path:
    root = tmp / "folder"
    for k, (name, label) in enumerate(NAMES):
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / name).write_bytes(png(frame(k)))
    return root


def test_the_folder_groups_by_prefix(tmp_path):
    """The reference: the files in class folders group by their prefix."""
    rel = read_release(_folder(tmp_path))
    assert rel.summary.patient_source == "file-name prefix"
    assert _partition([Path(i).name for i in rel.images], rel.groups) == TRUTH


def test_zip_members_group_as_the_folder(tmp_path):
    """The same tree inside a zip (a Kaggle download's wrapper folder): its members' names group as
    the folder's files do."""
    path = tmp_path / "archive.zip"
    with zipfile.ZipFile(path, "w") as z:
        for k, (name, label) in enumerate(NAMES):
            z.writestr(f"breast-us/{label}/{name}", png(frame(k)))
    rel = read_release(path)
    assert rel.summary.n_images == 12
    assert rel.summary.classes == {"benign": 6, "malignant": 6}
    assert rel.summary.patient_source == "file-name prefix"
    assert _partition([os.fspath(i).rsplit("/", 1)[-1] for i in rel.images], rel.groups) == TRUTH


def _hub(tmp: Path, names: list[str | None]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp / "hub"
    (root / "data").mkdir(parents=True)
    table = pa.table({"image": [{"bytes": png(frame(k)), "path": name} for k, name in enumerate(names)],
                      "label": pa.array([("benign", "malignant").index(c) for _, c in NAMES], pa.int64())})
    pq.write_table(table, root / "data" / "train-00000-of-00001.parquet")
    return root


def test_hub_parquet_struct_names_group_as_the_folder(tmp_path):
    """``push_to_hub`` keeps each file's name in its image struct (``{bytes, path}``): the rows group
    by those names' prefix, as the files in a folder do (before: one patient per row)."""
    rel = read_release(_hub(tmp_path, [n for n, _ in NAMES]))
    s = rel.summary
    assert s.n_images == 12
    assert s.n_patients == 4
    assert s.patient_source == "file-name prefix"
    assert s.patient_detail == "'P001_1.png' -> 'P001'"
    rows = [int(os.fspath(i).rsplit("[", 1)[1].rstrip("]")) for i in rel.images]
    assert _partition([NAMES[r][0] for r in rows], rel.groups) == TRUTH


def test_hub_parquet_without_names_one_patient_a_row(tmp_path):
    """Structs that keep no name (images pushed from arrays): each row its own patient, said in the
    hub source's words, as before."""
    rel = read_release(_hub(tmp_path, [None] * len(NAMES)))
    assert rel.summary.n_patients == 12
    assert (rel.summary.patient_source, rel.summary.patient_detail) == ("one per image",
                                                                        "the hub's rows give no patients")


def test_hub_parquet_split_named_files_are_no_patients(tmp_path):
    """Names whose prefix is a split (``train_0.png``, ``test_1.png``) name no patient, in a parquet as
    in a folder: one patient a row."""
    names = [f"{('train', 'test')[k % 2]}_{k}.png" for k in range(len(NAMES))]
    rel = read_release(_hub(tmp_path, names))
    assert rel.summary.n_patients == 12


def test_label_studio_uploads_group_as_the_folder(tmp_path):
    """Label Studio's export beside its uploads (``<8 hex>-P001_1.png``, the upload prefix on each):
    the names without the prefix group as the same files in a folder do."""
    root = tmp_path / "ls"
    (root / "images").mkdir(parents=True)
    tasks = []
    for k, (name, label) in enumerate(NAMES):
        upload = f"{(k + 1) * 0x1a2b3c4d % 0xffffffff:08x}-{name}"
        (root / "images" / upload).write_bytes(png(frame(k)))
        tasks.append({"id": k + 1, "data": {"image": f"/data/upload/1/{upload}"}, "annotations": [
            {"id": k + 100, "result": [{"type": "choices", "value": {"choices": [label]}}]}]})
    (root / "project-1-at-2024-05-01-10-00-3f2a1b0c.json").write_text(json.dumps(tasks))
    rel = read_release(root)
    assert rel.summary.n_images == 12
    assert rel.summary.classes == {"benign": 6, "malignant": 6}
    assert rel.summary.patient_source == "file-name prefix"
    assert _partition([Path(i).name.split("-", 1)[1] for i in rel.images], rel.groups) == TRUTH
