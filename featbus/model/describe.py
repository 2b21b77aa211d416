"""A model file described from its manifest alone: what ``featbus inspect`` and
:meth:`FeatbusModel.describe <featbus.model.FeatbusModel.describe>` print.

The description reads the stored figures (cross-validation, leave-one-site-out, training runs,
operating point) as plain data: it imports none of the judges that made them, so the file
format (:mod:`featbus.model.format`) stands below :mod:`featbus.evaluation`.
"""

from __future__ import annotations

from ..metrics import format_interval, share_interval
from .trust import printable

__all__ = ["data_name", "describe_manifest", "input_scale_lines", "site_cv_lines", "shipped_card", "own_card_figures",
           "card_parts", "calibration_k", "CARD_PARTS", "moved_words"]

#: The four parts of a shipped classifier's card, in the order they are quoted (its card data's keys).
CARD_PARTS = ("leave_one_site_out", "after_alignment", "calibration", "presence")


def data_name(source) -> str | None:
    """The training data's name from a manifest's ``data.source``: each location's base name.

    A model file names its training data (with its counts and content hash), not the folders of
    the machine that trained it: ``"/home/ann/data/busi, /mnt/busbra/"`` -> ``"busi, busbra"``.
    New files store the name; older files stored absolute paths, printed through this as their
    base names.

    Parameters
    ----------
    source : str or None

    Returns
    -------
    str or None

    Examples
    --------
    >>> data_name("/home/ann/data/busi, /mnt/busbra/")
    'busi, busbra'
    >>> data_name("busi") is None, data_name(None)
    (False, None)
    """
    if not source:
        return None
    names = []
    for part in str(source).split(", "):
        part = part.strip().rstrip("/\\")
        names.append(part.replace("\\", "/").rsplit("/", 1)[-1] or part)
    return ", ".join(names)


def input_scale_lines(manifest: dict) -> list[str]:
    """The lines on the scale a model brings its images to (:func:`featbus.model.scale.input_scale_of`): the
    longer side, and the physical scale where the file records one (``featbus inspect``, ``featbus train``'s
    summary and report).

    Examples
    --------
    >>> input_scale_lines({"input_scale": {"longer_side_px": 320, "from": "chosen"}})
    ['input scale: 320 px on the longer side (chosen); every image is brought to it']
    >>> input_scale_lines({"input_scale": {"longer_side_px": 320, "from": "chosen",
    ...                                    "pixel_size": {"size": 0.1, "unit": "mm", "from": "the median"}}})[1][:50]
    '  physical scale: pixel size 0.1 mm, the median; a'
    """
    from .scale import input_scale_of, pixel_words

    scale = input_scale_of(manifest)
    if not scale["longer_side_px"]:
        return [f"input scale: native size ({scale['from']})"]
    pixel = scale.get("pixel_size")
    return [f"input scale: {scale['longer_side_px']} px on the longer side ({scale['from']}); "
            + ("an image without a pixel size is brought to it" if pixel else "every image is brought to it")] + (
        [f"  physical scale: pixel size {pixel_words(pixel)}, {pixel.get('from') or 'recorded'}; an image that "
         "gives its pixel size in that unit is brought to it (shrunk only)"] if pixel else [])


