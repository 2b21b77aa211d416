"""Labelling tools' and dataset hubs' exports read whole with no option (issue 89): COCO JSON (CVAT,
Roboflow, Label Studio), Pascal VOC / CVAT segmentation masks, Hugging Face imagefolder metadata
(csv, jsonl, parquet), one-hot tables (Roboflow's ``_classes.csv``), split folders and a split
column; labelling tools' renamed files; the refusal that says every file considered; bad input in
annotation files, each named in one line with the rest of the release read.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from _release_builders import (
    SHAPE,
    SOURCE_LAYOUTS,
    Built,
    _blob,
    build_cvat_coco,
    coco_compressed,
    coco_runs,
    outline,
    roboflow_name,
    save,
    scan,
)

from featbus.datasets import load_data, read_release
from featbus.datasets._release_tables import SourceRefused
from featbus.datasets.release import ReleaseError
from featbus.datasets.sources import Entry, SourceRead
from featbus.datasets.sources.coco import as_table

#: Drawn polygons approximate the builders' ellipses (24 vertices, pixel-centre rasterisation): the
#: drawn mask and the ellipse agree to this intersection over union at least (an RLE is exact).
POLYGON_IOU = 0.8


def _rel(root: Path, path) -> str:
    return Path(path).resolve().relative_to(root.resolve()).as_posix()


def _partition(keys) -> set[frozenset[int]]:
    groups: dict = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, set()).add(i)
    return {frozenset(g) for g in groups.values()}


def _iou(a, b) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.fixture(params=sorted(SOURCE_LAYOUTS))
def built(request, tmp_path) -> Built:
    return SOURCE_LAYOUTS[request.param](tmp_path)


def test_source_layout_read_with_no_option(built):
    """Every image, its label, patient, masks and split; the counts the paragraph says."""
    rel = read_release(built.root)
    s, truth = rel.summary, built.truth
    images = [_rel(built.root, p) for p in rel.images]
    assert sorted(images) == sorted(truth), s.text()
    assert [label for label in rel.labels] == [truth[i][0] for i in images], s.text()
    assert s.classes == dict(Counter(truth[i][0] for i in images)), s.text()
    assert _partition(rel.groups) == _partition([truth[i][1] for i in images]), s.text()
    assert s.n_patients == len({truth[i][1] for i in images})
    # masks: the files the truth names, or drawn by the annotation file
    for image, masks in zip(images, rel.masks):
        files = {_rel(built.root, m) for m in masks if isinstance(m, Path)}
        assert files == set(truth[image][2]), (image, files)
        drawn = [m for m in masks if not isinstance(m, Path)]
        assert bool(drawn) == (image in built.drawn), image
        if drawn:
            mask = np.logical_or.reduce([m.render() for m in drawn])
            assert mask.shape == SHAPE and _iou(mask, built.drawn[image]) >= POLYGON_IOU, image
    n_masked = sum(bool(t[2]) or i in built.drawn for i, t in truth.items())
    assert s.n_masks_paired == n_masked, s.text()
    # splits: each image's, counted and said
    if built.splits:
        assert rel.splits == [built.splits[i] for i in images]
        counts = Counter(built.splits.values())
        assert s.splits == {k: counts[k] for k in ("train", "valid", "test") if counts[k]}
        assert "splits " + ", ".join(f"{k} {n}" for k, n in s.splits.items()) in s.text()
    else:
        assert rel.splits is None and "splits" not in s.text()
    # nothing left out but the masks not used (VOC's SegmentationObject/)
    assert {r.reason for r in s.left_out} <= {"mask"}, s.left_out
    assert len(s.left_out) == len(built.mask_files - {m for t in truth.values() for m in t[2]})


def test_source_layout_index_round_trip(built, tmp_path_factory):
    """The index keeps the split and the drawn masks (``<file>.json#<image id>``): read back, the same."""
    rel = read_release(built.root)
    index = tmp_path_factory.mktemp("index") / "index.csv"
    rel.write_index(index)
    again = read_release(index)
    assert [Path(p).resolve() for p in again.images] == [Path(p).resolve() for p in rel.images]
    assert again.labels == rel.labels and again.splits == rel.splits
    for a, b in zip(again.masks, rel.masks):
        assert len(a) == len(b)
        for m, n in zip(a, b):
            assert isinstance(m, Path) == isinstance(n, Path)
            if not isinstance(m, Path):
                assert np.array_equal(m.render(), n.render())


def test_coco_masks_reach_the_bunch(tmp_path):
    """Polygons and RLE reach the pixels as masks (so Dice and ROI work); the split as ``split``."""
    built = SOURCE_LAYOUTS["roboflow-coco"](tmp_path)
    with pytest.warns(UserWarning):
        data = load_data(built.root)
    for path, mask, record in zip(data.paths, data.masks, data.data):
        image = _rel(built.root, path)
        if image in built.drawn:
            assert _iou(mask, built.drawn[image]) >= POLYGON_IOU, image
            assert record.meta["has_mask_file"]
        else:
            assert not mask.any()
    assert list(data.split) == [built.splits[_rel(built.root, p)] for p in data.paths]
    assert data.split.dtype == object


def test_uncompressed_and_compressed_rle_drawn_exactly(tmp_path):
    """CVAT's uncompressed RLE and pycocotools' compressed string draw the mask pixel for pixel."""
    built = build_cvat_coco(tmp_path)
    path = built.root / "annotations" / "instances_default.json"
    data = json.loads(path.read_text())
    rle = next(a for a in data["annotations"] if isinstance(a["segmentation"], dict))
    image = next(im["file_name"] for im in data["images"] if im["id"] == rle["image_id"])
    for counts in (rle["segmentation"]["counts"], coco_compressed(rle["segmentation"]["counts"])):
        rle["segmentation"]["counts"] = counts
        path.write_text(json.dumps(data))
        rel = read_release(built.root)
        k = [p.name for p in rel.images].index(image)
        assert np.array_equal(rel.masks[k][0].render(), built.drawn[f"images/{image}"])


def test_unannotated_images_left_out_when_asked(tmp_path, capsys):
    """An image the COCO file lists with no annotation is 'normal' (said), or left out by name."""
    from featbus.cli import main

    built = build_cvat_coco(tmp_path)
    rel = read_release(built.root)
    assert rel.labels.count("normal") == 1 and "with no annotation read as 'normal'" in rel.summary.text()
    rel = read_release(built.root, unannotated="leave out")
    assert "normal" not in rel.labels and len(rel.images) == len(built.truth) - 1
    assert [(r.item, r.reason) for r in rel.summary.left_out] == [("images/P005_01.png", "no annotation")]
    assert main(["read", str(built.root), "--unannotated", "leave-out"]) == 0
    assert "left out 1 (no annotation" in capsys.readouterr().out
    with pytest.raises(ValueError, match="unannotated"):
        read_release(built.root, unannotated="skip")


def test_renamed_files_keep_their_names_for_masks_and_patients(tmp_path):
    """``P050_001_png.rf.<hash>.jpg`` pairs with ``masks/P050_001.png`` and is patient P050, the rule said."""
    root = tmp_path / "renamed"
    for k, patient in enumerate(("P050", "P050", "P051", "P052")):
        stem = f"{patient}_{k:03d}"
        save(root / "benign" / "images" / roboflow_name(stem, k), scan(k), "JPEG")
        save(root / "benign" / "masks" / f"{stem}.png", np.where(_blob(k), 255, 0).astype(np.uint8))
    rel = read_release(root)
    assert [len(m) for m in rel.masks] == [1, 1, 1, 1]
    assert [Path(m[0]).stem for m in rel.masks] == [p.name.split("_png.rf.")[0] for p in rel.images]
    assert rel.summary.n_patients == 3 and rel.summary.patient_source == "file-name prefix"
    assert "the name inside Roboflow's '<name>_<ext>.rf.<hash>'" in rel.summary.text()


def test_refusal_names_every_file_considered(tmp_path):
    """Nothing labels the images: each table and annotation file is named with why it was not used,
    never 'no column holds the classes' when one does."""
    root = tmp_path / "unlabelled"
    for k in range(4):
        save(root / "images" / f"I{k:07d}.png", scan(k))
    (root / "labels.csv").write_text("SOPInstanceUID,Pathology\n1.2.3.1,benign\n1.2.3.2,malignant\n")
    (root / "export.json").write_text(json.dumps([{"data": {"image": "/data/upload/1/x.png"}, "annotations": []}]))
    (root / "project.json").write_text(json.dumps({"project": "breast"}))
    (root / "metadata.jsonl").write_text("".join(json.dumps({"file_name": f"images/I{k:07d}.png", "quality": "ok"})
                                                 + "\n" for k in range(4)))
    with pytest.raises(ReleaseError) as err:
        read_release(root, require_labels=True)
    said = str(err.value)
    assert "no column holds the classes" not in said
    assert "labels.csv (names 0 images; its 'Pathology' holds the classes)" in said
    assert "export.json (a Label Studio JSON export of 1 task(s) naming no image of the release" in said
    assert "project.json (no COCO file (its keys: project)" in said
    assert "metadata.jsonl names the images in 'file_name' but none of its columns ('file_name', 'quality')" in said


# ------------------------------------------------------------------ bad input in annotation files
def _coco_release(tmp_path, images, annotations, categories=None) -> Path:
    root = tmp_path / "coco"
    for k in range(3):
        save(root / "images" / f"P{k:03d}_01.png", scan(k))
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "instances_default.json").write_text(json.dumps({
        "categories": categories or [{"id": 1, "name": "benign"}, {"id": 2, "name": "malignant"}],
        "images": images, "annotations": annotations}))
    return root


