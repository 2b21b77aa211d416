"""``featbus adapt MODEL IMAGES... -o ADAPTED``: a saved model adapted to a new site (its images,
optionally a few labelled ones): AdaBN or per-site standardisation, calibration, operating point."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ._common import CLIError, _check_model_out
from ._data import _DATA_HELP
from ._options import (
    add_force,
    add_model,
    add_n_bootstrap,
    add_operating_point,
    add_output,
    add_overwrite,
    add_positive,
    add_task,
)
from ._progress import command_progress
from ._startup import check_kind, start

__all__ = ["add_parser", "run"]


def add_parser(sub, parents) -> None:
    p = sub.add_parser("adapt", parents=[parents.quiet, parents.seed, parents.on_error, parents.dicom, parents.base,
                                         parents.loaded_model],
                       help="adapt a saved model to a new site's images (AdaBN / standardisation; with --labels "
                            "calibration and an operating point)",
                       description="Write a copy of MODEL adapted to a new site. Unlabelled images re-estimate the "
                                   "model's normalisation statistics: a fine-tuned network's BatchNormalization "
                                   "layers (AdaBN), or the standardisation of the features before the classifier. "
                                   "With --labels (one labelled data layout: class folders, a CSV manifest, "
                                   "BUS-BRA), the Platt calibration is refitted on the labels and an operating "
                                   "point reaching --operating-point on them is stored, which predict applies; "
                                   "a two-decision model keeps its features and probabilities and has both its "
                                   "thresholds refitted on the labels (is there a lesion, then malignant given a "
                                   "lesion), each point's figures printed with intervals over patients; a refitted "
                                   "decision no better than always answering one class there is not stored (the "
                                   "stored one is kept, and said). Without --labels, a model with a stored "
                                   "operating point (breast-us) also has its decision score aligned to the site's "
                                   "images (their quantiles mapped onto its training scores'), which predict applies. "
                                   "The file records what it was adapted on (featbus inspect).")
    add_model(p)
    p.add_argument("images", metavar="DATA_OR_IMAGES", nargs="+",
                   help="the site's images: image files, folders, CSV manifests; with --labels one labelled "
                        "data set: " + _DATA_HELP)
    add_output(p, "ADAPTED", "the adapted .featbus file")
    p.add_argument("--labels", action="store_true",
                   help="DATA is labelled (class folders, a manifest's label column, BUS-BRA): also refit the "
                        "calibration and choose the operating point on these labels; a two-decision model has its "
                        "two thresholds refitted instead (lesion presence, then malignancy given a lesion)")
    add_operating_point(p, None, "with --labels: sensitivity=S, the sensitivity the operating point reaches on the "
                                 "labelled images (default 0.9)")
    p.add_argument("--method", choices=["auto", "adabn", "standardise", "none"], default="auto",
                   help="what the images re-estimate: adabn (a network's BatchNormalization statistics), standardise "
                        "(the features' standardisation), none; auto: adabn for a network model, else standardise")
    add_positive(p, "malignant", "the class of the operating point and the figures (default malignant)")
    add_n_bootstrap(p, "with --labels: bootstrap resamples of patients behind the before/after intervals")
    add_task(p)
    add_force(p, "adapt even when most images are not the kind the model learnt from (photographs, "
                 "mammograms for an ultrasound model: colour pictures, or unlike the training images both in "
                 "their image statistics and in the model's features, as predict's out_of_domain_reason "
                 "says; or out_of_domain above 2); refused otherwise")
    p.add_argument("--positive-share", metavar="S|estimate", default=None,
                   help="without --labels: the site's share of --positive (malignant) lesions the score alignment "
                        "assumes (default: the training images' own share; 'estimate': EM on the site's scores, "
                        "which assumes they are not shifted)")
    p.add_argument("--no-align", action="store_true",
                   help="without --labels: do not align the scores to the site (re-estimate statistics only)")
    p.add_argument("--max-lesions-normal", type=float, default=None, metavar="SHARE",
                   help="with --labels, a two-decision model: the most of the labelled lesion images the presence "
                        "threshold may call normal (default 0.03)")
    add_overwrite(p, "ADAPTED")
    p.set_defaults(func=run)


def _target_sensitivity(spec: str | None) -> float | None:
    """``--operating-point`` (or its old spelling ``--target-sensitivity S``) as adapt's target sensitivity."""
    if spec is None or spec == "auto":
        return None
    if spec == "none":
        raise CLIError("--operating-point none: adapt --labels always chooses an operating point on the labelled "
                       "images (leave the option out for sensitivity 0.9)")
    from ..workflows.training import parse_operating_point

    try:
        target = parse_operating_point(spec)
    except ValueError as exc:
        raise CLIError(f"--operating-point: {exc}") from None
    return target


