"""The options several ``featbus`` commands share, each declared once, and what they mean.

Two forms, as pip's ``cli/cmdoptions.py``: the option groups whole commands take
(:class:`Parents`, argparse parents), and the single options several commands declare
(``add_model``, ``add_output``, ``add_overwrite``, ``add_n_bootstrap`` ...: one ``add_argument``
each; a command passes only the words of its help that differ, never its own default). Beside
them: feature names checked before any image is read, settings files (``--params``), local
backbone weights (``--weights``), the classifier and sampler names the help lists.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ._common import CLIError, _import_tensorflow_quietly, _one_line, _split

__all__ = ["N_BOOTSTRAP", "Parents", "add_backbone", "add_epochs", "add_input_size", "add_members", "add_model",
           "add_export_columns", "add_mask_pattern", "add_n_bootstrap", "add_n_splits", "add_on_error",
           "add_operating_point", "add_output", "add_overwrite",
           "add_positive",
           "add_report", "add_strict", "add_target_sensitivity", "add_task", "add_test_fraction", "add_trust"]


_DEF_FEATURES = "hog,lbp,glcm,intensity,shape"


# evaluate scores what a new image, which comes without a lesion mask, can reach: no mask-based
# features by default (shape from BUSI's ground-truth masks scores 0.95, the empty masks of its
# normal images giving that class away)
_EVALUATE_FEATURES = "hog,lbp,glcm,intensity"


_TRAIN_FEATURES = "hog,lbp,intensity"  # -c without -f: the handcrafted recipe's (no mask needed)


_DEMO_FEATURES = "lbp,glcm,intensity"  # no mask needed: honest on real data


def _check_features(features: str, debug: bool) -> None:
    """Fail fast on a misspelt extractor or a missing optional part, before reading images."""
    from ..pipelines.make import make_features

    try:
        make_features(features)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    # the handcrafted families (aliases resolved); every other name is a CNN backbone
    from .._registry import FEATURES, feature_key

    if any(feature_key(f) not in FEATURES for f in _split(features)):
        _import_tensorflow_quietly(debug)


def _apply_settings(args, default: str | None) -> None:
    """``--params FILE``: features, region and preprocessing from a settings file (checked
    before any image is read). Sets ``args.feature_specs`` (the extractors, or ``None``) and
    ``args.features`` (their names, for messages and reports)."""
    from ..pipelines.settings import SettingsError, read_settings, settings_extractors

    args.feature_specs = None
    if getattr(args, "params", None) is None:
        if args.features is None:
            args.features = default
        return
    if args.features is not None:
        raise CLIError("--params names the features: drop --features, or drop --params")
    try:
        settings = read_settings(args.params)
        specs = settings_extractors(settings)
    except SettingsError as exc:
        raise CLIError(_one_line(exc)) from exc
    if args.region is not None and settings["region"] not in (None, args.region):
        raise CLIError(f"--region {args.region} but {args.params} sets region {settings['region']}: keep one")
    args.region = args.region or settings["region"]
    if settings["preprocess"]:
        steps = ",".join(settings["preprocess"])
        if args.preprocess is not None and args.preprocess != steps:
            raise CLIError(f"--preprocess {args.preprocess} but {args.params} sets {steps}: keep one")
        args.preprocess = steps
    args.feature_specs, args.features = specs, ",".join(settings["features"])
    args.settings_given = settings["features"]  # what the file sets itself (--weights checks against it)


_WEIGHTS_SUFFIXES = (".weights.h5", ".h5")


def _backbone_key(name: str) -> str:
    """A backbone's one name in the registry for any spelling the pretrained table accepts
    (``breast-us`` -> ``breast_us``); an unknown name as it is (the caller says so)."""
    from ..networks import BACKBONES, get_backbone

    if name in BACKBONES:
        return name
    try:
        return get_backbone(name).name
    except ValueError:
        return name


def _parse_weights(items: list[str] | None) -> dict[str, str]:
    """``--weights NAME=PATH`` (repeatable) -> {backbone name: absolute path}, every item checked:
    the form, a backbone name of the registry, an existing Keras weights file, one file per name."""
    from ..networks import BACKBONES

    out: dict[str, str] = {}
    for item in items or []:
        name, sep, path = str(item).partition("=")
        name, path = _backbone_key(name.strip().lower()), path.strip()
        if not sep or not name or not path:
            raise CLIError(f"--weights {item!r}: give NAME=PATH, a backbone name and a local weights file, e.g. "
                           "--weights vgg16=vgg16_notop.weights.h5")
        if name not in BACKBONES:
            raise CLIError(f"--weights {item!r}: unknown backbone {name!r}; the backbones are "
                           f"{', '.join(sorted(BACKBONES))}")
        if not os.path.isfile(path):
            raise CLIError(f"--weights {item!r}: no such file {path!r}" +
                           (" (it is a folder)" if os.path.isdir(path) else ""))
        if not path.lower().endswith(_WEIGHTS_SUFFIXES):
            raise CLIError(f"--weights {item!r}: give a Keras weights file (.weights.h5 or .h5) of the network "
                           "without its classifier, as model.save_weights writes it")
        path = os.path.abspath(path)
        if name in out and not _same_file(out[name], path):
            raise CLIError(f"--weights names two files for {name}: {out[name]!r} and {path!r}; keep one")
        out[name] = path
    return out


def _same_file(a, b) -> bool:
    """Whether two weights paths give the same weights: one file, or two of the same content."""
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:  # one of them is missing: compare the names
        return os.path.abspath(a) == os.path.abspath(b)
    from ..io import file_sha256

    return file_sha256(a) == file_sha256(b)


def _apply_weights(args, network: str | None = None) -> str | None:
    """``--weights NAME=PATH``: give each named backbone of the run its local weights file.

    Run after :func:`_apply_settings` (and, for ``train``, once the recipe is known). A feature
    backbone (``-f vgg16``, or a ``--params`` entry) gets ``DeepFeatures(weights=PATH)``, which is
    what ``--params``' ``features: {vgg16: {weights: PATH}}`` gives: ``args.feature_specs`` then
    holds the extractors. A ``--params`` file that sets other weights for the same backbone, or
    a NAME the run does not use, is an error (an option that would be ignored is refused, as pip
    refuses ``--platform`` without ``--only-binary``). ``network``: the backbone of a network
    recipe; returns its weights file (``None`` when not named).
    """
    weights = _parse_weights(getattr(args, "weights", None))
    args.weights_files = weights
    if not weights:
        return None
    from ..networks import BACKBONES, get_backbone

    names = [_backbone_key(f.lower()) for f in _split(args.features or "")]
    used = [n for n in names if n in BACKBONES]
    net_name = None
    if network is not None:
        try:
            net_name = get_backbone(network).name
        except ValueError:  # a keras.applications name outside the table: --weights cannot name it
            pass
        else:
            used.append(net_name)
    unused = [n for n in weights if n not in used]
    if unused:
        what = f"its backbones: {', '.join(dict.fromkeys(used))}" if used else "it uses no CNN backbone"
        raise CLIError(f"--weights {unused[0]}=...: this run does not use {unused[0]} ({what}); drop it, or name "
                       f"the backbone (-f {unused[0]}" + (", or --backbone for a network recipe)" if network else ")"))
    if any(n in weights for n in names):
        specs = args.feature_specs
        if not specs:
            from ..pipelines.make import make_features

            specs = make_features(names).transformer_list
        given = getattr(args, "settings_given", None) or {}
        for name, est in specs:
            if name not in weights:
                continue
            own = given.get(name, {})
            if "weights" in own and (own["weights"] is None or not _same_file(own["weights"], weights[name])):
                raise CLIError(f"--weights {name}={weights[name]} but {args.params} sets features.{name}.weights "
                               f"{own['weights']!r}: keep one")
            est.set_params(weights=weights[name])
        args.feature_specs = specs
    return weights.get(net_name) if net_name is not None else None


def _weights_notes(args) -> list[str]:
    """What a model file says of the local weights files it started from: backbone, file and its
    SHA-256 (the hash DeepFeatures' extraction key holds, :func:`featbus.networks.weights_id`)."""
    from ..networks import weights_id

    return [f"{name} weights from local file {path} (sha256 {weights_id(name, path)})"
            for name, path in (getattr(args, "weights_files", None) or {}).items()]


def _features_of(args):
    """What the extraction gets: the settings file's extractors, else the --features names."""
    return args.feature_specs if getattr(args, "feature_specs", None) else args.features


def _write_settings(args, union, path: Path, data, columns: dict | None = None) -> Path:
    """The settings sidecar of an output (featbus.pipelines.settings.settings_record), written atomically;
    ``columns``: what the record says of the table's columns (its ``columns`` key, which
    reading the sidecar back as settings ignores), e.g. those that read the ground-truth masks."""
    import json

    from ..io import written_atomically
    from ..pipelines.settings import settings_record

    command = "featbus " + " ".join(sys.argv[1:] if args.argv is None else args.argv)
    record = settings_record(union, region=args.region,
                             preprocess=_split(args.preprocess) if args.preprocess else [], command=command,
                             data={"path": os.path.abspath(args.data_dir), "images": len(data.target)})
    if columns is not None:
        record["columns"] = columns
    reduced = sum("file_shape" in getattr(r, "meta", {}) for r in getattr(data, "data", []))
    record["working_size"]["images_reduced"] = reduced  # read above the working size, area-reduced to it
    with written_atomically(path) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def __getattr__(name: str) -> str:
    """``_CLASSIFIER_NAMES`` / ``_SAMPLER_NAMES`` (each entry's first name), read from the ingredient
    table only by the commands that name classifiers (train, evaluate): predict needs no such table."""
    if name in ("_CLASSIFIER_NAMES", "_SAMPLER_NAMES"):
        from ..pipelines.ingredients import CLASSIFIER_TABLE, SAMPLER_TABLE

        return ", ".join(CLASSIFIER_TABLE if name == "_CLASSIFIER_NAMES" else SAMPLER_TABLE)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _cache_option(text: str):
    """``--cache``: a folder, or ``none``/``off`` for no reuse at all (``cache=False``)."""
    return False if text.strip().lower() in ("none", "off") else text


#: The bootstrap resamples behind every command's intervals (one default: demo drew 500 and adapt 200 before).
N_BOOTSTRAP = 1000


def _model_spec(text: str) -> str:
    """``MODEL``: a file as given, or the file of a classifier featbus ships named by ``text``
    (``breast-us``; :func:`featbus.model.format.model_file`); anything else as given, for the
    command to refuse in one line."""
    from ..model.format import model_file

    try:
        return model_file(text)
    except FileNotFoundError:
        return text
    except ValueError as exc:  # a shipped file damaged or swapped: its one line, not argparse's "invalid value"
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_model(p: argparse.ArgumentParser) -> None:
    """``MODEL``: the model file a command loads (or the name of a classifier featbus ships)."""
    p.add_argument("model", metavar="MODEL", type=_model_spec,
                   help="a .featbus file (from featbus train), or breast-us: the classifier featbus ships")


def add_output(p: argparse.ArgumentParser, metavar: str, help: str, *, required: bool = True) -> None:
    """``--output/-o``: what the command writes (``metavar`` names it in the help)."""
    p.add_argument("--output", "-o", metavar=metavar, required=required, default=None, help=help)


def add_overwrite(p: argparse.ArgumentParser, what: str, *, help: str | None = None) -> None:
    """``--overwrite``: replace ``what`` (the output's name in the help) when it exists."""
    p.add_argument("--overwrite", action="store_true", help=help or f"replace {what} if it exists")


def _resamples(text: str) -> int:
    """``--n-bootstrap``'s value: a whole number, 0 or more (the one check of every command)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number of resamples, 0 or more, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def add_n_bootstrap(p: argparse.ArgumentParser, resamples: str = "bootstrap resamples behind the intervals") -> None:
    """``--n-bootstrap``: :data:`N_BOOTSTRAP` resamples by default in every command, checked here
    (0 or more) for every command."""
    p.add_argument("--n-bootstrap", type=_resamples, default=N_BOOTSTRAP, metavar="B",
                   help=f"{resamples} (default {N_BOOTSTRAP}; 0: none)")


def add_segmenter(p: argparse.ArgumentParser, help: str, *, metavar: str = "FILE|NAME") -> None:
    """``--segmenter`` and ``--roi-margin``: crop every image to a segmenter's lesion box first."""
    p.add_argument("--segmenter", metavar=metavar, default=None, help=help)
    p.add_argument("--roi-margin", type=float, default=0.15, metavar="M",
                   help="with --segmenter: grow the lesion box by M of its height and width per side (default 0.15)")


def add_report(p: argparse.ArgumentParser, help: str) -> None:
    """``--report/-r DIR``: the report folder."""
    p.add_argument("--report", "-r", metavar="DIR", default=None, help=help)


def add_strict(p: argparse.ArgumentParser, judged: str) -> None:
    """``--strict``: exit with the strict status unless the verdict is 'useful'; ``judged``: on what."""
    from ..evaluation.sanity import (
        STRICT_HELP,  # here, not at the top: building another command's parser needs none of it
    )

    p.add_argument("--strict", action="store_true", help=f"{STRICT_HELP}; judged: {judged}")


def add_task(p: argparse.ArgumentParser,
             help: str = "labels of a mini-MIAS folder (as the model was trained with)") -> None:
    """``--task``: the labels a mini-MIAS folder is read with."""
    p.add_argument("--task", choices=["severity", "abnormal"], default="severity", help=help)


def add_positive(p: argparse.ArgumentParser, default: str | None, help: str) -> None:
    """``--positive CLASS``: the class of the one-vs-rest figures (``None``: the command chooses)."""
    p.add_argument("--positive", default=default, metavar="CLASS", help=help)


def add_target_sensitivity(p: argparse.ArgumentParser, default: float | None, help: str | None = None, *,
                           alias: bool = False) -> None:
    """``--target-sensitivity S``: the sensitivity an operating point chosen on the data reaches
    (validate's second operating point); ``alias``: the old spelling of ``--operating-point``
    (:func:`add_operating_point`), unlisted."""
    how = (dict(dest="operating_point", type=_target_sensitivity_text, default=argparse.SUPPRESS,
                help=argparse.SUPPRESS) if alias else dict(type=float, default=default, help=help))
    p.add_argument("--target-sensitivity", metavar="S", **how)


def _operating_point_text(text: str) -> str:
    """``--operating-point``'s value as train_model reads it: ``sensitivity=S``, ``none``, ``auto``;
    a bare number ``S`` is ``sensitivity=S`` (the spelling of the old ``--target-sensitivity S``)."""
    spec = str(text).strip().lower()
    try:
        float(spec)
    except ValueError:
        return spec
    return f"sensitivity={spec}"


def _target_sensitivity_text(text: str) -> str:
    """The old spelling ``--target-sensitivity S`` (a number), as ``sensitivity=S``."""
    try:
        float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    return f"sensitivity={str(text).strip()}"


def add_operating_point(p: argparse.ArgumentParser, default: str | None, help: str) -> None:
    """``--operating-point sensitivity=S|none``: the operating point a command chooses and stores
    (:meth:`featbus.metrics.OperatingPoint.choose`), a bare ``S`` meaning ``sensitivity=S``.

    ``--target-sensitivity S`` (adapt's spelling before the two commands shared this option) is still
    accepted as an alias and left out of ``--help``. The value lands in ``args.operating_point`` as
    ``"sensitivity=S"``, ``"none"``, ``"auto"`` or ``default``.
    """
    p.add_argument("--operating-point", type=_operating_point_text, default=default, metavar="sensitivity=S|none",
                   help=help)
    add_target_sensitivity(p, None, alias=True)


def add_test_fraction(p: argparse.ArgumentParser, help: str) -> None:
    """``--test-fraction F``: hold out about F of the near-duplicate groups."""
    p.add_argument("--test-fraction", type=float, default=None, metavar="F", help=help)


def add_n_splits(p: argparse.ArgumentParser, default: int | None, help: str) -> None:
    """``--n-splits K``: cross-validation folds (``None``: the command chooses)."""
    p.add_argument("--n-splits", type=int, default=default, metavar="K", help=help)


def add_on_error(p: argparse.ArgumentParser, default: str = "raise",
                 help: str = "an unreadable image: stop with an error naming it (default), or leave it out and list "
                             "it on stderr") -> None:
    """``--on-error raise|skip``: what an unreadable image does (the ``on_error`` parent's, unless a
    command such as predict, whose table has an error column, goes past by default)."""
    p.add_argument("--on-error", choices=["raise", "skip"], default=default, help=help)


def add_export_columns(p: argparse.ArgumentParser) -> None:
    """``--image-column``, ``--label-column``, ``--group-column``: an export table's columns, where
    featbus cannot tell them from their usual names (:func:`featbus.datasets.load_export`)."""
    g = p.add_argument_group("a release's table and files (default: worked out from the files and said: the column "
                             "naming the images by its values, the label column by its values, the patient column by "
                             "its name)")
    g.add_argument("--image-column", metavar="COLUMN", help="the table's column naming each image's file")
    g.add_argument("--label-column", metavar="COLUMN",
                   help="the table's column holding each image's label (default: the column whose values are the "
                        "classes, benign / malignant / normal, else one of a usual name), or a DICOM header field "
                        "of DICOM images (a keyword such as StudyDescription)")
    g.add_argument("--group-column", metavar="COLUMN",
                   help="the table's column naming each image's patient (images of one patient stay together), or "
                        "a DICOM header field of DICOM images (PatientID, OtherPatientIDs...)")
    g.add_argument("--group-pattern", metavar="REGEX",
                   help="each image's patient from its file name (without extension): the first (group) of REGEX, "
                        "or its whole match, e.g. '^([A-Z]+)_' for ABCD_012.png; without it, names of one "
                        "PREFIX_NUMBER shape give the prefix, said")
    add_mask_pattern(g)
    g.add_argument("--unannotated", choices=["normal", "leave-out"], default=None,
                   help="an image an annotation file (COCO JSON) lists with no annotation: a scan without a lesion, "
                        "class normal (default, said), or leave it out, named")


def add_mask_pattern(p) -> None:
    """``--mask-pattern PATTERN``: how DATA's mask files are named, where the usual mask words do not tell."""
    p.add_argument("--mask-pattern", metavar="PATTERN",
                   help="how an image's mask files are named, {stem} standing for the image's name without "
                        "extension, * and ? wildcards, e.g. '{stem}_seg*.png' (default: the image's name with a mask "
                        "word before or after it, mask/seg/gt/tumor/lesion/roi/label, or its name in a mask folder)")


def export_columns(args) -> dict:
    """The export columns a command was given, ``--group-pattern`` and ``--mask-pattern`` (``{}`` when none)."""
    given = {k: getattr(args, k, None) for k in ("image_column", "label_column", "group_column", "group_pattern",
                                                 "mask_pattern", "unannotated")
             if getattr(args, k, None) is not None}
    if "unannotated" in given:
        given["unannotated"] = given["unannotated"].replace("-", " ")
    return given


def add_trust(p: argparse.ArgumentParser, help: str) -> None:
    """``--trust``: load MODEL although it is not on the user's trust list."""
    p.add_argument("--trust", action="store_true", help=help)


def add_backbone(p: argparse.ArgumentParser, help: str, *former: str) -> None:
    """``--backbone NAME`` of a network (``former``: older names of the flag, still taken)."""
    p.add_argument("--backbone", *former, dest="backbone", default=None, metavar="NAME", help=help)


def add_input_size(p: argparse.ArgumentParser, help: str) -> None:
    """``--input-size PX``: the network's input side (the ``input_size`` of FineTunedCNN and
    UNetSegmenter). ``--image-size``, train's name for it before, still works, unlisted."""
    p.add_argument("--input-size", type=int, default=None, metavar="PX", dest="input_size", help=help)
    p.add_argument("--image-size", type=int, default=None, dest="input_size", help=argparse.SUPPRESS)


def add_epochs(p: argparse.ArgumentParser, help: str) -> None:
    """``--epochs N``: at most N training epochs of a network."""
    p.add_argument("--epochs", type=int, default=None, metavar="N", help=help)


def add_search(p: argparse.ArgumentParser, help: str) -> None:
    """``--search``: tune the classifier's main parameters by a grouped grid search (nested in the CV)."""
    p.add_argument("--search", action="store_true", help=help)


def add_force(p: argparse.ArgumentParser, help: str) -> None:
    """``--force``: go on with images that are not the kind the model learnt from (each command says what
    it does with them)."""
    p.add_argument("--force", action="store_true", help=help)


def add_members(p: argparse.ArgumentParser, help: str) -> None:
    """``--members N``: networks trained from their own seeds and averaged."""
    p.add_argument("--members", type=int, default=None, metavar="N", help=help)


class Parents:
    """The option groups commands share (argparse parents), built once per parser; each command
    takes the groups whose options it uses, so its ``--help`` lists nothing that does nothing for
    it (pip's per-command options).

    ``base`` (every command): ``--debug``, ``-v/--verbose``, ``--log-file``; ``on_error``:
    ``--on-error`` (commands that read a data set or image list); ``dicom``: ``--dicom-raw``
    (commands that read images, the app's page included); ``jobs``: ``--n-jobs``, ``--cache``
    (commands that extract feature tables); ``seed``: ``--random-state``; ``quiet``: ``--quiet``
    (commands with progress bars); ``common``: all of these (for a command that has not picked
    its groups yet); ``study``: mini-MIAS task, lesion patches, preprocessing; ``loaded_model``:
    ``--trust`` and ``--runtime`` of the commands that load a model file; ``weights``:
    ``--weights NAME=PATH`` (commands that build a CNN backbone from its starting weights);
    ``features(default_text)``: ``--features``, ``--region``, ``--params`` (a new
    parent per call: argparse shares option objects between the parsers built on one, so two
    defaults need two parents).
    """

    def __init__(self) -> None:
        from .._registry import PREPROCESSORS

        base = argparse.ArgumentParser(add_help=False)
        base.add_argument("--verbose", "-v", action="count", default=0,
                          help="say what is being done on stderr (the 'featbus' logger): -v at INFO, -vv at DEBUG")
        base.add_argument("--log-file", metavar="FILE", default=None,
                          help="also append the 'featbus' log to FILE, with times (at INFO, or DEBUG with -vv)")
        base.add_argument("--debug", action="store_true",
                          help="on an error, also print the Python traceback (and TensorFlow's start-up log)")
        self.base = base

        on_error = argparse.ArgumentParser(add_help=False)
        add_on_error(on_error)
        add_export_columns(on_error)
        self.on_error = on_error

        dicom = argparse.ArgumentParser(add_help=False)
        dicom.add_argument("--dicom-raw", action="store_true",
                           help="read DICOM files' stored values (after the modality rescale) instead of applying "
                                "their VOI LUT / window as viewers do (the default)")
        self.dicom = dicom

        jobs = argparse.ArgumentParser(add_help=False)
        jobs.add_argument("--n-jobs", type=int, default=None, metavar="N",
                          help="parallel jobs for feature extraction and model fitting (default 1; -1: all cores)")
        jobs.add_argument("--cache", metavar="DIR", default=None, type=_cache_option,
                          help="keep extracted features in DIR (default: $FEATBUS_CACHE if set); later runs and "
                               "other processes reuse them; 'none' computes every row afresh and keeps none")
        self.jobs = jobs

        seed = argparse.ArgumentParser(add_help=False)
        seed.add_argument("--random-state", type=int, default=0, metavar="SEED",
                          help="seed of folds, samplers, models")
        self.seed = seed

        quiet = argparse.ArgumentParser(add_help=False)
        quiet.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
        self.quiet = quiet

        self.common = argparse.ArgumentParser(add_help=False, parents=[jobs, quiet, seed, on_error, dicom, base])

        study = argparse.ArgumentParser(add_help=False)
        add_task(study, help="labels of a mini-MIAS folder: normal/benign/malignant (severity, default) or "
                             "normal vs abnormal")
        study.add_argument("--patches", type=int, default=None, metavar="PX",
                           help="the ROI protocol: one PX x PX patch around each lesion centre (mini-MIAS Info.txt "
                                "coordinates, meta 'lesions') and one at the breast centre of images without one; "
                                "--preprocess then applies to the patches")
        study.add_argument("--preprocess", metavar="LIST", default=None,
                           help=f"comma-separated image steps before the features, in order: "
                                f"{', '.join(n for n in PREPROCESSORS if n != 'roi')}. "
                                "For mammograms: breast-mask (film background to 0), pectoral (remove the pectoral "
                                "muscle of MLO views), flip (chest wall to the left), crop-breast (crop to the "
                                "breast). A trained model applies them to new images")
        self.study = study

        loaded = argparse.ArgumentParser(add_help=False)
        add_trust(loaded,
                  help="load MODEL although it would create types featbus does not trust by itself (a custom "
                       "estimator, or an older file's pickle: code from the file runs), and add it to your trust "
                       "list; only for files whose origin you trust (featbus inspect MODEL lists the types)")
        loaded.add_argument("--runtime", choices=["auto", "keras"], default="auto",
                            help="auto: run the model's networks through LiteRT (XNNPACK) when ai-edge-litert "
                                 "is installed: the forwards stored in the file (no TensorFlow import), else each "
                                 "network converted once into featbus's cache (breast-us's backbone and segmenter); "
                                 "keras: rebuild them and run them in Keras (Grad-CAM always uses Keras)")
        self.loaded_model = loaded

        weights = argparse.ArgumentParser(add_help=False)
        weights.add_argument("--weights", action="append", default=None, metavar="NAME=PATH",
                             help="start the CNN backbone NAME (e.g. vgg16) from the local Keras weights file PATH "
                                  "(.weights.h5 or .h5, the network without its classifier) instead of its "
                                  "ImageNet weights; repeat for several backbones. The same as "
                                  "'features: {NAME: {weights: PATH}}' in --params; a NAME the run does not use "
                                  "is an error")
        self.weights = weights

    @staticmethod
    def features(default_text: str) -> argparse.ArgumentParser:
        from .._registry import FEATURES

        feat = argparse.ArgumentParser(add_help=False)
        feat.add_argument("--features", "-f", default=None, metavar="LIST",
                          help=f"comma-separated extractors: {', '.join(FEATURES)}, or a CNN backbone name such "
                               f"as efficientnet_lite0 ({default_text})")
        feat.add_argument("--region", choices=["image", "mask", "bbox"], default=None,
                          help="region for the texture/intensity/deep extractors: whole image, lesion mask "
                               "or lesion bounding box (uses the data set's masks; default: each extractor's)")
        feat.add_argument("--params", metavar="FILE", default=None,
                          help="a settings file (YAML or JSON, as pyradiomics' parameter file): the families and "
                               "their parameters, the region and the preprocessing, instead of --features; a "
                               "table's .settings.json sidecar is one (see featbus.pipelines.settings)")
        return feat