def _images(n=3):
    return [{"id": k + 1, "file_name": f"P{k:03d}_01.png", "width": SHAPE[1], "height": SHAPE[0]} for k in range(n)]


def _poly(ann_id, image_id, category=1, k=0, **extra):
    return {"id": ann_id, "image_id": image_id, "category_id": category, "segmentation": [outline(k)],
            "iscrowd": 0, **extra}


def _left(rel) -> dict:
    return {r.item: r.text() for r in rel.summary.left_out}  # as featbus read words them


def test_file_name_outside_the_release_named_not_touched(tmp_path):
    outside = tmp_path / "outside.png"
    save(outside, scan(9))
    images = _images() + [{"id": 9, "file_name": "../../outside.png", "width": 40, "height": 30}]
    root = _coco_release(tmp_path, images, [_poly(1, 1), _poly(2, 2, 2, 1), _poly(3, 3, 1, 2), _poly(4, 9)])
    before = outside.stat().st_atime_ns
    rel = read_release(root)
    assert len(rel.images) == 3 and rel.labels == ["benign", "malignant", "benign"]
    assert _left(rel) == {"annotations/instances_default.json image 9":
                          "outside the release: file_name '../../outside.png'"}
    assert outside.stat().st_atime_ns == before


def test_polygon_outside_its_image_clipped_and_said(tmp_path):
    wide = [-3.0, -2.0, 43.0, -2.0, 43.0, 12.0, -3.0, 12.0]  # within the margin (a tenth of a side): clipped
    root = _coco_release(tmp_path, _images(), [{**_poly(1, 1), "segmentation": [wide]}, _poly(2, 2, 2, 1),
                                               _poly(3, 3, 1, 2)])
    rel = read_release(root)
    mask = rel.masks[0][0].render()
    assert mask.shape == SHAPE and mask[:11].all() and not mask[13:].any()
    assert "1 polygon(s) of annotations/instances_default.json reach outside their image: clipped" in rel.summary.text()
    assert not rel.summary.left_out


