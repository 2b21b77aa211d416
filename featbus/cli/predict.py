"""``featbus predict MODEL IMAGE...``: class and probabilities of new images, optionally explained."""

from __future__ import annotations

import os
import re
import sys
import warnings
from pathlib import Path

from ._common import (
    CLIError,
    _check_writable,
    _first_names,
    _neutralised,
    _progress,
    _refuse_existing,
    _refuse_input,
    _write_csv,
)
from ._data import _expand_images
from ._options import add_force, add_mask_pattern, add_model, add_on_error, add_output, add_overwrite
from ._progress import command_stages
from ._startup import start

__all__ = ["add_parser", "run"]


def add_parser(sub, parents) -> None:
    # its own --on-error: a batch keeps going past an unreadable image by default (the 'error' column says it)
    p = sub.add_parser("predict", parents=[parents.quiet, parents.dicom, parents.base, parents.loaded_model],
                       help="class and probabilities of new images with a saved model",
                       description="Predict the class of every image (files or folders) with a .featbus "
                                   "model: one CSV row per image with the class, a probability per class, "
                                   "the out-of-domain score (out_of_domain: distance from the training images, "
                                   "above 1 is unlike them; unlike_training) and an error column (filled for "
                                   "unreadable images, which the batch goes past). The class is decided by "
                                   "the model file's stored operating point (e.g. malignant when "
                                   "p(malignant) >= 0.043, chosen for a target sensitivity; a model that "
                                   "takes two decisions first calls an image normal when p(lesion) is below "
                                   "one threshold, then malignant when p(malignant | lesion) reaches another, "
                                   "and adds the p_lesion and p_malignant_given_lesion columns): it can differ "
                                   "from the most probable class, and the 'rule' column and a line on stderr "
                                   "say which rule decided (--decision). Lesion-mask files "
                                   "(<image>_mask*) given as images are left out, with a note. The exit status "
                                   "is 0 when at least one image was predicted.")
    add_model(p)
    p.add_argument("images", metavar="IMAGE", nargs="+",
                   help="image files, folders (a mini-MIAS folder: its mdbNNN images) or CSV manifests (their "
                        "image column); or one feature table featbus extract wrote (its rows predicted)")
    add_output(p, "CSV", "write the table here (default: stdout)", required=False)
    add_overwrite(p, "the CSV")
    add_mask_pattern(p)
    add_on_error(p, "skip", help="an unreadable image: leave it out, its row's 'error' column saying why (default), "
                                 "or stop with an error naming it")
    p.add_argument("--decision", choices=["operating-point", "most-probable"], default="operating-point",
                   help="operating-point (default): the rule the model file stores (inspect prints it; a low "
                        "threshold on p(malignant) calls images malignant that are more probably benign, to find "
                        "more cancers; a model without one answers the most probable class); most-probable: the "
                        "class with the highest probability. The CSV's 'rule' column says which decided")
    add_force(p, "decide a class for out-of-domain images too: images that are not the kind the model "
                 "learnt from (a photograph, a mammogram for an ultrasound model) get 'out of domain' in the "
                 "predicted column and the reason in out_of_domain_reason otherwise")
    p.add_argument("--explain", metavar="DIR", default=None,
                   help="save an explanation overlay (PNG) per image into DIR")
    p.add_argument("--explain-method", choices=["auto", "occlusion", "gradcam"], default="auto",
                   help="occlusion sensitivity (any model, from its predictions) or Grad-CAM (CNN features + a "
                        "smooth classifier: SVM, logistic regression, MLP; needs Keras); "
                        "auto: Grad-CAM where supported and Keras is installed")
    p.set_defaults(func=run)


