"""``featbus train DATA -o MODEL``: train a recipe or features + classifier and save a model file."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets import subset
from ._common import (
    CLIError,
    _check_model_out,
    _check_segmenter_file,
    _check_writable,
    _import_tensorflow_quietly,
    _is_trusted_file,
    _log_data,
    _one_line,
    _progress,
    _refuse_input,
    _split,
    _trust_file,
    _write_csv,
)
from ._data import (
    _DATA_HELP,
    DEFAULT_N_SPLITS,
    _check_n_splits,
    _data_paths,
    _label_conflicts,
    _load_folder,
    _load_sites,
    _manifest_split,
    _mask_need,
    _patches,
    _preprocessing_steps,
    add_conflicting_labels,
)
from ._options import (
    _CLASSIFIER_NAMES,
    _SAMPLER_NAMES,
    _TRAIN_FEATURES,
    _apply_settings,
    _apply_weights,
    _check_features,
    _features_of,
    _weights_notes,
    add_backbone,
    add_epochs,
    add_input_size,
    add_members,
    add_n_bootstrap,
    add_n_splits,
    add_operating_point,
    add_output,
    add_overwrite,
    add_report,
    add_search,
    add_segmenter,
    add_strict,
    add_test_fraction,
    export_columns,
)

__all__ = ["add_parser", "run"]

#: a network recipe's overrides (featbus.pipelines.recipes.OVERRIDES) -> the option that sets each
_OVERRIDE_DESTS = {"backbone": "backbone", "image_size": "input_size", "epochs": "epochs", "members": "members",
                   "batch_size": "batch_size"}


#: Said after every model trained on one site's images: its figures say nothing about another
#: hospital (benchmarks/site_shift.py: trained on BUSI, every recipe measured loses most of its
#: malignant sensitivity on BUS-BRA's GE Logiq 5 images).
ONE_SITE_NOTE = ("other hospitals: every figure above comes from this one data set's images; a model can fail "
                 "at another hospital (featbus's recipes trained on BUSI find under half of BUS-BRA's cancers). "
                 "Before using it "
                 "elsewhere: featbus validate {model} SITE_DATA (labelled images from there), or train on "
                 "several sites, on the lesion box (featbus train DATA1 DATA2 --segmenter breast-us)")

def _operating_point(args, data) -> str | None:
    """``--operating-point`` as train_model takes it (``auto``: sensitivity 0.9 where malignant is a class)."""
    spec = str(args.operating_point).strip().lower()
    if spec == "auto":
        return "sensitivity=0.9" if "malignant" in [str(c) for c in data.target_names] else None
    from ..workflows.training import parse_operating_point

    try:
        parse_operating_point(spec)
    except ValueError as exc:
        raise CLIError(f"--operating-point: {exc}") from None
    return spec


def add_parser(sub, parents) -> None:
    from ..pipelines.recipes import DEFAULT_RECIPE, RECIPES

    p = sub.add_parser("train", parents=[parents.common,
                                         parents.features(f"instead of a recipe; with -c alone: {_TRAIN_FEATURES}"),
                                         parents.weights, parents.study],
                       help="train a recipe (default: a fine-tuned CNN) and save a .featbus model",
                       description="Train a named recipe (featbus recipes lists them; default "
                                   f"{DEFAULT_RECIPE}) or features + classifier (-f/-c) on DATA and save MODEL. "
                                   "Features + classifier are cross-validated on duplicate-grouped folds and "
                                   "then fitted on every image (a classifier without probabilities gets Platt "
                                   "calibration on grouped out-of-fold scores); a network recipe is trained "
                                   "with the labels and judged on one duplicate-grouped validation split it "
                                   "never trains on. The figures go into the model file. With --test-fraction, "
                                   "whole duplicate groups are held out first and scored by the saved model.")
    p.add_argument("data_dir", metavar="DATA", nargs="+",
                   help=_DATA_HELP + "; several: one site each, united (classes by name, groups per site); or one "
                        "feature table featbus extract wrote (.parquet, .csv, .npz: its labels and groups; the model "
                        "rebuilds its recipe and predicts on images)")
    p.add_argument("--recipe", metavar="NAME", default=None,
                   help=f"a named recipe: {', '.join(RECIPES)} (default {DEFAULT_RECIPE} unless -f or -c is "
                        "given; 'featbus recipes' describes them)")
    add_backbone(p, "network recipes: another backbone")
    add_input_size(p, "network recipes: input side")
    add_epochs(p, "network recipes: most fine-tuning epochs")
    add_members(p, "network recipes: networks averaged")
    p.add_argument("--batch-size", type=int, default=None, metavar="N", help="network recipes: images per step")
    p.add_argument("--mixed-precision", choices=("auto", "on", "off"), default=None,
                   help="network recipes: compute in bfloat16 (on), float32 (off), or auto (the default: "
                        "bfloat16 on a GPU, float32 on a CPU)")
    p.add_argument("--classifier", "-c", default=None, metavar="NAME",
                   help=f"ONE classifier: {_CLASSIFIER_NAMES} (default svm; with -f/-c no recipe is used). To "
                        "compare several, featbus evaluate takes a comma-separated list (-c svm,rf)")
    p.add_argument("--balance", "-b", default="none", metavar="NAME",
                   help=f"ONE sampler: none (default), {_SAMPLER_NAMES} (featbus evaluate -b compares a list)")
    p.add_argument("--site-cv", choices=("auto", "yes", "no"), default="auto",
                   help="several sites: store a leave-one-site-out figure beside the pooled one (one more fit per "
                        "site; auto: feature recipes only, yes: networks too)")
    p.add_argument("--site-balance", action="store_true",
                   help="several sites: weigh every site the same, classes balanced within (feature recipes)")
    add_search(p, "features + classifier: tune the classifier's main parameters (featbus.pipelines.param_grid: SVM C "
                  "x gamma, random forest depth x features per split, KNN neighbours x weighting, logistic C, XGBoost "
                  "depth x learning rate) by grid search, 3 inner folds grouped like the outer ones (patients or "
                  "duplicate groups), scored by malignant AUC; the cross-validation is nested (each outer fold "
                  "searches its own training images) and the chosen parameters are printed and stored in MODEL")
    add_operating_point(p, "auto",
                        "the decision the model file stores: malignant when p(malignant) reaches the threshold that "
                        "finds a share S of the malignant images among held-out predictions of the training images "
                        "(a network's validation split, a feature recipe's out-of-fold predictions; never test "
                        "images); auto (default): sensitivity=0.9 when the classes include malignant; none: the "
                        "most probable class")
    add_n_splits(p, None, "CV and calibration folds (default 5, or fewer when the smallest class has fewer images or "
                          "duplicate groups, at least 2)")
    add_n_bootstrap(p)
    add_test_fraction(p, "hold out about F of the duplicate groups (stratified by class), train on the rest and "
                         "report the held-out accuracy")
    p.add_argument("--holdout-list", metavar="CSV", default=None,
                   help="with --test-fraction (or a test split): write the held-out images and their labels here")
    p.add_argument("--pool-splits", action="store_true",
                   help="a release with published splits (train / valid / test folders, or a split column): "
                        "pool them, cross-validating over every image; without it the publisher's test split is "
                        "kept out of every fold and scored as a held-out figure beside the cross-validated one")
    add_segmenter(p, "crop every image to the lesion a segmenter predicts before the features (then shape and "
                     "--region mask/bbox are allowed): a .keras file from UNetSegmenter.save, breast-us (the "
                     "segmenter featbus ships, trained on three sites), or 'unet' to train a U-Net on DATA's masks "
                     "(the training images only); where it finds no lesion the whole image is used, and predict's "
                     "roi_found column says so", metavar="FILE|NAME|unet")
    p.add_argument("--two-decisions", action="store_true",
                   help="with --segmenter and features + classifier: decide in two steps, each with its own "
                        "operating point: 'is there a lesion?' by the segmenter's lesion probability (normal where "
                        "it draws none), then benign or malignant by the classifier trained on the lesion images "
                        "only (the recipe lesion-then-malignancy does this)")
    p.add_argument("--input-scale", type=_input_scale, default="auto", metavar="PX|native|auto",
                   help="the pixel scale the model's parts train at, recorded in MODEL and brought to every image "
                        "it later sees (the longer side in pixels; a larger image shrunk by area averaging, its "
                        "mask by nearest neighbour; a smaller one seen as stored): auto (default) = 320 with "
                        "featbus's breast-us parts, else the training images' median longer side; native = no "
                        "resize")
    p.add_argument("--segmenter-time", type=float, default=None, metavar="SECONDS",
                   help="with --segmenter unet: a training time budget for the U-Net, opt-in (without it its "
                        "epochs decide, so the same command gives the same model on any machine)")
    add_output(p, "MODEL", "model file to write (*.featbus)")
    add_report(p, "write report.html into DIR: the cross-validation (or validation split) figures with their plots "
                  "and, for a network recipe, its learning curves")
    add_overwrite(p, "MODEL")
    add_strict(p, "the cross-validation (or validation split) and the held-out images of --test-fraction; MODEL is "
                  "written anyway")
    add_conflicting_labels(p)
    p.set_defaults(func=run)
    from ._table import image_options

    # a feature table takes the classifier's options; the others read images
    _TABLE_REFUSES.update(image_options(p, {"classifier", "balance", "search", "operating_point", "n_splits",
                                            "report", "test_fraction", "holdout_list"}))


#: ``{dest: (flag, default)}`` of the options a feature table refuses (filled by add_parser).
_TABLE_REFUSES: dict = {}


def _check_segmenter_args(args) -> None:
    """--segmenter / --roi-margin / --segmenter-time problems, before any image is read."""
    if args.segmenter is None:
        for flag, value, default in (("--roi-margin", args.roi_margin, 0.15),
                                     ("--segmenter-time", args.segmenter_time, None)):
            if value != default:
                raise CLIError(f"{flag} needs --segmenter FILE|NAME|unet")
        return
    if not (np.isfinite(args.roi_margin) and args.roi_margin >= 0):
        raise CLIError(f"--roi-margin {args.roi_margin}: give a number >= 0 (a share of the lesion's size)")
    if args.segmenter_time is not None and not (np.isfinite(args.segmenter_time) and args.segmenter_time > 0):
        raise CLIError(f"--segmenter-time {args.segmenter_time}: give a number of seconds > 0")
    if args.segmenter != "unet":
        _check_segmenter_file(args.segmenter, "--segmenter")
    _import_tensorflow_quietly(args.debug)


def _input_scale(value: str):
    """``--input-scale``: a longer side in pixels, ``native`` or ``auto`` (one line for anything else)."""
    import argparse

    from ..model.scale import parse_input_scale

    try:
        return parse_input_scale(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("input_scale", "--input-scale")) from None


def _segmenter_for(args, data, progress):
    """What train_model gets: the saved file's path, or an unfitted U-Net to train on the masks."""
    if args.segmenter is None or args.segmenter != "unet":
        return args.segmenter
    from ..segmentation.unet import UNetSegmenter

    drawn = [bool((rec.meta or {}).get("has_mask_file", rec.mask is not None and rec.mask.any()))
             for rec in data.data]
    if not any(drawn):
        raise CLIError(f"--segmenter unet trains a U-Net on the lesion masks of DATA_DIR, and "
                       f"{args.data_dir!r} has none (<image>_mask.png beside the images); give masks or a "
                       "trained segmenter (--segmenter FILE.keras, or breast-us)")
    if not all(drawn):
        print(f"{len(drawn) - sum(drawn)} image(s) have no mask file: the U-Net learns 'no lesion' from them",
              file=sys.stderr)
    show = bool(progress) and (progress != "auto" or sys.stderr.isatty())
    budget = None if args.segmenter_time is None else float(args.segmenter_time)
    return UNetSegmenter(max_time=budget, random_state=args.random_state, progress=show)


