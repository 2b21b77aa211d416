"""INbreast (release 1.0) as a release's source (:mod:`featbus.datasets.sources`):
``AllDICOMs/<file id>_<patient>_MG_<R|L>_<CC|ML>_ANON.dcm`` labelled by ``INbreast.xls`` (or the
``INbreast.csv`` it ships beside it, ``;``-separated), whose ``File Name`` is each file name's first
token and ``Bi-Rads`` the assessment (1 .. 6, with 4a / 4b / 4c), and ``AllXML/<file id>.xml`` (OsiriX
plists) outlining the findings.

The label is ``BI-RADS`` and the ``Bi-Rads`` cell as written (graded classes); the patient the file
name's second token (the woman's anonymised id; the table's own ``Patient ID`` cells are removed);
an image's mask the union of the ROIs its XML outlines with three points or more (a calcification
marked by one point draws nothing, said).
"""

from __future__ import annotations

import plistlib
import re
from pathlib import Path

from ...io import header_shape, list_folder
from .._release_join import TOKENS, join
from .._release_tables import SourceError
from ._base import DrawnMask, Entry, SourceRead
from ._screening import SIDES, VIEWS, found_rows, row_dict, table
from .dicom import header_values, read_headers
from .yolo import bounded_text

__all__ = ["NAME", "index_mask", "read", "recognise", "xml_outlines"]

NAME = "INbreast table"
NEEDS = ("File Name", "Bi-Rads")
#: ``<file id>_<patient>_MG_<side>_<view>_ANON.dcm`` (or ``.png``, ``.jpg``: a conversion keeps the name)
FILE = re.compile(r"^(\d+)_([0-9a-fA-F]+)_MG_([RL])_([A-Z]+)_ANON(?:\.\w+)?$", re.IGNORECASE)
#: INbreast's frame sizes (rows, columns): where a converted image has one, the XML outlines fit it.
FULL_FIELD = ((4084, 3328), (3328, 2560))
POINT = re.compile(r"^\(\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)")


def recognise(files: list[Path]) -> list[Path]:
    """``INbreast.xls`` / ``.xlsx`` / ``.csv``, by their published name."""
    return [f for f in files if f.stem.casefold() == "inbreast" and f.suffix.lower() in (".xls", ".xlsx", ".csv")]


def xml_outlines(path: Path) -> tuple[list[list[float]], int]:
    """``(outlines, points)``: each ROI's ``Point_px`` as a flat ``x, y`` sequence in pixel-edge
    coordinates (:class:`~featbus.datasets.sources.DrawnMask`'s), for the ROIs of three points or
    more; ``points``: the ROIs marked by fewer (a calcification's single point)."""
    data = plistlib.loads(bounded_text(path).encode("utf-8"))
    rois = [[float(v) + 0.5 for p in roi.get("Point_px", []) if (m := POINT.match(str(p))) for v in m.groups()]
            for image in data.get("Images", []) for roi in image.get("ROIs", [])]  # pixel centres -> edges
    outlines = [xy for xy in rois if len(xy) >= 6]
    return outlines, len(rois) - len(outlines)


def index_mask(path: Path, ref: str) -> DrawnMask | None:
    """The mask an index names ``AllXML/<file id>.xml#<width>x<height>`` (that file's outlines drawn at the
    image's size), else None."""
    try:
        w, h = (int(v) for v in ref.split("x"))
        outlines = xml_outlines(path)[0]
    except (OSError, ValueError, plistlib.InvalidFileException, SourceError):
        return None
    return DrawnMask(path, ref, (h, w), polygons=tuple(outlines)) if outlines else None


def read(root: Path, file: Path, images: list[Path] | None, unannotated: str = "normal") -> SourceRead:
    """The images of ``AllDICOMs/`` the table names by their first token, with their drawn ROIs."""
    if file.suffix.lower() == ".csv" and (root / file.with_suffix(".xls")).is_file():
        return SourceRead(file, not_used=f"the same table as {file.with_suffix('.xls').as_posix()}, which is read")
    got = SourceRead(file, claims_images=True, patient_source="column",
                     patient_detail="the file name's second token (<id>_<patient>_MG_...)")
    header, rows, (c_name, c_birads) = table(root, file, NEEDS)
    joined = join([[row[c_name]] for _, row in rows], [img for img in images or () if FILE.match(img.name)],
                  ("File Name",), under=file.parent, publisher=("AllDICOMs/id_", (), TOKENS))
    got.key = "'File Name' = the file name's first token" if joined.separator == TOKENS else joined.words
    xml_of = {x.stem: file.parent / "AllXML" / x for x in list_folder(root / file.parent / "AllXML", (".xml",))[0]}
    dicom = [img for img in joined.files if img is not None and img.stem.split("_")[0] in xml_of
             and img.suffix.lower() == ".dcm"]
    shapes = header_values(read_headers(root, dicom), ("Rows", "Columns"))
    n_points = resized = 0
    for line, row, img in found_rows(got, file, rows, joined, (c_name,), "no {}"):
        fid, patient, side, view = FILE.match(img.name).groups()
        masks, xml, head = (), xml_of.get(fid), shapes.get(img) or {}
        if xml is not None and img.suffix.lower() != ".dcm":  # a conversion: its outlines fit its full-field size alone
            shape = header_shape(root / img)[0]
            if shape is not None and tuple(shape) in FULL_FIELD:
                head = {"Rows": shape[0], "Columns": shape[1]}
            else:
                resized, xml = resized + 1, None
        if xml is not None:
            try:
                outlines, points = xml_outlines(root / xml)
                size = (int(head["Rows"]), int(head["Columns"]))
            except (OSError, ValueError, KeyError, plistlib.InvalidFileException, SourceError) as exc:
                got.out(xml.as_posix(), "bad annotation", f"{type(exc).__name__}: {exc}")
            else:
                n_points += points
                if outlines:
                    masks = (DrawnMask(root / xml, f"{size[1]}x{size[0]}", size, polygons=tuple(outlines)),)
        birads = row[c_birads].strip()
        got.entries.append(Entry(img, f"BI-RADS {birads}" if birads else None, masks, patient=patient,
                                 row=row_dict(header, line, row),
                                 meta={"laterality": SIDES[side.casefold()],
                                       "view": VIEWS.get(view.casefold(), view.upper())}))
    got.class_source = "the 'Bi-Rads' column of {file}, as 'BI-RADS <cell>' (graded classes as written)"
    got.mask_rule = "drawn from the ROI outlines of AllXML/<id>.xml"
    if resized:
        got.notes.append(f"{resized} converted image(s) of another size than INbreast's full-field frames "
                         f"({', '.join(f'{w}x{h}' for h, w in FULL_FIELD)}): their AllXML/ outlines, in the "
                         "frames' pixels, are not drawn (no mask).")
    if n_points:
        got.notes.append(f"{n_points} ROI(s) of AllXML/ marked by fewer than three points (calcifications) "
                         "draw no mask.")
    return got
