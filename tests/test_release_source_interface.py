"""The source interface (:mod:`featbus.datasets.sources`): a source registered by one line of
``SOURCES`` whose ``SourceRead`` claims the images is taken as the release, its entries as given:
labels (never refused as misspellings, never re-guessed from columns), patients with the source's
words, splits, pixel sizes, rows, meta and masks; image files it does not list left out, named;
the other tables named as considered; an image that is no file (a reference) kept as given.
"""

from __future__ import annotations

import functools
import os
import sys
import types
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import featbus.datasets.sources as sources
from featbus.datasets import read_release
from featbus.datasets.release import ReleaseError

SIDE = 16


class _Ref:
    """An image that is no file of its own: a row of an array kept in the source's file."""

    def __init__(self, name: str, pixels: np.ndarray):
        self.name, self.pixels = name, pixels

    def __fspath__(self) -> str:
        return self.name

    def read(self) -> np.ndarray:
        return self.pixels

    def probe(self):
        return self.pixels.shape[:2], None


def _toy_module(claims: bool = True, refs: bool = False) -> types.ModuleType:
    """A source reading ``list.toy``: one line per image, ``image label patient split size``."""
    module = types.ModuleType("featbus.datasets.sources.toy")

    def recognise(files):
        return [f for f in files if f.suffix == ".toy"]

    def read(root, file, images, unannotated="normal"):
        got = sources.SourceRead(file, class_source="the labels of {file}", patient_source="column",
                                 patient_detail="the toy's third field", key="the image's name",
                                 claims_images=claims, mask_rule="named by {file}")
        for k, line in enumerate((root / file).read_text().splitlines()):
            name, label, patient, split, size = line.split()
            image = _Ref(f"{file.as_posix()}!{name}", np.full((SIDE, SIDE), k, np.uint8)) if refs else Path(name)
            masks = (Path(f"masks/{name}"),) if not refs and (root / "masks" / name).is_file() else ()
            got.entries.append(sources.Entry(image, label, masks, patient=patient, split=split,
                                             pixel_size={"size": float(size), "unit": "mm",
                                                         "source": "the toy's fifth field"},
                                             row={"line": k + 1, "name": name}, meta={"view": "CC"}))
        got.left_out.append(sources.LeftOut("list.toy line 99", "bad annotation", "a line of the toy's own"))
        return got

    module.NAME, module.SUFFIXES, module.recognise, module.read = "toy list", (".toy",), recognise, read
    return module


@pytest.fixture
def toy(monkeypatch):
    """Registers the toy source as a new format is registered: one line in ``SOURCES``."""

    def register(**kwargs):
        monkeypatch.setitem(sys.modules, "featbus.datasets.sources.toy", _toy_module(**kwargs))
        monkeypatch.setattr(sources, "SOURCES", ("toy",) + sources.SOURCES)

    return register


def _save(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((SIDE, SIDE), value, np.uint8)).save(path)


def _release(root: Path) -> Path:
    lines = [f"img_{k}.png {'Benigh' if k == 9 else 'Benign'} P{k // 2} {'train' if k < 8 else 'test'} {(k + 1) / 10}"
             for k in range(10)]
    (root / "list.toy").write_text("\n".join(lines) + "\n")
    for k in range(10):
        _save(root / f"img_{k}.png", 10 * k)
    _save(root / "masks" / "img_0.png", 0)
    _save(root / "stray.png", 5)  # listed by no line
    (root / "labels.csv").write_text("image,label\n" + "".join(f"img_{k}.png,malignant\n" for k in range(10)))
    return root


def test_registry_holds_the_contract():
    assert "coco" in sources.SOURCES and "voc" in sources.SOURCES
    for module in sources.modules():
        assert isinstance(module.NAME, str) and callable(module.recognise) and callable(module.read)
    entry = sources.Entry(Path("a.png"), "benign")
    assert (entry.masks, entry.patient, entry.split, entry.pixel_size, entry.row, entry.meta) == \
        ((), None, None, None, None, {})
    read = sources.SourceRead(Path("a.json"))
    assert (read.patient_source, read.patient_detail, read.key, read.claims_images) == (None, "", None, False)