def _two_decisions(args, recipe) -> bool:
    """Whether the model decides in two steps (``--two-decisions``, or a recipe that does), and the
    segmenter a recipe names when ``--segmenter`` is not given (an explicit one wins); the
    settings that cannot go with it are one line each, before any image is read."""
    if recipe is not None and recipe.segmenter is not None and args.segmenter is None:
        args.segmenter = recipe.segmenter
    two = bool(args.two_decisions or (recipe is not None and recipe.two_decisions))
    if not two:
        return False
    what = "--two-decisions" if args.two_decisions else f"the recipe {recipe.name} (two decisions)"
    if recipe is not None and recipe.is_network:
        raise CLIError(f"--two-decisions needs features + a classifier (-f/-c, or a feature recipe such as "
                       f"lesion-then-malignancy); the recipe {recipe.name!r} is a network")
    if args.segmenter is None:
        raise CLIError("--two-decisions takes 'is there a lesion?' from a segmenter: add --segmenter breast-us (the "
                       "segmenter featbus ships), a .keras file, or unet")
    if args.site_balance:
        raise CLIError(f"{what} and --site-balance do not combine (the lesion classifier takes no site weights): "
                       "drop one")
    if str(args.operating_point).strip().lower() == "none":
        raise CLIError(f"{what} decides by two operating points: drop --operating-point none, or give "
                       "--operating-point sensitivity=S")
    return True


