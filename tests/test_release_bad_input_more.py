"""Bad input found on the way (issue 101 item 7): each refused or named in one line, nothing read
beyond a budget and nothing lost. Memory-hungry inputs run in a child process with an address-space
cap (:data:`CAP_BYTES`), so a regression fails the test instead of taking the machine down."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _format_builders import build_hf_parquet, build_yolo

from featbus.datasets import read_release

#: The address space a child read may use: far below what the bombs took before (2.3-2.5 GB), far
#: above what a read of these small releases needs with numpy, pandas and pyarrow imported.
CAP_BYTES = 3 * 1024**3

#: A "billion laughs" in YAML: nine levels of ten aliases each, 10^9 values once expanded.
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def _capped_read(root: Path) -> subprocess.CompletedProcess:
    """``featbus read root`` in a child process whose address space is capped at :data:`CAP_BYTES`."""
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({CAP_BYTES}, {CAP_BYTES}))
        from featbus.cli import main
        sys.exit(main(["read", {str(root)!r}]))
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          cwd=root.parent)


def test_a_yolo_data_yaml_whose_names_are_an_alias_bomb_is_refused_in_words(tmp_path):
    truth = build_yolo(tmp_path)
    (truth.path / "data.yaml").write_text(BOMB + "names: *i\nnc: 2\n")
    done = _capped_read(truth.path)
    out = done.stdout + done.stderr
    assert "MemoryError" not in out and "Traceback" not in out
    assert "data.yaml" in out and "more than 100000 values once its aliases are expanded" in out


def test_a_dataset_card_whose_yaml_is_an_alias_bomb_names_no_classes_and_says_why(tmp_path):
    truth = build_hf_parquet(tmp_path, metadata=False)
    card = truth.path / "README.md"
    card.write_text("---\n" + BOMB + "dataset_info: *i\n---\n# a card\n")
    done = _capped_read(truth.path)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "MemoryError" not in out and "Traceback" not in out
    assert "The dataset card README.md names no classes: its YAML front matter is refused" in out


def test_a_dataset_card_whose_yaml_does_not_parse_is_said_not_dropped(tmp_path):
    truth = build_hf_parquet(tmp_path, metadata=False)
    card = truth.path / "README.md"
    card.write_text(card.read_text().replace("dataset_info:\n", "dataset_info:\n  features: [\n", 1))
    rel = read_release(truth.path)
    text = rel.summary.text()
    assert "The dataset card README.md names no classes: its YAML front matter does not parse" in text
    assert text.count("The dataset card README.md") == 1  # two parquet files share the card: said once
    assert "read as class numbers" in text  # the classes that follow are said to be numbers
    assert set(rel.class_order) == {"0", "1", "2"}


def test_a_good_dataset_card_still_names_the_classes(tmp_path):
    truth = build_hf_parquet(tmp_path, metadata=False)
    rel = read_release(truth.path)
    assert "names no classes" not in rel.summary.text()
    assert {c for c in rel.labels} == {label for label, *_ in truth.images.values()}


def test_a_yolo_data_yaml_with_aliases_inside_the_bounds_still_reads(tmp_path):
    truth = build_yolo(tmp_path)
    text = (truth.path / "data.yaml").read_text()
    (truth.path / "data.yaml").write_text("base: &b ../train/images\n" + text)
    rel = read_release(truth.path)
    assert set(rel.class_order) >= {"benign", "malignant"}


def test_yolo_polygons_with_nan_inf_or_far_outside_the_image_leave_the_image_out_by_line(tmp_path):
    """A coordinate that is NaN, infinite or far outside 0-1 (beyond ``YOLO_MARGIN``) is never drawn:
    its image is left out naming the label file's line (its other objects alone would misstate it);
    a coordinate just past the edge (rounding) is clipped when drawn, as before."""
    truth = build_yolo(tmp_path)
    labels = sorted((truth.path / "train" / "labels").glob("*.txt"))
    drawn = [f for f in labels if f.read_text()]
    spoilt = {drawn[0]: "0 0.25 0.25 nan 0.25 0.75 0.75 0.25 0.75\n",
              drawn[1]: "1 0.25 0.25 0.75 0.25 0.75 inf 0.25 0.75\n",
              drawn[2]: "0 0.2 0.3 0.7 0.3\n1 0.25 0.25 7.5 0.25 0.75 0.75 0.25 0.75\n"}
    for f, text in spoilt.items():
        f.write_text(text)
    edge = drawn[3]
    edge.write_text(edge.read_text().split()[0] + " 0.25 -0.02 1.03 0.25 0.75 0.75 0.25 0.75\n")
    rel = read_release(truth.path)
    out = {item: detail for item, reason, detail in rel.summary.left_out if reason == "bad annotation"}
    for f, line in zip(spoilt, (1, 1, 2)):
        image = next(i for i in out if Path(i).stem == f.stem)
        assert out[image].startswith(f"train/labels/{f.name} line {line}: coordinate ")
        assert "is not a fraction of the image (0-1)" in out[image]
    assert len(rel.images) == len(truth.images) - 3
    assert any(Path(i).stem == edge.stem for i in rel.images)


def test_an_npz_whose_header_promises_a_petabyte_is_one_line_for_the_array(tmp_path):
    """A MedMNIST-style ``.npz`` whose ``train_images`` header promises 10^15 bytes (100,000 images of
    100,000 x 100,000) is left out as one line for the array, never one per row it promises; its
    other arrays still read."""
    import io
    import zipfile

    import numpy as np

    def npy(shape, dtype, data=b""):
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                   "shape": shape})
        return buf.getvalue() + data

    path = tmp_path / "rel" / "breastmnist.npz"
    path.parent.mkdir()
    good = np.arange(4 * 28 * 28, dtype=np.uint8).reshape(4, 28, 28)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train_images.npy", npy((100_000, 100_000, 100_000), np.uint8))
        zf.writestr("train_labels.npy", npy((100_000, 1), np.uint8))
        zf.writestr("test_images.npy", npy(good.shape, np.uint8, good.tobytes()))
        zf.writestr("test_labels.npy", npy((4, 1), np.uint8, bytes([0, 1, 1, 0])))
    rel = read_release(path.parent)
    left = [x for x in rel.summary.left_out if "train_images" in x.item]
    assert len(left) == 1, left[:3]
    assert left[0].item == "breastmnist.npz!train_images" and left[0].reason == "too large"
    assert "1,000,000,000,000,000 bytes" in left[0].detail and "never read" in left[0].detail
    assert len(rel.images) == 4 and set(rel.splits) == {"test"}


def _png_bytes(k: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.arange(30 * 40).reshape(30, 40) * (k + 1) % 251).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_a_zip_holding_only_a_zip_names_the_nested_archive(tmp_path):
    import io
    import zipfile

    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("benign/a.png", _png_bytes(1))
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr("Dataset/busi.zip", inner.getvalue())
    with pytest.raises(ValueError, match=r"no image files .* in the archive .*outer\.zip.*: only an archive inside "
                                         r"it \('Dataset/busi\.zip'\), not opened: unpack the outer one"):
        read_release(outer)


def test_a_zip_member_whose_name_holds_a_double_slash_is_read(tmp_path):
    """``benign//a (1).png`` is a legal zip name: listed as ``benign/a (1).png`` and read by its exact name."""
    import zipfile

    path = tmp_path / "busi.zip"
    with zipfile.ZipFile(path, "w") as z:
        for k, name in enumerate(["benign//a (1).png", "benign/a (2).png", "malignant/./b (1).png",
                                  "malignant/b (2).png"]):
            z.writestr(name, _png_bytes(k))
    rel = read_release(path)
    assert not rel.summary.left_out, rel.summary.left_out
    assert sorted(Path(str(i)).name for i in rel.images) == ["a (1).png", "a (2).png", "b (1).png", "b (2).png"]
    assert [im.shape for im in rel.to_bunch(require_labels=True, guess_groups=False).images] == [(30, 40)] * 4


