"""A read release's pixels: the :class:`~sklearn.utils.Bunch` every loader of :mod:`featbus.datasets`
returns (:meth:`featbus.datasets.Release.to_bunch`, what :func:`featbus.datasets.load_data` gives for
a folder)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from pathlib import Path

import numpy as np

from .._records import DICOM_VIEW_KEY, PIXEL_SIZE_KEY, ImageError, ImageRecord, map_images, process_backend
from ..io import dropped_masks_note, for_processing_note, scaled_pixel_size, warn_skipped
from ..progress import find_stack_level
from ._common import _bunch, _check_loader_choices, _classes_text, _read_keeping_image
from ._release_index import own_column

__all__ = ["release_bunch", "describing"]

#: Columns of a feature table that a release's own columns must not repeat (featbus extract).
_RESERVED = ("label", "path", "target", "group", "row", "image", "mask", "split")


def _groups(rel, kept_groups, paths, images, n_jobs, duplicate_threshold, guess_groups):
    """``(groups, groups_from or None, near-duplicates?)``."""
    from .name_groups import _by_first_appearance, name_groups

    s = rel.summary
    source = s.patient_source
    if not guess_groups and source in ("file-name prefix", "one per image"):
        return np.arange(len(images)), None, False
    if source == "file-name prefix" or (source == "pattern" and rel.group_pattern is not None):  # not mini-MIAS's
        found = name_groups(paths, pattern=rel.group_pattern, classes=list(rel.class_order))
        if found is not None:
            over = "".join(s.patient_detail.partition(" (over ")[1:])  # the column the pattern ran over, if any
            warnings.warn(found[2] + over, UserWarning, stacklevel=find_stack_level())
            return found[0], found[1], False
    if source == "one per image":
        from ..model_selection import duplicate_groups

        if s.table is not None and not rel.from_index:
            warnings.warn(f"{str(s.table)!r} has no patient column featbus recognises (usual names: patient, case, "
                          "subject) and its file names do not say patients (PREFIX_NUMBER): images are grouped as "
                          "near-duplicates, not by patient; name the column with --group-column (group_column=) or "
                          "the file-name rule with --group-pattern REGEX", UserWarning, stacklevel=find_stack_level())
        return duplicate_groups(images, threshold=duplicate_threshold, n_jobs=n_jobs), None, True
    groups = _by_first_appearance(kept_groups)
    if source == "column" and s.group_column is not None:  # an index's or manifest's 'group' need not be patients
        told = f"the {s.group_column!r} column of {Path(str(s.table)).name}"
        return groups, told if rel.from_index else f"patients: {told}", False
    # a column without a group_column: a source's own patient key (patient_id, ID1...)
    told = "one folder per patient" if source == "folder" else s.patient_detail or (
        "the source" if source == "column" else source)
    return groups, f"patients: {told}", False


def _reader_says(path: Path, why) -> str:
    """What :func:`featbus.read_image` says of a file whose header the release reader could not read
    (its own words, as every loader reports them), else the reader's reason."""
    from ..io import read_image

    try:
        read_image(path)
    except (ImageError, OSError, ValueError) as exc:
        return getattr(exc, "reason", None) or str(exc)
    return why.text()


#: Images a reading worker process decodes and sends back at once (8 MB each for a full-field mammogram
#: at its working size): what bounds a worker's memory, whatever the release's size.
_READ_CHUNK = 8


#: What :func:`describing` set: ``(describer, run)``, the describer of each image and how the images are read
#: and described (None: here and in ``n_jobs`` workers); None: the pixels kept.
_DESCRIBING: ContextVar[tuple | None] = ContextVar("featbus_release_describing", default=None)


@contextmanager
def describing(describer: Callable[[ImageRecord], np.ndarray], run: Callable | None = None) -> Iterator[None]:
    """While active, :func:`release_bunch` hands each image to ``describer`` in the process that decoded it and
    keeps the row it returns in place of the pixels: decode, describe, drop, image by image, so neither this
    process nor a reading worker ever holds more than the image at hand, whatever the release's size (a
    full-field frame is 8 MB at its working size; ``featbus extract`` held every one: issue 102).

    Parameters
    ----------
    describer : callable
        ``describer(record) -> 1-D ndarray``, ``record`` an :class:`~featbus.ImageRecord` (the image at its
        working size, the union of its masks, its path, the file's and the release's pixel size and DICOM view).
        It raises :class:`~featbus.ImageError` for an image it cannot describe (left out or raised as an
        unreadable image is). Its ``fitted`` attribute is False until it has described one image: images are
        described here, one at a time, until then, so that the worker processes start with it fitted.
    run : callable, optional
        ``run(describer, work, entries) -> results``: where the images are read and described, e.g. a Dask cluster
        (``featbus extract --dask``). ``work(entry, index)`` reads and describes one entry (a picklable function of
        the entry alone: an image's path or archive member, its masks' and its pixel size, never its pixels);
        ``results`` are ``work``'s, one an entry, in order. By default: here until ``describer`` is fitted, then
        in ``n_jobs`` worker processes.

    Notes
    -----
    The Bunch then holds ``features`` (one row an image, in its order) and records without pixels or masks
    (``image`` and ``mask`` None). Where the groups are read from the pixels (near-duplicates, a release whose
    images name no patient) the pixels are kept and ``describer`` is not called: the Bunch has no ``features``.
    """
    token = _DESCRIBING.set((describer, run))
    try:
        yield
    finally:
        _DESCRIBING.reset(token)


