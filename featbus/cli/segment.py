"""``featbus segment``: train a lesion segmenter, write its masks, and evaluate it against drawn masks.

Three steps, each with its options beside its code:

``featbus segment train DATA_DIR -o seg.keras``
    Trains a :class:`~featbus.UNetSegmenter` by a recipe of :data:`featbus.pipelines.recipes.SEGMENTER_RECIPES`
    (``--recipe``; ``featbus recipes`` lists them with their grouped-CV Dice) on the images' lesion
    masks (``<image>_mask*.png`` beside each image, the BUSI layout; a normal image's missing
    mask means "no lesion"), within a time budget.
``featbus segment predict seg.keras IMAGE... -o masks/``
    Writes one mask PNG per image (0 background, 255 lesion) and ``masks.csv`` (image, mask
    file, lesion found, the probability that the image holds a lesion, area). ``breast-us`` in
    place of a file is the segmenter featbus ships (trained on three sites).
``featbus segment evaluate seg.keras DATA_DIR --report DIR``
    Scores the segmenter on images with drawn masks (:mod:`featbus.segmentation.metrics`: Dice,
    IoU, pixel accuracy, sensitivity, precision, HD95, mean surface distance; lesion and
    normal images apart, intervals over near-duplicate groups) and writes ``metrics.csv``, the
    worst and best images as overlays, and ``report.html``.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from pathlib import Path

import numpy as np

from ..pipelines.recipes import DEFAULT_SEGMENTER_RECIPE, SEGMENTER_RECIPES, build_segmenter
from ._common import (
    CLIError,
    _check_segmenter_file,
    _check_writable,
    _import_tensorflow_quietly,
    _progress,
    _refuse_existing,
    _refuse_input,
    _refuse_input_in,
    _write_csv,
)
from ._data import _expand_images, _load_folder
from ._options import (
    add_backbone,
    add_epochs,
    add_input_size,
    add_members,
    add_n_bootstrap,
    add_output,
    add_overwrite,
    add_report,
    export_columns,
)
from ._progress import command_progress

__all__ = ["add_parser"]


def add_parser(sub, parents) -> None:
    """Add ``featbus segment`` and its three steps to the command line's sub-commands."""
    seg = sub.add_parser("segment", help="train a lesion segmenter (U-Net), write its masks, evaluate it",
                         description="Lesion segmentation: 'train' a U-Net on images with masks, 'predict' mask "
                                     "PNGs for new images, 'evaluate' it against drawn masks with an HTML report.")
    steps = seg.add_subparsers(dest="step", metavar="STEP", required=True)

    p = steps.add_parser("train", parents=[parents.quiet, parents.seed, parents.on_error, parents.dicom,
                                                 parents.base], help="train a U-Net on DATA_DIR's lesion masks",
                         description="Train a UNetSegmenter recipe (--recipe) on the images and their masks "
                                     "(<image>_mask*.png), within the recipe's time budget (--max-time).")
    p.add_argument("data_dir", metavar="DATA_DIR", help="class folders with <image>_mask*.png, or a CSV manifest "
                                                        "with a mask column")
    add_output(p, "FILE.keras", "the segmenter file to write")
    add_overwrite(p, "FILE")
    p.add_argument("--recipe", default=DEFAULT_SEGMENTER_RECIPE, choices=list(SEGMENTER_RECIPES),
                   help="the training recipe (featbus recipes lists them with their measured Dice; default "
                        f"{DEFAULT_SEGMENTER_RECIPE}); the flags below override its settings")
    default = SEGMENTER_RECIPES[DEFAULT_SEGMENTER_RECIPE].params
    add_backbone(p, f"the U-Net's encoder backbone (default recipe: {default['backbone']}; --encoder is its former "
                    "name): efficientnet_lite0, efficientnet_lite1 or efficientnet_lite2 (ImageNet weights from their "
                    "pip packages), scratch, or a keras.applications name such as ResNet50 (Keras downloads its "
                    "weights)", "--encoder")
    add_input_size(p, f"network input side (default recipe: {default['input_size']})")
    add_epochs(p, "at most this many epochs")
    p.add_argument("--max-time", type=float, default=None, metavar="S",
                   help="a training time budget in seconds (opt-in: without it the epochs decide when training "
                        "ends, so the same command gives the same model on any machine; when the budget cuts "
                        "training, a warning says after which epoch)")
    p.add_argument("--tta", "--flip-test", dest="tta", action=argparse.BooleanOptionalAction, default=None,
                   help="average each prediction with its mirror image's (default recipe: "
                        f"{'yes' if default['tta'] else 'no'}; --flip-test is its former name); --no-tta predicts "
                        "each image once")
    p.add_argument("--empty-masks", choices=("skip", "learn"), default=None,
                   help="images without a lesion (empty masks): skip them, as segmentation papers do (the default "
                        "recipe's), or learn from them that an image may hold no lesion")
    add_members(p, "train N networks from their own seeds and average their probabilities, in one file (default "
                   "recipe: 1); N times the training and prediction time, the time budget shared")
    p.set_defaults(func=_cmd_train)

    p = steps.add_parser("predict", parents=[parents.on_error, parents.dicom, parents.base],
                         help="write a mask PNG per image",
                         description="Predict each image's lesion mask with a segmenter file and write it as "
                                     "<image name>_mask.png (0 background, 255 lesion) into DIR, with masks.csv.")
    p.add_argument("segmenter", metavar="SEGMENTER",
                   help="a .keras file from featbus segment train, or breast-us (the segmenter featbus ships)")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files, folders or CSV manifests")
    add_output(p, "DIR", "folder for the mask PNGs")
    add_overwrite(p, "DIR", help="replace masks already in DIR")
    p.set_defaults(func=_cmd_predict)

    p = steps.add_parser("evaluate", parents=[parents.seed, parents.on_error, parents.dicom, parents.base],
                         help="score a segmenter against drawn masks",
                         description="Dice, IoU, pixel accuracy, sensitivity, precision, HD95 and mean surface "
                                     "distance per image and over DATA_DIR (lesion and normal images apart, "
                                     "95%% intervals over near-duplicate groups), with an HTML report.")
    p.add_argument("segmenter", metavar="SEGMENTER",
                   help="a .keras file from featbus segment train, or breast-us (the segmenter featbus ships)")
    p.add_argument("data_dir", metavar="DATA_DIR", help="images with drawn masks (as for train)")
    add_report(p, "write report.html, metrics.csv and overlays here")
    add_n_bootstrap(p)
    p.add_argument("--n-show", type=int, default=4, help="best and worst images shown in the report (default 4)")
    p.add_argument("--per-image", action="store_true",
                   help="also print every image's Dice, IoU and HD95 (the report's metrics.csv holds every metric)")
    p.set_defaults(func=_cmd_evaluate)


