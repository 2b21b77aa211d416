"""Leak-free model selection: near-duplicate image groups and a CV splitter that uses them.

Breast ultrasound collections hold many near-duplicates (the same lesion scanned twice, the same
frame saved twice with and without calipers). A random split puts copies of one lesion on both
sides and inflates every score. :func:`duplicate_groups` finds them with a perceptual hash, and
:class:`DuplicateGroupKFold` keeps each group inside one fold, so
``cross_validate(pipe, data.data, data.target, cv=DuplicateGroupKFold())`` is leak-free with no
glue code.
"""

from __future__ import annotations

import hashlib
import numbers
import warnings
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.model_selection import BaseCrossValidator, GroupKFold, StratifiedGroupKFold

from ._compat import GroupsConsumerMixin
from ._records import check_images, map_images, to_float
from .io import load_item
from .progress import find_stack_level

__all__ = ["image_hashes", "duplicate_groups", "duplicates_across_groups", "resolve_groups", "holdout_split",
           "DuplicateGroupKFold", "hash_pairs"]

#: Default Hamming thresholds (bits) for ``hash_size=8``, calibrated on BUSI (see duplicate_groups):
#: whole-image hashes, and the shift-tolerant comparison of crops.
DEFAULT_THRESHOLD = 10
DEFAULT_SHIFT_THRESHOLD = 8
#: How many bits beyond the link thresholds two images of one group may lie apart (one step of the
#: even-valued whole-image distances): a copy cropped by 3 % and its shifted twin, both linked to their
#: original, stay in its group; images that share nothing (20 bits and more apart) never do.
GROUP_SLACK = 2
_GRID = 5  # crops per axis of the shift-tolerant hash
_MODES = ("near", "exact")
_HIGHFREQ = 4  # pHash: the DCT is taken on a (4*hash_size)^2 thumbnail, its lowest hash_size^2 kept


def _check_hash_size(hash_size) -> int:
    if isinstance(hash_size, bool) or not isinstance(hash_size, numbers.Integral) or hash_size < 2:
        raise ValueError(f"hash_size must be an integer >= 2, got {hash_size!r}")
    return int(hash_size)


def _resolve_threshold(threshold, hash_size: int, default: int = DEFAULT_THRESHOLD,
                       name: str = "threshold") -> int:
    if threshold is None:
        # same fraction of the hash's bits as the value calibrated for 63 bits
        return int(round(default * (hash_size**2 - 1) / 63))
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Integral) or threshold < 0:
        raise ValueError(f"{name} must be None or a non-negative integer (Hamming bits), got {threshold!r}")
    return int(threshold)


def _check_max_shift(max_shift) -> float:
    if isinstance(max_shift, bool) or not isinstance(max_shift, numbers.Real) or not 0 <= max_shift <= 0.2:
        raise ValueError(f"max_shift must be a fraction of the image side in [0, 0.2], got {max_shift!r}")
    return float(max_shift)


@lru_cache(maxsize=8)
def _dct_basis(n: int, k: int) -> np.ndarray:
    """First ``k`` rows of the orthonormal DCT-II matrix of size ``n`` (as scipy's norm="ortho")."""
    i = np.arange(n)
    basis = np.cos(np.pi * (2 * i[None, :] + 1) * np.arange(k)[:, None] / (2 * n)) * np.sqrt(2 / n)
    basis[0] /= np.sqrt(2)
    return basis


def _phash_thumbs(thumbs: np.ndarray, hash_size: int) -> np.ndarray:
    """pHash bits of a stack of square thumbnails: low DCT block (no DC) above its median."""
    c = _dct_basis(thumbs.shape[-1], hash_size)
    low = (c @ thumbs.astype(np.float64) @ c.T).reshape(len(thumbs), -1)[:, 1:]  # drop DC (brightness)
    return low > np.median(low, axis=1, keepdims=True)


