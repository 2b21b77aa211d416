"""Sites: images from several hospitals or scanners, and the figures that keep them apart.

The one home of what featbus does with sites: how a site is named (:func:`site_name`: a
folder's name or a manifest's stem) and recorded (each record's ``meta["site"]``, mirrored in
the united data set's ``sites``; :func:`sites_of` reads it), uniting data sets from several
sites (:func:`combine_sites`), weighting them equally in training
(:func:`site_balance_weights`), the per-site figures of a model's held-out predictions
(:func:`site_figures`, one statistic behind every per-site line) and leave-one-site-out
cross-validation (:func:`leave_one_site_out`, :class:`SiteReport`, :func:`site_cv_lines`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils import Bunch

from .._records import ImageRecord
from ..metrics import OperatingPoint, Predictions, check_n_bootstrap
from ..model.describe import site_cv_lines
from .figures import estimate
from .report import Report, Text, evaluate

__all__ = ["combine_sites", "site_name", "sites_of", "site_balance_weights", "site_balance_shares", "site_figures",
           "leave_one_site_out", "mark_seen_sites", "SiteReport", "site_cv_lines", "SITE_BALANCE_ABOUT"]

#: What a model file records about site balance (``manifest["recipe"]["site_balance"]["about"]``).
SITE_BALANCE_ABOUT = ("each (site, class) cell weighted (the classifier's sample_weight) so that every site "
                       "contributes the same total weight and the classes stay balanced; the shares reached are "
                       "listed")


# --------------------------------------------------------------------------- naming and uniting sites

def site_name(path: str | os.PathLike, *, is_file: bool | None = None) -> str:
    """A data set's site name from where it was read: a manifest's stem, a folder's name.

    Parameters
    ----------
    path : path
    is_file : bool, optional
        Whether ``path`` is a CSV manifest; default: asked of the file system.

    Examples
    --------
    >>> from featbus.evaluation.sites import site_name
    >>> site_name("/data/busi.csv", is_file=True), site_name("/data/BUS-BRA/", is_file=False)
    ('busi', 'BUS-BRA')
    """
    p = Path(path)
    csv = p.suffix.lower() == ".csv" and (p.is_file() if is_file is None else is_file)
    return p.stem if csv else Path(os.path.abspath(p)).name


_SOURCE = re.compile(r"(?:folder|manifest) '([^']+)'")


def _site_name(data, k: int) -> str:
    """A data set's site name when none is given: its folder's name or its manifest's stem (as
    its ``DESCR`` names them), else ``site<k+1>``."""
    found = _SOURCE.search(str(getattr(data, "DESCR", "") or ""))
    return site_name(found.group(1), is_file=Path(found.group(1)).suffix.lower() == ".csv") if found else f"site{k + 1}"


def _combined_groups_origin(datasets, names) -> str | None:
    """Where the united groups came from (``Bunch.groups_from``): each site's own, named per site
    where a site's table gave them (patients), or None when featbus formed every site's groups."""
    origins = [getattr(d, "groups_from", None) for d in datasets]
    if not any(origins):
        return None
    said = {str(n): (str(o).split(":", 1)[1].strip() if str(o).lower().startswith("patients:") else str(o))
            if o else "near-duplicate groups featbus formed" for d, n, o in zip(datasets, names, origins)}
    listed = "; ".join(f"{n}: {o}" for n, o in said.items())
    if all(o and str(o).lower().startswith("patients:") for o in origins):
        return f"patients: each site's own ({listed})"
    return f"each site's own groups ({listed})"


def combine_sites(datasets: Sequence, names: Sequence[str] | None = None) -> Bunch:
    """Unite data sets from several sites (hospitals, scanners) into one, each image tagged with its site.

    Labels are united by name: BUSI's ``benign``/``malignant``/``normal`` and BUS-BRA's
    ``benign``/``malignant`` give three classes, and ``target`` is re-indexed on the united
    ``target_names`` (the first data set's classes in their order, then every new class in the
    order it appears). Groups stay per site: a group number is never shared by two sites, so a
    grouped split keeps each patient (or near-duplicate group) whole and never joins two sites'
    groups that happened to have the same number.

    Parameters
    ----------
    datasets : sequence of Bunch
        Data sets as the loaders return them (:func:`load_data`, :func:`make_phantoms`...), at
        least one.
    names : sequence of str, optional
        One site name per data set. Default: the folder's name, or the CSV manifest's stem, as
        the data set's ``DESCR`` gives it (``site1``, ``site2``... when it names none). A record
        whose ``meta`` holds ``site`` already (a manifest's ``site`` column) keeps that site.

    Returns
    -------
    data : Bunch
        The common fields of :func:`featbus.load_data`'s data sets, concatenated in the order given:
        ``images``, ``masks``, ``paths``, ``data`` (new records sharing the pixels, each
        ``meta`` a copy holding ``site``), ``target``, ``target_names``, ``groups`` (ints,
        one per (site, group) pair, in order of first appearance), plus ``sites`` (the site of
        each image), ``group_ids`` (``"<site>:<group>"`` of each image), ``site_names`` (the
        sites in order), ``site_classes`` (each site's class names), ``skipped`` (every data
        set's), ``split`` when any data set has one (``""`` for the others) and ``DESCR``.

    Raises
    ------
    ValueError
        No data set, a number of names other than the number of data sets, a site named twice,
        or one image file in two data sets.

    Examples
    --------
    >>> from featbus import combine_sites, make_phantoms
    >>> a = make_phantoms(6, image_size=32, random_state=0)
    >>> b = make_phantoms(4, image_size=32, weights=[0.5, 0.5, 0.0], random_state=1)
    >>> b.target_names = b.target_names[:2]  # a site without normal images
    >>> both = combine_sites([a, b], names=["a", "b"])
    >>> both.target_names.tolist(), len(both.target), sorted(set(both.sites.tolist()))
    (['benign', 'malignant', 'normal'], 10, ['a', 'b'])
    >>> len(set(both.groups[both.sites == "a"]) & set(both.groups[both.sites == "b"]))
    0
    >>> both.data[-1].meta["site"], both.group_ids[-1]
    ('b', 'b:3')
    """
    datasets = list(datasets)
    if not datasets:
        raise ValueError("combine_sites needs at least one data set")
    names = _site_names(datasets, names)
    classes: list[str] = []
    for d in datasets:
        classes += [str(c) for c in d.target_names if str(c) not in classes]
    any_split = any(getattr(d, "split", None) is not None for d in datasets)
    images, masks, paths, records, target, sites, group_ids, splits, skipped = _concatenated(
        datasets, names, classes)
    order: dict[str, int] = {}
    groups = np.array([order.setdefault(g, len(order)) for g in group_ids], dtype=int)
    target_arr = np.asarray(target, dtype=int)
    sites_arr = np.asarray(sites, dtype=object)
    site_names = list(dict.fromkeys(sites))
    site_classes = {s: [classes[t] for t in sorted(set(target_arr[sites_arr == s].tolist()))] for s in site_names}
    counts = np.bincount(target_arr, minlength=len(classes))
    parts = [f"{s} ({int(np.sum(sites_arr == s))} images, {len(site_classes[s])} classes)" for s in site_names]
    descr = (f"{len(site_names)} sites: {', '.join(parts)}; {len(target)} images, classes "
             f"{dict(zip(classes, counts.tolist()))}, {len(order)} groups (each within one site).\n"
             + "\n".join(f"{n}: {getattr(d, 'DESCR', '')}" for d, n in zip(datasets, names)))
    out = Bunch(images=images, masks=masks, target=target_arr, target_names=np.asarray(classes, dtype=str),
                paths=paths, groups=groups, data=records, DESCR=descr, sites=sites_arr,
                group_ids=np.asarray(group_ids, dtype=object), site_names=site_names, site_classes=site_classes,
                skipped=skipped)
    if any_split:
        out.split = np.asarray(splits, dtype=object)
    told = _combined_groups_origin(datasets, names)
    if told:
        out.groups_from = told
    return out


def _site_names(datasets: list, names: Sequence[str] | None) -> list[str]:
    """One site name per data set, each non-empty and given once (the data sets' own when none given)."""
    if names is None:
        return [_site_name(d, k) for k, d in enumerate(datasets)]
    names = [str(n) for n in names]
    if len(names) != len(datasets):
        raise ValueError(f"{len(names)} name(s) for {len(datasets)} data set(s): give one name per data set")
    for k, n in enumerate(names):
        if not n.strip():
            raise ValueError(f"data set {k + 1} has an empty site name")
        if n in names[:k]:
            raise ValueError(f"site name {n!r} is given twice: give each data set its own name (names=...)")
    return names


def _concatenated(datasets: list, names: list[str], classes: list[str]) -> tuple[list, ...]:
    """The data sets' images, masks, paths, records (tagged with their site), targets on the united
    ``classes``, sites, ``"<site>:<group>"`` ids, splits and skipped files, concatenated in order."""
    images, masks, paths, records, target, sites, group_ids, splits, skipped = [], [], [], [], [], [], [], [], []
    owner: dict[str, str] = {}
    for d, name in zip(datasets, names):
        index = [classes.index(str(c)) for c in d.target_names]
        split = getattr(d, "split", None)
        d_groups = getattr(d, "groups", None)
        d_groups = np.arange(len(d.data)) if d_groups is None else np.asarray(d_groups)
        # a subset a user cut by hand may carry only the records: they hold image, mask and path
        d_images, d_masks, d_paths = (getattr(d, k, None) for k in ("images", "masks", "paths"))
        for i, rec in enumerate(d.data):
            path = str(d_paths[i] if d_paths is not None else (rec.path or ""))
            if path and os.path.isfile(path):  # the same file in two data sets would sit on both sides of a split
                key = os.path.realpath(path)
                if key in owner:
                    raise ValueError(f"image {path!r} is in two data sets ({owner[key]!r} and {name!r}): give "
                                     "each image once")
                owner[key] = name
            meta = dict(rec.meta or {})
            site = str(meta["site"]).strip() if str(meta.get("site", "")).strip() else name
            meta["site"] = site
            records.append(ImageRecord(rec.image, rec.mask, rec.path, meta))
            images.append(d_images[i] if d_images is not None else rec.image)
            masks.append(d_masks[i] if d_masks is not None else rec.mask)
            paths.append(d_paths[i] if d_paths is not None else rec.path)
            target.append(index[int(d.target[i])])
            sites.append(site)
            group_ids.append(f"{site}:{d_groups[i]}")
            splits.append(str(split[i]) if split is not None else "")
        skipped += list(getattr(d, "skipped", []) or [])
    return images, masks, paths, records, target, sites, group_ids, splits, skipped


def sites_of(data, records=None) -> np.ndarray | None:
    """Each image's site, read the one way: :func:`combine_sites`'s ``sites``, else every
    record's ``meta["site"]`` (a manifest's ``site`` column); ``None`` when the images name no site.

    Parameters
    ----------
    data : Bunch
        A data set (:func:`featbus.load_data`, :func:`combine_sites`).
    records : sequence of ImageRecord, optional
        Its records (default ``data.data``).

    Returns
    -------
    sites : ndarray of str or None

    Examples
    --------
    >>> from featbus import make_phantoms
    >>> from featbus.evaluation.sites import combine_sites, sites_of
    >>> both = combine_sites([make_phantoms(2, image_size=32), make_phantoms(2, image_size=32)], names=["a", "b"])
    >>> sites_of(both).tolist(), sites_of(make_phantoms(2, image_size=32)) is None
    (['a', 'a', 'b', 'b'], True)
    """
    records = list(data.data) if records is None else records
    sites = getattr(data, "sites", None)
    if sites is not None and len(sites) == len(records):
        return np.asarray(sites).astype(str)
    named = [str((getattr(r, "meta", None) or {}).get("site", "")).strip() for r in records]
    return np.asarray(named) if named and all(named) else None


def site_balance_weights(y, sites, *, max_iter: int = 1000, tol: float = 1e-10) -> np.ndarray:
    """Sample weights under which every site weighs the same and the classes stay balanced.

    Each (site, class) cell present in the data gets a total weight, shared equally by its
    images, such that every site's cells add up to ``1 / n_sites`` of the whole and every
    class's cells to ``1 / n_classes``: a large site no longer dominates, and the pooled classes
    are balanced as ``class_weight="balanced"`` balances them. The cell weights are found by
    iterative proportional fitting (Deming & Stephan 1940, doi:10.1214/aoms/1177731829)
    from equal cells, alternating the two margins and ending on the classes. Sites holding
    different classes (BUSI's three, BUS-BRA's two) still admit both margins when every group of
    classes is held by enough sites; otherwise the classes stay exactly balanced and the sites
    as close to equal as they allow (:func:`site_balance_shares` says what was reached).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels.
    sites : array-like of shape (n_samples,)
        The site of every image (:func:`combine_sites` gives ``sites``).
    max_iter : int, default=1000
        Rounds of the fitting.
    tol : float, default=1e-10
        Stop when every site's share is within ``tol`` of ``1 / n_sites``.

    Returns
    -------
    weights : ndarray of shape (n_samples,)
        Positive, mean 1 (the scale the classifier's regularisation was tuned for).

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.evaluation.sites import site_balance_weights
    >>> y = np.array(["b"] * 60 + ["m"] * 20 + ["b"] * 5 + ["m"] * 5)
    >>> sites = np.array(["big"] * 80 + ["small"] * 10)
    >>> w = site_balance_weights(y, sites)
    >>> round(float(w[sites == "big"].sum() / w.sum()), 3), round(float(w[y == "m"].sum() / w.sum()), 3)
    (0.5, 0.5)
    >>> round(float(w.mean()), 6)
    1.0
    """
    y = np.asarray(y).astype(str)
    sites = np.asarray(sites).astype(str)
    if y.shape != sites.shape or y.ndim != 1:
        raise ValueError(f"y and sites must be 1-D and of one length, got shapes {y.shape} and {sites.shape}")
    site_names, s_idx = np.unique(sites, return_inverse=True)
    class_names, c_idx = np.unique(y, return_inverse=True)
    counts = np.zeros((site_names.size, class_names.size))
    np.add.at(counts, (s_idx, c_idx), 1.0)
    mass = (counts > 0) / float(np.sum(counts > 0))
    for _ in range(int(max_iter)):
        mass *= (1.0 / site_names.size) / mass.sum(axis=1, keepdims=True)
        mass *= (1.0 / class_names.size) / mass.sum(axis=0, keepdims=True)
        if np.max(np.abs(mass.sum(axis=1) - 1.0 / site_names.size)) < tol:
            break
    per_image = np.divide(mass, counts, out=np.zeros_like(mass), where=counts > 0)
    weights = per_image[s_idx, c_idx]
    return weights / weights.mean()


def site_balance_shares(y, sites, weights) -> dict:
    """Each site's and each class's share of the total weight (what a model file records).

    Parameters
    ----------
    y, sites : array-like of shape (n_samples,)
    weights : array-like of shape (n_samples,)
        E.g. :func:`site_balance_weights`.

    Returns
    -------
    shares : dict
        ``{"sites": {site: share}, "classes": {class: share}}``, rounded to 4 decimals.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.evaluation.sites import site_balance_shares, site_balance_weights
    >>> y, sites = np.array(["b", "b", "m", "b", "m"]), np.array(["x", "x", "x", "z", "z"])
    >>> site_balance_shares(y, sites, site_balance_weights(y, sites))
    {'sites': {'x': 0.5, 'z': 0.5}, 'classes': {'b': 0.5, 'm': 0.5}}
    """
    y, sites, w = np.asarray(y).astype(str), np.asarray(sites).astype(str), np.asarray(weights, dtype=float)
    total = w.sum()
    return {"sites": {str(s): round(float(w[sites == s].sum() / total), 4) for s in dict.fromkeys(sites.tolist())},
            "classes": {str(c): round(float(w[y == c].sum() / total), 4) for c in np.unique(y)}}



# --------------------------------------------------------------------------- per-site figures

def site_figures(model, proba, y_true, groups=None, *, positive: str = "malignant", n_bootstrap: int = 0,
                 random_state: int | None = 0) -> dict[str, tuple[float, float, float]]:
    """AUC of ``p(positive)``, sensitivity and specificity at the model's own decisions, Brier.

    The decisions are :meth:`featbus.model.FeatbusModel.decide`'s: the manifest's ``operating_point`` where
    there is one (an adapted model), else the most probable class.

    Parameters
    ----------
    model : FeatbusModel
    proba : array-like of shape (n_images, n_classes)
        ``model.predict_proba`` of the images.
    y_true : array-like of str
    groups : array-like, optional
        Bootstrap units (patients); ``None``: every image its own.
    positive : str, default="malignant"
    n_bootstrap : int, default=0
        Resamples of whole groups behind the 95 % percentile intervals (0: none, ``nan``).
    random_state : int or None, default=0

    Returns
    -------
    figures : dict
        ``{"auc" | "sensitivity" | "specificity" | "brier": (value, low, high)}``.

    Examples
    --------
    >>> from featbus import make_phantoms, train_model
    >>> from featbus.evaluation.sites import site_figures
    >>> data = make_phantoms(30, image_size=48, random_state=0)
    >>> model = train_model(data, "intensity", classifier="logreg", cross_validate=False, progress=False)
    >>> y = data.target_names[data.target]
    >>> f = site_figures(model, model.predict_proba(data.data), y, n_bootstrap=50)
    >>> sorted(f), 0 <= f["auc"][0] <= 1
    (['auc', 'brier', 'sensitivity', 'specificity'], True)
    """
    return _site_figures(held_out(model, proba, y_true, groups, positive=positive), n_bootstrap, random_state)


def held_out(model, proba, y_true, groups=None, *, positive: str = "malignant") -> Predictions:
    """A model's predictions of a site's labelled images as the one view (:class:`~featbus.metrics.Predictions`),
    decided by the model's own rule (:meth:`featbus.model.FeatbusModel.decide`).

    Examples
    --------
    >>> from featbus import make_phantoms, train_model
    >>> from featbus.evaluation.sites import held_out
    >>> data = make_phantoms(12, image_size=48, random_state=0)
    >>> model = train_model(data, "intensity", classifier="logreg", cross_validate=False, progress=False)
    >>> view = held_out(model, model.predict_proba(data.data), data.target_names[data.target])
    >>> view.positive, view.y_pred.shape
    ('malignant', (12,))
    """
    proba = np.asarray(proba, dtype=float)
    classes = np.asarray([str(c) for c in model.classes_], dtype=object)
    if positive not in classes.tolist():
        raise ValueError(f"the positive class {positive!r} is not one of the model's classes "
                         f"({', '.join(classes.tolist())})")
    op = (getattr(model, "manifest", None) or {}).get("operating_point")
    rule = OperatingPoint.from_record(op).rule(classes) if op else None
    return Predictions.from_scores(np.asarray(y_true, dtype=str), proba, classes, rule=rule, groups=groups,
                                   positive=positive, source="a site's labelled images")


def _site_figures(view: Predictions, n_bootstrap: int, random_state) -> dict[str, tuple[float, float, float]]:
    """The per-site figures of the table (:mod:`featbus.evaluation.figures`), each ``(value, low, high)``."""
    keys = ("auc", "sensitivity", "specificity", "brier")
    point, ci = estimate(view, keys, view.groups, n_bootstrap, random_state=random_state)
    return {k: (point[k], *ci[k]) for k in keys}


# --------------------------------------------------------------------------- leave one site out

@dataclass
class SiteReport:
    """Leave-one-site-out figures: every site predicted by the estimator trained on the other sites.

    Made by :func:`leave_one_site_out`. ``sites`` holds one entry per held-out site (JSON
    values, as a model file's manifest stores them under ``site_cv``): ``site``, ``n_images``,
    ``n_groups``, ``trained_on`` (the other sites), ``n_train``, ``classes`` (those the site
    holds), ``accuracy``, ``balanced_accuracy`` (mean recall over the site's classes),
    ``auc`` (``p(positive)`` against every other true class; ``None`` when undefined) and
    ``sensitivity`` (recall of ``positive`` at the estimator's own decision; ``None`` when
    undefined), each ``{"value": v, "ci": [low, high]}`` (``ci`` NaN without bootstrap), and
    ``notes``: what a site's classes leave undefined, in words.

    Parameters
    ----------
    name : str
        Display name of the estimator.
    positive : str or None
        The class whose AUC and sensitivity are reported.
    n_bootstrap : int
        Resamples of each site's groups behind the intervals (0: point values).
    sites : list of dict
        One entry per site, in the order the sites first appear.
    report : Report or None
        The pooled held-out predictions (``cv`` "leave one site out").

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from featbus.evaluation.sites import leave_one_site_out
    >>> rng = np.random.RandomState(0)
    >>> y = np.tile(["benign", "malignant"], 30)
    >>> X = rng.normal(size=(60, 3)) + (y == "malignant")[:, None] * 2
    >>> sites = np.repeat(["a", "b", "c"], 20)
    >>> result = leave_one_site_out(LogisticRegression(), X, y, sites, n_bootstrap=100)
    >>> [s["site"] for s in result.sites], result.sites[0]["auc"]["value"] > 0.8
    (['a', 'b', 'c'], True)
    >>> print(result.summary().splitlines()[0])  # doctest: +ELLIPSIS
    leave one site out (LogisticRegression, trained on the other sites and tested on each, decided at the ...
    """

    name: str
    positive: str | None
    n_bootstrap: int
    sites: list
    report: Report | None = None
    card: dict | None = None

    def to_dict(self) -> dict:
        """The manifest entry (JSON values): ``name``, ``positive``, ``n_bootstrap``, ``sites``, and
        ``card`` (the honest figures a shipped network's card holds for the recipe,
        :func:`mark_seen_sites`) when there are some."""
        return {"name": self.name, "positive": self.positive, "n_bootstrap": int(self.n_bootstrap),
                "sites": self.sites, **({"card": self.card} if self.card else {})}

    def summary(self) -> str:
        """The figure as lines of text (:func:`featbus.evaluation.render.site_report_text`)."""
        from .render import site_report_text

        return Text(site_report_text(self))

    def __str__(self) -> str:
        return self.summary()


def mark_seen_sites(site_report: SiteReport, sources, prints, sites, recipe: dict | None = None) -> SiteReport:
    """Say which held-out sites a trained part saw, and quote the honest figures a card holds.

    A held-out site whose images trained a part of the model (a shipped backbone or segmenter, a
    user's segmenter or backbone file with its training images' fingerprints) is not an unseen
    site: its leave-one-site-out figure is optimistic. Each such site's entry gets ``seen_by``
    (:func:`featbus.model.provenance.seen_by_site`: decided per image by fingerprint, not by the
    site's name); :func:`featbus.model.describe.site_cv_lines` marks its line and
    :func:`featbus.evaluation.sanity.with_sites` leaves it out of the verdict. Where a shipped
    network's card holds the recipe's leave-one-site-out figures measured with every part
    rebuilt without the site (:func:`featbus.model.provenance.card_site_figures`), they are stored as
    ``card`` and printed beside the marked sites.

    Parameters
    ----------
    site_report : SiteReport
        Changed in place (and returned).
    sources : sequence of (str, sequence of str)
        ``(who, fingerprints)`` of each trained part (:func:`featbus.model.provenance.trained_on`).
    prints : sequence of str
        The fingerprint of every image, in the order of ``sites``.
    sites : array-like of shape (n_images,)
    recipe : dict, optional
        The recipe's fields the cards match on (:func:`featbus.model.provenance.card_site_figures`).

    Returns
    -------
    site_report : SiteReport
    """
    from ..model.provenance import card_site_figures, seen_by_site

    seen = seen_by_site(list(sources), prints, sites) if sources else {}
    for s in site_report.sites:
        marks = seen.get(str(s.get("site"))) or []
        if marks:
            s["seen_by"] = marks
    if recipe is not None and any(s.get("seen_by") for s in site_report.sites):
        site_report.card = card_site_figures(recipe, prints, sites)
    return site_report


def leave_one_site_out(estimator, X, y, sites, *, groups=None, positive: str | None = "malignant",
                       n_bootstrap: int = 1000, random_state: int | None = 0, n_jobs: int | None = None,
                       name: str | None = None, target_names=None, fit_params: Any = None,
                       progress: bool | str = False) -> SiteReport:
    """Train on every site but one and test on that one, for each site in turn.

    :func:`evaluate` with one fold per site (a site's images are never in its own training
    fold); each site's figures then get 95 % intervals from a bootstrap of *that site's*
    groups (patients or near-duplicate groups: two views of one lesion are one piece of
    evidence). Only what is defined is computed, and what is not is said: a site without the
    ``positive`` class has no AUC nor sensitivity, a class the other sites lack is always
    wrong on this site (it cannot be predicted), a class this site lacks takes no part in its
    balanced accuracy (images called that class still count as wrong). ``featbus evaluate``
    and :func:`featbus.workflows.training.train_model` (the model file's ``site_cv``) both compute
    their leave-one-site-out figure here.

    Parameters
    ----------
    estimator : estimator
        A classifier or pipeline (cloned for every site); for a
        :class:`~featbus.features.finetune.FineTunedCNN`, ``X`` are the images and
        ``fit_params`` can pass each fold's ``groups``.
    X : images or feature matrix
    y : array-like of shape (n_samples,)
        Class labels (names, or integer codes with ``target_names`` of a Bunch).
    sites : array-like of shape (n_samples,)
        The site of every image (:func:`combine_sites` gives ``sites``); at least 2.
    groups : array-like, optional
        Patients or near-duplicate groups: the bootstrap's resampling units (default: every
        image its own).
    positive : str or None, default="malignant"
        The class of the AUC and the sensitivity (skipped when the data lack it).
    n_bootstrap : int, default=1000
        Resamples of each site's groups (0: point values).
    random_state : int or None, default=0
    n_jobs : int, optional
        Sites fitted in parallel.
    name : str, optional
    target_names : sequence of str, optional
        Display names of integer labels ``0..K-1`` (``positive`` is one of them).
    fit_params : dict or callable, optional
        As in :func:`evaluate` (a callable gets each training fold's indices: weights computed
        on the other sites, e.g. :func:`site_balance_weights`).
    progress : bool or "auto", default=False

    Returns
    -------
    result : SiteReport

    Raises
    ------
    ValueError
        Fewer than 2 sites, ``sites`` or ``groups`` of another length than ``y``, or a site
        whose other sites hold a single class (nothing to train on).

    Examples
    --------
    See :class:`SiteReport`.
    """
    y = np.asarray(y)
    sites = np.asarray(sites).astype(str)
    if sites.shape != y.shape:
        raise ValueError(f"sites has shape {sites.shape}; expected {y.shape} (one site per image)")
    order = _checked_sites(y, sites, n_bootstrap)
    splits = [(np.flatnonzero(sites != s), np.flatnonzero(sites == s)) for s in order]
    rep = evaluate(estimator, X, y, cv=splits, groups=groups, n_bootstrap=0, random_state=random_state,
                   n_jobs=n_jobs, name=name, target_names=target_names, progress=progress, fit_params=fit_params)
    rep.cv = f"leave one site out ({len(order)} sites)"
    names = list(rep.class_names)
    code = {n: c for c, n in zip(rep.classes.tolist(), names)}
    y_true, y_pred = np.asarray(rep.y_true), np.asarray(rep.y_pred)
    p = code.get(positive) if positive is not None else None
    col = None if p is None or rep.scores is None else rep.classes.tolist().index(p)
    groups = rep.groups if rep.groups is not None else np.arange(y.size)
    rng = np.random.RandomState(random_state)
    out = []
    for site in order:
        te = sites == site
        here = sorted(set(y_true[te].tolist()), key=rep.classes.tolist().index)
        trained = set(y_true[~te].tolist())
        auc_ok, sens_ok, notes = _site_notes(positive, p, col, here, trained, rep.classes.tolist(), names,
                                             y_true[te], y_pred[te])
        view = Predictions(y_true=y_true[te], y_pred=y_pred[te], scores=None if rep.scores is None else
                           rep.scores[te], classes=rep.classes, class_names=names, groups=None,
                           positive=p if sens_ok or auc_ok else None)
        figures = _left_out_figures(view, auc_ok, sens_ok, groups[te], int(n_bootstrap), rng)
        out.append({"site": site, "n_images": int(te.sum()), "n_groups": int(np.unique(groups[te]).size),
                    "trained_on": [s for s in order if s != site], "n_train": int((~te).sum()),
                    "classes": [names[rep.classes.tolist().index(c)] for c in here], **figures, "notes": notes})
    return SiteReport(name=rep.name, positive=positive if p is not None else None, n_bootstrap=int(n_bootstrap),
                      sites=out, report=rep)


def _checked_sites(y: np.ndarray, sites: np.ndarray, n_bootstrap) -> list[str]:
    """The sites in order of first appearance; refused: under 2 sites, a bad n_bootstrap, a site leaving 1 class."""
    order = list(dict.fromkeys(sites.tolist()))
    if len(order) < 2:
        raise ValueError(f"leaving one site out needs at least 2 sites, got {len(order)} ({order})")
    check_n_bootstrap(n_bootstrap)
    for site in order:
        left = np.unique(y[sites != site])
        if left.size < 2:
            raise ValueError(f"leaving site {site!r} out leaves only class {left.tolist()} in the other sites: "
                             "nothing to tell apart")
    return order


def _site_notes(positive, p, col, here: list, trained: set, classes: list, names: list, y_true: np.ndarray,
                y_pred: np.ndarray) -> tuple[bool, bool, list[str]]:
    """Whether a held-out site has the positive class's AUC and sensitivity, and the notes on what it lacks:
    ``(auc_ok, sens_ok, notes)`` (``y_true`` / ``y_pred``: the site's images)."""
    notes = []
    auc_ok = sens_ok = p is not None
    if positive is None:
        pass
    elif p is None:
        notes.append(f"no {positive} in these data: no {positive} AUC nor sensitivity")
    elif p not in trained:
        auc_ok = sens_ok = False
        notes.append(f"the other sites have no {positive}: no {positive} AUC nor sensitivity")
    elif p not in here or len(here) < 2:
        auc_ok = False
        sens_ok = p in here
        notes.append(f"no {positive} AUC: the site needs {positive} and other images"
                     + ("" if sens_ok else f"; no {positive} sensitivity: it has no {positive}"))
    if col is None:
        auc_ok = False
    lacking = [c for c in classes if c in trained and c not in here]
    if lacking:
        called = int(np.sum(np.isin(y_pred, lacking)))
        what = "/".join(names[classes.index(c)] for c in lacking)
        notes.append(f"no {', '.join(names[classes.index(c)] for c in lacking)} here: figures over "
                     f"its {len(here)} classes ({called} image(s) called {what}, always wrong)")
    unseen = [c for c in here if c not in trained]
    if unseen:
        notes.append(f"the other sites have no {', '.join(names[classes.index(c)] for c in unseen)}: "
                     f"its {int(np.sum(np.isin(y_true, unseen)))} such image(s) are always wrong")
    return auc_ok, sens_ok, notes


def _left_out_figures(view: Predictions, auc_ok: bool, sens_ok: bool, groups: np.ndarray, n_bootstrap: int,
                      rng) -> dict:
    """A held-out site's figures with their group-bootstrap intervals (None where undefined)."""
    asked = ["accuracy", "balanced_accuracy"] + (["auc"] if auc_ok else []) + (["sensitivity"] if sens_ok else [])
    point, ci = estimate(view, asked, groups, n_bootstrap,
                         random_state=rng)  # one random sequence over the sites, as before
    figures = {}
    for metric, ok in (("accuracy", True), ("balanced_accuracy", True), ("auc", auc_ok),
                       ("sensitivity", sens_ok)):
        figures[metric] = {"value": point[metric], "ci": list(ci[metric])} if ok else None
    return figures