# --------------------------------------------------------------------------- train

def _cmd_train(args) -> int:
    from ..segmentation.network import check_encoder

    out = Path(args.output)
    if out.suffix.lower() != ".keras":
        raise CLIError(f"-o {str(out)!r}: a segmenter is written as a .keras file; the name must end in .keras")
    _refuse_input(out, [args.data_dir])
    _refuse_existing(out, args.overwrite)
    _check_writable(out, "-o")
    if args.backbone is not None:
        try:
            check_encoder(args.backbone)
        except ValueError as exc:
            raise CLIError(f"--backbone: {exc}") from None
    for flag, value, low in (("--input-size", args.input_size, 32), ("--epochs", args.epochs, 1)):
        if value is not None and value < low:
            raise CLIError(f"{flag} {value}: give at least {low}")
    if args.max_time is not None and not (np.isfinite(args.max_time) and args.max_time > 0):
        raise CLIError(f"--max-time {args.max_time}: give a number of seconds > 0")
    _import_tensorflow_quietly(args.debug)
    data = _load_folder(args.data_dir, args.on_error, min_classes=1, columns=export_columns(args),
                        needs_masks="the segmenter's ground-truth masks")
    records = _with_masks(data, args.data_dir)

    show = bool(_progress(args)) and sys.stderr.isatty()
    seg = build_segmenter(args.recipe, backbone=args.backbone, input_size=args.input_size, epochs=args.epochs,
                          max_time=args.max_time, tta=args.tta, empty_masks=args.empty_masks,
                          n_members=args.members, random_state=args.random_state, progress=show)
    budget = "no time budget" if seg.max_time is None else f"at most {seg.max_time:.0f} s"
    skipped = ", lesion images only" if seg.empty_masks == "skip" else ""
    nets = "a U-Net" if seg.n_members == 1 else f"{seg.n_members} U-Nets (averaged)"
    print(f"training {nets} (recipe {args.recipe}: {seg.backbone}, {seg.input_size} px{skipped}) on "
          f"{len(records)} images, {budget}", file=sys.stderr)
    seg.fit(records, groups=data.groups)
    seg.save(out)
    several = seg.n_members > 1  # then history_, n_epochs_ and best_epoch_ hold one entry per network
    histories = seg.history_["members"] if several else [seg.history_]
    for k, history in enumerate(histories):
        n_epochs, best = (seg.n_epochs_[k], seg.best_epoch_[k]) if several else (seg.n_epochs_, seg.best_epoch_)
        which = f"network {k + 1}: " if several else ""
        if seg.n_val_:
            dices = history.get("val_dice") or []
            dice = dices[best - 1] if len(dices) >= best else None  # best_epoch_ counts from 1
            print(f"{which}{seg.n_train_} training and {seg.n_val_} validation images (whole duplicate groups), "
                  f"{n_epochs} epochs in {sum(history['seconds']):.0f} s, kept epoch {best}"
                  + (f", validation Dice {dice:.3f}" if isinstance(dice, (int, float)) else ""))
        else:  # no validation split: every epoch of the schedule runs and the last weights are kept
            epochs = f"{n_epochs} epoch" + ("s" if n_epochs != 1 else "")
            print(f"{which}{seg.n_train_} training images, {epochs} in {sum(history['seconds']):.0f} s "
                  f"(stopped by: {history['stopped']}), last weights kept")
    print(f"trained in {seg.training_time_:.0f} s in all")
    print(f"segmenter: {out.resolve()}")
    return 0


