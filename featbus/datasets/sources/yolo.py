"""Ultralytics YOLO detection and segmentation, as Roboflow and CVAT export them: a ``data.yaml``
whose ``names`` are the classes (a list, or ``{0: benign, ...}``), and beside each image under an
``images/`` folder its label file under the matching ``labels/`` folder (``train/images/a.jpg`` ->
``train/labels/a.txt``; CVAT's ``images/train/`` -> ``labels/train/``).

A label file holds one object a line, coordinates normalised to the image's width and height:
``class x_centre y_centre width height`` (a box) or ``class x1 y1 x2 y2 ...`` (a polygon, at least
three points). An image's class is its objects' class (objects of two classes: left out, named);
its polygons are drawn into its mask, their union (:class:`~featbus.datasets.sources.DrawnMask`);
boxes are kept as boxes (the entry's ``meta["boxes"]``, pixels ``x0, y0, x1, y1``), no mask drawn,
said. An empty label file, or none (Ultralytics' background image), is a frame with no lesion:
class ``normal``, said (``unannotated="leave out"`` leaves it out). The split is the folder above.
"""

from __future__ import annotations

from pathlib import Path

from ... import io as limits
from ...io import header_shape, limit_words
from .._release_rules import IMAGE_SUFFIXES, folder_split
from .._release_tables import SourceError
from ._base import DrawnMask, SourceRead, off_image

__all__ = ["NAME", "SUFFIXES", "bounded_text", "bounded_yaml", "index_mask", "label_file", "pixels", "read",
           "recognise"]

NAME = "YOLO labels"
SUFFIXES = (".yaml", ".yml")


def label_file(image: Path) -> Path | None:
    """The label file Ultralytics pairs with ``image``: its last ``images`` folder as ``labels``, ``.txt``."""
    parts = list(image.parts)
    at = max((k for k, p in enumerate(parts[:-1]) if p.casefold() == "images"), default=None)
    if at is None:
        return None
    parts[at] = "Labels" if parts[at] == "Images" else "labels"
    return Path(*parts).with_suffix(".txt")


NO_LESION = "frames with no lesion, read as 'normal'."


def recognise(files: list[Path]) -> list[Path]:
    """Each ``data.yaml`` (or ``.yml``) and the ``labels/`` files under its folder."""
    yamls = [f for f in files if f.name.casefold() in ("data.yaml", "data.yml")]
    bases = {y.parent for y in yamls}
    return yamls + [f for f in files if f.suffix.lower() == ".txt" and "labels" in (p.casefold() for p in f.parts)
                    and any(b in f.parents for b in bases)]


def bounded_text(path: Path, limit: str = "MAX_TABLE_BYTES") -> str:
    """A source's text file (a data.yaml, a label file, VOC's labelmap, a dataset card), within the bytes
    of the :mod:`featbus.io` limit ``limit`` (a table's), else a :class:`SourceError` saying its size."""
    size = path.stat().st_size
    if size > getattr(limits, limit):
        raise SourceError(f"{size:,} bytes: refused above {limit_words(limit)}, unread")
    return path.read_text(encoding="utf-8", errors="replace")


