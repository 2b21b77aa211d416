"""``featbus extract DATA -o FILE``: the feature table of every image, and its settings sidecar."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .._registry import FEATURES, reads_masks
from ..pipelines.settings import SETTINGS_SUFFIX
from ._common import (
    CLIError,
    _check_output,
    _check_segmenter_file,
    _check_writable,
    _import_tensorflow_quietly,
    _log_data,
    _neutralised,
    _progress,
    _refuse_input,
    _split,
    _write_csv,
)
from ._data import _DATA_HELP, _load_study, _mask_need, _preprocessing_steps
from ._options import (
    _EVALUATE_FEATURES,
    _apply_settings,
    _apply_weights,
    _check_features,
    _features_of,
    _write_settings,
    add_output,
    add_overwrite,
    add_segmenter,
)

__all__ = ["add_parser", "run"]

log = logging.getLogger("featbus")


#: The default table is the one ``featbus evaluate`` scores: no family that describes the lesion
#: mask, because the masks a data set comes with are its ground truth (BUSI's normal images have
#: empty ones, so every shape column gives that class away).
_EXTRACT_FEATURES = _EVALUATE_FEATURES

#: What the table's metadata and sidecar call the columns that read the ground-truth masks.
_LEAK_KEY = "label_leak"
#: Where the table records its recipe (featbus.pipelines.tables.RECIPE_KEY; said here, so that extract imports
#: no estimator module before it needs one).
RECIPE_KEY = "recipe"


def add_parser(sub, parents) -> None:
    p = sub.add_parser("extract", parents=[parents.jobs, parents.quiet, parents.on_error, parents.dicom,
                                           parents.base, parents.features(
                           f"default {_EXTRACT_FEATURES}: no family that reads the lesion masks, since a data "
                           "set's masks are its ground truth; with shape or --region mask/bbox the columns that "
                           "read them are marked in the table and its sidecar, and a warning says why"),
                                           parents.weights, parents.study],
                       help="extract features to Parquet, CSV or NPZ",
                       description="Extract features of every image of DATA and write them with the "
                                   "image paths, labels, duplicate groups, the data set's own descriptive "
                                   "columns (a manifest's extra columns, BUS-BRA's table) and feature names. "
                                   "Labels are optional here: a folder of images without class sub-folders, "
                                   "or a manifest without a 'label' column, gives an empty label column. Columns "
                                   "computed from the data set's ground-truth lesion masks are marked "
                                   f"('{_LEAK_KEY}' in the Parquet metadata, the NPZ and the settings sidecar): "
                                   "where a class has empty masks they encode the label.")
    p.add_argument("data_dir", metavar="DATA", help=_DATA_HELP)
    add_segmenter(p, "crop every image to the lesion a segmenter predicts (its box grown by --roi-margin) before the "
                     "features, which then read its predicted mask, not the data set's: a .keras file from featbus "
                     "segment train or breast-us (the segmenter featbus ships); where it finds no lesion the whole "
                     "image is used, and the table's roi_found column is 0")
    add_output(p, "FILE", "output file: .parquet, .csv or .npz (format from the extension); an existing file is kept "
                          "unless --overwrite is given")
    add_overwrite(p, "the output file")
    p.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="compute on a Dask cluster: a scheduler (tcp://host:8786; the workers must read DATA at the "
                        "same path) or local:N (N worker processes here, started and closed by the command). The "
                        "images go in partitions written whole to FILE.parts/; the same command again computes only "
                        "the missing ones, then FILE is written (needs pip install \"featbus[dask]\")")
    p.set_defaults(func=run)


def _label_leak(union, names: list[str], data) -> tuple[list[str], str | None]:
    """The columns computed from the data set's ground-truth lesion masks, and the one-line
    warning that says what they encode and why (``([], None)`` when no column reads a mask).

    The detection is the registry's (:func:`featbus._registry.reads_masks`, as ``evaluate`` and
    ``train`` use), applied to each extractor with its own region; the text is
    :func:`featbus.evaluation.report.ground_truth_mask_note`, the command line's one note.

    Parameters
    ----------
    union : FeatureUnion
        The fitted extractors (``make_features``), ``(family, estimator)`` pairs.
    names : list of str
        The table's feature columns, ``<family>__<feature>``.
    data : Bunch
        The images (``data``: records with their masks, ``target``).

    Returns
    -------
    columns : list of str
        The marked columns, in table order.
    warning : str or None
        What they encode and why (no ``warning:`` prefix: the command line adds it).
    """
    from ..evaluation.report import ground_truth_mask_note

    reading = [(name, est) for name, est in union.transformer_list
               if reads_masks([(name, est)], getattr(est, "region", None))]
    if not reading:
        return [], None
    prefixes = tuple(f"{name}__" for name, _ in reading)
    columns = [c for c in names if c.startswith(prefixes)]
    regions = {getattr(est, "region", None) for _, est in reading}
    region = "mask" if "mask" in regions else "bbox" if "bbox" in regions else "image"
    empty = np.array([getattr(r, "mask", None) is None or not np.any(r.mask) for r in data.data])
    target = np.asarray(data.target)
    # unlabelled images (target -1) have no class to give away
    empty_classes = [str(data.target_names[c]) for c in np.unique(target) if c >= 0 and empty[target == c].all()]
    gives_away = bool(empty_classes) and not empty.all()
    what = (f"encode the label (every {'/'.join(empty_classes)} image has an empty mask)" if gives_away
            else "come from the ground-truth lesion masks")
    lead = (f"{len(columns)} of {len(names)} columns ({', '.join(name for name, _ in reading)}) {what}, "
            "so a classifier scored on them is OPTIMISTIC")
    # the empty class is named above: the note's general clause about empty masks would repeat it
    return columns, ground_truth_mask_note(reading, region, empty_masks=False, lead=lead)


#: The table's own leading columns, before the data set's passed-through ones and the features.
_TABLE_COLUMNS = ("path", "label", "target", "group")


def _passed_through(data, names: list[str]) -> dict[str, list[str]]:
    """The data set's descriptive columns (a manifest's extra columns such as patient or age,
    BUS-BRA's table), one text value per image, to be written beside the features as
    pyradiomics passes a batch file's columns through."""
    columns = list(getattr(data, "extra_columns", None) or [])
    clash = [c for c in columns if c in _TABLE_COLUMNS or c in names]
    if clash:
        raise CLIError(f"the data set's column(s) {clash} would repeat a column of the feature table "
                       f"({', '.join(_TABLE_COLUMNS)} or a feature name); rename them in the manifest")
    return {c: ["" if (v := (r.meta or {}).get(c)) is None else str(v) for r in data.data] for c in columns}