def test_rle_of_another_size_left_out_image_kept(tmp_path):
    rle = {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 1,
           "segmentation": {"counts": coco_runs(np.zeros((20, 20), bool)), "size": [20, 20]}}
    root = _coco_release(tmp_path, _images(), [rle, _poly(2, 2, 2, 1), _poly(3, 3, 1, 2)])
    rel = read_release(root)
    assert rel.labels == ["benign", "malignant", "benign"] and rel.masks[0] == ()
    assert _left(rel) == {"annotations/instances_default.json annotation 1": "mask size differs: an RLE of 20x20 "
                          "for 'images/P000_01.png', 40x30 in instances_default.json"}


def test_drawn_mask_of_another_size_than_its_image(tmp_path):
    images = _images()
    images[0].update(width=80, height=60)
    root = _coco_release(tmp_path, images, [_poly(1, 1), _poly(2, 2, 2, 1), _poly(3, 3, 1, 2)])
    rel = read_release(root)
    assert rel.masks[0] == () and len(rel.images) == 3
    assert list(_left(rel).values()) == ["mask size differs: drawn at 80x60, the image 'images/P000_01.png' is 40x30"]


def test_category_without_category_and_annotation_without_image(tmp_path):
    root = _coco_release(tmp_path, _images(), [_poly(1, 1), _poly(2, 2, 7, 1), _poly(3, 3, 1, 2), _poly(4, 42)])
    rel = read_release(root)
    left = _left(rel)
    assert left["annotations/instances_default.json annotation 2"] == "bad annotation: category_id 7 has no category"
    assert left["annotations/instances_default.json annotation 4"] == \
        "no image: image_id 42 is none of instances_default.json's images"
    # the image whose only annotation was refused is no 'normal' scan: left out, named
    assert left["images/P001_01.png"] == \
        "no annotation: no annotation annotations/instances_default.json gives image 2 names a class"
    assert [p.name for p in rel.images] == ["P000_01.png", "P002_01.png"] and rel.labels == ["benign", "benign"]


