"""Data sets as :class:`sklearn.utils.Bunch`: synthetic phantoms, image folders, BUSI, BUS-BRA, mini-MIAS.

Every loader returns a Bunch with the same fields, so code written for one data set runs on the
others:

``images``
    list of 2-D arrays (gray, dtype as stored: ``uint8`` or ``uint16``);
``masks``
    list of ``bool`` arrays of the images' shapes; all ``False`` when no lesion is drawn;
``target``, ``target_names``
    int labels and their names (``target_names[target[i]]`` is the class of image ``i``);
``paths``
    list of ``str``, where each image came from (a name for synthetic images);
``groups``
    int array, images of one group must stay on the same side of a split (near-duplicates, or
    the images of one woman);
``data``
    list of :class:`featbus.ImageRecord` ``(image, mask, path, meta)``: what a
    :class:`~sklearn.pipeline.Pipeline` takes as ``X`` when masks should travel with the images;
``DESCR``
    a short description.
"""

from __future__ import annotations

import numbers
import os
import re
import stat
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from sklearn.utils import Bunch, check_random_state

from .._records import ImageError, ImageRecord, map_images
from ..io import read_image, read_mask, warn_skipped

__all__ = ["make_phantoms", "load_image_folder", "load_busi", "load_bus_bra", "load_breast_lesions_usg",
           "load_site_table_folder", "SITE_TABLES", "SiteTable", "site_table_of", "unwrap_download_folder",
           "load_mias", "load_manifest", "load_data", "is_mias_folder", "is_bus_bra_folder", "mias_files",
           "lesion_patches", "manifest_images", "load_sample", "subset", "PER_IMAGE_FIELDS"]

PHANTOM_CLASSES = ("benign", "malignant", "normal")


def _classes_text(target, classes) -> str:
    """``classes {name: count}`` for a data set's description, or ``unlabelled``."""
    if not len(classes):
        return "unlabelled"
    counts = np.bincount(np.asarray(target, dtype=int), minlength=len(classes))
    return f"classes {dict(zip(classes, counts.tolist()))}"


def _bunch(images, masks, target, target_names, paths, groups, metas, descr, **extra) -> Bunch:
    """Assemble the common Bunch layout (records share the arrays, no copies)."""
    data = [ImageRecord(im, m, p, meta) for im, m, p, meta in zip(images, masks, paths, metas)]
    return Bunch(
        images=list(images), masks=list(masks), target=np.asarray(target, dtype=int),
        target_names=np.asarray(target_names, dtype=str), paths=list(paths),
        groups=np.asarray(groups, dtype=int), data=data, DESCR=descr, **extra,
    )


#: The fields of a data set Bunch that hold one entry per image (:func:`subset` takes them).
PER_IMAGE_FIELDS = ("images", "masks", "paths", "data", "target", "groups", "sites", "group_ids", "split",
                    "abnormality", "tissue", "lesions", "mask_complete")


def subset(data: Bunch, idx) -> Bunch:
    """The images ``idx`` of a data set (a loader's Bunch), as a Bunch of the same layout.

    Every field with one entry per image (:data:`PER_IMAGE_FIELDS`: images, masks, paths,
    records, target, groups, sites...) is taken at ``idx``, lists as lists and arrays as arrays;
    every other field (``target_names``, ``DESCR``, ``site_names``, ``skipped``...) is kept as it is.

    Parameters
    ----------
    data : Bunch
        A data set of :mod:`featbus.datasets` (or of :func:`featbus.combine_sites`).
    idx : array-like of int
        Positions of the images to keep, in the order to keep them.

    Returns
    -------
    part : Bunch

    Examples
    --------
    >>> from featbus.datasets import make_phantoms, subset
    >>> data = make_phantoms(6, image_size=32, random_state=0)
    >>> part = subset(data, [0, 2])
    >>> len(part.data), part.target.tolist() == data.target[[0, 2]].tolist(), part.target_names is data.target_names
    (2, True, True)
    """
    idx = np.asarray(idx, dtype=int)
    out = Bunch(**data)
    for key in PER_IMAGE_FIELDS:
        value = data.get(key)
        if value is None:
            continue
        array = isinstance(value, np.ndarray) or key in ("target", "groups", "sites", "group_ids", "split")
        out[key] = np.asarray(value)[idx] if array else [value[i] for i in idx]
    return out


# --------------------------------------------------------------------------- phantoms

def _class_counts(n_samples: int, weights) -> np.ndarray:
    k = len(PHANTOM_CLASSES)
    if weights is None:
        w = np.full(k, 1.0 / k)
    else:
        w = np.asarray(weights, dtype=float).ravel()
        if w.size == k - 1:  # like make_classification: the last class takes the rest
            w = np.append(w, 1.0 - w.sum())
        if w.size != k or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(
                f"weights must be {k} non-negative proportions for {list(PHANTOM_CLASSES)} "
                f"(or {k - 1}, the last class taking the rest), got {weights!r}")
        w = w / w.sum()
    # largest-remainder rounding: counts sum to n_samples exactly and follow the proportions
    raw = w * n_samples
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n_samples - counts.sum()]:
        counts[i] += 1
    return counts


def _speckle(rng: np.random.RandomState, shape: tuple[int, int]) -> np.ndarray:
    """Fully developed speckle: magnitude of a smoothed complex Gaussian field (Rayleigh
    distributed, spatially correlated like a real point-spread function), mean 1."""
    re = ndi.gaussian_filter(rng.standard_normal(shape), (0.7, 1.4))  # PSF wider laterally
    im = ndi.gaussian_filter(rng.standard_normal(shape), (0.7, 1.4))
    amp = np.hypot(re, im)
    return amp / amp.mean()


def _background(rng: np.random.RandomState, h: int, w: int) -> np.ndarray:
    """Layered breast tissue: bright skin line, dark subcutaneous fat, bright fibroglandular
    layer, darker deep tissue, with wavy boundaries and depth attenuation."""
    rows = np.arange(h)[:, None] / h
    cols = np.arange(w)[None, :] / w

    def boundary(depth, amp):
        phase, freq = rng.uniform(0, 2 * np.pi), rng.uniform(1.0, 3.0)
        return depth + amp * np.sin(2 * np.pi * freq * cols + phase)

    skin = boundary(rng.uniform(0.03, 0.07), 0.005)
    fat = boundary(rng.uniform(0.18, 0.32), 0.04)
    gland = boundary(rng.uniform(0.60, 0.80), 0.05)
    levels = rng.uniform([0.75, 0.30, 0.55, 0.30], [0.95, 0.45, 0.75, 0.45])
    tissue = np.where(rows < skin, levels[0],
                      np.where(rows < fat, levels[1], np.where(rows < gland, levels[2], levels[3])))
    tissue = ndi.gaussian_filter(tissue, 1.5)
    # a few fat lobules (hypoechoic, unmasked) so that "dark blob" alone does not mean lesion
    for _ in range(rng.randint(0, 3)):
        cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0, 1) * w
        ry, rx = rng.uniform(0.03, 0.07) * h, rng.uniform(0.08, 0.15) * w
        blob = ((np.arange(h)[:, None] - cy) / ry) ** 2 + ((np.arange(w)[None, :] - cx) / rx) ** 2
        tissue = tissue * (1 - 0.3 * np.exp(-blob))
    attenuation = np.exp(-rng.uniform(0.2, 0.8) * rows)
    return tissue * attenuation


def _lesion(rng: np.random.RandomState, h: int, w: int, malignant: bool):
    """Return (mask, softness) of one lesion drawn in polar coordinates r <= R(theta)."""
    side = min(h, w)
    size = rng.uniform(0.08, 0.20) * side  # mean radius in pixels
    if malignant:
        aspect = rng.uniform(0.8, 1.5)  # height / width: mostly taller than wide
    else:
        aspect = rng.uniform(0.5, 1.0)  # wider than tall: parallel to the skin
    ry, rx = size * np.sqrt(aspect), size / np.sqrt(aspect)
    cy = rng.uniform(0.30, 0.60) * h
    cx = rng.uniform(0.30, 0.70) * w
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    dy, dx = yy - cy, xx - cx
    theta = np.arctan2(dy / ry, dx / rx)
    r = np.hypot(dy / ry, dx / rx)  # 1 on the ellipse
    radius = np.ones_like(theta)
    # gentle smooth wobble for every lesion
    for k in (2, 3):
        radius += rng.uniform(0, 0.05) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    if malignant:
        # microlobulation: higher harmonics
        for k in rng.choice(np.arange(5, 10), size=2, replace=False):
            radius += rng.uniform(0.04, 0.12) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
        # spiculation: narrow spikes at random angles
        for _ in range(rng.randint(3, 9)):
            ang = rng.uniform(-np.pi, np.pi)
            d = np.angle(np.exp(1j * (theta - ang)))
            radius += rng.uniform(0.2, 0.6) * np.exp(-(d / rng.uniform(0.04, 0.09)) ** 2)
    mask = r <= radius
    return mask, (cy, cx, ry, rx)


