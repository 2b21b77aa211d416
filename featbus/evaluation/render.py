"""The words, JSON and HTML of the judges: results are stored, drawn here (as scikit-learn's
``RocCurveDisplay.from_predictions`` keeps the computation apart from the drawing).

Every figure is written from its row of the figure table (:data:`featbus.evaluation.figures.FIGURES`:
its label) and from one estimate (a value and its interval, :func:`featbus.evaluation.figures.estimate`),
formatted by one function (:func:`figure_text`): a figure printed twice on a page has one value
to the printed digits. External validation (:class:`featbus.evaluation.validation.ExternalValidation`)
is written here: :func:`validation_text`, :func:`validation_dict`, :func:`validation_html`.
"""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import ECE_BINS, format_interval, interval_text
from .figures import LESION_OR_NORMAL, get_figure, parse_figure

__all__ = ["figure_text", "figure_label", "figure_json", "validation_text", "validation_dict", "validation_html",
           "short_lines", "promise_reason", "threshold_reason", "chosen_text", "rule_words", "lesion_or_normal_line",
           "comparison_text", "comparison_dict", "comparison_verdict", "switch_sentence", "direction", "report_text",
           "report_line", "reports_table", "holdout_line", "site_report_text", "adaptation_headline",
           "adaptation_written"]


# --------------------------------------------------------------------------- one figure

def figure_label(name, of=None) -> str:
    """A figure's words in a table: its row's label (``"sensitivity[benign]"`` -> ``"sensitivity"``), a
    label of a class written with the class (``figure_label("called_normal", "malignant")`` ->
    ``"malignant called normal"``; the class a key names comes first)."""
    from ..model.trust import printable  # a class name from data or a file: escaped

    row = get_figure(name)
    if "{of}" not in row.label:
        return row.label
    key = parse_figure(name)
    of = key.of if key.of is not None else of
    return row.label.format(of=printable(str(of)) if of is not None else "the positive class's images")


def figure_text(value, interval=None, digits: int = 3) -> str:
    """A figure as every judge prints it: ``"0.711 [0.66, 0.75]"`` (:func:`featbus.metrics.format_interval`)."""
    return format_interval(value, interval, digits=digits)