def test_two_annotation_files_disagree_on_an_image(tmp_path):
    root = _coco_release(tmp_path, _images(), [_poly(1, 1), _poly(2, 2, 2, 1), _poly(3, 3, 1, 2)])
    (root / "second.json").write_text(json.dumps({
        "categories": [{"id": 1, "name": "malignant"}], "images": [_images()[0]], "annotations": [_poly(1, 1)]}))
    rel = read_release(root)
    assert [p.name for p in rel.images] == ["P001_01.png", "P002_01.png"]
    assert _left(rel) == {"images/P000_01.png": "two labels: annotations/instances_default.json says 'benign'; "
                                                "second.json says 'malignant'"}


def test_coco_categories_read_by_the_label_spellings(tmp_path):
    """A category is read as a table's label cell: a class's spelling is the class, said; given classes
    take the spelling they match."""
    root = _coco_release(tmp_path, _images(), [_poly(1, 1), _poly(2, 2, 2, 1), _poly(3, 3, 1, 2)],
                         [{"id": 1, "name": "Benign"}, {"id": 2, "name": "MALIGNANT "}])
    rel = read_release(root)
    assert rel.labels == ["benign", "malignant", "benign"] and rel.summary.classes == {"benign": 2, "malignant": 1}
    assert rel.summary.label_notes == [
        f"the categories of {str(root / 'annotations' / 'instances_default.json')!r}: 'Benign' read "
        "as 'benign' (case differs); 'MALIGNANT ' read as 'malignant' (case and spaces differ)"]
    assert "images listed by annotations/instances_default.json (COCO JSON)" in rel.summary.text()
    assert "table" not in rel.summary.text()  # a JSON file has no columns: never said as a table
    assert read_release(root, classes=["Malignant", "Benign"]).labels == ["Benign", "Malignant", "Benign"]