def _check_search(args, recipe, two_decisions: bool) -> None:
    """--search tunes a classifier: a network recipe or two decisions is one line, before any image is read."""
    if not args.search:
        return
    if recipe is not None and recipe.is_network:
        raise CLIError(f"--search tunes a classifier's parameters by grid search; the recipe {recipe.name!r} is a "
                       "network: give features + a classifier (-f/-c) or a feature recipe")
    if two_decisions:
        raise CLIError("--search and two decisions do not combine (the lesion classifier is not searched): drop one")


def _search_lines(manifest: dict) -> list[str]:
    """What the grid search chose, and that the figures are nested, in words (from the manifest)."""
    info = (manifest.get("recipe") or {}).get("search")
    if not info:
        return []
    grid = "; ".join(f"{k.split('__')[-1]}: {', '.join(map(str, v))}" for k, v in (info.get("grid") or {}).items())
    chosen = ", ".join(f"{k.split('__')[-1]}={v}" for k, v in (info.get("chosen") or {}).items())
    lines = [f"grid search (--search): {info.get('n_candidates')} candidates ({grid}) x {info.get('inner_cv')}, "
             f"scored by {info.get('scoring')}; chosen on {info.get('chosen_on')}: {chosen} (stored in the model "
             "file; its line below)"]
    for key, value in (info.get("chosen") or {}).items():  # a choice on the grid's edge: the best may lie beyond
        numbers = [v for v in (info.get("grid") or {}).get(key, []) if isinstance(v, (int, float))
                   and not isinstance(v, bool)]
        if len(numbers) > 1 and isinstance(value, (int, float)) and value in (min(numbers), max(numbers)):
            edge = "largest" if value == max(numbers) else "smallest"
            lines.append(f"  note: {key.split('__')[-1]}={value} is the grid's {edge} value: a value beyond it may do "
                         "better (featbus.pipelines.param_grid holds the grid)")
    folds = info.get("outer_folds_chosen")
    if folds:
        from collections import Counter

        counts = Counter(", ".join(f"{k.split('__')[-1]}={v}" for k, v in f.items()) for f in folds)
        lines.append("  each outer fold's own search chose: "
                     + "; ".join(f"{k} ({n} of {len(folds)} folds)" for k, n in counts.most_common()))
    lines.append("  the cross-validation figures below are nested: each outer fold searched its own training images "
                 "only, so no figure comes from parameters chosen on the images it judges")
    return lines