def test_claiming_source_taken_as_given(toy, tmp_path):
    toy()
    rel = read_release(_release(tmp_path))
    names = [Path(p).name for p in rel.images]
    assert names == [f"img_{k}.png" for k in range(10)]
    # as given: 'Benigh' on one line is a class of its own (no misspelling refusal), the table's
    # 'malignant' column is never read
    assert rel.labels == ["Benign"] * 9 + ["Benigh"]
    assert rel.summary.classes == {"Benigh": 1, "Benign": 9}
    assert rel.groups == [f"P{k // 2}" for k in range(10)]
    assert (rel.summary.patient_source, rel.summary.patient_detail) == ("column", "the toy's third field")
    assert rel.splits == ["train"] * 8 + ["test"] * 2
    assert [p["size"] for p in rel.pixel_sizes] == pytest.approx([0.1 * (k + 1) for k in range(10)], abs=1e-12)
    assert rel.rows[3] == {"line": 4, "name": "img_3.png"} and rel.meta[3] == {"view": "CC"}
    assert rel.masks[0] == (tmp_path / "masks" / "img_0.png",) and not any(rel.masks[1:])
    left = {(r.item, r.reason) for r in rel.summary.left_out}
    assert ("stray.png", "no annotation") in left and ("list.toy line 99", "bad annotation") in left
    text = rel.summary.text()
    assert "images listed by list.toy (toy list; joined by the image's name)" in text
    assert "classes Benigh 1, Benign 9 (the labels of list.toy)" in text
    assert "labels.csv (not read: list.toy lists the images)" in text
    assert "pixel size from the toy's fifth field for 10 of 10 images" in text
    assert "10 patients" not in text and "5 patients (column: the toy's third field)" in text


def test_claiming_source_split_spellings(toy, tmp_path):
    """A source's split spellings read as train / valid / test; one that spells none is refused, naming the image."""
    toy()
    root = _release(tmp_path)
    text = (root / "list.toy").read_text()
    (root / "list.toy").write_text(text.replace(" train ", " Training ", 1).replace(" test ", " val ", 1))
    assert read_release(root).splits == ["train"] * 8 + ["valid", "test"]
    (root / "list.toy").write_text(text.replace("P3 train", "P3 fold1"))
    with pytest.raises(ReleaseError, match=r"^'img_6.png': split 'fold1' is none of train, valid, test$"):
        read_release(root)


def test_claiming_source_refuses_column_options(toy, tmp_path):
    toy()
    with pytest.raises(ReleaseError, match=r"--label-column: list.toy .* lists the images"):
        read_release(_release(tmp_path), label_column="label")


def test_source_giving_entries_without_claiming_them_refused(toy, tmp_path):
    """Entries are the release or nothing: a source that gives them without ``claims_images`` is a
    source's mistake, said, never its entries dropped or read as a table."""
    toy(claims=False)
    with pytest.raises(TypeError, match="list.toy: the source 'toy list' gives entries without claims_images=True"):
        read_release(_release(tmp_path))


def test_image_references_kept_as_given(toy, tmp_path):
    toy(refs=True)
    (tmp_path / "list.toy").write_text("a.png benign P1 train 0.1\nb.png malignant P2 valid 0.2\n")
    rel = read_release(tmp_path)
    assert [os.fspath(i) for i in rel.images] == ["list.toy!a.png", "list.toy!b.png"]
    assert rel.images[1].read()[0, 0] == 1 and rel.labels == ["benign", "malignant"]
    assert rel.summary.splits == {"train": 1, "valid": 1}