def test_annotation_label_that_looks_misspelt_refused(tmp_path):
    got = SourceRead(Path("a.json"), entries=[Entry(Path(f"{k}.png"), "Benign") for k in range(9)]
                     + [Entry(Path("9.png"), "Benigh")])
    with pytest.raises(SourceRefused, match=r"image 10 of .*a\.json': label 'Benigh' \(1 image\) looks like a "
                                            r"misspelling of 'Benign' \(9 images\): correct the file"):
        as_table(got, tmp_path)


def test_json_too_large_refused_before_reading(tmp_path, monkeypatch):
    """A JSON of hundreds of MB is refused by its size, unread (a sparse file: no disk written)."""
    root = _coco_release(tmp_path, _images(), [_poly(1, 1), _poly(2, 2, 2, 1), _poly(3, 3, 1, 2)])
    with open(root / "huge.json", "wb") as f:
        f.truncate(300 * 2**20)
    read = Path.read_bytes

    def refuse_huge(self):
        assert self.name != "huge.json", "the huge file was read"
        return read(self)

    monkeypatch.setattr(Path, "read_bytes", refuse_huge)
    rel = read_release(root)
    assert len(rel.images) == 3
    assert ("huge.json (300 MB: a JSON file is refused above featbus.io.MAX_JSON_BYTES = 67,108,864 bytes, unread; "
            "not read)") in rel.summary.text()


def test_json_nested_thousands_deep_refused_before_parsing(tmp_path):
    root = _coco_release(tmp_path, _images(), [_poly(1, 1), _poly(2, 2, 2, 1), _poly(3, 3, 1, 2)])
    (root / "deep.json").write_text("[" * 5000 + "]" * 5000)
    (root / "deep.jsonl").write_text('{"file_name": "x.png"}\n' + '{"a": ' * 3000 + "1" + "}" * 3000 + "\n")
    rel = read_release(root)
    assert len(rel.images) == 3
    text = rel.summary.text()
    assert ("deep.json (nested 5000 deep: a JSON file is refused deeper than featbus.io.MAX_JSON_DEPTH = 64, "
            "unparsed; not read)") in text
    assert "deep.jsonl (not read: annotations/instances_default.json lists the images)" in text
    (root / "annotations" / "instances_default.json").unlink()  # no source lists the images: the tables are read
    assert "deep.jsonl (not a readable table: line 2: nested 3000 deep" in read_release(root).summary.text()


def test_voc_mask_of_two_classes_left_out(tmp_path):
    """A class mask holding two classes' colours: one image under two labels, named."""
    from PIL import Image

    built = SOURCE_LAYOUTS["cvat-voc"](tmp_path)
    mask = built.root / "SegmentationClass" / "P030_01.png"
    index = np.asarray(Image.open(mask)).copy()
    index[0, :5] = 2
    again = Image.fromarray(index, "P")
    again.putpalette(Image.open(mask).getpalette())
    again.save(mask)
    rel = read_release(built.root)
    assert "JPEGImages/P030_01.jpg" not in {_rel(built.root, p) for p in rel.images}
    assert _left(rel)["JPEGImages/P030_01.jpg"] == \
        "two labels: SegmentationClass/P030_01.png holds the colours of benign, malignant"


def test_one_hot_column_named_as_label_refused(tmp_path):
    """``--label-column benign`` on Roboflow's one-hot table would make classes 0 and 1: refused, said why."""
    built = SOURCE_LAYOUTS["roboflow-classification"](tmp_path)
    with pytest.raises(ReleaseError, match=r"--label-column 'benign': .*_classes.csv is one-hot .*drop --label-column"):
        read_release(built.root, label_column="benign")


def test_coco_fields_of_the_wrong_type_name_the_image(tmp_path):
    """An image id that is a list: that image left out, named (never the whole file unread); the rest read."""
    from featbus.datasets.sources import coco

    root = _coco_release(tmp_path, _images(), [_poly(1, 1), _poly(2, 2, 2, 1), _poly(3, 3, 1, 2)])
    (root / "broken.json").write_text(json.dumps({"categories": [], "annotations": [],
                                                  "images": [{"id": [1], "file_name": "images/P000_01.png"}]}))
    rel = read_release(root)
    assert len(rel.images) == 3 and "broken.json (0 images" in rel.summary.text()
    (left,) = coco.read(root, Path("broken.json"), [Path("images/P000_01.png")]).left_out
    assert (left.item, left.reason, left.detail) == ("images/P000_01.png", "bad annotation",
                                                     "broken.json image [1]: its id [1] is no number or name")


