"""The file side of reading a release: walking its folder (links leading out named, never followed),
telling masks from images by the rules of :mod:`featbus.datasets._release_rules`, pairing each mask
with its image, and checking every file's header (readable, an image at all, its size) without
decoding a pixel.
"""

from __future__ import annotations

import os
import unicodedata
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

from .._records import LeftOut
from ..io import DICOM_INSTALL, _dcmread, _InflatedTooLarge, file_sha256, header_shape, list_folder
from ..vocabulary import (
    ALL_FOLDER_NAMES,
    IMAGES_TOO,
    NON_LESION_MASK_WORDS,
    NOT_READ_IMAGES,
    NOT_TABLES,
    TABLE_SUFFIXES,
)
from ._common import _natural_key, _pattern_regex
from ._release_rules import (
    IMAGE_SUFFIXES,
    column_key,
    folder_split,
    is_container,
    is_mask_folder,
    mask_parts,
    stem_keys,
)

__all__ = ["LeftOut", "copies_folders", "dicom_name", "named_folders",
           "normalisation_mattered", "one_level_down", "path_key", "probe_files", "split_masks",
           "unwrap_download_folder", "walk_release"]


def path_key(path: Path) -> tuple:
    """Natural order of a relative path, folder by folder ('a (2)' before 'a (10)')."""
    return tuple(_natural_key(part) for part in path.parts)


def walk_release(root: Path, also: tuple[str, ...] = ()) -> tuple[list[Path], list[Path], list[LeftOut]]:
    """``(image files, tables, left out)`` under ``root``, relative paths in natural order, through
    the one listing every command reads a folder by (:func:`featbus.io.list_folder`, which names what it
    leaves out: links leading out, FIFOs, image formats featbus does not read...). A release's notes
    (README...) are not read; a file of no image suffix is an image when its content is DICOM (a PACS
    export's ``I0000001``); a ``DICOMDIR`` adds the files it references. DICOM without pydicom installed:
    an :class:`ImportError` naming the extra. ``also``: suffixes of the sources' own files
    (:func:`featbus.datasets.sources.extra_suffixes`), listed with the tables."""
    also = tuple(s for s in also if s not in IMAGE_SUFFIXES + TABLE_SUFFIXES)
    files, left_out = list_folder(root, IMAGE_SUFFIXES + TABLE_SUFFIXES + also, NOT_READ_IMAGES, by_content=True)
    dicomdirs = [f for f in files if f.name == "DICOMDIR"]
    images = sorted((f for f in files if f.name != "DICOMDIR" and f.suffix.lower() not in TABLE_SUFFIXES + also),
                    key=path_key)
    tables = sorted((f for f in files if (f.suffix.lower() in TABLE_SUFFIXES and not NOT_TABLES.match(f.stem))
                     or f.suffix.lower() in also), key=path_key)
    dicom = [f for f in images if dicom_name(f)]
    if dicom or dicomdirs:
        try:
            import pydicom  # noqa: F401 - only whether it is there
        except ImportError:
            what = " and ".join(filter(None, [f"{len(dicom)} DICOM file(s)" if dicom else "",
                                              f"a DICOMDIR ({dicomdirs[0].as_posix()!r})" if dicomdirs else ""]))
            raise ImportError(f"{str(root)!r} holds {what}" + (f" (e.g. {dicom[0].as_posix()!r})" if dicom else "")
                              + f"; reading DICOM needs pydicom, which is not installed: {DICOM_INSTALL}") from None
    for rel in dicomdirs:
        images += [f for f in _dicomdir_files(root, rel, left_out) if f not in images]
    images.sort(key=path_key)
    return images, tables, left_out


def dicom_name(rel: Path) -> bool:
    """Whether :func:`walk_release` took a file for DICOM: a ``.dcm`` name, or a name of no image
    suffix that it read by content."""
    return rel.suffix.lower() == ".dcm" or rel.suffix.lower() not in IMAGE_SUFFIXES


def _dicomdir_files(root: Path, rel: Path, left_out: list[LeftOut]) -> list[Path]:
    """The files a DICOMDIR's directory records reference (``ReferencedFileID``, relative to the
    DICOMDIR's folder) that lie inside the release; each other one left out by name (``outside the
    release``, ``no image``), as a DICOMDIR pydicom cannot read (``unreadable``)."""
    real_root = os.path.realpath(root)
    try:
        records = _dcmread(root / rel).DirectoryRecordSequence
    except _InflatedTooLarge as exc:
        left_out.append(LeftOut(rel.as_posix(), "too large", f"a DICOMDIR: {exc}"))
        return []
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for a broken DICOMDIR
        left_out.append(LeftOut(rel.as_posix(), "unreadable",
                                f"a DICOMDIR pydicom cannot read ({type(exc).__name__}: {exc})"))
        return []
    found = []
    for record in records:
        parts = record.get("ReferencedFileID")
        if not parts:
            continue  # a PATIENT / STUDY / SERIES record: no file
        parts = [parts] if isinstance(parts, str) else list(parts)
        target = os.path.realpath((root / rel).parent.joinpath(*parts))
        named = f"{rel.as_posix()} record {'/'.join(parts)}"
        if os.path.commonpath([real_root, target]) != real_root:
            left_out.append(LeftOut(named, "outside the release"))
        elif not os.path.isfile(target):
            left_out.append(LeftOut(named, "no image", "the DICOMDIR references a file that is not there"))
        else:
            found.append(Path(os.path.relpath(target, real_root)))
    return found