def test_release_is_a_list_of_entries_with_the_old_lists_read_only(toy, tmp_path):
    toy()
    rel = read_release(_release(tmp_path))
    assert len(rel) == 10 and [e.label for e in rel] == rel.labels and rel[3].patient == rel.groups[3]
    assert [e.image for e in rel.entries] == rel.images
    with pytest.raises(AttributeError):
        rel.labels = ["x"] * 10
    rel.entries.clear()  # a copy: the release keeps its entries
    assert len(rel) == 10
    taken = rel.take([9, 0])
    assert taken.labels == ["Benigh", "Benign"] and taken.splits == ["test", "train"]
    assert taken.rows == [rel.rows[9], rel.rows[0]] and taken.summary is rel.summary


def test_release_built_from_lists_as_before(tmp_path):
    from featbus.datasets.release import Release, ReleaseSummary

    rel = Release(tmp_path, [tmp_path / "a.png", tmp_path / "b.png"], ["benign", None], ["1", "2"], [(), ()],
                  ReleaseSummary(root=tmp_path))
    assert rel.labels == ["benign", None] and rel.groups == ["1", "2"] and rel.masks == [(), ()]
    assert (rel.rows, rel.pixel_sizes, rel.splits, rel.meta) == ([], [], None, [])
    assert rel.take([]).images == [] and bool(rel.take([]))




def _counting(monkeypatch) -> tuple[Counter, Counter]:
    """Every registered source's ``recognise`` and ``read`` wrapped to count its calls in each release read:
    by (source, release) and by (source, release, file); release 0 is the path's, each archive read opens
    another (its members, read as a release of their own)."""
    recognised, read, releases, inside = Counter(), Counter(), [0], [0]
    for module in sources.modules():
        def recognise(*args, _name=module.NAME, _fn=module.recognise, **kwargs):
            recognised[_name, inside[-1]] += 1
            return _fn(*args, **kwargs)

        def reading(root, file, *args, _name=module.NAME, _fn=module.read, **kwargs):
            read[_name, inside[-1], file.as_posix()] += 1
            if _name != "archive":
                return _fn(root, file, *args, **kwargs)
            releases.append(len(releases))
            inside.append(releases[-1])
            try:
                return _fn(root, file, *args, **kwargs)
            finally:
                inside.pop()

        for name, wrapper in (("recognise", recognise), ("read", reading)):
            fn = getattr(module, name)
            monkeypatch.setattr(module, name, functools.wraps(fn)(wrapper))  # its signature kept: its keywords passed
    return recognised, read


@pytest.mark.parametrize("layout", ["busi", "busi index", "busi zip", "cbis-ddsm kaggle", "mini-mias"])
def test_each_source_asked_once_per_path_read(layout, tmp_path, monkeypatch):
    """A path read asks each source once to recognise its files (an archive's members once more, as a release of
    their own) and once to read each file it claims: no question asked of a source twice."""
    from _format_builders import build_busi_zip
    from _mammo_builders import build_cbis_ddsm_kaggle
    from _release_builders import build_busi, build_mini_mias

    if layout == "busi index":
        path = read_release(build_busi(tmp_path / "b").root).write_index(tmp_path / "index.csv")
    else:
        path = {"busi": lambda: build_busi(tmp_path).root, "busi zip": lambda: build_busi_zip(tmp_path).path,
                "cbis-ddsm kaggle": lambda: build_cbis_ddsm_kaggle(tmp_path).root,
                "mini-mias": lambda: build_mini_mias(tmp_path).root}[layout]()
    recognised, read = _counting(monkeypatch)
    rel = read_release(path)
    assert len(rel) > 0 and any(rel.labels)
    assert set(recognised.values()) == {1}, recognised.most_common(3)
    assert set(read.values()) <= {1}, read.most_common(3)
    assert {release for _, release in recognised} == ({0, 1} if layout == "busi zip" else {0})
    assert {name for name, *_ in read} == {"busi": set(), "busi index": {"featbus index"}, "busi zip": {"archive"},
                                           "cbis-ddsm kaggle": {"CBIS-DDSM case descriptions"},
                                           "mini-mias": {"mini-MIAS Info.txt"}}[layout]