def run(args) -> int:
    from ..model_selection import resolve_groups
    from ..workflows.adaptation import MAX_LESIONS_NORMAL, adapt, group_unit, site_figures

    out = Path(args.output)
    if out.suffix.lower() != ".featbus":
        raise CLIError(f"-o {str(out)!r}: the adapted model is a .featbus file; the name must end in .featbus")
    _check_model_out(out, args.overwrite)
    target = _target_sensitivity(args.operating_point)
    if target is not None and not args.labels:
        raise CLIError("--operating-point chooses an operating point on labelled images: add --labels")
    share, cap = _alignment_settings(args)
    labels = groups = None
    if args.labels and len(args.images) != 1:
        raise CLIError(f"--labels reads one labelled data set (class folders, a CSV manifest, BUS-BRA), got "
                       f"{len(args.images)} inputs")
    # keras_too: adapting re-estimates the networks' statistics in Keras; TensorFlow's start-up lines stay hidden
    data, (model,) = start(args, [args.model], data=args.images[0] if args.labels else None,
                           images=None if args.labels else args.images, keras_too=True)
    if args.labels:
        records = list(data.data)
        labels = np.asarray(data.target_names, dtype=str)[np.asarray(data.target, dtype=int)]
        groups = resolve_groups(records, getattr(data, "groups", None))
        unit = group_unit(getattr(data, "groups_from", None), groups)
        what = (f"{len(records)} labelled images" + ("" if unit == "images" else f" of {np.unique(groups).size} {unit}")
                + f" from {args.images[0]}")
    else:
        records = data
        what, unit = f"{len(records)} unlabelled images", None
    data_words = check_kind(model, records, args.force)
    # the model's passes over the images run inside the adaptation (copied, re-estimated): the time is shown
    try:
        with command_progress(args, f"adapt {Path(args.model).name} to {len(records)} images"):
            adapted = adapt(model, records, labels=labels, groups=groups, method=args.method,
                            target_sensitivity=target, positive=args.positive, force=args.force,
                            source=str(args.model), site=Path(args.images[0]).name, unit=unit,
                            align=False if args.no_align else None, positive_share=share,
                            max_lesions_normal=MAX_LESIONS_NORMAL if cap is None else cap,
                            n_bootstrap=args.n_bootstrap, random_state=args.random_state)
    except ValueError as exc:  # a site the model cannot be adapted to as asked: one line
        raise CLIError(str(exc)) from None
    for word in data_words:  # said once adapting went ahead (an error above is one line)
        print(f"data: {word}", file=sys.stderr)
    record = adapted.manifest["adaptation"]
    print(f"adapted {args.model} to {what} (method {record['method']})")
    for change in record["changed"]:
        print(f"  re-estimated: {change}")
    if args.labels:  # thresholds chosen on images a part of the model trained on transfer worse: said
        from ..model.provenance import overlap_notes

        for note in overlap_notes(model, records):
            print(f"  caution: {note}; thresholds fitted on them are fitted to what the model has seen")
    for line in _domain_lines(record):
        print(line)
    if args.labels and "two_decisions" in record:
        from ..metrics import OperatingPoint

        print(f"  calibration: {record['calibration']}")
        print(f"  decisions: {OperatingPoint.from_record(adapted.manifest['operating_point']).describe()}")
        for line in _two_decision_lines(record["two_decisions"]):
            print(line)
        if "spread" in record:
            from ..workflows.adaptation import spread_lines

            for line in spread_lines(record["spread"], record["labels"]["unit"]):
                print(line)
    elif args.labels:
        from ..metrics import OperatingPoint

        point = OperatingPoint.from_record(adapted.manifest["operating_point"])
        print(f"  calibration: {record['calibration']}")
        print(f"  operating point: {point.describe()}")
        print(f"  decided by: {point.rule_text()}")
        before = site_figures(model, model.predict_proba(records), labels, groups, positive=args.positive,
                              n_bootstrap=args.n_bootstrap, random_state=args.random_state)
        after = site_figures(adapted, adapted.predict_proba(records), labels, groups, positive=args.positive,
                             n_bootstrap=args.n_bootstrap, random_state=args.random_state)

        from ..metrics import format_interval

        def cell(f):
            return format_interval(f[0], f[1:], missing=None)

        print(f"\non these labelled images ({args.positive}; 95 % intervals over groups):")
        print(f"  {'':<12} {'before':<22} after")
        for key in ("auc", "sensitivity", "specificity", "brier"):
            print(f"  {key:<12} {cell(before[key]):<22} {cell(after[key])}")
        print("warning: these 'after' figures are optimistic: the calibration and the operating point were chosen "
              "on these same images; judge the adapted model on other patients of the site (featbus validate "
              f"{out} OTHER_DATA)")
    if "alignment" in record:
        for line in _alignment_lines(record["alignment"]):
            print(line)
    adapted.save(out, overwrite=args.overwrite)
    print(f"adapted model -> {out}")
    return 0