def named_folders(rel: Path, release_name: str = "") -> list[str]:
    """The folders of a file that say something (no container, no mask folder), as written."""
    return [p for p in rel.parts[:-1] if not is_container(p, release_name) and not is_mask_folder(p)]


def _pairing_scopes(rel: Path, release_name: str = "") -> tuple:
    """The scopes a mask folder's file and an image are paired in, most specific first: its
    :func:`named_folders` compared as keys (``benign/images/a.png`` and ``benign/masks/a.png`` share them) with
    the split (``train/`` and ``test/`` may each hold a ``1.png``), then alone, then without the folders named as
    holding images (DMID's ``TIFF Images/`` beside ``ROI Masks/``)."""
    named = named_folders(rel, release_name)
    scope = tuple(map(column_key, named))
    return (scope, folder_split(rel)), scope, tuple(column_key(p) for p in named if not IMAGES_TOO.search(p))


def _unique_keys(files: list[Path], scope, keys) -> dict:
    """Each ``scope(file)``'s keys (``keys(file)``) to the one file they name; a key two files share
    names None (an ambiguous key pairs nothing)."""
    out: dict = {}
    for f in files:
        slot = out.setdefault(scope(f), {})
        for k in keys(f):
            slot[k] = f if slot.get(k, f) == f else None
    return out


def split_masks(files: list[Path], mask_pattern: str | None, release_name: str = ""):
    """Tell masks from images: ``(images, masks_of, unpaired, rule)``.

    ``masks_of`` maps an image to its mask files as ``[(mask, word)]`` (``word`` the mask word, or
    ``"folder"`` / ``"pattern"``); ``unpaired`` are files taken for masks that no image owns;
    ``rule`` says in words how masks were paired. A file is a mask when it lies in a mask folder
    (:data:`~featbus.datasets._release_rules.MASK_FOLDER`; paired by the image's name, with or without a
    mask word, or nnU-Net's ``<case>`` for ``<case>_0000``), or its name is an image's name plus a mask word
    beside it, or with ``mask_pattern`` when it matches the pattern of an image's stem.
    """
    in_folders, candidates = [], []
    for f in files:
        (in_folders if any(map(is_mask_folder, f.parts[:-1])) else candidates).append(f)
    by_folder: dict[Path, dict[str, Path]] = {}
    for f in candidates:
        by_folder.setdefault(f.parent, {})[f.stem.casefold()] = f
    masks_of: dict[Path, list[tuple[Path, str]]] = {}
    rules: dict[str, str] = {}  # how masks were paired -> the words (with a first example)
    if mask_pattern is not None:
        generic = _pattern_regex(mask_pattern, None)
        for f in (f for f in candidates if generic.match(f.name)):
            owners = [img for img in by_folder[f.parent].values()
                      if img != f and _pattern_regex(mask_pattern, img.stem).match(f.name)]
            if owners:
                masks_of.setdefault(max(owners, key=lambda p: len(p.stem)), []).append((f, "pattern"))
                rules["pattern"] = f"--mask-pattern {mask_pattern!r}"
    else:
        keyed = _unique_keys([f for f in candidates if mask_parts(f.stem) is None], lambda f: f.parent,
                             lambda f: stem_keys(f.stem)[1:])
        for f in candidates:
            parts = mask_parts(f.stem)
            if parts is None:
                continue
            owner = by_folder[f.parent].get(parts[0].casefold()) or keyed.get(f.parent, {}).get(parts[0].casefold())
            if owner is not None and owner != f:
                masks_of.setdefault(owner, []).append((f, parts[1]))
                if parts[1] not in NON_LESION_MASK_WORDS:
                    rules.setdefault(f"beside {parts[1]}", f"<name>_{parts[1]} beside the image")
    taken = {m for pairs in masks_of.values() for m, _ in pairs}
    images = [f for f in candidates if f not in taken]
    # a mask folder's files: the image of the same scope (:func:`_pairing_scopes`, the first that pairs) whose stem
    # (or stem without a leading word) is the mask's stem, or its stem without a mask word (Masks/mask_0001-l.png
    # for Images/bus_0001-l.png)
    scopes = {f: _pairing_scopes(f, release_name) for f in images} if in_folders else {}
    keys_of = {f: stem_keys(f.stem) for f in scopes}
    indexes = [_unique_keys(images, lambda f, j=j: scopes[f][j], keys_of.__getitem__) for j in range(3) if scopes]
    unpaired = []
    for m in in_folders:
        mine, parts = _pairing_scopes(m, release_name), mask_parts(m.stem)
        if mask_pattern is not None:
            owner = next((img for img in images if scopes[img][1] == mine[1]
                          and _pattern_regex(mask_pattern, img.stem).match(m.name)), None)
        else:
            keys = [m.stem.casefold()] + ([parts[0].casefold()] if parts else [])
            keys.append(f"{keys[0]}_0000")  # nnU-Net's labelsTr/<case> for imagesTr/<case>_0000 (its channel 0)
            slots = [index.get(scope, {}) for index, scope in zip(indexes, mine)]
            owner = next((slot[k] for slot in slots for k in keys if slot.get(k) is not None), None)
        if owner is None:
            unpaired.append(m)
            continue
        masks_of.setdefault(owner, []).append((m, parts[1] if parts is not None else "folder"))
        folder = next(p for p in m.parts[:-1] if is_mask_folder(p))
        if m.stem.casefold() == owner.stem.casefold():
            rules.setdefault(f"same {folder}", f"the same name in {folder}/")
        elif owner.stem.casefold() == f"{m.stem.casefold()}_0000":
            rules.setdefault(f"case {folder}", f"nnU-Net's case name in {folder}/ ({m.name} for {owner.name})")
        else:
            rules.setdefault(f"word {folder}", f"the image's name with a mask word in {folder}/ ({m.name} for "
                                               f"{owner.name})")
    for img in masks_of:
        masks_of[img].sort(key=lambda mw: path_key(mw[0]))
    return images, masks_of, unpaired, "; ".join(rules[k] for k in sorted(rules)) or None


