"""The threshold rule of a two-decision model at a site: both thresholds refitted on a few labelled
patients (:func:`site_points`), moved only as far as the safe-move rule shows safe over patients,
after a label-free alignment (:func:`align_points`, :func:`calibrate_scores`), on scores computed
beforehand (so a benchmark draws patients many times without reading an image).

Its statistics (figures, bounds, intervals) are :mod:`featbus.evaluation.site_calibration`; the file
change, :func:`featbus.adapt`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

import numpy as np

from ..evaluation.site_calibration import (
    FEW_GROUPS,
    MAX_LESIONS_NORMAL,
    MIN_LESION_IMAGES,
    MIN_MALIGNANT_IMAGES,
    PRESENCE_TARGET,
    _judged,
    _Labelled,
    _no_better_text,
    _points_report,
    _safety,
    patients_needed,
)
from ..metrics import DEFAULT_TARGET_SENSITIVITY, OperatingPoint, check_n_bootstrap

__all__ = ["site_points", "align_points", "calibrate_scores"]

def _safe_raise(s: _Labelled, candidates, check) -> tuple[float | None, dict | None, dict | None]:
    """The highest candidate threshold (ascending) whose ``check`` holds, stopping at the first that
    fails (the bounds only worsen as a threshold rises): ``(threshold or None, its check, the
    failing check)``."""
    best = best_check = None
    for t in candidates:
        chk = check(float(t))
        if not chk["ok"]:
            return best, best_check, chk
        best, best_check = float(t), chk
    return best, best_check, None


def _move_record(name: str, base: float, fitted: float, adopted: float, failing: dict | None, *, cap: float,
                 target: float, confidence: float, unit: str) -> dict:
    """What the safe-move rule decided for a threshold the labelled images would raise, and the
    patients it would take to raise it further."""
    from ..metrics import threshold_text

    need = {"lesions_called_normal": patients_needed(cap, confidence=confidence),
            "sensitivity": patients_needed(1 - target, confidence=confidence)}
    rec = {"move": "raise", "base_threshold": float(base), "fitted_threshold": float(fitted),
           "adopted_threshold": float(adopted), "confidence": confidence, "max_lesions_normal": cap,
           "target_sensitivity": target, "patients_needed": need, "failing": failing}
    if failing is None:
        rec["text"] = (f"raised to {threshold_text(adopted)}, as far as the labelled images choose, shown safe over "
                       f"{unit}")
        return rec
    bounds = []
    if name == "presence" and not failing["lesions_ok"]:
        n_need = need["lesions_called_normal"]
        bounds.append(f"lesions called normal <= {failing['lesions_called_normal_bound']:.3f} over "
                      f"{failing['lesion_patients']} lesion {unit} ({failing['lesion_patients_missed']} missed), "
                      f"above {cap:g}: " + (f"with none missed, {n_need} lesion {unit} are needed" if n_need
                                             else "no number of them shows 0"))
    if not failing["sensitivity_ok"]:
        bounds.append(f"sensitivity >= {failing['sensitivity_bound']:.3f} over {failing['malignant_patients']} "
                      f"malignant {unit} ({failing['malignant_patients_missed']} missed), below {target:g}: with "
                      f"none missed, {need['sensitivity']} malignant {unit} are needed")
    what = "calls more lesions normal" if name == "presence" else "finds fewer cancers"
    where = (f"stays at {threshold_text(base)}" if adopted == base else f"raised only to {threshold_text(adopted)}")
    at = failing["presence_threshold" if name == "presence" else "malignancy_threshold"]
    rec["text"] = (f"the labelled images would raise the {name} threshold {threshold_text(base)} -> "
                   f"{threshold_text(fitted)}, which {what}; a one-sided {confidence * 100:g} % Clopper-Pearson "
                   f"bound over {unit} does not show it safe at {threshold_text(at)} ("
                   + "; ".join(bounds) + f"): it {where}")
    return rec


def _point_at(fit: OperatingPoint, t: float, called, is_pos) -> OperatingPoint:
    """``fit`` moved to threshold ``t``: its sensitivity and specificity there (the figure table's;
    ``None`` without an image of the side)."""
    from ..evaluation.figures import figures
    from ..metrics import Predictions

    view = Predictions.binary(is_pos, called)
    got = figures(view, ["sensitivity[positive]", "specificity[positive]"])  # fixed labels: no user's
    sens, spec = got["sensitivity[positive]"], got["specificity[positive]"]
    return dataclasses.replace(fit, threshold=float(t), sensitivity=None if math.isnan(sens) else float(sens),
                               specificity=None if math.isnan(spec) else float(spec))


def _choose_presence(s: _Labelled, stored: OperatingPoint, presence_target: float, cap: float, target: float,
                     confidence: float, warn: list, kept_because: dict, moves: dict) -> OperatingPoint:
    """The presence point of :func:`site_points`: lowered as the labelled lesions ask, raised only as
    far as the safe-move rule shows it safe over patients, or the stored (aligned) one."""
    from ..metrics import threshold_text

    lesion, base = s.lesion, stored.presence
    if int(lesion.sum()) < MIN_LESION_IMAGES:
        warn.append(f"only {int(lesion.sum())} lesion images labelled (fewer than {MIN_LESION_IMAGES}): the model's "
                    f"stored presence threshold ({threshold_text(base.threshold)}) is kept")
        return base
    fit = OperatingPoint.choose_presence(s.p_lesion, s.y, absent=s.absent, target=max(presence_target, 1 - cap),
                                         chosen_on=s.of(s.n))
    if fit.threshold < base.threshold:  # the stored one calls too many labelled lesions normal: lowered
        moves["presence"] = {"move": "lower", "base_threshold": float(base.threshold),
                             "fitted_threshold": float(fit.threshold), "adopted_threshold": float(fit.threshold),
                             "text": f"lowered to {threshold_text(fit.threshold)}: the stored one calls more than "
                                     f"{1 - max(presence_target, 1 - cap):.2g} of the labelled lesion images "
                                     f"{s.absent} (a move that calls fewer lesions {s.absent} is always allowed)"}
        return fit
    if fit.threshold == base.threshold:
        kept_because["presence"] = "the labelled images choose the same threshold"
        return base
    if not (~lesion).any():  # a raise buys normal scans called normal, which no labelled image shows
        kept_because["presence"] = f"no {s.absent} scan labelled: a raise needs one to show what it gains"
        return base

    def check(t):
        chk = _safety(s, t, stored.threshold, cap=cap, target=target, confidence=confidence)
        return {**chk, "ok": chk["lesions_ok"] and chk["sensitivity_ok"]}

    best = _raise_shown_safe(s, "presence", base.threshold, fit.threshold, s.p_lesion[lesion], check, cap=cap,
                             target=target, confidence=confidence, warn=warn, kept_because=kept_because, moves=moves)
    if best is None:
        return base
    return _point_at(fit, best, s.p_lesion >= best, lesion)


def _raise_shown_safe(s: _Labelled, name: str, base: float, asked: float, scores: np.ndarray, check, *, cap: float,
                      target: float, confidence: float, warn: list, kept_because: dict, moves: dict) -> float | None:
    """The highest threshold among ``scores`` in ``(base, asked]`` that ``check`` shows safe over the
    labelled patients (:func:`_safe_raise`), the move recorded in ``moves[name]`` (its text also in
    ``warn`` when a raise failed); None, with ``kept_because[name]`` saying why, when none is."""
    candidates = np.unique(scores)
    candidates = candidates[(candidates > base) & (candidates <= asked)]
    best, _, failing = _safe_raise(s, candidates, check)
    adopted = base if best is None else best
    moves[name] = _move_record(name, base, asked, adopted, failing, cap=cap, target=target, confidence=confidence,
                               unit=s.unit)
    if failing is not None:
        warn.append(moves[name]["text"])
    if best is None:
        kept_because[name] = "a raise not shown safe over the labelled patients (the safe-move rule)"
    return best


def _choose_malignancy(s: _Labelled, point: OperatingPoint, stored: OperatingPoint, target: float, cap: float,
                       confidence: float, warn: list, kept_because: dict, moves: dict, judge) -> OperatingPoint:
    """The malignancy point of :func:`site_points` (``point`` holds the adopted presence): lowered when
    the labels ask and it beats the trivial answer, raised only as far as shown safe, or kept."""
    from ..metrics import threshold_text

    lesion, mal = s.lesion, s.mal
    if int(mal.sum()) < MIN_MALIGNANT_IMAGES:
        warn.append(f"only {int(mal.sum())} {s.positive} images labelled (fewer than {MIN_MALIGNANT_IMAGES}): the "
                    f"model's stored malignancy threshold ({threshold_text(stored.threshold)}) is kept")
        return point
    new = OperatingPoint.choose_given_lesion(s.given, s.y, absent=s.absent, positive=s.positive, target=target,
                                             chosen_on=s.of(int(lesion.sum()), lesion))
    if new.threshold == stored.threshold:
        kept_because["malignancy"] = "the labelled images choose the same threshold"
        return point
    if new.threshold > stored.threshold:  # finds fewer cancers: only as far as shown safe
        def check(t):
            chk = _safety(s, point.presence.threshold, t, cap=cap, target=target, confidence=confidence)
            return {**chk, "ok": chk["sensitivity_ok"]}

        best = _raise_shown_safe(s, "malignancy", stored.threshold, new.threshold, s.given[mal], check, cap=cap,
                                 target=target, confidence=confidence, warn=warn, kept_because=kept_because,
                                 moves=moves)
        if best is None:
            return point
        new = _point_at(new, best, s.given[lesion] >= best, mal[lesion])
    else:
        moves["malignancy"] = {"move": "lower", "base_threshold": float(stored.threshold),
                               "fitted_threshold": float(new.threshold), "adopted_threshold": float(new.threshold),
                               "text": f"lowered to {threshold_text(new.threshold)} to reach sensitivity {target:g} "
                                       "on the labelled images (a move that finds more cancers is always allowed "
                                       "when it beats the trivial answer)"}
    verdict = judge("malignancy", s.given[lesion] >= new.threshold, mal[lesion], lesion) \
        if (lesion & ~mal).any() else {"better": True}
    if not verdict["better"]:
        kept_because["malignancy"] = "no better than always answering one class on the labelled images"
        moves["malignancy"]["adopted_threshold"] = float(stored.threshold)
        moves["malignancy"]["text"] = (f"the labelled images would move it to {threshold_text(new.threshold)}; not "
                                       f"adopted: no better than always answering one class there")
        warn.append(_no_better_text("malignancy", verdict, f"p({s.positive} | lesion) >= "
                                    f"{threshold_text(new.threshold)}, there: sensitivity {new.sensitivity:.2f}, "
                                    f"specificity {new.specificity:.2f}", threshold_text(stored.threshold)))
        return point
    return dataclasses.replace(new, absent=s.absent, presence=point.presence)


def site_points(p_lesion, p_malignant_given_lesion, y, groups=None, *, stored: OperatingPoint,
                target: float | None = None, presence_target: float = PRESENCE_TARGET,
                max_lesions_normal: float = MAX_LESIONS_NORMAL, unit: str | None = None, site: str | None = None,
                n_bootstrap: int = 1000, random_state=0, confidence: float = 0.95) -> tuple[OperatingPoint, dict]:
    """Both thresholds of a two-decision model refitted on a site's labelled images, from their scores.

    What :func:`adapt` does with labels for a model whose stored operating point has two
    decisions (:class:`~featbus.metrics.OperatingPoint` with ``presence``), on scores computed
    beforehand, so that a benchmark can draw a few patients many times without reading an image:

    * **presence** ("is there a lesion?"): the highest threshold on ``p(lesion)`` that keeps
      ``max(presence_target, 1 - max_lesions_normal)`` of the labelled lesion images called a
      lesion (:meth:`OperatingPoint.choose_presence`), chosen from the lesion images alone. With
      fewer than :data:`MIN_LESION_IMAGES` lesion images the stored threshold is kept; without a
      normal image it is only ever lowered. A stored threshold kept for another reason that calls
      more than ``max_lesions_normal`` of the labelled lesions normal is lowered to the chosen one.
    * **malignancy** ("malignant, given a lesion?"): the highest threshold on ``p(malignant |
      lesion)`` reaching ``target`` sensitivity among the labelled malignant images (kept as
      stored with fewer than :data:`MIN_MALIGNANT_IMAGES`).
    * **no harm**: each refitted decision is judged on the labelled images as validate judges
      decisions, against always answering one class (balanced accuracy against
      :data:`TRIVIAL_BALANCED_ACCURACY`, its 95 % interval over ``groups``; the point value when
      ``n_bootstrap`` is 0). One no better than that is not stored: the stored threshold is kept
      and a warning says why, with the figures (the presence decision is judged only where
      normal images are labelled).

    The figures at the stored and the adopted thresholds are measured on the same images, with 95 %
    intervals over ``groups`` (Clopper-Pearson with as many trials as groups; the AUCs a bootstrap of
    whole groups). Adopted thresholds flatter their own images.

    Parameters
    ----------
    p_lesion, p_malignant_given_lesion : array-like of shape (n_images,)
        ``p(lesion)`` and ``p(positive | lesion)`` of the labelled images
        (:func:`featbus.metrics.lesion_and_given`).
    y : array-like of str, shape (n_images,)
        Their labels: ``stored.absent``, ``stored.positive`` or another lesion class.
    groups : array-like of shape (n_images,), optional
        Patient of every image; ``None``: every image its own (the texts then say "images").
    stored : OperatingPoint
        The model's stored two-decision point: what is kept, and compared.
    target : float in (0, 1], optional
        The malignancy point's sensitivity; default the stored point's target (else
        :data:`~featbus.metrics.DEFAULT_TARGET_SENSITIVITY`).
    presence_target : float in (0, 1], default=PRESENCE_TARGET
    max_lesions_normal : float in [0, 1), default=MAX_LESIONS_NORMAL
        The most of the labelled lesion images the presence threshold may call normal.
    unit, site : str, optional
        What the groups are, plural, and the site's name, for the texts.
    n_bootstrap : int, default=1000
        Resamples of whole groups behind the intervals and the no-harm judgement (0: point values).
    random_state : int, RandomState or None, default=0
    confidence : float, default=0.95

    Returns
    -------
    point : OperatingPoint
        The two-decision point to store (``to_record()`` is the manifest's ``operating_point``).
    report : dict
        JSON-ready: ``unit``, ``n_images``, ``n_groups``, ``counts``; per point (``"presence"``,
        ``"malignancy"``) ``refitted``, ``threshold``, ``stored_threshold``, ``kept_because``,
        ``figures``, ``stored_figures``, ``auc``; ``intervals``, ``optimistic``, ``judged`` (each
        refitted decision against the trivial answer), ``warnings`` (one line each).

    Raises
    ------
    ValueError
        ``stored`` without two decisions, arrays of different lengths, probabilities outside
        [0, 1], no labelled image, a bad target or cap: one line each.

    Examples
    --------
    >>> import dataclasses
    >>> import numpy as np
    >>> from featbus.metrics import OperatingPoint
    >>> from featbus.workflows.site_points import site_points
    >>> stored = OperatingPoint(positive="malignant", threshold=0.2, target_sensitivity=0.9, absent="normal",
    ...                         presence=OperatingPoint(positive="lesion", threshold=0.4))
    >>> y = np.array(["normal"] * 4 + ["benign"] * 6 + ["malignant"] * 4)
    >>> p_lesion = np.array([.2, .3, .5, .6, .7, .8, .8, .9, .9, .95, .6, .9, .9, .99])
    >>> given = np.array([0, 0, 0, 0, .1, .2, .3, .35, .4, .6, .45, .5, .7, .9])
    >>> point, report = site_points(p_lesion, given, y, np.arange(14) // 2, stored=stored, site="site A",
    ...                             n_bootstrap=0)
    >>> point.presence.threshold, point.threshold   # raising either is not shown safe on 7 patients: kept
    (0.4, 0.2)
    >>> report["presence"]["move"]["patients_needed"]   # none missed: lesion patients, malignant patients
    {'lesions_called_normal': 99, 'sensitivity': 29}
    >>> report["warnings"][0]
    'only 7 patients labelled (fewer than 8): both thresholds move with every patient added or left out'

    Above what the labels ask, a threshold is lowered (fewer lesions called normal, more cancers found):

    >>> high = dataclasses.replace(stored, threshold=0.8, presence=dataclasses.replace(stored.presence, threshold=0.9))
    >>> point, report = site_points(p_lesion, given, y, np.arange(14) // 2, stored=high, n_bootstrap=0)
    >>> point.presence.threshold, point.threshold   # the lowest lesion's p(lesion); the 4th malignant's
    (0.6, 0.45)
    >>> round(report["judged"]["malignancy"]["balanced_accuracy"], 4)   # sensitivity 1, specificity 5/6
    0.9167

    A malignancy threshold that calls almost every lesion malignant is not stored:

    >>> flat = np.where(y == "normal", 0, 0.5)
    >>> kept, report = site_points(p_lesion, flat, y, stored=high, n_bootstrap=0)
    >>> kept.threshold == high.threshold, report["malignancy"]["kept_because"]
    (True, 'no better than always answering one class on the labelled images')
    """
    from ..metrics import _target

    if not isinstance(stored, OperatingPoint) or not stored.two_decisions:
        raise ValueError("stored must be the model's two-decision OperatingPoint (with presence), got "
                         f"{stored!r:.120}")
    target = _target(stored.target_sensitivity or DEFAULT_TARGET_SENSITIVITY if target is None else target,
                     "target")
    presence_target = _target(presence_target, "presence_target")
    if isinstance(max_lesions_normal, bool) or not isinstance(max_lesions_normal, numbers.Real) \
            or not 0 <= max_lesions_normal < 1:
        raise ValueError(f"max_lesions_normal must be a number in [0, 1), got {max_lesions_normal!r}")
    check_n_bootstrap(n_bootstrap)
    s = _Labelled.checked(p_lesion, p_malignant_given_lesion, y, groups, unit, site, stored)
    warn: list[str] = []
    if s.n_groups() < FEW_GROUPS:
        warn.append(f"only {s.n_groups()} {s.unit} labelled (fewer than {FEW_GROUPS}): both thresholds move with "
                    f"every {s.unit[:-1] if s.unit.endswith('s') else s.unit} added or left out")
    kept_because = {"presence": f"too few lesion images (fewer than {MIN_LESION_IMAGES})",
                    "malignancy": f"too few {s.positive} images (fewer than {MIN_MALIGNANT_IMAGES})"}
    judged: dict[str, dict] = {}

    def judge(name, called, is_pos, mask=None):
        judged[name] = _judged(called, is_pos, s.groups if mask is None else s.groups[mask], n_bootstrap=n_bootstrap,
                               random_state=random_state, confidence=confidence)
        return judged[name]

    cap, moves = float(max_lesions_normal), {}
    pres = _choose_presence(s, stored, presence_target, cap, target, confidence, warn, kept_because, moves)
    point = dataclasses.replace(stored, presence=pres)  # the malignancy threshold as stored, unless refitted
    point = _choose_malignancy(s, point, stored, target, cap, confidence, warn, kept_because, moves, judge)
    refitted = {"presence": pres is not stored.presence, "malignancy": point.threshold != stored.threshold}
    report = _points_report(s, stored, point, refitted, kept_because,
                           targets=(max(presence_target, 1 - max_lesions_normal), target), n_bootstrap=n_bootstrap,
                           random_state=random_state, confidence=confidence)
    for name, move in moves.items():
        report[name]["move"] = move
    report.update(judged=judged, max_lesions_normal=cap, warnings=warn + report.pop("figure_warnings"))
    return point, report


# --------------------------------------------------------------------------- the core on scores: align, then labels

def align_points(p_lesion, p_malignant_given_lesion, *, stored: OperatingPoint, reference=None,
                 positive_share: float | None = None, estimate_share: bool = False, site: str | None = None,
                 required: bool = False):
    """Both decisions of a two-decision model aligned to a site's unlabelled scores.

    First the presence threshold (:class:`~featbus.model.alignment.PresenceAlignment`: a mixture of
    two groups of ``logit p(lesion)``, the share of lesion images unknown), then ``p(malignant |
    lesion)`` of the images the aligned presence threshold calls a lesion, mapped onto the training
    reference (:class:`~featbus.model.alignment.ScoreAlignment`). Either that cannot be estimated
    stays as stored, and the record says why.

    Parameters
    ----------
    p_lesion, p_malignant_given_lesion : array-like of shape (n_images,)
        The site's two scores, as the model gives them (no earlier alignment applied).
    stored : OperatingPoint
        The model's two-decision point.
    reference : ScoreReference, optional
        The training scores' reference (:func:`score_reference`); without it the malignancy decision
        is not aligned.
    positive_share, estimate_share
        As :meth:`ScoreAlignment.fit <featbus.model.alignment.ScoreAlignment.fit>`.
    site : str, optional
        The site's name, for the words.
    required : bool, default=False
        Raise when the malignancy decision cannot be aligned (an adaptation without labels, which
        has nothing else to do).

    Returns
    -------
    point : OperatingPoint
        ``stored`` with the aligned presence threshold (when estimated).
    alignment : ScoreAlignment or None
        The malignancy score's map (``None``: not aligned).
    info : dict
        JSON-ready: ``presence`` (:meth:`PresenceAlignment.to_record`), and of the malignancy score
        the alignment's figures (``score``, ``n_images``, ``called_positive_before`` / ``after`` /
        ``reference``, ``assumptions``...) or ``reason`` (why it is not aligned).
    """
    from ..model.alignment import FEW_ALIGN_IMAGES, MIN_ALIGN_IMAGES, PresenceAlignment, ScoreAlignment

    p_l = np.asarray(p_lesion, dtype=float).ravel()
    q = np.asarray(p_malignant_given_lesion, dtype=float).ravel()
    where = site or "the adaptation site"
    presence = PresenceAlignment.fit(p_l, stored_threshold=stored.presence.threshold,
                                     stored_sensitivity=stored.presence.sensitivity)
    point = stored
    if presence.estimated:
        point = dataclasses.replace(stored, presence=dataclasses.replace(
            stored.presence, threshold=presence.threshold, target_sensitivity=None, sensitivity=None,
            specificity=None, n_images=presence.n_images,
            chosen_on=f"aligned without labels to {presence.n_images} images of {where} (a mixture of two groups of "
                      f"logit p(lesion): {presence.aim:g} of the upper group below it)"))
    called = p_l >= point.presence.threshold
    scores = q[called]
    info: dict[str, Any] = {"presence": presence.to_record()}
    if reference is None:
        reason = "the model has no reference of its training scores"
    elif scores.size < MIN_ALIGN_IMAGES:
        reason = f"only {scores.size} images called a lesion (fewer than {MIN_ALIGN_IMAGES})"
    else:
        reason = None
    if reason is not None:
        if required and reference is None:
            raise ValueError(f"the {stored.positive} score cannot be aligned: {reason}")
        if required:
            ScoreAlignment.fit(scores, reference)  # raises with its own words
        info.update(reason=reason, threshold=float(stored.threshold), score=f"p({stored.positive} | lesion)")
        return point, None, info
    al = ScoreAlignment.fit(scores, reference, positive_share=positive_share, estimate_share=estimate_share)
    t = stored.threshold
    ref = np.asarray(reference.mixture_quantiles(al.positive_share))
    info.update({
        "method": "quantile", "score": al.score, "positive": al.positive, "n_images": al.n_images,
        "of_images": int(p_l.size), "positive_share": al.positive_share, "share_from": al.share_from,
        "em_share": al.em_share, "called_positive_before": float(np.mean(scores >= t)),
        "called_positive_after": float(np.mean(al.map(scores) >= t)),
        "called_positive_reference": float(np.mean(ref >= t)), "threshold": float(t), "reference": reference.source,
        "assumptions": al.assumptions(),
        "warning": (f"only {al.n_images} images to align on (fewer than {FEW_ALIGN_IMAGES}): the share called "
                    f"{stored.positive} may be off by {math.sqrt(0.25 / al.n_images):.2f}; give more of the site's "
                    "ordinary images" if al.n_images < FEW_ALIGN_IMAGES else None)})
    return point, al, info


def calibrate_scores(p_lesion, p_malignant_given_lesion, y, groups=None, *, stored: OperatingPoint, reference=None,
                     positive_share: float | None = None, estimate_share: bool = False, align: bool = True,
                     **labelled) -> tuple[OperatingPoint, Any, dict]:
    """What ``featbus adapt MODEL DATA --labels`` does to a two-decision model, on scores: every
    image (labelled or not) aligns both decisions (:func:`align_points`), then the labelled ones
    move a threshold only as far as their patients show it safe (:func:`site_points`, on the aligned
    scores, the aligned point its ``stored``).

    Parameters
    ----------
    p_lesion, p_malignant_given_lesion : array-like of shape (n_images,)
        The site's scores as the model gives them.
    y : array-like of shape (n_images,)
        Labels, ``None`` for an unlabelled image (it aligns, it does not move a threshold).
    groups : array-like, optional
        Patients (of every image).
    stored, reference, positive_share, estimate_share
        As :func:`align_points`.
    align : bool, default=True
        ``False``: no alignment (the thresholds move from the stored point).
    **labelled
        Passed to :func:`site_points` (``target``, ``max_lesions_normal``, ``unit``, ``site``,
        ``n_bootstrap``, ``random_state``...).

    Returns
    -------
    point : OperatingPoint
        The point to store.
    alignment : ScoreAlignment or None
        The malignancy score's map to store (``manifest["score_alignment"]``).
    record : dict
        ``alignment`` (:func:`align_points`' info, or ``None``) and ``two_decisions``
        (:func:`site_points`' report, or ``None`` without a labelled image).
    """
    p_l = np.asarray(p_lesion, dtype=float).ravel()
    q = np.asarray(p_malignant_given_lesion, dtype=float).ravel()
    labels = np.asarray([None if v is None else str(v) for v in y], dtype=object)
    point, al, info = stored, None, None
    if align:
        point, al, info = align_points(p_l, q, stored=stored, reference=reference, positive_share=positive_share,
                                       estimate_share=estimate_share, site=labelled.get("site"))
    sel = np.flatnonzero([v is not None for v in labels])
    report = None
    if sel.size:
        q_site = al.map(q) if al is not None else q
        point, report = site_points(p_l[sel], q_site[sel], labels[sel].astype(str),
                                    None if groups is None else np.asarray(groups)[sel], stored=point, **labelled)
    return point, al, {"alignment": info, "two_decisions": report}