def _alignment_settings(args) -> tuple[float | str | None, float | None]:
    """``(--positive-share, --max-lesions-normal)`` checked: one line for a bad value."""
    share = args.positive_share
    if share is not None:
        if args.labels or args.no_align:
            raise CLIError("--positive-share is an assumption of the score alignment, made without --labels "
                           "(and without --no-align)")
        if share != "estimate":
            try:
                share = float(share)
            except ValueError:
                share = float("nan")
            if not 0 < share < 1:
                raise CLIError(f"--positive-share must be a number in (0, 1) or 'estimate', got "
                               f"{args.positive_share!r}")
    cap = args.max_lesions_normal
    if cap is not None:
        if not args.labels:
            raise CLIError("--max-lesions-normal caps the presence threshold chosen on labelled images: add --labels")
        if not 0 <= cap < 1:
            raise CLIError(f"--max-lesions-normal must be a share in [0, 1), got {cap:g}")
    return share, cap


def _alignment_lines(info: dict) -> list[str]:
    """What the label-free alignment did, and what it assumes, one line each."""
    t = info["threshold"]
    lines = [f"  aligned: {info['score']} of the {info['n_images']} images"
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


def _two_decision_lines(report: dict) -> list[str]:
    """A two-decision adaptation's figures (:func:`featbus.workflows.adaptation.site_points`' report): each
    point's thresholds and what they give on the labelled images, then the notes, one line each."""
    from ..metrics import format_interval, threshold_text

    unit = report["unit"]
    counts = ", ".join(f"{c} {k}" for c, k in report["counts"].items())
    lines = [f"\non these {report['n_images']} labelled images" + ("" if unit == "images" else
                                                                   f" of {report['n_groups']} {unit}")
             + f" ({counts}):"]

    def cell(f: dict) -> str:
        if f["value"] is None:
            return "n/a"
        method = (f["method"] or "").split(" over ")[0].replace("Clopper-Pearson", "CP")
        return (f"{format_interval(f['value'], f['interval'])} {f['count']}/{f['n_images']}"
                + (f" {method}" if f["interval"] else ""))

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
        old_t, new_t = threshold_text(side["stored_threshold"]), threshold_text(side["threshold"])
        lines.append(f"  {head}: stored {old_t} -> adapted {new_t} ({how})")
        lines.append(f"    {'':<{width}}  {'images':>6}{groups(unit)}  {'at stored ' + old_t:<34}  at adapted {new_t}")
        for key, f in side["figures"].items():
            old = side["stored_figures"][key]
            lines.append(f"    {f['what']:<{width}}  {f['n_images']:>6}{groups(f['n_groups'])}  {cell(old):<34}  "
                         f"{cell(f)}")
        auc = side["auc"]
        lines.append(f"    {auc['what']}: " + (f"{format_interval(auc['value'], auc['interval'])} ({auc['method']})"
                                               if auc["value"] is not None else f"n/a ({auc['method']})"))
    expected = [f"{f['what']} {f['expected_new']:.2f} ({f['count']}/{f['n_images'] + 1})"
                for name in heads for f in report[name]["figures"].values() if "expected_new" in f]
    lines.append(f"  {report['intervals']}; CP in the table: Clopper-Pearson")
    if expected:
        lines.append("  expected on new images like these, m/(n+1): " + "; ".join(expected))
    lines.append(f"note: {report['optimistic']}")
    lines += [f"warning: {w}" for w in report["warnings"]]
    return lines


def _domain_lines(record: dict) -> list[str]:
    """What the adaptation did to the out-of-domain score, in two or three lines."""
    from ..workflows.adaptation import FAR_OUT_OF_DOMAIN

    before, after = record.get("out_of_domain_before"), record.get("out_of_domain_after")
    if before is None:
        return ["  out of domain: the model has no out-of-domain reference (nothing checked, nothing to adapt)"]

    def said(d):
        return f"{d['unlike_training']} of {d['n']} unlike the training images (median out_of_domain {d['median']:.2f})"

    lines = [f"  out of domain before adapting: {said(before)}"
             + (f", {before['far']} beyond {FAR_OUT_OF_DOMAIN:g} (forced: another kind of image?)"
                if before["far"] * 2 > before["n"] else "")]
    if after is not None:
        lines.append(f"  out of domain after adapting: {said(after)}")
    lines.append(f"  out-of-domain reference: {record['domain']}")
    return lines
