"""Pascal VOC / CVAT "Segmentation mask 1.1" as a release's source (:mod:`featbus.datasets.sources`):
``JPEGImages/<name>.jpg`` with ``SegmentationClass/<name>.png``, whose colours are the classes that
``labelmap.txt`` names (``benign:250,50,83::``, CVAT's ``label:color_rgb:parts:actions``); the splits
from ``ImageSets/Segmentation/<split>.txt``. A mask of background only is a scan without a lesion
(``normal``); ``SegmentationObject/`` (one colour per lesion) repeats the class masks and is not used.
The class is read from each mask's pixels (as Roboflow's semantic masks give theirs,
:mod:`.roboflow_masks`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...io import MAX_IMAGE_PIXELS, limit_words, list_folder
from .._release_rules import split_of
from ._base import SourceRead
from .coco import as_table
from .yolo import bounded_text

__all__ = ["NAME", "read", "recognise"]

NAME = "Pascal VOC segmentation masks"
#: Pascal VOC's boundary colour ("void"): neither a class nor background.
VOID = (224, 224, 192)


def recognise(files: list[Path]) -> list[Path]:
    """Each ``labelmap.txt`` and the ``ImageSets/`` lists beside it."""
    maps = [f for f in files if f.name.casefold() == "labelmap.txt"]
    bases = {m.parent for m in maps}
    return maps + [f for f in files if f.suffix.lower() == ".txt" and "imagesets" in (p.casefold() for p in f.parts)
                   and any(b in f.parents for b in bases)]


def read(root: Path, file: Path, files: list[Path], unannotated: str = "normal",
         options: dict | None = None) -> SourceRead:
    """Each image of ``JPEGImages/`` beside ``file`` (a ``labelmap.txt``) with its class mask, its
    class the mask's colour, said as its table (:func:`~.coco.as_table`); an ``ImageSets``
    list gives nothing of its own (its labelmap reads it)."""
    from PIL import Image

    got = SourceRead(file)
    if file.name.casefold() != "labelmap.txt":
        return got
    got.claims_images, base = True, file.parent
    colours: dict[tuple, str] = {}
    for line in bounded_text(root / file).splitlines():
        name, _, rest = line.partition(":")
        rgb = rest.split(":", 1)[0].split(",")
        if line.startswith("#") or len(rgb) != 3 or not all(v.strip().isdigit() for v in rgb):
            continue
        colours[tuple(int(v) for v in rgb)] = name.strip()
    background = {c for c, n in colours.items() if n.casefold() in ("background", "_background_")} | {(0, 0, 0)}
    lists, _ = list_folder(root / base / "ImageSets", (".txt",))  # the one listing: regular files inside only
    split = {name: split_of(f.stem) for f in lists if split_of(f.stem)
             for name in bounded_text(root / base / "ImageSets" / f).split()}
    known = set(files)
    unknown: set = set()
    for img in files:
        if img.parent != base / "JPEGImages":
            continue
        mask = base / "SegmentationClass" / f"{img.stem}.png"
        if mask not in known:
            got.out(img.as_posix(), "no annotation", f"no class mask {mask.as_posix()}")
            continue
        try:
            with Image.open(root / mask) as im:
                if im.size[0] * im.size[1] > MAX_IMAGE_PIXELS:  # the header's size, before a pixel is decoded
                    raise ValueError(f"{im.size[0]} x {im.size[1]} pixels, above {limit_words('MAX_IMAGE_PIXELS')}")
                rgb = np.unique(np.asarray(im.convert("RGB")).reshape(-1, 3), axis=0)
            found = {tuple(int(v) for v in c) for c in rgb} - background - {VOID}
        except Exception as exc:  # noqa: BLE001 - PIL raises many kinds for a damaged or oversized file
            got.out(img.as_posix(), "bad annotation", f"its class mask {mask.as_posix()} is unreadable "
                    f"({type(exc).__name__}: {exc})")
            continue
        unknown |= {c for c in found if c not in colours}
        got.annotated(img, {colours[c] for c in found if c in colours}, "normal",  # background only: 'normal', said
                      f"{mask.as_posix()} holds the colours of", "", mask, split=split.get(img.stem))
    n = sum(e.label == "normal" for e in got.entries)
    got.close("the masks' colours, named in {file}", "SegmentationClass/ beside JPEGImages/",
              n and f"{n} mask(s) of background only read as 'normal' (a scan without a lesion).",
              unknown and f"colours {sorted(unknown)[:3]} of SegmentationClass/ are named by no line of "
              f"{file.as_posix()}: not read as a class.")
    return as_table(got, root, options)