def bounded_yaml(text: str, what: str = "its YAML"):
    """``text`` parsed as YAML within bounds (:func:`featbus.pipelines._yaml.read_yaml`), else a
    :class:`SourceError` saying ``what`` is refused or does not parse."""
    from ...pipelines._yaml import YAMLRefused, read_yaml  # here: a cold predict imports no pipelines

    try:
        return read_yaml(text)
    except YAMLRefused as exc:
        raise SourceError(f"{what} is refused ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - the YAML's own error, named
        raise SourceError(f"{what} does not parse ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None


def pixels(xy: list[float], size: tuple[int, int]) -> tuple:
    """A polygon's ``x, y`` pairs in fractions of the image's width and height (YOLO's, Label Studio's
    percent over 100) in pixels of an image of ``size`` (height, width)."""
    return tuple(v * (size[1] if k % 2 == 0 else size[0]) for k, v in enumerate(xy))


def index_mask(path: Path, ref: str) -> DrawnMask | None:
    """The mask an index names ``labels/a.txt#<width>x<height>`` (the polygons of that label file drawn
    at the image's size), else None."""
    try:
        w, h = (int(v) for v in ref.split("x"))
        lines = ([float(v) for v in line.split()[1:]] for line in bounded_text(path).splitlines())
        polygons = tuple(pixels(xy, (h, w)) for xy in lines if len(xy) >= 6 and not len(xy) % 2)
        return DrawnMask(path, ref, (h, w), polygons)
    except (OSError, ValueError, SourceError):
        return None


def read(root: Path, file: Path, images: list[Path] | None, unannotated: str = "normal") -> SourceRead:
    """``data.yaml``: every image under an ``images/`` folder beside it, with its label file's objects;
    a label file itself: nothing (read with its ``data.yaml``)."""
    if file.suffix.lower() == ".txt":
        return SourceRead(file)
    got = SourceRead(file, claims_images=True)
    meta = bounded_yaml(bounded_text(root / file))
    names = meta.get("names") if isinstance(meta, dict) else None  # a list, or a mapping (``0: benign``)
    if not isinstance(names, (list, dict)):
        raise SourceError("no 'names' list of classes (is it a YOLO data.yaml?)")
    names = {int(k): str(v) for k, v in (enumerate(names) if isinstance(names, list) else names.items())}
    base = file.parent
    where = file.as_posix()
    boxed, empty, missing = [], 0, 0
    for img in images or ():
        if img.suffix.lower() not in IMAGE_SUFFIXES or base not in img.parents:  # "." is every relative path's
            continue
        lab = label_file(img)
        if lab is None:
            continue
        objects, boxes, polygons, spoilt = [], [], [], None
        shape, problem = header_shape(root / img)
        labelled = (root / lab).is_file()
        missing += not labelled
        for n, line in enumerate(bounded_text(root / lab).splitlines() if labelled else (), 1):
            fields = line.split()
            if not fields:
                continue
            item = f"{lab.as_posix()} line {n}"
            try:
                cls, xy = int(fields[0]), [float(v) for v in fields[1:]]
            except ValueError:
                got.out(item, "bad annotation", f"not numbers: {line[:40]!r}")
                continue
            if cls not in names:
                got.out(item, "bad annotation", f"class {cls} is none of {where}'s names")
                continue
            if len(xy) != 4 and (len(xy) < 6 or len(xy) % 2):
                got.out(item, "bad annotation", f"{len(xy)} coordinates: neither a box (4) nor a polygon (6 or more, "
                        "in pairs)")
                continue
            off = off_image(xy, (1, 1))  # fractions: the image's side is 1
            if off is not None:
                spoilt = f"{item}: coordinate {off!r} is not a fraction of the image (0-1)"
                break
            objects.append(names[cls])
            if shape is None:
                continue
            if len(xy) == 4:
                x, y, bw, bh = xy
                boxes.append(pixels([x - bw / 2, y - bh / 2, x + bw / 2, y + bh / 2], shape))
            else:
                polygons.append(pixels(xy, shape))
        if spoilt:  # never drawn, and the image's other objects alone would misstate it: left out, named
            got.out(img.as_posix(), "bad annotation", spoilt)
            continue
        empty += not objects and labelled
        mask = DrawnMask(root / lab, f"{shape[1]}x{shape[0]}", shape, tuple(polygons)) if polygons and shape else None
        if got.annotated(img, set(objects), unannotated, f"{lab.as_posix()} gives objects of the classes",
                         f"{lab.as_posix()} gives no object", mask, [tuple(round(v, 2) for v in b) for b in boxes],
                         split=folder_split(img) or None) and boxes and not polygons:
            boxed.append(img)
    return got.close("the classes of each image's objects, named by {file}",
                     "drawn from the YOLO polygons of each image's label file (their union)",
                     empty and f"{empty} empty label file(s) of {where}'s set: {NO_LESION}",
                     missing and f"{missing} image(s) of {where}'s set without a label file (Ultralytics' background "
                     f"images): {NO_LESION}",
                     boxed and f"{len(boxed)} image(s) of {where}'s set have boxes only (detection labels): kept as "
                     f"boxes (meta 'boxes'), no mask drawn (e.g. {boxed[0].as_posix()}).")
