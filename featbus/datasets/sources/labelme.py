"""LabelMe's JSON files (Wada, *labelme*, https://github.com/wkentaro/labelme), one per image, beside it by
default: ``shapes`` (each a ``label``, ``points`` in pixels and a ``shape_type``), ``imagePath`` (relative to the
JSON, or absolute as the tool saved it), ``imageHeight`` and ``imageWidth``.

Every LabelMe file of the release is read as one source, the first said for all (:func:`read`). An image is the
file ``imagePath`` names relative to its JSON, else the image of that name beside it, else the image of the JSON's
own name (nothing outside the release's images is opened). Its class is its shapes' one label (two: left out,
named); a file without shapes is a scan without a lesion, ``normal``, said (``unannotated="leave out"`` leaves it
out). Polygons and circles are drawn into its mask, their union; rectangles are kept as boxes
(``meta["boxes"]``), lines and points drawn nowhere, said. A bitmap shape (``mask``), coordinates that are not
numbers or lie far outside the declared size (:data:`._base.MARGIN`), or a declared size that is no whole number
or not the image's, leave the image out, named; so does a shape's class that its image's class folder contradicts.
Shape labels that spell no class (``tumor``) on images in class folders (``benign/``): the folders' classes, said.
The patients and splits are the reader's rules over the images' names and folders.
"""

from __future__ import annotations

import math
import posixpath
from pathlib import Path, PurePosixPath

from ...io import header_shape, pixel_limit_problem
from .._release_rules import IMAGE_SUFFIXES, class_of_value, folder_split
from .._release_tables import SourceError, load_json
from ._base import AS_NORMAL, RECTANGLES, DrawnMask, SourceRead, off_image, whole

__all__ = ["NAME", "index_mask", "is_labelme", "read", "recognise"]

NAME = "LabelMe JSON"


def is_labelme(path: Path) -> bool:
    """Whether a JSON file is LabelMe's, by its first kilobyte (an object naming ``shapes``), nothing parsed."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1024).decode("utf-8", "replace")
    except OSError:
        return False
    return head.lstrip().startswith("{") and '"shapes"' in head and ('"version"' in head or '"imagePath"' in head)


def recognise(files: list[Path], *, root: Path) -> list[Path]:
    """The release's LabelMe JSON files (:func:`is_labelme`), in path order."""
    return sorted((f for f in files if f.suffix.lower() == ".json" and is_labelme(root / f)),
                  key=lambda f: f.as_posix())


def _drawn(file: Path, ref: str, data: dict, size: tuple[int, int]) -> tuple[DrawnMask | None, list, int]:
    """``(mask, boxes, shapes drawn nowhere)`` of one file's shapes on an image of ``size`` (height, width);
    a :class:`ValueError` naming the shape that cannot be drawn."""
    h, w = size
    polygons, boxes, skipped = [], [], 0
    for n, shape in enumerate(data.get("shapes") or []):
        kind = str(shape.get("shape_type") or "polygon").lower()
        points = [(float(x), float(y)) for x, y in shape.get("points") or []]
        far = off_image([v for p in points for v in p], size)
        if far is not None:
            raise ValueError(f"shape {n} ({kind}): coordinate {far!r} lies outside the {w}x{h} image")
        if kind == "mask":
            raise ValueError(f"shape {n} is a bitmap ('mask'), which featbus does not draw")
        if kind == "polygon" and len(points) >= 3:
            polygons.append(tuple(v + 0.5 for p in points for v in p))  # LabelMe's points are pixel centres
        elif kind == "circle" and len(points) == 2:
            (cx, cy), (px, py) = points
            r = math.hypot(px - cx, py - cy)
            polygons.append(tuple(v + 0.5 for k in range(64) for v in (cx + r * math.cos(k * math.pi / 32),
                                                                         cy + r * math.sin(k * math.pi / 32))))
        elif kind == "rectangle" and len(points) == 2:
            (x0, y0), (x1, y1) = points
            boxes.append(tuple(round(v, 2) for v in (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))))
        else:
            skipped += 1
    return (DrawnMask(file, ref, size, tuple(polygons)) if polygons else None), boxes, skipped


def _image(file: Path, data: dict, by_path: dict[str, Path]) -> Path | None:
    """The image a LabelMe file names (see the module), ``None`` when none of the release's is."""
    ref = str(data.get("imagePath") or "").replace("\\", "/")
    tries = [posixpath.normpath(posixpath.join(file.parent.as_posix(), ref))] if ref else []
    tries += [(file.parent / PurePosixPath(ref).name).as_posix()] if ref else []
    tries += [(file.parent / (file.stem + s)).as_posix() for s in IMAGE_SUFFIXES]
    return next((by_path[t.casefold()] for t in tries if t.casefold() in by_path), None)


