"""COCO JSON as a release's source (:mod:`featbus.datasets.sources`): CVAT's "COCO 1.0"
(``images/`` + ``annotations/instances_default.json``), Roboflow's COCO export (``train/``,
``valid/``, ``test/``, each with ``_annotations.coco.json``), Label Studio's COCO export
(``images/`` + ``result.json``).

Categories are the classes (Roboflow's category 0, the project's name as every other category's
supercategory, is none); an image's polygons and RLE masks (compressed or not) are drawn into one
mask, their union; an image listed with no annotation is a scan without a lesion, class ``normal``
(``unannotated="leave out"`` leaves it out instead). A segmentation that cannot be drawn (neither polygons nor an
RLE, a coordinate NaN or far outside the image: the rule of :func:`~._base.off_image`, runs that do not cover it)
or a size that is no whole number leaves its image out, named. A ``file_name`` is found beside the JSON, in
``images/`` beside it or its folder, else by its unique name in the release.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._release_rules import class_of_value, expected_class, letter_codes
from .._release_tables import SourceRefused, load_json
from .._release_types import ReleaseSummary
from . import labelme
from ._base import AS_NORMAL, DrawnMask, SourceRead, off_image, rle_counts, whole
from ._refs import _while_unchanged
from .table import _refuse_misspelt_labels, spellings

__all__ = ["NAME", "as_table", "index_mask", "read", "recognise"]

NAME = "COCO JSON"


def recognise(files: list[Path]) -> list[Path]:
    """Every ``.json`` file: one that is no COCO file is said, with what it holds (:func:`read`)."""
    return [f for f in files if f.suffix.lower() == ".json"]


def read(root: Path, file: Path, images: list[Path] | None, unannotated: str = "normal",
         options: dict | None = None) -> SourceRead:
    """The images ``file`` lists, each with its category as the label and its drawn mask, said as
    its table (:func:`as_table`)."""
    data = load_json(root / file)
    if isinstance(data, list) and any(isinstance(t, dict) and isinstance(t.get("data"), dict) for t in data[:100]):
        from . import labelstudio  # a list of tasks, each with its 'data': Label Studio's own JSON export

        try:
            return labelstudio.read_tasks(root, file, data, images, unannotated)
        except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:  # a last guard, its own name
            return SourceRead(file, not_used=f"an unreadable {labelstudio.NAME} export ({type(exc).__name__}: {exc})",
                              source_name=labelstudio.NAME)
    got = SourceRead(file, claims_images=True)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or "annotations" not in data:
        got.not_used = ("a JSON list (a Label Studio JSON export? featbus reads its COCO export)"
                        if isinstance(data, list) else
                        f"no COCO file (its keys: {', '.join(list(data)[:6]) if isinstance(data, dict) else '-'})")
        return got
    where, here = file.as_posix(), file.parent
    cats = {_key(c.get("id")): c for c in data.get("categories") or [] if isinstance(c, dict)}
    names = {str(c.get("name")) for c in cats.values()}
    # Roboflow: category 0 is the project (supercategory 'none'), every other category's supercategory
    supers = {i for i, c in cats.items() if len(cats) > 1 and c.get("supercategory") in (None, "", "none")
              and all(o.get("supercategory") == c.get("name") for j, o in cats.items() if j != i)}
    by_name: dict[str, list[Path]] = {}
    for img in images or ():
        by_name.setdefault(img.name.casefold(), []).append(img)
    listed: dict = {}
    for k, im in enumerate(data["images"]):
        if not isinstance(im, dict) or "file_name" not in im:
            got.out(f"{where} images[{k}]", "bad annotation", "no file_name")
            continue
        name = str(im["file_name"]).replace("\\", "/")
        near = (Path(os.path.normpath(b / name)) for b in (here, here / "images", here.parent, here.parent / "images"))
        same = by_name.get(Path(name).name.casefold(), [])
        if images is None:  # no image is read (an index's drawn masks, found by the image's id): the name as written
            found = Path(name)
        elif os.path.isabs(name) or os.path.normpath(os.path.join(here.as_posix(), name)).startswith(".."):
            found = "outside the release"
        else:  # beside the file, in images/ beside it or its folder, else by its unique name in the release
            found = next((c for c in near if c in by_name.get(c.name.casefold(), ())), same[0] if len(same) == 1
                         else "no image")
        if isinstance(found, str):
            got.out(f"{where} image {im.get('id')!r}", found, f"file_name {im['file_name']!r}")
            continue
        try:
            if isinstance(im.get("id"), (list, dict)):
                raise ValueError(f"its id {im['id']!r} is no number or name")
            size = (whole(im.get("height"), "height"), whole(im.get("width"), "width"))
        except ValueError as exc:
            got.out(found.as_posix(), "bad annotation", f"{where} image {im.get('id')!r}: {exc}")
            continue
        listed[im.get("id")] = (found, size, [], [], set())  # image, (height, width), polygons, rles, classes
    clipped, ids, spoilt = [], {_key(im.get("id")) for im in data["images"] if isinstance(im, dict)}, {}
    for k, ann in enumerate(data["annotations"] if isinstance(data["annotations"], list) else []):
        item = f"{where} annotation {ann.get('id', k)!r}" if isinstance(ann, dict) else f"{where} annotations[{k}]"
        given = ann.get("image_id") if isinstance(ann, dict) else None
        image_id = _key(given)
        if not isinstance(ann, dict) or image_id not in listed:
            if image_id not in ids:  # an image left out above is named already
                got.out(item, "no image", f"image_id {given!r} is none of {file.name}'s images")
            continue
        category = _key(ann.get("category_id"))
        found, (h, w), polys, rles, classes = listed[image_id]
        classes.add(None)  # annotated: never a scan without a lesion, whatever its annotations give
        if category not in cats:
            got.out(item, "bad annotation", f"category_id {ann.get('category_id')!r} has no category")
            continue
        if category not in supers:
            name = cats[category].get("name")
            classes.add(name if isinstance(name, (str, int, float)) else None)  # a list or object names no class
        seg = ann.get("segmentation")
        try:
            if isinstance(seg, dict):
                size = tuple(whole(v, "RLE size") for v in seg.get("size", ()))
                if size != (h, w):
                    what = f"{size[1]}x{size[0]}" if len(size) == 2 else f"size {seg.get('size')!r}"
                    got.out(item, "mask size differs",
                            f"an RLE of {what} for {found.as_posix()!r}, {w}x{h} in {file.name}")
                    continue
                runs = rle_counts(seg["counts"])
                if any(r < 0 for r in runs) or sum(runs) != h * w:
                    raise ValueError(f"its runs cover {sum(runs)} pixels, not {h}x{w}")
                rles.append((seg["counts"], size))
            elif isinstance(seg, list):
                flat_one = bool(seg) and all(isinstance(v, (int, float)) for v in seg)  # [x, y, ...]: one polygon
                for flat in [seg] if flat_one else seg:
                    xy = [float(v) for v in flat]
                    if len(xy) < 6 or len(xy) % 2:
                        raise ValueError(f"a polygon of {len(xy)} coordinates")
                    off = off_image(xy, (h, w))
                    if off is not None:
                        raise ValueError(f"coordinate {off!r} lies outside the {w}x{h} image")
                    if min(xy) < 0 or max(xy[0::2]) > w or max(xy[1::2]) > h:
                        clipped.append(item)
                    polys.append(tuple(xy))
            elif seg is not None:
                raise ValueError(f"of type {type(seg).__name__}: neither polygons nor an RLE")
        except (TypeError, ValueError, KeyError, OverflowError) as exc:  # never drawn, its other annotations would
            # misstate it
            spoilt.setdefault(image_id, f"{item}: segmentation unread ({exc})")
    for image_id, (found, size, polys, rles, classes) in listed.items():
        if image_id in spoilt:
            got.out(found.as_posix(), "bad annotation", spoilt[image_id])
            continue
        if classes == {None}:  # annotated, but by no class
            got.out(found.as_posix(), "no annotation", f"no annotation {where} gives image {image_id!r} names a class")
            continue
        classes.discard(None)
        mask = DrawnMask(root / file, str(image_id), size, tuple(polys), tuple(rles)) if polys or rles else None
        got.annotated(found, classes, unannotated, f"{where} gives image {image_id!r} the categories",
                      f"{where} lists image {image_id!r} without one", mask)
    n = sum(e.label == "normal" and not e.masks for e in got.entries) if "normal" not in names else 0
    got.close("the categories of {file}", "drawn from the polygons and RLE of {file}, an image's annotations joined "
              "(their union)", n and f"{n} image{'s' * (n > 1)} {where} lists with no annotation {AS_NORMAL}",
              clipped and f"{len(clipped)} polygon(s) of {where} reach outside their image: clipped to it (e.g. "
              f"{clipped[0]}).")
    return as_table(got, root, options)


def _key(value):
    """A COCO id as a key: a JSON list or object (no id COCO writes) as its text, never a number's or a name's."""
    return repr(value) if isinstance(value, (list, dict)) else value


@_while_unchanged
def _drawn_masks(path: str) -> dict:
    """The masks a COCO (or Label Studio) file draws, by image id (parsed once while the file is unchanged)."""
    try:
        return {m.ref: m for e in read(Path(path).parent, Path(Path(path).name), None).entries for m in e.masks}
    except (OSError, ValueError, TypeError, KeyError, AttributeError, OverflowError):  # the cell a missing file, named
        return {}


def index_mask(path: Path, ref: str) -> DrawnMask | None:
    """The mask an index names ``<file>.json#<image id>``: the one that COCO or Label Studio file draws for that
    image (a LabelMe file's: :func:`.labelme.index_mask`), else None."""
    if labelme.is_labelme(path):
        return labelme.index_mask(path, ref)
    return _drawn_masks(path).get(ref)


def as_table(got, root: Path, options: dict | None = None):
    """``got`` (a COCO or VOC file's entries) said as the table of its images and labels, each label read
    as a table's cell: a class's spelling as the class (``Benign``: ``benign``), else in lower case, or the
    expected class it spells (``options["classes"]``); a likely misspelling refused; the spellings said."""
    got.within = ReleaseSummary(root=root)  # no table: the paragraph says the images are listed by the file
    written = [e.label.strip() for e in got.entries]
    letters = letter_codes(written)
    labels = [class_of_value(w, letters=letters) or w.casefold() for w in written]
    expected = [str(c) for c in (options or {}).get("classes") or ()]
    if expected:  # a label no class spells is named by the reader
        labels = [expected_class(expected, w, lab) or w for lab, w in zip(labels, written)]
    else:
        try:
            _refuse_misspelt_labels([(f"image {k + 1} of {str(root / got.file)!r}", w) for k, w in enumerate(written)],
                                   "image")
        except ValueError as exc:
            raise SourceRefused(str(exc)) from None
        spelt = spellings(dict(zip((e.label for e in got.entries), labels)))
        if spelt:
            got.within.label_notes.append(f"the categories of {str(root / got.file)!r}: {spelt}")
    for e, label in zip(got.entries, labels):
        e.label = label
    return got