def describe_manifest(manifest: dict) -> str:
    """A few lines about a model from its manifest alone: recipe, training data, cross-validation
    results, training runs, versions, date (:meth:`~featbus.model.FeatbusModel.describe`, ``featbus inspect``).

    Every text taken from the file is printed escaped (:func:`featbus.model.trust.printable`):
    a line break or a terminal escape in a note or a class name cannot add a line of its own."""
    def clean(obj):
        if isinstance(obj, dict):
            return {clean(k): clean(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return printable(obj) if isinstance(obj, str) else obj

    m = clean(manifest)
    r, d, cv = m.get("recipe", {}), m.get("data", {}), m.get("cv") or {}
    lines = [f"featbus model: {r.get('features')} -> {r.get('classifier')}"
             + (f" (+{r.get('balance')})" if r.get("balance") else "")
             + (f", probabilities: {r.get('calibration')}" if r.get("calibration") else ""),
             f"classes: {', '.join(map(str, m.get('classes', [])))}",
             (f"trained on {d.get('n_images')} images {d.get('counts')}"
              + (f" from {data_name(d.get('source'))}" if d.get("source") else " given in Python")
              + " "
              f"(content sha256 {str(d.get('sha256'))[:12]}...), seed {m.get('random_state')}, "
              f"{m.get('created')}")]
    search = r.get("search") if isinstance(r.get("search"), dict) else {}
    if isinstance(search.get("chosen"), dict):  # featbus train --search: the parameters the model was fitted with
        chosen = ", ".join(f"{str(k).split('__')[-1]}={v}" for k, v in search["chosen"].items())
        score = search.get("inner_score")
        lines.append(f"grid search: {chosen}, chosen on {search.get('chosen_on')} by {search.get('inner_cv')}"
                     + (f" (inner {search.get('scoring')} {score:.3f}, the search's own: optimistic)"
                        if isinstance(score, (int, float)) else "") + "; the cross-validation below is nested")
    if cv:
        # the malignant-vs-rest AUC (what validate compares with) beside the macro one; files from
        # before per-class AUCs were stored print what they have
        malignant = (cv.get("per_class_auc") or {}).get("malignant")
        many = len(m.get("classes", [])) > 2  # "auc" is the macro one-vs-rest AUC; of two classes, the one AUC
        auc_name = "macro auc" if many else "malignant auc" if isinstance(malignant, dict) else "auc"
        shown = {"accuracy": cv.get("accuracy"), "f1": cv.get("f1"), auc_name: cv.get("auc")}
        if many and isinstance(malignant, dict):
            shown["malignant auc"] = malignant
        parts = []
        for metric, v in shown.items():
            if v and v.get("value") is not None:
                ci = v.get("ci") or [None, None]
                parts.append(f"{metric} {format_interval(v['value'], ci, missing=None)}")
        kind = "held-out validation" if "validation split" in str(cv.get("cv")) else "cross-validation"
        lines.append(f"{kind} ({cv.get('cv')}): " + ", ".join(parts))
        if cv.get("decisions"):  # the figures judge the decisions the file makes
            lines.append(f"  decisions: {cv['decisions']}")
        elif m.get("operating_point"):  # a file from before the figures were made at its point
            lines.append("  decisions: these figures are at the most probable class; this file decides by its "
                         "operating point (below)")
        if cv.get("caveat"):
            lines.append(f"  caveat: {cv['caveat']}")
    if m.get("site_cv"):  # several sites: each predicted by the recipe trained on the others
        # the honest figure quoted is the one that measured this recipe: the shipped classifier's own card,
        # never a backbone card's row about another recipe (a two-decision recipe is none of them)
        lines += site_cv_lines(m["site_cv"], own=own_card_figures(shipped_card(manifest)),
                               other_recipe=bool(r.get("decisions")))
    lines += input_scale_lines(m)
    tr = m.get("training")
    if tr:
        from ..networks.training import STOPPED_REASONS as _STOPPED

        runs = tr.get("members") or []
        lines.append(f"{'training' if runs else 'networks ran'} on {tr.get('backend')} / {tr.get('device')}"
                     + (": " if runs else "") + "; ".join(
            f"{epochs_text(h)}, kept epoch {(h.get('best_epoch') or 0) + 1} "
            f"({_STOPPED.get(h.get('stopped'), h.get('stopped'))}), {h.get('seconds', 0):.0f} s" for h in runs))
    if r.get("preprocessing"):
        lines.append("preprocessing: " + " -> ".join(r["preprocessing"]))
    seg = m.get("segmenter")
    if seg:
        lines.append(f"lesion ROI: {seg.get('class')} ({seg.get('obtained')}), box margin "
                     f"{seg.get('roi', {}).get('margin')}; no lesion found: whole image")
    ad, op = m.get("adaptation"), m.get("operating_point")
    if ad:  # featbus.adapt
        lab = ad.get("labels") or {}
        parent = (m.get("parent") or {}).get("name") or (ad.get("source") or {}).get("file") or "its parent"
        lines.append(f"adapted to a site: {moved_words(ad, str(parent))}")
        lines.append(f"  on {ad.get('n_images')} images (content sha256 "
                     f"{str(ad.get('sha256'))[:12]}...), " + (f"{lab.get('n_images')} labelled {lab.get('counts')}"
                                                               if ad.get("labelled") else "unlabelled")
                     + f", {ad.get('date')}")
    if op:  # both points of a two-decision model, each with where it came from; then the rule as predict writes it
        from .provenance import stored_operating_point  # figures on images a trained part saw say so

        point = stored_operating_point(m)
        lines.append(f"operating point{' (two decisions)' if point.two_decisions else ''}: {point.describe()}")
        lines.append(f"  rule (predict's 'rule' column): {point.rule_text()}")
    lines += [f"note: {n}" for n in m.get("notes", [])]
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items()))
    return "\n".join(lines)