@pytest.mark.parametrize("name", ["busi.tar", "busi.tar.gz"])
def test_a_tar_cut_short_after_a_member_says_so(tmp_path, name):
    """A tar cut where its next member's header began reads every member up to there, and the paragraph
    says the archive was cut short (it said "nothing left out" while the next member was lost); a tar
    cut inside a member's data is refused whole, in one line."""
    import gzip
    import tarfile

    from _format_builders import build_busi_tar

    whole = build_busi_tar(tmp_path / "whole", "busi.tar").path
    with tarfile.open(whole) as tf:
        last = [m for m in tf.getmembers() if m.isreg()][-1]
    data = whole.read_bytes()[:last.offset]  # the last member's header and data gone, no end blocks
    cut = tmp_path / name
    cut.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    rel = read_release(cut)
    (item, reason, detail), = [x for x in rel.summary.left_out if x.reason != "mask"]
    assert (item, reason) == (f"{name}!(its end)", "unreadable")
    assert detail.startswith("cut short: the tar ends after its member ") and "whatever followed is lost" in detail
    assert "nothing left out" not in rel.summary.text()
    assert "nothing left out" in read_release(whole).summary.text()  # a whole tar says nothing of the kind
    inside = tmp_path / ("inside-" + name)
    data = whole.read_bytes()[:last.offset_data + last.size // 2]
    inside.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    with pytest.raises(ValueError, match=r"is not a readable tar archive"):
        read_release(inside)


def _tar_header(name: bytes, size: int, kind: bytes) -> bytes:
    """One ustar header block whose size is written in base-256 (any size, 2**40 too)."""
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108], h[108:116], h[116:124] = b"0000644\0", b"0000000\0", b"0000000\0"
    h[124:136] = b"\x80" + size.to_bytes(11, "big")
    h[136:148], h[156:157], h[257:265] = b"00000000000\0", kind, b"ustar\x0000"
    h[148:156] = b" " * 8
    h[148:156] = f"{sum(h):06o}\0 ".encode()
    return bytes(h)