def _with_masks(data, where: str, purpose: str = "a segmenter learns from them") -> list:
    """The records, refusing a data set without any drawn mask (nothing to learn or compare with)."""
    records = list(data.data)
    drawn = [bool((r.meta or {}).get("has_mask_file", r.mask is not None and r.mask.any())) for r in records]
    if not any(drawn):
        raise CLIError(f"{where!r} has no lesion masks (<image>_mask.png beside the images, or a mask column in "
                       f"a CSV manifest): {purpose}")
    missing = [i for i, r in enumerate(records) if r.mask is None]
    if missing:
        i = missing[0]
        raise CLIError(f"image {records[i].path or i!r} has no mask ({len(missing)} such image(s)): give every "
                       "image a mask (a normal image's may be absent in the BUSI layout, which reads it as empty)")
    return records


def _load_segmenter(spec: str):
    from ..segmentation.unet import UNetSegmenter

    return UNetSegmenter.load(_check_segmenter_file(spec, "segmenter"))


# --------------------------------------------------------------------------- predict

def _cmd_predict(args) -> int:
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise CLIError(f"-o {str(out)!r} is a file; give a folder for the mask PNGs")
    _check_writable(out, "-o", folder=True)
    paths = _expand_images(args.images)
    names = _mask_names(paths)
    _refuse_input_in(out, [*names, "masks.csv"], [*args.images, args.segmenter])
    clash = [n for n in names if (out / n).exists()]
    if clash:
        _refuse_existing(out, args.overwrite, taken=[f"{clash[0]!r} ({len(clash)} of the masks)"])
    _import_tensorflow_quietly(args.debug)
    seg = _load_segmenter(args.segmenter)
    import pandas as pd

    from ..io import written_whole

    rows, bad = [], []
    batch = 16
    # the masks and their list written beside, then moved in: all of them, or none (an error, Ctrl-C, SIGTERM)
    with written_whole(out) as tmp:
        with command_progress(args, f"segment predict {args.segmenter}", len(paths)) as bar:
            for start in range(0, len(paths), batch):
                _predict_chunk(seg, paths, names, start, batch, tmp, rows, bad, args.on_error)
                bar.update(len(paths[start:start + batch]))
        for row in rows:  # each mask named where it will be
            row["mask"] = str(out / Path(row["mask"]).name) if row["mask"] else ""
        order = {p: i for i, p in enumerate(paths)}
        table = pd.DataFrame(rows).sort_values("image", key=lambda c: c.map(order), kind="stable")
        _write_csv(table, tmp / "masks.csv")
    errors = len(bad)
    found = int((table["lesion_found"] == True).sum())  # noqa: E712 (a column of bools and "")
    print(f"{len(table) - errors} mask(s) written to {out} ({found} with a lesion); list: {out / 'masks.csv'}")
    shipped = _is_shipped(_check_segmenter_file(args.segmenter, "segmenter"))
    print(_presence_line(seg, shipped).replace("lesion presence:", "lesion presence (masks.csv's lesion_probability):",
                                               1))
    if errors:
        from ._common import _first_names

        print(f"skipped {errors} unreadable image(s): {_first_names([Path(b).name for b in bad])} (each with its "
              "reason in masks.csv's error column)", file=sys.stderr)
    return 0


