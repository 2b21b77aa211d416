"""``featbus compare MODEL_A MODEL_B [...] DATA``: saved models on the same labelled images, with
paired differences and intervals over patients (:func:`featbus.evaluation.comparison.compare_models`)."""

from __future__ import annotations

import os
from pathlib import Path

from ._common import CLIError, _check_writable, _progress, _refuse_existing, _refuse_input_in
from ._data import _DATA_HELP
from ._options import _model_spec, add_n_bootstrap, add_output, add_overwrite, add_positive, add_task
from ._startup import start

__all__ = ["add_parser", "run"]


def add_parser(sub, parents) -> None:
    p = sub.add_parser("compare", parents=[parents.quiet, parents.seed, parents.on_error, parents.dicom, parents.base,
                                           parents.loaded_model],
                       help="compare saved models on the same labelled images: AUC, sensitivity, specificity (and "
                            "lesions called normal) and paired differences with intervals over patients",
                       description="Predict every image of DATA once with each MODEL (nothing is refitted; the "
                                   "decisions are the model's own, at the operating point its file stores, as "
                                   "featbus validate makes them) and print each model's AUC of p(positive) and its "
                                   "sensitivity and specificity, then each model minus the first (B - A) with 95 % "
                                   "intervals from one bootstrap of DATA's groups (patients: a manifest's group "
                                   "column, BUS-BRA's Case; near-duplicate groups otherwise) shared by every model "
                                   "(paired). Images a model or a trained part of it saw are named; differences on "
                                   "them say so on their line and the verdict reads only the images neither model "
                                   "of a pair saw. An interval that covers 0 is 'no difference shown'. Of models "
                                   "that take two decisions (breast-us: presence, then malignancy), lesions, "
                                   "malignant and normal scans called normal too; a sentence on switching says 'do "
                                   "not switch' whenever a model misses more lesions or cancers beyond its interval.")
    p.add_argument("items", nargs="+", metavar="MODEL",
                   help="two or more models (a .featbus file from featbus train, or breast-us: the classifier featbus "
                        "ships), the first the reference; then DATA: " + _DATA_HELP
                        + ", or a BUS-BRA folder (bus_data.csv + class folders)")
    add_output(p, "DIR", "write compare.json (every figure, interval, word and seen image) and compare.png (ROC "
                         "curves of every model on these images, paired differences with intervals) into DIR",
               required=False)
    add_overwrite(p, "compare.json and compare.png in DIR")
    add_n_bootstrap(p, "bootstrap resamples of DATA's groups behind the intervals (the same for every model)")
    add_positive(p, "malignant", "the class of the AUC, sensitivity and specificity (default malignant)")
    p.add_argument("--figure", action="append", default=None, metavar="NAME", dest="figures",
                   help="a figure to compare, by its name in the figure table (auc, sensitivity, specificity, "
                        "lesions_called_normal, called_normal: the positive class's images called normal, "
                        "normals_called_normal, balanced_accuracy, sensitivity[benign]...); repeat for several. "
                        "Default: AUC, sensitivity and specificity, and the lesion-or-normal decision when every "
                        "model takes two decisions")
    add_task(p)
    p.set_defaults(func=run)


def _models_and_data(items: list[str]) -> tuple[list[str], str]:
    """The MODEL arguments (shipped names resolved) and DATA, with every argument problem as one line."""
    if len(items) < 3:
        got = ("nothing" if not items else f"only {items[0]!r}" if len(items) == 1
               else f"one model ({items[0]!r}) and DATA ({items[1]!r})")
        raise CLIError(f"compare needs at least two models and DATA (featbus compare MODEL_A MODEL_B DATA); got {got}")
    models = [_model_spec(m) for m in items[:-1]]
    for given, path in zip(items[:-1], models):
        if not Path(path).is_file():
            hint = " (it is a folder: DATA goes last)" if Path(path).is_dir() else ""
            raise CLIError(f"model {given!r}: no such file{hint}; give a .featbus file or breast-us")
    seen: dict[str, str] = {}
    for given, path in zip(items[:-1], models):
        key = os.path.realpath(path)
        if key in seen:
            raise CLIError(f"model {given!r} is given twice (as {seen[key]!r} too): compare different models")
        seen[key] = given
    return models, items[-1]


def _names(items: list[str]) -> list[str]:
    """How each model is called in the table: the file's name, the full argument where two share one."""
    short = [Path(m).name for m in items]
    return [s if short.count(s) == 1 else m for s, m in zip(short, items)]


def run(args) -> int:
    from ..evaluation.comparison import compare_models

    models, data_path = _models_and_data(list(args.items))
    if args.figures:
        from ..evaluation.figures import parse_figure

        for name in args.figures:
            try:
                parse_figure(name)
            except ValueError as exc:
                raise CLIError(f"--figure {name!r}: {exc}") from None
    out = Path(args.output) if args.output else None
    if out is not None:
        if out.exists() and not out.is_dir():
            raise CLIError(f"-o {str(out)!r} is a file; give a folder")
        _refuse_input_in(out, ["compare.json", "compare.png"], [*models, data_path])
        _refuse_existing(out, args.overwrite, taken=[n for n in ("compare.json", "compare.png") if (out / n).exists()])
        _check_writable(out, "-o", folder=True)
    data, loaded = start(args, models, data=data_path, min_classes=2)
    result = compare_models(loaded, data, names=_names(list(args.items[:-1])), positive=args.positive,
                            figures=args.figures, n_bootstrap=args.n_bootstrap, random_state=args.random_state,
                            progress=_progress(args))
    result.sources = [str(m) for m in args.items[:-1]]
    print(result.summary())
    if out is not None:
        from ..io import written_whole

        with written_whole(out) as tmp:  # both files, or neither (an error, Ctrl-C, SIGTERM)
            json_path, png_path = (out / Path(p).relative_to(tmp) for p in result.write(tmp, overwrite=True))
        print(f"\nwritten: {json_path}, {png_path}")
    return 0
