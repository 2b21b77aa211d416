"""Every documented release layout read whole with no option (issue 81 items 1, 3, 4).

Each layout of ``_release_builders.LAYOUTS`` is a tiny release in the shape its publisher ships
(the builders' docstrings say which and from where). Read with ``read_release(root)`` and nothing
else, the summary must give every count right: images, masks paired, mask files, classes, patients
and where they came from, the table and its columns, files left out and why; every image must
carry its own label, patient and masks, and no mask may ever be a sample. The index it writes
reads back to the same release.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from _release_builders import ANY, LAYOUTS, Built

from featbus.datasets import read_release


def _relative(root: Path, path) -> str:
    """``path`` (absolute, or relative to ``root``) as a POSIX path relative to ``root``."""
    path = Path(path)
    if not path.is_absolute():
        path = root / path
    return path.resolve().relative_to(root.resolve()).as_posix()


def _partition(keys) -> set[frozenset[int]]:
    """The partition of positions that equal keys make (a patient's spelling is free, its images are not)."""
    groups: dict = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, set()).add(i)
    return {frozenset(g) for g in groups.values()}


def _lower(label):
    return None if label is None else str(label).lower()


#: Layouts the reader does not read right yet: name -> what it does instead (strict: a fix shows).
NOT_YET: dict[str, str] = {}  # layout -> why the reader does not read it yet (a strict xfail)


@pytest.fixture(params=sorted(LAYOUTS))
def layout(request) -> str:
    return request.param


@pytest.fixture
def built(layout, tmp_path) -> Built:
    return LAYOUTS[layout](tmp_path)


def test_layout_read_with_no_option(built, layout, request):
    """Every count of the summary, and every image's label, patient and masks."""
    if layout in NOT_YET:
        request.applymarker(pytest.mark.xfail(reason=NOT_YET[layout], strict=True))
    rel = read_release(built.root)
    s, expect, truth = rel.summary, built.expect, built.truth
    images = [_relative(built.root, p) for p in rel.images]

    # the images: each once, each a sample of the release, never a mask
    assert sorted(images) == sorted(truth), s.text()
    assert len(set(images)) == len(images)
    assert not set(images) & built.mask_files
    assert s.n_images == len(truth)
    assert len(rel.labels) == len(rel.groups) == len(rel.masks) == len(images)

    # labels per image, and the classes with their counts
    want_labels = [_lower(truth[i][0]) for i in images]
    assert [_lower(label) for label in rel.labels] == want_labels, s.text()
    want_classes = Counter(label for label in want_labels if label is not None)
    assert {_lower(k): v for k, v in s.classes.items()} == dict(want_classes), s.text()

    # masks: every image's own, none of another's, counted
    for image, masks in zip(images, rel.masks):
        got = {_relative(built.root, m) for m in masks}
        want = set(truth[image][2])
        assert got <= want, (image, got, want)
        if want:
            assert got, f"{image}: no mask paired, wanted {sorted(want)}"
            assert truth[image][2][0] in got, (image, got)  # the lesion's own mask is always there
    assert s.n_masks_paired == sum(bool(m) for m in rel.masks) == sum(bool(t[2]) for t in truth.values())
    paired = {_relative(built.root, m) for masks in rel.masks for m in masks}
    assert s.n_mask_files == len(paired)  # "N paired with M mask files": the files in use
    if s.n_masks_paired:
        assert s.mask_rule

    # patients: the partition of images, the count and its source
    assert _partition(rel.groups) == _partition([truth[i][1] for i in images]), s.text()
    assert s.n_patients == len({truth[i][1] for i in images})
    sources = expect["patient_source"]
    assert s.patient_source in (sources if isinstance(sources, tuple) else (sources,)), s.text()

    # the table and the columns used
    if expect["table"] is None:
        assert s.table is None, s.text()
    else:
        assert s.table is not None and _relative(built.root, s.table) == expect["table"], s.text()
    for name in ("image_column", "label_column", "group_column", "mask_column"):
        if expect[name] is ANY:
            continue
        assert getattr(s, name) == expect[name], (name, s.text())
    if expect["table"] is not None:
        assert s.image_column and s.label_column  # a table that names the images labels them here

    # files left out, and why: every mask file either paired or left out as a mask (a second
    # finding's mask may be set aside: "joined or the lesion one chosen, and said"), then the rest
    masks_left_out = {_relative(built.root, r.item) for r in s.left_out if r.reason == "mask"}
    assert paired | masks_left_out == built.mask_files, (sorted(paired), sorted(masks_left_out))
    want_left_out = dict(expect["left_out"])
    if built.mask_files - paired:
        want_left_out["mask"] = len(built.mask_files - paired)
    assert dict(s.left_out_counts()) == want_left_out, s.left_out
    assert sum(want_left_out.values()) == len(s.left_out)
    assert not {_relative(built.root, r.item) for r in s.left_out} & set(images)

    # the paragraph says what was read
    text = s.text()
    assert f"{len(truth)} images" in text, text
    if s.n_masks_paired:
        assert f"{s.n_masks_paired} paired" in text, text
    if expect["table"] is not None:
        assert Path(expect["table"]).name in text, text