def _read_described(describer: Callable, item, index: int):
    """:func:`_read_keeping_image` of ``item`` ``(image, masks, pixel size)``, then ``describer``'s row of it in
    place of the pixels and masks: ``(row, shape, why, meta)``, ``shape`` the image's at its working size; an
    image it cannot read or describe: ``("error", path, reason)``."""
    image_path, mask_paths, size = item
    res = _read_keeping_image((image_path, mask_paths), index)
    if isinstance(res[0], str):
        return res
    image, mask, why, meta = res
    record_meta = dict(meta)
    if size is not None:
        record_meta[PIXEL_SIZE_KEY] = scaled_pixel_size(dict(size), meta.get("file_shape", image.shape), image.shape)
    try:
        row = np.asarray(describer(ImageRecord(image, mask, str(image_path), record_meta)))
    except ImageError as exc:
        return ("error", str(image_path), exc.reason)
    return row, image.shape, why, meta


def _read_images(entries: list, items: list, n_jobs, pixels_needed: bool) -> list:
    """Every item's :func:`_read_keeping_image` result, or with a :func:`describing` describer active (and the
    pixels not ``pixels_needed`` for the groups) its :func:`_read_described` one: read (and described) here
    until the describer is fitted, then in ``n_jobs`` workers, :data:`_READ_CHUNK` images a task: worker
    processes (:func:`featbus._records.process_backend`) where every image and mask is a file of its own, since
    the decoders that take a full-field mammogram's time (pydicom's JPEG 2000 and RLE plugins, its pixel
    conversion) hold the GIL, so threads read one image at a time (``featbus extract --n-jobs 2`` took as long as
    one job: issue 102); threads where some image is an archive's member or an array's row or some mask is drawn
    by an annotation file (read from what this process holds open)."""
    from ..io import is_image_reference

    describer, run = _DESCRIBING.get() or (None, None)
    plain = all(not is_image_reference(image) and all(isinstance(m, (str, os.PathLike)) and not
                                                      is_image_reference(m) and not hasattr(m, "render")
                                                      for m in masks) for image, masks in items)
    backend = process_backend() if plain else "threading"
    if describer is None or pixels_needed:
        return map_images(_read_keeping_image, items, n_jobs, backend=backend, max_chunk=_READ_CHUNK)
    work = partial(_read_described, describer)
    sized = [(image, masks, e.pixel_size) for (image, masks), e in zip(items, entries)]
    if run is not None:
        return run(describer, work, sized)
    head = []
    while len(head) < len(sized) and not getattr(describer, "fitted", True):
        head.append(work(sized[len(head)], len(head)))
    return head + map_images(work, sized[len(head):], n_jobs, backend=backend, max_chunk=_READ_CHUNK)