def _threshold(value) -> str:
    from ..metrics import threshold_text

    return "none" if value is None else threshold_text(value)


def moved_words(record: dict, parent: str) -> str:
    """What an adaptation moved (its record's ``moved``, :func:`featbus.adapt`), in one phrase: each
    threshold ``before -> after``, the statistics re-estimated, a score alignment added; with nothing
    moved, that the file is its parent plus a site record.

    Examples
    --------
    >>> from featbus.model.describe import moved_words
    >>> moved_words({"moved": {}}, "breast-us")
    'nothing moved: the file is breast-us plus a site record'
    >>> moved_words({"moved": {"threshold": [0.177, 0.0902]}, "two_decisions": {}}, "breast-us")
    'moved: the malignancy threshold 0.177 -> 0.0902'
    """
    moved = record.get("moved")
    if moved is None:  # a file adapted before the record said so
        method = record.get("method")
        return f"statistics re-estimated ({method})" if method and method != "none" else "see its record"
    two = "two_decisions" in record
    names = {"presence_threshold": "the presence threshold",
             "threshold": "the malignancy threshold" if two else "the operating point's threshold"}
    said = [f"{names[k]} {_threshold(moved[k][0])} -> {_threshold(moved[k][1])}" for k in names if k in moved]
    if moved.get("statistics"):
        n = moved["statistics"]
        said.append(f"statistics re-estimated ({record.get('method')}: {n} part{'s' if n > 1 else ''} of the model)")
    if moved.get("score_alignment"):
        said.append("its scores aligned to the site")
    return "moved: " + "; ".join(said) if said else f"nothing moved: the file is {parent} plus a site record"