def _phantom(seed: int, h: int, w: int, label: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    img = _background(rng, h, w)
    mask = np.zeros((h, w), bool)
    if label in (0, 1):
        malignant = label == 1
        mask, (cy, cx, ry, rx) = _lesion(rng, h, w, malignant)
        # circumscribed (sharp) margin for benign, indistinct for malignant
        soft = ndi.gaussian_filter(mask.astype(float), 0.6 if not malignant else 1.6)
        contrast = rng.uniform(0.15, 0.55)  # hypoechoic: the lesion keeps this fraction of echo
        inside = contrast * (1 + 0.15 * ndi.gaussian_filter(rng.standard_normal((h, w)), 2))
        img = img * (1 - soft) + img * inside * soft
        # posterior acoustic feature below the lesion, across its width, fading with depth
        cols = mask.any(axis=0).astype(float)
        cols = ndi.gaussian_filter1d(cols, 1.0 if malignant else 2.0)
        bottom = np.max(np.nonzero(mask.any(axis=1))[0]) if mask.any() else int(cy)
        depth = np.clip((np.arange(h) - bottom) / h, 0, None)[:, None]
        below = (np.arange(h) > bottom)[:, None] * np.exp(-depth * rng.uniform(1, 4))
        if malignant:
            strength = -rng.uniform(0.25, 0.6)  # shadow
        else:
            strength = rng.uniform(0.0, 0.4) if rng.rand() < 0.7 else 0.0  # maybe enhancement
        img = img * (1 + strength * below * cols[None, :])
    img = img * _speckle(rng, (h, w))
    img = img * rng.uniform(0.8, 1.2)  # gain
    return np.clip(np.rint(img * 200), 0, 255).astype(np.uint8), mask


def make_phantoms(n_samples: int = 60, *, image_size: int | tuple[int, int] = 128,
                  weights: Sequence[float] | None = None, random_state=None) -> Bunch:
    """Synthetic breast-ultrasound-like images with lesion masks, for tests and examples.

    Each image is layered tissue (skin line, subcutaneous fat, fibroglandular layer, deep
    tissue, with depth attenuation and a few unmasked fat lobules) times fully developed speckle
    (Rayleigh amplitude of a correlated complex Gaussian field). Classes follow the BI-RADS
    ultrasound descriptors:

    * ``benign``: a smooth oval, wider than tall (parallel to the skin), circumscribed (sharp)
      margin, sometimes posterior acoustic enhancement;
    * ``malignant``: an irregular lesion with a microlobulated and spiculated, indistinct
      margin, mostly taller than wide, with a posterior acoustic shadow;
    * ``normal``: no lesion; its mask is all ``False``.

    Lesions are hypoechoic; their size, position, contrast and shape vary with overlapping
    ranges, so the task is learnable but not trivial.

    Parameters
    ----------
    n_samples : int, default=60
        Number of images.
    image_size : int or (int, int), default=128
        Side of square images, or ``(height, width)``; at least 16.
    weights : sequence of float, optional
        Class proportions for ``("benign", "malignant", "normal")`` (3 values, or 2 with the
        last class taking the rest). Counts are rounded so they sum to ``n_samples``.
        Default: balanced.
    random_state : int, RandomState or None
        Seed; the same seed gives the same images.

    Returns
    -------
    data : Bunch
        ``images`` (list of ``uint8`` arrays), ``masks`` (list of ``bool`` arrays), ``target``,
        ``target_names`` (``["benign", "malignant", "normal"]``), ``paths`` (names
        ``"phantom-0000"``, ``"phantom-0001"``, ...: there is no file, but every record gets a
        distinct non-empty name for error messages), ``groups`` (``arange(n_samples)``: every
        phantom is independent), ``data`` (:class:`featbus.ImageRecord` list, with
        ``meta={"label": name}``) and ``DESCR``.

    Examples
    --------
    >>> from featbus import make_phantoms
    >>> ph = make_phantoms(6, image_size=64, random_state=0)
    >>> len(ph.images), ph.images[0].shape, ph.images[0].dtype
    (6, (64, 64), dtype('uint8'))
    >>> ph.target_names.tolist()
    ['benign', 'malignant', 'normal']
    >>> sorted(ph.target.tolist())
    [0, 0, 1, 1, 2, 2]
    >>> bool(ph.masks[list(ph.target).index(2)].any())  # normal: empty mask
    False
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        h = w = int(image_size)
    else:
        try:
            h, w = (int(s) for s in image_size)
        except (TypeError, ValueError):
            raise ValueError(f"image_size must be an int or (height, width), got {image_size!r}") from None
    if min(h, w) < 16:
        raise ValueError(f"image_size must be at least 16 pixels per side, got {(h, w)}")
    counts = _class_counts(int(n_samples), weights)
    rs = check_random_state(random_state)
    target = np.repeat(np.arange(len(PHANTOM_CLASSES)), counts)
    rs.shuffle(target)
    seeds = rs.randint(0, 2**31 - 1, size=len(target))
    images, masks = [], []
    for seed, label in zip(seeds, target):
        im, m = _phantom(int(seed), h, w, int(label))
        images.append(im)
        masks.append(m)
    paths = [f"phantom-{i:04d}" for i in range(len(target))]
    metas = [{"label": PHANTOM_CLASSES[t]} for t in target]
    descr = (f"featbus synthetic ultrasound phantoms: {len(target)} images of {h}x{w} pixels, "
             f"classes {dict(zip(PHANTOM_CLASSES, counts.tolist()))}.")
    return _bunch(images, masks, target, PHANTOM_CLASSES, paths, np.arange(len(target)), metas, descr)


# --------------------------------------------------------------------------- image folders

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".pgm", ".dcm")
_ON_ERROR = ("raise", "skip")


def _natural_key(name: str):
    """Sort 'benign (2)' before 'benign (10)'."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _pattern_regex(pattern: str, stem: str | None) -> re.Pattern:
    """Regex for a mask file-name pattern with ``{stem}`` and shell wildcards ``*``/``?``."""
    if pattern.count("{stem}") != 1:
        raise ValueError(f"mask_pattern must contain '{{stem}}' exactly once, got {pattern!r}")
    before, after = pattern.split("{stem}")

    def wild(part: str) -> str:
        return "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in part)

    middle = "(?P<stem>.+)" if stem is None else re.escape(stem)
    return re.compile(f"^{wild(before)}{middle}{wild(after)}$", re.IGNORECASE)


def _scan_class_folder(folder: Path, mask_pattern: str, extensions: tuple[str, ...]):
    """Split a class folder into images (with their mask files) and orphan masks."""
    files = sorted((f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")),
                   key=lambda f: _natural_key(f.name))
    generic = _pattern_regex(mask_pattern, None)
    mask_like = {f.name for f in files if generic.match(f.name)}
    images = [f for f in files if f.suffix.lower() in extensions and f.name not in mask_like]
    stems = {f.stem: f for f in images}
    owners: dict[str, list[Path]] = {f.stem: [] for f in images}
    orphans = []
    for f in files:
        if f.name not in mask_like:
            continue
        # the longest image stem whose own pattern matches owns the mask ("a_mask_1.png" -> "a")
        cands = [s for s in stems if s in f.name and _pattern_regex(mask_pattern, s).match(f.name)]
        if cands:
            owners[max(cands, key=len)].append(f)
        else:
            orphans.append(f)
    return [(f, sorted(owners[f.stem], key=lambda m: _natural_key(m.name))) for f in images], orphans


def _load_one(item, index: int):
    """Read one image and the union of its masks; return a tuple or an error reason."""
    image_path, mask_paths = item
    try:
        image = read_image(image_path)
    except (ImageError, FileNotFoundError) as exc:
        return ("error", str(image_path), getattr(exc, "reason", str(exc)))
    if not mask_paths:
        return image, np.zeros(image.shape, bool)
    try:
        mask = read_mask(mask_paths, shape=image.shape)
    except ImageError as exc:
        return ("error", str(image_path), f"mask {exc.path!r}: {exc.reason} (image {str(image_path)!r} "
                f"has shape {image.shape})")
    except FileNotFoundError as exc:
        return ("error", str(image_path), f"mask: {exc}")
    return image, mask


def _check_label_spellings(labels: Sequence[str], where: str) -> None:
    """Refuse labels that differ only in case or surrounding spaces (``'Benign '`` beside
    ``'benign'``): two spellings of one class would silently become two classes.

    Examples
    --------
    >>> _check_label_spellings(["benign", "malignant"], "a table")
    >>> _check_label_spellings(["benign", "Benign ", "malignant"], "a table")
    Traceback (most recent call last):
    ...
    ValueError: labels 'Benign ' and 'benign' of a table differ only in case or surrounding spaces: ...
    """
    spellings: dict[str, list[str]] = {}
    for label in labels:
        spellings.setdefault(str(label).strip().casefold(), []).append(str(label))
    for names in spellings.values():
        if len(names) > 1:
            names = sorted(names)
            raise ValueError(f"labels {' and '.join(repr(n) for n in names)} of {where} differ only in case or "
                             "surrounding spaces: write one class one way (featbus would read them as "
                             f"{len(names)} classes)")


def load_image_folder(root: str | os.PathLike, *, classes: Sequence[str] | None = None,
                      mask_pattern: str = "{stem}_mask*.png",
                      extensions: Sequence[str] = IMAGE_EXTENSIONS, on_error: str = "raise",
                      groups: str | None = "duplicates", duplicate_threshold: int | None = None,
                      n_jobs: int | None = None, require_labels: bool = True) -> Bunch:
    """Load a folder of images, one sub-folder per class, with optional masks beside them.

    Layout (the BUSI layout)::

        root/
          benign/   a (1).png  a (1)_mask.png  a (1)_mask_1.png  b.png ...
          malignant/ ...

    Parameters
    ----------
    root : path
        The folder holding one sub-folder per class.
    classes : sequence of str, optional
        Class sub-folders to load, in this order (their index is the target). Default: every
        non-hidden sub-folder, sorted by name.
    mask_pattern : str, default="{stem}_mask*.png"
        File-name pattern of an image's mask files, ``{stem}`` being the image's file name
        without extension; ``*`` and ``?`` are wildcards. Several matching files (``_mask``,
        ``_mask_1``, ...: several lesions) are merged by union. Files matching the pattern are
        never loaded as images; a mask file whose image is absent is reported by a warning.
    extensions : sequence of str
        Image file extensions (case-insensitive).
    on_error : {"raise", "skip"}, default="raise"
        What an unreadable image, or a mask whose size differs from its image's, does: raise
        an error naming the file(s), or skip the image; skipped images are listed in
        ``Bunch.skipped`` as ``(path, reason)`` and reported by a warning.
    groups : {"duplicates"} or None, default="duplicates"
        ``"duplicates"``: ``Bunch.groups`` from :func:`featbus.duplicate_groups` (near-duplicate
        images share a group); ``None``: every image its own group.
    duplicate_threshold : int, optional
        ``threshold`` of :func:`featbus.duplicate_groups`.
    n_jobs : int, optional
        Parallel workers for reading.
    require_labels : bool, default=True
        ``False`` also reads a folder without class sub-folders (its images directly inside,
        masks beside them): unlabelled data, for feature extraction. Its ``target`` is ``-1``
        for every image and ``target_names`` is empty.

    Returns
    -------
    data : Bunch
        ``images``, ``masks``, ``target``, ``target_names`` (the class folder names),
        ``paths``, ``groups``, ``data`` (:class:`featbus.ImageRecord` with
        ``meta={"label", "has_mask_file", "mask_paths"}``), ``skipped``, ``DESCR``. Images
        without a mask file get an all-``False`` mask and ``meta["has_mask_file"] = False``:
        in a folder with masks, "no mask file" is read as "no lesion drawn".

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus import load_image_folder
    >>> root = tempfile.mkdtemp()
    >>> rng = np.random.RandomState(0)
    >>> for c in ("a", "b"):
    ...     os.mkdir(os.path.join(root, c))
    ...     im = (rng.rand(32, 32) * 255).astype(np.uint8)
    ...     Image.fromarray(im).save(os.path.join(root, c, "x (1).png"))
    ...     Image.fromarray((im > 128).astype(np.uint8) * 255).save(os.path.join(root, c, "x (1)_mask.png"))
    >>> data = load_image_folder(root)
    >>> data.target_names.tolist(), data.target.tolist(), len(data.data)
    (['a', 'b'], [0, 1], 2)
    >>> bool(data.masks[0].any()), data.data[0].meta["has_mask_file"]
    (True, True)
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{str(root)!r}: no such folder")
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    if groups not in ("duplicates", None):
        raise ValueError(f"groups must be 'duplicates' or None, got {groups!r}")
    if isinstance(extensions, str):
        extensions = (extensions,)
    exts = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
    _pattern_regex(mask_pattern, None)  # validate early
    if classes is None:
        classes = sorted((d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                         key=_natural_key)
        if not classes and require_labels:
            raise ValueError(f"{str(root)!r} has no class sub-folders (expected root/<class>/<image>)")
        _check_label_spellings(classes, f"the class folders of {str(root)!r}")
    else:
        classes = [str(c) for c in classes]
        absent = [c for c in classes if not (root / c).is_dir()]
        if absent:
            raise FileNotFoundError(f"class folder(s) {absent} not found in {str(root)!r}")
    items, labels = [], []
    # no class sub-folders (only allowed without require_labels): the images in root, unlabelled
    for k, folder in enumerate([root / c for c in classes] if classes else [root]):
        found, orphans = _scan_class_folder(folder, mask_pattern, exts)
        if orphans:
            warnings.warn(f"{len(orphans)} mask file(s) without an image in {str(folder)!r}: "
                          + ", ".join(repr(o.name) for o in orphans[:10]), UserWarning, stacklevel=2)
        items += found
        labels += [k if classes else -1] * len(found)
    if not items:
        where = "the class folders of " if classes else ""
        raise ValueError(f"no image files with extensions {exts} in {where}{str(root)!r}")
    results = map_images(_load_one, items, n_jobs, backend="threading")  # decoders release the GIL
    images, masks, target, paths, metas, skipped = [], [], [], [], [], []
    for (image_path, mask_paths), label, res in zip(items, labels, results):
        if isinstance(res[0], str):  # ("error", path, reason)
            if on_error == "raise":
                raise ImageError(res[2], path=res[1])
            skipped.append((res[1], res[2]))
            continue
        images.append(res[0])
        masks.append(res[1])
        target.append(label)
        paths.append(str(image_path))
        metas.append({"label": classes[label] if label >= 0 else None, "has_mask_file": bool(mask_paths),
                      "mask_paths": [str(m) for m in mask_paths]})
    if skipped:
        warn_skipped([(i, p, r) for i, (p, r) in enumerate(skipped)], "image(s)")
    if not images:
        raise ValueError(f"no readable image in {str(root)!r}")
    if groups == "duplicates":
        from ..model_selection import duplicate_groups

        group_labels = duplicate_groups(images, threshold=duplicate_threshold, n_jobs=n_jobs)
    else:
        group_labels = np.arange(len(images))
    descr = (f"Image folder {str(root)!r}: {len(images)} images, {_classes_text(target, classes)}, "
             f"{len(np.unique(group_labels))} groups.")
    return _bunch(images, masks, target, classes, paths, group_labels, metas, descr, skipped=skipped)


# --------------------------------------------------------------------------- BUSI

BUSI_CLASSES = ("benign", "malignant", "normal")


def _default_data_dir(name: str) -> Path | None:
    candidates = []
    if os.environ.get("FEATBUS_DATA"):
        candidates.append(Path(os.environ["FEATBUS_DATA"]) / name)
    candidates.append(Path.cwd().parent / "shared" / "data" / name)  # run from a checkout
    return next((c for c in candidates if c.is_dir()), None)


def load_busi(root: str | os.PathLike | None = None, *, duplicate_threshold: int | None = None,
              on_error: str = "raise", n_jobs: int | None = None) -> Bunch:
    """Load BUSI, the Breast Ultrasound Images data set, with masks and duplicate groups.

    Al-Dhabyani W, Gomaa M, Khaled H, Fahmy A. *Dataset of breast ultrasound images.* Data in
    Brief 28:104863 (2020). featbus never downloads it: point ``root`` at a local copy.

    Parameters
    ----------
    root : path, optional
        The ``Dataset_BUSI_with_GT`` folder, or a folder containing it. Default:
        ``$FEATBUS_DATA/busi``, else ``../shared/data/busi`` from the working directory.
    duplicate_threshold : int, optional
        ``threshold`` of :func:`featbus.duplicate_groups` for ``Bunch.groups``.
    on_error : {"raise", "skip"}, default="raise"
        See :func:`load_image_folder`.
    n_jobs : int, optional
        Parallel workers for reading and hashing.

    Returns
    -------
    data : Bunch
        As :func:`load_image_folder`, classes ``["benign", "malignant", "normal"]``. Masks are
        the union of ``<name>_mask*.png``; normal images have all-``False`` masks. ``groups``
        are near-duplicate groups: use them (or :class:`featbus.DuplicateGroupKFold`) for CV,
        since BUSI holds many near-copies of one lesion.

    Examples
    --------
    >>> from featbus import load_busi
    >>> data = load_busi("../shared/data/busi")  # doctest: +SKIP
    >>> data.target_names.tolist()  # doctest: +SKIP
    ['benign', 'malignant', 'normal']
    """
    if root is None:
        root = _default_data_dir("busi")
        if root is None:
            raise FileNotFoundError("BUSI not found: pass root= (the Dataset_BUSI_with_GT folder or its "
                                    "parent) or set FEATBUS_DATA to the folder holding busi/")
    root = Path(root)

    def is_busi(p: Path) -> bool:
        return all((p / c).is_dir() for c in BUSI_CLASSES)

    found = next((p for p in (root, root / "Dataset_BUSI_with_GT") if is_busi(p)), None)
    if found is None:
        raise FileNotFoundError(f"{str(root)!r} is not a BUSI folder: expected sub-folders "
                                f"{list(BUSI_CLASSES)} in it or in its Dataset_BUSI_with_GT folder")
    data = load_image_folder(found, classes=BUSI_CLASSES, mask_pattern="{stem}_mask*.png",
                             extensions=(".png",), on_error=on_error, groups="duplicates",
                             duplicate_threshold=duplicate_threshold, n_jobs=n_jobs)
    data.DESCR = ("BUSI breast ultrasound images (Al-Dhabyani et al., Data in Brief 28:104863, 2020). "
                  + data.DESCR)
    return data


# --------------------------------------------------------------------------- sites with a table

@dataclass(frozen=True)
class SiteTable:
    """A public data set whose folder carries a table featbus reads: one row per image naming its
    patient, so that every split and every interval keeps a patient whole.

    Attributes
    ----------
    name : str
        The data set (in messages).
    file : str
        The table's file name at the folder's root (``bus_data.csv``).
    id, patient, label : str
        Its columns (lower-cased) holding the image's file stem, the patient, the label.
    citation : str
        What :attr:`Bunch.DESCR` cites.
    patient_column, label_column : str
        The patient and label columns as the table spells them (in messages).
    """

    name: str
    file: str
    id: str
    patient: str
    label: str
    citation: str
    patient_column: str
    label_column: str

    def is_folder(self, root: str | os.PathLike) -> bool:
        """Whether ``root`` holds this table beside class sub-folders."""
        root = Path(root)
        return (root.is_dir() and (root / self.file).is_file()
                and any(d.is_dir() and not d.name.startswith(".") for d in root.iterdir()))


#: The tables :func:`load_data` recognises, by the data set that ships them.
SITE_TABLES = {
    "bus-bra": SiteTable("BUS-BRA", "bus_data.csv", "id", "case", "pathology",
                         "BUS-BRA breast ultrasound images (Gómez-Flores et al., Med Phys 2024, doi:10.1002/mp.16812)",
                         "Case", "Pathology"),
    "breast-lesions-usg": SiteTable("BrEaST-Lesions-USG", "breast_data.csv", "id", "caseid", "classification",
                                    "BrEaST-Lesions-USG breast ultrasound images (Pawłowska et al., Sci Data "
                                    "11:148, 2024; data doi:10.7937/9WKK-Q141; CC BY 4.0)", "CaseID",
                                    "Classification"),
}
#: The table at the root of a BUS-BRA folder: one row per image (``ID``, ``Case``, ``Pathology``...).
BUS_BRA_TABLE = SITE_TABLES["bus-bra"].file


def is_bus_bra_folder(root: str | os.PathLike) -> bool:
    """Whether ``root`` looks like a BUS-BRA folder: ``bus_data.csv`` beside class sub-folders.

    Examples
    --------
    >>> import tempfile
    >>> from featbus.datasets import is_bus_bra_folder
    >>> is_bus_bra_folder(tempfile.mkdtemp())
    False
    """
    return SITE_TABLES["bus-bra"].is_folder(root)


def site_table_of(root: str | os.PathLike) -> SiteTable | None:
    """The :data:`SITE_TABLES` entry whose table lies in ``root`` beside class sub-folders, else ``None``.

    Examples
    --------
    >>> import tempfile
    >>> from featbus.datasets import site_table_of
    >>> site_table_of(tempfile.mkdtemp()) is None
    True
    """
    return next((t for t in SITE_TABLES.values() if t.is_folder(root)), None)


def _site_table_rows(table_path: Path, spec: SiteTable) -> dict[str, dict]:
    """A site's table as ID -> row (column names lower-cased, cells as text), its columns checked."""
    table = _manifest_table(table_path, ())
    need = (spec.id, spec.patient, spec.label)
    absent = [c for c in need if c not in table.columns]
    if absent:
        raise ValueError(f"{str(table_path)!r} has no column(s) {absent}: a {spec.name} table needs "
                         f"ID, {spec.patient_column} and {spec.label_column}, it has {list(table.columns)}")
    rows: dict[str, dict] = {}
    for line, row in enumerate(table.to_dict("records"), start=2):
        key = str(row[spec.id]).strip()
        if not key or not str(row[spec.patient]).strip():
            raise _manifest_error(table_path, line, f"an empty 'ID' or {spec.patient_column!r}")
        if key in rows:
            raise _manifest_error(table_path, line, f"ID {key!r} is listed twice")
        rows[key] = {**{c: str(v).strip() for c, v in row.items()}, "row": line}
    return rows


def _site_root(root, key: str):
    """``root``, else the site's default folder (``$FEATBUS_DATA/<key>`` or ``../shared/data/<key>``)."""
    if root is not None:
        return root
    found = _default_data_dir(key)
    if found is None:
        spec = SITE_TABLES[key]
        raise FileNotFoundError(f"{spec.name} not found: pass root= (the folder holding {spec.file}) or set "
                                f"FEATBUS_DATA to the folder holding {key}/")
    return found


def load_site_table_folder(root: str | os.PathLike, spec: SiteTable | str, *, on_error: str = "raise",
                           n_jobs: int | None = None) -> Bunch:
    """Load a class-folder data set whose table names each image's patient (:data:`SITE_TABLES`).

    Images of one patient share a group (every split and interval keeps the patient whole); each
    record's ``meta`` holds the table's columns, lower-cased (what a subgroup table of
    :func:`featbus.validate` and an extracted feature table pass through). Rows without an
    image are fine (a subset); an image without a row cannot be given its patient (an error
    naming it, or skipped with ``on_error="skip"``); an image whose folder and label column
    disagree is always an error.

    Parameters
    ----------
    root : path
        The folder holding the table and the class sub-folders.
    spec : SiteTable or str
        The table's layout, or its key in :data:`SITE_TABLES`.
    on_error : {"raise", "skip"}, default="raise"
    n_jobs : int, optional
        Parallel workers for reading.

    Returns
    -------
    data : Bunch
        As :func:`load_image_folder`, with ``groups`` numbering the patients in order of first
        appearance, ``groups_from`` saying so and ``extra_columns`` the table's columns.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus.datasets import load_site_table_folder
    >>> root = tempfile.mkdtemp()
    >>> for cls, ids in (("benign", ["case001", "case002"]), ("malignant", ["case003"])):
    ...     os.mkdir(os.path.join(root, cls))
    ...     for k, i in enumerate(ids):
    ...         Image.fromarray(np.full((16, 16), 50 + 40 * k, np.uint8)).save(os.path.join(root, cls, i + ".png"))
    >>> with open(os.path.join(root, "breast_data.csv"), "w") as f:
    ...     _ = f.write("ID,CaseID,Classification,BIRADS\\ncase001,1,benign,3\\ncase002,1,benign,2\\n"
    ...                 "case003,2,malignant,5\\n")
    >>> data = load_site_table_folder(root, "breast-lesions-usg")
    >>> data.groups.tolist(), data.data[2].meta["birads"]
    ([0, 0, 1], '5')
    """
    spec = SITE_TABLES[spec] if isinstance(spec, str) else spec
    root = Path(root)
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    table_path = root / spec.file
    if not table_path.is_file():
        raise FileNotFoundError(f"{str(root)!r} is not a {spec.name} folder: {spec.file} is not in it")
    rows = _site_table_rows(table_path, spec)
    data = load_image_folder(root, mask_pattern="{stem}_mask*.png", on_error=on_error, groups=None, n_jobs=n_jobs)
    keep, skipped = [], list(data.skipped)
    for i, (path, rec) in enumerate(zip(data.paths, data.data)):
        row = rows.get(Path(path).stem)
        if row is None:
            reason = (f"no row of {str(table_path)!r} has ID {Path(path).stem!r}, so the image has no patient "
                      f"({spec.patient_column}) to be grouped by")
            if on_error == "raise":
                raise ValueError(f"{str(path)!r}: {reason}")
            skipped.append((str(path), reason))
            continue
        label = rec.meta["label"]
        if row[spec.label].lower() != label.lower():
            raise _manifest_error(table_path, row["row"], f"ID {row[spec.id]!r} is {row[spec.label]!r}, but its "
                                  f"image {str(path)!r} is in the {label!r} folder")
        rec.meta.update({c: v for c, v in row.items() if c not in ("row", "label")})
        rec.meta["table_row"] = row["row"]
        keep.append(i)
    if len(keep) < len(data.paths):
        warn_skipped([(k, p, r) for k, (p, r) in enumerate(skipped[len(data.skipped):])],
                      f"image(s) (no row in {spec.file})")
        if not keep:
            raise ValueError(f"no image of {str(root)!r} has a row in {spec.file}")
        for key in ("images", "masks", "paths", "data"):
            data[key] = [data[key][i] for i in keep]
        data.target = data.target[keep]
    patients = [data.data[i].meta[spec.patient] for i in range(len(data.data))]
    order: dict[str, int] = {}
    data.groups = np.array([order.setdefault(c, len(order)) for c in patients], dtype=int)
    data.skipped = skipped
    data.groups_from = f"patients: the {spec.patient_column!r} column of {spec.file}"
    # the table's columns (as read, lower-cased): what an extracted feature table passes through
    data.extra_columns = [c for c in next(iter(rows.values())) if c not in ("row", "label")]
    counts = np.bincount(data.target, minlength=len(data.target_names))
    unused = len(rows) - len(data.paths)
    data.DESCR = (f"{spec.citation}, folder {str(root)!r}: {len(data.paths)} images of {len(order)} patients, "
                  f"classes {dict(zip(data.target_names.tolist(), counts.tolist()))}; groups are patients "
                  f"({spec.patient_column})"
                  + (f"; {unused} rows of {spec.file} have no image here." if unused else "."))
    return data


def load_bus_bra(root: str | os.PathLike | None = None, *, on_error: str = "raise",
                 n_jobs: int | None = None) -> Bunch:
    """Load BUS-BRA, a second breast-ultrasound site, with lesion masks and patients as groups.

    Gómez-Flores W, Gregorio-Calas MJ, de Albuquerque Pereira WC. *BUS-BRA: a breast ultrasound
    dataset for assessing computer-aided diagnosis systems.* Medical Physics 51(4):3110-3123
    (2024), doi:10.1002/mp.16812 (data: doi:10.5281/zenodo.7730709; its licence asks every work
    that uses it to cite the article). featbus never downloads it. :func:`load_data` calls this
    for any folder laid out like it.

    The layout: one sub-folder per class (``benign/``, ``malignant/``) holding ``<ID>.png`` with
    its mask ``<ID>_mask.png``, and ``bus_data.csv`` at the root, one row per image: ``ID``,
    ``Case`` (the patient), ``Pathology`` (the biopsy-proven label), and descriptive columns
    (``Histology``, ``BIRADS``, ``Device``, ``Side``, ``BBOX``...). Images of one ``Case`` (two
    views of one lesion, ``-l``/``-r``, or several lesions of one woman) share a group, so every
    split and every bootstrap interval keeps a patient whole. Rows without an image are fine (a
    subset of the data set); an image without a row cannot be given its patient.

    Parameters
    ----------
    root : path, optional
        The folder holding ``bus_data.csv`` and the class sub-folders. Default:
        ``$FEATBUS_DATA/bus-bra``, else ``../shared/data/bus-bra`` from the working directory.
    on_error : {"raise", "skip"}, default="raise"
        An unreadable image, or an image without a row in ``bus_data.csv``, raises an error
        naming it, or is skipped (listed in ``Bunch.skipped`` and reported by a warning). An
        image whose folder and ``Pathology`` disagree is always an error.
    n_jobs : int, optional
        Parallel workers for reading.

    Returns
    -------
    data : Bunch
        As :func:`load_image_folder` (classes: the sub-folders, e.g. ``["benign",
        "malignant"]``; there is no normal class), with ``groups`` numbering the patients
        (``Case``) in order of first appearance, and ``groups_from`` saying so. Each record's
        ``meta`` also holds the table's columns, lower-cased (``id``, ``case``, ``histology``,
        ``pathology``, ``birads``, ``device``, ``side``, ...: what a subgroup table of
        :func:`featbus.validate` reads). ``Width``, ``Height`` and ``BBOX`` describe the images
        as distributed; a shrunk copy keeps them unchanged.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus.datasets import load_bus_bra
    >>> root = tempfile.mkdtemp()
    >>> for cls, ids in (("benign", ["bus_0001-l", "bus_0001-r"]), ("malignant", ["bus_0002-s"])):
    ...     os.mkdir(os.path.join(root, cls))
    ...     for k, i in enumerate(ids):
    ...         Image.fromarray(np.full((16, 16), 50 + 40 * k, np.uint8)).save(os.path.join(root, cls, i + ".png"))
    >>> with open(os.path.join(root, "bus_data.csv"), "w") as f:
    ...     _ = f.write("ID,Case,Pathology,Device\\nbus_0001-l,1,benign,GE\\nbus_0001-r,1,benign,GE\\n"
    ...                 "bus_0002-s,2,malignant,GE\\n")
    >>> data = load_bus_bra(root)
    >>> data.target_names.tolist(), data.groups.tolist(), data.data[2].meta["device"]
    (['benign', 'malignant'], [0, 0, 1], 'GE')
    """
    return load_site_table_folder(_site_root(root, "bus-bra"), "bus-bra", on_error=on_error, n_jobs=n_jobs)


def load_breast_lesions_usg(root: str | os.PathLike | None = None, *, on_error: str = "raise",
                            n_jobs: int | None = None) -> Bunch:
    """Load BrEaST-Lesions-USG, a third breast-ultrasound site (Poland), patients as groups.

    Pawłowska A, Ćwierz-Pieńkowska A, Domalik A, et al. *Curated benchmark dataset for
    ultrasound based breast lesion analysis.* Scientific Data 11:148 (2024) (data: The Cancer
    Imaging Archive, doi:10.7937/9WKK-Q141; CC BY 4.0: cite the article). featbus never
    downloads it. :func:`load_data` calls this for any folder laid out like it.

    The layout: one sub-folder per class (``benign/``, ``malignant/``, ``normal/``) holding
    ``<ID>.png`` with its mask ``<ID>_mask.png`` (all zero for normal images), and
    ``breast_data.csv`` at the root, one row per image: ``ID``, ``CaseID`` (the patient),
    ``Classification`` (the label), ``BIRADS``, ``Verification``, ``Pixel_size``, the BI-RADS
    descriptors (``Shape``, ``Margin``, ``Echogenicity``...) and ``Age``.

    Parameters
    ----------
    root : path, optional
        The folder holding ``breast_data.csv``. Default: ``$FEATBUS_DATA/breast-lesions-usg``,
        else ``../shared/data/breast-lesions-usg`` from the working directory.
    on_error : {"raise", "skip"}, default="raise"
        As :func:`load_site_table_folder`.
    n_jobs : int, optional
        Parallel workers for reading.

    Returns
    -------
    data : Bunch
        As :func:`load_site_table_folder`: ``groups`` are patients (``CaseID``), each record's
        ``meta`` holds the table's columns lower-cased (``birads``, ``pixel_size``, ``shape``...).

    Examples
    --------
    >>> from featbus.datasets import load_breast_lesions_usg
    >>> data = load_breast_lesions_usg("../shared/data/breast-lesions-usg")  # doctest: +SKIP
    >>> data.target_names.tolist()  # doctest: +SKIP
    ['benign', 'malignant', 'normal']
    """
    return load_site_table_folder(_site_root(root, "breast-lesions-usg"), "breast-lesions-usg", on_error=on_error,
                                  n_jobs=n_jobs)


#: The bundled sample: :func:`load_sample` reads it (``scripts/make_sample.py`` builds it).
SAMPLE_DIR = Path(__file__).resolve().parent / "data" / "breast_lesions_usg_sample"


def load_sample(*, classes: Sequence[str] | None = None) -> Bunch:
    """Load the small real sample that ships with featbus: 52 BrEaST-Lesions-USG images with masks.

    24 benign and 24 malignant cases, drawn with a fixed seed, and the site's 4 normal images,
    shrunk to a longest side of 224 px (``scripts/make_sample.py`` builds it from the full data
    set). Enough for a first run and for examples, offline; far too few for a figure to publish.

    Pawłowska A, Ćwierz-Pieńkowska A, Domalik A, et al. *Curated benchmark dataset for
    ultrasound based breast lesion analysis.* Scientific Data 11:148 (2024); data: The Cancer
    Imaging Archive, DOI 10.7937/9WKK-Q141. Licence CC BY 4.0 (the ``README.txt`` beside the
    images): cite the article and the DOI wherever results on these images are reported.

    Parameters
    ----------
    classes : sequence of str, optional
        Keep these classes, in this order (their index is the target). Default: benign,
        malignant, normal.

    Returns
    -------
    data : Bunch
        As :func:`load_data` returns it for the full data set: ``images``, ``masks``,
        ``target``, ``target_names``, ``paths``, ``groups`` (patients, from the ``CaseID``
        column of ``breast_data.csv``), ``data`` (records whose ``meta`` holds the table's
        columns), ``DESCR``.

    Examples
    --------
    >>> from featbus import load_sample
    >>> data = load_sample()
    >>> len(data.images), data.target_names.tolist()
    (52, ['benign', 'malignant', 'normal'])
    >>> max(data.images[0].shape) <= 224, bool(data.masks[0].any()), data.data[0].meta["birads"]
    (True, True, '4a')
    >>> load_sample(classes=["benign", "malignant"]).target_names.tolist()
    ['benign', 'malignant']
    """
    data = load_breast_lesions_usg(SAMPLE_DIR)
    if classes is not None:
        names = data.target_names.tolist()
        classes = [str(c) for c in classes]
        unknown = [c for c in classes if c not in names]
        if unknown:
            raise ValueError(f"the sample has no class(es) {unknown}: its classes are {names}")
        keep = [i for i, t in enumerate(data.target) if names[t] in classes]
        for key in ("images", "masks", "paths", "data"):
            data[key] = [data[key][i] for i in keep]
        data.target = np.array([classes.index(names[data.target[i]]) for i in keep], dtype=int)
        data.groups = data.groups[keep]
        data.target_names = np.asarray(classes, dtype=str)
        for rec, t in zip(data.data, data.target):
            rec.meta["label"] = classes[t]
    data.DESCR = (f"featbus sample: {len(data.images)} images of BrEaST-Lesions-USG, "
                  f"{_classes_text(data.target, data.target_names.tolist())}, shrunk to 224 px; patients as groups. "
                  "Pawłowska et al., Scientific Data 11:148 (2024); data DOI 10.7937/9WKK-Q141; CC BY 4.0.")
    return data


# --------------------------------------------------------------------------- mini-MIAS

MIAS_CLASSES = ("normal", "benign", "malignant")
#: Classes of each ``task`` of :func:`load_mias`.
MIAS_TASKS = {"severity": MIAS_CLASSES, "abnormal": ("normal", "abnormal")}
#: File types a mini-MIAS folder may hold its ``mdbNNN`` images in (the database's PGM, or a
#: lossless conversion).
MIAS_EXTENSIONS = (".pgm", ".png", ".tif", ".tiff")
_MIAS_ROW = re.compile(r"^(mdb\d{3})\s+([FGD])\s+([A-Z]{4})(?:\s+([BM]))?(?:\s+(\d+)\s+(\d+)\s+(\d+))?")


def parse_mias_info(path: str | os.PathLike) -> dict[str, list[dict]]:
    """Parse the mini-MIAS ``Info.txt``: reference -> list of rows (one per abnormality).

    The free-text header and footer are skipped (only lines starting with ``mdbNNN`` count);
    CRLF line endings are accepted. Each row is a dict with ``tissue``, ``abnormality``,
    ``severity`` (``"B"``, ``"M"`` or ``None``) and ``x``, ``y``, ``radius`` (``None`` when the
    row has no coordinates, e.g. widely distributed calcifications). ``x`` and ``y`` are as in
    the file: ``y`` is measured from the BOTTOM edge.
    """
    rows: dict[str, list[dict]] = {}
    with open(path, encoding="latin-1", newline=None) as fh:  # newline=None: CRLF -> \n
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not re.match(r"^mdb\d{3}\b", line):
                continue
            m = _MIAS_ROW.match(line)
            if m is None:
                raise ValueError(f"{str(path)!r} line {n}: cannot parse {line!r}")
            ref, tissue, abn, sev, x, y, r = m.groups()
            coords = (int(x), int(y), int(r)) if x is not None else (None, None, None)
            rows.setdefault(ref, []).append({"tissue": tissue, "abnormality": abn, "severity": sev,
                                             "x": coords[0], "y": coords[1], "radius": coords[2]})
    if not rows:
        raise ValueError(f"{str(path)!r} holds no mini-MIAS rows (lines starting with 'mdbNNN')")
    return rows


def _disk(shape: tuple[int, int], row: float, col: float, radius: float) -> np.ndarray:
    rr, cc = np.ogrid[: shape[0], : shape[1]]
    return (rr - row) ** 2 + (cc - col) ** 2 <= radius**2


def mias_files(root: str | os.PathLike) -> list[Path]:
    """The ``mdbNNN`` image files of a folder (:data:`MIAS_EXTENSIONS`), sorted by name."""
    return sorted(p for p in Path(root).iterdir()
                  if p.is_file() and p.suffix.lower() in MIAS_EXTENSIONS and re.fullmatch(r"mdb\d{3}", p.stem.lower()))


def is_mias_folder(root: str | os.PathLike) -> bool:
    """Whether ``root`` looks like a mini-MIAS folder: an ``Info.txt`` beside ``mdbNNN`` images."""
    root = Path(root)
    return (root / "Info.txt").is_file() and bool(mias_files(root))


def load_mias(root: str | os.PathLike | None = None, *, task: str = "severity",
              n_jobs: int | None = None) -> Bunch:
    """Load the mini-MIAS mammograms with labels and lesion masks from ``Info.txt``.

    Suckling J et al. *The Mammographic Image Analysis Society digital mammogram database.*
    Exerpta Medica, International Congress Series 1069:375-378 (1994). Research use only.

    Parameters
    ----------
    root : path, optional
        Folder with ``Info.txt`` and the images ``mdbNNN.pgm`` (or ``.png`` / ``.tif``, e.g. a
        lossless conversion of the originals). Default: ``$FEATBUS_DATA/mini-mias``, else
        ``../shared/data/mini-mias`` from the working directory.
    task : {"severity", "abnormal"}, default="severity"
        The labels: ``"severity"`` gives three classes ``["normal", "benign", "malignant"]``;
        ``"abnormal"`` gives ``["normal", "abnormal"]`` (any abnormality row, benign or
        malignant), the task of most published mini-MIAS classifiers.
    n_jobs : int, optional
        Parallel workers for reading.

    Returns
    -------
    data : Bunch
        Common fields (see :mod:`featbus.datasets`) plus:

        * ``target_names``: ``["normal", "benign", "malignant"]``; an image is malignant when
          any of its rows says M, benign when any says B, else normal (``task="abnormal"``:
          ``["normal", "abnormal"]``, abnormal when it is benign or malignant);
        * ``abnormality``: per image the class (``CALC``, ``CIRC``, ``SPIC``, ``MISC``,
          ``ARCH``, ``ASYM`` or ``NORM``), or the list of classes when ``Info.txt`` has
          several rows for the image;
        * ``tissue``: ``F`` (fatty), ``G`` (fatty-glandular) or ``D`` (dense-glandular);
        * ``lesions``: per image a list of ``(row, col, radius)`` in image coordinates
          (``row = height - y``, since ``Info.txt`` measures ``y`` from the bottom edge);
        * ``mask_complete``: ``False`` for images with an abnormality row without
          coordinates (their mask misses it; e.g. widely distributed calcifications);
        * ``missing``: references listed in ``Info.txt`` whose file is absent (reported by a
          warning, not an error: mini-MIAS subsets are common); ``unlisted``: ``mdbNNN``
          image files with no row in ``Info.txt`` (not loaded, reported by a warning).

        ``masks`` are disks of the given radius around each lesion centre (an approximation:
        MIAS gives no outlines). ``groups`` is the woman: ``(number - 1) // 2``, so mdb001
        and mdb002 (her two breasts) share group 0. ``meta`` of each record holds
        ``reference``, ``label``, ``abnormality``, ``tissue``, ``lesions``, ``mask_complete``.

    Examples
    --------
    >>> from featbus import load_mias
    >>> data = load_mias("../shared/data/mini-mias")  # doctest: +SKIP
    >>> data.lesions[0]  # doctest: +SKIP
    [(599, 535, 197)]
    """
    if root is None:
        root = _default_data_dir("mini-mias")
        if root is None:
            raise FileNotFoundError("mini-MIAS not found: pass root= (the folder with Info.txt) or set "
                                    "FEATBUS_DATA to the folder holding mini-mias/")
    if task not in MIAS_TASKS:
        raise ValueError(f"task must be one of {sorted(MIAS_TASKS)}, got {task!r}")
    root = Path(root)
    info = root / "Info.txt"
    if not info.is_file():
        raise FileNotFoundError(f"{str(info)!r}: mini-MIAS needs its Info.txt annotation file")
    table = parse_mias_info(info)
    on_disk: dict[str, Path] = {}
    for p in mias_files(root):
        if p.stem.lower() in on_disk:
            raise ValueError(f"{str(root)!r} holds two files for {p.stem.lower()}: "
                             f"{on_disk[p.stem.lower()].name!r} and {p.name!r}; keep one")
        on_disk[p.stem.lower()] = p
    refs = sorted(table)
    present = [r for r in refs if r in on_disk]
    missing = [r for r in refs if r not in on_disk]
    unlisted = sorted(set(on_disk) - set(table))
    if missing:
        warnings.warn(f"{len(missing)} image(s) listed in Info.txt are absent from {str(root)!r} "
                      f"(see Bunch.missing): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}",
                      UserWarning, stacklevel=2)
    if unlisted:
        warnings.warn(f"{len(unlisted)} image file(s) have no row in Info.txt and are not loaded: "
                      f"{', '.join(unlisted[:5])}", UserWarning, stacklevel=2)
    if not present:
        raise ValueError(f"none of the {len(refs)} images listed in Info.txt is in {str(root)!r}")
    images = map_images(lambda ref, i: read_image(on_disk[ref]), present, n_jobs, backend="threading")
    classes = MIAS_TASKS[task]
    masks, target, paths, metas, groups = [], [], [], [], []
    abnormality, tissue, lesions, complete = [], [], [], []
    for ref, image in zip(present, images):
        rows = table[ref]
        h = image.shape[0]
        sev = {r["severity"] for r in rows}
        label = 2 if "M" in sev else 1 if "B" in sev else 0
        if task == "abnormal":
            label = int(label > 0)
        spots = [(h - r["y"], r["x"], r["radius"]) for r in rows if r["x"] is not None]
        mask = np.zeros(image.shape, bool)
        for row, col, rad in spots:
            mask |= _disk(image.shape, row, col, rad)
        abn = [r["abnormality"] for r in rows]
        abn = abn[0] if len(abn) == 1 else abn
        ok = all(r["x"] is not None for r in rows if r["abnormality"] != "NORM")
        masks.append(mask)
        target.append(label)
        paths.append(str(on_disk[ref]))
        groups.append((int(ref[3:]) - 1) // 2)
        abnormality.append(abn)
        tissue.append(rows[0]["tissue"])
        lesions.append(spots)
        complete.append(ok)
        metas.append({"reference": ref, "label": classes[label], "abnormality": abn,
                      "tissue": rows[0]["tissue"], "lesions": spots, "mask_complete": ok})
    counts = np.bincount(target, minlength=len(classes))
    descr = ("mini-MIAS mammograms (Suckling et al., 1994): "
             f"{len(images)} images, {dict(zip(classes, counts.tolist()))}; "
             f"{len(missing)} listed in Info.txt but absent.")
    return _bunch(images, masks, target, classes, paths, groups, metas, descr,
                  abnormality=abnormality, tissue=np.asarray(tissue, dtype=str), lesions=lesions,
                  mask_complete=np.asarray(complete, bool), missing=missing, unlisted=unlisted)


# --------------------------------------------------------------------------- CSV manifest

#: Columns of a CSV manifest: ``image`` and ``label`` are required.
MANIFEST_COLUMNS = ("image", "label", "mask", "group", "split")
#: Values of a manifest's ``split`` column (empty: no assignment).
MANIFEST_SPLITS = ("train", "test")


def _manifest_error(path: Path, line: int, what: str) -> ValueError:
    return ValueError(f"{str(path)!r} row {line}: {what}")


def _manifest_table(path: Path, required: Sequence[str]):
    """A manifest's rows as text (column names trimmed and lower-cased), its required columns
    and at least one row checked."""
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{str(path)!r} is not a readable CSV table: {str(exc).strip()}") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    absent = [c for c in required if c not in table.columns]
    if absent:
        from .._registry import did_you_mean

        needs = " and ".join(repr(c) for c in required)
        hint = "".join(did_you_mean(c, table.columns).replace(" (did", f" ({c!r}: did") for c in absent)
        raise ValueError(f"{str(path)!r} has no column(s) {absent}{hint}; a manifest needs {needs} "
                         f"(optional: 'mask', 'group', 'split'), it has {list(table.columns)}")
    if table.empty:
        raise ValueError(f"{str(path)!r} lists no images")
    return table


def _manifest_path(base: Path, name: str) -> Path:
    """A path of a manifest cell: relative to the CSV's folder, or absolute."""
    return Path(name) if Path(name).is_absolute() else base / name


def _listed_files(path: Path, *, masks: bool):
    """``(row, cell, file, problem)`` for each file a manifest lists (its image, then its masks
    with ``masks``), ``problem`` None when the file exists, else why it is not there.

    Streams the CSV one row at a time (the csv module, no table in memory), so a caller can
    stop at the first missing file of a million-row manifest within moments. Rows are numbered
    as :func:`load_manifest` numbers them (the header is row 1, blank lines are not rows); a
    table this cannot parse yields nothing more, left to the full reading to report."""
    import csv

    try:
        f = open(path, newline="", encoding="utf-8-sig")
    except OSError:
        return
    with f:
        reader = csv.reader(f, skipinitialspace=True)
        try:
            columns = [c.strip().lower() for c in next(reader)]
        except (StopIteration, csv.Error, UnicodeDecodeError):
            return
        if "image" not in columns:
            return
        at = columns.index("image")
        mask_at = columns.index("mask") if masks and "mask" in columns else None
        base = os.path.abspath(path.parent)
        line = 1
        try:
            for row in reader:
                if not row:
                    continue
                line += 1
                cells = [(row[at] if at < len(row) else "", "image")]
                if mask_at is not None and mask_at < len(row):
                    cells += [(m, "mask") for m in row[mask_at].split(";")]
                for cell, what in cells:
                    cell = cell.strip()
                    if not cell:
                        continue  # an empty image cell: the full reading names it
                    file = os.path.join(base, cell)  # strings, one stat: a million rows in seconds
                    try:
                        problem = None if stat.S_ISREG(os.stat(file).st_mode) else f"{what} {cell!r} is not a file"
                    except (FileNotFoundError, NotADirectoryError):
                        problem = f"{what} {cell!r} not found"
                    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
                        problem = f"{what} {cell!r} cannot be looked up ({exc})"
                    yield line, what, file, problem
        except (csv.Error, UnicodeDecodeError):
            return


def _check_listed_files(path: Path, on_error: str) -> None:
    """Fail early and cheaply on a manifest whose files are missing: at the first one (or, with
    ``on_error="skip"``, when none exists), instead of after trying to read every row."""
    first, n = None, 0
    for line, _, file, problem in _listed_files(path, masks=on_error == "raise"):
        if problem is None:
            if on_error == "skip":
                return  # something to read: the reading skips what is missing
            continue
        if on_error == "raise":
            raise ImageError(f"row {line} of {str(path)!r}: {problem}", path=str(file))
        first = first or (line, file)
        n += 1
    if first is not None:
        raise ValueError(f"none of the {n} images {str(path)!r} lists exists (the first, row {first[0]}: "
                         f"{str(first[1])!r})")


def manifest_images(path: str | os.PathLike) -> list[str]:
    """The image paths a CSV manifest lists (its ``image`` column; no label needed), each checked
    to exist: what ``featbus predict`` reads from a manifest.

    Raises
    ------
    ValueError
        An unreadable table, no ``image`` column, an empty cell or a missing file, naming the row.
    """
    path = Path(path)
    for line, _, file, problem in _listed_files(path, masks=False):  # streamed: a missing file ends it early
        if problem is not None:
            raise _manifest_error(path, line, f"{problem} ({str(file)!r})")
    out = []
    for line, name in enumerate(_manifest_table(path, ("image",))["image"], start=2):
        name = name.strip()
        if not name:
            raise _manifest_error(path, line, "the 'image' cell is empty")
        f = _manifest_path(path.parent, name)
        if not f.is_file():
            raise _manifest_error(path, line, f"image {name!r} not found ({str(f)!r})")
        out.append(str(f))
    return out


def load_manifest(path: str | os.PathLike, *, classes: Sequence[str] | None = None,
                  groups: str | None = "duplicates", duplicate_threshold: int | None = None,
                  on_error: str = "raise", n_jobs: int | None = None, require_labels: bool = True) -> Bunch:
    """Load a data set listed in a CSV manifest: one row per image, labels in a column.

    The table input of every featbus command, for data sets whose labels do not sit in class
    folders. Columns (header row required; other columns are kept in each record's ``meta``):

    ``image`` (required)
        Image path, relative to the CSV's folder (or absolute).
    ``label`` (required)
        Class name.
    ``mask`` (optional)
        Lesion mask path(s), relative like ``image``; several files separated by ``;`` are
        merged by union (several lesions); empty: no lesion drawn.
    ``group`` (optional)
        Images sharing a value stay on one side of every split (a patient, a woman's two
        breasts). When the column is absent, ``groups`` decides.
    ``split`` (optional)
        ``train``, ``test`` or empty: a fixed test set (``featbus train`` / ``evaluate`` hold
        the ``test`` rows out).

    Parameters
    ----------
    path : path
        The CSV file.
    classes : sequence of str, optional
        Class names, in this order (their index is the target); a label outside them is an
        error naming the row. Default: every label in the file, sorted.
    groups : {"duplicates"} or None, default="duplicates"
        Without a ``group`` column: ``"duplicates"`` groups near-duplicate images
        (:func:`featbus.duplicate_groups`), ``None`` makes each image its own group.
    duplicate_threshold : int, optional
        ``threshold`` of :func:`featbus.duplicate_groups`.
    on_error : {"raise", "skip"}, default="raise"
        An unreadable image or mask raises an error naming its row and file, or is skipped
        (listed in ``Bunch.skipped`` and reported by a warning). A missing column, an empty
        cell where a value is needed, an unknown label, a bad ``split`` value or a duplicate
        row is always an error naming the row.
    n_jobs : int, optional
        Parallel workers for reading.
    require_labels : bool, default=True
        ``False`` also reads a manifest without a ``label`` column: unlabelled data, for
        feature extraction (``target`` ``-1`` for every image, ``target_names`` empty).

    Returns
    -------
    data : Bunch
        As :func:`load_image_folder`, plus ``split`` (array of ``"train"``, ``"test"`` or
        ``""``) and ``extra_columns`` (the names of the columns beyond :data:`MANIFEST_COLUMNS`).
        Each record's ``meta`` holds ``label``, ``row`` (the CSV line) and the extra columns.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus import load_manifest
    >>> root = tempfile.mkdtemp()
    >>> rng = np.random.RandomState(0)
    >>> for k in range(4):
    ...     Image.fromarray((rng.rand(32, 32) * 255).astype(np.uint8)).save(os.path.join(root, f"im{k}.png"))
    >>> with open(os.path.join(root, "data.csv"), "w") as f:
    ...     _ = f.write("image,label,group\\nim0.png,a,p1\\nim1.png,b,p1\\nim2.png,a,p2\\nim3.png,b,p3\\n")
    >>> data = load_manifest(os.path.join(root, "data.csv"))
    >>> data.target_names.tolist(), data.target.tolist(), data.groups.tolist()
    (['a', 'b'], [0, 1, 0, 1], [0, 0, 1, 2])
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r}: no such CSV file")
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    if groups not in ("duplicates", None):
        raise ValueError(f"groups must be 'duplicates' or None, got {groups!r}")
    _check_listed_files(path, on_error)  # a missing file: said at once, not after every row is tried
    table = _manifest_table(path, ("image", "label") if require_labels else ("image",))
    labelled = "label" in table.columns
    base = path.parent
    extra = [c for c in table.columns if c not in MANIFEST_COLUMNS]
    has_group = "group" in table.columns
    items, labels, metas, group_values, splits, seen = [], [], [], [], [], {}
    for k, row in enumerate(table.to_dict("records")):
        line = k + 2  # the header is line 1
        name = row["image"].strip()
        label = row["label"].strip() if labelled else None
        if not name:
            raise _manifest_error(path, line, "the 'image' cell is empty")
        if labelled and not label:
            raise _manifest_error(path, line, f"image {name!r} has an empty 'label'")
        image_path = _manifest_path(base, name).resolve()
        if image_path in seen:
            raise _manifest_error(path, line, f"image {name!r} is listed twice (rows {seen[image_path]} and {line})")
        seen[image_path] = line
        masks = [m.strip() for m in str(row.get("mask", "")).split(";") if m.strip()]
        split = str(row.get("split", "")).strip().lower()
        if split not in MANIFEST_SPLITS + ("",):
            raise _manifest_error(path, line, f"split {row['split']!r} is not one of {list(MANIFEST_SPLITS)} or empty")
        group = str(row.get("group", "")).strip()
        if has_group and not group:
            raise _manifest_error(path, line, f"image {name!r} has an empty 'group' (every row needs one when the "
                                  "column is there)")
        items.append((image_path, [_manifest_path(base, m) for m in masks]))
        labels.append(label)
        group_values.append(group)
        splits.append(split)
        metas.append({"label": label, "row": line, "has_mask_file": bool(masks),
                      **{c: row[c] for c in extra}})
    if not labelled:
        classes = []
    elif classes is None:
        classes = sorted(set(labels), key=_natural_key)
        _check_label_spellings(classes, f"the 'label' column of {str(path)!r}")
    else:
        classes = [str(c) for c in classes]
        for line_meta, label in zip(metas, labels):
            if label not in classes:
                raise _manifest_error(path, line_meta["row"], f"label {label!r} is not one of the classes {classes}")
    results = map_images(_load_one, items, n_jobs, backend="threading")
    images, masks, target, paths, kept_metas, kept_groups, kept_splits, skipped = [], [], [], [], [], [], [], []
    for (image_path, _), label, meta, group, split, res in zip(items, labels, metas, group_values, splits, results):
        if isinstance(res[0], str):  # ("error", path, reason)
            reason = f"row {meta['row']}: {res[2]}"
            if on_error == "raise":
                raise ImageError(reason, path=res[1])
            skipped.append((res[1], reason))
            continue
        images.append(res[0])
        masks.append(res[1])
        target.append(classes.index(label) if labelled else -1)
        paths.append(str(image_path))
        kept_metas.append(meta)
        kept_groups.append(group)
        kept_splits.append(split)
    if skipped:
        warn_skipped([(i, p, r) for i, (p, r) in enumerate(skipped)], "image(s)")
    if not images:
        raise ValueError(f"no readable image listed in {str(path)!r}")
    if has_group:
        group_labels = np.unique(kept_groups, return_inverse=True)[1]
        # number groups in order of first appearance, so the CSV's order is the groups' order
        first = {g: i for i, g in reversed(list(enumerate(group_labels)))}
        order = {g: n for n, g in enumerate(sorted(first, key=first.get))}
        group_labels = np.array([order[g] for g in group_labels])
    elif groups == "duplicates":
        from ..model_selection import duplicate_groups

        group_labels = duplicate_groups(images, threshold=duplicate_threshold, n_jobs=n_jobs)
    else:
        group_labels = np.arange(len(images))
    descr = (f"CSV manifest {str(path)!r}: {len(images)} images, {_classes_text(target, classes)}, "
             f"{len(np.unique(group_labels))} groups" + (" (from its 'group' column)." if has_group else "."))
    told = {"groups_from": f"the 'group' column of {Path(path).name}"} if has_group else {}
    return _bunch(images, masks, target, classes, paths, group_labels, kept_metas, descr, skipped=skipped,
                  split=np.asarray(kept_splits, dtype=object), extra_columns=extra, **told)


def load_data(path: str | os.PathLike, *, task: str = "severity", on_error: str = "raise",
              n_jobs: int | None = None, require_labels: bool = True) -> Bunch:
    """Load a data set from any layout featbus recognises: what every command's ``DATA`` is.

    * a ``.csv`` file: a manifest (:func:`load_manifest`);
    * a mini-MIAS folder (``Info.txt`` beside ``mdbNNN`` images): :func:`load_mias` with
      ``task``, women as groups;
    * a BUS-BRA folder (``bus_data.csv`` beside class sub-folders): :func:`load_bus_bra`,
      patients (``Case``) as groups, the table's columns in each record's ``meta``;
    * a BrEaST-Lesions-USG folder (``breast_data.csv``): :func:`load_breast_lesions_usg`,
      patients (``CaseID``) as groups, likewise;
    * a download wrapper holding only the data set's folder (``busi/Dataset_BUSI_with_GT``):
      the folder inside;
    * any other folder: one sub-folder per class (:func:`load_image_folder`); a CSV table beside
      them that featbus does not know is not read (a warning says how to give patients: a
      manifest).

    Parameters
    ----------
    path : path
    task : {"severity", "abnormal"}, default="severity"
        The labels of a mini-MIAS folder (see :func:`load_mias`). Other layouts hold their labels
        themselves: ``"abnormal"`` is an error there (their classes are read as they are).
    on_error : {"raise", "skip"}, default="raise"
        See :func:`load_image_folder` (mini-MIAS images are always read strictly).
    n_jobs : int, optional
        Parallel workers for reading.
    require_labels : bool, default=True
        ``False`` also reads unlabelled data: a folder of images without class sub-folders, or
        a manifest without a ``label`` column (``target`` ``-1``, ``target_names`` empty).

    Returns
    -------
    data : Bunch
        As the loader of the layout returns it.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus import load_data
    >>> root = tempfile.mkdtemp()
    >>> for k, label in enumerate(["a", "b", "a", "b"]):
    ...     Image.fromarray(np.full((16, 16), 40 * k, np.uint8)).save(os.path.join(root, f"{k}.png"))
    >>> with open(os.path.join(root, "study.csv"), "w") as f:
    ...     _ = f.write("image,label\\n0.png,a\\n1.png,b\\n2.png,a\\n3.png,b\\n")
    >>> load_data(os.path.join(root, "study.csv")).target.tolist()
    [0, 1, 0, 1]
    """
    path = Path(path)
    if task not in MIAS_TASKS:
        raise ValueError(f"task must be one of {list(MIAS_TASKS)}, got {task!r}")
    if task != "severity" and not (path.is_dir() and is_mias_folder(path)):
        raise ValueError(f"task {task!r} relabels a mini-MIAS folder (Info.txt beside mdbNNN images); "
                         f"{str(path)!r} is not one, and its labels are read as they are: leave the task out, or "
                         "relabel the images yourself (class folders or a manifest's 'label' column)")
    if path.is_file() and path.suffix.lower() == ".csv":
        return load_manifest(path, on_error=on_error, n_jobs=n_jobs, require_labels=require_labels)
    if path.is_dir() and is_mias_folder(path):
        return load_mias(path, task=task, n_jobs=n_jobs)
    path = unwrap_download_folder(path)
    table = site_table_of(path)
    if table is not None:
        return load_site_table_folder(path, table, on_error=on_error, n_jobs=n_jobs)
    data = load_image_folder(path, on_error=on_error, n_jobs=n_jobs, require_labels=require_labels)
    tables = sorted(p.name for p in path.glob("*.csv")) if path.is_dir() else []
    if tables:  # a table featbus cannot read: its patients are not used, and the user should know
        warnings.warn(f"{str(path)!r} holds {', '.join(tables)}, a table featbus does not know, so images are "
                      "grouped as near-duplicates, not by patient; to group by patient, write a manifest "
                      "(columns image,label,group) and load that CSV instead", UserWarning, stacklevel=2)
    return data


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


def lesion_patches(data: Bunch, size: int = 224, *, normal: str = "breast-centre") -> Bunch:
    """Cut lesion-centred square patches: the region-of-interest protocol of mammography studies.

    Every lesion centre of a record (``meta["lesions"]``, ``(row, col, radius)`` as
    :func:`load_mias` gives them from ``Info.txt``) becomes one ``size`` x ``size`` patch centred
    on it, labelled as its image and kept in its image's group (so the patches of one woman, and
    of one image, stay on one side of every split). Images without a lesion centre (normal
    images, or abnormality rows without coordinates) give one patch at the centre of the breast
    (the centroid of :func:`~featbus.preprocessing.mammography.breast_mask`). Parts of a patch
    beyond the image are 0 (background), so every patch has the same size.

    Parameters
    ----------
    data : Bunch
        From :func:`load_mias` (or any loader whose records carry ``meta["lesions"]``).
    size : int, default=224
        Patch side in pixels.
    normal : {"breast-centre", "drop"}, default="breast-centre"
        What an image without a lesion centre gives: a patch at its breast's centre, or none
        (listed in ``Bunch.dropped``; an abnormal image without coordinates is always listed
        there, since its lesion cannot be located).

    Returns
    -------
    patches : Bunch
        The common fields (see the module docstring) plus ``dropped``. Each record's ``meta``
        holds its image's meta and ``patch_centre`` ``(row, col)``; ``paths`` read
        ``"<image path>#lesion<k>"`` or ``"<image path>#breast-centre"``. ``masks`` hold the
        lesion disks inside the patch.

    Examples
    --------
    >>> from featbus.datasets import lesion_patches
    >>> from featbus.preprocessing.mammography import make_mammogram_phantom
    >>> from featbus import ImageRecord
    >>> from sklearn.utils import Bunch
    >>> import numpy as np
    >>> img, _ = make_mammogram_phantom((200, 160), seed=0)
    >>> recs = [ImageRecord(img, meta={"lesions": [(100, 60, 12)]}), ImageRecord(img, meta={"lesions": []})]
    >>> data = Bunch(data=recs, target=np.array([1, 0]), target_names=np.array(["normal", "abnormal"]),
    ...              groups=np.array([0, 0]), paths=["a.png", "b.png"])
    >>> p = lesion_patches(data, size=64)
    >>> [r.image.shape for r in p.data], p.paths
    ([(64, 64), (64, 64)], ['a.png#lesion1', 'b.png#breast-centre'])
    """
    from ..preprocessing.mammography import breast_mask

    if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 8:
        raise ValueError(f"size must be an int >= 8, got {size!r}")
    if normal not in ("breast-centre", "drop"):
        raise ValueError(f"normal must be 'breast-centre' or 'drop', got {normal!r}")
    half = size // 2
    images, masks, target, paths, groups, metas, dropped = [], [], [], [], [], [], []
    for i, rec in enumerate(data.data):
        meta = dict(rec.meta or {})
        path = str(data.paths[i]) if getattr(data, "paths", None) is not None else f"image {i}"
        centres = [(int(r), int(c), f"lesion{k + 1}") for k, (r, c, _) in enumerate(meta.get("lesions") or [])]
        if not centres:
            if meta.get("label", "normal") != "normal" and meta.get("mask_complete") is False:
                dropped.append((path, "abnormal, but Info.txt gives no lesion coordinates"))
                continue
            if normal == "drop":
                dropped.append((path, "no lesion centre (normal='drop')"))
                continue
            _, bm = breast_mask(rec.image)
            rows, cols = np.nonzero(bm)
            centres = [(int(round(rows.mean())), int(round(cols.mean())), "breast-centre")]
        for row, col, tag in centres:
            patch = np.zeros((size, size), rec.image.dtype)
            pmask = np.zeros((size, size), bool)
            r0, c0 = row - half, col - half
            rs = slice(max(0, r0), min(rec.image.shape[0], r0 + size))
            cs = slice(max(0, c0), min(rec.image.shape[1], c0 + size))
            patch[rs.start - r0:rs.stop - r0, cs.start - c0:cs.stop - c0] = rec.image[rs, cs]
            if rec.mask is not None:
                pmask[rs.start - r0:rs.stop - r0, cs.start - c0:cs.stop - c0] = rec.mask[rs, cs]
            images.append(patch)
            masks.append(pmask)
            target.append(int(data.target[i]))
            paths.append(f"{path}#{tag}")
            groups.append(data.groups[i])
            metas.append({**meta, "patch_centre": (row, col)})
    if not images:
        raise ValueError("no patch: no image has a lesion centre (and normal='drop')")
    descr = (f"{len(images)} lesion-centred {size} x {size} patches of {len(data.data)} images"
             + (f" ({len(dropped)} images without a patch)" if dropped else "") + ".")
    return _bunch(images, masks, np.asarray(target), data.target_names, paths, np.asarray(groups), metas, descr,
                  dropped=dropped)


# --------------------------------------------------------------------------- several sites