def test_voc_unreadable_class_mask_names_its_image(tmp_path):
    built = SOURCE_LAYOUTS["cvat-voc"](tmp_path)
    (built.root / "SegmentationClass" / "P031_02.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    rel = read_release(built.root)
    assert len(rel.images) == len(built.truth) - 1
    assert _left(rel)["JPEGImages/P031_02.jpg"].startswith(
        "bad annotation: its class mask SegmentationClass/P031_02.png is unreadable (UnidentifiedImageError")
    assert len(load_data(built.root, require_labels=True).images) == len(built.truth) - 1


def test_binary_class_columns_beside_a_label_column_are_no_one_hot_table(tmp_path):
    """A table with a label column and 0/1 columns named as classes keeps its label column."""
    root = tmp_path / "both"
    lines = ["image,diagnosis,benign,malignant"]
    for k in range(4):
        save(root / "images" / f"US{k}.png", scan(k))
        lines.append(f"US{k}.png,{('benign', 'malignant')[k % 2]},{1 - k % 2},{k % 2}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    rel = read_release(root)
    assert rel.summary.label_column == "diagnosis" and rel.labels == ["benign", "malignant"] * 2


def test_load_data_of_the_index_draws_the_masks_and_keeps_the_splits(tmp_path):
    """``featbus read --index`` then any command on the index: the drawn masks and the splits
    (``valid`` included) come back as the release gave them."""
    built = SOURCE_LAYOUTS["roboflow-coco"](tmp_path)
    with pytest.warns(UserWarning):
        direct = load_data(built.root)
    rel = read_release(built.root)
    index = tmp_path / "index.csv"
    rel.write_index(index)
    again = load_data(index)
    assert [Path(p).resolve() for p in again.paths] == [Path(p).resolve() for p in direct.paths]
    assert all(np.array_equal(a, b) for a, b in zip(again.masks, direct.masks))
    assert list(again.split) == list(direct.split) and "valid" in set(again.split)


def test_voc_image_without_its_class_mask_named(tmp_path):
    built = SOURCE_LAYOUTS["cvat-voc"](tmp_path)
    (built.root / "SegmentationClass" / "P032_01.png").unlink()
    rel = read_release(built.root)
    assert len(rel.images) == len(built.truth) - 1
    assert _left(rel)["JPEGImages/P032_01.jpg"] == "no annotation: no class mask SegmentationClass/P032_01.png"
    assert _left(rel)["SegmentationObject/P032_01.png"] == "mask of JPEGImages/P032_01.jpg, left out"


def test_sources_name_the_images_they_leave_out_as_text(tmp_path):
    """``LeftOut.item`` is text as each source hands it (the image's release-relative posix path), never a
    ``Path`` only the reader turns into words: a VOC image without its class mask, a COCO image left out
    unannotated."""
    from featbus.datasets._release_scan import walk_release
    from featbus.datasets.sources import extra_suffixes, read_sources

    voc = SOURCE_LAYOUTS["cvat-voc"](tmp_path / "voc")
    (voc.root / "SegmentationClass" / "P032_01.png").unlink()
    coco = build_cvat_coco(tmp_path / "coco")
    for root, unannotated, want in ((voc.root, "normal", "JPEGImages/P032_01.jpg"),
                                    (coco.root, "leave out", "images/P005_01.png")):
        images, tables, _ = walk_release(root, extra_suffixes())
        reads, _ = read_sources(root, tables, images, unannotated)
        items = [r.item for got in reads for r in got.left_out]
        assert want in items and all(isinstance(item, str) for item in items), items
