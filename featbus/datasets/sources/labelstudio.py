"""Label Studio's own JSON export: a list of tasks, each naming its image (``data.image``:
``/data/upload/3/8f3a2b1c-benign_01.png``, an upload keeps its name behind an 8-hex prefix) and its
annotations' results: ``choices`` (the class), ``polygonlabels`` (points in percent of the image's
width and height), ``rectanglelabels`` (``x``, ``y``, ``width``, ``height`` in percent) and
``brushlabels`` (Label Studio's own run-length encoding of an RGBA mask, :func:`brush_decode`).

Reached through the JSON files the COCO source recognises (a JSON list is a Label Studio export):
:func:`read_tasks`. An image is found by its uploaded name, else by that name without the upload
prefix. Its class is its choice, else its regions' one label; a task without a result is a scan
without a lesion (``normal``, said; ``unannotated="leave out"`` leaves it out). Polygons and brush
strokes are drawn into its mask (their union); rectangles are kept as boxes (``meta["boxes"]``, in
pixels), said. A result that is not as Label Studio writes it (``annotations`` or ``result`` no list, a
``value`` no object, a size that is no whole number, a coordinate NaN or far outside the image: the rule of
:func:`~._base.off_image`) leaves its image out, named with its task. The upload prefix is removed for the name
rules: patients from a ``PREFIX_NUMBER`` name (``patient012_1.png``) as the reader finds them in a folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

from ...io import header_shape, pixel_limit_problem
from ._base import AS_NORMAL, RECTANGLES, DrawnMask, SourceRead, brush_decode, off_image, whole
from .yolo import pixels

__all__ = ["NAME", "brush_decode", "read_tasks", "upload_name"]

NAME = "Label Studio JSON"
#: The prefix Label Studio gives an uploaded file's name (8 hexadecimal digits and a hyphen).
UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-", re.IGNORECASE)
_REGIONS = ("polygonlabels", "rectanglelabels", "brushlabels", "labels")


def upload_name(name: str) -> str:
    """``benign_01.png`` for ``8f3a2b1c-benign_01.png``: the name without Label Studio's upload prefix."""
    return UPLOAD_PREFIX.sub("", name, count=1)


def _results(task: dict) -> list:
    """The results of a task's annotations (a cancelled annotation's none); a :class:`ValueError` where its
    ``annotations``, an annotation or its ``result`` is not the list or object Label Studio writes."""
    annotations = task.get("annotations") or []
    if not isinstance(annotations, list):
        raise ValueError(f"its annotations are {type(annotations).__name__}, not a list")
    results = []
    for n, a in enumerate(annotations):
        result = (a.get("result") or []) if isinstance(a, dict) else None
        if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
            raise ValueError(f"annotation {n} has no 'result' list of objects")
        if not a.get("was_cancelled"):
            results += result
    return results


def _fractions(values: list) -> list[float]:
    """A region's coordinates (``x, y`` pairs, in percent of the image's sides) as fractions of the sides; a
    :class:`ValueError` naming one that is no number or lies beyond :data:`._base.MARGIN` of the image (never
    drawn, never clipped silently)."""
    xy = [float(v) for v in values]
    off = off_image(xy, (100, 100))
    if off is not None:
        raise ValueError(f"coordinate {off!r} % lies outside the image (0-100 %)")
    return [v / 100 for v in xy]


