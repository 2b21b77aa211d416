"""Plots and HTML reports of :class:`featbus.evaluation.Report` objects.

The plots are plain matplotlib on a given ``Axes`` (or a new figure): one-vs-rest ROC curves,
a confusion matrix, per-class metric bars with their bootstrap intervals, and a comparison of
several pipelines. :func:`write_html` puts them in one self-contained HTML file: every figure is
stored once, embedded in the page, so the file can be mailed, archived or opened anywhere without a
folder beside it (for a paper or slides, draw a figure at any size with the ``plot_*`` functions and
``savefig`` it).
"""

from __future__ import annotations

import base64
import html
import io
import re
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..metrics import (
    PER_CLASS_METRICS,
    Predictions,
    brier_score,
    expected_calibration_error,
    format_interval,
    reliability_curve,
)
from .figures import Coded, coded_figure

__all__ = ["plot_roc", "plot_confusion_matrix", "plot_reliability", "plot_per_class", "plot_comparison", "write_html",
           "comparison_table", "predictions_html", "header_html", "comparison_with_intervals", "gallery_html",
           "plot_intensity_by_class", "intensity_html", "plot_learning_curves", "learning_curves_html", "verdict_html",
           "PAIRED_TEST_HEADERS", "confusion_counts", "counts_text", "counts_html", "CSS", "figure_png", "img_tag"]

_BAR_METRICS = ("sensitivity", "specificity", "precision", "f1", "auc")


def _axes(ax, size=(5.5, 4.5)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size, layout="constrained")[1]


def _ci_text(report, metric, cls="macro") -> str:
    return format_interval(report.value(metric, cls), report.interval(metric, cls), missing=None)


def _view(result) -> Predictions:
    """The held-out predictions of a Report, an ExternalValidation or a Predictions view."""
    return result if isinstance(result, Predictions) else result.held_out


def plot_roc(result, ax=None, *, points: Sequence = (), title: str | None = None, legend_below: bool = False,
             axis_labels: tuple[str, str] | None = None):
    """ROC curves of held-out predictions, with each AUC and its 95% interval in the legend.

    One-vs-rest for every class, or for the ``positive`` class alone when the predictions have
    one (external validation).

    Parameters
    ----------
    result : Report, ExternalValidation or Predictions
    ax : matplotlib Axes, optional
    points : sequence of (x, y, format, dict)
        Operating points to mark (``ax.plot(x, y, format, **dict)``).
    title : str, optional
        Default ``"ROC, <how the predictions were made>"``.
    axis_labels : (str, str), optional
        The x and y labels.
    legend_below : bool, default=False
        Put the legend under the axes, where it covers no curve (long operating-point labels).

    Returns
    -------
    ax : matplotlib Axes
    """
    from sklearn.metrics import roc_curve

    view = _view(result)
    ax = _axes(ax, (5.5, 5))
    if view.scores is None:
        raise ValueError(f"report {getattr(result, 'name', '')!r} has no scores (the estimator has neither "
                         "predict_proba nor decision_function): no ROC curve")
    intervals = view.auc_intervals or {}
    classes = view.classes.tolist()
    yt, yp = view.codes()
    coded = Coded(yt, yp, np.asarray(view.scores, dtype=float), len(classes), None)
    for j, (lab, disp) in enumerate(zip(classes, view.class_names)):
        if view.positive is not None and lab != view.positive:
            continue
        pos = view.y_true == lab
        if view.positive is None and (pos.all() or not pos.any()):
            continue
        raw = view.scores[:, j]
        s = np.where(np.isfinite(raw), raw, np.nanmin(raw[np.isfinite(raw)]) - 1 if np.isfinite(raw).any() else 0)
        fpr, tpr, _ = roc_curve(pos, s)
        value = coded_figure(coded, "auc", j)  # the figure table's AUC of this class
        auc = format_interval(value, intervals.get(j), missing=None if view.positive is None else "n/a")
        ax.plot(fpr, tpr, lw=2, label=f"{disp} vs rest: AUC {auc}")
    for x, y, fmt, kwargs in points:
        ax.plot(x, y, fmt, **kwargs)
    ax.plot([0, 1], [0, 1], ls="--", c="0.6", lw=1, label="chance")
    xlabel, ylabel = axis_labels or ("1 - specificity (false positive rate)", "sensitivity (true positive rate)")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel=xlabel, ylabel=ylabel)
    # a long protocol ("patient-grouped 5-fold (from the 'Patient ID' column of ...)") wraps rather than
    # running off both sides of the figure
    title = textwrap.fill(title or f"ROC, {view.source}", 48)
    ax.set_title(title, **({"fontsize": 10} if "\n" in title else {}))
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    if legend_below:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=7, frameon=False)
    else:
        ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_confusion_matrix(result, ax=None, normalize: bool = True):
    """Confusion matrix of held-out predictions: colour is the row fraction (recall) when
    ``normalize``, text shows counts and fractions.

    Parameters
    ----------
    result : Report, ExternalValidation or Predictions
    ax : matplotlib Axes, optional
    normalize : bool, default=True

    Returns
    -------
    ax : matplotlib Axes
    """
    view = _view(result)
    ax = _axes(ax, (5, 4.5))
    cm = np.asarray(view.confusion_matrix(), dtype=float)
    frac = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    shown = frac if normalize else cm
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else max(cm.max(), 1))
    k = cm.shape[0]
    for i in range(k):
        for j in range(k):
            dark = shown[i, j] > (0.55 if normalize else 0.55 * cm.max())
            ax.text(j, i, f"{int(cm[i, j])}\n{frac[i, j]:.0%}", ha="center", va="center",
                    color="white" if dark else "black", fontsize=10)
    names = list(view.class_names)
    ax.set_xticks(range(k), names, rotation=30, ha="right")
    ax.set_yticks(range(k), names)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix (row %)")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