def _recipe(args, union, names: list[str], segmenter) -> dict:
    """What the table records of its features' making (:func:`featbus.pipelines.tables.table_recipe`), so that
    ``featbus train TABLE`` saves a model that computes them from images; or, where the extractors alone
    do not rebuild them (a segmenter's crops, lesion patches), why not."""
    from ..pipelines.tables import table_recipe

    if segmenter is not None:
        return {"settings": None, "why": "its features describe a segmenter's lesion crops (extract --segmenter); "
                                         "train on the images with --segmenter for a model that crops them"}
    if getattr(args, "patches", None):
        return {"settings": None, "why": "its rows are lesion patches (extract --patches), which new images "
                                         "do not come as"}
    command = "featbus " + " ".join(sys.argv[1:] if args.argv is None else args.argv)
    return table_recipe(union, region=args.region, preprocess=_split(args.preprocess) if args.preprocess else [],
                        names=names, command=command)


def _groups_from(data) -> str | None:
    """Where the data set's groups came from (``Bunch.groups_from``: a table's patient column), or None where
    they are near-duplicate groups featbus formed."""
    from ..model_selection import groups_origin

    return groups_origin(data) if getattr(data, "groups", None) is not None else None


def _write_table(path: Path, X, names, data, leak: dict, recipe: dict | None = None) -> Path:
    import pandas as pd

    from ..io import written_atomically

    suffix = path.suffix.lower()
    # unlabelled images (a folder without class sub-folders, a manifest without labels): empty label
    labels = [str(data.target_names[t]) if t >= 0 else "" for t in data.target]
    extra = _passed_through(data, names)
    # a CSV has no metadata: its recipe is its settings sidecar's (featbus.pipelines.tables)
    recipe_entry = {RECIPE_KEY: recipe} if recipe is not None and suffix == ".parquet" else {}
    # what the groups are (a table's patients, or near-duplicate groups featbus formed: None), for train's words
    recipe_entry["groups_from"] = _groups_from(data)
    if suffix == ".npz":
        with written_atomically(path) as tmp, open(tmp, "wb") as f:  # a file object: numpy adds no suffix
            np.savez_compressed(f, X=X, feature_names=np.asarray(names), paths=np.asarray(data.paths),
                                target=np.asarray(data.target), target_names=np.asarray(data.target_names),
                                groups=np.asarray(data.groups),
                                extra_columns=np.asarray(list(extra), dtype=str),
                                extra_values=np.asarray(list(extra.values()), dtype=str).T.reshape(len(labels), -1),
                                **{_LEAK_KEY: np.asarray(leak["columns"], dtype=str)},
                                groups_from=np.asarray(json.dumps(_groups_from(data))),
                                **({RECIPE_KEY: np.asarray(json.dumps(recipe))} if recipe is not None else {}))
        return path
    meta = pd.DataFrame({"path": [str(p) for p in data.paths], "label": labels,
                         "target": np.asarray(data.target), "group": np.asarray(data.groups), **extra})
    if suffix in (".parquet", ".csv"):
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            pass  # pandas writes the CSV below; Parquet then says what to install
        else:
            # a block of rows at a time: the plain concat + write held the matrix three more times
            # (benchmarks/table_write_memory.py: CSV +395 MiB -> +158 MiB for 625 x 8249)
            from ..io import write_feature_table

            write_feature_table(path, _neutralised(meta) if suffix == ".csv" else meta, X, names,
                                attrs={"featbus": {_LEAK_KEY: leak, **recipe_entry}})
            return path
    frame = pd.concat([meta, pd.DataFrame(X, columns=names)], axis=1)
    frame.attrs["featbus"] = {_LEAK_KEY: leak, **recipe_entry}  # Parquet keeps it (pandas reads it back as .attrs)
    if suffix == ".parquet":
        try:
            with written_atomically(path) as tmp:
                frame.to_parquet(tmp, index=False)
        except ImportError as exc:
            raise CLIError("writing Parquet needs pyarrow (pip install 'featbus[parquet]'); "
                           "or use -o features.csv / features.npz") from exc
    elif suffix == ".csv":
        _write_csv(frame, path, wide=True)
    else:
        raise CLIError(f"unknown output format {suffix!r}; use .parquet, .csv or .npz")
    return path


