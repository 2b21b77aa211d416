"""Which images trained a network or a model: fingerprints, and the warning when they are scored.

A backbone or a model scored on images it trained on (or on near-copies of them) looks better
than it will on new images. featbus stores a fingerprint of every training image with what it
ships or saves (the ``breast-us`` backbone's card, a model file's manifest) and counts, wherever
a figure is computed on images (``evaluate``, ``validate``, ``segment evaluate``), how many of
them it has seen; the figure is then labelled optimistic.

A fingerprint is the image's perceptual hash (:func:`featbus.model_selection.image_hashes`,
63 bits, written as 16 hexadecimal digits): it survives rescaling, re-encoding and contrast
changes, so a copy of a public data set at another size is still recognised. Two images are the
same here when their hashes differ in at most
:data:`featbus.model_selection.DEFAULT_THRESHOLD` bits, the threshold that groups near-duplicate
images for cross-validation (calibrated on BUSI: the same lesion, the same or a neighbouring
frame).

Examples
--------
>>> import numpy as np
>>> from featbus.model.provenance import fingerprints, count_seen
>>> rng = np.random.RandomState(0)
>>> trained = [rng.rand(64, 64) for _ in range(3)]
>>> prints = fingerprints(trained)
>>> len(prints), len(prints[0])
(3, 16)
>>> seen = count_seen([trained[1], rng.rand(64, 64)], prints)
>>> seen.tolist()
[True, False]
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["fingerprints", "count_seen", "seen_note", "trained_on", "overlap", "overlap_notes", "seen_by_site",
           "card_site_figures", "segmenter_name", "seen_counts", "stored_operating_point", "trained_here"]

#: How many of the flagged images a note names before counting the rest (``-v``: all of them).
NAMES_SHOWN = 3

_BITS = 63  # image_hashes(hash_size=8)


def fingerprints(images: Any, *, n_jobs: int | None = None) -> list[str]:
    """The fingerprint of each image: its 63-bit perceptual hash as 16 hexadecimal digits.

    Parameters
    ----------
    images : sequence of arrays, ImageRecord or paths
    n_jobs : int, optional
        Parallel workers for reading and hashing.

    Returns
    -------
    prints : list of str

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.provenance import fingerprints
    >>> fingerprints([np.eye(32)])[0] == fingerprints([np.eye(32) * 0.5])[0]   # contrast does not matter
    True
    """
    from ..model_selection import image_hashes  # here: reading a stored point (predict) needs none of it

    hashes = image_hashes(images, n_jobs=n_jobs)
    return [np.packbits(h).tobytes().hex() for h in hashes]


def _bits(prints: Sequence[str]) -> np.ndarray:
    if len(prints) == 0:
        return np.zeros((0, _BITS), dtype=bool)
    try:
        raw = np.frombuffer(b"".join(bytes.fromhex(p) for p in prints), dtype=np.uint8).reshape(len(prints), -1)
    except ValueError:
        raise ValueError("fingerprints must be strings of 16 hexadecimal digits "
                         "(featbus.model.provenance.fingerprints)") \
            from None
    return np.unpackbits(raw, axis=1)[:, :_BITS].astype(bool)


def count_seen(images: Any, trained: Sequence[str], *, threshold: int | None = None,
               n_jobs: int | None = None) -> np.ndarray:
    """Which of ``images`` are (near-copies of) images whose fingerprints are ``trained``.

    Parameters
    ----------
    images : sequence of arrays, ImageRecord or paths, or sequence of str
        The images scored, or their fingerprints.
    trained : sequence of str
        Fingerprints of the training images (:func:`fingerprints`).
    threshold : int, optional
        Largest Hamming distance, in bits, between two fingerprints of the same image; default
        :data:`featbus.model_selection.DEFAULT_THRESHOLD` (10).
    n_jobs : int, optional
        Parallel workers for hashing.

    Returns
    -------
    seen : ndarray of bool, shape (n_images,)

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage as ndi
    >>> from featbus.model.provenance import fingerprints, count_seen
    >>> im = ndi.gaussian_filter(np.random.RandomState(0).rand(96, 96), 4)
    >>> count_seen(fingerprints([im]), fingerprints([ndi.zoom(im, 0.5)])).tolist()   # a half-size copy
    [True]
    """
    from ..model_selection import DEFAULT_THRESHOLD, image_hashes

    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    items = list(images)
    if items and all(isinstance(x, str) and len(x) == 16 for x in items):
        query = _bits(items)
    else:
        query = image_hashes(items, n_jobs=n_jobs)
    ref = _bits(list(trained))
    seen = np.zeros(len(query), dtype=bool)
    if not len(ref) or not len(query):
        return seen
    ref_i = ref.astype(np.int16)
    for start in range(0, len(query), 256):  # bounded memory: 256 x n_trained distances at a time
        q = query[start:start + 256].astype(np.int16)
        dist = q @ (1 - ref_i).T + (1 - q) @ ref_i.T
        seen[start:start + 256] = dist.min(axis=1) <= threshold
    return seen


def seen_note(n_seen: int, n_total: int, what: str, names: Sequence[str] | None = None,
              shown: int | None = NAMES_SHOWN) -> str | None:
    """The sentence that labels a figure computed partly on training images; ``None`` when none is.

    ``names``: the flagged images' names, the first ``shown`` of them named and the rest counted
    (``shown=None``: every one), so that a reader can check the ones flagged.

    Examples
    --------
    >>> from featbus.model.provenance import seen_note
    >>> seen_note(3, 10, "the backbone breast-us")
    '3 of these 10 images (or near-copies) trained the backbone breast-us: figures on them are optimistic'
    >>> seen_note(5, 10, "this model", ["a.png", "b.png", "c.png", "d.png", "e.png"]).split("; ")[1]
    'flagged: a.png, b.png, c.png and 2 more (-v lists all)'
    >>> seen_note(0, 10, "this model") is None
    True
    """
    if not n_seen:
        return None
    note = f"{n_seen} of these {n_total} images (or near-copies) trained {what}: figures on them are optimistic"
    if names:
        names = list(names)
        listed = names if shown is None or len(names) <= shown else names[:shown]
        rest = len(names) - len(listed)
        note += "; flagged: " + ", ".join(listed) + (f" and {rest} more (-v lists all)" if rest else "")
    return note


def _image_names(items: list) -> list[str]:
    """Each image's name for a note: its file's base name, else its position (``#3``)."""
    out = []
    for i, item in enumerate(items):
        path = item if isinstance(item, (str, os.PathLike)) else getattr(item, "path", None)
        out.append(os.path.basename(str(path)) if path else f"#{i}")
    return out


def _shipped_backbones(obj: Any, files: list | None = None) -> list[str]:
    """The keys in the pretrained table (:data:`featbus.networks.pretrained.PRETRAINED`) of the
    shipped weights (``breast-us``...) any network inside ``obj`` starts from: a FeatbusModel, a
    pipeline, a search, an estimator (walked through ``get_params``). ``files``, when given, gets
    the paths of the weights files (``weights=<path>``) they start from instead."""
    from ..networks.backbones import get_backbone
    from ..networks.pretrained import find_pretrained

    found: list[str] = []
    seen_ids: set[int] = set()

    def visit(est):
        if est is None or id(est) in seen_ids or isinstance(est, (str, bytes, int, float, np.ndarray)):
            return
        seen_ids.add(id(est))
        if isinstance(est, (list, tuple)):
            for e in est:
                visit(e)
            return
        backbone, weights = getattr(est, "backbone", None), getattr(est, "weights", None)
        if find_pretrained(weights, "backbone") is not None:  # breast-us, breast_us ...
            found.append(find_pretrained(weights, "backbone").key)
        elif files is not None and isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights):
            files.append(os.fspath(weights))
        elif isinstance(backbone, str) and weights == "imagenet":
            try:
                row = get_backbone(backbone)
            except ValueError:
                row = None
            if row is not None and row.shipped:
                found.append(row.shipped)
        get_params = getattr(est, "get_params", None)
        if callable(get_params) and not isinstance(est, type):
            try:
                params = get_params(deep=True)
            except TypeError:
                params = {}
            for value in params.values():
                if hasattr(value, "get_params") or isinstance(value, (list, tuple)):
                    visit(value)
        for attr in ("features", "networks", "members_", "estimator", "best_estimator_", "steps",
                     "transformer_list", "roi", "segmenter_"):
            value = getattr(est, attr, None)
            if value is not None and not callable(value):
                visit(value)
        if isinstance(est, tuple) and len(est) == 2:
            visit(est[1])

    visit(obj)
    return list(dict.fromkeys(found))