def release_bunch(rel, *, on_error: str = "raise", n_jobs: int | None = None, require_labels: bool = True,
                  duplicate_threshold: int | None = None, guess_groups: bool = True):
    """Read a release's images and masks into the common Bunch (see :mod:`featbus.datasets`).

    An image whose header could not be read (``unreadable``, ``not an image``) raises an
    :class:`~featbus.ImageError` naming it, or with ``on_error="skip"`` is listed in
    ``Bunch.skipped``; a mask of another size than its image is in ``Bunch.dropped_masks`` (the
    image kept without it), as every loader reports it.
    """
    _check_loader_choices(on_error, None)
    s = rel.summary
    for note in s.label_notes:
        warnings.warn(note, UserWarning, stacklevel=find_stack_level())
    for c, why in rel.copies:
        warnings.warn(f"left out {c + '/'!r} of {str(rel.root)!r}: {why}, so it is no class of its own (it would "
                      "put each of those images under two labels)", UserWarning, stacklevel=find_stack_level())
    root = Path(rel.root)
    skipped = [(str(root / r.item), _reader_says(root / r.item, r)) for r in s.left_out
               if r.reason in ("unreadable", "not an image")]
    if skipped and on_error == "raise":
        raise ImageError(skipped[0][1], path=skipped[0][0])
    # a mask of another size than its image is read with it as every loader always did: the image kept, the
    # mask dropped with its reason (meta 'mask_problem'), so a command that needs masks refuses it or, with
    # --on-error skip, leaves the image out, never giving it an empty mask
    unfit = {str(img): masks for img, masks in rel.unfit_masks.items()}
    dropped: list[tuple[str, str, str]] = []
    keep = [e for e in rel if e.label in rel.class_order or not require_labels or not rel.class_order]
    if len(keep) < len(rel):
        unlabelled = [e.image for e in rel if e.label not in rel.class_order]
        where = ("unlabelled image(s) (a split published without labels)" if s.splits and s.splits.get("test")
                 and all(e.split == "test" for e in rel if e.label is None) else "image(s) outside the class folders")
        warnings.warn(f"left out {len(unlabelled)} {where} of {str(root)!r}: "
                      + ", ".join(repr(str(p)) for p in unlabelled[:3]), UserWarning, stacklevel=find_stack_level())
    items = [(e.image, list(e.masks) + unfit.get(str(e.image), [])) for e in keep]
    pixels_needed = guess_groups and s.patient_source == "one per image"  # near-duplicate groups: _groups
    results = _read_images(keep, items, n_jobs, pixels_needed)
    described = _DESCRIBING.get() is not None and not pixels_needed
    kept = []  # (entry, result, meta) of each image read
    for e, (image_path, mask_paths), res in zip(keep, items, results):
        row = e.row or {}
        where = f"row {row['row']}: " if "row" in row else ""
        if isinstance(res[0], str):  # ("error", path, reason): the header read, the pixels did not
            if on_error == "raise":
                raise ImageError(where + res[2], path=res[1])
            skipped.append((res[1], where + res[2]))
            continue
        kept_masks = [str(m) for m in mask_paths] if res[2] is None else []
        meta = {**{str(c).strip().lower(): str(v).strip() for c, v in row.items() if c != "row"},
                **({"row": row["row"], "table_row": row["row"]} if "row" in row else {}),
                "label": e.label, "has_mask_file": bool(kept_masks) and str(image_path) not in unfit,
                "mask_paths": kept_masks}
        if res[2] is not None:
            meta["mask_problem"] = res[2]
            dropped.append((";".join(str(m) for m in mask_paths), where + res[2], str(image_path)))
        meta.update(res[3])  # a DICOM header's view and pixel size, the file's own size where it was reduced
        if e.pixel_size is not None:
            worked = res[1] if described else res[0].shape
            meta[PIXEL_SIZE_KEY] = scaled_pixel_size(dict(e.pixel_size), meta.get("file_shape", worked), worked)
        if e.meta:  # what a source says of the image beyond it (YOLO's boxes)
            meta.update({k: v for k, v in e.meta.items() if k not in meta})
        kept.append((e, res, meta))
    paths, metas = [str(e.image) for e, _, _ in kept], [meta for _, _, meta in kept]
    processing = [p for p, m in zip(paths, metas)
                  if (m.get(DICOM_VIEW_KEY) or {}).get("presentation") == "FOR PROCESSING"]
    if processing:
        warnings.warn(for_processing_note(processing), UserWarning, stacklevel=find_stack_level())
    if skipped:
        warn_skipped([(k, p, r) for k, (p, r) in enumerate(skipped)], "image(s)")
    if dropped:
        warnings.warn(dropped_masks_note([d[:2] for d in dropped]), UserWarning, stacklevel=find_stack_level())
    if not kept:
        raise ValueError(f"no readable image in {str(root)!r}")
    images = [None if described else res[0] for _, res, _ in kept]  # described: the row in place of the pixels
    groups, told, near = _groups(rel, [e.patient for e, _, _ in kept], paths, images, n_jobs, duplicate_threshold,
                                 guess_groups)
    labels = [e.label for e, _, _ in kept]
    # a class whose every image was left out is dropped; a class named but never read stays
    kept_labels, released = set(labels), set(rel.labels)
    classes = [c for c in rel.class_order if c in kept_labels or c not in released]
    target = [classes.index(label) if label is not None and classes else -1 for label in labels]
    descr = (f"Release {str(root)!r}: {len(images)} images, {_classes_text(target, classes)}"
             + (f" ({s.class_source})" if s.class_source else "")
             + f", {len(np.unique(groups))} groups"
             + (f" (patients from its {s.group_column!r} column of {Path(str(s.table)).name})."
                if s.patient_source == "column" and s.group_column else f" ({told.split(': ', 1)[1]})." if told
                else "."))
    if rel.copies:
        descr += " Left out: " + "; ".join(f"{c}/ ({why})" for c, why in rel.copies) + "."
    extra = []
    if s.table is not None and rel.rows and rel.rows[0]:
        # a manifest's every column beyond its own (own_column), kept even where it is named like a
        # feature table's column (path, target...): featbus extract refuses those naming them
        own = own_column if rel.from_index else _RESERVED.__contains__
        extra = [str(c).strip().lower() for c in rel.rows[0] if c != "row" and not own(str(c).strip().lower())]
    masks = [None if described else res[1] for _, res, _ in kept]
    return _bunch(images, masks, np.asarray(target, dtype=int), classes, paths, groups, metas, descr,
                  skipped=skipped, dropped_masks=dropped, near_duplicate_groups=near, extra_columns=extra,
                  label_column=s.label_column, release_summary=s, left_out=list(rel.copies),
                  **({"groups_from": told} if told else {}),
                  **({"split": np.asarray([e.split for e, _, _ in kept], dtype=object)} if rel.splits is not None
                     else {}),
                  **({"features": np.vstack([res[0] for _, res, _ in kept])} if described else {}))