class _Rows:
    """The features of one image at a time (:func:`featbus.datasets._release_bunch.describing`): ``union``
    (unfitted, no family scaling: it learns nothing from the images) fitted on the first image described,
    each part computing in the process that calls it (``n_jobs=1``) without a progress bar of its own. Each
    row ends with the image's :func:`~featbus.model.domain.image_look` (``layout`` more numbers: its size,
    colour and image statistics), which the table's profile of its images is made from (:func:`_images_profile`)."""

    @property
    def layout(self) -> int:
        """How many of the row's last numbers are the image's look (:data:`featbus.model.domain.LOOK_COLUMNS`)."""
        from ..model.domain import LOOK_COLUMNS

        return len(LOOK_COLUMNS)

    def __init__(self, union):
        self._given = [(part, {k: part.get_params()[k] for k in ("n_jobs", "progress") if k in part.get_params()})
                       for _, part in union.transformer_list]
        for part, given in self._given:
            part.set_params(**{k: v for k, v in (("n_jobs", 1), ("progress", False)) if k in given})
        self.union = union
        self.fitted = False

    def fitted_union(self):
        """The union, fitted, with the parts' own ``n_jobs`` and ``progress`` again (its settings sidecar)."""
        for part, given in self._given:
            part.set_params(**given)
        return self.union

    def __call__(self, record) -> np.ndarray:
        from ..model.domain import image_look

        if not self.fitted:
            row = np.asarray(self.union.fit_transform([record]))[0]
            self.fitted = True
        else:
            row = np.asarray(self.union.transform([record]))[0]
        return np.concatenate([np.asarray(row, dtype=np.float64), image_look(record)])