def site_cv_lines(entry: dict, *, own: dict | None = None, other_recipe: bool = False) -> list[str]:
    """A leave-one-site-out figure as lines of text (what ``featbus train``, ``featbus evaluate``
    and ``featbus inspect`` print).

    Parameters
    ----------
    own : dict, optional
        The model's own card's honest figures (:func:`own_card_figures`: the classifier featbus
        ships), quoted in place of any stored card's.
    other_recipe : bool, default=False
        Whether the stored card's row measured another recipe than this model's (a two-decision
        model's): then it is not quoted.
    entry : dict
        :meth:`SiteReport.to_dict`, or a model file's manifest ``site_cv``.

    Returns
    -------
    lines : list of str
        A header, then one line per held-out site.

    Examples
    --------
    >>> from featbus.model.describe import site_cv_lines
    >>> entry = {"name": "svm", "positive": "malignant", "n_bootstrap": 0, "sites": [
    ...     {"site": "a", "n_images": 20, "trained_on": ["b"], "n_train": 30,
    ...      "accuracy": {"value": 0.7, "ci": [None, None]}, "balanced_accuracy": {"value": 0.65, "ci": [None, None]},
    ...      "auc": None, "sensitivity": {"value": 0.5, "ci": [None, None]},
    ...      "notes": ["no malignant AUC: the site needs malignant and other images"]}]}
    >>> print("\\n".join(site_cv_lines(entry)))  # doctest: +NORMALIZE_WHITESPACE
    leave one site out (svm, trained on the other sites and tested on each, decided at the most probable
    class; point values, no intervals):
      a held out (20 images; trained on b, 30 images): accuracy 0.700, balanced accuracy 0.650,
      sensitivity[malignant] 0.500; no malignant AUC: the site needs malignant and other images
    """
    def fig(label, v):
        if not isinstance(v, dict) or v.get("value") is None:
            return None
        return f"{label} {format_interval(v['value'], v.get('ci'))}"

    positive = entry.get("positive")
    n_boot = entry.get("n_bootstrap") or 0
    card = entry.get("card") if isinstance(entry.get("card"), dict) else {}
    if own:
        card = own
    elif other_recipe:
        card = {}
    # the sites' figures are the classifier's most probable class, not a stored operating point: said here
    lines = [f"leave one site out ({entry.get('name')}, trained on the other sites and tested on each, decided at "
             "the most probable class; "
             + (f"95 % intervals from {n_boot} resamples of each site's groups):" if n_boot else
                "point values, no intervals):")]
    for s in entry.get("sites") or []:
        parts = [fig("accuracy", s.get("accuracy")), fig("balanced accuracy", s.get("balanced_accuracy")),
                 fig(f"AUC[{positive}]", s.get("auc")), fig(f"sensitivity[{positive}]", s.get("sensitivity"))]
        notes = [str(n) for n in s.get("notes") or []]
        lines.append(f"  {s.get('site')} held out ({s.get('n_images')} images; trained on "
                     f"{', '.join(map(str, s.get('trained_on') or []))}, {s.get('n_train')} images): "
                     + ", ".join(x for x in parts if x) + ("; " + "; ".join(notes) if notes else "")
                     + _seen_mark(s, card))
    seen = [str(s.get("site")) for s in entry.get("sites") or [] if s.get("seen_by")]
    if seen:
        n = len(entry.get("sites") or [])
        lines.append(f"  a trained part of the model saw {len(seen)} of these {n} held-out sites: "
                     + ("their" if len(seen) > 1 else "its") + " figures are optimistic, not what a new hospital "
                     "will see, and the verdict leaves " + ("them" if len(seen) > 1 else "it") + " out")
    if card.get("sites"):
        order = [str(s.get("site")) for s in entry.get("sites") or [] if str(s.get("site")) in card["sites"]]
        lines.append(f"  honest leave-one-site-out for this recipe (the {card.get('card')} card, every part rebuilt "
                     f"without the site; {card.get('label')}; {card.get('figure', 'benign-vs-malignant AUC')}): "
                     + " / ".join(f"{site} {float(card['sites'][site]['auc'][0]):.2f}" for site in order))
    return lines


def shipped_card(manifest: dict) -> dict | None:
    """The card of the classifier featbus ships when ``manifest`` is its own, else ``None``
    (:func:`featbus.networks.pretrained.shipped_classifier_card`)."""
    from ..networks.pretrained import shipped_classifier_card

    return shipped_classifier_card(manifest)


def own_card_figures(card: dict | None) -> dict | None:
    """A shipped classifier's card's leave-one-site-out AUCs as :func:`site_cv_lines` quotes a card
    (``card``, ``label``, ``sites``: site -> ``{"card_site", "auc"}``); ``None`` without them."""
    before = ((card or {}).get("leave_one_site_out") or {}).get("before") or {}
    sites = {s: {"card_site": s, "auc": list(f["auc"])} for s, f in before.items()
             if isinstance(f, dict) and isinstance(f.get("auc"), list) and len(f["auc"]) == 3}
    if not sites:
        return None
    return {"card": f"{card.get('name', 'classifier')} classifier", "sites": sites,
            "label": "this classifier's own recipe", "figure": "benign-vs-malignant AUC of its lesion images"}