def _one_name(args) -> None:
    """train fits one model: a comma list in -c / -b (evaluate's way) is refused with a pointer to evaluate."""
    for flag, value in (("-c/--classifier", args.classifier), ("-b/--balance", args.balance)):
        names = _split(value) if value is not None else []
        if len(names) > 1:
            short = flag.split("/")[0]
            raise CLIError(f"{flag} {value}: train fits ONE model, give one name; to compare {', '.join(names)}, "
                           f"run featbus evaluate DATA {short} {value} (it takes comma-separated lists)")


def _checked_options(args, recipe, two_decisions) -> tuple[str | None, Any]:
    """The options checked against each other and the recipe before any data is read; returns the
    sampler's name (None for none) and the local weights file the network starts from."""
    from ..pipelines.make import make_classifier, make_sampler

    _check_search(args, recipe, two_decisions)
    network_backbone = None
    if recipe is not None and recipe.is_network:
        network_backbone = args.backbone or recipe.network["backbone"]
    network_weights = _apply_weights(args, network=network_backbone)
    if args.report:
        _check_writable(Path(args.report) / "report.html", "--report")
    if args.segmenter is None and ("shape" in _split(args.features) or args.region in ("mask", "bbox")):
        raise CLIError("a model predicts on new images, which come without lesion masks: drop 'shape' "
                       "from --features and use --region image, or crop to a segmenter's lesion with "
                       "--segmenter FILE|NAME|unet")
    _check_segmenter_args(args)
    if args.holdout_list:
        _check_writable(Path(args.holdout_list), "--holdout-list")
    balance = None if args.balance.lower() == "none" else args.balance
    if recipe is not None and recipe.is_network:
        if balance is not None:
            raise CLIError(f"--balance does not apply to the network recipe {recipe.name!r}: it weights the "
                           "classes in its loss (class_weight='balanced')")
        _import_tensorflow_quietly(args.debug)
    else:
        if getattr(args, "mixed_precision", None) is not None:
            raise CLIError("--mixed-precision sets a network recipe's precision; features + a classifier have none")
        _check_features(args.features, args.debug)
        try:
            make_classifier(args.classifier)
            make_sampler(balance)
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
    _preprocessing_steps(args.preprocess)
    return balance, network_weights