def trained_on(obj: Any) -> list[tuple[str, list[str]]]:
    """What trained ``obj``, as ``(who, fingerprints)`` pairs: a model file's training and
    adaptation images (its manifest), a segmenter's training images (its ``fingerprints_``; a
    model's lesion segmenter's too), and the images of every shipped backbone it starts from
    (their cards).

    Examples
    --------
    >>> from featbus.model.provenance import trained_on
    >>> trained_on(object())
    []
    """
    out: list[tuple[str, list[str]]] = []
    manifest = getattr(obj, "manifest", None)
    if isinstance(manifest, dict):
        data = manifest.get("data") if isinstance(manifest.get("data"), dict) else {}
        if data.get("fingerprints"):
            out.append(("this model", list(data["fingerprints"])))
        adapted = manifest.get("adaptation") if isinstance(manifest.get("adaptation"), dict) else {}
        if adapted.get("fingerprints"):
            out.append(("this model's adaptation", list(adapted["fingerprints"])))
    roi = getattr(obj, "roi", None)  # a model's lesion segmenter (in its ROICropper)
    for who, seg in (("this segmenter", obj), ("its lesion segmenter", getattr(roi, "segmenter_", None))):
        prints = getattr(seg, "fingerprints_", None)
        if isinstance(prints, (list, tuple)) and prints:
            out.append((who, list(prints)))
    files: list = []
    shipped = _shipped_backbones(obj, files)  # walks every parameter of obj: once
    for path in dict.fromkeys(files):  # a user's backbone file: the card beside it (``<stem>.json``)
        prints = _file_card_prints(path)
        if prints:
            out.append((f"the backbone file {os.path.basename(path)}", prints))
    if shipped:
        from ..networks.pretrained import PRETRAINED

        for key in shipped:
            entry = PRETRAINED[key]
            out.append((f"the backbone {entry.name}", list(entry.card().get("image_phash", []))))
    return out