def _predict_chunk(seg, paths, names, start, batch, out, rows, bad, on_error) -> None:
    """Masks of ``paths[start:start + batch]`` written into ``out``, their rows appended to ``rows``
    (an unreadable image: a row with its error, its path appended to ``bad``, or raised)."""
    from PIL import Image

    from ..io import load_item, written_atomically

    chunk = paths[start:start + batch]
    records, kept = [], []
    for j, p in enumerate(chunk):
        try:
            records.append(load_item(p, start + j))
            kept.append(j)
        except (ValueError, OSError) as exc:
            if on_error != "skip":
                raise
            bad.append(p)
            rows.append({"image": p, "mask": "", "lesion_found": "", "lesion_probability": "", "area_px": "",
                         "error": str(exc)})
    maps = seg.predict_proba_maps(records) if records else []
    for j, mask, prob in zip(kept, seg.masks_from_maps(maps), seg.presence_from_maps(maps)):
        name = names[start + j]
        with written_atomically(out / name, suffix=".tmp.png") as tmp:
            Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(tmp)
        rows.append({"image": chunk[j], "mask": str(out / name), "lesion_found": bool(mask.any()),
                     "lesion_probability": round(float(prob), 4), "area_px": int(mask.sum()), "error": ""})



def _maps_counted(seg, records, bar, size: int = 16) -> list:
    """The segmenter's probability maps of ``records``, ``size`` at a time, each chunk advancing ``bar``."""
    maps = []
    for start in range(0, len(records), size):
        maps += list(seg.predict_proba_maps(records[start:start + size]))
        bar.update(len(records[start:start + size]))
    return maps


def _mask_names(paths: list[str]) -> list[str]:
    """``<stem>_mask.png`` per image; images of the same name in different folders get their
    position in front, so that no mask overwrites another."""
    stems = [Path(p).stem for p in paths]
    repeated = {s for s in stems if stems.count(s) > 1}
    return [f"{i:05d}_{s}_mask.png" if s in repeated else f"{s}_mask.png" for i, s in enumerate(stems)]


# --------------------------------------------------------------------------- evaluate

def _cmd_evaluate(args) -> int:
    from ..segmentation.metrics import METRICS, segmentation_metrics, summarize_segmentation

    if args.n_show < 0:
        raise CLIError(f"--n-show {args.n_show}: give 0 or more")
    report = Path(args.report) if args.report else None
    if report is not None:
        written = ["report.html", "metrics.csv", "summary.json",
                   *(f"{kind}_{k}.png" for kind in ("worst", "best") for k in range(args.n_show))]
        _refuse_input_in(report, written, [args.data_dir, args.segmenter], "--report")
        _check_writable(report / "report.html", "--report")
    _import_tensorflow_quietly(args.debug)
    # the data first: a folder featbus cannot read is said before the segmenter loads
    data = _load_folder(args.data_dir, args.on_error, min_classes=1, columns=export_columns(args),
                        needs_masks="the segmenter's ground-truth masks")
    records = _with_masks(data, args.data_dir, purpose="evaluate compares the predictions with them")
    seg = _load_segmenter(args.segmenter)
    from ..model.provenance import overlap_notes

    cautions = [f"caution: {note}" for note in overlap_notes(seg, records)]
    with command_progress(args, f"segment evaluate {args.segmenter}", len(records)) as bar:
        maps = _maps_counted(seg, records, bar)  # once: the masks and the lesion probability from the same maps
    predicted = seg.masks_from_maps(maps)
    names = [r.path or f"#{i}" for i, r in enumerate(records)]
    table = segmentation_metrics([r.mask for r in records], predicted, names=names)
    summary = summarize_segmentation(table, data.groups, n_bootstrap=args.n_bootstrap,
                                     random_state=args.random_state)
    separation = _presence_auc_line(table["lesion"].to_numpy(bool), seg.presence_from_maps(maps), data.groups,
                                    args.n_bootstrap, args.random_state)
    lines = [*_summary_lines(summary, METRICS, _groups_text(data)), *([separation] if separation else []),
             _presence_line(seg, _is_shipped(_check_segmenter_file(args.segmenter, "segmenter"))), *cautions]
    if args.per_image:
        print("\n".join(_per_image_lines(table)))
    print("\n".join(lines))
    if report is not None:
        report.mkdir(parents=True, exist_ok=True)
        _write_csv(table, report / "metrics.csv", float_format="%.4f")
        from ..io import write_file

        write_file(report / "summary.json", json.dumps(summary, indent=1))
        page = _report_html(seg, args, records, predicted, table, lines, report)
        print(f"report: {page}")
    return 0