@pytest.mark.parametrize("kind", [b"x", b"g", b"L", b"K"])
def test_a_tar_extended_header_claiming_a_terabyte_is_refused_before_it_is_read(tmp_path, kind):
    """A 2 KB tar whose PAX header (or GNU long name) claims 2**40 bytes: tarfile read it whole (MemoryError, the
    read lost, no file named); now refused in one line naming the archive, the member and the limit."""
    path = tmp_path / "scans.tar"
    path.write_bytes(_tar_header(b"PaxHeader", 1 << 40, kind) + b"20 path=benign_2.png\n".ljust(512, b"\0")
                     + bytes(1024))
    with pytest.raises(ValueError) as refused:
        read_release(path)
    words = str(refused.value)
    assert "scans.tar' has, before its member 1 (at byte 0), a " in words and "\n" not in words
    assert "of 1,099,511,627,776 bytes, more than featbus.io.MAX_TAR_HEADER_BYTES" in words


def test_a_tar_extended_header_is_read_within_its_budget_and_refused_above(tmp_path, monkeypatch):
    """A PAX tar whose members carry long names and an 8 KB PAX record reads as before; above the limit (lowered
    here) its header is refused before it is read, in one line, as is a chain of extended headers (tarfile
    follows each by recursion: a RecursionError) and a tar.gz that does not open (a line per method it tried)."""
    import gzip
    import io
    import tarfile

    from featbus import io as fio

    path = tmp_path / "busi.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for k, member in enumerate(["benign", "benign", "malignant", "malignant"]):
            info = tarfile.TarInfo(f"{member}/{'a' * 120} ({k}).png")
            data = _png_bytes(k)
            info.size, info.pax_headers = len(data), {"comment": "x" * 8192}
            tf.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(fio, "MAX_TAR_HEADER_BYTES", 4096)
    with pytest.raises(ValueError, match=r"busi\.tar\.gz' has, before its member 1 \(at byte 0\), a PAX header of "
                                         r"8,\d{3} bytes, more than featbus\.io\.MAX_TAR_HEADER_BYTES = 4,096"):
        read_release(path)
    monkeypatch.undo()
    assert sorted(i.name for i in read_release(path).images) == [f"{'a' * 120} ({k}).png" for k in range(4)]
    chain = tmp_path / "chain.tar"
    record = b"20 path=benign_2.png\n".ljust(512, b"\0")
    chain.write_bytes((_tar_header(b"PaxHeader", 21, b"x") + record) * 2000 + bytes(1024))
    with pytest.raises(ValueError, match=r"chain\.tar' has, before its member 1 \(at byte 16,384\), more than 16 "
                                         r"extended headers in a row: not opened$"):
        read_release(chain)
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(gzip.compress(b"not a tar" * 100))
    with pytest.raises(ValueError, match=r"is not a readable tar archive \(ReadError: .*method gz.*\)$") as refused:
        read_release(damaged)
    assert "\n" not in str(refused.value)