def _look_of(record, index: int) -> np.ndarray:
    """:func:`featbus.model.domain.image_look` of one held image (``map_images``' ``func``)."""
    from ..model.domain import image_look

    return image_look(record)


def _images_profile(looks, data) -> dict:
    """The profile of the images the table describes (:func:`featbus.model.domain.profile_of` of their
    :func:`~featbus.model.domain.image_look` rows, their groups kept whole by its folds, random state 0, as
    ``featbus train`` on the images makes it), which ``featbus train TABLE`` stores in its model so that
    predict names a photograph or another modality as a model trained on the images does; or why none."""
    from ..model.domain import described_from_looks, profile_of

    try:
        profile = profile_of(described_from_looks(looks), getattr(data, "groups", None), random_state=0)
    except ValueError as exc:
        return {"why": str(exc)}
    return {"profile": profile,
            "from": f"the {len(looks)} images it described, at their own size, before any preprocessing"}


def _streams(args, segmenter, union) -> bool:
    """Whether the rows are computed as the images are read, none of them kept (:class:`_Rows`): the features
    read the image alone (no mask, no family scaling), nothing transforms the images first (--preprocess,
    --patches, --segmenter). With --dask the cluster's workers read and describe them
    (:class:`featbus.cli._dask.EntriesOnCluster`)."""
    return (segmenter is None and not _preprocessing_steps(args.preprocess)
            and not getattr(args, "patches", None) and _mask_need(args) is None
            and getattr(union, "family_scaling", None) in (None, "none"))


