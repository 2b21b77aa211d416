"""The options several ``featbus`` commands share (:class:`Parents`), and what they mean: feature
names checked before any image is read, settings files (``--params``), the classifier and
sampler names the help lists.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..ingredients import CLASSIFIER_TABLE, SAMPLER_TABLE
from ._common import CLIError, _import_tensorflow_quietly, _one_line, _split

__all__ = ["Parents"]


_DEF_FEATURES = "hog,lbp,glcm,intensity,shape"


# evaluate scores what a new image, which comes without a lesion mask, can reach: no mask-based
# features by default (shape from BUSI's ground-truth masks scores 0.95, the empty masks of its
# normal images giving that class away)
_EVALUATE_FEATURES = "hog,lbp,glcm,intensity"


_TRAIN_FEATURES = "hog,lbp,intensity"  # -c without -f: the handcrafted recipe's (no mask needed)


_DEMO_FEATURES = "lbp,glcm,intensity"  # no mask needed: honest on real data


def _check_features(features: str, debug: bool) -> None:
    """Fail fast on a misspelt extractor or a missing optional part, before reading images."""
    from ..pipelines import make_features

    try:
        make_features(features)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    from .._registry import FEATURES  # the handcrafted families; every other name is a CNN backbone

    if any(f.lower() not in FEATURES for f in _split(features)):
        _import_tensorflow_quietly(debug)


def _apply_settings(args, default: str | None) -> None:
    """``--params FILE``: features, region and preprocessing from a settings file (checked
    before any image is read). Sets ``args.feature_specs`` (the extractors, or ``None``) and
    ``args.features`` (their names, for messages and reports)."""
    from ..settings import SettingsError, read_settings, settings_extractors

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


def _features_of(args):
    """What the extraction gets: the settings file's extractors, else the --features names."""
    return args.feature_specs if getattr(args, "feature_specs", None) else args.features


def _write_settings(args, union, path: Path, data, columns: dict | None = None) -> Path:
    """The settings sidecar of an output (featbus.settings.settings_record), written atomically;
    ``columns``: what the record says of the table's columns (its ``columns`` key, which
    reading the sidecar back as settings ignores), e.g. those that read the ground-truth masks."""
    import json

    from ..io import written_atomically
    from ..settings import settings_record

    command = "featbus " + " ".join(sys.argv[1:] if args.argv is None else args.argv)
    record = settings_record(union, region=args.region,
                             preprocess=_split(args.preprocess) if args.preprocess else [], command=command,
                             data={"path": os.path.abspath(args.data_dir), "images": len(data.target)})
    if columns is not None:
        record["columns"] = columns
    with written_atomically(path) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


_CLASSIFIER_NAMES = ", ".join(CLASSIFIER_TABLE)  # each entry's first name


_SAMPLER_NAMES = ", ".join(SAMPLER_TABLE)


def _cache_option(text: str):
    """``--cache``: a folder, or ``none``/``off`` for no reuse at all (``cache=False``)."""
    return False if text.strip().lower() in ("none", "off") else text


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
    ``--trust`` and ``--runtime`` of the commands that load a model file;
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
        on_error.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                              help="an unreadable image: stop with an error naming it (default), or leave it "
                                   "out and list it on stderr")
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
        study.add_argument("--task", choices=["severity", "abnormal"], default="severity",
                           help="labels of a mini-MIAS folder: normal/benign/malignant (severity, default) or "
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
        loaded.add_argument("--trust", action="store_true",
                            help="load MODEL although it would create types featbus does not trust by itself (a "
                                 "custom estimator, or an older file's pickle: code from the file runs), and add it "
                                 "to your trust list; only for files whose origin you trust (featbus inspect MODEL "
                                 "lists the types)")
        loaded.add_argument("--runtime", choices=["auto", "keras"], default="auto",
                            help="auto: run the model's networks with the inference runtime stored in the file "
                                 "(LiteRT, no TensorFlow import) when ai-edge-litert is installed; keras: rebuild "
                                 "them in Keras")
        self.loaded_model = loaded

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
                               "table's .settings.json sidecar is one (see featbus.settings)")
        return feat