def _thumb(image01: np.ndarray, hash_size: int) -> np.ndarray:
    import cv2

    side = hash_size * _HIGHFREQ
    # area interpolation averages out speckle and small shifts before the DCT
    return cv2.resize(np.ascontiguousarray(image01), (side, side), interpolation=cv2.INTER_AREA)


def _phash(image01: np.ndarray, hash_size: int) -> np.ndarray:
    return _phash_thumbs(_thumb(image01, hash_size)[None], hash_size)[0]


def _crop_grid(image01: np.ndarray, hash_size: int, max_shift: float) -> np.ndarray:
    """Hashes of a 5x5 grid of crops of side ``1 - 2*max_shift``, offset by up to ``max_shift``
    of the side in each direction; the centre crop is row ``_GRID**2 // 2``."""
    import cv2

    # work on a thumbnail twice the hash's resolution: 25 crops of a full-size image cost too much
    side = int(np.ceil(2 * _HIGHFREQ * hash_size / (1 - 2 * max_shift)))
    if image01.shape[0] > side and image01.shape[1] > side:
        image01 = cv2.resize(image01, (side, side), interpolation=cv2.INTER_AREA)
    h, w = image01.shape
    ch, cw = max(1, int(round(h * (1 - 2 * max_shift)))), max(1, int(round(w * (1 - 2 * max_shift))))
    thumbs = [_thumb(image01[oy:oy + ch, ox:ox + cw], hash_size)
              for oy in np.linspace(0, h - ch, _GRID).round().astype(int)
              for ox in np.linspace(0, w - cw, _GRID).round().astype(int)]
    return _phash_thumbs(np.stack(thumbs), hash_size)


def _hashable(rec, index: int) -> np.ndarray:
    """float32 pixels for hashing; the hash ignores brightness and contrast, so float images in
    any range (e.g. rescaled DICOM) are min-max scaled instead of rejected."""
    image = rec.image
    if image.dtype.kind == "f":
        lo, hi = float(image.min()), float(image.max())
        return ((image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)).astype(np.float32)
    return to_float(image, index=index, path=rec.path)


def image_hashes(images: Any, *, hash_size: int = 8, n_jobs: int | None = None) -> np.ndarray:
    """Perceptual hashes (DCT pHash) of a batch of images.

    Each image is reduced to a ``(4*hash_size)``-pixel square thumbnail (area averaging), its 2-D
    DCT is taken, and the ``hash_size x hash_size`` lowest frequencies except the constant term
    are compared to their median: one bit each. Images that look alike (same scene, other
    noise, small shifts, another size or contrast) get hashes that differ in few bits.

    Parameters
    ----------
    images : sequence of arrays, ImageRecord or paths
    hash_size : int, default=8
        The hash has ``hash_size**2 - 1`` bits.
    n_jobs : int, optional
        Parallel workers for reading and hashing.

    Returns
    -------
    hashes : ndarray of bool, shape (n_images, hash_size**2 - 1)

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model_selection import image_hashes
    >>> rng = np.random.RandomState(0)
    >>> im = rng.rand(64, 64)
    >>> h = image_hashes([im, np.clip(im + 0.01, 0, 1), rng.rand(64, 64)])
    >>> h.shape
    (3, 63)
    >>> int((h[0] != h[1]).sum()) < int((h[0] != h[2]).sum())
    True
    """
    hash_size = _check_hash_size(hash_size)
    items = check_images(images, name="images")

    def one(item, i):
        rec = load_item(item, i, min_side=1)
        return _phash(_hashable(rec, i), hash_size)

    return np.vstack(map_images(one, items, n_jobs))


def _exact_keys(images: Any, n_jobs: int | None) -> list[bytes]:
    items = check_images(images, name="images")

    def one(item, i):
        im = np.ascontiguousarray(load_item(item, i, min_side=1).image)
        digest = hashlib.sha256(im.tobytes())
        digest.update(repr((im.shape, im.dtype.str)).encode())
        return digest.digest()

    return map_images(one, items, n_jobs)


def _label_by_first_appearance(labels: np.ndarray) -> np.ndarray:
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=int)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse]