def index_mask(path: Path, ref: str) -> DrawnMask | None:
    """The mask an index names ``<file>.json#<image name>`` (that LabelMe file's shapes drawn at its declared
    size), else None."""
    try:
        data = load_json(path)
        return _drawn(path, ref, data, (whole(data["imageHeight"], "imageHeight"),
                                        whole(data["imageWidth"], "imageWidth")))[0]
    except (OSError, ValueError, TypeError, KeyError, AttributeError, SourceError):
        return None


def read(root: Path, file: Path, images: list[Path] | None, unannotated: str = "normal", *,
         recognised: list[Path] = ()) -> SourceRead:
    """The images of every LabelMe file of the release (``recognised``, else ``file`` alone), each with its
    class, mask and boxes, said as read from ``file``."""
    files = list(recognised) or [file]
    got = SourceRead(file, claims_images=True, said_as=f"the LabelMe set ({len(files)} file(s): {file.as_posix()}"
                     + (f" and {len(files) - 1} more)" if len(files) > 1 else ")"))
    by_path = {img.as_posix().casefold(): img for img in images or ()}
    normal, boxed, skipped, seen, folders = 0, 0, 0, {}, []  # folders: each entry's class folder
    for jf in files:
        where, img = jf.as_posix(), None
        try:
            data = load_json(root / jf)
            if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
                raise SourceError("no 'shapes' list")
            img = _image(jf, data, by_path)
            if img is None:
                got.out(where, "no image", f"its imagePath {data.get('imagePath')!r} names no image of the release"
                        + (" (the image is embedded only, as imageData: save it beside the file)"
                           if data.get("imageData") else ""))
                continue
            if img in seen:
                got.out(where, "duplicate", f"names {img.as_posix()!r}, as {seen[img]} does")
                continue
            seen[img] = where
            shape, problem = header_shape(root / img)
            size = (whole(data.get("imageHeight"), "imageHeight"), whole(data.get("imageWidth"), "imageWidth"))
            size = size if all(size) or problem is not None else tuple(shape)  # none declared: the image's own
            if problem is None and size != tuple(shape):
                raise ValueError(f"it declares {size[1]}x{size[0]}, its image is {shape[1]}x{shape[0]}")
            if problem is None and pixel_limit_problem(size) is not None:
                raise ValueError(pixel_limit_problem(size)[1])
            mask, boxes, rest = _drawn(root / jf, img.name, data, size)
        except (SourceError, OSError) as exc:
            got.out(where, "bad annotation", str(exc))
            continue
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # a field of the wrong shape or type
            got.out(img.as_posix() if img else where, "bad annotation", f"{where}: {exc}")
            continue
        labels = {str(s.get("label")) for s in data["shapes"] if s.get("label") is not None}
        folder = next((p for p in reversed(img.parts[:-1]) if class_of_value(p)), None)
        if len(labels) == 1 and folder and (cls := class_of_value(*labels)) and cls != class_of_value(folder):
            got.out(img.as_posix(), "two labels", f"{where} gives {next(iter(labels))!r}, its class folder {folder!r}: "
                    "correct the file or move the image")
            continue
        if got.annotated(img, labels, unannotated, f"{where} gives shapes of the labels", f"{where} gives no shape",
                         mask, boxes, split=folder_split(img) or None):
            normal += not labels
            boxed += bool(boxes)
            skipped += rest
            folders.append(folder)
    source = "the shape labels of each image's LabelMe file"
    said = sorted({e.label for e in got.entries} - {"normal"})
    if got.entries and all(folders) and not any(map(class_of_value, said)):  # 'tumor' in benign/, malignant/
        for e, folder in zip(got.entries, folders):
            e.label = folder
        source = f"the class folders (the LabelMe shapes' labels, {', '.join(map(repr, said))}, name the lesion, not " \
                 "its class)"
    return got.close(source, "drawn from the polygons and circles of each image's LabelMe file (their union)",
                     normal and f"{normal} LabelMe file(s) without a shape {AS_NORMAL}",
                     boxed and f"{boxed} image(s) of the LabelMe files {RECTANGLES}",
                     skipped and f"{skipped} LabelMe line or point shape(s) drawn into no mask (no region).")