def _fmt(value: float, ci) -> str:
    from ..metrics import format_interval

    return format_interval(value, ci, interval_digits=3)


def _groups_text(data) -> str:
    """What the bootstrap resamples: BUS-BRA's patients, a manifest's groups, near-duplicate groups."""
    told = getattr(data, "groups_from", None)
    return str(told) if told else "near-duplicate groups"  # a manifest's group column says so in groups_from


def _per_image_lines(table) -> list[str]:
    """Every image's Dice, IoU and HD95 (lesion images; a normal image's Dice is 1 when nothing is
    predicted), then the mean Dice over the lesion images."""
    lesion = table["lesion"].to_numpy(bool)
    width = min(60, max(5, *(len(str(n)) for n in table["image"])))
    lines = [f"{'image':{width}}  {'lesion':>6}  {'dice':>6}  {'iou':>6}  {'hd95':>7}"]
    for row in table.itertuples(index=False):
        name = str(row.image)
        name = name if len(name) <= width else "..." + name[-(width - 3):]
        hd = f"{row.hd95:7.1f}" if np.isfinite(row.hd95) else f"{'n/a':>7}"
        lines.append(f"{name:{width}}  {'yes' if row.lesion else 'no':>6}  {row.dice:6.3f}  {row.iou:6.3f}  {hd}")
    if lesion.any():
        lines.append(f"mean Dice over the {int(lesion.sum())} lesion images: {table['dice'][lesion].mean():.3f}")
    return lines + [""]


def _summary_lines(summary: dict, metrics, groups: str = "near-duplicate groups") -> list[str]:
    les, nor = summary["lesion"], summary["normal"]
    lines = [f"lesion images: {les['n']} ({les['missed']} with nothing predicted; HD95 and mean surface distance "
             f"over the {les['n'] - les['boundary_undefined']} others, in pixels)"]
    for m in metrics:
        if m in les:
            lines.append(f"  {m:<15} mean {_fmt(les[m]['mean'], les[m]['ci'])}, median {les[m]['median']:.3f}")
    for key, what in (("dice_below_half", "Dice under 0.5"), ("missed_share", "given no lesion")):
        if key in les:
            lines.append(f"  {what:<15} {_fmt(les[key]['value'], les[key]['ci'])} of the lesion images")
    if nor["n"]:
        given = nor["given_lesion"]
        lines.append(f"normal images: {nor['n']}; given a lesion {_fmt(given['value'], given['ci'])}, mean false "
                     f"lesion area {nor['false_area']:.1f} px")
    lines.append(f"intervals: 95% bootstrap over {groups}")
    return lines


#: What the shipped segmenter (``breast-us``) drew on normal scans, measured
#: (docs/guide/breast_us_segmenter.rst, "No lesion"): said where it is used uncalibrated.
SHIPPED_ON_NORMAL_SCANS = ("the shipped segmenter drew one in 9 of the 11 normal scans among its validation "
                           "images, and in all 111 of BUSI's with BUSI held out")


def _is_shipped(seg_path) -> bool:
    """Whether a segmenter file is one featbus ships (the table of :mod:`featbus.networks.pretrained`)."""
    from ..networks.pretrained import PRETRAINED

    path = Path(seg_path).resolve()
    return any(p.kind == "segmenter" and path.name == p.file and path.parent.name == "weights"
               for p in PRETRAINED.values())