def plot_reliability(result, ax=None):
    """Reliability diagram of ``p(positive)``: observed fraction against mean predicted
    probability per bin (marker area: images in the bin), ECE and Brier in the title.

    Parameters
    ----------
    result : ExternalValidation or Predictions
        Held-out predictions with a ``positive`` class.
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    from ..metrics import ECE_BINS

    view = _view(result)
    if view.positive is None or view.scores is None:
        raise ValueError("a reliability diagram needs probabilities and a positive class")
    p = view.scores[:, view.classes.tolist().index(view.positive)]
    outcome = view.y_true == view.positive
    ax = _axes(ax, (5.5, 5))
    bins = [b for b in reliability_curve(p, outcome) if b["n"]]
    x = [b["mean_predicted"] for b in bins]
    y = [b["observed"] for b in bins]
    n = np.array([b["n"] for b in bins], dtype=float)
    ax.plot([0, 1], [0, 1], ls="--", c="0.6", lw=1, label="perfectly calibrated")
    ax.plot(x, y, "-", c="tab:blue", lw=1.5)
    ax.scatter(x, y, s=20 + 300 * n / max(n.max(), 1), c="tab:blue", alpha=0.7, label="bins (area: images)")
    for b in bins:
        ax.annotate(str(b["n"]), (b["mean_predicted"], b["observed"]), textcoords="offset points",
                    xytext=(5, -10), fontsize=7, color="0.3")
    ax.set(xlim=(0, 1), ylim=(-0.02, 1.02), xlabel=f"mean predicted p({view.positive})",
           ylabel=f"observed fraction {view.positive}",
           title=f"Reliability: ECE {format_interval(expected_calibration_error(p, outcome))}, Brier "
                 f"{format_interval(brier_score(p, outcome))} ({ECE_BINS} bins)")
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return ax


def plot_per_class(report, ax=None):
    """Grouped bars: sensitivity, specificity, precision, F1 and AUC per class and macro,
    with bootstrap 95% intervals as error bars.

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _axes(ax, (7.5, 4.2))
    groups = list(zip(report.classes.tolist(), report.class_names)) + [("macro", "macro")]
    width = 0.8 / len(_BAR_METRICS)
    x = np.arange(len(groups))
    for m_i, metric in enumerate(_BAR_METRICS):
        vals, lows, highs = [], [], []
        for lab, _ in groups:
            v = report.value(metric, lab)
            lo, hi = report.interval(metric, lab)
            vals.append(v)
            lows.append(v - lo if np.isfinite(lo) else 0)
            highs.append(hi - v if np.isfinite(hi) else 0)
        vals = np.nan_to_num(np.asarray(vals, dtype=float))
        err = np.clip(np.array([lows, highs], dtype=float), 0, None)
        ax.bar(x + (m_i - (len(_BAR_METRICS) - 1) / 2) * width, vals, width, yerr=err, capsize=2,
               label=metric, error_kw={"lw": 0.8})
    ax.set_xticks(x, [d for _, d in groups])
    ax.set(ylim=(0, 1.05), ylabel="value (95% CI)", title="Per-class metrics (one vs rest)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(ncol=len(_BAR_METRICS), fontsize=8, loc="lower center", bbox_to_anchor=(0.5, -0.28))
    return ax


def plot_comparison(reports: Sequence, metric: str = "accuracy", ax=None):
    """Horizontal bars of one macro metric for several reports, with 95% intervals.

    Returns
    -------
    ax : matplotlib Axes
    """
    reports = list(reports)
    ax = _axes(ax, (7, 0.45 * len(reports) + 1.5))
    vals = np.array([r.value(metric) for r in reports], dtype=float)
    ci = np.array([r.interval(metric) for r in reports], dtype=float)
    err = np.clip(np.nan_to_num(np.array([vals - ci[:, 0], ci[:, 1] - vals])), 0, None)
    y = np.arange(len(reports))[::-1]
    ax.barh(y, np.nan_to_num(vals), xerr=err, capsize=3, color="tab:blue", alpha=0.8)
    for yi, v in zip(y, vals):
        ax.text(0.01, yi, f"{v:.3f}", va="center", color="white", fontsize=8)
    ax.set_yticks(y, [r.name for r in reports], fontsize=8)
    what = "overall accuracy" if metric == "accuracy" else f"macro {metric}"
    ax.set(xlim=(0, 1), xlabel=f"{what}, 95% CI", title=f"Pipelines: {what}")
    ax.grid(axis="x", alpha=0.3)
    return ax


# --------------------------------------------------------------------------- HTML

def figure_png(draw, size) -> bytes:
    """A plot as PNG bytes: ``draw(ax)`` on a headless figure of ``size`` inches (no pyplot state)."""
    from matplotlib.figure import Figure  # no pyplot: works headless, no global state

    fig = Figure(figsize=size, layout="constrained")
    draw(fig.add_subplot())
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", pad_inches=0.1)  # nothing clipped
    return buf.getvalue()


#: The style sheet of every featbus HTML report.
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1400px;
 padding:0 1.5em;color:#222;line-height:1.4}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em;scroll-margin-top:.5em}
p,.verdict,details>summary{max-width:90ch}
nav.toc{background:#f7f7f7;border:1px solid #e3e3e3;padding:.5em 1em;margin:1em 0;font-size:.92em}
nav.toc ol{margin:.3em 0;padding-left:1.4em;columns:2 22em;column-gap:2em} nav.toc li{break-inside:avoid}
nav.toc a{text-decoration:none} nav.toc a:hover{text-decoration:underline}
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,520px),1fr));gap:1em;align-items:start;
 margin:.8em 0} .figs img{display:block;max-width:100%;height:auto;margin:0 auto;border:1px solid #eee}
.tables{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}
.tables .caption{font-size:.8em;color:#555;margin:.6em 0 0;max-width:24em}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:.8em}
.gallery figure{margin:0;font-size:.75em} .gallery img{display:block;max-width:100%;border:1px solid #eee}
.gallery code{display:block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.25em .5em;text-align:right}
th{background:#f3f3f3} .wide{overflow-x:auto;max-width:100%} td:first-child,th:first-child{text-align:left}
.plots{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start} .plots img{max-width:100%;border:1px solid #eee}
.note{color:#555;font-size:.9em} pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.8em}
.verdict{border-left:.4em solid #888;padding:.3em .8em;margin:.6em 0;background:#fafafa}
.verdict-useful{border-color:#2a7d2a} .verdict-limited{border-color:#d08a00} .verdict-useless{border-color:#c0392b}
.verdict ul{margin:.2em 0}
"""


def verdict_html(verdict, name: str | None = None) -> str:
    """The model-sanity verdict as an HTML block for the top of a report.

    Parameters
    ----------
    verdict : featbus.evaluation.sanity.Verdict
    name : str, optional
        What was judged (a pipeline's name), when a page holds several.

    Returns
    -------
    html : str
        A ``<div class="verdict verdict-<verdict>">`` with the verdict and one item per reason.

    Examples
    --------
    >>> from featbus.evaluation.reporting import verdict_html
    >>> from featbus.evaluation.sanity import Verdict
    >>> verdict_html(Verdict("useless", ("no better than always answering 'normal'",)))[:60]
    '<div class="verdict verdict-useless"><b>Verdict: useless</b>'
    """
    who = f" &mdash; {html.escape(name)}" if name else ""
    basis = f' <span class="note">({html.escape(verdict.basis)})</span>' if verdict.basis else ""
    items = "".join(f"<li>{html.escape(r)}</li>" for r in verdict.reasons)
    return (f'<div class="verdict verdict-{html.escape(verdict.verdict)}"><b>Verdict: {html.escape(verdict.verdict)}'
            f"</b>{who}{basis}<ul>{items}</ul></div>")


def img_tag(data: bytes, alt: str) -> str:
    """PNG bytes as an ``<img>`` with the image embedded (a self-contained page)."""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _slug(text: str) -> str:
    keep = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(p for p in keep.split("-") if p)[:60] or "report"


def _metrics_html(report) -> str:
    head = "<tr><th>class</th>" + "".join(f"<th>{m}</th>" for m in PER_CLASS_METRICS) + "</tr>"
    rows = []
    for lab, disp in list(zip(report.classes.tolist(), report.class_names)) + [("macro", "macro")]:
        cells = "".join(f"<td>{html.escape(_ci_text(report, m, lab))}</td>" for m in PER_CLASS_METRICS)
        rows.append(f"<tr><td><b>{html.escape(str(disp))}</b></td>{cells}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def confusion_counts(matrix, names):
    """True and false positives and negatives of each class, one class against the rest.

    For class ``c``: TP are images of ``c`` predicted ``c``, FN images of ``c`` predicted as
    another class, FP images of another class predicted ``c`` and TN the images neither of ``c``
    nor predicted ``c``. Each row sums to the number of images; sensitivity is TP / (TP + FN),
    specificity TN / (TN + FP), precision TP / (TP + FP). What
    :meth:`featbus.evaluation.Report.confusion_counts` and
    :meth:`featbus.evaluation.validation.ExternalValidation.confusion_counts` return.

    Parameters
    ----------
    matrix : array-like of shape (n_classes, n_classes)
        Counts, rows true, columns predicted.
    names : sequence of str
        The classes, in the matrix's order.

    Returns
    -------
    counts : pandas.DataFrame
        One row per class (index ``"class"``), integer columns ``TP, FN, FP, TN``.

    Examples
    --------
    >>> from featbus.evaluation.reporting import confusion_counts
    >>> confusion_counts([[5, 1], [2, 3]], ["benign", "malignant"]).loc["malignant"].tolist()
    [3, 2, 1, 5]
    """
    import pandas as pd

    cm = np.asarray(matrix, dtype=int)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(names):
        raise ValueError(f"a confusion matrix of {len(names)} classes must be {len(names)} x {len(names)}, "
                         f"got shape {cm.shape}")
    tp = np.diag(cm)
    fn = cm.sum(axis=1) - tp
    fp = cm.sum(axis=0) - tp
    tn = cm.sum() - tp - fn - fp
    return pd.DataFrame({"TP": tp, "FN": fn, "FP": fp, "TN": tn},
                        index=pd.Index([str(c) for c in names], name="class"))


#: What the four counts mean, said once under every table of them.
COUNTS_CAPTION = ("one vs rest: TP the class's images called it, FN its images called another class, "
                  "FP other images called it, TN other images not called it")


def counts_text(counts, width: int = 0, indent: str = "") -> list[str]:
    """The lines of a plain-text TP / FN / FP / TN table (:func:`confusion_counts`): a header
    naming the columns, one line per class and a last line saying what the counts are.

    Parameters
    ----------
    counts : pandas.DataFrame
        From :func:`confusion_counts`.
    width : int, default=0
        The least width of the class column (to line up with a table above it).
    indent : str, default=""
        Put before every line.

    Returns
    -------
    lines : list of str

    Examples
    --------
    >>> from featbus.evaluation.reporting import confusion_counts, counts_text
    >>> lines = counts_text(confusion_counts([[5, 1], [2, 3]], ["benign", "malignant"]))
    >>> print("\\n".join(lines[:3]))
    one vs rest      TP     FN     FP     TN
    benign            5      1      2      3
    malignant         3      2      1      5
    >>> lines[3][:45]
    "(one vs rest: TP the class's images called it"
    """
    w = max(width, len("one vs rest"), *(len(str(c)) for c in counts.index))
    lines = [f"{indent}{'one vs rest':{w}}  " + " ".join(f"{c:>6}" for c in counts.columns)]
    lines += [f"{indent}{str(name):{w}}  " + " ".join(f"{int(v):>6d}" for v in row)
              for name, row in zip(counts.index, counts.to_numpy())]
    return lines + [f"{indent}({COUNTS_CAPTION})"]


def counts_html(counts) -> str:
    """An HTML table of TP / FN / FP / TN per class (:func:`confusion_counts`) with its caption.

    Parameters
    ----------
    counts : pandas.DataFrame
        From :func:`confusion_counts`.

    Returns
    -------
    html : str

    Examples
    --------
    >>> from featbus.evaluation.reporting import confusion_counts, counts_html
    >>> "<td>3</td><td>2</td><td>1</td><td>5</td>" in counts_html(confusion_counts([[5, 1], [2, 3]], ["b", "m"]))
    True
    """
    head = "<tr><th>class</th>" + "".join(f"<th>{c}</th>" for c in counts.columns) + "</tr>"
    rows = "".join(f"<tr><td><b>{html.escape(str(name))}</b></td>" + "".join(f"<td>{int(v)}</td>" for v in row)
                   + "</tr>" for name, row in zip(counts.index, counts.to_numpy()))
    return f"<table>{head}{rows}</table><p class='caption'>{html.escape(COUNTS_CAPTION.capitalize())}.</p>"


def _counts_html(report) -> str:
    """TP / FN / FP / TN per class (one vs rest) of a Report."""
    return counts_html(report.confusion_counts())


# the columns of featbus.evaluation.compare, as a reader should see them
PAIRED_TEST_HEADERS = {
    "a": "pipeline A", "b": "pipeline B", "metric": "metric", "a_value": "score A", "b_value": "score B",
    "difference": "difference A - B", "diff_low": "difference: 95% CI low", "diff_high": "difference: 95% CI high",
    "p_bootstrap": "p (paired bootstrap)", "p_corrected_t": "p (corrected t-test)", "p_mcnemar": "p (McNemar)",
}

_H2 = re.compile(r"<h2(?P<attrs>[^>]*)>(?P<text>.*?)</h2>", re.S)


def _with_contents(body: str) -> tuple[str, str]:
    """Give every ``<h2>`` of ``body`` an ``id`` (kept when it has one) and return ``(body, toc)``:
    the table of contents links to each."""
    seen: dict[str, int] = {}
    entries = []

    def anchor(m):
        attrs, text = m.group("attrs"), m.group("text")
        found = re.search(r'\bid=["\']([^"\']+)["\']', attrs)
        if found:
            ident = found.group(1)
        else:
            base = "s-" + _slug(html.unescape(re.sub(r"<[^>]+>", "", text)))
            seen[base] = seen.get(base, 0) + 1
            ident = base if seen[base] == 1 else f"{base}-{seen[base]}"
            attrs = f' id="{ident}"{attrs}'
        entries.append((ident, text))
        return f"<h2{attrs}>{text}</h2>"

    body = _H2.sub(anchor, body)
    if len(entries) < 2:
        return body, ""
    items = "".join(f'<li><a href="#{html.escape(i)}">{re.sub(r"<[^>]+>", "", t)}</a></li>' for i, t in entries)
    return body, f'<nav class="toc" aria-label="contents"><b>Contents</b><ol>{items}</ol></nav>'


def write_html(reports: Sequence, path: str | Path, *, title: str | None = None,
               comparison=None, notes: Sequence[str] = (), sections: Sequence[str] = ()) -> Path:
    """Write a self-contained HTML report of one or several reports.

    The page opens with its title, a table of contents (a link to every section) and the
    verdicts; figures are laid out two to a row on a wide screen, one on a narrow one.

    Parameters
    ----------
    reports : sequence of Report
        Each report's model-sanity verdict opens the page (:func:`verdict_html`). Several
        reports (pipelines evaluated on the same folds) get a comparison table and
        chart first; then each report has its metrics table, its TP / FN / FP / TN counts per
        class (:meth:`~featbus.evaluation.Report.confusion_counts`), ROC curves, confusion
        matrix, per-class bars and per-fold values.
    path : str or Path
        The HTML file (a folder, or a name without suffix, gets ``report.html`` in it). It is the
        only file written: every figure is embedded in it once, as a PNG data URI, so the page
        stays whole when it is moved, mailed or archived. To reuse a figure elsewhere, draw it
        with :func:`plot_roc`, :func:`plot_confusion_matrix`, :func:`plot_per_class` or
        :func:`plot_comparison` and save it.
    title : str, optional
    comparison : pandas.DataFrame, optional
        A :func:`featbus.evaluation.compare` table to include (its columns are shown under the
        names of :data:`PAIRED_TEST_HEADERS`, e.g. ``p_corrected_t`` as "p (corrected t-test)").
    notes : sequence of str
        Paragraphs shown under the title (data set, features, caveats).
    sections : sequence of str
        HTML sections (e.g. :func:`header_html`, :func:`gallery_html`) placed after the comparison;
        each ``<h2>`` heading in them gets an anchor and a line in the table of contents.

    Returns
    -------
    path : Path
        The HTML file written.
    """

    reports = list(reports)
    if not reports:
        raise ValueError("write_html needs at least one report")
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        path = path / "report.html" if (path.is_dir() or not path.suffix) else path.with_suffix(".html")
    path.parent.mkdir(parents=True, exist_ok=True)
    title = title or (reports[0].name if len(reports) == 1 else "featbus evaluation")

    def figure(draw, size, alt: str) -> str:
        return img_tag(figure_png(draw, size), alt)

    top = [f'<h1 id="top">{html.escape(title)}</h1>']
    # first what a reader must know before any figure: whether the model is of any use
    parts = [verdict_html(r.sanity, r.name if len(reports) > 1 else None) for r in reports
             if getattr(r, "sanity", None) is not None]
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in notes]
    r0 = reports[0]
    cv_text = str(r0.cv)  # the groups resampled: as the folds name them
    units = ("" if r0.groups is None else " of near-duplicate groups" if cv_text.startswith("duplicate-grouped")
             else " of patients" if cv_text.startswith("patient-grouped") else " of groups")
    parts.append(f'<p class="note">{len(r0.y_true)} samples, {html.escape(r0.cv)}; every value is computed '
                 f"from held-out predictions, with a bootstrap 95% interval ({r0.n_bootstrap} resamples"
                 f"{units}). Macro accuracy is the overall "
                 "fraction correct; other macro values are unweighted means over classes.</p>")
    if len(reports) > 1:
        parts.append('<h2>Comparison</h2><div class="wide">' + comparison_with_intervals(reports).to_html()
                     + "</div>")
        size = (7.5, 0.4 * len(reports) + 1.6)
        chart = figure(lambda ax: plot_comparison(reports, "accuracy", ax), size, "accuracy of each pipeline")
        chart_auc = figure(lambda ax: plot_comparison(reports, "auc", ax), size, "AUC of each pipeline")
        parts.append(f'<div class="figs">{chart}{chart_auc}</div>')
    if comparison is not None:
        shown = comparison.rename(columns=PAIRED_TEST_HEADERS)
        parts.append("<h2>Paired tests</h2>" + '<p class="note">Difference A &minus; B with its paired bootstrap 95% '
                     "interval and p-value; corrected resampled t-test over folds (Nadeau and Bengio, 2003); "
                     "McNemar's exact test on discordant predictions (accuracy only).</p>"
                     + '<div class="wide">' + shown.to_html(index=False, float_format=lambda v: f"{v:.3g}")
                     + "</div>")
    parts += list(sections)
    for r in reports:
        parts.append(f"<h2>{html.escape(r.name)}</h2>")
        parts.append(f'<div class="tables"><div>{_metrics_html(r)}</div><div>{_counts_html(r)}</div></div>')
        imgs = []
        if r.scores is not None:
            imgs.append(figure(lambda ax, r=r: plot_roc(r, ax), (5.6, 5.2), "ROC curves"))
        imgs.append(figure(lambda ax, r=r: plot_confusion_matrix(r, ax), (5, 4.4), "confusion matrix"))
        imgs.append(figure(lambda ax, r=r: plot_per_class(r, ax), (7.6, 4.4), "per-class metrics"))
        parts.append(f'<div class="figs">{"".join(imgs)}</div>')
        parts.append("<details><summary>per-fold values and estimator</summary>"
                     + r.fold_metrics().to_html(float_format=lambda v: f"{v:.3f}")
                     + f"<pre>{html.escape(r.estimator)}</pre></details>")
    body, toc = _with_contents("".join(parts))
    doc = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
           f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
           f"<style>{CSS}</style></head><body>{''.join(top)}{toc}{body}</body></html>")
    from ..io import write_file

    return write_file(path, doc)


# --------------------------------------------------------------------------- header, gallery, intensity

def header_html(info: dict) -> str:
    """A table of what a reader needs to reproduce the report (version, command, seed, date, settings).

    Parameters
    ----------
    info : dict
        ``{label: value}``; a dict value (e.g. extractor settings) becomes a nested list.

    Examples
    --------
    >>> "featbus" in header_html({"featbus": "0.1.0", "extractors": {"lbp": {"P": 8}}})
    True
    """
    rows = []
    for key, value in info.items():
        if isinstance(value, dict):
            inner = "<br>".join(f"<b>{html.escape(str(k))}</b>: {html.escape(str(v))}" for k, v in value.items())
            rows.append(f"<tr><th>{html.escape(str(key))}</th><td style='text-align:left'>{inner}</td></tr>")
        else:
            rows.append(f"<tr><th>{html.escape(str(key))}</th><td style='text-align:left'>"
                        f"{html.escape(str(value))}</td></tr>")
    return f"<h2>How this report was made</h2><table>{''.join(rows)}</table>"


def comparison_with_intervals(reports: Sequence, metrics: Sequence[str] = ("accuracy", "f1", "auc")):
    """One row per report: ``value [low, high]`` strings for each metric (a DataFrame).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from featbus.evaluation import evaluate
    >>> y = np.repeat([0, 1], 10)
    >>> X = np.random.RandomState(0).normal(size=(20, 2)) + y[:, None]
    >>> r = evaluate(LogisticRegression(), X, y, cv="stratified", n_splits=2, n_bootstrap=50, name="lr")
    >>> comparison_with_intervals([r]).columns.tolist()
    ['accuracy', 'f1', 'auc']
    """
    import pandas as pd

    rows = {r.name: {m: _ci_text(r, m) for m in metrics} for r in reports}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("pipeline")


def _thumbnail_png(image: np.ndarray, side: int = 112) -> bytes:
    from PIL import Image

    from .._records import to_float

    im = Image.fromarray((to_float(np.asarray(image)) * 255).round().astype(np.uint8))
    im.thumbnail((side, side))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def gallery_html(report, images: Sequence, paths: Sequence | None = None, *, max_items: int = 48,
                 root: str | Path | None = None) -> str:
    """Thumbnails of misclassified images with their path, true and predicted class.

    Parameters
    ----------
    report : Report
        Its ``y_true`` / ``y_pred`` are aligned with ``images``.
    images : sequence of ndarray
    paths : sequence of str, optional
    max_items : int, default=48
        The first ``max_items`` errors are shown; the heading says how many there are.
    root : str or Path, optional
        The data set's folder: paths under it are shown relative to it (no machine path in a
        page that is shared).

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.evaluation import evaluate_external
    >>> class Always0:
    ...     classes_ = np.array([0, 1])
    ...     def predict(self, X): return np.zeros(len(X), int)
    >>> r = evaluate_external(Always0(), np.zeros((2, 1)), [0, 1], n_bootstrap=0)
    >>> "1 misclassified" in gallery_html(r, [np.zeros((8, 8)), np.ones((8, 8))], ["a.png", "b.png"])
    True
    """
    names = dict(zip(report.classes.tolist(), report.class_names))
    if paths is not None and root is not None:
        import os

        base = os.path.abspath(root)
        paths = [os.path.relpath(os.path.abspath(p), base) if os.path.abspath(p).startswith(base + os.sep) else p
                 for p in map(str, paths)]
    wrong = np.flatnonzero(np.asarray(report.y_true) != np.asarray(report.y_pred))
    cells = []
    for i in wrong[:max_items]:
        path = str(paths[i]) if paths is not None else f"#{i}"
        name = Path(path).name if paths is not None else path  # the file's name; the full path on hover
        cells.append(f'<figure title="{html.escape(path)}">{img_tag(_thumbnail_png(images[i]), path)}'
                     f"<figcaption>true <b>{html.escape(str(names.get(report.y_true[i], report.y_true[i])))}"
                     f"</b>, predicted <b>{html.escape(str(names.get(report.y_pred[i], report.y_pred[i])))}</b>"
                     f"<br><code>{html.escape(name)}</code></figcaption></figure>")
    more = f" (the first {max_items} shown)" if len(wrong) > max_items else ""
    where = ""
    if paths is not None and len(wrong):
        import os

        try:
            common = os.path.commonpath([str(paths[i]) for i in wrong[:max_items]])
        except ValueError:  # absolute and relative paths mixed, or different drives
            common = ""
        under = f" under <code>{html.escape(common)}</code>" if common else ""
        where = f" Captions are file names{under} (hover over an image for its full path)."
    return (f"<h2>Misclassified images: {html.escape(report.name)} ({html.escape(report.cv)})</h2>"
            f"<p class='note'>{len(wrong)} misclassified "
            f"of {len(report.y_true)}{more}.{where}</p><div class='gallery'>{''.join(cells)}</div>")


def plot_intensity_by_class(images: Sequence, y, class_names: Sequence[str], ax=None, bins: int = 64):
    """Grey-level distribution of each class: mean per-image histogram with its 25-75 % band.

    The intensity analysis of the MobileNetV2 BUSI study: do the classes differ in brightness or
    spread before any feature is computed? Images are scaled to [0, 1] as featbus reads them.

    Examples
    --------
    >>> import numpy as np
    >>> from featbus.evaluation.reporting import plot_intensity_by_class
    >>> ax = plot_intensity_by_class([np.zeros((8, 8)), np.ones((8, 8))], [0, 1], ["a", "b"])
    >>> len(ax.lines)
    2
    """
    from .._records import to_float

    ax = _axes(ax, (6.5, 4))
    y = np.asarray(y)
    edges = np.linspace(0, 1, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    hists = np.array([np.histogram(to_float(np.asarray(im)), bins=edges)[0] / np.asarray(im).size for im in images])
    for k, name in enumerate(class_names):
        sel = hists[y == k]
        if not len(sel):
            continue
        mean = sel.mean(axis=0)
        lo, hi = np.percentile(sel, [25, 75], axis=0)
        line, = ax.plot(centres, mean, label=f"{name} (n={len(sel)})")
        ax.fill_between(centres, lo, hi, color=line.get_color(), alpha=0.15)
    ax.set_xlabel("grey level (0..1)")
    ax.set_ylabel("fraction of pixels")
    ax.set_title("grey-level distribution per class (mean, 25-75 % band)")
    ax.legend()
    return ax


def intensity_html(images: Sequence, y, class_names: Sequence[str]) -> str:
    """The per-class intensity plot as an HTML section (embedded PNG)."""
    data = figure_png(lambda ax: plot_intensity_by_class(images, y, class_names, ax), (7, 4.2))
    img = img_tag(data, "grey-level distribution per class")
    return "<h2>Intensity per class</h2>" + f'<div class="figs">{img}</div>'


def comparison_table(reports: Iterable):
    """One row per report: macro metrics with intervals and per-class AUCs (a DataFrame).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from featbus.evaluation import evaluate, comparison_table
    >>> y = np.repeat([0, 1], 10)
    >>> X = np.random.RandomState(0).normal(size=(20, 2)) + y[:, None]
    >>> r = evaluate(LogisticRegression(), X, y, cv="stratified", n_splits=2, n_bootstrap=0, name="lr")
    >>> list(comparison_table([r]).index)
    ['lr']
    """
    import pandas as pd

    reports = list(reports)
    return pd.DataFrame([r.headline() for r in reports], index=pd.Index([r.name for r in reports], name="pipeline"))


def predictions_html(table, path: str | Path, *, title: str = "featbus predictions", about: str = "") -> Path:
    """Write one page of explained predictions: per image its overlay, class and probabilities.

    What ``featbus predict --explain DIR`` writes as ``DIR/report.html``, beside the overlays.

    Parameters
    ----------
    table : pandas.DataFrame
        From :meth:`featbus.model.FeatbusModel.predict_table`, with an ``explanation`` column
        (the overlay PNG of each image, empty for images that were skipped). Its ``rule`` (what
        decided ``predicted``) heads the page; a two-decision model's ``p_lesion`` and
        ``p_<positive>_given_lesion`` are shown under the class probabilities as the scores
        the rule compares with its two thresholds.
    path : str or Path
        The HTML file; overlays are linked by their path relative to its folder.
    title : str
        Heading of the page.
    about : str
        A paragraph on the model (e.g. :meth:`featbus.model.FeatbusModel.describe`).

    Returns
    -------
    path : Path

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> table = pd.DataFrame({"image": ["a.png"], "predicted": ["benign"], "p_benign": [0.9],
    ...                       "p_malignant": [0.1], "error": [""], "explanation": [""]})
    >>> page = predictions_html(table, pathlib.Path(tempfile.mkdtemp()) / "report.html")
    >>> "benign" in page.read_text()
    True
    """
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a two-decision model's two scores (predict_table puts them after the class columns) are not classes
    given = [c for c in table.columns if c.startswith("p_") and c.endswith("_given_lesion")]
    scores = (["p_lesion"] if given and "p_lesion" in table.columns else []) + given
    classes = [c[2:] for c in table.columns if c.startswith("p_") and c not in scores]
    labels = {c: "p(lesion)" if c == "p_lesion" else f"p({c[2:-len('_given_lesion')]} | lesion)" for c in scores}
    rules = sorted({str(r) for r in table["rule"] if isinstance(r, str) and r}) if "rule" in table.columns else []
    cards = []
    def text(value) -> str:  # a table read back from CSV has NaN in empty cells
        return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)

    for _, row in table.iterrows():
        if text(row.get("error")):
            cards.append(f"<figure class='card'><figcaption><code>{html.escape(str(row['image']))}</code><br>"
                         f"<b>not predicted</b>: {html.escape(str(row['error']))}</figcaption></figure>")
            continue
        picture = ""
        overlay_path = text(row.get("explanation"))
        if overlay_path:
            rel = os.path.relpath(overlay_path, path.parent)
            picture = f"<img src='{html.escape(rel)}' alt='explanation of {html.escape(str(row['image']))}'>"
        probs = "".join(f"<tr><td>{html.escape(c)}</td><td>{float(row['p_' + c]):.3f}</td></tr>" for c in classes)
        probs += "".join(f"<tr><td><i>{html.escape(labels[c])}</i></td><td>{float(row[c]):.3f}</td></tr>"
                         for c in scores)
        cards.append(f"<figure class='card'>{picture}<figcaption><code>{html.escape(str(row['image']))}</code>"
                     f"<br>predicted <b>{html.escape(str(row['predicted']))}</b><table>{probs}</table>"
                     "</figcaption></figure>")
    # wide enough for the figure's colour bar and its label to be read
    css = CSS + (".card{margin:0;width:604px} .card img{width:600px;border:1px solid #ddd} "
                  ".card code{overflow-wrap:anywhere}")  # long paths wrap inside their card
    doc = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
           f"<style>{css}</style></head><body><h1>{html.escape(title)}</h1>"
           + "".join(f"<p><b>Decided by</b>: {html.escape(r)}</p>" for r in rules) +
           f"<p class='note'>{html.escape(about).replace(chr(10), '<br>')}</p>"
           "<p class='note'>Overlays (the method in each file's name), each with its colour bar. Occlusion: red "
           "where hiding a region lowers the predicted class's probability (the region supports it), blue where "
           "hiding it raises that probability; faint colour is a small change. Grad-CAM: brighter where the "
           "network's features raise the predicted class, 0 to 1.</p>"
           f"<div class='plots'>{''.join(cards)}</div></body></html>")
    from ..io import write_file

    return write_file(path, doc)


# --------------------------------------------------------------------------- training

def plot_learning_curves(histories: Sequence[dict], ax=None):
    """Training and validation loss per epoch, and accuracy and macro-F1, of trained networks.

    The training accuracy and F1 come from the training batches during each epoch (augmented,
    dropout on), so they run below what the network scores at the epoch's end.

    Parameters
    ----------
    histories : sequence of dict
        ``history_`` of each network (:func:`featbus.networks.training.train`): an ensemble's members
        are drawn side by side in shades of one colour.
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> h = {"epochs": [{"epoch": 0, "phase": "warmup", "loss": 1.0, "val_loss": 0.9, "val_accuracy": 0.5},
    ...                 {"epoch": 1, "phase": "finetune", "loss": 0.7, "val_loss": 0.8, "val_accuracy": 0.6}],
    ...      "best_epoch": 1}
    >>> plot_learning_curves([h]).get_xlabel()
    'epoch'
    """
    ax = _axes(ax, (7, 4.2))
    twin = ax.twinx()
    for i, h in enumerate(histories):
        epochs = h.get("epochs", [])
        x = [e["epoch"] + 1 for e in epochs]
        tag = f" (network {i + 1})" if len(histories) > 1 else ""
        shade = 0.15 * i
        ax.plot(x, [e.get("loss") for e in epochs], color=(0.12 + shade, 0.47, 0.71), lw=1.6,
                label=f"training loss{tag}")
        if any("val_loss" in e for e in epochs):
            ax.plot(x, [e.get("val_loss") for e in epochs], color=(1.0, 0.5 + shade / 2, 0.05), lw=1.6,
                    label=f"validation loss{tag}")
        # (key, colour, line style, label) of the scores on the right axis, where the history has them
        for key, colour, style, label in (
                ("val_accuracy", (0.17, 0.63 - shade / 2, 0.17), "--", "validation accuracy"),
                ("val_f1", (0.58, 0.40 - shade / 2, 0.74), "--", "validation macro-F1"),
                ("train_accuracy", (0.17, 0.63 - shade / 2, 0.17), ":", "training accuracy (batches)"),
                ("train_f1", (0.58, 0.40 - shade / 2, 0.74), ":", "training macro-F1 (batches)")):
            if any(key in e for e in epochs):
                twin.plot(x, [e.get(key) for e in epochs], color=colour, lw=1.2, ls=style, label=f"{label}{tag}")
        best = h.get("best_epoch")
        if best is not None and 0 <= best < len(epochs):
            ax.axvline(best + 1, color="0.6", lw=0.8, ls=":")
        warm = [e["epoch"] + 1 for e in epochs if e.get("phase") == "warmup"]
        if warm and i == 0:
            ax.axvspan(0.5, max(warm) + 0.5, color="0.93", zorder=0)
    ax.set(xlabel="epoch", ylabel="loss (class-weighted cross-entropy)",
           title="learning curves (grey: head-only warm-up; dotted: kept epoch)")
    twin.set_ylabel("accuracy / macro-F1")
    twin.set_ylim(0, 1)
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)
    return ax


def learning_curves_html(histories: Sequence[dict], path: str | Path | None = None) -> str:
    """An HTML section with :func:`plot_learning_curves` and how training ended (PNG also
    written to ``path`` when given)."""
    data = figure_png(lambda ax: plot_learning_curves(histories, ax), (7.5, 4.4))
    if path is not None:
        Path(path).write_bytes(data)
    from ..networks.training import STOPPED_REASONS as stopped

    ends = "; ".join(f"network {i + 1}: {len(h.get('epochs', []))} epochs, kept epoch "
                     f"{(h.get('best_epoch') or 0) + 1}, {stopped.get(h.get('stopped'), h.get('stopped'))}, "
                     f"{h.get('seconds', 0):.0f} s on {h.get('backend')} / {h.get('device')}"
                     for i, h in enumerate(histories))
    return (f'<h2>Training</h2><p class="note">{html.escape(ends)}</p>'
            f'<div class="figs">{img_tag(data, "learning curves")}</div>')
