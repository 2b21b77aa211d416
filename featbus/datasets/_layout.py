"""How a folder of class folders is laid out as downloaded: a class folder's images directly inside
it, or in ``images/`` with their masks in ``masks/``; a folder of unlabelled copies of the labelled
images (``All/``) beside the class folders; what a folder that cannot be read holds one level down.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from ..io import MASK_FOLDER_NAME, mask_stem
from ._common import _natural_key, _pattern_regex, _scan_class_folder

__all__ = ["ALL_FOLDER_NAMES", "class_folder_items", "copies_folders", "one_level_down", "WORKING_LAYOUTS"]

#: Names a folder of every image (unlabelled copies of the class folders' images) usually has,
#: compared without case, spaces, ``_`` or ``-``.
ALL_FOLDER_NAMES = ("all", "allimages", "alldata", "everything", "combined", "complete", "full", "whole",
                    "dataset", "unlabelled", "unlabeled", "mixed")

#: The layouts featbus reads as a labelled data set, for messages.
WORKING_LAYOUTS = ("one sub-folder per class (DATA/benign/*.png with masks beside them as <name>_mask.png, or "
                   "DATA/benign/images/ + DATA/benign/masks/), a CSV manifest (columns image,label[,mask,group]) or "
                   "a table, CSV or Excel, beside images/ and masks/ or original/ and GT/ (a hospital's export: "
                   "--image-column, --label-column, --group-column, --group-pattern)")


def _key(name: str) -> str:
    return "".join(ch for ch in name.casefold() if ch not in " _-")


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted((d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")),
                  key=lambda d: _natural_key(d.name))


def _has_images(folder: Path, extensions: tuple[str, ...]) -> bool:
    return any(f.is_file() and f.suffix.lower() in extensions and not f.name.startswith(".")
               for f in folder.iterdir())


def class_folder_items(folder: Path, mask_pattern: str, extensions: tuple[str, ...]):
    """A class folder's images with their mask files: ``(items, orphans, inner)``.

    ``items`` is a list of ``(image path, [mask paths])``, ``orphans`` the mask files without an
    image, ``inner`` ``None`` when the images lie in ``folder`` itself (masks beside them as
    ``mask_pattern`` says), else ``(images folder, masks folder or None)``: a class folder that holds
    no image itself but one image sub-folder (``images/``, any name) and at most one mask
    sub-folder (a name saying mask, ground truth...), whose files are the images' masks: the same
    file stem (any case), or a name ``mask_pattern`` gives (``<stem>_mask.png``).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> for d in ("Images", "Masks"):
    ...     (root / d).mkdir()
    ...     _ = (root / d / "a.png").write_bytes(b"")
    >>> items, orphans, inner = class_folder_items(root, "{stem}_mask*.png", (".png",))
    >>> [(i.name, [m.parent.name for m in ms]) for i, ms in items], [d.name for d in inner]
    ([('a.png', ['Masks'])], ['Images', 'Masks'])
    """
    found, orphans = _scan_class_folder(folder, mask_pattern, extensions)
    if found or orphans:
        return found, orphans, None
    subdirs = _visible_dirs(folder)
    mask_dirs = [d for d in subdirs if MASK_FOLDER_NAME.search(d.name)]
    image_dirs = [d for d in subdirs if d not in mask_dirs and _has_images(d, extensions)]
    if len(image_dirs) != 1 or len(mask_dirs) > 1:
        return [], [], None
    image_dir, mask_dir = image_dirs[0], (mask_dirs[0] if mask_dirs else None)
    found, orphans = _scan_class_folder(image_dir, mask_pattern, extensions)  # masks beside them count too
    if mask_dir is None:
        return found, orphans, (image_dir, None)
    masks = sorted((f for f in mask_dir.iterdir() if f.is_file() and not f.name.startswith(".")
                    and f.suffix.lower() in extensions), key=lambda f: _natural_key(f.name))
    by_stem: dict[str, list[Path]] = {}
    for m in masks:  # 'a.png', 'a_mask.png', 'a-GT.png', 'a_mask_1.png' are masks of 'a.png'
        by_stem.setdefault(m.stem.casefold(), []).append(m)
        if mask_stem(m.stem) != m.stem.casefold():
            by_stem.setdefault(mask_stem(m.stem), []).append(m)
    used: set[Path] = set()
    out = []
    for image, beside in found:
        own = list(by_stem.get(image.stem.casefold(), []))
        if not own:  # <stem>_mask.png, <stem>_mask_1.png ... in the mask folder
            pattern = _pattern_regex(mask_pattern, image.stem)
            own = [m for m in masks if pattern.match(m.name)]
        used.update(own)
        out.append((image, sorted(beside + own, key=lambda m: _natural_key(m.name))))
    orphans = orphans + [m for m in masks if m not in used]
    return out, orphans, (image_dir, mask_dir)


def _digest(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def copies_folders(found: dict[str, Sequence[Path]], *, share: float = 0.9) -> dict[str, str]:
    """The class folders that hold unlabelled copies of the others' images, with why: ``{name: reason}``.

    A folder is one when at least ``share`` of its images are copies of images in at least two
    other class folders (so it mixes their labels), or half of them are and its name says it holds
    every image (:data:`ALL_FOLDER_NAMES`: ``All``, ``everything``...). A copy is a byte-identical
    file, or a file of the same name when the other folders never share a name (so ``1.png`` in
    each class folder is no evidence). Only files of equal size are read, so a data set without
    copies costs one ``stat`` per file. Folders are judged largest first against those not yet
    found to be copies.

    Parameters
    ----------
    found : dict
        Each class folder's name and its image files.
    share : float, default=0.9

    Returns
    -------
    dict
        The copies folders' names and, for each, a reason in words.

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
    >>> copies_folders(files)
    {'All': "its 4 images are copies of the images of 'benign' (2), 'malignant' (2) (byte-identical files)"}
    """
    sizes: dict[int, list[tuple[str, Path]]] = {}
    for name, files in found.items():
        for f in files:
            try:
                sizes.setdefault(os.stat(f).st_size, []).append((name, f))
            except OSError:
                continue
    digests: dict[Path, str] = {}
    for same in sizes.values():
        if len({n for n, _ in same}) > 1:  # equal sizes in two folders: read them
            for _, f in same:
                try:
                    digests[f] = _digest(f)
                except OSError:
                    continue
    out: dict[str, str] = {}
    for name in sorted(found, key=lambda n: -len(found[n])):
        files = list(found[name])
        others = [n for n in found if n != name and n not in out]
        if not files or len(others) < 2:
            continue
        by_digest: dict[str, str] = {}
        by_name: dict[str, list[str]] = {}
        for n in others:
            for f in found[n]:
                if f in digests:
                    by_digest.setdefault(digests[f], n)
                by_name.setdefault(f.name.casefold(), []).append(n)
        names_unique = all(len(v) == 1 for v in by_name.values())
        counts: dict[str, int] = {}
        identical = 0
        for f in files:
            source = by_digest.get(digests.get(f, ""))
            if source is not None:
                identical += 1
            elif names_unique and f.name.casefold() in by_name:
                source = by_name[f.name.casefold()][0]
            if source is not None:
                counts[source] = counts.get(source, 0) + 1
        matched = sum(counts.values())
        named_all = _key(name) in ALL_FOLDER_NAMES
        if len(counts) >= 2 and matched >= (0.5 if named_all else share) * len(files):
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
    >>> one_level_down(root, ["Benign"], (".png",))
    "'Benign/' holds no image file and 1 sub-folder (scans/, no image file in it)"
    """
    exts = tuple(extensions)
    folders = [root / c for c in classes] if classes else [root]
    parts = []
    for folder in folders[:6]:
        try:
            entries = [e for e in folder.iterdir() if not e.name.startswith(".")]
        except OSError:
            continue
        images = [e for e in entries if e.is_file() and e.suffix.lower() in exts]
        others = [e for e in entries if e.is_file() and e.suffix.lower() not in exts]
        subdirs = sorted((e for e in entries if e.is_dir()), key=lambda d: _natural_key(d.name))
        what = [f"{len(images)} image file(s)" if images else "no image file"]
        if subdirs:
            inner = []
            for d in subdirs[:4]:
                try:
                    n = sum(1 for f in d.iterdir() if f.is_file() and f.suffix.lower() in exts)
                except OSError:
                    n = 0
                inner.append(f"{d.name}/, " + (f"{n} image file(s)" if n else "no image file") + " in it")
            more = f" and {len(subdirs) - 4} more" if len(subdirs) > 4 else ""
            what.append(f"{len(subdirs)} sub-folder{'s' if len(subdirs) > 1 else ''} ("
                        + "; ".join(inner) + more + ")")
        if others and not images:
            what.append(f"{len(others)} other file(s) such as {others[0].name!r}")
        name = f"{folder.name}/" if classes else str(folder)
        parts.append(f"{name!r} holds " + " and ".join(what))
    if classes and len(classes) > 6:
        parts.append(f"and {len(classes) - 6} more class folders")
    return "; ".join(parts)