def _presence_line(seg, shipped: bool = False) -> str:
    """How the segmenter decides that an image holds no lesion, in plain words."""
    record = getattr(seg, "presence_", None) or {}
    if record.get("method") == "logistic":
        return (f"lesion presence: calibrated on {record['n_lesion']} validation images with a lesion and "
                f"{record['n_empty']} without; an image whose p(lesion) is under 0.5 gets an empty mask")
    reason = str(record.get("reason") or "")
    why = "" if not reason or reason == "presence='mask'" else f" ({reason})"
    return (f"lesion presence: no lesion-or-not decision{why}: a lesion is drawn wherever the thresholded mask "
            "is non-empty, so expect a lesion drawn in most normal scans"
            + (f" ({SHIPPED_ON_NORMAL_SCANS})" if shipped else "")
            + "; tell normal scans from lesions with a classifier (featbus train)")


def _presence_auc_line(has_lesion, probability, groups, n_bootstrap: int, random_state) -> str | None:
    """How well ``lesion_probability`` separates the normal scans from the lesion scans: its
    normal-vs-lesion AUC with a bootstrap interval (None without images of both kinds)."""
    from ..evaluation.figures import estimate
    from ..metrics import Predictions, format_interval

    has = np.asarray(has_lesion, dtype=bool)
    if has.all() or not has.any():
        return None
    prob = np.asarray(probability, dtype=float)
    view = Predictions.binary(has, prob >= 0.5, prob, labels=("normal", "lesion"), groups=groups, positive="lesion")
    values, intervals = estimate(view, ["auc"], groups, n_bootstrap, random_state=random_state)  # the table's AUC
    point, ci = values["auc"], intervals["auc"]
    return (f"lesion_probability, normal vs lesion images: AUC {format_interval(point, ci)} "
            f"({int((~has).sum())} normal, {int(has.sum())} lesion; 0.5: it does not tell them apart)")



def _overlay(record, predicted: np.ndarray) -> np.ndarray:
    """The image in grey with the drawn mask's outline in green and the prediction's in red."""
    import cv2

    from .._records import to_float

    gray = (np.clip(to_float(record.image), 0, 1) * 255).astype(np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    width = max(1, round(max(gray.shape) / 300))
    for mask, colour in ((record.mask, (0, 200, 0)), (predicted, (230, 0, 0))):
        contours, _ = cv2.findContours(np.asarray(mask, np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(rgb, contours, -1, colour, width)
    return rgb


def _report_html(seg, args, records, predicted, table, lines, folder: Path) -> Path:
    from PIL import Image

    from ..io import written_atomically

    lesion = np.flatnonzero(table["lesion"].to_numpy(bool))
    order = lesion[np.argsort(table["dice"].to_numpy(float)[lesion], kind="stable")]
    shown = {"worst": order[:args.n_show], "best": order[::-1][:args.n_show]}
    figures = []
    for kind, idx in shown.items():
        cells = []
        for i in idx:
            name = f"{kind}_{len(cells)}.png"
            with written_atomically(folder / name, suffix=".tmp.png") as tmp:
                Image.fromarray(_overlay(records[i], predicted[i])).save(tmp)
            row = table.iloc[i]
            cells.append(f'<figure><img src="{name}" width="300"><figcaption>{html.escape(str(row["image"]))}<br>'
                         f'Dice {row["dice"]:.3f}, HD95 {row["hd95"]:.1f} px</figcaption></figure>')
        figures.append(f"<h2>{kind.capitalize()} lesion images</h2><div class='row'>{''.join(cells)}</div>")
    nets = f", {seg.n_members} networks averaged" if seg.n_members > 1 else ""
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>featbus segmentation report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1300px}} pre{{background:#f4f4f4;padding:1em}}
.row{{display:flex;flex-wrap:wrap;gap:1em}} figure{{margin:0}}
figcaption{{font-size:0.85em;max-width:300px;overflow-wrap:anywhere}}</style>
</head><body><h1>Segmentation report</h1>
<p>Segmenter <code>{html.escape(str(args.segmenter))}</code> ({html.escape(str(seg.backbone))},
{seg.input_size} px{nets}) on
<code>{html.escape(str(args.data_dir))}</code>. Outlines: <span style="color:#00a000">drawn mask</span>,
<span style="color:#e00000">prediction</span>. If the segmenter was trained on these images, these figures are
optimistic: judge it on images it never saw.</p>
<pre>{html.escape(chr(10).join(lines))}</pre>
{''.join(figures)}
<p>Every image's figures: <a href="metrics.csv">metrics.csv</a>.</p></body></html>"""
    page = folder / "report.html"
    with written_atomically(page) as tmp:
        tmp.write_text(body)
    return page