def run(args) -> int:
    from ..pipelines.make import make_features

    out = Path(args.output)
    _refuse_input(out, [args.data_dir])
    _check_output(out, args.overwrite)  # fail fast: before reading images and extracting
    if args.dask is not None:
        from ._dask import check_address

        check_address(args.dask)  # a mistyped address, or Dask not installed: said before reading
    default = args.features is None and getattr(args, "params", None) is None
    _apply_settings(args, _EXTRACT_FEATURES)
    _check_features(args.features, args.debug)
    _apply_weights(args)
    _preprocessing_steps(args.preprocess)
    sidecar = out.with_name(out.name + SETTINGS_SUFFIX)
    _refuse_input(sidecar, [args.data_dir], "the settings sidecar")
    _check_writable(sidecar, "the settings sidecar")
    segmenter = None
    if args.segmenter is not None:
        if not (np.isfinite(args.roi_margin) and args.roi_margin >= 0):
            raise CLIError(f"--roi-margin {args.roi_margin}: give a number >= 0 (a share of the lesion's size)")
        segmenter = _check_segmenter_file(args.segmenter, "--segmenter")
        _import_tensorflow_quietly(args.debug)
    elif args.roi_margin != 0.15:
        raise CLIError("--roi-margin needs --segmenter FILE|NAME")
    union = make_features(_features_of(args), region=args.region, n_jobs=args.n_jobs, cache=args.cache,
                          progress=_progress(args))
    t0 = time.perf_counter()
    rows = _Rows(union) if _streams(args, segmenter, union) else None
    from ..datasets._release_bunch import describing

    if rows is not None and args.dask is not None:  # the workers read the entries: no pixels shipped from here
        from ._dask import EntriesOnCluster

        reading = describing(rows, run=EntriesOnCluster(args.dask, out, _progress(args)))
    else:
        reading = describing(rows) if rows is not None else contextlib.nullcontext()
    with reading:
        data = _load_study(args)
    _log_data(data, args.data_dir)
    _passed_through(data, [])  # a clash with the table's own columns: said before extracting
    records = list(data.data)
    if segmenter is not None:  # the features read the segmenter's crop and mask, as train --segmenter's model
        from ..segmentation.roi import ROICropper

        roi = ROICropper(segmenter=segmenter, source="segmenter", margin=float(args.roi_margin), on_empty="image",
                         pass_mask=True)
        records = roi.fit(records).transform(records)
    looks = None
    if "features" in data:  # computed image by image as the release was read (_Rows), each row ending with a look
        union, X = rows.fitted_union(), np.asarray(data.features)
        X, looks = X[:, :-rows.layout], X[:, -rows.layout:]
    elif args.dask is None:
        X = np.asarray(union.fit_transform(records))
    else:  # the rows on the cluster, in partitions that a rerun reuses
        from ._dask import extract_on_cluster

        X = extract_on_cluster(union, records, out, args.dask, _progress(args))
    names = [str(n) for n in union.get_feature_names_out()]
    if segmenter is not None:
        found = np.array([float(r.meta["roi_found"]) for r in records])
        X, names = np.column_stack([X, found]), [*names, "roi_found"]
        print(f"the segmenter found a lesion in {int(found.sum())} of {len(found)} images (roi_found 1; the others' "
              "features describe the whole image)", file=sys.stderr)
    log.info("extracted %d x %d features (%s) in %.1f s", X.shape[0], X.shape[1], args.features,
             time.perf_counter() - t0)
    # with a segmenter the masks the features read are its predictions, not the data set's ground truth
    columns, warning = ([], None) if segmenter is not None else _label_leak(union, names, data)
    leak = {"columns": columns, **({"why": warning} if warning else {})}
    out.parent.mkdir(parents=True, exist_ok=True)
    recipe = _recipe(args, union, names, segmenter)
    if recipe.get("settings") is not None:  # a model of the table predicts on images: what they looked like
        if looks is None:  # the images held (read whole: near-duplicate groups, masks, preprocessing): in threads,
            from .._records import map_images  # whose OpenCV filters release the GIL

            looks = np.array(map_images(_look_of, list(data.data), args.n_jobs, backend="threading"))
        recipe["images"] = _images_profile(looks, data)
    _write_table(out, X, names, data, leak, recipe)
    # the sidecar is the settings record itself: it marks that the recipe is there (names: the table's columns)
    mark = ({"in": "this file", "images": recipe["images"]} if recipe.get("settings") is not None
            else {"why": recipe["why"]})
    _write_settings(args, union, sidecar, data, columns={_LEAK_KEY: leak, RECIPE_KEY: mark,
                                                                  "groups_from": _groups_from(data)})
    log.info("wrote %s and %s", out, sidecar)
    extra = list(getattr(data, "extra_columns", None) or [])
    unlabelled = int(np.sum(np.asarray(data.target) < 0))
    print(f"wrote {X.shape[0]} images x {X.shape[1]} features to {out} "
          f"({time.perf_counter() - t0:.1f} s); settings in {sidecar}"
          + (f"; the data set's columns {', '.join(extra)} passed through" if extra else "")
          + (("; unlabelled (empty label column)" if unlabelled == X.shape[0] else
              f"; {unlabelled} of them unlabelled (an empty label cell: a split published without labels)")
             if unlabelled else ""))
    # the mask-describing families (the registry's needs_mask) that the default leaves out
    left_out = [f for f in FEATURES if reads_masks([f], "image") and f not in _split(args.features)] if default else []
    if left_out:
        print(f"features {args.features} (the default): {', '.join(left_out)} left out, as its columns would "
              "come from the data set's ground-truth lesion masks and give away a class whose masks are empty; "
              f"-f {args.features},{left_out[0]} adds them, marked as '{_LEAK_KEY}'")
    if warning:
        where = "its settings sidecar" if out.suffix.lower() == ".csv" else "the table and its settings sidecar"
        warnings.warn(f"{warning} They are marked '{_LEAK_KEY}' in {where}.", UserWarning, stacklevel=2)
    return 0