def _band(v, digits: int = 2) -> str:
    """``[value, low, high]`` as ``"0.87 [0.82, 0.91]"``; ``"n/a"`` when missing."""
    if not isinstance(v, (list, tuple)) or not v or v[0] is None:
        return "n/a"
    return format_interval(float(v[0]), [float(x) for x in v[1:3]] if len(v) >= 3 else None, digits=digits)


def _share_band(v, n) -> str:
    """A share of ``n`` images as :func:`_band` writes it; a stored interval of no width (a
    percentile bootstrap of 0 of 111 collapses to ``[0.00, 0.00]``) is replaced by the exact
    Clopper-Pearson interval over the ``n`` images (:func:`featbus.metrics.share_interval`)."""
    if isinstance(v, (list, tuple)) and len(v) >= 3 and v[0] is not None and n and float(v[1]) == float(v[2]):
        low, high = share_interval(round(float(v[0]) * int(n)), int(n))
        return format_interval(float(v[0]), [low, high], digits=2)
    return _band(v)


def calibration_k(sites: dict, k: int) -> tuple[list[int], int]:
    """The numbers of labelled patients a card's calibration curve measured (``sites``: per held-out
    site, per k as a string) and the one read for ``k``: the largest measured at most ``k``, the
    smallest measured when ``k`` is below it (``k`` itself when nothing was measured).

    Examples
    --------
    >>> from featbus.model.describe import calibration_k
    >>> calibration_k({"A": {"4": {}, "16": {}}}, 8)
    ([4, 16], 4)
    >>> calibration_k({"A": {"4": {}}}, 2)
    ([4], 4)
    """
    ks = sorted({int(x) for per_k in sites.values() for x in per_k})
    return ks, max([x for x in ks if x <= k], default=ks[0] if ks else k)


def card_parts(card: dict | None, *, k: int = 8) -> list[tuple[str, str]]:
    """The four parts of a shipped classifier's card (:data:`CARD_PARTS`) as ``(heading, figures)``
    in words: what ``featbus inspect``, the app and the docs card quote, the same words everywhere.

    Each heading, lettered (a) to (d) as the card's parts are, names what was measured, how (what
    was rebuilt without the held-out site, and what saw its images) and the script and results
    file the figures come from; the calibration
    part is read at ``k`` labelled patients (the card data holds every k measured). A part the
    card lacks is left out.

    Examples
    --------
    >>> from featbus.model.describe import card_parts
    >>> card = {"presence": {"label": "normal vs lesion", "about": "A held out", "source": "s.py, s.json",
    ...                      "held_out": "A", "n_normal": 10, "n_lesion": 20, "auc": [0.8, 0.7, 0.9],
    ...                      "at_stored": {"threshold": 0.4, "normal_called_normal": [0.0, 0.0, 0.0],
    ...                                    "lesions_called_normal": [0.0, 0.0, 0.0]}}}
    >>> [(head, text)] = card_parts(card)
    >>> head
    '(d) normal vs lesion (A held out; s.py, s.json)'
    >>> print(text)  # doctest: +NORMALIZE_WHITESPACE
    A: AUC 0.80 [0.70, 0.90] (10 normal scans, 20 lesion images); at the stored threshold 0.4:
    normal scans called normal 0.00 [0.00, 0.31], lesions called normal 0.00 [0.00, 0.17]
    """
    card = card or {}
    out = []
    for key in CARD_PARTS:
        part = card.get(key)
        if not isinstance(part, dict):
            continue
        head = f"({'abcd'[CARD_PARTS.index(key)]}) {part.get('label')} ({part.get('about')}; {part.get('source')})"
        if key == "leave_one_site_out":
            text = "; ".join(f"{site} AUC {_band(f.get('auc'))}, malignant sensitivity {_band(f.get('sensitivity'))}, "
                             f"benign specificity {_band(f.get('specificity'))}, lesions called normal "
                             f"{_band(f.get('lesions_called_normal'))}"
                             for site, f in (part.get("before") or {}).items())
        elif key == "after_alignment":
            text = "; ".join(f"{site} malignant sensitivity {_band(f['aligned'].get('sensitivity'))}, benign "
                             f"specificity {_band(f['aligned'].get('specificity'))}"
                             for site, f in (part.get("sites") or {}).items())
        elif key == "calibration":
            ks, at = calibration_k(part.get("sites") or {}, k)
            cells = {site: per_k.get(str(at)) for site, per_k in (part.get("sites") or {}).items()}
            note = f" ({part['normal_note']})" if part.get("normal_note") else ""
            text = f"k = {at} of {', '.join(map(str, ks))} measured: " + "; ".join(
                f"{site} " + (f"normal scans called normal {_band(c['normal_called_normal'])}{note}, "
                              if c.get("normal_called_normal") else "")
                + "lesions called normal "
                f"{_band(c.get('lesions_called_normal'))}, malignant sensitivity {_band(c.get('sensitivity'))}, "
                f"benign specificity {_band(c.get('specificity'))}, stored thresholds kept in "
                f"{c['kept_stored']['presence']['share']:.2f} / {c['kept_stored']['malignancy']['share']:.2f} of the "
                "draws (presence / malignancy)" for site, c in cells.items() if c)
        else:
            at = part.get("at_stored") or {}
            text = (f"{part.get('held_out')}: AUC {_band(part.get('auc'))} ({part.get('n_normal')} normal scans, "
                    f"{part.get('n_lesion')} lesion images); at the stored threshold {at.get('threshold')}: normal "
                    f"scans called normal {_share_band(at.get('normal_called_normal'), part.get('n_normal'))}, "
                    f"lesions called normal {_share_band(at.get('lesions_called_normal'), part.get('n_lesion'))}")
            chosen = part.get("at_training_threshold")
            if chosen:
                text += (f"; at a threshold chosen on the training sites ({chosen.get('chosen')}): normal scans called "
                         f"normal {_share_band(chosen.get('normal_called_normal'), part.get('n_normal'))}, lesions "
                         f"called normal {_share_band(chosen.get('lesions_called_normal'), part.get('n_lesion'))}")
        out.append((head, text))
    return out