def _file_card_prints(path: str) -> list[str]:
    """The training-image fingerprints (``image_phash``) of the card beside a backbone weights file
    (``<stem>.json``, as ``scripts/train_breast_us.py`` writes it); ``[]`` when there is none."""
    card = os.path.splitext(path)[0] + ".json"
    try:
        with open(card) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return []
    prints = data.get("image_phash") if isinstance(data, dict) else None
    if isinstance(prints, list) and prints and all(isinstance(p, str) and len(p) == 16 for p in prints):
        return prints
    return []


def seen_by_site(sources: Sequence[tuple[str, Sequence[str]]], prints: Sequence[str],
                 sites: Any) -> dict[str, list[dict]]:
    """Which trained parts saw each site's images: for a leave-one-site-out figure, a held-out site
    one of them trained on is not an unseen site.

    Decided per image by fingerprint (:func:`count_seen`), not by a site's name: a copy of a
    public data set under another folder name is still recognised, and a site none of whose
    images trained a part is unseen whatever it is called.

    Parameters
    ----------
    sources : sequence of (str, sequence of str)
        ``(who, fingerprints)`` of each trained part (:func:`trained_on`).
    prints : sequence of str
        The fingerprint of every image (:func:`fingerprints`).
    sites : array-like of shape (n_images,)
        The site of every image.

    Returns
    -------
    seen : dict
        Site -> one ``{"part": who, "n_seen": k, "n_images": n}`` per part that trained on ``k``
        of its ``n`` images (``[]``: an unseen site).

    Examples
    --------
    >>> from featbus.model.provenance import seen_by_site
    >>> seen_by_site([("the backbone x", ["0" * 16])], ["0" * 16, "f" * 16], ["a", "b"])
    {'a': [{'part': 'the backbone x', 'n_seen': 1, 'n_images': 1}], 'b': []}
    """
    sites = np.asarray(sites).astype(str)
    prints = list(prints)
    if len(prints) != sites.size:
        raise ValueError(f"{len(prints)} fingerprints for {sites.size} images")
    out: dict[str, list[dict]] = {}
    for site in dict.fromkeys(sites.tolist()):
        here = [p for p, s in zip(prints, sites) if s == site]
        out[site] = []
        for who, trained in sources:
            n = int(count_seen(here, list(trained)).sum()) if trained else 0
            if n:
                out[site].append({"part": who, "n_seen": n, "n_images": len(here)})
    return out


