"""The one arbiter of :func:`featbus.datasets.read_release` between the release's sources
(:mod:`featbus.datasets.sources`): the entries of a source that lists the images itself
(:attr:`~featbus.datasets.sources.SourceRead.claims_images`) as given, else the folder read by the table
naming the images (by name, patient folder or DICOM header field), the DICOM headers and the folders; one
builder (:meth:`Release.of`) makes the release either way, each file or row left out named."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ..io import for_processing_note, pixel_limit_problem
from ..vocabulary import MASK_WORD_RANK, NON_LESION_MASK_WORDS, TABLE_SUFFIXES, WORKING_LAYOUTS
from ._common import _natural_key
from ._release_rules import (
    IMAGE_SUFFIXES,
    expected_class,
    folder_split,
    is_mask_folder,
    split_counts,
    split_of,
)
from ._release_scan import one_level_down, probe_files, split_masks
from ._release_types import LeftOut, Release, ReleaseError, ReleaseSummary
from .name_groups import pattern_groups
from .sources import DrawnMask, Entry, dicom, folders, table

__all__ = ["Reader"]


def _said(reads, what: str, default: str = "the annotations of {file}") -> str:
    """The sources' words for ``what`` (``"mask_rule"``, ``"class_source"``), each said once with
    the files it holds for (a template's ``{file}``)."""
    files: dict[str, list[str]] = {}
    for got in reads:
        files.setdefault(getattr(got, what) or default, []).append(got.file.as_posix())
    return "; ".join(words.format(file=", ".join(f)) for words, f in files.items())


def _name(image) -> str:
    """An entry's image as the paragraph and the left-out records name it."""
    return image.as_posix() if isinstance(image, Path) else os.fspath(image)


def _masks_out(img, masks) -> list[LeftOut]:
    """The masks (``(mask, word)`` pairs) of an image left out, each named as its mask."""
    return [LeftOut(_name(m), "mask", f"of {_name(img)}, left out") for m, _ in masks]


def _presentation(header) -> str:
    """A DICOM header's ``PresentationIntentType`` (upper case), ``""`` without one."""
    try:
        return str(header.get("PresentationIntentType", "") or "").strip().upper() if header is not None else ""
    except Exception:  # noqa: BLE001 - a damaged element: the pixels' reading names the file
        return ""


def _checked(reader, pairs, done=frozenset(), *, folder=False) -> tuple[list, tuple[int, int, int]]:
    """Each image of ``pairs`` (an image, its ``(mask, word)`` pairs) readable and of a size the extractors
    hold, each mask readable and of its size; a mask of another finding (``other``) or another annotation
    beside the best-ranked one left out. An image in ``done`` (checked where its archive was read) is taken
    as it is, each header read once. Each image's kept masks (absolute, or drawn; ``None``: the image left
    out) and how many had several masks joined, 'other' masks and annotations set aside. ``folder``: the
    masks said after every image."""
    root, kept, joined, others, aside = reader.root, [], 0, 0, 0
    later = [] if folder else reader.left_out
    files = [f for img, ms in pairs if _name(img) not in done for f in (img, *(m for m, _ in ms))]
    probed = probe_files(root, list(dict.fromkeys(f for f in files if isinstance(f, Path))))
    for img, masks in pairs:
        if _name(img) in done:
            kept.append(tuple(m for m, _ in masks))
            continue
        probe = getattr(img, "probe", None)
        shape, problem = probed[img] if isinstance(img, Path) else probe() if probe else (None, None)
        if problem is None and shape is not None:
            problem = pixel_limit_problem(shape)
        if problem is not None:
            reader.out(_name(img), *problem)
            later += _masks_out(img, masks)  # none unnamed
            kept.append(None)
            continue
        own = []
        for m, word in masks:
            m_shape, m_problem = (m.size, None) if isinstance(m, DrawnMask) else probed[m] if isinstance(m, Path) \
                else m.probe()  # a mask that is an archive's member
            if m_problem is not None:
                later.append(LeftOut(_name(m), *m_problem))
            elif shape is not None and m_shape != shape:
                if isinstance(m, Path) and isinstance(img, Path):
                    reader.unfit.setdefault(root / img, []).append(root / m)
                later.append(LeftOut(_name(m), "mask size differs", f"drawn at {m_shape[1]}x{m_shape[0]}, the image "
                                     f"{_name(img)!r} is {shape[1]}x{shape[0]}" if isinstance(m, DrawnMask)
                                     else f"{m_shape[1]}x{m_shape[0]} for an image of {shape[1]}x{shape[0]} "
                                     f"({_name(img)})"))
            elif word in NON_LESION_MASK_WORDS:
                others += 1
                later.append(LeftOut(_name(m), "mask", f"a mask of another finding ('{word}'), not the lesion"))
            else:
                own.append((m, word))
        rank = {w: MASK_WORD_RANK.index(w) if w in MASK_WORD_RANK else len(MASK_WORD_RANK) for _, w in own}
        best = min((w for _, w in own), key=rank.get, default=None)  # the first of the best-ranked words
        for m, word in own:
            if rank[word] > rank[best]:
                aside += 1
                later.append(LeftOut(_name(m), "mask", f"another annotation ('{word}') beside the '{best}' "
                                     f"mask of {_name(img)}, not used"))
        kept.append(tuple(root / m if isinstance(m, Path) else m for m, word in own if rank[word] == rank[best]))
        joined += len(kept[-1]) > 1
    if folder:
        reader.left_out.extend(later)
    return kept, (joined, others, aside)


def _entries(reader, claimers, summary) -> list:
    """The sources' entries, one per image: an image two files give two labels (ignoring case) left out,
    named with both; two files' masks of one image joined (the files said read as one)."""
    if len(claimers) > 1:
        summary.notes.append(f"The annotation files {', '.join(g.file.as_posix() for g in claimers)} read as one.")
    said: dict[str, list] = {}
    for got in claimers:
        for entry in got.entries:
            said.setdefault(_name(entry.image), []).append((got.file, entry))
    entries = []
    for name, found in said.items():
        if len({(e.label or "").casefold() for _, e in found}) > 1:
            reader.out(name, "two labels", "; ".join(f"{f.as_posix()} says {e.label!r}" for f, e in found))
            continue
        masks = tuple(dict.fromkeys(m for _, e in found for m in e.masks))
        entries.append(replace(found[0][1], masks=masks))
    return entries


def _files_not_listed(reader, entries, claimers, names: str) -> None:
    """The release's image files no entry lists (its masks apart) left out: a file named as a mask
    (``mask``: another annotation beside a listed image's masks, or the mask of an image left out), any
    other (``no annotation``)."""
    listed = {e.image for e in entries if isinstance(e.image, Path)} | {f for got in claimers for f in got.aside}
    listed |= {m for e in entries for m in e.masks if isinstance(m, Path)}
    said = {item.item for item in reader.left_out}  # a file the source left out itself is named once
    rest = [f for f in reader.files if f not in listed and f.as_posix() not in said]
    if not rest:  # every file listed: the mask rules are not asked
        return
    images, masks_of, _, _ = split_masks(reader.files, None, reader.release_name)  # every other file a mask
    giver = {e.image: got.file.name for got in claimers for e in got.entries}
    kept = {e.image for e in entries}
    paired = {m: (f"another annotation ({m.as_posix()}) beside the masks of {giver[img]}, not used" if img in kept
                  else f"of {img.as_posix()}, left out") for img, ms in masks_of.items()
              if img in kept or img.as_posix() in said for m, _ in ms}
    images = set(images)
    for f in rest:
        if f in paired:  # paired by name with an image a source lists, or left out
            reader.out(f, "mask", paired[f])
        elif f not in images:
            reader.out(f, "mask", f"not used: {names} gives the masks")
        else:
            reader.out(f, "no annotation", f"{names} lists no such image")


def _given_labels(reader, kept, claimers, names: str) -> tuple[list, list[str]]:
    """The entries' labels as given, and the class order (the expected classes when given, each
    label one of them, ignoring case and surrounding spaces; else the source's order, else sorted)."""
    labels = [e.label for e, _ in kept]
    if reader.classes is None:
        return labels, list(claimers[0].class_order) or sorted({c for c in labels if c is not None}, key=_natural_key)
    expected = [str(c) for c in reader.classes]
    return [None if e.label is None else expected_class(expected, e.label, where=f"{_name(e.image)!r} ({names})")
            for e, _ in kept], expected


def _given_groups(reader, kept, class_order, group_pattern, claimers, summary) -> list[str]:
    """The entries' patients as given (an entry without one its own patient, said), else the
    reader's rules over the images' names (``group_pattern``, folders, DICOM headers, prefixes; a name
    an entry gives, :attr:`~.sources.Entry.name`, read as its file's), the source's words where they find none."""
    names = [Path(_name(e.image)) for e, _ in kept]
    said = next((g for g in claimers if g.patient_source), None)  # the source's words for its patients
    if group_pattern is None and any(e.patient for e, _ in kept):
        summary.patient_source = said.patient_source if said is not None else "column"
        summary.patient_detail = (said or claimers[0]).patient_detail
        empty = sum(not e.patient for e, _ in kept)
        if empty:
            summary.notes.append(f"{empty} image(s) the source gives no patient: each is its own patient.")
        return [e.patient or n.as_posix() for (e, _), n in zip(kept, names)]
    own = [Path(e.name) if e.name else n for (e, _), n in zip(kept, names)]
    groups = reader._groups(None, names, {}, None, group_pattern, class_order, summary, own if own != names else None)
    if summary.patient_source == "one per image" and said is not None:  # the source's words for no patients
        summary.patient_source, summary.patient_detail = said.patient_source, said.patient_detail
    return groups


def _splits(splits: list, summary) -> list | None:
    """Each image's split (``""`` or ``None`` where none), counted in ``summary``; ``None`` without splits."""
    if not any(splits):
        return None
    summary.splits = split_counts(splits)
    return splits


def _table_within(root, claimers, summary) -> None:
    """The table a single claiming source read inside its file (an archive's own table), or the first of
    several that are each their own table (COCO files, per split), said as a folder's: the table and its
    columns, what else was considered, the label notes, its pixel-size column."""
    within = claimers[0].within
    if within is None or len(claimers) > 1 and any(g.within is None or g.within.table != root / g.file
                                                   for g in claimers):
        return
    summary.table_candidates += within.table_candidates
    summary.label_notes += [n for g in claimers for n in g.within.label_notes]
    if within.table is None:
        return
    for name in ("table", "image_column", "key_role", "label_column", "group_column", "mask_column"):
        setattr(summary, name, getattr(within, name))
    if within.pixel_size_column and summary.n_pixel_sizes:
        summary.pixel_size_column, summary.pixel_size_unit = within.pixel_size_column, within.pixel_size_unit
        summary.pixel_size_source, summary.pixel_size_missing = None, list(within.pixel_size_missing)


class Reader:
    """The steps of :func:`read_release` on a folder, in order: masks, the sources' files, the
    table, headers, labels, patients, pixel sizes, splits; each step adds what it leaves out to
    ``left_out``. The sources' modules (:mod:`featbus.datasets.sources`) do the reading, with the
    reader as their context: ``root``, :meth:`out`, the tables and headers read so far."""

    def __init__(self, root: Path, release_name: str, files: list[Path], tables: list[Path], left_out: list):
        self.root, self.release_name, self.files, self.considered = root, release_name, files, tables
        self.tables = [t for t in tables if t.suffix.lower() in TABLE_SUFFIXES]  # the folder's, read by its rules
        self.left_out: list[LeftOut] = left_out
        self.label_col: int | None = None
        self.copies: list[tuple[str, str]] = []
        self.unfit: dict[Path, list[Path]] = {}  # an image's masks of another size
        self.unpaired: list[Path] = []  # files taken for masks that no image owns (a table may pair them)
        self.read_tables = None  # the release's tables, read once (sources.table.choose_table)
        self.headers: dict = {}  # the DICOM images' headers read so far (pydicom datasets; None: unreadable)
        self.classes = None  # the expected classes, when given
        self.rows_without_image = "leave out"
        self.source_tables: list[Path] = []  # the tables a source read (RSNA's train.csv): ids said there count too
        self.id_level: frozenset[str] = frozenset()  # folder names that are ids, never classes (folders.id_folders)
        self.id_words: str | None = None  # why, in the paragraph's words
        self.named: dict[Path, list[str]] = {}  # each image's folders that say something (folders.folder_levels)
        self.above: list[str] = []  # the folder levels above the class folders (Mass/BENIGN/: 'Mass')

    def out(self, item, reason: str, detail: str = "") -> None:
        """Leave ``item`` (a file, or ``row N of TABLE``) out for ``reason`` (:data:`LEFT_OUT_REASONS`)."""
        self.left_out.append(LeftOut(item.as_posix() if isinstance(item, Path) else str(item), reason, detail))

    def read(self, reads, *, image_column, label_column, group_column, group_pattern, mask_pattern,
             require_labels, classes=None, rows_without_image="leave out") -> Release:
        """The release of ``reads`` (the sources' files read, :func:`~featbus.datasets.sources.read_sources`):
        the images a source lists (:meth:`claimed`), else those a table or the folders name."""
        root = self.root
        self.classes, self.rows_without_image = classes, rows_without_image
        wrong = next((got for got in reads if got.entries and not got.claims_images), None)
        if wrong is not None:  # entries are the release (never a table of them) or nothing: a source's mistake
            raise TypeError(f"{wrong.file.as_posix()}: the source {wrong.source_name!r} gives entries without "
                            "claims_images=True (the reader takes entries only as the release)")
        given = {"--image-column": image_column, "--label-column": label_column, "--group-column": group_column}
        if any(got.claims_images and got.entries for got in reads):
            return self.claimed(reads, {**given, "--mask-pattern": mask_pattern}, group_pattern, require_labels)
        self.source_tables = [got.file for got in reads if got.file.suffix.lower() in TABLE_SUFFIXES]
        if not self.files:
            subdirs = sorted((d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                             key=_natural_key)
            why = [f"{got.file.as_posix()} ({got.not_used}; not read)" for got in reads if got.not_used][:4]
            raise ReleaseError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {str(root)!r}: "
                               f"{one_level_down(root, subdirs or None, IMAGE_SUFFIXES)}"
                               f"{'; also considered: ' if why else ''}{'; '.join(why)}; featbus reads "
                               f"{WORKING_LAYOUTS}")
        images, masks_of, unpaired, rule = split_masks(self.files, mask_pattern, self.release_name)
        if mask_pattern is not None and not masks_of:
            raise ReleaseError(f"--mask-pattern {mask_pattern!r} pairs no file of {str(root)!r} with an image "
                               f"(searched beside each image and in its mask folder)")
        for m in unpaired:
            self.out(m, "mask")
        self.unpaired = unpaired  # a table's mask column may name them (masks/a;b.png)
        summary = ReleaseSummary(root=root)
        for got in reads:  # what the sources that list no image leave out, their notes, why one was not used
            self._said_by(got, summary)
            if got.not_used:
                summary.table_candidates.append(f"{got.file.as_posix()} ({got.not_used}; not read)")
        chosen, rows_of, images = self._table(images, image_column, given, summary)
        if chosen is not None and not rows_of:
            images, rows_of = table.pair_rows(self, chosen, images, masks_of, summary)
            if summary.mask_column:
                rule = "; ".join(filter(None, [f"named by the table's {summary.mask_column!r}", rule]))
        # headers: readable, an image at all, each mask the size of its image
        checked, (joined, others, aside) = _checked(self, [(i, masks_of.get(i, [])) for i in images], folder=True)
        lesion = {img: masks for img, masks in zip(images, checked) if masks is not None}
        images = list(lesion)
        for n, words in ((joined, "with several joined"), (others, "'other' masks not used as the lesion"),
                         (aside, "other annotations beside an image's mask not used")):
            rule = f"{rule}; {n} {words}" if rule and n else rule
        n_out = len(self.left_out)
        labels, class_source, class_order = self._labels(chosen, images, rows_of, label_column, summary)
        out = {x.item for x in self.left_out[n_out:]}  # images the labels' reading left out (All/'s copies)
        for img in (img for img in images if img.as_posix() in out):
            self.left_out += _masks_out(img, masks_of.get(img, []))
        labels = [label for img, label in zip(images, labels) if img.as_posix() not in out]
        images = [img for img in images if img.as_posix() not in out]
        images, labels = table.two_labels(self, images, labels, rows_of, chosen)
        if require_labels and not any(labels):
            raise ReleaseError(self._unlabelled(masks_of, summary))
        groups = self._groups(chosen, images, rows_of, group_column, group_pattern, class_order, summary)
        pixel_sizes = self._pixel_sizes(chosen, images, rows_of, summary)
        processing = [i for i in images if _presentation(self.headers.get(i)) == "FOR PROCESSING"]
        if processing:  # said from the headers read, as the pixels' reading says it (featbus.io)
            summary.notes.append(f"{for_processing_note(processing)}.")
        splits = _splits(table.table_splits(chosen, images, rows_of) or [folder_split(img) or "" for img in images],
                         summary)
        kept = {img.as_posix() for img in images}  # an image a source could not label, read here after all:
        unsaid = [x for x in self.left_out if x.item in kept]  # not left out, said
        if unsaid:
            self.left_out = [x for x in self.left_out if x.item not in kept]
            summary.notes.append(f"{len(unsaid)} image(s) the annotation files could not label read by the "
                                 f"{'table' if chosen is not None else 'folders'} instead (e.g. "
                                 f"{unsaid[0].item}: {unsaid[0].reason}: {unsaid[0].detail}).")
        summary.left_out = self.left_out
        rel = Release.of(root, summary, [Entry(
            root / img, labels[k], lesion.get(img, ()), patient=groups[k], split=splits[k] if splits else None,
            pixel_size=pixel_sizes[k],
            row={"row": self.read_tables.number(chosen[0], rows_of[img][0]),
                 **dict(zip(chosen[2], chosen[1][rows_of[img][0]]))}
            if chosen and img in rows_of else None) for k, img in enumerate(images)], class_order,
            group_pattern=group_pattern, copies=self.copies, unfit_masks=self.unfit)
        summary.mask_rule = rule if summary.n_mask_files else None
        summary.class_source = class_source
        return rel

    def claimed(self, reads, given: dict, group_pattern, require_labels) -> Release:
        """The release the claiming sources of ``reads`` list: their entries as given, every other file
        named as considered; an option of ``given`` (naming columns or masks) refused."""
        root = self.root
        claimers = [got for got in reads if got.claims_images and got.entries]
        names = ", ".join(got.said_as or got.file.as_posix() for got in claimers)
        refused = [k for k, v in given.items() if v is not None]
        if refused:
            raise ReleaseError(f"{' and '.join(refused)}: {names} in {str(root)!r} lists the images with their labels, "
                               "patients and masks (no table's columns are read): drop the option")
        summary = ReleaseSummary(root=root)
        for got in reads:
            if got in claimers:
                self._said_by(got, summary)
            elif got.not_used:
                summary.table_candidates.append(f"{got.file.as_posix()} ({got.not_used}; not read)")
            elif got.entries or got.left_out or got.notes:  # not a part of another file's read (a YOLO label file)
                summary.table_candidates.append(f"{got.file.as_posix()} ({len(got.entries)} images; not read: {names} "
                                                "lists the images)")
        summary.table_candidates += [f"{t.as_posix()} (not read: {names} lists the images)" for t in self.considered]
        entries = _entries(self, claimers, summary)
        _files_not_listed(self, entries, claimers, names)
        done = {_name(e.image) for got in claimers if got.checked for e in got.entries}
        done -= {_name(e.image) for got in claimers if not got.checked for e in got.entries}  # masks joined here
        checked, _ = _checked(self, [(e.image, [(m, None) for m in e.masks]) for e in entries], done)
        kept = [(e, masks) for e, masks in zip(entries, checked) if masks is not None]
        labels, class_order = _given_labels(self, kept, claimers, names)
        if require_labels and not any(label is not None for label in labels):
            why = "; ".join(dict.fromkeys(g.class_source.format(file=g.file.as_posix()) for g in claimers
                                          if g.class_source))  # the source's words for its missing labels
            raise ReleaseError(f"nothing labels the images of {str(root)!r}: {names} lists them without a label"
                               + (f" ({why})" if why else ""))
        groups = _given_groups(self, kept, class_order, group_pattern, claimers, summary)
        within = claimers[0].within
        if within is None or within.table != root / claimers[0].file:  # a source that is its table is said as one
            summary.source = f"images listed by {names} ({claimers[0].source_name or 'a source'}" + (
                f"; joined by {claimers[0].key}" if claimers[0].key else "") + ")"
        splits = [split_of(e.split) if e.split else folder_split(_name(e.image)) or "" for e, _ in kept]
        bad = next((e for (e, _), split in zip(kept, splits) if split is None), None)
        if bad is not None:  # an entry's split as its source spells it, read as train / valid / test
            raise ReleaseError(f"{_name(bad.image)!r}: split {bad.split!r} is none of train, valid, test")
        splits = _splits(splits, summary)
        sizes = [e.pixel_size for e, _ in kept]  # each image's pixel size as its entry gives it
        summary.n_pixel_sizes = sum(s is not None for s in sizes)
        if summary.n_pixel_sizes:
            summary.pixel_size_source = next(s.get("source") for s in sizes if s is not None) or names
            summary.pixel_size_missing = [(repr(_name(e.image)), f"({names} gives none)") for e, _ in kept
                                          if e.pixel_size is None]
        summary.left_out = self.left_out
        rel = Release.of(root, summary, [replace(
            e, image=root / e.image if isinstance(e.image, Path) else e.image, label=labels[k], masks=masks,
            patient=groups[k], split=splits[k] if splits else None,
            row=dict(e.row) if e.row else None, meta=dict(e.meta)) for k, (e, masks) in enumerate(kept)],
            class_order, group_pattern=group_pattern, unfit_masks=self.unfit)
        summary.mask_rule = _said(claimers, "mask_rule", "given by {file}") if summary.n_mask_files else None
        summary.class_source = _said(claimers, "class_source", "the labels of {file}") if summary.classes else None
        _table_within(root, claimers, summary)
        return rel

    def _said_by(self, got, summary) -> None:
        """What one source's read leaves out, named, and its notes (a card two files share: once)."""
        for entry in got.left_out:
            self.out(*entry)
        summary.notes += [n for n in got.notes if n not in summary.notes]

    def _table(self, images, image_column, given: dict, summary):
        """The table naming the images: by name (the column naming most images; its mask columns'
        files are masks, never samples), else by patient folder, else by a DICOM header field;
        ``(table, rows of each image when the key found them already, images)``. An option of ``given``
        naming a column with no such table is refused."""
        chosen = table.choose_table(self, images, image_column, summary)
        rows_of: dict[Path, list[int]] = {}
        if chosen is None and image_column is None:  # a table by patient: a row per patient folder
            chosen, rows_of, images = folders.table_by_folder(self, images, summary)
        if chosen is None:  # a table keyed by a DICOM header field (SOPInstanceUID...)
            chosen, rows_of, images = dicom.table_by_header(self, images, image_column, summary)
        if chosen is None:
            refused = [k for k, v in given.items() if v is not None  # a DICOM header field is a column of its own
                       and (k == "--image-column" or dicom.header_field(v, images) is None)]
            if refused:
                what = ("holds no table" if not self.tables else
                        "holds no table whose column names its images (considered: "
                        + "; ".join(summary.table_candidates) + ")")
                raise ReleaseError(f"{' and '.join(refused)} {[v for v in given.values() if v][0]!r}: "
                                   f"{str(self.root)!r} {what}, so there is no column to take")
        return chosen, rows_of, images

    def _pixel_sizes(self, chosen, images, rows_of, summary) -> list:
        """Each image's physical pixel size (issue 82): from the table's pixel-size column (by its name,
        :func:`~featbus.datasets._release_rules.pixel_size_column`, and its values: the first such column
        with a positive number), else from its DICOM header (:func:`featbus.io.dicom_pixel_size`); the
        images that lack one named with why (the row and its cell); ``None`` where none."""
        sizes, missing = [None] * len(images), []
        if chosen is not None:
            sizes, missing = table.pixel_size_cells(chosen[2], [(self.read_tables.number(chosen[0], rows_of[i][0]),
                                                                 chosen[1][rows_of[i][0]]) for i in images], summary)
        # DICOM headers: read only for DICOM files
        n_dicom = dicom.pixel_sizes(self, images, sizes, missing) if summary.pixel_size_column is None else 0
        summary.n_pixel_sizes, summary.n_dicom_pixel_sizes = sum(s is not None for s in sizes), n_dicom
        summary.pixel_size_missing = missing if summary.n_pixel_sizes else []
        return sizes

    def _unlabelled(self, masks_of, summary) -> str:
        """Why nothing labels the images, and what featbus reads."""
        found = {(m.parent, img.parent) for img, ms in masks_of.items() for m, _ in ms if is_mask_folder(m.parent.name)}
        if found:
            masks, images = sorted(found)[0]
            return folders.masks_not_a_class(masks.name, images.name)
        if self.id_words:  # one class per patient: never a model fitted on them
            return (f"nothing labels the images of {str(self.root)!r}: {self.id_words}; name the label column "
                    f"with --label-column, or give {WORKING_LAYOUTS}")
        considered = list(summary.table_candidates)
        if summary.table is not None:
            rel = next(r for r in self.read_tables.read if self.root / r == summary.table)  # a folder's or archive's
            considered.insert(0, f"{rel.as_posix()} names the images in {summary.image_column!r} but none of its "
                              f"columns ({', '.join(map(repr, self.read_tables.read[rel][0]))}) holds the classes")
        what = "; ".join(considered) or "it holds no table and no annotation file"
        return (f"nothing labels the images of {str(self.root)!r} (no class folders either): {what}; name the "
                f"label column with --label-column, or give {WORKING_LAYOUTS}")

    def _labels(self, chosen, images, rows_of, label_column, summary):
        """``(labels, class source, class order)``: a DICOM header field ``--label-column`` names, else
        the table's label column, else the class folders (never ids: :func:`~.sources.folders.id_folders`),
        else the class word every file name starts with (:func:`~.sources.folders.name_labels`), else none."""
        folder_classes, _ = folders.folder_levels(self, images)
        field = dicom.header_field(label_column, images, chosen[2] if chosen is not None else ())
        if field is not None:  # --label-column naming a DICOM header field
            return dicom.header_labels(self, images, field, summary)
        if chosen is not None:
            found = table.table_labels(self, chosen, images, rows_of, label_column, folder_classes, summary)
            if found is not None:
                return found
        if any(folder_classes):
            folder_classes = folders.drop_copies(self, images, folder_classes)
        if any(folder_classes) and folders.id_folders(self, images, folder_classes, summary) is None:
            return folders.folder_labels(self, images, folder_classes)
        return folders.name_labels(self, images) or ([None] * len(images), None, [])

    def _groups(self, chosen, images, rows_of, group_column, group_pattern, class_order, summary, names=None):
        """The patients: a DICOM header field ``--group-column`` names, else ``group_pattern``, else the
        table's patient column, else the folders, headers or file names (of ``names`` where given:
        :func:`~featbus.datasets.sources.folders.name_patients`)."""
        field = dicom.header_field(group_column, images, chosen[2] if chosen is not None else ())
        if field is not None and group_pattern is None:  # --group-column naming a DICOM header field
            summary.patient_source, summary.patient_detail = "DICOM header", f"--group-column {field}"
            return dicom.header_column(self, images, field, "--group-column")
        if group_pattern is not None:
            _, groups = pattern_groups(images, group_pattern)
            summary.patient_source, summary.patient_detail = "pattern", f"--group-pattern {group_pattern!r}"
            col, header, _ = table.patient_column(self, chosen, images, rows_of, group_column, summary)
            if col is not None:
                summary.patient_detail += f" (over the {header[col]!r} column)"
            return groups
        groups = table.table_patients(self, chosen, images, rows_of, group_column, summary)
        return groups if groups is not None else folders.name_patients(self, images, class_order, summary, names)