def test_a_hub_parquet_whose_image_is_one_value_in_every_row_is_counted_in_each(tmp_path):
    """A 3 KB Hugging Face parquet whose image bytes are dictionary-encoded, one 4 MB value in 600 rows: 2.5 GB once
    decoded where the footer counts 4 MB. It was read whole (a MemoryError under the cap); now refused by what it
    decodes to, naming the file and the limit, before a row is a Python object (the values held once)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    root, n = tmp_path / "hub", 600
    (root / "data").mkdir(parents=True)
    one = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([_png_bytes(0) + bytes(4 << 20)]))
    images = pa.StructArray.from_arrays([one, pa.array([f"im{i}.png" for i in range(n)])], names=["bytes", "path"])
    path = root / "data" / "train-00000-of-00001.parquet"
    pq.write_table(pa.table({"image": images, "label": pa.array([i % 2 for i in range(n)])}), path, compression="zstd")
    assert path.stat().st_size < 64 * 1024
    done = _capped_read(root)
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "MemoryError" not in out and "Traceback" not in out, out[-2000:]
    assert "column 'image.bytes' of " in out and "train-00000-of-00001.parquet' (its first " in out
    assert "more than featbus.io.MAX_ARRAY_BYTES = 2,147,483,648" in out


def test_a_parquet_table_is_bounded_by_what_it_decodes_to_and_by_its_cells(tmp_path, monkeypatch):
    """An imagefolder's ``metadata.parquet`` of a few KB whose text column is one long value in every row
    (dictionary-encoded): checked by its file's bytes, rows and columns only, it was decoded whole and its cells
    taken at any length; now a cell is refused above MAX_FIELD_CHARS as a CSV's is, and the table above
    MAX_TABLE_BYTES by what it decodes to (the shared value counted in each row), before a cell is made."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from _release_builders import build_hf_imagefolder

    from featbus.datasets import _release_tables

    root = build_hf_imagefolder(tmp_path, "parquet").root
    table = root / "data" / "train" / "metadata.parquet"
    plain = pq.read_table(table)
    for chars in (200_000, 100_000):
        note = pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(plain), np.int32)), pa.array(["x" * chars]))
        pq.write_table(plain.append_column("note", note), table)
        if chars == 200_000:
            with pytest.raises(ValueError, match=r"metadata\.parquet' has a cell longer than 131,072 characters \("
                                                 r"column 'note'\): .* above featbus\.io\.MAX_FIELD_CHARS"):
                read_release(root)
    assert len(read_release(root).images) == 9  # six cells of 100,000 characters: within every limit
    monkeypatch.setattr(_release_tables, "MAX_TABLE_BYTES", 300_000)
    assert table.stat().st_size < 300_000
    with pytest.raises(ValueError, match=r"metadata\.parquet' decodes to more than 300,000 bytes \(a value many rows "
                                         r"share counted in each\): .* above featbus\.io\.MAX_TABLE_BYTES = 300,000"):
        read_release(root)


def test_a_brush_stroke_declaring_20000_square_on_a_small_image_is_refused_before_decoding(tmp_path):
    """Label Studio's brush RLE whose result declares 20000 x 20000 (6.4 GB of values) on a 48 x 40
    image: its task is left out naming both sizes, before any value is decoded (a child process with
    its address space capped reads it)."""
    import json

    from _format_builders import build_labelstudio

    truth = build_labelstudio(tmp_path)
    export = next(truth.path.glob("*.json"))
    tasks = json.loads(export.read_text())
    brush = next(r for t in tasks for a in t["annotations"] for r in a["result"] if r["type"] == "brushlabels")
    brush["original_width"] = brush["original_height"] = 20000
    brush["value"]["rle"] = list((20000 * 20000 * 4).to_bytes(4, "big")) + brush["value"]["rle"][4:]
    export.write_text(json.dumps(tasks))
    done = _capped_read(truth.path)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "MemoryError" not in out and "Traceback" not in out, out[-2000:]
    assert "a brush stroke declares 20000x20000, its image is 48x40" in out
    # the task's image is left out once, by its file, with the task named: never again as "lists no such image"
    from featbus.datasets import read_release

    (bad,) = read_release(truth.path).summary.left_out
    assert bad.reason == "bad annotation" and bad.item.startswith("images/") and " task " in bad.detail
    assert "no annotation" not in out