def card_site_figures(recipe: dict, prints: Sequence[str], sites: Any) -> dict | None:
    """The honest leave-one-site-out figures a shipped network's card holds for ``recipe``: each
    measured with every trained part rebuilt without the held-out site.

    A card (:meth:`featbus.networks.pretrained.Pretrained.card`) may list, under
    ``leave_one_site_out``, recipes (``match``: the manifest's recipe fields and the shipped
    segmenter, or ``None``) with a benign-vs-malignant AUC ``[value, low, high]`` per site of its
    own. Each held-out site here is matched to the card's site whose training images it shares
    (by fingerprint: the card lists them in the order of its ``sites``), never by name.

    Parameters
    ----------
    recipe : dict
        ``features``, ``classifier``, ``region``, ``balance``, ``preprocessing``,
        ``site_balance``, ``segmenter`` (a shipped segmenter's name, or ``None``) and, optionally,
        ``decisions`` (``"two"``: a card's row matches it only when its ``match`` says so).
    prints : sequence of str
        The fingerprint of every image.
    sites : array-like of shape (n_images,)

    Returns
    -------
    figures : dict or None
        ``{"label", "about", "card", "sites": {site: {"card_site", "auc"}}}``, or ``None``
        when no card holds a figure for this recipe and these sites.
    """
    from ..networks.pretrained import PRETRAINED

    sites = np.asarray(sites).astype(str)
    prints = list(prints)
    for entry in PRETRAINED.values():
        try:
            card = entry.card()
        except (OSError, ValueError):
            continue
        loso = card.get("leave_one_site_out")
        if not isinstance(loso, dict):
            continue
        for row in loso.get("recipes") or []:
            match = row.get("match") or {}
            if not match or any(recipe.get(k) != v for k, v in match.items()):
                continue
            if recipe.get("decisions") and not match.get("decisions"):  # a row of one decision measured another recipe
                continue
            slices, start = {}, 0  # the card's fingerprints, site by site
            for name, n in (card.get("sites") or {}).items():
                slices[name] = card.get("image_phash", [])[start:start + int(n)]
                start += int(n)
            found = {}
            for site in dict.fromkeys(sites.tolist()):
                here = [p for p, s in zip(prints, sites) if s == site]
                counts = {name: int(count_seen(here, sl).sum()) for name, sl in slices.items() if sl}
                best = max(counts, key=counts.get) if counts else None
                if best is not None and counts[best] and best in (row.get("auc") or {}):
                    found[site] = {"card_site": best, "auc": list(row["auc"][best])}
            if found:
                return {"label": row.get("label"), "about": loso.get("about"), "card": entry.name, "sites": found}
    return None


