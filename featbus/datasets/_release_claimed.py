"""A release whose images a source lists itself (:attr:`~featbus.datasets.sources.SourceRead.claims_images`):
its entries taken as the release, as given: labels, patients, splits, pixel sizes, rows and masks.
No table's columns are read for them; the other sources and tables are named as considered, not
read; an image file the source does not list is left out, named."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ..io import pixel_limit_problem
from ._common import _natural_key
from ._release_rules import split_counts, split_of
from ._release_scan import probe_files, split_masks
from ._release_types import Release, ReleaseError, ReleaseSummary
from .sources import DrawnMask, folders

__all__ = ["claimed_release"]


def _name(image) -> str:
    """An entry's image as the paragraph and the left-out records name it."""
    return image.as_posix() if isinstance(image, Path) else os.fspath(image)


def _said(reads, what: str, default: str = "the entries of {file}") -> str:
    """The sources' words for ``what``, each said once with the files it holds for (``{file}``)."""
    files: dict[str, list[str]] = {}
    for got in reads:
        files.setdefault(getattr(got, what) or default, []).append(got.file.as_posix())
    return "; ".join(words.format(file=", ".join(f)) for words, f in files.items())


def _entries(reader, claimers) -> list:
    """The claiming sources' entries, one per image: an image two files give two labels left out,
    named with both; two files' masks of one image joined."""
    said: dict[str, list] = {}
    for got in claimers:
        for entry in got.entries:
            said.setdefault(_name(entry.image), []).append((got.file, entry))
    entries = []
    for name, found in said.items():
        if len({e.label for _, e in found}) > 1:
            reader.out(name, "two labels", "; ".join(f"{f.as_posix()} says {e.label!r}" for f, e in found))
            continue
        masks = tuple(dict.fromkeys(m for _, e in found for m in e.masks))
        entries.append(replace(found[0][1], masks=masks))
    return entries


def _files_not_listed(reader, entries, names: str) -> None:
    """The release's image files no entry lists (its masks apart) left out: a file named as a mask
    (``mask``), any other (``no annotation``)."""
    listed = {e.image for e in entries if isinstance(e.image, Path)}
    masks = {m for e in entries for m in e.masks if isinstance(m, Path)}
    images, masks_of, unpaired, _ = split_masks(reader.files, None, reader.release_name)
    named_masks = {m for ms in masks_of.values() for m, _ in ms} | set(unpaired)
    said = {item.item for item in reader.left_out}  # a file the source left out itself is named once
    for f in reader.files:
        if f in listed or f in masks or f.as_posix() in said:
            continue
        if f in named_masks:
            reader.out(f, "mask", f"not used: {names} gives the masks")
        else:
            reader.out(f, "no annotation", f"{names} lists no such image")


def _checked(reader, entries) -> list:
    """``(entry, masks)`` for each entry whose image is readable and not too large, its masks
    (absolute, or drawn) each of the image's size; what is not left out, named."""
    root = reader.root
    files = [e.image for e in entries if isinstance(e.image, Path)]
    probed = probe_files(root, list(dict.fromkeys(files + [m for e in entries for m in e.masks
                                                           if isinstance(m, Path)])))
    kept = []
    for e in entries:
        img = e.image
        probe = getattr(img, "probe", None)
        shape, problem = probed[img] if isinstance(img, Path) else probe() if probe else (None, None)
        if problem is None and shape is not None:
            problem = pixel_limit_problem(shape)
        if problem is not None:
            reader.out(_name(img), *problem)
            for m in e.masks:
                reader.out(_name(m), "mask", f"of {_name(img)}, left out")
            continue
        masks = []
        for m in e.masks:
            m_shape, m_problem = (m.size, None) if isinstance(m, DrawnMask) else probed[m] if isinstance(m, Path) \
                else m.probe()  # a mask that is an archive's member
            if m_problem is not None:
                reader.out(_name(m), *m_problem)
            elif shape is not None and m_shape != shape:
                if isinstance(m, Path) and isinstance(img, Path):
                    reader.unfit.setdefault(root / img, []).append(root / m)
                reader.out(_name(m), "mask size differs", f"{m_shape[1]}x{m_shape[0]} for an image of "
                                                          f"{shape[1]}x{shape[0]} ({_name(img)})")
            else:
                masks.append(root / m if isinstance(m, Path) else m)
        kept.append((e, tuple(masks)))
    return kept