def run(args) -> int:
    out = Path(args.output) if args.output else None
    if out is not None:
        if out.suffix.lower() != ".csv":
            raise CLIError(f"-o {str(out)!r}: predictions are written as CSV; the name must end in .csv")
        _refuse_input(out, [*args.images, args.model])
        _refuse_existing(out, args.overwrite)
        _check_writable(out, "-o")
    if args.explain:
        _check_writable(Path(args.explain), "--explain", folder=True)
    from ..model.format import keras_installed

    keras = keras_installed()
    if args.explain and args.explain_method == "gradcam" and not keras:
        raise CLIError('--explain-method gradcam needs Keras (pip install "featbus[deep]"); without it, '
                       "--explain-method occlusion explains any model from its predictions")
    from ._table import is_table

    tables = [p for p in args.images if is_table(p)]
    if tables:
        return _predict_table(args, tables, out)
    said: list[str] = []  # what each folder holds: said once the model's needs are checked, before it loads
    sizes: dict[str, dict] = {}  # the pixel size a manifest's or a folder's table gives an image (issue 82)
    paths = _without_masks(_expand_images(args.images, said, mask_pattern=args.mask_pattern, pixel_sizes=sizes))
    # Grad-CAM differentiates the Keras network; occlusion needs only the predictions, so a light
    # install (featbus[runtime], LiteRT without Keras) explains a CNN model by occlusion ("auto")
    grad_cam = bool(args.explain) and args.explain_method != "occlusion" and keras
    _, (model,) = start(args, [args.model], keras_too=grad_cam, said=said)
    if not model.reads_images:
        why = model.manifest["data"].get("table", {}).get("no_recipe") or "none recorded"
        raise CLIError(f"{args.model} was trained on a feature table without its recipe ({why}), so it cannot "
                       "compute its features from images: give it a feature table with its columns (featbus extract "
                       "-o TABLE), or train on a table featbus extract wrote with its recipe")
    from ..io import MAX_IMAGE_PIXELS, header_shape, limit_words
    from ..model.scale import scale_words

    # predict decodes its files later: their sizes from their headers (one it cannot read is met later, named);
    # one above the pixel budget is left out, named, as the release reader leaves it out
    probed = dict(zip(paths, map(header_shape, paths)))
    for path, (shape, problem) in probed.items():
        if problem is None and shape[0] * shape[1] > MAX_IMAGE_PIXELS:
            print(f"left out {path}: too large: {shape[1]} x {shape[0]} pixels, above "
                  f"{limit_words('MAX_IMAGE_PIXELS')}", file=sys.stderr)
            paths = [p for p in paths if p != path]
    if not paths:
        raise CLIError("every image given is above the pixel budget (featbus.io.MAX_IMAGE_PIXELS); shrink them")
    shapes = [probed[p][0] for p in paths if probed[p][1] is None]
    print(scale_words(model.input_scale, shapes or None), file=sys.stderr)
    with warnings.catch_warnings():  # the skipped images are counted below and listed in the table
        warnings.filterwarnings("ignore", message=r"skipped \d+ unreadable", category=UserWarning)
        table = model.predict_table(_with_pixel_sizes(paths, sizes), on_error=args.on_error, decision=args.decision,
                                    force=args.force, progress=command_stages(args, f"predict {Path(args.model).name}"))
    print(_decision_line(model, args.decision), file=sys.stderr)
    for line in _data_lines(table, args.force, from_table=bool(model.manifest["data"].get("table"))):
        print(line, file=sys.stderr)
    if args.explain:
        from ..deploy.explain import explain_to_files
        from ..evaluation.reporting import predictions_html
        from ..io import written_whole

        ok = table["error"] == ""
        explain = Path(args.explain)
        with written_whole(explain) as tmp:  # the overlays and their page whole, or nothing of them
            files = explain_to_files(model, [p for p, k in zip(paths, ok) if k], tmp,
                                     method=args.explain_method, progress=_progress(args))
            table.loc[ok, "explanation"] = files
            table["explanation"] = table["explanation"].fillna("")
            predictions_html(table, tmp / "report.html", about=model.describe())  # links relative to its folder
        table["explanation"] = [str(explain / Path(f).relative_to(tmp)) if f else "" for f in table["explanation"]]
        print(f"explanations: {explain / 'report.html'}", file=sys.stderr)
    if out is not None:
        _write_csv(table, out, float_format="%.6f")
        print(f"{int((table['error'] == '').sum())} image(s) predicted -> {out}")
    else:
        print(_neutralised(table).to_csv(index=False, float_format="%.4f"), end="")
    n_bad = int((table["error"] != "").sum())
    bad = table.loc[table["error"] != "", "image"].astype(str).tolist()
    if n_bad:
        print(f"skipped {n_bad} unreadable image(s): {_first_names(bad)} (listed in the 'error' column)",
              file=sys.stderr)
    if n_bad == len(table):
        first = table["error"].iloc[0]
        raise CLIError(f"none of the {n_bad} image(s) could be predicted (the 'error' column says why; the first, "
                       f"{bad[0]!r}: {first})")
    # the CSV may be on stdout: what is said about it goes to stderr then
    domain_line = _domain_line(model, table)
    if domain_line:
        print(domain_line, file=sys.stdout if out is not None else sys.stderr)
    return 0


