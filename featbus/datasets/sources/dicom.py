"""DICOM headers as a release's source: a table keyed by a header field of the images
(``SOPInstanceUID``, ``AccessionNumber``, ``PatientID``... or any column named as a DICOM keyword),
a header field used as the label or patient column (``--label-column ViewPosition``), the
``PatientID`` of each file as its patient, the pixel spacing as its pixel size. Each header is read
once, no pixel decoded (the reader's ``headers`` cache)."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ...io import dicom_header, dicom_pixel_size, header_shape
from ...vocabulary import DICOM_KEY_FIELDS
from .._common import _natural_key
from .._release_rules import class_of_value, column_key, letter_codes
from .._release_scan import dicom_name
from . import table
from ._base import ReleaseError

__all__ = ["NAME", "dicom_keywords", "header_column", "header_field", "header_labels", "header_values", "headers",
           "patients", "pixel_sizes", "read_headers", "table_by_header"]

NAME = "DICOM headers"


def headers(reader, images) -> dict:
    """The DICOM images' headers (None where one cannot be read or for no DICOM file), each file read
    once for every step that asks (keys, patients, pixel sizes)."""
    reader.headers.update(read_headers(reader.root, [i for i in images if dicom_name(i) and i not in reader.headers]))
    return {i: reader.headers.get(i) for i in images}


def read_headers(root: Path, images) -> dict:
    """Each file's header (:func:`featbus.io.dicom_header`: no pixel read; None where it cannot be
    read), eight files at a time."""
    with ThreadPoolExecutor(max_workers=min(8, len(images)) or 1) as pool:  # no thread started for no file
        return dict(zip(images, pool.map(lambda i: dicom_header(root / i), images)))


def header_values(heads: dict, fields) -> dict[Path, dict[str, str]]:
    """``fields`` of each header (:func:`headers`, :func:`read_headers`) as text (``""`` where it has
    none; ``{}`` for no header)."""
    return {i: {} if ds is None else {f: str(ds.get(f, "") or "").strip() for f in fields} for i, ds in heads.items()}


def header_field(name: str | None, images, header=()) -> str | None:
    """The DICOM keyword ``name`` spells (any case) when the release holds DICOM images and
    ``header`` (a table's columns) has no such column: a header field used as a column."""
    if name is None or not any(dicom_name(i) for i in images) or column_key(name) in map(column_key, header):
        return None
    return dicom_keywords().get(column_key(name))


def header_column(reader, images, field: str, option: str) -> list[str]:
    """Each image's value of a DICOM header field named by ``option``; an image without one refused."""
    values = header_values(headers(reader, images), (field,))
    if (img := next((i for i in images if not values[i].get(field)), None)) is not None:
        raise ReleaseError(f"{option} {field}: the DICOM header of {str(reader.root / img)!r} has no {field}"
                           + ("" if dicom_name(img) else " (it is no DICOM file)"))
    return [values[i][field] for i in images]


def table_by_header(reader, images, image_column, summary):
    """A table whose key column holds one DICOM header field's values of at least half the images (a PACS
    export's labels keyed by ``SOPInstanceUID``, ``AccessionNumber``, ``StudyInstanceUID``, ``PatientID``...
    or any column named as a DICOM keyword); each image takes the rows of its value. ``(table, rows_of,
    images)`` as :func:`.folders.table_by_folder`."""
    dicom = [i for i in images if dicom_name(i)]
    if not dicom or not reader.read_tables.read:
        return None, {}, images
    named = {column_key(h) for header, _ in reader.read_tables.read.values() for h in header} & dicom_keywords().keys()
    fields = tuple(dict.fromkeys(DICOM_KEY_FIELDS + tuple(dicom_keywords()[n] for n in sorted(named))))
    heads = header_values(headers(reader, dicom), fields)
    best = None
    for rel, (header, rows) in reader.read_tables.read.items():
        for c in [c for c, h in enumerate(header) if image_column is None or column_key(h) == column_key(image_column)]:
            rows_with: dict[str, list[int]] = {}
            for k, row in enumerate(rows):
                rows_with.setdefault(row[c].strip(), []).append(k)
            for f in fields:
                found = {i: rows_with[v] for i in dicom if (v := heads[i].get(f)) and v in rows_with}
                # the most images, then the most joined to one row each: the field that makes a row
                # unique (SOPInstanceUID) before one many rows share (PatientID)
                score = (len(found), sum(len(ks) == 1 for ks in found.values()))
                if len(found) >= 0.5 * len(images) and (best is None or score > best[0]):
                    best = (score, rel, header, c, f, found, rows)
    if best is None:
        return None, {}, images
    _, rel, header, column, field, found, rows = best
    unread = [i for i in dicom if not any(heads[i].values())]  # no key field read: why, never "no row"
    for img in unread:
        reader.out(img, *(header_shape(reader.root / img)[1] or ("unreadable", "its DICOM header holds none of "
                                                               f"{', '.join(fields)}")))
    images = [i for i in images if i not in unread]
    kept = table.with_rows(reader, images, found, f"in {rel.as_posix()} for its DICOM {field}")
    used = {k for ks in found.values() for k in ks}
    for k, row in enumerate(rows):
        if k not in used:
            reader.out(reader.read_tables.row(rel, k), "no image",
                     f"no file's {field} is {row[column].strip()!r}")
    summary.table_candidates = [t for t in summary.table_candidates if not t.startswith(rel.as_posix() + " (")]
    summary.table, summary.image_column = reader.root / rel, header[column]
    summary.key_role = "images by DICOM header"
    return (rel, rows, header, column), {img: found[img] for img in kept}, kept


def header_labels(reader, images, field, summary):
    """``(labels, class source, class order)`` from a DICOM header field named by ``--label-column``."""
    values = header_column(reader, images, field, "--label-column")
    letters = letter_codes(values)
    labels = [class_of_value(v, letters=letters) or v.casefold() for v in values]
    summary.label_column = field
    return labels, f"the DICOM header's {field}", sorted(set(labels), key=_natural_key)


def patients(reader, images, summary):
    """Each image's ``PatientID`` when every image is a DICOM file that has one, else ``None``."""
    if not images or not all(dicom_name(i) for i in images):
        return None
    ids = header_values(headers(reader, images), ("PatientID",))
    if not all(ids[i].get("PatientID") for i in images):
        return None
    summary.patient_source = "DICOM header"
    summary.patient_detail = "the PatientID of each file (no table column nor patient folder names them)"
    return [ids[i]["PatientID"] for i in images]


def pixel_sizes(reader, images, sizes, missing) -> int:
    """Each DICOM image's pixel size from its header into ``sizes`` (the images that have none
    added to ``missing`` with why); how many were found."""
    n_dicom = 0
    found = headers(reader, images)
    for k, img in enumerate(images):
        if dicom_name(img):
            size, why = dicom_pixel_size(reader.root / img, header=found[img])
            if size is not None:
                sizes[k], n_dicom = size, n_dicom + 1
            elif why:
                missing.append((repr(img.as_posix()), why))
    if n_dicom and len(missing) + n_dicom < len(images):
        missing += [(repr(img.as_posix()), "not a DICOM file") for k, img in enumerate(images)
                    if sizes[k] is None and not dicom_name(img)]
    return n_dicom


@functools.cache
def dicom_keywords() -> dict[str, str]:
    """pydicom's dictionary of DICOM keywords, by :func:`column_key`."""
    from pydicom.datadict import keyword_dict

    return {column_key(k): k for k in keyword_dict if k}