def _labels(reader, kept, names: str) -> tuple[list, list[str]]:
    """The entries' labels as given, and the class order (the expected classes when given, each
    label one of them, ignoring case and surrounding spaces)."""
    labels = [e.label for e, _ in kept]
    if reader.classes is None:
        return labels, sorted({c for c in labels if c is not None}, key=_natural_key)
    from .._registry import did_you_mean

    expected = [str(c) for c in reader.classes]
    for k, (e, _) in enumerate(kept):
        if e.label is None:
            continue
        match = next((c for c in expected if c.strip().casefold() == e.label.strip().casefold()), None)
        if match is None:
            raise ReleaseError(f"{_name(e.image)!r} ({names}): label {e.label!r} is not one of the classes {expected}"
                               f"{did_you_mean(e.label.casefold(), [c.casefold() for c in expected])}")
        labels[k] = match
    return labels, expected


def _groups(reader, kept, labels, class_order, group_pattern, claimers, summary) -> list[str]:
    """The entries' patients as given (an entry without one its own patient, said), else the
    reader's rules over the images' names (``group_pattern``, folders, DICOM headers, prefixes; a name
    an entry gives, :attr:`~.sources.Entry.name`, read as its file's), the source's words where they find none."""
    names = [Path(_name(e.image)) for e, _ in kept]
    if group_pattern is not None:
        from .name_groups import pattern_groups

        summary.patient_source, summary.patient_detail = "pattern", f"--group-pattern {group_pattern!r}"
        return pattern_groups(names, group_pattern)[1]
    if any(e.patient for e, _ in kept):
        given = next((g for g in claimers if g.patient_source), claimers[0])
        summary.patient_source = given.patient_source or "column"
        summary.patient_detail = given.patient_detail
        empty = sum(not e.patient for e, _ in kept)
        if empty:
            summary.notes.append(f"{empty} image(s) the source gives no patient: each is its own patient.")
        return [e.patient or n.as_posix() for (e, _), n in zip(kept, names)]
    own = [Path(e.name) if e.name else n for (e, _), n in zip(kept, names)]
    groups = folders.name_patients(reader, names, class_order, summary, own if own != names else None)
    said = next((g for g in claimers if g.patient_source), None)
    if summary.patient_source == "one per image" and said is not None:  # the source's words for no patients
        summary.patient_source, summary.patient_detail = said.patient_source, said.patient_detail
    return groups


def _splits(kept, summary) -> list[str] | None:
    """Each image's split as its entry gives it (its spelling read as train / valid / test), else a
    split folder above it; ``None`` without splits."""
    splits = []
    for e, _ in kept:
        if e.split:
            split = split_of(e.split)
            if split is None:
                raise ReleaseError(f"{_name(e.image)!r}: split {e.split!r} is none of train, valid, test")
        else:
            split = next((split_of(p) for p in reversed(Path(_name(e.image)).parts[:-1]) if split_of(p)), "")
        splits.append(split)
    if not any(splits):
        return None
    summary.splits = split_counts(splits)
    return splits


def _pixel_sizes(kept, names: str, summary) -> list:
    """Each image's pixel size as its entry gives it; ``[]`` when none does."""
    sizes = [e.pixel_size for e, _ in kept]
    summary.n_pixel_sizes = sum(s is not None for s in sizes)
    if not summary.n_pixel_sizes:
        return []
    summary.pixel_size_source = next(s.get("source") for s in sizes if s is not None) or names
    summary.pixel_size_missing = [(repr(_name(e.image)), f"({names} gives none)") for e, _ in kept
                                  if e.pixel_size is None]
    return sizes