#: Fewer files than this are probed in the calling thread: each worker thread that allocates gets a
#: glibc arena of its own (64-128 MB of address space), which a small release (``featbus predict`` on a
#: folder) does not need and a process under an address-space limit (``ulimit -v``) cannot spare.
PROBE_THREADS_FROM = 256


def probe_files(root: Path, rels: list[Path]) -> dict[Path, tuple]:
    """:func:`featbus.io.header_shape` over files (threads from :data:`PROBE_THREADS_FROM` files on: the
    work is reading a few bytes of each, where waiting on the disk dominates)."""
    if len(rels) < PROBE_THREADS_FROM:
        return {r: header_shape(root / r) for r in rels}
    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(zip(rels, pool.map(lambda r: header_shape(root / r), rels)))


def normalisation_mattered(cell: str, image: Path) -> bool:
    """Whether a cell found its image only once both were NFC-normalised (one written NFC, the other NFD)."""
    return unicodedata.is_normalized("NFC", cell) != unicodedata.is_normalized("NFC", image.as_posix())


def unwrap_download_folder(path: Path) -> Path:
    """The folder inside a download wrapper (``busi/`` holding only ``Dataset_BUSI_with_GT/``),
    else ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from featbus.datasets import unwrap_download_folder
    >>> root = Path(tempfile.mkdtemp())
    >>> os.makedirs(root / "Dataset_BUSI_with_GT" / "benign")
    >>> unwrap_download_folder(root).name
    'Dataset_BUSI_with_GT'
    """
    if not path.is_dir():
        return path
    entries = [e for e in path.iterdir() if not e.name.startswith(".")]
    subdirs = [e for e in entries if e.is_dir()]
    if len(subdirs) == 1 and all(e.is_dir() or e.suffix.lower() in (".txt", ".md", ".zip") for e in entries) \
            and any(s.is_dir() for s in subdirs[0].iterdir()):
        return subdirs[0]
    return path