def _seen_mark(site: dict, card: dict) -> str:
    """The end of a held-out site's line when a trained part saw its images: says so, and quotes
    the card's honest figure for the site where there is one."""
    marks = [m for m in site.get("seen_by") or [] if isinstance(m, dict)]
    if not marks:
        return ""
    parts = []
    for m in marks:
        n, total = m.get("n_seen"), m.get("n_images")
        share = "its images" if n == total else f"{n} of its {total} images"
        parts.append(f"{m.get('part')} trained on {share}")
    text = " -- not an unseen site: " + "; ".join(parts)
    honest = (card.get("sites") or {}).get(str(site.get("site")))
    if isinstance(honest, dict) and isinstance(honest.get("auc"), list) and len(honest["auc"]) == 3:
        v, lo, hi = (float(x) for x in honest["auc"])
        text += (f" (honest, card: {card.get('figure', 'benign-vs-malignant AUC')} "
                 f"{format_interval(v, [lo, hi], digits=2)} with every "
                 f"part rebuilt without {honest.get('card_site')})")
    return text


def epochs_text(history: dict) -> str:
    """A network's epochs in words, its head's warm-up epochs named apart: ``14 epochs (2 head
    warm-up + 12 fine-tuning)``, as the recipe announces them (12 fine-tuning epochs after 2 of warm-up).

    Examples
    --------
    >>> epochs_text({"epochs": [{"phase": "warmup"}] * 2 + [{"phase": "finetune"}] * 12})
    '14 epochs (2 head warm-up + 12 fine-tuning)'
    >>> epochs_text({"epochs": [{"phase": "finetune"}] * 3})
    '3 epochs'
    """
    epochs = history.get("epochs", []) or []
    warm = sum(1 for e in epochs if isinstance(e, dict) and e.get("phase") == "warmup")
    text = f"{len(epochs)} epoch{'s' if len(epochs) != 1 else ''}"
    return text + (f" ({warm} head warm-up + {len(epochs) - warm} fine-tuning)" if warm else "")