def _table_within(claimers, summary) -> None:
    """The table a single claiming source read inside its file (an archive's own table), said as a folder's:
    the table and its columns, what else was considered, the label notes, its pixel-size column."""
    within = claimers[0].within if len(claimers) == 1 else None
    if within is None:
        return
    summary.table_candidates += within.table_candidates
    summary.label_notes += within.label_notes
    if within.table is None:
        return
    for name in ("table", "image_column", "key_role", "label_column", "group_column", "mask_column"):
        setattr(summary, name, getattr(within, name))
    if within.pixel_size_column and summary.n_pixel_sizes:
        summary.pixel_size_column, summary.pixel_size_unit = within.pixel_size_column, within.pixel_size_unit
        summary.pixel_size_source, summary.pixel_size_missing = None, list(within.pixel_size_missing)


def claimed_release(reader, reads, *, image_column, label_column, group_column, group_pattern, mask_pattern,
                    require_labels) -> Release:
    """The release the claiming sources of ``reads`` list (``reader``: the
    :class:`~featbus.datasets._release_read.Reader` of the folder, its ``out`` and rules)."""
    root = reader.root
    claimers = [got for got in reads if got.claims_images and got.entries]
    names = ", ".join(got.file.as_posix() for got in claimers)
    refused = [k for k, v in {"--image-column": image_column, "--label-column": label_column,
                              "--group-column": group_column, "--mask-pattern": mask_pattern}.items() if v is not None]
    if refused:
        raise ReleaseError(f"{' and '.join(refused)}: {names} in {str(root)!r} lists the images with their labels, "
                           "patients and masks (no table's columns are read): drop the option")
    summary = ReleaseSummary(root=root)
    for got in reads:
        if got in claimers:
            for item in got.left_out:
                reader.out(*item)
            summary.notes += [n for n in got.notes if n not in summary.notes]  # a card two files share: once
        elif got.not_used:
            summary.table_candidates.append(f"{got.file.as_posix()} ({got.not_used}; not read)")
        elif not (got.entries or got.left_out or got.notes):  # a part of another file's read (a YOLO label file)
            continue
        else:
            summary.table_candidates.append(f"{got.file.as_posix()} ({len(got.entries)} images; not read: {names} "
                                            "lists the images)")
    summary.table_candidates += [f"{t.as_posix()} (not read: {names} lists the images)" for t in reader.tables]
    if len(claimers) > 1:
        summary.notes.append(f"The annotation files {names} read as one.")
    entries = _entries(reader, claimers)
    _files_not_listed(reader, entries, names)
    kept = _checked(reader, entries)
    labels, class_order = _labels(reader, kept, names)
    if require_labels and not any(label is not None for label in labels):
        raise ReleaseError(f"nothing labels the images of {str(root)!r}: {names} lists them without a label")
    groups = _groups(reader, kept, labels, class_order, group_pattern, claimers, summary)
    masks = [m for _, m in kept]
    summary.source = f"images listed by {names} ({claimers[0].source_name or 'a source'}" + (
        f"; joined by {claimers[0].key}" if claimers[0].key else "") + ")"
    summary.n_images = len(kept)
    summary.n_masks_paired = sum(1 for m in masks if m)
    summary.n_mask_files = sum(len(m) for m in masks)
    summary.mask_rule = _said(claimers, "mask_rule", "given by {file}") if summary.n_mask_files else None
    summary.classes = {c: labels.count(c) for c in class_order if labels.count(c)}
    summary.class_source = _said(claimers, "class_source", "the labels of {file}") if summary.classes else None
    summary.n_patients = len(set(groups))
    summary.left_out = reader.left_out
    splits = _splits(kept, summary)
    sizes = _pixel_sizes(kept, names, summary)
    _table_within(claimers, summary)
    return Release(root, [root / e.image if isinstance(e.image, Path) else e.image for e, _ in kept], labels, groups,
                   masks, summary, rows=[dict(e.row or {}) for e, _ in kept], class_order=class_order,
                   group_pattern=group_pattern, pixel_sizes=sizes, splits=splits, unfit_masks=reader.unfit,
                   meta=[dict(e.meta) for e, _ in kept])
