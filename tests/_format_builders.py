"""Releases as their publishers and tools ship them, built from synthetic frames featbus never saw:
a Kaggle download kept as its ``archive.zip`` (or a tar), MedMNIST's ``.npz``, a Hugging Face Hub
parquet as ``push_to_hub`` writes it, a Roboflow YOLO export (segmentation and detection) and Label
Studio's own JSON export; and the archives an attacker would craft (zip-slip names, links, nested
archives, a member above its budget, a total-size bomb).

Each builder returns what it built and the truth the reader must give (per image: label, patient,
mask pixel count, split), so the tests assert the reader against the files, never against itself.
"""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

SHAPE = (40, 48)  # height, width of every synthetic frame


def frame(k: int, shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """Synthetic frame ``k``: speckle seeded by ``k`` (no two alike) with a darker square."""
    rng = np.random.default_rng(5000 + k)
    image = rng.integers(60, 200, shape, dtype=np.uint8)
    image[8:20, 10:26] //= 3
    return image


def png(array: np.ndarray) -> bytes:
    """``array`` encoded as a PNG file's bytes."""
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def lesion_mask(k: int, shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """A mask of ``3 + k % 4`` rows by 10 columns (its pixel count says which image it is)."""
    mask = np.zeros(shape, np.uint8)
    mask[5:8 + k % 4, 5:15] = 255
    return mask


@dataclass
class Truth:
    """What a built release holds: per image name (the reader's ``os.fspath`` ends with it),
    ``(label, patient key, mask pixels, split)``; ``path`` is what to give ``featbus read``."""

    path: Path
    images: dict[str, tuple] = field(default_factory=dict)


# ------------------------------------------------------------------ archives

def zip_folder(folder: Path, path: Path, base: Path | None = None) -> Path:
    """The files under ``folder`` zipped into ``path``, each named relative to ``base`` (``folder`` itself
    by default), in sorted order: a release zipped as its publisher or a user would."""
    with zipfile.ZipFile(path, "w") as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(base or folder).as_posix())
    return path


BUSI = (("benign", 4), ("malignant", 3), ("normal", 2))


def busi_members() -> tuple[dict[str, bytes], dict[str, tuple]]:
    """The members of a Kaggle BUSI download (``Dataset_BUSI_with_GT/<class>/<class> (k).png`` with
    ``_mask.png``, and ``_mask_1.png`` for the first image of each class) and their truth."""
    members, truth, k = {}, {}, 0
    for label, n in BUSI:
        for j in range(1, n + 1):
            k += 1
            stem = f"Dataset_BUSI_with_GT/{label}/{label} ({j})"
            members[f"{stem}.png"] = png(frame(k))
            members[f"{stem}_mask.png"] = png(lesion_mask(k))
            pixels = int((lesion_mask(k) > 0).sum())
            if j == 1:  # a second lesion, below the first: the union of both
                second = np.zeros(SHAPE, np.uint8)
                second[30:34, 30:40] = 255
                members[f"{stem}_mask_1.png"] = png(second)
                pixels += 40
            truth[f"{label} ({j}).png"] = (label, f"{label}{j}", pixels, None)
    return members, truth


def build_busi_zip(tmp: Path, name: str = "archive.zip") -> Truth:
    """``archive.zip`` as Kaggle serves BUSI (members stored as written, a folder entry first)."""
    members, truth = busi_members()
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Dataset_BUSI_with_GT/", b"")
        for member, data in members.items():
            zf.writestr(member, data)
    return Truth(path, truth)


def build_busi_tar(tmp: Path, name: str = "busi.tar.gz") -> Truth:
    """The same release as a tar (compressed as its name says)."""
    members, truth = busi_members()
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "w:gz" if name.endswith("gz") else "w"
    with tarfile.open(path, mode) as tf:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return Truth(path, truth)


def build_attack_zip(tmp: Path) -> Path:
    """A zip holding one good image beside each member an attacker would craft: ``../evil.png`` and
    ``/etc/evil.png`` (zip-slip), a symbolic link, a nested archive, a duplicate name."""
    path = tmp / "attack.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("benign/inner.png", png(frame(90)))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("benign/good (1).png", png(frame(91)))
        zf.writestr("malignant/good (2).png", png(frame(92)))
        zf.writestr("../evil.png", png(frame(93)))
        zf.writestr("/etc/evil.png", png(frame(94)))
        link = zipfile.ZipInfo("benign/link.png")
        link.external_attr = (0o120777 << 16)  # a symbolic link, as Info-ZIP stores one
        zf.writestr(link, "/etc/passwd")
        zf.writestr("benign/nested.zip", inner.getvalue())
    return path


def build_attack_tar(tmp: Path) -> Path:
    """A tar holding two good images, a symbolic link, a hard link, a FIFO and a ``..`` name."""
    path = tmp / "attack.tar"
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tf:
        for name, k in (("benign/a (1).png", 95), ("malignant/b (1).png", 96), ("../../escape.png", 97)):
            data = png(frame(k))
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, kind in (("benign/sym.png", tarfile.SYMTYPE), ("benign/hard.png", tarfile.LNKTYPE),
                           ("benign/fifo.png", tarfile.FIFOTYPE)):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, "benign/a (1).png"
            tf.addfile(info)
    return path


def table_members() -> tuple[dict[str, bytes], dict]:
    """BrEaST-Lesions-USG's shape, its labels and patients only in its table: ``lesions/images/case<k>.png``
    in one folder (no class folder) named by ``lesions/table.csv`` (``ID`` a path, ``Classification``,
    ``CaseID``: two images a patient, ``Pixel_size``), and a ``LICENSE.txt`` the reader skips."""
    members, rows, truth = {}, ["ID,Classification,CaseID,Pixel_size"], {}
    for k in range(8):
        label, patient = ("benign", "malignant")[k % 2], f"P{k // 2:02d}"
        members[f"lesions/images/case{k}.png"] = png(frame(300 + k))
        rows.append(f"images/case{k}.png,{label.capitalize()},{patient},0.0{k + 1}")
        truth[f"images/case{k}.png"] = (label, patient, 0.01 * (k + 1))
    members["lesions/table.csv"] = ("\n".join(rows) + "\n").encode()
    members["lesions/LICENSE.txt"] = b"CC BY 4.0\n"
    return members, truth


def build_table_release(tmp: Path, name: str) -> tuple[Path, Path, dict]:
    """``(folder, archive, truth)``: :func:`table_members` written as a folder and as the archive ``name``
    (a ``.zip``, or a tar compressed as its name says); ``truth``: each image's label, patient and pixel size."""
    members, truth = table_members()
    folder, path = tmp / "unpacked", tmp / name
    for member, data in members.items():
        (folder / member).parent.mkdir(parents=True, exist_ok=True)
        (folder / member).write_bytes(data)
    if name.endswith(".zip"):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for member, data in members.items():
                zf.writestr(member, data)
    else:
        with tarfile.open(path, "w:gz" if name.endswith("gz") else "w") as tf:
            for member, data in members.items():
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return folder / "lesions", path, truth


# ------------------------------------------------------------------ arrays

MEDMNIST_SPLITS = (("train", 6), ("val", 2), ("test", 3))


def build_medmnist(tmp: Path, name: str = "breastmnist_224.npz", size: int = 28) -> Truth:
    """MedMNIST's file: ``<split>_images`` ``(n, size, size)`` uint8 and ``<split>_labels`` ``(n, 1)``;
    labels alternate 0, 1 (BreastMNIST: 0 malignant, 1 normal, benign)."""
    arrays, truth, k = {}, {}, 0
    names = {0: "malignant", 1: "normal, benign"} if name.startswith("breastmnist") else {0: "0", 1: "1"}
    for split, n in MEDMNIST_SPLITS:
        arrays[f"{split}_images"] = np.stack([frame(100 + k + i, (size, size)) for i in range(n)])
        arrays[f"{split}_labels"] = (np.arange(n) % 2).reshape(-1, 1).astype(np.uint8)
        for i in range(n):
            truth[f"{name}!{split}_images[{i}]"] = (names[i % 2], None, 0, {"val": "valid"}.get(split, split))
        k += n
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return Truth(path, truth)


# ------------------------------------------------------------------ Hugging Face Hub parquet

HF_NAMES = ("benign", "malignant", "normal")
HF_SPLITS = (("train", 6), ("test", 3))


def build_hf_parquet(tmp: Path, card: bool = True, metadata: bool = True) -> Truth:
    """A data set as ``push_to_hub`` writes it: ``README.md`` whose YAML ``dataset_info`` gives the
    label's ``class_label`` names (``card``), ``data/<split>-00000-of-00001.parquet`` with an
    ``image`` struct (bytes + path) and an int64 ``label``, the ``huggingface`` schema metadata
    naming the classes too (``metadata``; upper-cased there, so the tests see which was read)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp / "hf-breast"
    (root / "data").mkdir(parents=True, exist_ok=True)
    if card:
        named = "".join(f"          '{k}': {n}\n" for k, n in enumerate(HF_NAMES))
        (root / "README.md").write_text(
            "---\ndataset_info:\n  features:\n  - name: image\n    dtype: image\n  - name: label\n    dtype:\n"
            f"      class_label:\n        names:\n{named}  splits:\n  - name: train\n    num_examples: 6\n"
            "configs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*\n---\n"
            "# Breast ultrasound\n")
    truth, k = {}, 0
    for split, n in HF_SPLITS:
        labels = [(k + i) % 3 for i in range(n)]
        images = [{"bytes": png(frame(200 + k + i)), "path": f"{split}_{i}.png"} for i in range(n)]
        table = pa.table({"image": images, "label": pa.array(labels, pa.int64())})
        if metadata:
            features = {"image": {"_type": "Image"},
                        "label": {"names": [c.upper() for c in HF_NAMES], "_type": "ClassLabel"}}
            table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
        name = f"{split}-00000-of-00001.parquet"
        pq.write_table(table, root / "data" / name)
        for i, c in enumerate(labels):
            truth[f"{name}!image[{i}]"] = (HF_NAMES[c] if card else HF_NAMES[c].upper() if metadata else str(c),
                                           None, 0, split)
        k += n
    return Truth(root, truth)


# ------------------------------------------------------------------ Roboflow YOLO

YOLO_SPLITS = (("train", 5), ("valid", 2), ("test", 2))


def build_yolo(tmp: Path, segmentation: bool = True) -> Truth:
    """A Roboflow YOLOv8 export: ``data.yaml`` (``names: ['benign', 'malignant']``), ``<split>/images/``
    with renamed frames and ``<split>/labels/`` with a file each: empty for a frame without a lesion
    (every third frame), else one object of the frame's class: a polygon (``segmentation``, the
    square 0.2..0.6 of the width and height) or a box (centre 0.5, 0.5, size 0.5 x 0.5)."""
    root = tmp / ("breast.v2i.yolov8" if segmentation else "breast.v1i.yolov8-det")
    root.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\nnc: 2\n"
                                    "names: ['benign', 'malignant']\n\nroboflow:\n  workspace: w\n  project: breast\n")
    truth, k = {}, 0
    for split, n in YOLO_SPLITS:
        for _ in range(n):
            k += 1
            name = f"P{k:03d}_png.rf.{k * 7919:08x}"
            (root / split / "images").mkdir(parents=True, exist_ok=True)
            (root / split / "labels").mkdir(parents=True, exist_ok=True)
            Image.fromarray(frame(300 + k)).save(root / split / "images" / f"{name}.jpg", quality=95)
            label = root / split / "labels" / f"{name}.txt"
            if k % 3 == 0:
                label.write_text("")
                truth[f"{name}.jpg"] = ("normal", None, 0, split)
                continue
            cls = k % 2
            if segmentation:
                label.write_text(f"{cls} 0.25 0.25 0.75 0.25 0.75 0.75 0.25 0.75\n")
                pixels = 24 * 20  # x 12..36 of 48, y 10..30 of 40: pixel centres inside the polygon
            else:
                label.write_text(f"{cls} 0.5 0.5 0.5 0.5\n")
                pixels = 0
            truth[f"{name}.jpg"] = (("benign", "malignant")[cls], None, pixels, split)
    return Truth(root, truth)


def build_nnunet(tmp: Path) -> Truth:
    """An nnU-Net raw data set (Isensee et al., Nature Methods 2021, doi:10.1038/s41592-020-01008-z), as its
    documentation lays one out: ``Dataset501_BUSI/imagesTr/<case>_0000.png`` (the channel after the case),
    ``labelsTr/<case>.png`` (values 0 and 1), ``imagesTs/`` without labels, ``dataset.json``
    (``channel_names``, ``labels``, ``numTraining``, ``file_ending``). Five training cases, two test cases."""
    root = tmp / "Dataset501_BUSI"
    truth = {}
    for k in range(1, 8):
        part, case = ("Tr" if k <= 5 else "Ts"), f"busi_{k:03d}"
        (root / f"images{part}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame(700 + k)).save(root / f"images{part}" / f"{case}_0000.png")
        pixels = 0
        if part == "Tr":
            (root / "labelsTr").mkdir(exist_ok=True)
            Image.fromarray((lesion_mask(k) > 0).astype(np.uint8)).save(root / "labelsTr" / f"{case}.png")
            pixels = int((lesion_mask(k) > 0).sum())
        truth[f"{case}_0000.png"] = (None, None, pixels, "train" if part == "Tr" else "test")
    (root / "dataset.json").write_text(json.dumps({"channel_names": {"0": "US"}, "labels": {"background": 0,
                                                  "lesion": 1}, "numTraining": 5, "file_ending": ".png"}))
    return Truth(root, truth)


def build_labelme(tmp: Path) -> Truth:
    """LabelMe's files as the tool saves them (Wada, *labelme*, https://github.com/wkentaro/labelme): each image's
    ``<name>.json`` beside it in ``scans/``, ``shapes`` in pixels, ``imagePath`` relative (one saved absolute, on
    Windows), ``imageData`` null. Eight frames: polygons of the class (two frames each with two), a circle, a
    rectangle (kept as a box, no mask), a line (drawn nowhere) beside a polygon, and a frame with no shape."""
    root = tmp / "labelme-project"
    (root / "scans").mkdir(parents=True, exist_ok=True)
    truth = {}
    square = [[12, 10], [35, 10], [35, 29], [12, 29]]  # pixel centres 12..35 x 10..29: 24 x 20
    for k in range(1, 9):
        name = f"P{(k + 1) // 2:02d}_{k}"
        Image.fromarray(frame(800 + k)).save(root / "scans" / f"{name}.png")
        label = ("benign", "malignant")[k % 2]
        shapes, pixels = [{"label": label, "points": square, "shape_type": "polygon"}], 480
        if k in (3, 4):  # a second polygon beside the first, their union
            shapes.append({"label": label, "points": [[2, 2], [5, 2], [5, 5], [2, 5]], "shape_type": "polygon"})
            pixels += 16
        if k == 5:
            shapes, pixels = [{"label": label, "points": [[20, 20], [23, 20]], "shape_type": "circle"}], None
        if k == 6:
            shapes, pixels = [{"label": label, "points": [[12, 10], [35, 29]], "shape_type": "rectangle"}], 0
        if k == 7:
            shapes.append({"label": label, "points": [[1, 1], [9, 9]], "shape_type": "line"})
        if k == 8:
            shapes, label, pixels = [], "normal", 0
        path = f"C:\\Users\\reader\\labelme-project\\scans\\{name}.png" if k == 2 else f"{name}.png"
        (root / "scans" / f"{name}.json").write_text(json.dumps({
            "version": "5.4.1", "flags": {}, "shapes": [{**s, "group_id": None, "description": "", "flags": {},
                                                         "mask": None} for s in shapes],
            "imagePath": path, "imageData": None, "imageHeight": SHAPE[0], "imageWidth": SHAPE[1]}, indent=2))
        truth[f"{name}.png"] = (label, f"P{(k + 1) // 2:02d}", pixels, None)
    return Truth(root, truth)


def build_roboflow_masks(tmp: Path) -> Truth:
    """Roboflow's "Semantic Segmentation Masks" export (its documentation's layout): ``train/``, ``valid/``,
    ``test/``, each frame ``<name>_png.rf.<hash>.jpg`` beside ``<name>_png.rf.<hash>_mask.png`` whose pixel
    values are the classes (0 the background, 1 benign, 2 malignant) and ``_classes.csv`` in each split
    (``Pixel Value, Class``). Every fifth frame's mask holds only the background."""
    root = tmp / "breast-us.v3i.png-mask-semantic"
    truth, k = {}, 0
    for split, n in YOLO_SPLITS:
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / split / "_classes.csv").write_text("Pixel Value, Class\n0, background\n1, benign\n2, malignant\n")
        for _ in range(n):
            k += 1
            name = f"US{k:03d}_png.rf.{k * 7919:08x}"
            Image.fromarray(frame(900 + k)).convert("RGB").save(root / split / f"{name}.jpg", quality=95)
            value = 0 if k % 5 == 0 else 1 + k % 2
            Image.fromarray((lesion_mask(k) > 0).astype(np.uint8) * value).save(root / split / f"{name}_mask.png")
            truth[f"{name}.jpg"] = (("normal", "benign", "malignant")[value], None,
                                    int((lesion_mask(k) > 0).sum()) if value else 0, split)
    return Truth(root, truth)