def _num(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def figure_json(value, interval=None) -> dict:
    """A figure as JSON: ``{"value": v, "ci": [low, high]}`` (``None`` where undefined)."""
    lo, hi = interval if interval is not None else (math.nan, math.nan)
    return {"value": _num(value), "ci": [_num(lo), _num(hi)]}


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %" if x >= 0.01 or x == 0 else f"{100 * x:.1f} %"


# --------------------------------------------------------------------------- external validation: words

def _text(v, key: str, digits: int = 3) -> str:
    return figure_text(v.figures.get(key), v.intervals.get(key, (math.nan, math.nan)), digits)


def _seen_fact(v) -> str:
    """The seen images in a clause: every one, or how many (``""``: none)."""
    n, k = len(v.y_true), v.n_seen
    if not k:
        return ""
    if k == n:
        return f"every one of these {n} images (or a near-copy) trained this model or a part of it"
    return f"{k} of these {n} images (or near-copies) trained this model or a part of it"


def _seen_tag(v) -> str:
    """What a block of figures says on its own line when every image was seen (the figures are on them)."""
    n = len(v.y_true)
    return f" (seen: all {n} images trained the model or a part of it: optimistic)" if v.all_seen else ""


def _none_reason(v) -> str:
    return f"{_seen_fact(v)}: they cannot show how it does on new images; validate it on images from elsewhere"


def rule_words(v) -> str:
    """The model's own rule, as predict's 'rule' column writes it
    (:meth:`~featbus.metrics.OperatingPoint.rule_text`)."""
    from ..model.trust import printable  # class names from the file: escaped

    point = v.point
    if point is not None:
        return f"the file's operating point: {printable(point.rule_text())}"
    return "p >= 0.5" if len(v.classes) == 2 else "the most probable class"


def chosen_text(v) -> str:
    """The data-chosen point in words: ``p(malignant) >= 0.123``, or of a two-decision model
    ``p(malignant | lesion) >= 0.123 (normal when p(lesion) < 0.4 kept from the file)``."""
    from ..model.trust import printable

    pos, chosen = v.positive, v.chosen
    if chosen is None or not chosen.two_decisions:
        return f"p({pos}) >= {v.threshold:.3f}"
    return (f"p({pos} | lesion) >= {v.threshold:.3f} ({printable(chosen.absent)} when p(lesion) < "
            f"{chosen.presence.threshold:.4g} kept from the file)")


def promise_reason(v) -> str:
    """The verdict's reason when the model does much worse than it promises."""
    from ..model.trust import printable

    p = v.promise
    return (f"it does much worse here than it promises: {v.positive} AUC {_text(v, 'auc', 2)} on "
            f"{v.judged_where()}, whose whole interval lies below {p['auc']:.2f} ({printable(p['what'])})")


def threshold_reason(v) -> str:
    """The verdict's reason when the decisions lose to calling every image the common class though the
    scores may rank: what its threshold does to the other class (``"it ranks better than chance (AUC
    0.83 [0.80, 0.86]); at its threshold 69 % of the benign images are called malignant, no better than
    calling every image the most common class: align it ..."``)."""
    spec, auc = v.figures.get("specificity"), v.figures.get("auc")
    others = "/".join(str(c) for c in v.data_classes if c != v.positive) or "other"
    lo = (v.intervals.get("auc") or (math.nan, math.nan))[0]
    if auc is None or not np.isfinite(auc):
        ranks = "its scores' ranking cannot be measured here"
    elif (np.isfinite(lo) and lo > 0.5) or (not np.isfinite(lo) and auc > 0.5):
        ranks = f"it ranks better than chance (AUC {_text(v, 'auc', 2)})"
    else:
        ranks = f"it ranks no better than chance (AUC {_text(v, 'auc', 2)})"
    if spec is None or not np.isfinite(spec):
        return f"{ranks}; its decisions are no better than calling every image the most common class"
    return (f"{ranks}; at its threshold {_pct(1 - spec)} of the {others} images are called {v.positive}, no better "
            "than calling every image the most common class: align it to this site (featbus adapt MODEL DATA "
            "--labels)")


def _promise_line(v, where: str, subset: bool) -> str:
    from ..model.trust import printable

    p = v.promise
    what = printable(p["what"]) + (f"; caveat: {printable(p['caveat'])}" if p.get("caveat") else "")
    ext = _text(v, "auc", 2)
    than = "its card promises" if p.get("card") else f"in {p.get('where', 'its own cross-validation')}"
    against = v.against_promise()
    if against == "worse":
        return f"this model does much worse {where} than {than}: AUC {ext} against {p['auc']:.2f} ({what})"
    if against == "better":
        return (f"this model does better {where} than {than}: AUC {ext} against {p['auc']:.2f} ({what}); make "
                f"sure none of {'them' if subset else 'these images'} was among its training images")
    from .sanity import AUC_MARGIN

    lo, hi = v.intervals.get("auc", (math.nan, math.nan))
    why = ("its 95 % interval reaches it: no sign of a drop" if np.isfinite(lo) and np.isfinite(hi) else
           f"within {AUC_MARGIN} of it: no sign of a drop beyond that margin")
    if p.get("card"):
        return f"{where}{',' if subset else ''} the model's AUC, {ext}, holds what its card promises, " \
               f"{p['auc']:.2f} ({what}): {why}"
    return (f"{where}{',' if subset else ''} the model's AUC, {ext}, is in line with {p.get('where')}'s "
            f"{p['auc']:.2f} ({what}): {why}")


def short_lines(v) -> list[str]:
    """The plain-words findings ("In short") of an external validation, on its judged images."""
    from .sanity import decisive

    if v.all_seen:
        return [f"{_seen_fact(v)}: these images cannot show how it does on new images, so nothing here is compared "
                "with what it promises; validate it on images from elsewhere (the figures below are on seen images: "
                "optimistic)"]
    subset = v.n_seen > 0
    lines = [f"{_seen_fact(v)}: left out of every figure that follows, which is on {v.judged_where()}"] if subset \
        else []
    sel = v.judged
    y_true = v.y_true[sel]
    where = f"on {v.judged_where()}" if subset else "on these images"
    here = f"on these {len(y_true)} images" if subset else "here"
    held = v.data_classes
    auc = v.figures.get("auc")
    if auc is None or not np.isfinite(auc):
        they = "they" if subset else "these data"
        why = (f"{they} hold only one class ({held[0]})" if len(held) == 1 else
               f"{they} hold no {v.positive} image" if v.positive not in held else
               f"{they} hold only {v.positive} images")
        lines.append(f"the {v.positive} AUC {where + ' ' if subset else ''}cannot be computed: "
                     f"{why}, so it cannot be compared with the model's own figures")
    elif v.promise is None:
        lines.append(f"the model file holds no in-domain AUC to compare with: {v.positive} AUC "
                     f"{where if subset else 'here'} {_text(v, 'auc', 2)}")
    else:
        lines.append(_promise_line(v, where, subset))
    acc, share = v.figures.get("accuracy"), v.figures.get("trivial_accuracy")
    if len(y_true) and acc is not None and share is not None and len(held) > 1 and acc <= share:
        counts = v.counts(sel)
        common = max(counts, key=counts.get)
        lines.append(f"its accuracy {here}, {decisive(acc, share, 3)}, is no better than calling every image "
                     f"{common} ({decisive(share, acc, 3)} of {'them' if subset else 'these images'} are {common})")
    sens = v.figures.get("sensitivity")
    if sens is not None and np.isfinite(sens) and sens < v.target_sensitivity:
        lines.append(f"at its own operating point it finds {_pct(sens)} of the {v.positive} images"
                     f"{' among them' if subset else ''} (sensitivity {decisive(sens, v.target_sensitivity, 3)}"
                     f"{interval_text(v.intervals.get('sensitivity'))}), short of the target {v.target_sensitivity:g}")
    return lines + _absent_lines(v)


def _absent_lines(v) -> list[str]:
    """Judged images called a class the data lack."""
    lines = []
    sel = v.judged
    y_pred, n = v.y_pred, int(sel.sum())
    what = "the images" if n == len(v.y_true) else "these unseen images"
    for i, c in enumerate(v.classes):
        if c not in v.absent_classes:
            continue
        called = (y_pred == c) & sel
        k = int(called.sum())
        if not k:
            continue
        truth = ", ".join(f"{t} {m}" for t, m in v.counts(called).items())
        who = f"every one showing a lesion ({truth})" if c.lower() == "normal" else f"truly {truth}"
        share = v.figures[f"called[{i}]"]  # the figure table's share, the one the classes block prints
        lines.append(f"{_pct(share)} of {what} ({k} of {n}), {who}, were called {c}, a class these data do not have")
    return lines


def _in_domain_lines(v) -> list[str]:
    from ..model.describe import data_name
    from ..model.trust import printable  # text from the file: escaped

    cv = v.in_domain.get("cv") or {}
    if not cv:
        out = ["in-domain figures: the model file stores none (trained without cross-validation)"]
    else:
        parts = []
        for metric, label in (("accuracy", "accuracy"), ("f1", "macro F1"), ("auc", "macro AUC"),
                              ("sensitivity", "macro sensitivity")):
            f = cv.get(metric)
            if isinstance(f, dict) and isinstance(f.get("value"), (int, float)):
                ci = f.get("ci") or [None, None]
                ci = tuple(math.nan if x is None else float(x) for x in ci[:2]) if len(ci) >= 2 else None
                parts.append(f"{label if len(v.classes) > 2 or metric != 'auc' else 'AUC'} "
                             f"{figure_text(float(f['value']), ci)}")
        data = v.in_domain.get("data") or {}
        where = printable(cv.get("cv", "cross-validation"))
        if "validation" not in where:
            where += " cross-validation"
        out = [f"in-domain figures stored in the model file ({where}"
               + (f", {data.get('n_images')} images" + (f" of {printable(data_name(data.get('source')))}"
                                                       if data.get("source") else " given in Python")
                  if data.get("n_images") else "")
               + "):", "  " + ", ".join(parts) + (" (optimistic: see the caveat below)" if cv.get("caveat") else "")]
        if cv.get("caveat"):
            out.append(f"  caveat: {printable(cv['caveat'])}")
        hold = v.in_domain.get("holdout") or {}
        if isinstance(hold.get("accuracy"), (int, float)):
            ci = hold.get("accuracy_ci")
            out.append(f"  held-out images at training ({hold.get('n_images')}): accuracy "
                       f"{figure_text(float(hold['accuracy']), tuple(ci) if ci else None)}")
    if v.promise is not None and v.promise.get("card"):
        out.append(f"  what it promises at a new site: AUC {v.promise['auc']:.3f} ({printable(v.promise['what'])})")
    counts = v.counts(v.judged)
    common = max(counts, key=counts.get) if counts else "?"
    on = f", on {v.judged_where()}" if v.n_seen and not v.all_seen else ""
    trivial = figure_text(v.figures.get("trivial_accuracy"))
    out.append(f"  here{on}: accuracy {_text(v, 'accuracy')} (calling every image {common} would score {trivial}), "
               f"AUC ({v.positive} vs rest) {_text(v, 'auc')}{_seen_tag(v)}")
    return out


def _header(v) -> list[str]:
    n = len(v.y_true)
    counts = ", ".join(f"{k} {c}" for k, c in v.counts().items())
    lines = [f"External validation of {v.model_name}" + (f" ({v.model_source})" if v.model_source else ""),
             f"data: {v.data_description}",
             f"{n} images of {v.n_groups} groups ({v.groups_from}); {counts}"]
    if v.n_seen and not v.all_seen:
        sel = v.judged
        left = [os.path.basename(str(p)) for p, s in zip(v.paths, ~sel) if s]
        shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
        lines.append(f"every figure below is on {v.judged_where()} ("
                     + ", ".join(f"{k} {c}" for k, c in v.counts(sel).items()) + f", {np.unique(v.groups[sel]).size} "
                     f"groups); left out: {shown}")
    groups = np.unique(v.groups[v.judged]).size
    lines.append(f"95 % intervals: {v.n_bootstrap} bootstrap resamples of the {groups} groups (each group drawn whole)"
                 if v.n_bootstrap else "no intervals (n_bootstrap=0)")
    return lines


def lesion_or_normal_line(v) -> str:
    """The lesion-or-normal decision at the model's own rule in one line (``""`` for a model that
    cannot call an image normal): lesions, the positive class's images and normal scans called
    normal, each with its interval, "n/a" where these images hold none of them."""
    if not all(name in v.figures for name in LESION_OR_NORMAL):
        return ""
    cells = [f"{figure_label(name, v.positive)} "
             + (_text(v, name) if _num(v.figures[name]) is not None else "n/a (these images hold none)")
             for name in LESION_OR_NORMAL]
    return "the lesion-or-normal decision: " + ", ".join(cells)


def validation_text(v) -> str:
    """An external validation as text: verdict first, then every figure with its 95 % interval."""
    c, pos = v.classes, v.positive
    lines = [*_header(v), *[f"caution: {note}" for note in v.seen], *[f"note: {note}" for note in v.notes], ""]
    lines += [f"verdict: none -- {_none_reason(v)}" if v.sanity is None else v.sanity.summary(), ""]
    if v.out_of_domain is not None:
        from ..model.domain import flag_summary

        ood = np.asarray(v.out_of_domain)[v.judged]
        lines += [flag_summary(ood > 1) + f" (median out_of_domain {np.median(ood):.2f}; above 1: unlike them)", ""]
    lines += ["In short:"] + [f"  * {s}" for s in v.verdict] + [""]
    tag = _seen_tag(v)  # every image seen: every block below says so
    lines.append(f"classes: the model knows {', '.join(c)}; these data hold {', '.join(v.data_classes)}"
                 + (f" (no {', '.join(v.absent_classes)})" if v.absent_classes else ""))
    for i, name in enumerate(c):
        if name in v.absent_classes:
            lines.append(f"  called {name}: {_text(v, f'called[{i}]')} of the images{tag}")
    lines += ["", f"{pos} vs rest (p({pos}) against every other true class){tag}:", f"  AUC {_text(v, 'auc')}"]
    lines.append(f"  at the model's own operating point ({rule_words(v)}): sensitivity {_text(v, 'sensitivity')}, "
                 f"specificity {_text(v, 'specificity')}")
    if lesion_or_normal_line(v):
        lines.append(f"  {lesion_or_normal_line(v)}")
    if v.threshold is not None:
        lines.append(f"  at {chosen_text(v)}, the threshold the model would need to reach sensitivity "
                     f"{v.target_sensitivity:g} here: sensitivity {_text(v, 'sensitivity_at_threshold')}, specificity "
                     f"{_text(v, 'specificity_at_threshold')}")
        lines.append("    (that threshold is chosen on these same images, so these two figures are optimistic; confirm "
                     "it on other images of this site)")
    else:
        lines.append(f"  no threshold for sensitivity {v.target_sensitivity:g}: no {pos} image here")
    lines += ["", f"per class (the classes these data hold; recall is sensitivity){tag}:"]
    width = max(9, *(len(x) for x in v.data_classes))
    lines.append(f"  {'':{width}} {'n':>5}  {'precision':<19} {'recall':<19} F1")
    y_judged = v.y_true[v.judged]
    for i, name in enumerate(c):
        if name in v.data_classes:
            cells = "".join(f"{_text(v, f'{m}[{i}]'):<20}" for m in ("precision", "recall", "f1"))
            lines.append(f"  {name:{width}} {int(np.sum(y_judged == name)):>5}  {cells.rstrip()}")
    lines.append(f"  accuracy {_text(v, 'accuracy')}, macro F1 over these classes {_text(v, 'macro_f1')}")
    lines += ["", f"confusion matrix (rows true, columns predicted){tag}:"]
    cm = v.confusion_matrix()
    width = max(9, *(len(x) for x in c))
    lines.append("  " + " " * width + "".join(f"{x:>{max(len(x), 6) + 2}}" for x in c))
    for name, row in zip(c, cm):
        lines.append(f"  {name:{width}}" + "".join(f"{n:>{max(len(x), 6) + 2}}" for x, n in zip(c, row))
                     + ("   (not in these data)" if name in v.absent_classes else ""))
    from .reporting import counts_text

    lines += ["", f"per class at the model's own operating point ({rule_words(v)}){tag}:"]
    lines += counts_text(v.confusion_counts(), width, indent="  ")
    lines += ["", f"calibration of p({pos}): ECE {_text(v, 'ece')} ({ECE_BINS} equal-width bins), "
                  f"Brier score {_text(v, 'brier')}{tag}",
              "  reliability (bin: mean p -> observed fraction, images): "
              + "; ".join(f"{b['lower']:.1f}-{b['upper']:.1f}: {b['mean_predicted']:.2f} -> {b['observed']:.2f} "
                          f"({b['n']})" for b in v.reliability if b["n"])]
    lines += [""] + _in_domain_lines(v)
    for column, rows in v.subgroups.items():
        lines += ["", f"subgroups by {column}{tag}:"]
        w = max(8, *(len(str(r["value"])) for r in rows))
        heads = ("auc", "sensitivity", "specificity", "accuracy")
        lines.append(f"  {'':{w}} {'images':>6} {'groups':>6} {pos:>9}  "
                     + " ".join(f"{figure_label(h):<19}" for h in heads[:-1]) + f" {figure_label(heads[-1])}")
        for r in rows:
            f, ci = r["figures"], r["intervals"]
            cells = [figure_text(f[h], ci[h]) for h in heads]
            lines.append(f"  {str(r['value']):{w}} {r['n_images']:>6} {r['n_groups']:>6} {r['n_positive']:>9}  "
                         + " ".join(f"{x:<19}" for x in cells[:-1]) + f" {cells[-1]}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- external validation: JSON

def validation_dict(v) -> dict[str, Any]:
    """An external validation as JSON-ready values (``None`` where undefined)."""
    from ..model.format import json_safe
    from .sanity import AUC_MARGIN, verdict_to_manifest

    def fig(key):
        return figure_json(v.figures.get(key), v.intervals.get(key))

    sel = v.judged
    y_judged = v.y_true[sel]
    per_class = {c: {"n": int(np.sum(y_judged == c)), **{m: fig(f"{m}[{i}]") for m in ("precision", "recall", "f1")}}
                 for i, c in enumerate(v.classes) if c in v.data_classes}
    absent = {c: {"called": fig(f"called[{i}]"), "true_classes_of_those": v.counts((v.y_pred == c) & sel)}
              for i, c in enumerate(v.classes) if c in v.absent_classes}
    n, k = len(v.y_true), v.n_seen
    if v.sanity is None:  # every image seen: no verdict
        sanity = {"version": 1, "verdict": "none", "headline": _none_reason(v), "reasons": [_none_reason(v)],
                  "basis": f"external validation, {n} images, every one seen by the model or a trained part of it",
                  "n_bootstrap": v.n_bootstrap}
    else:
        sanity = verdict_to_manifest(v.sanity)
    judged = {"n_images": int(sel.sum()), "n_groups": int(np.unique(v.groups[sel]).size), "counts": v.counts(sel),
              "images": ("every image" if not k else "every image, all seen by the model or a trained part of it"
                         if k == n else v.judged_where()),
              "left_out": [str(p) for p, s in zip(v.paths, ~sel) if s]}
    subgroups = {col: [{"value": r["value"], "n_images": r["n_images"], "n_groups": r["n_groups"],
                        "n_positive": r["n_positive"],
                        **{key: figure_json(val, r["intervals"][key]) for key, val in r["figures"].items()}}
                       for r in rows] for col, rows in v.subgroups.items()}
    return json_safe({
        "model": {"name": v.model_name, "source": v.model_source, "classes": list(v.classes)},
        "data": {"description": v.data_description, "n_images": n, "n_groups": v.n_groups,
                 "groups_from": v.groups_from, "counts": v.counts(), "absent_classes": v.absent_classes},
        "positive": v.positive, "n_bootstrap": v.n_bootstrap, "random_state": v.random_state,
        "interval": "95 % bootstrap percentile interval, groups resampled whole",
        "verdict": v.verdict, "seen": list(v.seen), "n_seen": k, "judged": judged,
        "verdict_on": {"n_images": 0 if k == n else int(sel.sum()), "n_seen_left_out": k,
                       "images": ("every image" if not k else "none: every image trained the model or a part of it"
                                  if k == n else v.judged_where())},
        "figures_include_seen": _seen_tag(v).strip(" ()") or None, "notes": list(v.notes),
        "out_of_domain": None if v.out_of_domain is None else {
            "flagged": int(np.sum(np.asarray(v.out_of_domain)[sel] > 1)), "n": int(sel.sum()),
            "median": _num(np.median(np.asarray(v.out_of_domain)[sel]))},
        "sanity": sanity, "promise": v.promise, "against_promise": v.against_promise(),
        "auc": fig("auc"), "accuracy": fig("accuracy"), "trivial_accuracy": fig("trivial_accuracy"),
        "macro_f1": fig("macro_f1"), "per_class": per_class, "absent_classes": absent,
        "operating_points": {
            "model": {"rule": rule_words(v), "sensitivity": fig("sensitivity"), "specificity": fig("specificity"),
                      **{name: fig(name) for name in LESION_OR_NORMAL if name in v.figures}},
            "target": {"target_sensitivity": v.target_sensitivity, "threshold": v.threshold,
                       "rule": None if v.threshold is None else chosen_text(v),
                       "chosen_on": "these external images (optimistic: measured where it was chosen)",
                       "sensitivity": fig("sensitivity_at_threshold"), "specificity": fig("specificity_at_threshold")}},
        "calibration": {"of": f"p({v.positive})", "n_bins": ECE_BINS, "ece": fig("ece"), "brier": fig("brier"),
                        "reliability": v.reliability},
        "confusion_matrix": {"classes": list(v.classes), "rows": "true", "columns": "predicted",
                             "counts": v.confusion_matrix().tolist()},
        "confusion_counts": {name: {key: int(x) for key, x in row.items()}
                             for name, row in v.confusion_counts().to_dict(orient="index").items()},
        "subgroups": subgroups, "in_domain": v.in_domain, "auc_margin": AUC_MARGIN,
    })


# --------------------------------------------------------------------------- external validation: HTML

#: The rows of the validation page's main table: (result key, table name, qualifier).
_HTML_ROWS = (("auc", "auc", ""), ("accuracy", "accuracy", ""), ("trivial_accuracy", "trivial_accuracy", ""),
              ("macro_f1", "f1", " (mean over the classes present)"),
              ("sensitivity", "sensitivity", ", model's own rule"),
              ("specificity", "specificity", ", model's own rule"),
              *((name, name, ", model's own rule") for name in LESION_OR_NORMAL),
              ("sensitivity_at_threshold", "sensitivity", " at {at} (chosen here: optimistic)"),
              ("specificity_at_threshold", "specificity", " at {at} (chosen here: optimistic)"),
              ("ece", "ece", ""), ("brier", "brier", ""))


def validation_html(v, folder: str | os.PathLike) -> Path:
    """Write an external validation's self-contained report into ``folder``: ``index.html``
    (figures embedded), ``roc.png``, ``reliability.png``, ``confusion.png`` and ``validation.json``."""
    from .._version import __version__
    from ..io import write_file
    from .reporting import CSS, counts_html, figure_png, header_html, img_tag, verdict_html
    from .sanity import AUC_MARGIN

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pos, esc = v.positive, html.escape

    def save(name: str, draw, size, alt: str) -> str:
        data = figure_png(draw, size)
        write_file(folder / name, data)
        return img_tag(data, alt)

    figs = [save("confusion.png", v.plot_confusion, (5.2, 4.6), "confusion matrix")]
    if np.isfinite(v.figures.get("auc", math.nan)):
        figs.insert(0, save("roc.png", v.plot_roc, (5.4, 6.2), f"ROC curve of p({pos})"))
    figs.insert(1, save("reliability.png", v.plot_reliability, (5.4, 5.2), "reliability diagram"))
    write_file(folder / "validation.json", json.dumps(validation_dict(v), indent=2) + "\n")
    tag = esc(_seen_tag(v))
    at = esc(chosen_text(v)) if v.threshold is not None else ""
    rows = [(esc(figure_label(name, pos)) + qual.format(at=at), key) for key, name, qual in _HTML_ROWS
            if key in v.figures]
    table = "<table><tr><th>figure</th><th>value [95 % interval]</th></tr>" + "".join(
        f"<tr><td>{label}</td><td>{esc(_text(v, key))}</td></tr>" for label, key in rows) + "</table>"
    y_judged = v.y_true[v.judged]
    per_class = ("<table><tr><th>class</th><th>images</th><th>precision</th><th>recall</th><th>F1</th></tr>"
                 + "".join(f"<tr><td>{esc(c)}</td><td>{int(np.sum(y_judged == c))}</td>"
                           + "".join(f"<td>{esc(_text(v, f'{m}[{i}]'))}</td>" for m in ("precision", "recall", "f1"))
                           + "</tr>" for i, c in enumerate(v.classes) if c in v.data_classes) + "</table>")
    sub_html = []
    heads = ("auc", "sensitivity", "specificity", "accuracy")
    for column, srows in v.subgroups.items():
        sub_html.append(f"<h3>by {esc(column)}</h3><table><tr><th>{esc(column)}</th><th>images</th><th>groups</th>"
                        f"<th>{esc(pos)}</th>" + "".join(f"<th>{esc(figure_label(h))}</th>" for h in heads) + "</tr>"
                        + "".join(f"<tr><td>{esc(str(r['value']))}</td><td>{r['n_images']}</td><td>{r['n_groups']}"
                                  f"</td><td>{r['n_positive']}</td>" + "".join(
                                      f"<td>{esc(figure_text(r['figures'][h], r['intervals'][h]))}</td>"
                                      for h in heads) + "</tr>" for r in srows) + "</table>")
    title = f"External validation: {v.model_name}"
    head = _header(v)
    parts = [f"<h1>{esc(title)}</h1>",
             f'<p class="note">{esc(v.data_description.rstrip("."))}; {esc(head[2])}. '
             + "".join(f"{esc(line)}. " for line in head[3:])
             + "The model predicted every image once; nothing was refitted.</p>",
             *[f'<p class="note">caution: {esc(note)}</p>' for note in v.seen],
             *[f'<p class="note">{esc(note)}</p>' for note in v.notes],
             (f'<div class="verdict verdict-none"><b>Verdict: none</b> -- {esc(_none_reason(v))}</div>'
              if v.sanity is None else verdict_html(v.sanity)),
             "<h2>In short</h2><ul>" + "".join(f"<li><b>{esc(s)}</b></li>" for s in v.verdict) + "</ul>",
             f"<h2>{esc(pos)} vs rest{tag}</h2>", table,
             f'<div class="plots">{"".join(figs)}</div>',
             f"<h2>Per class{tag}</h2>", per_class,
             f"<p>At the model's own operating point ({esc(rule_words(v))}):</p>",
             counts_html(v.confusion_counts()),
             *([f"<h2>Subgroups{tag}</h2>", *sub_html] if sub_html else []),
             "<h2>Beside the model's own figures</h2>",
             "<pre>" + esc("\n".join(_in_domain_lines(v))) + "</pre>",
             "<h2>Summary (as printed)</h2><pre>" + esc(validation_text(v)) + "</pre>",
             header_html({"featbus": __version__, "model": v.model_source or v.model_name,
                          "data": v.data_description, "positive class": pos,
                          "target sensitivity": v.target_sensitivity, "bootstrap resamples": v.n_bootstrap,
                          "seed": v.random_state, "ECE bins": ECE_BINS, "AUC margin": AUC_MARGIN})]
    page = folder / "index.html"
    return write_file(page, f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
                      f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>")


# --------------------------------------------------------------------------- cross-validation: words

def _fixed(x: float) -> str:
    return "  nan" if x is None or not np.isfinite(x) else f"{x:.3f}"


def report_text(r, verdict: bool = True) -> str:
    """A cross-validation report (:class:`featbus.evaluation.Report`) as text: the figures of
    :data:`~featbus.metrics.PER_CLASS_METRICS` per class and over the classes, each ``value [low, high]``
    in fixed columns, the confusion matrix and counts, then the report's notes; opened by the
    model-sanity verdict when ``verdict``."""
    from ..metrics import PER_CLASS_METRICS
    from .reporting import counts_text

    width = max(8, *(len(str(c)) for c in r.class_names))
    head = f"{'':{width}}  " + "  ".join(f"{m:>20}" for m in PER_CLASS_METRICS)
    lines = [f"{r.name}: {r.cv}, {len(r.y_true)} samples, 95% CI from {r.n_bootstrap} bootstrap resamples"
             + (" of groups" if r.groups is not None else "")]
    if verdict:
        lines.append(r.sanity.summary())
    lines.append(head)
    for lab, disp in [*zip(r.classes.tolist(), r.class_names), ("macro", "macro")]:
        vals = r.metrics["macro"] if lab == "macro" else r.metrics["per_class"][lab]
        # fixed columns: a missing value or bound is "  nan", the interval always written
        cells = [(_fixed(vals[m]) + interval_text(r.ci.get((lab, m), (np.nan, np.nan)), 3, missing="  nan")).rjust(20)
                 for m in PER_CLASS_METRICS]
        lines.append(f"{str(disp):{width}}  " + "  ".join(cells))
    lines.append("(macro accuracy is the overall fraction correct; per-class accuracy is one-vs-rest)")
    lines.append("confusion matrix (rows true, columns predicted): "
                 + "; ".join(f"{d}: {row.tolist()}" for d, row in zip(r.class_names, r.metrics["confusion_matrix"])))
    lines.extend(counts_text(r.confusion_counts(), width))
    lines.extend(str(note) for note in r.notes)
    return "\n".join(lines)


def report_line(r) -> str:
    """One report in a line (a study's progress): ``name: accuracy 0.712, macro AUC 0.801``."""
    return f"{r.name}: accuracy {r.value('accuracy'):.3f}, macro AUC {r.value('auc'):.3f}"


def reports_table(reports_by_cv: dict, positive: str | None) -> str:
    """Reports side by side: one row per pipeline, accuracy, macro F1 and AUCs (the positive class's
    too) with intervals, one block of columns per kind of cross-validation."""
    cvs = list(reports_by_cv)
    first = reports_by_cv[cvs[0]]
    cols = ["accuracy", "f1", "auc"]  # the rest (sensitivity, specificity...) is in the HTML report
    header = ["pipeline"] + [f"{c}:{m}" for c in cvs for m in cols + ([f"auc[{positive}]"] if positive else [])]
    rows = []
    for i, rep in enumerate(first):
        row = [rep.name]
        for cv in cvs:
            r = reports_by_cv[cv][i]
            row += [format_interval(r.value(m), r.interval(m), missing=None, sep=",") for m in cols]
            if positive:
                row.append(format_interval(r.value("auc", positive), r.interval("auc", positive), missing=None,
                                           sep=","))
        rows.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def fmt(r):
        return "  ".join(str(x).ljust(w) if j == 0 else str(x).rjust(w) for j, (x, w) in enumerate(zip(r, widths)))

    return "\n".join([fmt(header)] + [fmt(r) for r in rows])


def holdout_line(r, *, decided_at_point: bool, held: str | None = None) -> str:
    """The held-out images' accuracy (``featbus train --test-fraction``, or the publisher's test split)
    in a line, its interval when bootstrapped, and the caveats of images a shipped part saw; ``held``
    says which images they are (``"the publisher's test split"``)."""
    text = (f"held-out ({len(r.y_true)} images{' of ' + held + ',' if held else ''} never seen in this training): "
            f"accuracy {r.value('accuracy'):.3f}")
    if r.n_bootstrap:
        text += f"{interval_text(r.interval('accuracy'))} (group bootstrap 95% CI)"
    text += ", decided at the stored operating point" if decided_at_point else ""
    return "\n".join([text, *(f"  caveat: optimistic: {note}" for note in r.notes)])


# --------------------------------------------------------------------------- leave one site out: words

def site_report_text(site_report) -> str:
    """A leave-one-site-out result (:class:`featbus.evaluation.sites.SiteReport`) as text: its manifest
    entry written as a model file's description writes it (:func:`featbus.model.describe.site_cv_lines`),
    so that train, evaluate and inspect print one text."""
    from ..model.describe import site_cv_lines

    return "\n".join(site_cv_lines(site_report.to_dict()))


# --------------------------------------------------------------------------- comparison: words and JSON

def direction(value, ci) -> str:
    """``"higher"``, ``"lower"`` or ``"no difference shown"``: what the interval of a difference says."""
    lo, hi = ci if ci is not None else (math.nan, math.nan)
    if _num(lo) is None or _num(hi) is None:
        if _num(value) is None:
            return "cannot be computed"
        return "no interval (--n-bootstrap 0): no difference shown"
    if lo > 0:
        return "higher"
    if hi < 0:
        return "lower"
    return "no difference shown (the interval covers 0)"


def _diff_text(value, ci) -> str:
    return "n/a" if _num(value) is None else f"{value:+.3f}" + interval_text(ci, 2, signed=True)


def _pair_line(c, m: int) -> str:
    """The verdict of model ``m`` against the first, on the images neither saw."""
    a, b = c.names[0], c.names[m]
    n = len(c.y_true)
    basis = c.basis(m)
    if basis["n_images"] == 0:
        who = [f"{c.names[k]} on {'all ' + str(n) if c.n_seen(k) == n else c.n_seen(k)}"
               for k in (0, m) if c.n_seen(k)]
        return (f"{b} vs {a}: no verdict -- every one of these {n} images (or a near-copy) trained one of the "
                f"two ({', '.join(who)}): figures on them are optimistic and say nothing of new images; compare "
                "the models on images neither trained on")
    where = ("on every image (neither model trained on any)" if m not in c.unseen else
             f"on the {basis['n_images']} images neither model trained on ({basis['n_groups']} groups; the "
             f"other {n - basis['n_images']} left out)")
    parts = []
    for f in c.figures:
        value, ci = c.difference(m, f, basis)
        word = direction(value, ci)
        if word in ("higher", "lower"):
            word = f"{b} {word}"
        parts.append(f"{figure_label(f, c.positive)} {_diff_text(value, ci)}: {word}")
    return f"{b} - {a}, {where}: " + "; ".join(parts)


def comparison_verdict(c) -> list[str]:
    """One line per model after the first (:attr:`~featbus.evaluation.comparison.ModelComparison.verdict`)."""
    return [_pair_line(c, m) for m in range(1, len(c.names))]


def switch_sentence(c, m: int) -> str:
    """A plain sentence on switching from the first model to model ``m``, from
    :meth:`~featbus.evaluation.comparison.ModelComparison.switch` on the images neither saw:
    "B finds fewer cancers: do not switch" whenever a miss figure (sensitivity, lesions called
    normal, malignant called normal) is worse beyond its interval; a gain in any other figure
    (specificity) is never a reason to switch alone."""
    a, b = c.names[0], c.names[m]
    basis = c.basis(m)
    if not basis["n_images"]:
        return f"{b} vs {a}: nothing to say on switching (no image that neither model trained on)"
    said = c.switch(m)

    def listed(names) -> str:
        return ", ".join(f"{figure_label(f, c.positive)} {_diff_text(*c.difference(m, f, basis))}" for f in names)

    if said["worse"]:
        return f"{b} finds fewer cancers: do not switch ({listed(said['worse'])}, {b} - {a})"
    if said["better"]:
        cost = f"; at a cost in {listed(said['other'])}" if said["other"] else ""
        return (f"{b} misses fewer lesions or cancers than {a} here, and more of none ({listed(said['better'])})"
                f"{cost}: these images support switching")
    if said["other"]:
        return (f"{b} finds no more cancers than {a} (no miss figure shown better or worse); "
                f"{listed(said['other'])} alone is no reason to switch")
    return f"no difference shown between {b} and {a}: no reason to switch"


def _undefined_reason(labels, figure, positive=None) -> str:
    """Why a figure is n/a on images whose true labels are ``labels``: the images it is a share of are
    not there (no normal scans, no malignant images), else that it is not defined on them."""
    key = parse_figure(figure)
    held = set(np.asarray(labels).astype(str).tolist())
    if key.name == "normals_called_normal":
        return "no normal scans here" if "normal" not in held else "not defined on these images"
    if key.name == "lesions_called_normal":
        return "no lesion images here" if not held - {"normal"} else "not defined on these images"
    of = key.of if key.of is not None or not get_figure(key.name).per_class else positive
    if of is not None and str(of) not in held:
        return f"no {of} images here"
    return "not defined on these images"


def _or_reason(text: str, labels, figure, positive=None) -> str:
    return f"n/a ({_undefined_reason(labels, figure, positive)})" if text == "n/a" else text


def _comparison_row(c, m: int, width: int, widths: list[int]) -> str:
    cells = [_or_reason(figure_text(*c.value(m, f)), c.y_true, f, c.positive) for f in c.figures]
    # an n/a cell carries its own reason, so the seen mark after the row is never read as one
    return (f"  {c.names[m]:<{width}}  " + "  ".join(f"{x:<{w}}" for x, w in zip(cells, widths))).rstrip() \
        + c.seen_tag([m])


def _comparison_diff_line(c, m: int, est: dict | None, where: str) -> str:
    cells = [f"{figure_label(f, c.positive)} "
             + _or_reason(_diff_text(*c.difference(m, f, est)), c.y_true, f, c.positive) for f in c.figures]
    return f"  {c.names[m]} - {c.names[0]}, on {where}: " + ", ".join(cells)


def comparison_text(c) -> str:
    """A comparison of models (:class:`featbus.evaluation.comparison.ModelComparison`) as text: the
    models' figures, the paired differences, the verdict, switching and the images a model has seen."""
    n, e = len(c.y_true), c.everything
    counts = {k: int(np.sum(c.y_true == k)) for k in dict.fromkeys(c.y_true.tolist())}
    mix = ", ".join(f"{k} {x}" for k, x in counts.items())
    lines = [f"compare: {len(c.names)} models on the same {n} images ({mix}; "
             f"{e['n_groups']} groups: {c.groups_from}); positive class {c.positive}",
             (f"95 % intervals: {c.n_bootstrap} bootstrap resamples of the groups, the same resamples for "
              "every model (paired)" if c.n_bootstrap else "no intervals (--n-bootstrap 0)")]
    width = max(len(s) for s in c.names + ["model"])
    labels = [figure_label(f, c.positive) for f in c.figures]
    widths = [max(19, len(x)) for x in labels]
    head = (f"  {'model':<{width}}  " + "  ".join(f"{x:<{w}}" for x, w in zip(labels, widths))).rstrip()
    lines += ["", "each model at its own operating point:", head]
    lines += [_comparison_row(c, m, width, widths) for m in range(len(c.names))]
    lines += [f"  {name} decides: {c.rules[m]}" for m, name in enumerate(c.names)]
    lines += ["", f"paired differences, each model minus {c.names[0]} (B - A):"]
    for m in range(1, len(c.names)):
        lines.append(_comparison_diff_line(c, m, None, "every image") + c.seen_tag([0, m]))
        if m in c.unseen:
            u = c.unseen[m]
            none_left = f"  {c.names[m]} - {c.names[0]}, on images neither trained on: none left"
            lines.append(_comparison_diff_line(c, m, u, f"the {u['n_images']} images neither trained on")
                         if u["n_images"] else none_left)
    lines += ["", "verdict:"] + [f"  {v}" for v in c.verdict]
    lines += ["", "switching:"] + [f"  {v}" for v in c.switching]
    seen = [(m, note) for m in range(len(c.names)) for note in c.seen_notes[m]]
    if seen:
        lines += ["", "images a model has seen (figures on them are optimistic; they never feed the verdict):"]
        lines += [f"  {c.names[m]}: {note}" for m, note in seen]
    if c.notes:
        lines += [""] + [f"note: {x}" for x in c.notes]
    return "\n".join(lines)


def comparison_dict(c) -> dict[str, Any]:
    """A comparison of models as JSON values (``compare.json``): ``models`` (each with its figures,
    rule and seen images), ``differences`` (each pair on every image and on the images neither saw,
    with the word of each interval), ``verdict``, ``switching``, the data and the bootstrap."""
    from .._version import __version__
    from ..metrics import CONFIDENCE
    from ..model.format import json_safe
    n = len(c.y_true)
    models = []
    for m, name in enumerate(c.names):
        models.append({"name": name, "source": c.sources[m], "decided_by": c.rules[m],
                       **{str(f): figure_json(*c.value(m, f)) for f in c.figures},
                       "seen": {"n_images": c.n_seen(m), "notes": list(c.seen_notes[m]),
                                "images": [p for p, s in zip(c.paths, c.seen_images[m]) if s]}})

    def compared(m: int, est: dict | None) -> dict:
        return {str(f): {**figure_json(*c.difference(m, f, est)), "word": direction(*c.difference(m, f, est))}
                for f in c.figures}

    differences = []
    for m in range(1, len(c.names)):
        row = {"a": c.names[0], "b": c.names[m], "figures": compared(m, None), "on": f"every image ({n})",
               "seen": c.seen_tag([0, m]).strip(" ()") or None, "switch": {k: [str(f) for f in v]
                                                                           for k, v in c.switch(m).items()}}
        if m in c.unseen:
            u = c.unseen[m]
            row["unseen"] = {"n_images": u["n_images"], "n_groups": u["n_groups"],
                             "figures": compared(m, u) if u["n_images"] else {}}
        differences.append(row)
    counts = {k: int(np.sum(c.y_true == k)) for k in dict.fromkeys(c.y_true.tolist())}
    return json_safe({
        "featbus": __version__, "positive": c.positive, "figures": [str(f) for f in c.figures],
        "data": {"description": c.data_description, "n_images": n, "counts": counts,
                 "n_groups": c.everything["n_groups"], "groups": c.groups_from},
        "bootstrap": {"resamples": c.n_bootstrap, "seed": c.random_state, "confidence": CONFIDENCE,
                      "paired": True, "unit": "groups"},
        "models": models, "differences": differences, "verdict": c.verdict, "switching": c.switching,
        "notes": list(c.notes)})


# --------------------------------------------------------------------------- adaptation
# (render_adaptation: the words, JSON and HTML of featbus.adapt's result, written by the adaptation
# work; it goes here, beside the other judges, and reads the figure table's rows as they do)
def render_adaptation(manifest: dict, *, source: str = "MODEL", what: str = "the site's images", kind: str = "text",
                      notes=(), site_figures: dict | None = None, out: str | None = None):
    """An adapted model's manifest (:func:`featbus.adapt`) in words (``kind="text"``) or JSON (``"json"``).

    The words say what was re-estimated, the out-of-domain check, what the label-free alignment did
    to each decision (or why it could not), what the labels moved and what the safe-move rule kept,
    each decision's figures at the thresholds before and after on the labelled images (lesions
    called normal, malignant called normal and normal scans called normal among them, with 95 %
    intervals over patients, as ``site_points`` measured them: on the calibration patients, where
    they feed no verdict), and the promise validate will judge the file against (its parent's:
    ``manifest["promise"]``, ``manifest["parent"]``). ``notes``: cautions to print (the images a
    part of the model trained on); ``site_figures``: a one-decision model's figures before and after
    on the labelled images (:func:`featbus.evaluation.sites.site_figures`: ``{"before": ..., "after": ...}``).
    """
    from ..model.format import json_safe
    from ..model.provenance import stored_operating_point
    from ..model.trust import printable

    record = manifest["adaptation"]
    if kind == "json":
        return json_safe({"adaptation": record, "operating_point": manifest.get("operating_point"),
                          "score_alignment": manifest.get("score_alignment"), "promise": manifest.get("promise"),
                          "parent": {k: v for k, v in (manifest.get("parent") or {}).items() if k != "card"}})
    if kind != "text":
        raise ValueError(f"kind must be 'text' or 'json', got {kind!r}")
    headline = adaptation_headline(manifest, source)
    lines = ([headline] if headline else []) + [f"adapted {source} to {what} (method {record['method']})"]
    lines += [f"  re-estimated: {change}" for change in record["changed"]]
    lines += [f"  caution: {note}; thresholds fitted on them are fitted to what the model has seen" for note in notes]
    lines += _adaptation_domain_lines(record)
    if "alignment" in record:
        lines += _adaptation_alignment_lines(record["alignment"])
    if "two_decisions" in record:
        point = stored_operating_point(manifest)  # a point kept from the parent: its figures' seen parts
        lines += [f"  calibration: {record['calibration']}", f"  decisions: {printable(point.describe())}"]
        lines += _adaptation_two_decision_lines(record["two_decisions"])
        if "spread" in record:
            lines += _adaptation_spread_lines(record["spread"], record["labels"]["unit"])
    elif record.get("labelled") and manifest.get("operating_point"):
        point = stored_operating_point(manifest)
        lines += [f"  calibration: {record['calibration']}", f"  operating point: {printable(point.describe())}",
                  f"  decided by: {printable(point.rule_text())}"]
        if site_figures:
            lines += _adaptation_before_after(site_figures, point.positive, out)
    promise = manifest.get("promise")
    if promise:
        parent = (manifest.get("parent") or {}).get("name") or "the model it was adapted from"
        lines.append(f"  promise: {printable(str(parent))}'s, which validate judges this file against "
                     f"(AUC {promise['auc']:.2f}: {printable(promise['what'])})")
    return "\n".join(lines)


def _parent_name(manifest: dict, source: str) -> str:
    return str((manifest.get("parent") or {}).get("name") or Path(source).name)


def adaptation_headline(manifest: dict, source: str = "MODEL") -> str | None:
    """The first line adapt prints after its stages: what moved (or that nothing did, the file being its
    parent plus a site record) and, of a two-decision model, each threshold kept and what would move it
    (the patients the safe-move rule needs). ``None`` for a record that does not say what moved."""
    from ..metrics import threshold_text
    from ..model.describe import moved_words

    record = manifest["adaptation"]
    if record.get("moved") is None:
        return None
    parts = [moved_words(record, _parent_name(manifest, source))]
    two = record.get("two_decisions") or {}
    unit = two.get("unit", "patients")
    for name in ("presence", "malignancy"):
        side = two.get(name)
        if not side or side.get("refitted"):
            continue
        need = _patients_to_move(name, side.get("move"), unit)
        parts.append(f"the {name} threshold stays {threshold_text(side['stored_threshold'])} "
                     f"({side.get('kept_because', 'too few images')}" + (f"; {need}" if need else "") + ")")
    return "; ".join(parts)


def _patients_to_move(name: str, move: dict | None, unit: str) -> str:
    """How many labelled patients, none missed, would show a raise the safe-move rule refused safe (the
    lesions called normal bound judges the presence threshold only, as the rule does).

    Examples
    --------
    >>> from featbus.evaluation.render import _patients_to_move
    >>> move = {"failing": {"lesions_ok": False, "sensitivity_ok": False},
    ...         "patients_needed": {"lesions_called_normal": 99, "sensitivity": 29}}
    >>> _patients_to_move("malignancy", move, "patients")
    '29 malignant patients, none missed, would show the move safe'
    >>> _patients_to_move("presence", move, "patients")
    '99 lesion patients and 29 malignant patients, none missed, would show the move safe'
    """
    failing = (move or {}).get("failing")
    if not failing:
        return ""
    need = move.get("patients_needed") or {}
    asks = []
    if name == "presence" and not failing.get("lesions_ok", True) and need.get("lesions_called_normal"):
        asks.append(f"{need['lesions_called_normal']} lesion {unit}")
    if not failing.get("sensitivity_ok", True) and need.get("sensitivity"):
        asks.append(f"{need['sensitivity']} malignant {unit}")
    return (" and ".join(asks) + ", none missed, would show the move safe") if asks else ""


def adaptation_written(manifest: dict, out: str, source: str = "MODEL") -> str:
    """adapt's last line: where the file went, and, when nothing moved, what the file is."""
    if manifest["adaptation"].get("moved") == {}:
        return f"nothing moved: {out} is {_parent_name(manifest, source)} plus a site record"
    return f"adapted model -> {out}"


def _adaptation_domain_lines(record: dict) -> list[str]:
    """What the adaptation did to the out-of-domain score, in two or three lines."""
    before, after = record.get("out_of_domain_before"), record.get("out_of_domain_after")
    if before is None:
        return ["  out of domain: the model has no out-of-domain reference (nothing checked, nothing to adapt)"]

    def said(d):
        return f"{d['unlike_training']} of {d['n']} unlike the training images (median out_of_domain {d['median']:.2f})"

    if "forced" in before:  # the one rule of the image kind (featbus.model.domain.refuse_other_kind)
        forced = before["forced"] and before["other_kind"] * 2 > before["n"]
        what = f"{before['other_kind']} not the kind of image the model learnt from"
    else:  # a record written before: its images counted beyond twice the threshold
        forced = before.get("far", 0) * 2 > before["n"]
        what = f"{before.get('far')} beyond {before.get('far_beyond', 2.0):g}"
    lines = [f"  out of domain before adapting: {said(before)}"
             + (f", {what} (forced: another kind of image?)" if forced else "")]
    if after is not None:
        lines.append(f"  out of domain after adapting: {said(after)}")
    lines.append(f"  out-of-domain reference: {record['domain']}")
    return lines


def _adaptation_alignment_lines(info: dict) -> list[str]:
    """What the label-free alignment did to each decision, and what it assumes, one line each."""
    lines = []
    pres = info.get("presence")
    if pres:
        if pres.get("threshold") is not None:
            lines.append(f"  aligned: is there a lesion? p(lesion) threshold {pres['stored_threshold']:.4g} -> "
                         f"{pres['threshold']:.4g} from {pres['n_images']} images without labels (about "
                         f"{pres['normal_share']:.2f} of them normal scans)")
        else:
            lines.append(f"  not aligned: is there a lesion? the threshold stays {pres['stored_threshold']:.4g}: "
                         f"{pres['reason']}")
        lines += [f"    assumes: {a}" for a in pres.get("assumptions", []) if pres.get("threshold") is not None]
    if "reason" in info:
        lines.append(f"  not aligned: {info['score']} (threshold {info['threshold']:.3g}): {info['reason']}")
        return lines
    t = info["threshold"]
    lines += [f"  aligned: {info['score']} of the {info['n_images']} images"
              + (f" (of {info['of_images']}) called a lesion" if "lesion" in info["score"] else "")
              + " mapped onto the training scores' distribution (quantile alignment; predict applies it)",
              f"    called {info['positive']} at the stored threshold {t:.3g}: "
              f"{info['called_positive_before']:.2f} of them as they were -> {info['called_positive_after']:.2f} "
              f"aligned (training images with this mix: {info['called_positive_reference']:.2f})",
              f"    reference: {info['reference']}"]
    lines += [f"    assumes: {a}" for a in info["assumptions"]]
    if info.get("warning"):
        lines.append(f"warning: {info['warning']}")
    return lines


def _adaptation_cell(f: dict) -> str:
    if f["value"] is None:
        return "n/a"
    method = (f["method"] or "").split(" over ")[0].replace("Clopper-Pearson", "CP")
    return (f"{format_interval(f['value'], f['interval'])} {f['count']}/{f['n_images']}"
            + (f" {method}" if f["interval"] else ""))


def _adaptation_two_decision_lines(report: dict) -> list[str]:
    """A two-decision adaptation's figures (``site_points``' report): each point's thresholds and
    what they give on the labelled images, the safe-move rule's word, then the notes."""
    from ..metrics import threshold_text

    unit = report["unit"]
    counts = ", ".join(f"{c} {k}" for c, k in report["counts"].items())
    lines = [f"\non these {report['n_images']} labelled images" + ("" if unit == "images" else
                                                                   f" of {report['n_groups']} {unit}")
             + f" ({counts}; the calibration patients: these figures feed no verdict):"]
    heads = {"presence": "is there a lesion? threshold on p(lesion)",
             "malignancy": "malignant, given a lesion? threshold on p(malignant | lesion)"}
    width = max(len(f["what"]) for name in heads for f in report[name]["figures"].values())
    wide = max(len(unit), 8)

    def groups(value) -> str:  # the column of patients (none when every image is its own)
        return "" if unit == "images" else f"  {value:>{wide}}"

    for name, head in heads.items():
        side = report[name]
        how = (f"refitted for {side['target']:g} of the lesion images" if name == "presence"
               else f"refitted for sensitivity {side['target']:g}") if side["refitted"] else (
            f"kept: {side.get('kept_because', 'too few images')}")
        if side["refitted"] and (side.get("move") or {}).get("failing"):
            how = "raised only as far as shown safe over " + unit
        old_t, new_t = threshold_text(side["stored_threshold"]), threshold_text(side["threshold"])
        lines.append(f"  {head}: stored {old_t} -> adapted {new_t} ({how})" if new_t != old_t
                     else f"  {head}: {old_t}, {how}")
        lines.append(f"    {'':<{width}}  {'images':>6}{groups(unit)}  {'at stored ' + old_t:<34}  at adapted {new_t}")
        for key, f in side["figures"].items():
            lines.append(f"    {f['what']:<{width}}  {f['n_images']:>6}{groups(f['n_groups'])}  "
                         f"{_adaptation_cell(side['stored_figures'][key]):<34}  {_adaptation_cell(f)}")
        auc = side["auc"]
        lines.append(f"    {auc['what']}: " + (f"{format_interval(auc['value'], auc['interval'])} ({auc['method']})"
                                               if auc["value"] is not None else f"n/a ({auc['method']})"))
        move = side.get("move")
        if move:  # a move the rule did not adopt is said as such, never beside a threshold it did not move
            lines.append(f"    {'safe-move rule' if move.get('move') == 'raise' else 'labels'}: {move['text']}")
    expected = [f"{f['what']} {f['expected_new']:.2f} ({f['count']}/{f['n_images'] + 1})"
                for name in heads for f in report[name]["figures"].values() if "expected_new" in f]
    lines.append(f"  {report['intervals']}; CP in the table: Clopper-Pearson")
    if expected:
        lines.append("  expected on new images like these, m/(n+1): " + "; ".join(expected))
    lines.append(f"note: {report['optimistic']}")
    lines += [f"warning: {w}" for w in report["warnings"] if not w.startswith("the labelled images would raise")]
    return lines


def _adaptation_spread_lines(spread: dict, unit: str = "patients") -> list[str]:
    """The card's calibration curve read at k patients, in words, then the warning when wide."""
    k, wide_above = spread["k"], spread.get("wide_above", 0.2)
    head = (f"the spread to expect from {spread['n_labelled']} labelled {unit} (the model card's calibration curve "
            f"at k = {k}{' (the fewest it measured)' if k > spread['n_labelled'] else ''}: 5-95 % over draws of "
            f"{k} patients at each held-out site, judged on its other patients"
            + (f"; {spread['about']}" if spread.get("about") else "") + "):")
    lines = [head] + [f"  {site}: " + ", ".join(f"{name} {format_interval(v[0], v[1:3], digits=2)}"
                                                for name, v in cells.items())
                      for site, cells in spread["sites"].items()]
    if spread["wide"]:
        narrow = (f"it narrows under {wide_above:g} from {spread['narrow_from']} patients" if spread["narrow_from"]
                  else f"it stays wider than {wide_above:g} up to {spread['largest_k']} patients, the most measured")
        lines.append(f"warning: with {spread['n_labelled']} {unit} the thresholds swing with the draw (a 5-95 % band "
                     f"{spread['width']:.2f} wide); {narrow}: judge the adapted model on other patients of the site "
                     "before using it (featbus validate)")
    return lines


def _adaptation_before_after(figs: dict, positive: str, out: str | None) -> list[str]:
    """A one-decision model's figures before and after on the labelled images, and why they flatter."""
    def cell(f):
        return format_interval(f[0], f[1:], missing=None)

    before, after = figs["before"], figs["after"]
    lines = [f"\non these labelled images ({positive}; 95 % intervals over groups):",
             f"  {'':<12} {'before':<22} after"]
    lines += [f"  {key:<12} {cell(before[key]):<22} {cell(after[key])}"
              for key in ("auc", "sensitivity", "specificity", "brier")]
    lines.append("warning: these 'after' figures are optimistic: the calibration and the operating point were chosen "
                 "on these same images; judge the adapted model on other patients of the site (featbus validate "
                 f"{out or 'ADAPTED'} OTHER_DATA)")
    return lines