def _groups_from_pairs(n: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    # union-find over all pairs at once: connected components of the "is duplicate" graph
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return _label_by_first_appearance(labels)


def _hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit differences between every row of ``a`` and every row of ``b`` (boolean hashes)."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    return np.rint(a @ (1 - b).T + (1 - a) @ b.T)


def _link_distance(hashes: np.ndarray, grids: np.ndarray | None, members: np.ndarray, thr: int,
                   shift_thr: int) -> np.ndarray:
    """The members' pairwise distances in units of the link thresholds: below 1 exactly when the
    two are linked (whole-image hashes within ``thr`` bits, or a crop of one within ``shift_thr``
    bits of the other's centre crop, either way)."""
    d = _hamming(hashes[members], hashes[members]) / (thr + 1)
    if grids is not None:
        g = grids[members]
        k, bits = g.shape[1], g.shape[2]
        crops = _hamming(g.reshape(-1, bits), g[:, k // 2]).reshape(len(members), k, len(members)).min(axis=1)
        d = np.minimum(d, np.minimum(crops, crops.T) / (shift_thr + 1))
    np.fill_diagonal(d, 0.0)
    return d


def _complete_linkage(n: int, rows: np.ndarray, cols: np.ndarray, hashes: np.ndarray, grids: np.ndarray | None,
                      thr: int, shift_thr: int) -> np.ndarray:
    """Groups in which every pair is linked: each connected component of the links split by
    complete linkage on :func:`_link_distance` (clusters merge while their farthest pair is still
    linked), so no group chains A = B = ... = Z through images that share nothing."""
    components = _groups_from_pairs(n, rows, cols)
    labels = components.copy()
    next_label = int(components.max()) + 1 if n else 0
    for c in np.unique(components):
        members = np.flatnonzero(components == c)
        if len(members) < 3:  # a linked pair is a clique already
            continue
        from scipy.cluster.hierarchy import fcluster, linkage
        from scipy.spatial.distance import squareform

        d = np.minimum(_link_distance(hashes, grids, members, thr + GROUP_SLACK, shift_thr + GROUP_SLACK), 2.0)
        parts = fcluster(linkage(squareform(d, checks=False), method="complete"), t=np.nextafter(1.0, 0.0),
                         criterion="distance")
        for part in np.unique(parts)[1:]:
            labels[members[parts == part]] = next_label
            next_label += 1
    return _label_by_first_appearance(labels)


def hash_pairs(hashes: np.ndarray, threshold: int, *, block: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``i < j`` whose hashes differ in at most ``threshold`` bits.

    Works in row blocks, so memory stays ``O(block * n)`` for any number of images.

    Returns
    -------
    rows, cols, distances : ndarray of int
    """
    h = np.asarray(hashes, dtype=bool)
    # float32 products go through BLAS and are exact for counts this small
    a = h.astype(np.float32)
    b = (~h).astype(np.float32)
    out_r, out_c, out_d = [], [], []
    for start in range(0, len(h), block):
        stop = min(start + block, len(h))
        # Hamming distance = bits set here and not there + bits set there and not here
        dist = np.rint(a[start:stop] @ b.T + b[start:stop] @ a.T).astype(np.int64)
        r, c = np.nonzero(dist <= threshold)
        keep = c > r + start
        out_r.append(r[keep] + start)
        out_c.append(c[keep])
        out_d.append(dist[r[keep], c[keep]])
    return np.concatenate(out_r), np.concatenate(out_c), np.concatenate(out_d)


def _shift_pairs(grids: np.ndarray, threshold: int, *, block: int = 64):
    """Pairs (i, j), i != j, where some crop of image i matches the centre crop of image j."""
    n, k, bits = grids.shape
    centre = grids[:, k // 2].astype(np.float32)
    not_centre = 1 - centre
    rows, cols = [], []
    for start in range(0, n, block):
        g = grids[start:start + block].reshape(-1, bits).astype(np.float32)
        dist = np.rint((g @ not_centre.T + (1 - g) @ centre.T).reshape(-1, k, n).min(axis=1))
        r, c = np.nonzero(dist <= threshold)
        keep = c != r + start
        rows.append(r[keep] + start)
        cols.append(c[keep])
    return np.concatenate(rows), np.concatenate(cols)


def duplicate_groups(images: Any, *, threshold: int | None = None, mode: str = "near",
                     hash_size: int = 8, max_shift: float = 0.06, shift_threshold: int | None = None,
                     n_jobs: int | None = None) -> np.ndarray:
    """Group near-duplicate images, for group-aware cross-validation.

    Two images are linked when their whole-image perceptual hashes (:func:`image_hashes`)
    differ in at most ``threshold`` bits, or, to catch shifted or cropped copies, when one of a
    5x5 grid of crops of one image (each ``1 - 2*max_shift`` of the side, offset by up to
    ``max_shift``) has a hash within ``shift_threshold`` bits of the other's centre crop.
    No group chains: the connected components of the links are split by complete linkage (a
    group grows only while its farthest pair is still near: whole-image hashes within
    ``threshold + GROUP_SLACK`` bits, or crops within ``shift_threshold + GROUP_SLACK``), so a
    chain A = B = ... = Z, where A and Z share nothing, never becomes one group (groups were the
    connected components before, chains included); a 3 % crop and a shifted copy of one image,
    each linked to it, stay in its group. When patients are known, group by patient
    instead: near-duplicates never join two patients (:func:`duplicates_across_groups` names
    the pairs across two patients).

    Parameters
    ----------
    images : sequence of arrays, ImageRecord or paths
        E.g. ``Bunch.data`` or ``Bunch.images`` of a featbus data set.
    threshold : int, optional
        Largest Hamming distance (in bits) between hashes of duplicates. Default: 10 for
        ``hash_size=8`` (63 bits), and the same fraction of bits for other hash sizes. Ignored
        with ``mode="exact"``.
    mode : {"near", "exact"}, default="near"
        ``"exact"`` groups only images with identical pixels (same shape, dtype and values).
    hash_size : int, default=8
        Side of the DCT block kept by the hash (``hash_size**2 - 1`` bits).
    max_shift : float, default=0.06
        Largest shift (fraction of the image side) the crop comparison tolerates; 0 turns it
        off (whole-image hashes only, 25 times less hashing).
    shift_threshold : int, optional
        Largest Hamming distance for the crop comparison. Default: 8 for ``hash_size=8``
        (scaled like ``threshold``); it is stricter than ``threshold`` because taking the best
        of 25 crops makes unrelated images look closer.
    n_jobs : int, optional
        Parallel workers for reading and hashing.

    Returns
    -------
    groups : ndarray of int, shape (n_images,)
        Group labels numbered by first appearance (the first image is in group 0, the next
        image not in its group starts group 1, ...); pass them as ``groups`` to
        :class:`~sklearn.model_selection.GroupKFold` or
        :class:`~sklearn.model_selection.StratifiedGroupKFold`.

    Notes
    -----
    **Calibration of the default threshold on BUSI** (the 625-image copy described in the data
    README: benign 345, malignant 169, normal 111; ``625*624/2 = 195,000`` pairs). With
    ``hash_size=8`` the pairwise Hamming distances are bimodal:
    32 pairs at 0 bits, 79 at 2, 42 at 4, 22 at 6, 5 at 8, 8 at 10, 6 at 12, then the bulk of
    unrelated pairs rising from 37 at 14 and 163 at 16 to a peak near 30 bits (distances are
    even because each hash has as many bits above as below its median). Pairs rendered side by
    side and inspected by eye: every pair viewed at 8 and 10 bits showed the same lesion (the
    same frame, or a neighbouring frame, with or without calipers); at 12 bits two of seven
    viewed pairs were different lesions; at 14 and 16 bits nearly all were different lesions.
    The whole-image threshold is therefore 10 bits: alone, it links 188 pairs into 477 groups.
    The whole-image hash tolerates noise, rescaling and contrast changes, but only shifts up to
    about 2 % and crops up to about 4 % of the side (measured on 60 BUSI images: a 3 % shift
    already exceeds 10 bits for 40 % of them). The crop comparison (``max_shift=0.06``; the
    best of 25 crops, so its distances run lower: 105 pairs at 12 bits, 625 at 14) adds, at
    8 bits, 14 pairs the whole-image hash missed; viewed side by side, 13 are the same lesion
    (a run of six frames of one malignant lesion, a four-frame series of one benign lesion with
    and without calipers, a copy with a black border) and one is a similar cyst cluster,
    possibly the same patient. At 10 bits it would add 14 more, of which 6 of 8 viewed were
    different lesions: hence ``shift_threshold=8``. Measured on 60 BUSI images and a shifted or
    cropped copy of each: shifts of 2, 4 and 6 % of the side are all grouped (whole-image
    hash alone: 93, 27 and 0 %), crops of up to 4 % per side all grouped, of 6 % per side
    73 %. Together, as connected components of the links: 473 groups on this BUSI copy (largest:
    6 images); with complete linkage (no chains) **475 groups**: two chained groups of 5 benign
    images each split in two (``python benchmarks/hospital_releases.py --busi-groups``; largest
    still 6 images; viewed, both are frames of one region, probably one patient, which patient
    ids would keep whole). With the
    473 chained groups a HOG+LBP+intensity RBF SVM dropped from 0.79 accuracy (stratified
    5-fold, 3 shuffles) to 0.69-0.70 (StratifiedGroupKFold; not measured again), the drop
    the data README reports (0.79 -> 0.71). Same-lesion pairs at larger distances (other scan
    planes) exist and no global hash catches them; when patient ids are known, group by
    patient instead.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus import duplicate_groups
    >>> rng = np.random.RandomState(0)
    >>> a = rng.rand(64, 64)
    >>> b = rng.rand(64, 64)
    >>> duplicate_groups([a, b, np.clip(a + 0.02, 0, 1), a]).tolist()
    [0, 1, 0, 0]
    >>> duplicate_groups([a, b, np.clip(a + 0.02, 0, 1), a], mode="exact").tolist()
    [0, 1, 2, 0]
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    hash_size = _check_hash_size(hash_size)
    thr = _resolve_threshold(threshold, hash_size)
    shift_thr = _resolve_threshold(shift_threshold, hash_size, DEFAULT_SHIFT_THRESHOLD, "shift_threshold")
    max_shift = _check_max_shift(max_shift)
    if mode == "exact":
        keys = _exact_keys(images, n_jobs)
        index: dict[bytes, int] = {}
        return np.array([index.setdefault(k, len(index)) for k in keys], dtype=int)
    items = check_images(images, name="images")

    def one(item, i):
        rec = load_item(item, i, min_side=1)
        im = _hashable(rec, i)
        grid = _crop_grid(im, hash_size, max_shift) if max_shift > 0 else None
        return _phash(im, hash_size), grid

    results = map_images(one, items, n_jobs)
    hashes = np.vstack([r[0] for r in results])
    rows, cols, _ = hash_pairs(hashes, thr)
    grids = np.stack([r[1] for r in results]) if max_shift > 0 else None
    if grids is not None:
        r2, c2 = _shift_pairs(grids, shift_thr)
        rows, cols = np.concatenate([rows, r2]), np.concatenate([cols, c2])
    return _complete_linkage(len(hashes), rows, cols, hashes, grids, thr, shift_thr)


def duplicates_across_groups(images: Any, groups, *, threshold: int | None = None,
                             n_jobs: int | None = None) -> list[tuple[int, int, int]]:
    """Near-duplicate pairs whose two images lie in different given groups (two patients): to be
    reported, never merged. Patients are the groups when they are known; two patients' images that
    look alike (the same phantom, a copied frame) are a question for whoever made the table.

    Parameters
    ----------
    images : sequence of arrays, ImageRecord or paths
    groups : array-like of shape (n_images,)
        The given groups (patients).
    threshold : int, optional
        Largest Hamming distance between whole-image hashes (default: as :func:`duplicate_groups`).
    n_jobs : int, optional
        Parallel workers for hashing.

    Returns
    -------
    list of (int, int, int)
        ``(i, j, bits)`` for each pair ``i < j`` in different groups whose hashes are ``bits`` apart.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model_selection import duplicates_across_groups
    >>> a = np.random.default_rng(0).random((32, 32))
    >>> duplicates_across_groups([a, a.copy(), 1 - a], groups=[0, 1, 1])
    [(0, 1, 0)]
    """
    groups = np.asarray(groups)
    hashes = image_hashes(images, n_jobs=n_jobs)
    if groups.shape != (len(hashes),):
        raise ValueError(f"groups must hold one label per image ({len(hashes)}), got shape {groups.shape}")
    rows, cols, dist = hash_pairs(hashes, _resolve_threshold(threshold, 8))
    return [(int(i), int(j), int(d)) for i, j, d in zip(rows, cols, dist) if groups[i] != groups[j]]


def resolve_groups(X: Any, groups=None, *, n_samples: int | None = None, **duplicate_params) -> np.ndarray:
    """The near-duplicate grouping policy of featbus, the one every caller uses.

    Groups that are given (by the caller, or ``Bunch.groups`` of a featbus data set) are used as
    they are: they may come from patient ids, or from :func:`duplicate_groups` with settings of
    the user's choice. Without them, the images are hashed and :func:`duplicate_groups` decides.
    A feature matrix cannot be hashed, so it needs ``groups``.

    Parameters
    ----------
    X : sequence of images, ImageRecord or paths, or a feature matrix
        What is being split.
    groups : array-like of shape (n_samples,), optional
        Given groups.
    n_samples : int, optional
        Expected number of samples (checked against ``groups``); default ``len(X)``.
    **duplicate_params
        Passed to :func:`duplicate_groups` (``threshold``, ``mode``, ``n_jobs``...).

    Returns
    -------
    groups : ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model_selection import resolve_groups
    >>> resolve_groups(np.zeros((4, 3)), [0, 0, 1, 2]).tolist()
    [0, 0, 1, 2]
    >>> img = np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8)
    >>> resolve_groups([img, img.copy(), 255 - img]).tolist()
    [0, 0, 1]
    """
    n = len(X) if n_samples is None else int(n_samples)
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ValueError(f"groups must hold one label per image ({n}), got shape {groups.shape}")
        return groups
    if not _is_images(X):
        raise ValueError("duplicate-grouped splitting of a feature matrix needs groups= (near-duplicate "
                         "groups cannot be computed from features: pass e.g. featbus.duplicate_groups(images) "
                         "or Bunch.groups), or pass the images")
    return np.asarray(duplicate_groups(X, **duplicate_params))


def grouping_name(groups_from: str | None) -> str:
    """The name of a grouped split, for what its groups are.

    Groups featbus formed itself (:func:`duplicate_groups`) are near-duplicate groups:
    ``"duplicate-grouped"``. Groups that came with the data (a table's patient column, a
    manifest's ``group`` column: ``Bunch.groups_from``) are named for what they are.

    Parameters
    ----------
    groups_from : str or None
        Where the groups came from, as ``Bunch.groups_from`` says it (``"patients: the 'Case'
        column of BUS_Data.csv"``); None when featbus formed them.

    Returns
    -------
    str

    Examples
    --------
    >>> from featbus.model_selection import grouping_name
    >>> grouping_name(None)
    'duplicate-grouped'
    >>> grouping_name("patients: the 'patient' column of table.csv")
    "patient-grouped (from the 'patient' column of table.csv)"
    >>> grouping_name("the table's 'group' column")
    "grouped (from the table's 'group' column)"
    """
    if not groups_from:
        return "duplicate-grouped"
    text = str(groups_from).strip()
    if text.lower().startswith("patients:"):
        return f"patient-grouped (from {text.split(':', 1)[1].strip()})"
    return f"grouped (from {text})"


def groups_origin(data: Any) -> str | None:
    """Where the groups of a data set came from (``Bunch.groups_from``), or None when they are
    near-duplicate groups featbus formed (or will form)."""
    told = getattr(data, "groups_from", None)
    return str(told) if told else None


def _is_images(X: Any) -> bool:
    """True for image input (lists of arrays/records/paths, 3-D arrays), not a feature matrix."""
    if hasattr(X, "iloc") and hasattr(X, "columns"):
        return False
    if isinstance(X, np.ndarray):
        return X.ndim >= 3 or X.dtype == object
    return True


def holdout_split(target, groups, test_fraction: float, random_state: int = 0, *, small: str = "raise",
                  what: str = "--test-fraction"):
    """(train, test) indices: about ``test_fraction`` of the duplicate groups held out, by class.

    One fold of :class:`~sklearn.model_selection.StratifiedGroupKFold` with
    ``round(1 / test_fraction)`` folds, so near-duplicates never straddle the split. The one
    grouped hold-out of featbus: the command line's test split, and the validation split of
    :class:`~featbus.FineTunedCNN` and :class:`~featbus.UNetSegmenter` (early stopping).

    Parameters
    ----------
    target : array-like of shape (n_samples,)
        Classes to stratify by (one value for all: no stratification).
    groups : array-like of shape (n_samples,)
        Near-duplicate (or patient) group of each sample.
    test_fraction : float in (0, 0.5)
    random_state : int, default=0
    small : {"raise", "adapt"}, default="raise"
        When a class has fewer groups than folds: ``"raise"`` lets scikit-learn raise or warn;
        ``"adapt"`` holds out 1/k of the groups with k the smallest class's number of groups
        (with a ``UserWarning``), and nothing when a class has a single group (an empty test
        side, with a ``UserWarning``).
    what : str, default="--test-fraction"
        How the caller names ``test_fraction`` in messages.

    Returns
    -------
    train, test : ndarray of int
        Sorted positions.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model_selection import holdout_split
    >>> y = np.repeat([0, 1], 10); g = np.arange(20) // 2
    >>> tr, te = holdout_split(y, g, 0.2)
    >>> len(te), set(g[tr]) & set(g[te])
    (4, set())
    """
    if not 0 < test_fraction < 0.5:
        raise ValueError(f"{what} must be in (0, 0.5), got {test_fraction}")
    if small not in ("raise", "adapt"):
        raise ValueError(f"small must be 'raise' or 'adapt', got {small!r}")
    target, groups = np.asarray(target), np.asarray(groups)
    n = len(target)
    k = max(2, int(round(1 / test_fraction)))
    if small == "adapt":
        fewest = min(len(np.unique(groups[target == c])) for c in np.unique(target))
        if fewest < 2:
            warnings.warn(f"too few groups per class for a held-out split of {what}={test_fraction}: "
                          "nothing held out", UserWarning, stacklevel=find_stack_level())
            return np.arange(n), np.arange(0)
        if fewest < k:
            warnings.warn(f"the smallest class has {fewest} groups of images, too few for a held-out split of "
                          f"{what}={test_fraction}: holding out 1/{fewest} of the images instead", UserWarning,
                          stacklevel=find_stack_level())
            k = fewest
    cv = StratifiedGroupKFold(k, shuffle=True, random_state=random_state)
    train, test = next(cv.split(np.zeros(n), target, groups))
    return np.sort(train), np.sort(test)


class DuplicateGroupKFold(GroupsConsumerMixin, BaseCrossValidator):
    """K-fold cross-validation that never splits a group of near-duplicate images.

    When ``split`` gets no ``groups``, it computes them from ``X`` with
    :func:`duplicate_groups`, so images (or :class:`featbus.ImageRecord`) go straight in:
    ``cross_validate(pipe, data.data, data.target, cv=DuplicateGroupKFold())``. Given
    ``groups`` (e.g. patient ids, or ``Bunch.groups``), it uses them as they are. With
    ``stratify=True`` folds keep the class proportions as far as the groups allow
    (:class:`~sklearn.model_selection.StratifiedGroupKFold`); otherwise
    :class:`~sklearn.model_selection.GroupKFold`.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds, at least 2.
    stratify : bool, default=True
        Balance classes across folds (needs ``y``).
    threshold : int, optional
        Hamming threshold of :func:`duplicate_groups` (default: calibrated on BUSI).
    mode : {"near", "exact"}, default="near"
        See :func:`duplicate_groups`.
    hash_size : int, default=8
        See :func:`duplicate_groups`.
    max_shift : float, default=0.06
        See :func:`duplicate_groups`.
    shift_threshold : int, optional
        See :func:`duplicate_groups`.
    shuffle : bool, default=False
        Shuffle the groups before assigning them to folds.
    random_state : int, RandomState or None
        Seed used when ``shuffle=True``.
    n_jobs : int, optional
        Parallel workers for hashing.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus import DuplicateGroupKFold
    >>> rng = np.random.RandomState(0)
    >>> base = [rng.rand(32, 32) for _ in range(6)]
    >>> X = base + [np.clip(b + 0.01, 0, 1) for b in base]  # each image twice
    >>> y = np.array([0, 1] * 6)
    >>> cv = DuplicateGroupKFold(n_splits=3)
    >>> all(not {i % 6 for i in tr} & {i % 6 for i in te} for tr, te in cv.split(X, y))
    True
    >>> cv.get_n_splits()
    3
    """

    def __init__(self, n_splits: int = 5, *, stratify: bool = True, threshold: int | None = None,
                 mode: str = "near", hash_size: int = 8, max_shift: float = 0.06,
                 shift_threshold: int | None = None, shuffle: bool = False, random_state=None,
                 n_jobs: int | None = None):
        self.n_splits = n_splits
        self.stratify = stratify
        self.threshold = threshold
        self.mode = mode
        self.hash_size = hash_size
        self.max_shift = max_shift
        self.shift_threshold = shift_threshold
        self.shuffle = shuffle
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _splitter(self):
        if isinstance(self.n_splits, bool) or not isinstance(self.n_splits, numbers.Integral) or self.n_splits < 2:
            raise ValueError(f"n_splits must be an integer >= 2, got {self.n_splits!r}")
        cls = StratifiedGroupKFold if self.stratify else GroupKFold
        if self.shuffle:
            return cls(self.n_splits, shuffle=True, random_state=self.random_state)
        return cls(self.n_splits)

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Generate train/test indices.

        Parameters
        ----------
        X : sequence of images, ImageRecord or paths
            Hashed to find duplicate groups when ``groups`` is None (any sequence of the
            right length when ``groups`` is given).
        y : array-like of shape (n_samples,)
            Class labels; required with ``stratify=True``.
        groups : array-like of shape (n_samples,), optional
            Precomputed groups; when given, ``X`` is not read.

        Yields
        ------
        train, test : ndarray of int
        """
        splitter = self._splitter()
        if self.stratify and y is None:
            raise ValueError("DuplicateGroupKFold(stratify=True) needs y; pass y or set stratify=False")
        groups = resolve_groups(X, groups, threshold=self.threshold, mode=self.mode,
                                hash_size=self.hash_size, max_shift=self.max_shift,
                                shift_threshold=self.shift_threshold, n_jobs=self.n_jobs)
        n = len(groups)
        if y is not None and len(y) != n:
            raise ValueError(f"y has {len(y)} labels but there are {n} samples")
        if len(X) != n:
            raise ValueError(f"X has {len(X)} samples but groups has {n}")
        n_groups = len(np.unique(groups))
        if n_groups < self.n_splits:
            raise ValueError(f"only {n_groups} distinct group(s) of (near-)duplicates for "
                             f"n_splits={self.n_splits}; use fewer splits")
        yield from splitter.split(np.zeros((n, 1)), y, groups)

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of folds (``n_splits``)."""
        return int(self.n_splits)