def read_tasks(root: Path, file: Path, tasks: list, images: list[Path] | None, unannotated: str = "normal"
               ) -> SourceRead:
    """The images the tasks of ``file`` name, each with its class, mask and boxes."""
    got = SourceRead(file, claims_images=True, source_name=NAME)
    where = file.as_posix()
    by_name: dict[str, list[Path]] = {}
    for img in images or ():
        by_name.setdefault(img.name.casefold(), []).append(img)
        by_name.setdefault("\0" + upload_name(img.name).casefold(), []).append(img)
    boxed, normal, found_names = 0, 0, []
    for k, task in enumerate(tasks):
        item = f"{where} task {task.get('id', k)!r}" if isinstance(task, dict) else f"{where}[{k}]"
        data = task.get("data") if isinstance(task, dict) else None
        ref = next((v for v in (data or {}).values() if isinstance(v, str)), None) if isinstance(data, dict) else None
        if ref is None:
            got.out(item, "bad annotation", "no data.image")
            continue
        name = unquote(ref.replace("\\", "/").rsplit("/", 1)[-1].split("?", 1)[0])
        keys = (name, upload_name(name), "\0" + upload_name(name))  # as named, then without the upload prefix
        img = next((same[0] for same in (by_name.get(k.casefold(), []) for k in keys) if len(same) == 1), None) \
            if images is not None else Path(name)
        if img is None:
            got.out(item, "no image", f"{name!r} is no image of the release")
            continue
        choices, regions, polygons, brushes, boxes, size = set(), set(), [], [], [], None
        try:
            for r in _results(task):
                value = r.get("value") or {}
                if not isinstance(value, dict):
                    raise ValueError(f"a {r.get('type')!r} result's value is {type(value).__name__}, not an object")
                kind = str(r.get("type", "")).lower()
                if r.get("original_width") and r.get("original_height"):
                    size = (whole(r["original_height"], "original_height"),
                            whole(r["original_width"], "original_width"))
                if kind == "choices":
                    choices.update(map(str, value.get("choices") or []))
                    continue
                regions.update(str(v) for key in _REGIONS for v in value.get(key) or [])
                if size is None:
                    continue
                h, w = size
                if kind == "polygonlabels":
                    polygons.append(pixels(_fractions([c for pt in value["points"] for c in pt]), size))
                elif kind == "rectanglelabels":
                    x, y, bw, bh = _fractions([value["x"], value["y"], value["width"], value["height"]])
                    boxes.append(tuple(round(v, 2) for v in (x * w, y * h, (x + bw) * w, (y + bh) * h)))
                elif kind == "brushlabels" and value.get("format", "rle") == "rle":
                    shape = header_shape(root / img)[0] if images is not None else None
                    if shape is not None and tuple(shape) != size:  # before decoding: never a stroke's own size
                        raise ValueError(f"a brush stroke declares {w}x{h}, its image is {shape[1]}x{shape[0]}")
                    if pixel_limit_problem(size) is not None:
                        raise ValueError(f"a brush stroke declares {w}x{h}: {pixel_limit_problem(size)[1]}")
                    brush_decode(value["rle"], size)  # checked now: a bad stroke is named here
                    brushes.append(tuple(value["rle"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:  # the image left out with its task, named
            got.out(img.as_posix(), "bad annotation", f"{item}: a result unread ({type(exc).__name__}: {exc})")
            continue
        mask = DrawnMask(root / file, str(task.get("id", k)), size, tuple(polygons), (), tuple(brushes)) \
            if (polygons or brushes) and size else None
        if got.annotated(img, choices or regions, unannotated, f"{item} gives", f"{item} gives no result", mask,
                         boxes, row={"task": task.get("id", k)}):
            normal += not (choices or regions)
            boxed += bool(boxes)
            found_names.append(Path(upload_name(img.name)))
    if not got.entries:  # nothing read: said as why the file was not used, not as left-out images
        first = got.left_out[0].text() if got.left_out else "no task"
        got.not_used = f"a Label Studio JSON export of {len(tasks)} task(s) naming no image of the release ({first})"
        got.left_out, got.claims_images = [], False
        return got
    from ..name_groups import propose_prefix_groups  # patients from the names without the upload prefix

    groups = propose_prefix_groups(found_names, sorted({e.label for e in got.entries if e.label})) if any(
        UPLOAD_PREFIX.match(e.image.name) for e in got.entries) else None
    if groups is not None:
        for e, g in zip(got.entries, groups):
            e.patient = g
        got.patient_source = "file-name prefix"
        got.patient_detail = f"{found_names[0].name!r} -> {groups[0]!r}, the upload prefix removed"
    return got.close("the choices (else region labels) of {file}", "drawn from the polygons and brush strokes of "
                     "{file}, an image's results joined (their union)",
                     normal and f"{normal} image(s) {where} lists with no result {AS_NORMAL}",
                     boxed and f"{boxed} image(s) of {where} {RECTANGLES}")