def overlap(obj: Any, images: Any, *, n_jobs: int | None = None) -> tuple[list[str], np.ndarray]:
    """Which of ``images`` some part of ``obj`` trained on, with the sentences that say so.

    Parameters
    ----------
    obj : FeatbusModel, segmenter or estimator
        What trained parts to look at (:func:`trained_on`: the model's own training and
        adaptation images, its lesion segmenter's, its shipped backbones').
    images : sequence of arrays, ImageRecord or paths
    n_jobs : int, optional
        Parallel workers for hashing.

    Returns
    -------
    notes : list of str
        One sentence per part that trained on some of them (:func:`overlap_notes`).
    seen : ndarray of bool, shape (n_images,)
        ``True`` for an image (or a near-copy of it) that any of those parts trained on: a
        figure on it describes the training images, not new ones.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.provenance import overlap
    >>> notes, seen = overlap(object(), [np.eye(32), np.eye(32)[::-1]])
    >>> notes, seen.tolist()
    ([], [False, False])
    """
    items = list(images)
    seen_any = np.zeros(len(items), dtype=bool)
    sources = trained_on(obj)
    if not sources or not items:
        return [], seen_any
    prints = fingerprints(items, n_jobs=n_jobs)
    names = _image_names(items)
    shown = None if logging.getLogger("featbus").isEnabledFor(logging.INFO) else NAMES_SHOWN  # -v: every name
    notes = []
    for who, trained in sources:
        seen = count_seen(prints, trained)
        seen_any |= seen
        note = seen_note(int(seen.sum()), len(items), who, [n for n, s in zip(names, seen) if s], shown)
        if note:
            notes.append(note)
    return notes, seen_any


def overlap_notes(obj: Any, images: Any, *, n_jobs: int | None = None) -> list[str]:
    """One sentence per source of ``obj``'s training (:func:`trained_on`) that some of ``images``
    come from (:func:`seen_note`), naming the first :data:`NAMES_SHOWN` of them (every one when
    the ``featbus`` logger shows INFO: ``-v``); ``[]`` when none does. :func:`overlap` also
    says which images.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.provenance import overlap_notes
    >>> overlap_notes(object(), [np.eye(32)])
    []
    """
    return overlap(obj, images, n_jobs=n_jobs)[0]


def segmenter_name(info: dict) -> str:
    """A model's lesion segmenter as its manifest's ``segmenter`` names it where it saw images:
    ``"the segmenter breast-us"`` (featbus's shipped one), ``"the segmenter file seg.keras"``,
    ``"the segmenter trained here"`` (on the model's own training images), ``"the segmenter"``.

    Examples
    --------
    >>> from featbus.model.provenance import segmenter_name
    >>> segmenter_name({"obtained": "trained by train_model on the training images' masks",
    ...                 "trained_on_training_images": True})
    'the segmenter trained here'
    """
    obtained = str(info.get("obtained", ""))
    if obtained.startswith("featbus's shipped segmenter"):
        from ..networks.pretrained import find_pretrained

        shipped = find_pretrained(info.get("file"), "segmenter")
        return f"the segmenter {shipped.name if shipped else info.get('file')}"
    if obtained.startswith("loaded from the file"):
        return f"the segmenter file {os.path.basename(str(info.get('file')))}"
    if trained_here(info):
        return "the segmenter trained here"
    return "the segmenter"


def trained_here(info: dict) -> bool:
    """Whether a model's lesion segmenter (its manifest's ``segmenter`` entry) was trained with the
    model, on every one of its training images (one that lists the training images it saw, by
    count, is a file's: :func:`count_seen` tells which).

    Examples
    --------
    >>> from featbus.model.provenance import trained_here
    >>> trained_here({"trained_on_training_images": True}), trained_here({"trained_on_training_images": True,
    ...                                                                  "n_training_images_seen": 3})
    (True, False)
    """
    return info.get("trained_on_training_images") is True and "n_training_images_seen" not in info