def test_layout_index_round_trip(built, tmp_path_factory):
    """write_index, then read_release(index): the same images, labels, patients and masks."""
    rel = read_release(built.root)
    index = tmp_path_factory.mktemp("index") / "index.csv"
    rel.write_index(index)
    again = read_release(index)
    assert [Path(p).resolve() for p in again.images] == [Path(p).resolve() for p in rel.images]
    assert again.labels == rel.labels
    assert _partition(again.groups) == _partition(rel.groups)
    if rel.summary.patient_source == "one per image":  # no group column: read back, near-duplicates grouped again
        assert again.summary.patient_source == "one per image" and "group" not in pd.read_csv(index).columns
    else:
        assert list(again.groups) == list(rel.groups)
    assert [tuple(Path(m).resolve() for m in ms) for ms in again.masks] == \
           [tuple(Path(m).resolve() for m in ms) for ms in rel.masks]
    assert again.summary.n_images == rel.summary.n_images
    assert again.summary.n_masks_paired == rel.summary.n_masks_paired
    frame = rel.to_frame()  # the same index as a table: one row per image, in order
    assert len(frame) == len(rel.images)
    assert [_relative(built.root, p) for p in frame["image"]] == [_relative(built.root, p) for p in rel.images]


def test_at_least_twelve_layouts():
    assert len(LAYOUTS) >= 12


def test_predict_scores_one_row_per_scan_never_a_mask(tmp_path, capsys):
    """Aim: predict on a folder of scans with their masks beside them (BrEaST's shipped folder:
    ``case001.png`` + ``case001_tumor.png`` + ``case003_other1.png``) gives one row per scan, and
    says the masks it set aside."""
    import pandas as pd
    from _release_builders import save

    from featbus.cli import main
    from featbus.datasets import make_phantoms

    train = tmp_path / "train"
    ph = make_phantoms(24, image_size=48, random_state=0)
    for i, (image, target) in enumerate(zip(ph.images, ph.target)):
        (train / str(ph.target_names[target])).mkdir(parents=True, exist_ok=True)
        save(train / str(ph.target_names[target]) / f"p{i}.png", image)
    model = tmp_path / "m.featbus"
    assert main(["train", str(train), "-f", "intensity", "-c", "logreg", "--n-splits", "3",
                 "--n-bootstrap", "0", "-o", str(model), "-q"]) == 0
    built = LAYOUTS["breast-lesions-usg"](tmp_path / "release")
    folder = next(built.root.glob("BrEaST-*images_and_masks"))
    out = tmp_path / "p.csv"
    capsys.readouterr()
    assert main(["predict", str(model), str(folder), "-o", str(out), "-q"]) == 0
    said = capsys.readouterr().err
    table = pd.read_csv(out)
    names = sorted(Path(str(p).lstrip("'")).name for p in table["image"])
    assert names == sorted(Path(i).name for i in built.truth)
    assert "mask" in said