def copies_folders(found: dict[str, Sequence[Path]]) -> dict[str, str]:
    """The class folders that hold unlabelled copies of the others' images, with why: ``{name: reason}``.

    A folder is one when at least 90% of its images are copies of images in at least two
    other class folders (so it mixes their labels), or half of them are and its name says it holds
    every image (:data:`ALL_FOLDER_NAMES`: ``All``, ``everything``...). A copy is a byte-identical
    file, or a file of the same name when the other folders never share a name (so ``1.png`` in
    each class folder is no evidence). Only files of equal size are read, so a data set without
    copies costs one ``stat`` per file. Folders are judged largest first against those not yet
    found to be copies. ``found``: each class folder's name and its image files.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> files = {}
    >>> for c, names in (("benign", "ab"), ("malignant", "cd"), ("All", "abcd")):
    ...     (root / c).mkdir()
    ...     files[c] = []
    ...     for n in names:
    ...         _ = (root / c / f"{n}.png").write_bytes(n.encode() * 10)
    ...         files[c].append(root / c / f"{n}.png")
    >>> from featbus.datasets._release_scan import copies_folders
    >>> copies_folders(files)
    {'All': "its 4 images are copies of the images of 'benign' (2), 'malignant' (2) (byte-identical files)"}
    """
    sizes: dict[int, list[tuple[str, Path]]] = {}
    for name, files in found.items():
        for f in files:
            with suppress(OSError):
                sizes.setdefault(os.stat(f).st_size, []).append((name, f))
    digests: dict[Path, str] = {}  # only the files of a size found in two folders are read
    for f in (f for same in sizes.values() if len({n for n, _ in same}) > 1 for _, f in same):
        with suppress(OSError):
            digests[f] = file_sha256(f)
    out: dict[str, str] = {}
    for name in sorted(found, key=lambda n: -len(found[n])):
        files = list(found[name])
        others = [n for n in found if n != name and n not in out]
        if not files or len(others) < 2:
            continue
        theirs = [(n, f) for n in others for f in found[n]]
        by_digest = {digests[f]: n for n, f in reversed(theirs) if f in digests}  # the first folder holding each
        names = Counter(f.name.casefold() for _, f in theirs)  # a name two files share: names are no evidence
        by_name = {f.name.casefold(): n for n, f in theirs} if max(names.values(), default=1) == 1 else {}
        copied = [by_digest.get(digests.get(f, "")) for f in files]  # the folder of a byte-identical copy
        identical = sum(c is not None for c in copied)
        counts = Counter(by_name.get(f.name.casefold()) if c is None else c for c, f in zip(copied, files))
        counts.pop(None, None)
        matched = counts.total()
        if len(counts) >= 2 and matched >= (0.5 if column_key(name) in ALL_FOLDER_NAMES else 0.9) * len(files):
            how = ("byte-identical files" if identical == matched else "files of the same names" if not identical
                   else f"{identical} byte-identical, {matched - identical} of the same names")
            sources = ", ".join(f"{n!r} ({k})" for n, k in sorted(counts.items(), key=lambda kv: _natural_key(kv[0])))
            rest = "" if matched == len(files) else f"; its {len(files) - matched} other image(s) are left out with it"
            part = (f"its {len(files)} images are copies" if matched == len(files)
                    else f"{matched} of its {len(files)} images are copies")
            out[name] = f"{part} of the images of {sources} ({how}){rest}"
    return out


def one_level_down(root: Path, classes: Sequence[str] | None = None, extensions: Sequence[str] = ()) -> str:
    """What ``root`` (or its class folders ``classes``) hold one level down, in words: each
    folder's image files and sub-folders, for a message about a folder featbus cannot read.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "Benign" / "scans").mkdir(parents=True)
    >>> from featbus.datasets._release_scan import one_level_down
    >>> one_level_down(root, ["Benign"], (".png",))
    "'Benign/' holds no image file and 1 sub-folder (scans/, no image file in it)"
    """
    exts, parts = tuple(extensions), []

    def images_in(folder: Path) -> str:  # a sub-folder's image files (hidden ones too), in words
        n = 0
        with suppress(OSError):
            n = sum(1 for f in folder.iterdir() if f.is_file() and f.suffix.lower() in exts)
        return f"{n} image file(s)" if n else "no image file"

    for folder in ([root / c for c in classes] if classes else [root])[:6]:
        try:
            entries = [e for e in folder.iterdir() if not e.name.startswith(".")]
        except OSError:
            continue
        files = [e for e in entries if e.is_file()]
        images = [e for e in files if e.suffix.lower() in exts]
        subdirs = sorted((e for e in entries if e.is_dir()), key=lambda d: _natural_key(d.name))
        what = [f"{len(images)} image file(s)" if images else "no image file"]
        if subdirs:
            inner = "; ".join(f"{d.name}/, {images_in(d)} in it" for d in subdirs[:4])
            more = f" and {len(subdirs) - 4} more" if len(subdirs) > 4 else ""
            what.append(f"{len(subdirs)} sub-folder{'s' if len(subdirs) > 1 else ''} ({inner}{more})")
        if files and not images:
            what.append(f"{len(files)} other file(s) such as {files[0].name!r}")
        name = f"{folder.name}/" if classes else str(folder)
        parts.append(f"{name!r} holds " + " and ".join(what))
    if classes and len(classes) > 6:
        parts.append(f"and {len(classes) - 6} more class folders")
    return "; ".join(parts)
