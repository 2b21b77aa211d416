"""The statistics of adapting a model to a site (:mod:`featbus.workflows.adaptation`): the site's
labelled scores as the threshold rule reads them (``_Labelled``), each decision's figures at a pair of
thresholds (from the figure table), their exact intervals over patients, the one-sided bounds of the
safe-move rule (:func:`one_sided_bound`, :func:`patients_needed`), the report of both points' figures,
and the model card's calibration curve read at k patients (:func:`calibration_spread`).

The threshold rule that reads them is :mod:`featbus.workflows.site_points`; the file change,
:func:`featbus.adapt`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import OperatingPoint

__all__ = ["group_unit", "one_sided_bound", "patients_needed", "model_card", "calibration_spread", "spread_lines",
           "score_reference", "FEW_GROUPS", "FEW_IMAGES", "MIN_BOOTSTRAP_GROUPS", "TRIVIAL_BALANCED_ACCURACY",
           "WIDE_SPREAD", "MAX_LESIONS_NORMAL", "PRESENCE_TARGET", "MIN_LESION_IMAGES", "MIN_MALIGNANT_IMAGES"]

# --------------------------------------------------------------------------- two decisions

#: The most of a site's labelled lesion images the presence threshold may call normal (its cap:
#: the threshold is chosen for at least ``1 - MAX_LESIONS_NORMAL`` of them called a lesion, and a
#: kept threshold that would call more of them normal is lowered to it).
MAX_LESIONS_NORMAL = 0.03
#: Share of a site's labelled lesion images the refitted presence threshold keeps calling a lesion
#: (the target of the first decision, "is there a lesion?", of a two-decision model).
PRESENCE_TARGET = 1 - MAX_LESIONS_NORMAL
#: Fewest labelled lesion images the presence threshold is refitted on; with fewer, the model's
#: stored one is kept (and a warning says so).
MIN_LESION_IMAGES = 3
#: Fewest labelled malignant images the malignancy threshold is refitted on; with fewer, the
#: model's stored one is kept (and a warning says so).
MIN_MALIGNANT_IMAGES = 3
#: Below this many labelled patients (groups), a warning: both thresholds rest on too few.
FEW_GROUPS = 8
#: Below this many images of the class a figure counts (malignant, benign, lesion, normal), a
#: warning: the figure rests on too few.
FEW_IMAGES = 5
#: Fewest patients (groups) behind an AUC for it to have an interval (a bootstrap of patients); a
#: share of images always has its exact one (Clopper-Pearson with as many trials as patients).
MIN_BOOTSTRAP_GROUPS = 10
#: Balanced accuracy of always answering one class (sensitivity 1 and specificity 0, or the
#: reverse): what a refitted decision must beat on the labelled images to be kept.
TRIVIAL_BALANCED_ACCURACY = 0.5
#: Width of the 5-95 % band (over draws of k patients, the card's calibration curve) of the
#: sensitivity or specificity above which the spread to expect from k patients is called wide.
WIDE_SPREAD = 0.2

#: The figures of each point: key -> (class counted, what is called) in words.
_FIGURES = {
    "presence": ("lesions_called_lesion", "lesions_called_normal", "malignant_called_normal", "normals_called_normal"),
    "malignancy": ("malignant_sensitivity", "benign_specificity", "malignant_called_malignant"),
}


def group_unit(groups_from: str | None, groups=None) -> str:
    """What a data set's groups are, in words (plural): ``"patients"`` for a patient column,
    ``"near-duplicate groups"`` for groups featbus formed (``"images"`` when each holds one image),
    else ``"groups"``.

    Examples
    --------
    >>> from featbus.evaluation.site_calibration import group_unit
    >>> group_unit("patients: the 'Case' column of bus_data.csv"), group_unit(None, [1, 2, 3])
    ('patients', 'images')
    """
    if not groups_from:
        one_each = groups is not None and np.unique(np.asarray(groups)).size == len(groups)
        return "images" if one_each else "near-duplicate groups"
    return "patients" if str(groups_from).strip().lower().startswith("patients") else "groups"


def _site_figures_at(p_lesion, given, y, t_presence, t_malignancy, *, absent, positive) -> dict:
    """Every figure of the two points at these thresholds: ``key -> (value, successes, images)``
    (value NaN without an image of the class), each from the figure table
    (:mod:`featbus.evaluation.figures`) on the decisions of the point it judges."""
    from ..evaluation.figures import figures
    from ..metrics import Predictions, decide

    y = np.asarray(y, dtype=str)
    p_lesion, given = np.asarray(p_lesion, dtype=float), np.asarray(given, dtype=float)
    lesion, mal = y != absent, y == positive

    def view(labels, classes, scores=None, rule=None, y_pred=None):
        classes = np.asarray(classes, dtype=object)
        if y_pred is None:
            y_pred = classes[decide(scores, rule)]
        return Predictions(y_true=np.asarray(labels, dtype=object), y_pred=y_pred, scores=scores, classes=classes,
                           class_names=[str(c) for c in classes], groups=None, rule=rule)

    # the first point alone: is there a lesion (p(lesion) >= its threshold)?
    presence = view(np.where(lesion, "lesion", absent), [absent, "lesion"], np.column_stack([1 - p_lesion, p_lesion]),
                    (1, t_presence))
    # the second alone, on the lesion images: malignant when p(malignant | lesion) >= its threshold
    q = given[lesion]
    malignancy = view(np.where(mal[lesion], positive, "other"), ["other", positive], np.column_stack([1 - q, q]),
                      (1, t_malignancy))
    # both: what the model answers (no lesion first); decided on the two scores themselves (a product and a
    # quotient could move a score off a threshold chosen at it); the rule only names the no-lesion class
    called_lesion = decide(presence.scores, presence.rule) == 1
    called_mal = decide(np.column_stack([1 - given, given]), (1, t_malignancy)) == 1
    truth = np.where(lesion, np.where(mal, positive, "other"), absent)
    answer = np.where(called_lesion, np.where(called_mal, positive, "other"), absent).astype(object)
    both = dataclasses.replace(view(truth, [absent, "other", positive], y_pred=answer),
                               rule=(2, t_malignancy, 0, t_presence))
    mal_key, mcn_key = f"sensitivity[{positive}]", f"called_normal[{positive}]"
    both_figs = figures(both, [mal_key, "lesions_called_normal", mcn_key])
    values = {**dict(zip(("lesions_called_lesion", "normals_called_normal"),
                         figures(presence, ["sensitivity[lesion]", f"sensitivity[{absent}]"]).values())),
              **dict(zip(("malignant_sensitivity", "benign_specificity"),
                         figures(malignancy, [f"sensitivity[{positive}]", f"specificity[{positive}]"]).values())),
              "malignant_called_malignant": both_figs[mal_key],
              "lesions_called_normal": both_figs["lesions_called_normal"],
              "malignant_called_normal": both_figs[mcn_key]}
    sizes = {"lesions_called_lesion": int(lesion.sum()), "normals_called_normal": int((~lesion).sum()),
             "malignant_sensitivity": int(mal.sum()), "benign_specificity": int((lesion & ~mal).sum()),
             "malignant_called_malignant": int(mal.sum()), "lesions_called_normal": int(lesion.sum()),
             "malignant_called_normal": int(mal.sum())}
    return {key: (values[key], int(round(values[key] * n)) if n else 0, n) for key, n in sizes.items()}


def _aucs(p_lesion, given, y, *, absent, positive) -> dict:
    """The two decisions' AUCs from the figure table: ``p(lesion)`` lesion vs ``absent``, and
    ``p(positive | lesion)`` of the lesion images, ``positive`` vs the other lesions (NaN with one class)."""
    from ..evaluation.figures import figures
    from ..metrics import Predictions

    y = np.asarray(y, dtype=str)
    lesion = y != absent

    def auc(is_pos, score) -> float:
        view = Predictions.binary(is_pos, score=score)
        return figures(view, ["auc[positive]"])["auc[positive]"]  # fixed labels: no user's

    return {"presence": auc(lesion, np.asarray(p_lesion, float)),
            "malignancy": auc(y[lesion] == positive, np.asarray(given, float)[lesion]) if lesion.any() else math.nan}


@dataclasses.dataclass
class _Labelled:
    """A site's labelled images as :func:`site_points` reads them: both scores, the labels, the
    groups (patients) and the words for them."""

    p_lesion: np.ndarray
    given: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    unit: str
    site: str
    absent: str
    positive: str

    @classmethod
    def checked(cls, p_lesion, given, y, groups, unit, site, stored) -> _Labelled:
        p_l = np.asarray(p_lesion, dtype=float).ravel()
        q = np.asarray(given, dtype=float).ravel()
        y = np.asarray(y).astype(str).ravel()
        n = y.size
        if n == 0:
            raise ValueError("no labelled image to fit the thresholds on")
        for name, arr in (("p_lesion", p_l), ("p_malignant_given_lesion", q)):
            if arr.size != n:
                raise ValueError(f"{name} has {arr.size} entries for {n} labels")
            if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
                raise ValueError(f"{name} must hold probabilities in [0, 1]")
        if groups is None:
            groups, unit = np.arange(n), unit or "images"
        else:
            groups = np.asarray(groups)
            if groups.shape[0] != n:
                raise ValueError(f"groups has {groups.shape[0]} entries for {n} labels")
            unit = unit or "patients"
        return cls(p_l, q, y, groups, unit, site or "the adaptation site", stored.absent, stored.positive)

    @property
    def n(self) -> int:
        return int(self.y.size)

    @property
    def lesion(self) -> np.ndarray:
        return self.y != self.absent

    @property
    def mal(self) -> np.ndarray:
        return self.y == self.positive

    @property
    def per_image(self) -> bool:
        return self.unit == "images"

    def n_groups(self, mask=None) -> int:
        return int(np.unique(self.groups if mask is None else self.groups[mask]).size)

    def of(self, k_images: int, mask=None) -> str:
        """``"13 labelled images of 8 patients of SITE"`` (``mask``: lesion images)."""
        return f"{k_images} labelled{' lesion' if mask is not None else ''} images" + (
            "" if self.per_image else f" of {self.n_groups(mask)} {self.unit}") + f" of {self.site}"


def _judged(called, is_pos, groups, *, n_bootstrap: int, random_state, confidence: float) -> dict:
    """A decision against always answering one class, as validate judges it: better only when its
    balanced accuracy (the mean of the two sensitivities, whose trivial value is
    :data:`TRIVIAL_BALANCED_ACCURACY`) has its 95 % interval over ``groups`` above that (the point
    value without a bootstrap), and it finds at least validate's floor
    (:data:`featbus.evaluation.sanity.SENSITIVITY_FLOOR`) of each side (else it answers one class
    in practice). Every figure from the figure table (:func:`~featbus.evaluation.figures.estimate`:
    95 % intervals; ``confidence`` is that)."""
    from ..evaluation.figures import estimate, figures
    from ..evaluation.sanity import SENSITIVITY_FLOOR
    from ..metrics import Predictions

    called, is_pos = np.asarray(called, bool), np.asarray(is_pos, bool)
    view = Predictions.binary(is_pos, called, groups=groups)
    names = ["balanced_accuracy", "sensitivity[positive]", "sensitivity[other]"]  # fixed labels: no user's
    if is_pos.all() or not is_pos.any():  # one side only: a balanced accuracy is not measurable
        point, interval, sides = math.nan, (math.nan, math.nan), [math.nan, math.nan]
    else:
        if n_bootstrap:
            values, intervals = estimate(view, names, groups, int(n_bootstrap), random_state=random_state)
            interval = intervals[names[0]]
        else:
            values, interval = figures(view, names), (math.nan, math.nan)
        point, sides = values[names[0]], [values[names[1]], values[names[2]]]
    has = bool(np.all(np.isfinite(interval)))
    better = bool(interval[0] > TRIVIAL_BALANCED_ACCURACY) if has else bool(point > TRIVIAL_BALANCED_ACCURACY)
    floor = min(sides) < SENSITIVITY_FLOOR  # NaN compares False: a missing side is not under the floor
    return {"balanced_accuracy": None if math.isnan(point) else float(point),
            "interval": [float(b) for b in interval] if has else None, "trivial": TRIVIAL_BALANCED_ACCURACY,
            "under_floor": float(SENSITIVITY_FLOOR) if floor else None,
            "better": better and not floor and not math.isnan(point)}


def _no_better_text(name: str, judged: dict, chosen: str, kept: str) -> str:
    """Why a refitted threshold was not kept, with the figures that say so."""
    from ..metrics import format_interval

    value = judged["balanced_accuracy"]
    got = "not measurable" if value is None else format_interval(value, judged["interval"], missing=None)
    floor = (f"; one side is found under validate's {judged['under_floor']:g} floor: in practice it answers one "
             "class" if judged.get("under_floor") else "")
    return (f"the {name} threshold chosen on the labelled images ({chosen}) is no better than always answering one "
            f"class there: balanced accuracy {got} against {judged['trivial']:g}"
            + ("" if judged["interval"] else " (point value: no bootstrap)") + f"{floor}; the stored threshold "
            f"({kept}) is kept")


# --------------------------------------------------------------------------- the safe-move rule

def one_sided_bound(count: int, n: int, *, confidence: float = 0.95, side: str = "upper") -> float:
    """The one-sided Clopper-Pearson bound of a share of ``count`` in ``n`` (the limit of the
    two-sided interval at ``2 confidence - 1``; :func:`featbus.metrics.clopper_pearson`).

    Examples
    --------
    >>> from featbus.evaluation.site_calibration import one_sided_bound
    >>> round(one_sided_bound(0, 99), 4), round(one_sided_bound(0, 98), 4)   # 95 % upper, no miss
    (0.0298, 0.0301)
    """
    from ..metrics import clopper_pearson

    if n <= 0:
        return 1.0 if side == "upper" else 0.0
    lo, hi = clopper_pearson(count, n, confidence=2 * confidence - 1)
    return float(hi if side == "upper" else lo)


def patients_needed(share: float, *, confidence: float = 0.95) -> int | None:
    """Fewest patients, none of them missed, whose one-sided ``confidence`` Clopper-Pearson bound
    keeps the share missed at most ``share`` (``1 - (1 - confidence) ** (1 / n) <= share``);
    ``None`` for a share of 0, which no number of patients shows.

    Examples
    --------
    >>> from featbus.evaluation.site_calibration import patients_needed
    >>> patients_needed(0.03), patients_needed(1 - 0.9)   # lesions called normal <= 3 %; sensitivity >= 0.9
    (99, 29)
    """
    if not 0 <= share < 1:
        raise ValueError(f"share must be in [0, 1), got {share!r}")
    if share == 0:
        return None
    n = max(1, math.ceil(math.log(1 - confidence) / math.log(1 - share)))
    while one_sided_bound(0, n, confidence=confidence) > share:
        n += 1
    while n > 1 and one_sided_bound(0, n - 1, confidence=confidence) <= share:
        n -= 1
    return n


def _patients_missed(missed: np.ndarray, groups: np.ndarray, mask: np.ndarray) -> tuple[int, int]:
    """``(patients with an image missed, patients)`` among the images of ``mask``: a patient counts
    once, missed when any of its images is."""
    units, inverse = np.unique(groups[mask], return_inverse=True)
    return int(np.sum(np.bincount(inverse, weights=missed[mask].astype(float)) > 0)), int(units.size)


def _safety(s: _Labelled, t_presence: float, t_malignancy: float, *, cap: float, target: float,
            confidence: float) -> dict:
    """The one-sided bounds over patients at a pair of thresholds: lesions called normal (upper)
    and sensitivity to ``positive`` by both decisions (lower), and whether each holds."""
    missed_lesion = s.p_lesion < t_presence
    missed_mal = missed_lesion | (s.given < t_malignancy)
    x_l, n_l = _patients_missed(missed_lesion, s.groups, s.lesion)
    x_m, n_m = _patients_missed(missed_mal, s.groups, s.mal)
    upper = one_sided_bound(x_l, n_l, confidence=confidence)
    lower = 1 - one_sided_bound(x_m, n_m, confidence=confidence)
    return {"presence_threshold": float(t_presence), "malignancy_threshold": float(t_malignancy),
            "lesion_patients": n_l, "lesion_patients_missed": x_l, "lesions_called_normal_bound": upper,
            "lesions_ok": bool(upper <= cap), "malignant_patients": n_m, "malignant_patients_missed": x_m,
            "sensitivity_bound": lower, "sensitivity_ok": bool(lower >= target)}


def _points_report(s: _Labelled, stored: OperatingPoint, point: OperatingPoint, refitted: dict, kept_because: dict,
                  *, targets: tuple[float, float], n_bootstrap: int, random_state, confidence: float) -> dict:
    """The figures of :func:`site_points`' report: each point's figures at the stored and the
    adopted thresholds on the labelled images, with their intervals over groups.

    Each figure (a share of images) has its exact interval, Clopper-Pearson with as many trials as
    groups (:func:`featbus.metrics.share_interval`: a patient's two views are not two pieces of
    evidence), as validate and compare print theirs. The AUCs have a bootstrap interval on at least
    :data:`MIN_BOOTSTRAP_GROUPS` groups strictly between 0 and 1, or none. A threshold at the ``m``-th
    highest of ``n`` scores keeps a new image exchangeable with these with probability ``m / (n + 1)``
    (``expected_new``).

    Returns the report without ``judged``; ``figure_warnings``: the figures resting on too few images.
    """
    from ..metrics import BootstrapResult, bootstrap, share_interval

    p_l, q, y, absent, positive, unit = s.p_lesion, s.given, s.y, s.absent, s.positive, s.unit
    lesion, mal = s.lesion, s.mal
    other = lesion & ~mal
    others = sorted(set(y[other].tolist())) or ["benign"]
    pres = point.presence
    whole = {"new": (pres.threshold, point.threshold), "stored": (stored.presence.threshold, stored.threshold)}

    def statistic(idx):
        return {f"auc:{k}": v for k, v in _aucs(p_l[idx], q[idx], y[idx], absent=absent, positive=positive).items()}

    boot = (bootstrap(statistic, np.arange(s.n), groups=s.groups, n_bootstrap=int(n_bootstrap),
                      random_state=random_state, confidence=confidence) if n_bootstrap
            else BootstrapResult(statistic(np.arange(s.n)), {}, {}))
    masks = {"lesions_called_lesion": lesion, "normals_called_normal": ~lesion, "malignant_sensitivity": mal,
             "benign_specificity": other, "malignant_called_malignant": mal, "lesions_called_normal": lesion,
             "malignant_called_normal": mal}
    words = {"lesions_called_lesion": "lesion images called a lesion",
             "normals_called_normal": f"{absent} images called {absent}",
             "malignant_sensitivity": f"{positive} images called {positive}, given a lesion",
             "benign_specificity": f"{'/'.join(others)} images not called {positive}, given a lesion",
             "malignant_called_malignant": f"{positive} images called {positive} by both decisions",
             "lesions_called_normal": f"lesion images called {absent}",
             "malignant_called_normal": f"{positive} images called {absent}"}
    chose = {"lesions_called_lesion": refitted["presence"], "malignant_sensitivity": refitted["malignancy"]}

    def figure(key, tag) -> dict:
        value, count, k = _site_figures_at(p_l, q, y, *whole[tag], absent=absent, positive=positive)[key]
        g = s.n_groups(masks[key])
        rec = {"what": words[key], "value": None, "interval": None, "method": None, "count": count,
               "n_images": k, "n_groups": g}
        if k == 0:
            rec["method"] = "not measurable: no such image"
            return rec
        rec["value"] = float(value)
        rec["interval"] = list(share_interval(count, k, trials=g, confidence=confidence))
        rec["method"] = f"Clopper-Pearson over {g} {unit}"
        if tag == "new" and chose.get(key):  # the share these images chose: what the next ones may expect
            rec["expected_new"] = count / (k + 1)
        return rec

    def auc(name, mask) -> dict:
        value = boot.point[f"auc:{name}"]
        g = s.n_groups(mask)
        rec = {"what": ("AUC of p(lesion), lesion vs " + absent if name == "presence"
                        else f"AUC of p({positive} | lesion), {positive} vs {'/'.join(others)}"),
               "value": None if math.isnan(value) else float(value), "interval": None, "n_images": int(mask.sum()),
               "n_groups": g}
        if math.isnan(value):
            rec["method"] = "not measurable: one class only"
        elif value in (0.0, 1.0):  # a percentile bootstrap collapses to the point there
            rec["method"] = f"no interval: the AUC is {value:g} on these images, where a bootstrap interval is a point"
        elif n_bootstrap and g >= MIN_BOOTSTRAP_GROUPS:
            rec["interval"] = [float(b) for b in boot.interval[f"auc:{name}"]]
            rec["method"] = f"bootstrap over {g} {unit}"
        else:
            rec["method"] = f"no interval: fewer than {MIN_BOOTSTRAP_GROUPS} {unit}"
        return rec

    def side(name, new_t, old_t, tgt, mask) -> dict:
        keys = _FIGURES[name]
        return {"refitted": bool(refitted[name]), "threshold": float(new_t), "stored_threshold": float(old_t),
                **({} if refitted[name] else {"kept_because": kept_because[name]}),
                "target": float(tgt) if refitted[name] else None, "n_images": int(mask.sum()),
                "n_groups": s.n_groups(mask), "figures": {k: figure(k, "new") for k in keys},
                "stored_figures": {k: figure(k, "stored") for k in keys}, "auc": auc(name, mask)}

    per_image = s.per_image
    report: dict[str, Any] = {
        "unit": unit, "site": s.site, "n_images": s.n, "n_groups": s.n_groups(),
        "counts": {c: int(np.sum(y == c)) for c in sorted(set(y.tolist()))},
        "presence": {**side("presence", pres.threshold, stored.presence.threshold, targets[0], np.ones(s.n, bool)),
                     "n_lesion_images": int(lesion.sum()), "n_lesion_groups": s.n_groups(lesion),
                     "n_normal_images": int((~lesion).sum()), "n_normal_groups": s.n_groups(~lesion)},
        "malignancy": {**side("malignancy", point.threshold, stored.threshold, targets[1], lesion),
                       "n_malignant_images": int(mal.sum()), "n_malignant_groups": s.n_groups(mal),
                       "n_benign_images": int(other.sum()), "n_benign_groups": s.n_groups(other)},
        "intervals": (f"{confidence * 100:g} % intervals over {unit}: Clopper-Pearson" + (
            "" if per_image else f" with as many trials as {unit} (the share of images carried onto the {unit})")
            + (f"; the AUCs' a percentile bootstrap of {'' if per_image else 'whole '}{unit} ({int(n_bootstrap)} "
               f"resamples) where they rest on at least {MIN_BOOTSTRAP_GROUPS} {unit}" if n_bootstrap else "")),
        "n_bootstrap": int(n_bootstrap),
        "optimistic": ("the refitted thresholds were chosen on these labelled images: the shares of their lesion "
                       f"and {positive} images kept (lesions called lesion, {positive} called {positive}) are "
                       "optimistic there; a threshold at the m-th highest of n scores keeps about m/(n+1) of the next "
                       "such images (expected_new); the shares of normal and benign images, which did not choose "
                       "the thresholds, measure them fairly; the stored thresholds were not chosen here; judge the "
                       "adapted model on other patients of the site (featbus validate)"
                       if any(chose.values()) else
                       f"no threshold was refitted ({kept_because['presence']}; {kept_because['malignancy']}): "
                       "every figure here measures the stored thresholds, which were not chosen on these images"),
    }
    warn = []
    for key, cls in (("lesions_called_lesion", "lesion"), ("normals_called_normal", absent),
                     ("malignant_sensitivity", positive), ("benign_specificity", "/".join(others))):
        k = int(masks[key].sum())
        side_name = "presence" if key in _FIGURES["presence"] else "malignancy"
        what = words[key].split(",")[0]
        if k == 0:
            extra = (" (the presence threshold rests on lesion images alone)"
                     if key == "normals_called_normal" and chose["lesions_called_lesion"] else "")
            warn.append(f"no {cls} image labelled: the share of {what} cannot be measured{extra}")
        elif k < FEW_IMAGES:
            rec = report[side_name]["figures"][key]
            warn.append(f"only {k} {cls} images" + ("" if per_image else f" of {rec['n_groups']} {unit}")
                        + f" labelled (fewer than {FEW_IMAGES} images): the share of {what} ({rec['count']} of {k}) "
                        "rests on them alone")
    report["figure_warnings"] = warn
    return report


# --------------------------------------------------------------------------- the card: k patients, the reference

def model_card(path: str | os.PathLike | None) -> dict | None:
    """The card data beside a model file: ``NAME.json`` next to ``NAME.featbus`` whose
    ``sha256`` is the file's (the shipped classifier's card, ``scripts/build_breast_us_classifier.py``);
    ``None`` when there is none, or it describes another file."""
    import json

    from ..io import file_sha256

    if path is None:
        return None
    card_path = Path(path).with_suffix(".json")
    if not card_path.is_file():
        return None
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) and card.get("sha256") == file_sha256(path) else None


def calibration_spread(card: dict | None, k: int) -> dict | None:
    """What a model's card says to expect from refitting its thresholds on ``k`` labelled patients.

    The card's calibration curve (its ``calibration`` part, ``sites``: per held-out site and k, the
    median and 5-95 % band over draws of k patients of sensitivity and specificity on the site's
    other patients, with the command's guards; ``about``: what was rebuilt without the held-out
    site, ``benchmarks/site_alignment.py``) read at the largest k measured that is
    at most ``k`` (the smallest measured when ``k`` is below it). The spread is *wide* when a
    band is wider than :data:`WIDE_SPREAD` at some site; ``narrow_from`` is the smallest measured k
    above it where no band is (``None``: none, up to the largest measured; a few patients may look
    narrow only because too few images leave the stored thresholds in place).

    Returns ``None`` when the card has no curve.

    Examples
    --------
    >>> from featbus.evaluation.site_calibration import calibration_spread
    >>> band = {"sensitivity": [0.9, 0.5, 0.95], "specificity": [0.6, 0.2, 0.9]}
    >>> card = {"calibration": {"about": "heads rebuilt without the held-out site", "sites": {"A": {"4": band, "16": {
    ...     "sensitivity": [0.9, 0.85, 0.95], "specificity": [0.65, 0.6, 0.7]}}}}}
    >>> s = calibration_spread(card, 8)
    >>> s["k"], s["wide"], s["narrow_from"]
    (4, True, 16)
    """
    part = (card or {}).get("calibration") or {}
    curve = part.get("sites")
    if not curve:
        return None
    from ..model.describe import calibration_k

    ks, at = calibration_k(curve, k)

    def width(k_) -> float:
        return max(float(cells[name][2] - cells[name][1]) for site in curve.values()
                   for cells in [site.get(str(k_)) or {}] for name in ("sensitivity", "specificity")
                   if cells.get(name))

    bands = {site: {name: [float(x) for x in cells[name]] for name in ("sensitivity", "specificity")
                    if cells.get(name)} for site, per_k in curve.items() for cells in [per_k.get(str(at)) or {}]}
    return {"k": at, "n_labelled": int(k), "sites": bands, "about": part.get("about"), "width": width(at),
            "wide": width(at) > WIDE_SPREAD, "wide_above": WIDE_SPREAD,
            "narrow_from": next((k_ for k_ in ks if k_ > at and width(k_) <= WIDE_SPREAD), None), "largest_k": ks[-1]}


def spread_lines(spread: dict, unit: str = "patients") -> list[str]:
    """:func:`calibration_spread` in words (written by the one renderer,
    :func:`featbus.evaluation.render.render_adaptation`): the bands at each held-out site, then the
    warning when wide."""
    from ..evaluation.render import _adaptation_spread_lines

    return _adaptation_spread_lines(spread, unit)


def score_reference(model, source: str | os.PathLike | None = None):
    """The training scores' reference of a model (:class:`~featbus.model.alignment.ScoreReference`):
    its manifest's ``score_reference`` (stored by training since featbus keeps one), else its card
    data's (:func:`model_card` of ``source``, the file it was loaded from); ``None`` without either."""
    from ..model.alignment import ScoreReference

    record = model.manifest.get("score_reference") or (model_card(source) or {}).get("score_reference")
    return ScoreReference.from_record(record) if record else None
