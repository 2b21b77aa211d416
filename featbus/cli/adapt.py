"""``featbus adapt MODEL IMAGES... -o ADAPTED``: a saved model adapted to a new site (its images,
optionally a few labelled ones): AdaBN or per-site standardisation, calibration, operating point."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ._common import CLIError, _check_model_out, _refuse_input
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
from ._progress import command_progress, command_stages
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
                                   "a two-decision model (breast-us) keeps its features and probabilities: every "
                                   "image given (labelled or not, --unlabelled adds more) first aligns both its "
                                   "decisions without labels (is there a lesion, then malignant given a lesion), then "
                                   "the labels move a threshold only as far as a one-sided 95 % bound over the "
                                   "labelled patients shows it safe: a move that calls more lesions normal or finds "
                                   "fewer cancers keeps lesions called normal <= --max-lesions-normal and "
                                   "sensitivity at its target, else the aligned threshold stays and the command says "
                                   "how many patients would show it; the figures on the labelled patients are "
                                   "printed with intervals (they feed no verdict). Without --labels, a model with a "
                                   "stored operating point also has its decision score aligned to the site's images "
                                   "(their quantiles mapped onto its training scores'), which predict applies. The "
                                   "file records what it was adapted on (featbus inspect), and its parent's promise.")
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
                   help="the site's share of --positive (malignant) lesions the score alignment assumes (default: "
                        "the training images' own share; 'estimate': EM on the site's scores, which assumes they are "
                        "not shifted)")
    p.add_argument("--no-align", action="store_true",
                   help="do not align the scores to the site (re-estimate statistics only; with --labels, the "
                        "thresholds move from the stored ones)")
    p.add_argument("--unlabelled", nargs="+", metavar="IMAGES", default=None,
                   help="with --labels, a two-decision model: more of the site's ordinary images (files, folders), "
                        "no label read: they align both decisions beside the labelled ones (alignment needs at least "
                        "30 images called a lesion, which a few patients seldom give)")
    p.add_argument("--max-lesions-normal", type=float, default=None, metavar="SHARE",
                   help="with --labels, a two-decision model: the most lesions the presence threshold may call "
                        "normal: a move that calls more lesions normal, or finds fewer cancers, is taken only as far "
                        "as a one-sided 95 %% Clopper-Pearson bound over the labelled patients keeps lesions called "
                        "normal under it and sensitivity at its target (default 0.03)")
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
    _refuse_input(out, [*args.images])
    _check_model_out(out, args.overwrite)
    target = _target_sensitivity(args.operating_point)
    if target is not None and not args.labels:
        raise CLIError("--operating-point chooses an operating point on labelled images: add --labels")
    share, cap = _alignment_settings(args)
    labels = groups = None
    if args.labels and len(args.images) != 1:
        raise CLIError(f"--labels reads one labelled data set (class folders, a CSV manifest, BUS-BRA), got "
                       f"{len(args.images)} inputs")
    # a fine-tuned network's statistics are re-estimated in Keras (AdaBN; TensorFlow's start-up lines stay
    # hidden); a frozen backbone and a segmenter are never changed: LiteRT runs them, without TensorFlow
    data, (model,) = start(args, [args.model], data=args.images[0] if args.labels else None,
                           images=None if args.labels else args.images,
                           keras_too="fine-tuned" if args.method != "none" else False)
    if args.labels:
        records = list(data.data)
        labels = np.asarray(data.target_names, dtype=str)[np.asarray(data.target, dtype=int)]
        groups = resolve_groups(records, getattr(data, "groups", None))
        unit = group_unit(getattr(data, "groups_from", None), groups)
        what = (f"{len(records)} labelled images" + ("" if unit == "images" else f" of {np.unique(groups).size} {unit}")
                + f" from {args.images[0]}")
        if args.unlabelled:
            records, labels, groups, more = _with_unlabelled(args, records, labels, groups)
            what += f" and {more} unlabelled images"
    elif args.unlabelled:
        raise CLIError("--unlabelled adds unlabelled images to labelled ones: add --labels (without it, every "
                       "image given is unlabelled already)")
    else:
        records = data
        what, unit = f"{len(records)} unlabelled images", None
    # the model's pass over the images runs once, shown, in the check: its look; the adaptation (copied,
    # re-estimated) reads the look: its own time is shown
    try:
        shown = command_stages(args, f"adapt {Path(args.model).name}")
        data_words, look = check_kind(model, records, args.force, shown)
        with command_progress(args, f"adapt {Path(args.model).name} to {len(records)} images"):
            adapted = adapt(model, records, labels=labels, groups=groups, method=args.method,
                            target_sensitivity=target, positive=args.positive, force=args.force,
                            source=str(args.model), site=Path(args.images[0]).name, unit=unit,
                            align=False if args.no_align else None, positive_share=share,
                            max_lesions_normal=MAX_LESIONS_NORMAL if cap is None else cap,
                            n_bootstrap=args.n_bootstrap, random_state=args.random_state, look=look)
    except ValueError as exc:  # a site the model cannot be adapted to as asked: one line
        raise CLIError(str(exc)) from None
    for word in data_words:  # said once adapting went ahead (an error above is one line)
        print(f"data: {word}", file=sys.stderr)
    record = adapted.manifest["adaptation"]
    notes: list[str] = []
    figs = None
    if args.labels:  # thresholds chosen on images a part of the model trained on transfer worse: said
        from ..model.provenance import overlap_notes

        notes = list(overlap_notes(model, records))
        if "two_decisions" not in record:  # a one-decision model: its figures before and after, to print
            keep = np.flatnonzero([v is not None for v in labels])
            lab = [records[i] for i in keep]
            figs = {name: site_figures(m, m.predict_proba(lab), np.asarray(labels)[keep].astype(str),
                                       None if groups is None else np.asarray(groups)[keep], positive=args.positive,
                                       n_bootstrap=args.n_bootstrap, random_state=args.random_state)
                    for name, m in (("before", model), ("after", adapted))}
    from ..evaluation.render import adaptation_written, render_adaptation

    print(render_adaptation(adapted.manifest, source=str(args.model), what=what, notes=notes, site_figures=figs,
                            out=str(out)))
    adapted.save(out, overwrite=args.overwrite)
    print(adaptation_written(adapted.manifest, str(out), str(args.model)))
    return 0


def _with_unlabelled(args, records, labels, groups):
    """The labelled records with ``--unlabelled`` images after them (no label; each its own group)."""
    from ..model.loaded import read_records
    from ._data import _expand_images

    extra, _, skipped = read_records(_expand_images(args.unlabelled), args.on_error)
    for _, path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    labels = np.concatenate([np.asarray(labels, dtype=object), np.full(len(extra), None, dtype=object)])
    groups = np.concatenate([np.asarray(groups).astype(str), [f"unlabelled {k}" for k in range(len(extra))]])
    return list(records) + list(extra), labels, groups, len(extra)


def _alignment_settings(args) -> tuple[float | str | None, float | None]:
    """``(--positive-share, --max-lesions-normal)`` checked: one line for a bad value."""
    share = args.positive_share
    if share is not None:
        if args.no_align:
            raise CLIError("--positive-share is an assumption of the score alignment: leave out --no-align")
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