def _announce_recipe(recipe, overrides: dict, n_images: int) -> None:
    """The recipe, what the options changed in it, and how long it takes (its 625-image figure and
    these images' estimate)."""
    from ..pipelines.recipes import expected_minutes, time_text

    changed = ", ".join(f"{'fine-tuning epochs' if k == 'epochs' else k.replace('_', ' ')} {v}"
                        for k, v in overrides.items() if v is not None)
    here = expected_minutes(recipe, n_images, overrides.get("epochs"))
    print(f"recipe {recipe.name}: {recipe.summary}" + (f", with {changed}" if changed else "")
          + f"; with its defaults 625 images take {time_text(recipe)}"
          + (f"; these {n_images} images: about {max(here, 1):.0f} min on 2 CPU cores" if here else ""),
          file=sys.stderr)


def _add_notes(model, args, data) -> None:
    """The manifest's notes of the options and the data (weights files, patches, images skipped, masks
    dropped)."""
    if args.weights_files:  # which weights the networks started from, with the files' SHA-256
        model.manifest.setdefault("notes", []).extend(_weights_notes(args))
    if args.patches:
        model.manifest.setdefault("notes", []).append(
            f"trained on {args.patches} x {args.patches} px lesion-centred patches: it classifies such patches, "
            "not whole mammograms")
    from ..io import data_notes

    for note in data_notes(data):  # the images skipped (named) and the masks dropped: the manifest and the report
        model.manifest.setdefault("notes", []).append(note)
        if getattr(model, "cv_report", None) is not None:
            model.cv_report.notes.append(note)


def run(args) -> int:
    from ..workflows.training import train_model

    _one_name(args)
    from ._table import given_table

    if given_table(args, "train"):
        return _run_table(args)
    paths = _data_paths(args)
    out = Path(args.output)
    _refuse_input(out, paths)
    _check_model_out(out, args.overwrite)
    _apply_settings(args, None)
    recipe = _train_recipe(args)
    two_decisions = _two_decisions(args, recipe)
    balance, network_weights = _checked_options(args, recipe, two_decisions)
    data = _training_data(args, paths)
    progress = _progress(args)
    data, held, fixed = _held_out_split(data, args)
    network = recipe is not None and recipe.is_network
    if args.n_splits is not None or not network:  # a network recipe judges itself on one validation split
        # the folds are duplicate-grouped: a class counts its groups
        args.n_splits = _check_n_splits(data, args.n_splits, grouped=True)
    counts = {str(n): int(np.sum(data.target == i)) for i, n in enumerate(data.target_names)}
    print(f"training on {len(data.target)} images {counts}"
          + (f"; {len(held.target)} held out ("
             + (_TEST_SPLIT + ", --pool-splits pools it" if fixed is not None else "whole " + _held_units(data))
             + ")" if held is not None else ""),
          file=sys.stderr)
    command = "featbus " + " ".join(sys.argv[1:] if args.argv is None else args.argv)
    segmenter = _segmenter_for(args, data, progress)
    if args.segmenter == "unet":
        print(f"training the lesion segmenter (U-Net) on the {len(data.target)} training images' masks, at most "
              f"about {args.segmenter_time:.0f} s", file=sys.stderr)
    overrides = {k: getattr(args, dest) for k, dest in _OVERRIDE_DESTS.items()}
    overrides["mixed_precision"] = {"on": True, "off": False, "auto": "auto"}.get(args.mixed_precision)
    if recipe is not None:
        _announce_recipe(recipe, overrides, len(data.target))
    if network_weights is not None:  # the recipe's network starts from the local weights file
        overrides["weights"] = network_weights
    model = train_model(data, _features_of(args), classifier=args.classifier,
                        recipe=None if recipe is None else recipe.name,
                        recipe_overrides=overrides if recipe is not None and recipe.is_network else None,
                        balance=balance, region=args.region,
                        segmenter=segmenter, roi_margin=args.roi_margin, preprocessing=args.preprocess,
                        n_splits=args.n_splits if args.n_splits is not None else DEFAULT_N_SPLITS,
                        n_bootstrap=args.n_bootstrap, random_state=args.random_state,
                        site_cv={"auto": "auto", "yes": True, "no": False}[args.site_cv],
                        site_balance=args.site_balance, operating_point=_operating_point(args, data),
                        two_decisions=two_decisions, search=args.search, cache=args.cache, n_jobs=args.n_jobs,
                        input_scale=args.input_scale,
                        progress=progress,
                        command=command,
                        source=", ".join(os.path.abspath(p) for p in paths))
    held_verdict = None if held is None else _judge_held_out(model, held, data.target_names, args, paths, fixed)
    _add_notes(model, args, data)
    return _save_and_say(model, args, out, data, held_verdict)