# ------------------------------------------------------------------ Label Studio

def brush_encode(mask: np.ndarray) -> list[int]:
    """``mask`` in Label Studio's brush RLE (RGBA values, the alpha 255 on the mask): one run block
    per run of equal values, run lengths of 16 bits, values of 8 (the encoder's own choice of sizes)."""
    values = np.zeros(mask.size * 4, np.uint8)
    values[3::4] = np.where(mask.reshape(-1), 255, 0)
    bits: list[int] = []

    def put(v: int, n: int) -> None:
        bits.extend(int(b) for b in format(v, f"0{n}b"))

    put(len(values), 32)
    put(7, 5)
    for _ in range(4):
        put(15, 4)
    i = 0
    while i < len(values):
        j = i
        while j < len(values) and values[j] == values[i] and j - i < 65536:
            j += 1
        put(1, 1)
        put(0, 2)
        put(j - i - 1, 16)
        put(int(values[i]), 8)
        i = j
    bits += [0] * (-len(bits) % 8)
    return np.packbits(np.array(bits, np.uint8)).tolist()


def build_labelstudio(tmp: Path) -> Truth:
    """Label Studio's JSON export beside its uploaded images (``images/<8-hex>-patientNNN_K.png``, two
    frames a patient): a ``choices`` class on all but the last task (no result: a frame without a
    lesion), a polygon on task 1 (20..60 % of each side), a rectangle on task 2 (kept as a box), a
    brush stroke on task 3 (rows 5..15, columns 10..30)."""
    root = tmp / "label-studio"
    (root / "images").mkdir(parents=True, exist_ok=True)
    h, w = SHAPE
    tasks, truth = [], {}
    for k in range(6):
        name = f"{(k + 1) * 0x1a2b3c4d % 0xffffffff:08x}-patient{k // 2:03d}_{k % 2 + 1}.png"
        Image.fromarray(frame(400 + k)).save(root / "images" / name)
        label = ("malignant", "benign")[k % 2] if k < 5 else "normal"
        result = [{"type": "choices", "from_name": "class", "to_name": "image", "value": {"choices": [label]}}] \
            if k < 5 else []
        pixels = 0
        if k == 0:
            result.append({"type": "polygonlabels", "original_width": w, "original_height": h, "value": {
                "points": [[20, 20], [60, 20], [60, 60], [20, 60]], "polygonlabels": ["lesion"]}})
            pixels = int(round(0.4 * w)) * int(round(0.4 * h))
        elif k == 1:
            result.append({"type": "rectanglelabels", "original_width": w, "original_height": h, "value": {
                "x": 10, "y": 10, "width": 20, "height": 30, "rotation": 0, "rectanglelabels": ["lesion"]}})
        elif k == 2:
            stroke = np.zeros(SHAPE, bool)
            stroke[5:15, 10:30] = True
            result.append({"type": "brushlabels", "original_width": w, "original_height": h, "value": {
                "format": "rle", "rle": brush_encode(stroke), "brushlabels": ["lesion"]}})
            pixels = 200
        tasks.append({"id": k + 1, "data": {"image": f"/data/upload/1/{name}"},
                      "annotations": [{"id": k + 100, "was_cancelled": False, "result": result}]})
        truth[name] = (label, f"patient{k // 2:03d}", pixels, None)
    (root / "project-1-at-2024-05-01-10-00-3f2a1b0c.json").write_text(json.dumps(tasks))
    return Truth(root, truth)