def _predict_table(args, tables: list[str], out: Path | None) -> int:
    """``featbus predict MODEL TABLE``: the rows of a feature table (featbus extract's) predicted, no image read."""
    if len(args.images) > 1:
        raise CLIError(f"{tables[0]!r} is a feature table: predict takes one table, or images, not both or several")
    if args.explain:
        raise CLIError("--explain draws on the images; a feature table holds none: predict on the images to explain")
    from ..pipelines.tables import TableError
    from ._table import read_table

    table = read_table(tables[0], labelled=False)
    _, (model,) = start(args, [args.model])
    try:
        result = model.predict_feature_table(table, decision=args.decision)
    except (TableError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    print(_decision_line(model, args.decision), file=sys.stderr)
    if out is not None:
        _write_csv(result, out, float_format="%.6f")
        print(f"{len(result)} row(s) predicted -> {out}")
    else:
        print(_neutralised(result).to_csv(index=False, float_format="%.4f"), end="")
    domain_line = _domain_line(model, result)
    if domain_line:
        print(domain_line, file=sys.stdout if out is not None else sys.stderr)
    return 0


def _data_lines(table, force: bool, from_table: bool = False) -> list[str]:
    """How the images differ from the model's training images, and what became of the
    out-of-domain ones (the model's training-image profile; nothing when the file stores none)."""
    if "out_of_domain_reason" not in table and from_table:
        return ["note: this model was trained on a feature table, so its file stores no profile of its training "
                "images: photographs, other modalities and lesion crops are not recognised (the out-of-domain "
                "score of the features still is)"]
    if "out_of_domain_reason" not in table:
        return ["note: this model file stores no profile of its training images (made before featbus stored one): "
                "photographs, other modalities and lesion crops are not recognised; retrain it to get them"]
    lines = [f"data: {w}" for w in table.attrs.get("data_words", [])]
    n_out = int((table["out_of_domain_reason"] != "").sum())
    if n_out:
        lines.append(f"{n_out} out-of-domain image(s) " + (
            "were given a class anyway (--force): their predictions mean nothing" if force else
            "got no class: 'out of domain' in the predicted column, why in out_of_domain_reason (--force to "
            "decide anyway)"))
    return lines


def _decision_line(model, decision: str) -> str:
    """How the 'predicted' column was decided (the 'rule' column's words), then the stored point
    with where it was chosen (both points of a two-decision model)."""
    from ..model.trust import printable

    point = model.operating_point
    if point is None:
        return "decisions: the most probable class (this model file stores no operating point)"
    chosen = f"operating point: {printable(point.describe())}"
    if decision == "most-probable":
        return (f"decisions: the most probable class (--decision most-probable); the file's operating point, not "
                f"used: {printable(point.rule_text())}\n{chosen}")
    scores = (f"; the CSV's p_lesion and p_{printable(point.positive)}_given_lesion columns are the two scores"
              if point.two_decisions else "")
    return (f"decisions: {printable(point.rule_text())} (the 'rule' column; --decision most-probable for the most "
            f"probable class){scores}\n{chosen}")


def _with_pixel_sizes(paths: list[str], sizes: dict[str, dict]) -> list:
    """The paths, each one a table gives a pixel size as a record carrying it (read lazily, as a path is)."""
    if not sizes:
        return paths
    from .._records import PIXEL_SIZE_KEY, ImageRecord

    return [ImageRecord(p, None, p, {PIXEL_SIZE_KEY: sizes[key]}) if (key := os.path.abspath(p)) in sizes else p
            for p in paths]


def _without_masks(paths: list[str]) -> list[str]:
    """The paths less lesion-mask files (``<image>_mask*`` whose image is listed too or lies beside it:
    :func:`featbus.datasets.given.masks_given`), said on stderr: a mask predicted as an image gives a
    meaningless row."""
    from ._data import _may_be_masks

    if not _may_be_masks(Path(p).stem for p in paths):
        return paths
    from ..datasets.given import masks_given

    masks = masks_given(paths)
    if not masks:
        return paths
    print(f"left out {len(masks)} mask file(s) given as images (<image>_mask*): "
          + ", ".join(Path(m).name for m in masks[:5]) + (" ..." if len(masks) > 5 else ""), file=sys.stderr)
    if len(masks) == len(paths):
        raise CLIError("every file given is a lesion mask (<image>_mask*); give the images themselves")
    drop = set(masks)
    return [p for p in paths if p not in drop]


def _domain_line(model, table) -> str:
    """How many of the images given a class look unlike the training images, or that the model cannot
    tell ("" when every image got no class)."""
    if "unlike_training" not in table:
        return ("note: this model file has no out-of-domain reference (made before featbus stored one): images "
                "unlike its training images are not flagged; retrain it to get the out_of_domain column")
    from ..model.domain import flag_summary

    flags = table["unlike_training"].tolist()
    among = ""
    if "predicted" in table:  # the images given no class (out of domain) were said above: the rest are counted
        classed = [p != "out of domain" for p in table["predicted"].tolist()]
        among = "" if all(classed) else "given a class"
        flags = [f if c else None for f, c in zip(flags, classed)]
        if all(f is None for f in flags):
            return ""
    line = flag_summary(flags, among=among)
    adapted = (model.manifest.get("domain") or {}).get("adapted")
    # an adapted model scores against its training images re-standardised on the site's
    if not (isinstance(adapted, dict) and adapted.get("how")):
        return line
    # the reference in a few words: up to its first bracket or colon, so the line's own bracket closes
    how = re.split(r" \(|:", str(adapted["how"]), maxsplit=1)[0].strip()
    return line + f" (adapted model: reference {how})"