def _run_table(args) -> int:
    """``featbus train TABLE``: the classifier trained on a feature table's rows (featbus extract's, perhaps
    from a cluster) by the same engine (:func:`featbus.workflows.training.train_on_table`), saved and said
    as a model trained on images is."""
    from ..pipelines.make import make_classifier, make_sampler
    from ..workflows.training import train_on_table
    from ._table import as_data, leak_refusal, read_table, refuse_image_options, table_lines

    refuse_image_options(args, _TABLE_REFUSES, "train")
    path = args.data_dir[0]
    out = Path(args.output)
    _refuse_input(out, [path])
    _check_model_out(out, args.overwrite)
    if args.report:
        _check_writable(Path(args.report) / "report.html", "--report")
    if args.holdout_list:
        _check_writable(Path(args.holdout_list), "--holdout-list")
    classifier = args.classifier if args.classifier is not None else "svm"
    balance = None if args.balance.lower() == "none" else args.balance
    try:
        make_classifier(classifier)
        make_sampler(balance)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    table = read_table(path)
    leak = leak_refusal(table, "A model predicts on new images, which come without lesion masks: extract the table "
                               "again without those features (no shape, --region image)")
    if leak:
        raise CLIError(leak)
    for line in table_lines(table):
        print(line, file=sys.stderr)
    data, held = as_data(table), None
    if args.test_fraction:  # whole groups held out of the table's rows, as of a data set's images
        from ..model_selection import holdout_split

        try:
            kept, out_idx = holdout_split(data.target, data.groups, args.test_fraction, args.random_state)
        except ValueError as exc:
            raise CLIError(_one_line(exc)) from exc
        table, held = table.rows(kept), table.rows(out_idx)
        data = as_data(table)
    args.n_splits = _check_n_splits(data, args.n_splits, grouped=True)
    counts = {str(n): int(np.sum(data.target == i)) for i, n in enumerate(data.target_names)}
    print(f"training on {len(data.target)} rows {counts}"
          + (f"; {len(held.labels)} held out (whole {_held_units(data)})" if held is not None else ""),
          file=sys.stderr)
    from ..pipelines.tables import TableError

    try:
        model = train_on_table(table, classifier=classifier, balance=balance, n_splits=args.n_splits,
                               n_bootstrap=args.n_bootstrap, random_state=args.random_state, n_jobs=args.n_jobs,
                               progress=_progress(args), operating_point=_operating_point(args, data),
                               search=args.search,
                               command="featbus " + " ".join(sys.argv[1:] if args.argv is None else args.argv),
                               source=os.path.abspath(path))
    except TableError as exc:
        raise CLIError(str(exc)) from None
    held_verdict = None
    if held is not None:
        from ._table import RowsOf, held_rows

        rows = held_rows(held, model)
        held_verdict = _judge_held_out(model, rows, rows.target_names, args, [path], None, scorer=RowsOf(model))
        if isinstance(model.manifest.get("training_images"), dict):  # featbus extract profiled every row's image
            model.manifest.setdefault("notes", []).append(
                f"its training-image profile is of every image of {table.path.name}, the {len(held.labels)} "
                "held-out ones included: featbus extract made it before the split")
    return _save_and_say(model, args, out, data, held_verdict)


def _save_and_say(model, args, out: Path, data, held_verdict) -> int:
    """The model written, its report, its figures, verdicts and notes printed: the end of every training."""
    held = held_verdict is not None
    for note in model.manifest.get("notes") or []:  # a stored point that turns a class off, said where it is seen
        if str(note).startswith("at the stored operating point"):
            print(f"warning: {note}", file=sys.stderr)
    model.save(out, overwrite=args.overwrite)
    if args.report:
        _train_report(model, Path(args.report))
    for line in _search_lines(model.manifest):
        print(line)
    print(model.describe())
    from ..evaluation.sanity import strict_status, verdict_prefix, with_sites

    cv_report = getattr(model, "cv_report", None)
    # several sites: the verdict also reads the leave-one-site-out figure (inspect reads it the same way)
    verdict = None if cv_report is None else with_sites(cv_report.sanity, getattr(model, "site_cv_report", None))
    print(verdict.summary(prefix=verdict_prefix(model.manifest)) if verdict is not None else
          "verdict: none -- the model was trained without a cross-validation or validation split to judge it by")
    print(f"model: {out.resolve()}" + (f" (added to your trust list {_trust_file()}: it holds types featbus "
                                       "does not trust by itself)" if _is_trusted_file(out) else ""))
    sites = getattr(data, "sites", None)
    if sites is None or len(set(np.asarray(sites).tolist())) < 2:
        print(ONE_SITE_NOTE.format(model=shlex.quote(str(out))))
    judged = {("cross-validation" if cv_report is None or "validation split" not in str(cv_report.cv)
               else "validation split") + (" and leaving each site out" if verdict is not None
                                           and verdict.sites_checked else ""): verdict}
    if held:
        judged["held-out images"] = held_verdict
    return strict_status(judged, args.strict, "train")