def test_an_unreadable_image_takes_its_mask_files_with_it_named(tmp_path):
    """A folder's image whose header cannot be read is left out, and so is each of its masks, by name:
    none disappears unnamed (the source-listed path already named them)."""
    import numpy as np
    from PIL import Image

    for cls in ("benign", "malignant"):
        (tmp_path / cls).mkdir()
        for k in range(3):
            Image.fromarray(np.full((16, 16), 40 * k, np.uint8)).save(tmp_path / cls / f"{cls}_{k}.png")
            Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / cls / f"{cls}_{k}_mask.png")
    (tmp_path / "benign" / "benign_0.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 8)  # a header cut short
    rel = read_release(tmp_path)
    out = {r.item: (r.reason, r.detail) for r in rel.summary.left_out}
    assert len(rel.images) == 5
    assert out["benign/benign_0_mask.png"] == ("mask", "of benign/benign_0.png, left out")
    assert "benign/benign_0.png" in out


def _coco(tmp_path: Path, images: list[dict], segmentations: list) -> Path:
    """A COCO file over ``len(images)`` frames (``images`` its image records), frame ``k`` annotated ``benign`` or
    ``malignant`` by ``segmentations[k]``, the JSON written as Python's ``json`` writes NaN and infinity."""
    import json

    from _format_builders import frame, png

    root = tmp_path / "coco"
    (root / "images").mkdir(parents=True)
    for k in range(len(images)):
        (root / "images" / f"im{k}.png").write_bytes(png(frame(k)))
    (root / "result.json").write_text(json.dumps({
        "images": images, "categories": [{"id": 1, "name": "benign"}, {"id": 2, "name": "malignant"}],
        "annotations": [{"id": k, "image_id": k, "category_id": 1 + k % 2, "segmentation": s}
                        for k, s in enumerate(segmentations)]}))
    return root


def test_coco_polygons_with_nan_inf_or_far_outside_leave_the_image_out_naming_annotation_and_coordinate(tmp_path):
    """A COCO polygon's coordinate that is NaN, infinite or far outside its image (beyond ``MARGIN``, the rule
    LabelMe and YOLO keep), or a segmentation that is neither polygons nor an RLE, is never drawn (an empty mask
    before): its image is left out naming the annotation and the coordinate; the other images are read."""
    from _format_builders import SHAPE

    h, w = SHAPE
    square = [4.0, 4.0, 20.0, 4.0, 20.0, 20.0, 4.0, 20.0]
    bad = {0: float("nan"), 1: float("inf"), 2: 1e300, 3: 6.0 * w}
    segs = [[square[:-1] + [bad[k]]] if k in bad else [square] for k in range(7)]
    segs[4] = 5
    images = [{"id": k, "file_name": f"im{k}.png", "height": h, "width": w} for k in range(7)]
    rel = read_release(_coco(tmp_path, images, segs))
    out = {r.item: r.detail for r in rel.summary.left_out if r.reason == "bad annotation"}
    for k, v in bad.items():
        assert out.pop(f"images/im{k}.png") == f"result.json annotation {k}: segmentation unread (coordinate {v!r} " \
            f"lies outside the {w}x{h} image)"
    assert out.pop("images/im4.png") == "result.json annotation 4: segmentation unread (of type int: neither " \
        "polygons nor an RLE)"
    assert not out and [p.name for p in rel.images] == ["im5.png", "im6.png"]
    assert all(m[0].render().sum() > 0 for m in rel.masks)


@pytest.mark.parametrize("height", ["1e400", '"abc"', "-5"])
def test_a_coco_image_size_that_is_no_whole_number_leaves_that_image_out_the_rest_read(tmp_path, height):
    """An image's ``height`` of 1e400 (JSON's infinity: an internal OverflowError before), text or a negative
    leaves that image out naming the file, the image and the field; every other image keeps its label (before:
    the whole file was unread, the release unlabelled)."""
    from _format_builders import SHAPE

    images = [{"id": k, "file_name": f"im{k}.png", "height": SHAPE[0], "width": SHAPE[1]} for k in range(4)]
    root = _coco(tmp_path, images, [[[4, 4, 20, 4, 20, 20]]] * 4)
    text = (root / "result.json").read_text()
    (root / "result.json").write_text(text.replace(f'"height": {SHAPE[0]}', f'"height": {height}', 1))
    rel = read_release(root)
    (left,) = rel.summary.left_out
    assert left.item == "images/im0.png" and left.reason == "bad annotation"
    assert left.detail.startswith("result.json image 0: its height ") and "no whole number of pixels" in left.detail
    assert rel.labels == ["malignant", "benign", "malignant"]


def _labelstudio_spoilt(tmp_path: Path, spoil) -> tuple:
    """Label Studio's export (:func:`build_labelstudio`) with ``spoil(tasks)`` applied, read: ``(release,
    the frames' count)``."""
    import json

    from _format_builders import build_labelstudio

    truth = build_labelstudio(tmp_path)
    export = next(truth.path.glob("*.json"))
    tasks = json.loads(export.read_text())
    spoil(tasks)
    export.write_text(json.dumps(tasks).replace("1e+400", "1e400"))
    return read_release(truth.path), len(truth.images)


def _polygon_point(tasks: list, value) -> None:
    tasks[0]["annotations"][0]["result"][1]["value"]["points"][1][0] = value


@pytest.mark.parametrize("spoil, says", [
    (lambda t: t[1].update(annotations=t[1]["annotations"][0]), "its annotations are dict, not a list"),
    (lambda t: t[1]["annotations"][0].update(result=t[1]["annotations"][0]["result"][0]),
     "annotation 0 has no 'result' list of objects"),
    (lambda t: t[1]["annotations"][0]["result"][0].update(value=["benign"]),
     "a 'choices' result's value is list, not an object"),
    (lambda t: _polygon_point(t, float("nan")), "coordinate nan % lies outside the image (0-100 %)"),
    (lambda t: _polygon_point(t, 6000), "coordinate 6000.0 % lies outside the image (0-100 %)"),
    (lambda t: t[1]["annotations"][0]["result"][1].update(original_height=1e400),
     "its original_height inf is no whole number of pixels"),
])
def test_a_label_studio_task_with_a_malformed_result_leaves_its_image_out_named(tmp_path, spoil, says):
    """A task whose ``annotations`` or ``result`` is an object, not a list (read before as no result: 'normal'),
    a result whose ``value`` is a list (before: the whole export unread, called a COCO file), a polygon point
    that is NaN or far outside the image (before: an empty or silently clipped mask), or a size of 1e400
    (before: an internal OverflowError): that task's image is left out, naming the task; the rest is read."""
    rel, n = _labelstudio_spoilt(tmp_path, spoil)
    (left,) = rel.summary.left_out
    assert left.reason == "bad annotation" and left.item.startswith("images/") and " task " in left.detail
    assert left.detail.endswith(f"{says})"), left.detail
    assert len(rel.images) == n - 1 and "COCO" not in rel.summary.text()


def test_a_labelme_size_of_1e400_leaves_its_image_out_naming_the_field(tmp_path):
    """LabelMe's ``imageHeight`` of 1e400 (JSON's infinity; an internal OverflowError before): its image is left
    out naming the file and the field; the other files are read."""
    from _format_builders import build_labelme

    truth = build_labelme(tmp_path)
    first = sorted((truth.path / "scans").glob("*.json"))[0]
    text = first.read_text()
    first.write_text(text.replace('"imageHeight": 40', '"imageHeight": 1e400'))
    rel = read_release(truth.path)
    (left,) = rel.summary.left_out
    assert (left.item, left.reason) == (f"scans/{first.stem}.png", "bad annotation")
    assert left.detail == f"scans/{first.name}: its imageHeight inf is no whole number of pixels"
    assert len(rel.images) == len(truth.images) - 1


@pytest.mark.parametrize("field, says", [
    ("image_id", "no image: image_id [0] is none of result.json's images"),
    ("category_id", "bad annotation: category_id [1] has no category"),
    ("name", "no annotation: no annotation result.json gives image 0 names a class"),
])
def test_a_coco_id_or_category_name_that_is_a_list_is_named_the_rest_read(tmp_path, field, says):
    """An annotation's ``image_id`` or ``category_id``, or a category's ``name``, that is a list (before: the
    whole file unread, the release unlabelled): named, the other images read by their categories."""
    import json

    from _format_builders import SHAPE

    images = [{"id": k, "file_name": f"im{k}.png", "height": SHAPE[0], "width": SHAPE[1]} for k in range(4)]
    root = _coco(tmp_path, images, [[[4, 4, 20, 4, 20, 20]]] * 4)
    data = json.loads((root / "result.json").read_text())
    if field == "name":
        data["categories"][0]["name"] = ["benign"]
    else:
        data["annotations"][0][field] = [data["annotations"][0][field]]
    (root / "result.json").write_text(json.dumps(data))
    rel = read_release(root)
    assert says in [f"{r.reason}: {r.detail}" for r in rel.summary.left_out]
    assert "malignant" in rel.labels and "unreadable" not in rel.summary.text()


def test_a_flat_coco_polygon_is_one_polygon_and_an_rle_size_of_1e400_is_named(tmp_path):
    """``"segmentation": [x, y, ...]`` (supervision's and MyVision's COCO) is one polygon, drawn (it left its image
    out, "'int' object is not iterable"); an RLE whose ``size`` is ``1e400`` leaves its image out naming it (an
    OverflowError made the whole file unreadable)."""
    from _format_builders import SHAPE

    h, w = SHAPE
    square = [4.0, 4.0, 20.0, 4.0, 20.0, 20.0, 4.0, 20.0]
    images = [{"id": k, "file_name": f"im{k}.png", "height": h, "width": w} for k in range(3)]
    root = _coco(tmp_path, images, [square, [square], {"size": [0, w], "counts": [h * w]}])
    text = (root / "result.json").read_text().replace('"size": [0,', '"size": [1e400,')
    (root / "result.json").write_text(text)
    rel = read_release(root)
    assert [p.name for p in rel.images] == ["im0.png", "im1.png"]
    assert rel.masks[0][0].render().sum() == rel.masks[1][0].render().sum() > 0
    assert [(x.item, x.detail) for x in rel.summary.left_out] == [
        ("images/im2.png", "result.json annotation 2: segmentation unread (its RLE size inf is no whole number of "
                           "pixels)")]


def test_a_tar_member_behind_a_refused_header_is_an_unreadable_image_named(tmp_path):
    """An index naming ``rel.tar!b.png`` in a tar whose extended headers are refused: reading its pixels raised the
    refusal as a traceback; it is an unreadable image, named, that ``on_error="skip"`` leaves out."""
    import warnings

    from featbus.datasets import load_data

    record = b"20 path=benign_2.png\n".ljust(512, b"\0")
    (tmp_path / "rel.tar").write_bytes((_tar_header(b"PaxHeader", 21, b"x") + record) * 40 + bytes(1024))
    (tmp_path / "index.csv").write_text("image,label\nrel.tar!b.png,benign\nrel.tar!c.png,malignant\n")
    with warnings.catch_warnings(record=True) as said, pytest.raises(ValueError, match="no readable image"):
        warnings.simplefilter("always")
        load_data(tmp_path / "index.csv", on_error="skip")
    assert any("rel.tar!b.png" in str(w.message) and "more than 16 extended headers" in str(w.message)
               for w in said)


def test_a_parquet_table_of_many_rows_is_read_in_few_batches(tmp_path):
    """One row group of 20,000 rows: the batch size was the limit over the whole group's bytes, so batches shrank
    as the table grew (rows squared); a row now takes its share of each column chunk."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from featbus.datasets._release_tables import PARQUET_BATCH_ROWS, parquet_batches
    from featbus.io import MAX_TABLE_BYTES

    n = 20_000
    path = tmp_path / "metadata.parquet"
    pq.write_table(pa.table({"file_name": [f"images/{k:06d}.png" for k in range(n)],
                             "label": ["benign" if k % 3 else "malignant" for k in range(n)]}), path)
    batches = list(parquet_batches(path, MAX_TABLE_BYTES)[1])
    assert len(batches) == 1 and PARQUET_BATCH_ROWS >= n and sum(len(b) for b in batches) == n