def seen_counts(parts: Sequence[tuple[str, Any]], mask: Any = None) -> tuple[tuple[str, int | None], ...]:
    """An operating point's ``seen_by`` (:attr:`featbus.metrics.OperatingPoint.seen_by`) for
    figures measured on the images ``mask`` selects (``None``: all of them).

    ``parts``: ``(who, seen)`` pairs, ``seen`` a bool per image (which of them ``who`` trained
    on), or ``None`` when featbus cannot tell. Each part that saw some of the images comes back
    with how many, a part that cannot be told with ``None``; one that saw none is left out.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.model.provenance import seen_counts
    >>> seen_counts([("the backbone x", np.array([True, False, True])), ("the head", np.zeros(3, bool)),
    ...              ("the segmenter", None)], mask=np.array([True, True, False]))
    (('the backbone x', 1), ('the segmenter', None))
    """
    out: list[tuple[str, int | None]] = []
    for who, seen in parts:
        if seen is None:
            out.append((who, None))
            continue
        seen = np.asarray(seen, dtype=bool)
        k = int(np.sum(seen if mask is None else seen[np.asarray(mask)]))
        if k:
            out.append((who, k))
    return tuple(out)


#: :func:`seen_note`'s sentence, read back (the count, of how many, who).
_SEEN_NOTE = re.compile(r"^(\d+) of these (\d+) images \(or near-copies\) trained (.+?): "
                        r"figures on them are optimistic")
#: What the chosen_on of a point measured on a model's own training images says (training writes it).
_ON_TRAINING = ("training images", "of the training data", "the segmenter's own")


def stored_operating_point(manifest: dict):
    """A model file's operating point (:class:`~featbus.metrics.OperatingPoint`; ``None`` when it
    stores none), with the trained parts that saw the images of its figures (``seen_by``).

    As recorded; in a file from before featbus recorded them, read from its manifest: a point
    (or presence point) whose ``chosen_on`` says it was measured on the model's own training
    images gets the segmenter (its ``segmenter`` entry: trained on them, or may have been)
    and the shipped backbones the training notes say trained on them (:func:`seen_note`'s
    sentence); the presence point, whose score is the segmenter's, the segmenter only. A count
    of the training images that is not all of them, of a point measured on some of them (its
    lesion images), is said as unknown. Any other point, or one where no such part is found, is
    left as recorded (nothing said either way: never that no part saw its images).

    Examples
    --------
    >>> from featbus.model.provenance import stored_operating_point
    >>> manifest = {"data": {"n_images": 60}, "notes": [
    ...     "60 of these 60 images (or near-copies) trained the backbone breast-us: figures on them are optimistic"],
    ...     "operating_point": {"positive": "malignant", "threshold": 0.2, "target_sensitivity": 0.9,
    ...                         "sensitivity": 0.9, "specificity": 0.5, "n_images": 60,
    ...                         "chosen_on": "out-of-fold probabilities of 60 training images (3 grouped folds)"}}
    >>> stored_operating_point(manifest).seen_by
    (('the backbone breast-us', 60),)
    """
    from ..metrics import OperatingPoint

    record = manifest.get("operating_point")
    if not record:
        return None
    point = OperatingPoint.from_record(record)
    if point.seen_by is not None:
        return point
    n_train = (manifest.get("data") or {}).get("n_images")
    segmenter: list[tuple[str, int | None, Any]] = []
    info = manifest.get("segmenter")
    if isinstance(info, dict):
        trained = info.get("trained_on_training_images")
        if trained is True:
            segmenter.append((segmenter_name(info), info.get("n_training_images_seen", n_train), n_train))
        elif trained == "unknown":
            segmenter.append((segmenter_name(info), None, n_train))
    backbones = [(m.group(3), int(m.group(1)), int(m.group(2))) for m in
                 (_SEEN_NOTE.match(str(n)) for n in manifest.get("notes") or []) if m and
                 m.group(3).startswith("the backbone")]

    def of(pt, parts):
        if pt.seen_by is not None or not any(w in str(pt.chosen_on or "") for w in _ON_TRAINING):
            return pt
        seen = []
        for who, k, total in parts:
            if k is not None and pt.n_images is not None and (k == total or pt.n_images == total):
                k = pt.n_images if k == total else k
            elif k is not None:
                k = None if k else 0  # some of the training images: how many of these, unknown
            if k != 0:
                seen.append((who, k))
        return dataclasses.replace(pt, seen_by=tuple(seen)) if seen else pt  # none found: nothing said

    presence = None if point.presence is None else of(point.presence, segmenter)
    return dataclasses.replace(of(point, segmenter + backbones), presence=presence)