def _training_data(args, paths: list[str]):
    """The training images: each DATA folder read (several: one site each, united), conflicts settled, logged."""
    # the model preprocesses new images itself: it is trained on the images as read (or on
    # lesion patches, and then predicts on patches)
    needs = ("the segmenter trained here (--segmenter unet)" if str(getattr(args, "segmenter", None)).lower() == "unet"
             else _mask_need(args))
    if len(paths) == 1:
        data = _patches(_load_folder(args.data_dir, args.on_error, args.task, columns=export_columns(args),
                                     needs_masks=needs), args)
    else:  # one site each: united, with each site's groups kept apart
        data = _load_sites(paths, lambda p: _patches(_load_folder(p, args.on_error, args.task,
                                                                  columns=export_columns(args), needs_masks=needs),
                                                     args), "training")
    data = _label_conflicts(data, "training", args.conflicting_labels, paths[0] if len(paths) == 1 else None)
    _log_data(data, ", ".join(paths))
    return data


#: What the held-out images of a release's published test split are called where train reports them.
_TEST_SPLIT = "the publisher's test split"


def _held_out_split(data, args) -> tuple[Any, Any, Any]:
    """The images to train on and those held out (the publisher's test split unless --pool-splits, or
    --test-fraction), and the split."""
    held = None
    fixed = None if args.pool_splits else _manifest_split(data, args, "--test-fraction (or pool the splits with "
                                                                      "--pool-splits)")
    if fixed is not None or args.test_fraction:
        from ..model_selection import holdout_split

        try:
            train_idx, test_idx = fixed if fixed is not None else holdout_split(
                data.target, data.groups, args.test_fraction, args.random_state)
        except ValueError as exc:
            raise CLIError(_one_line(exc)) from exc
        held = subset(data, test_idx)
        data = subset(data, train_idx)
    return data, held, fixed


def _judge_held_out(model, held, names, args, paths: list[str], fixed, scorer=None):
    """Score the model on the held-out images (``scorer``: on a feature table's held-out rows, ``held.data`` their
    matrix): the figures into its manifest, their line and verdict printed."""
    from ..evaluation.report import evaluate_external

    rows = scorer is not None
    report = evaluate_external(model if scorer is None else scorer, held.data, names[held.target],
                               groups=held.groups, n_bootstrap=args.n_bootstrap, random_state=args.random_state,
                               name="held-out rows" if rows else "held-out images",
                               source=("held-out rows of the same feature table (--test-fraction)" if rows else
                                       "held-out images of the same data set ("
                                       + ("--test-fraction" if fixed is None else _TEST_SPLIT) + ")"))
    model.manifest["holdout"] = {"fraction": args.test_fraction if fixed is None else None,
                                 **({"split": "test"} if fixed is not None else {}),
                                 "n_images": int(len(held.target)),
                                 "accuracy": report.value("accuracy"),
                                 "accuracy_ci": list(report.interval("accuracy")) if args.n_bootstrap else None,
                                 "paths": _portable_paths(held.paths, paths)}
    from ..evaluation.render import holdout_line

    # held out from this training, not from the shipped backbone's: its notes are caveats
    print(holdout_line(report, decided_at_point=bool(model.manifest.get("operating_point")),
                       held=None if fixed is None else _TEST_SPLIT))
    if report.notes:
        model.manifest["holdout"]["notes"] = [str(n) for n in report.notes]
    held_verdict = report.sanity
    print(held_verdict.summary(prefix="verdict on the held-out images"))
    if args.holdout_list:
        import pandas as pd

        _write_csv(pd.DataFrame({"image": held.paths, "label": names[held.target]}), Path(args.holdout_list))
        print(f"held-out images and labels: {args.holdout_list}")
    return held_verdict


def _portable_paths(files, roots) -> list[str]:
    """Each file as ``<data folder's name>/<path inside it>``: a model file that is passed on
    names its held-out images without the training machine's folders."""
    tops = [Path(os.path.abspath(r)) for r in roots]
    out = []
    for f in files:
        full = Path(os.path.abspath(str(f)))
        top = next((t for t in tops if t in full.parents), None)
        out.append(str(full) if top is None else (Path(top.name) / full.relative_to(top)).as_posix())
    return out


def _held_units(data) -> str:
    """What --test-fraction holds out whole: "patients" where the data's table named them."""
    from ..model_selection import grouping_name

    kind = grouping_name(getattr(data, "groups_from", None) if data.groups is not None else None).split(" (")[0]
    return {"duplicate-grouped": "duplicate groups", "patient-grouped": "patients"}.get(kind, "groups")


def _train_report(model, folder: Path) -> None:
    """report.html of a trained model: its CV (or validation split) report and learning curves."""
    from ..evaluation.reporting import header_html, learning_curves_html, write_html

    report = getattr(model, "cv_report", None)
    if report is None:
        print("no report: the model was trained without a cross-validation or validation split", file=sys.stderr)
        return
    folder.mkdir(parents=True, exist_ok=True)
    m = model.manifest
    sections = [header_html({"featbus": m["versions"].get("featbus"), "command": m.get("command"),
                             "recipe": m["recipe"].get("name") or m["recipe"].get("features"),
                             "classes": ", ".join(m["classes"]), "seed": m.get("random_state"),
                             "created": m.get("created")})]
    runs = (m.get("training") or {}).get("members")
    if runs:
        sections.append(learning_curves_html(runs))
    if m.get("site_cv"):  # each site predicted by the recipe trained on the others, the seen sites marked
        import html

        from ..model.describe import site_cv_lines

        # wrapped: each line ends with its mark ("not an unseen site: ..."), which must not hide off-screen
        sections.append('<h2>Leave one site out</h2><pre style="white-space: pre-wrap">'
                        + html.escape("\n".join(site_cv_lines(m["site_cv"]))) + "</pre>")
    notes = []
    if m.get("operating_point"):  # the decisions the file makes, which the figures below judge
        from ..model.provenance import stored_operating_point

        point = stored_operating_point(m)  # of two decisions, both points; figures a trained part saw say so
        notes.append("operating point: " + point.describe())
        notes.append("decided by: " + point.rule_text())
    else:
        notes.append("decisions: the most probable class (the model file stores no operating point)")
    from ..model.describe import input_scale_lines

    notes += [line.strip() for line in input_scale_lines(m)]  # the scale every image is brought to (issue 82)
    notes += [str(n) for n in report.notes]
    # the page's verdict is the one train and inspect print: several sites, the leave-one-site-out figure
    # read too (a site the shipped backbone saw, a site where the model fails)
    import copy

    from ..evaluation.sanity import with_sites

    page = copy.copy(report)
    page.sanity = with_sites(report.sanity, m.get("site_cv"))
    path = write_html([page], folder / "report.html", title=f"featbus train: {report.name}", sections=sections,
                      notes=notes)
    print(f"report: {path}")


def _train_recipe(args):
    """The recipe ``featbus train`` fits: ``--recipe``, else features + classifier when ``-f`` or
    ``-c`` is given, else the default recipe. Fills ``args.features``/``args.classifier``."""
    from ..pipelines.recipes import DEFAULT_RECIPE, get_recipe

    explicit = args.features is not None or args.classifier is not None
    settings = [f"--{dest.replace('_', '-')}" for dest in _OVERRIDE_DESTS.values() if getattr(args, dest) is not None]
    if args.recipe is not None and explicit:
        raise CLIError("--recipe chooses the features and the classifier: drop --features/--classifier, or drop "
                       "--recipe")
    name = args.recipe if args.recipe is not None else (None if explicit else DEFAULT_RECIPE)
    recipe = None
    if name is not None:
        try:
            recipe = get_recipe(name)
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
    if settings and (recipe is None or not recipe.is_network):
        what = "features + classifier" if recipe is None else f"the recipe {recipe.name!r}"
        raise CLIError(f"{', '.join(settings)} set a network recipe's training; {what} has no network")
    if recipe is not None and not recipe.is_network:
        args.features, args.classifier = ",".join(recipe.features), recipe.classifier
    else:
        args.features = args.features if args.features is not None else _TRAIN_FEATURES
        args.classifier = args.classifier if args.classifier is not None else "svm"
    if recipe is not None and recipe.is_network:
        args.features = ""
    return recipe
