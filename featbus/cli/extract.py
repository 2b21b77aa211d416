"""``featbus extract DATA -o FILE``: the feature table of every image, and its settings sidecar."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ._common import CLIError, _check_output, _check_writable, _progress, _write_csv
from ._data import _DATA_HELP, _load_study, _preprocessing_steps
from ._options import _DEF_FEATURES, _apply_settings, _check_features, _features_of, _write_settings

__all__ = ["add_parser", "run"]


def add_parser(sub, parents) -> None:
    p = sub.add_parser("extract", parents=[parents.common, parents.features(f"default {_DEF_FEATURES}"),
                                           parents.study],
                       help="extract features to Parquet, CSV or NPZ",
                       description="Extract features of every image of DATA and write them with the "
                                   "image paths, labels, duplicate groups and feature names.")
    p.add_argument("data_dir", metavar="DATA", help=_DATA_HELP)
    p.add_argument("--output", "-o", required=True, metavar="FILE",
                   help="output file: .parquet, .csv or .npz (format from the extension); an existing "
                        "file is kept unless --overwrite is given")
    p.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    p.set_defaults(func=run)


def _write_table(path: Path, X, names, data) -> Path:
    import pandas as pd

    from ..io import written_atomically

    suffix = path.suffix.lower()
    labels = [str(data.target_names[t]) for t in data.target]
    if suffix == ".npz":
        with written_atomically(path) as tmp, open(tmp, "wb") as f:  # a file object: numpy adds no suffix
            np.savez_compressed(f, X=X, feature_names=np.asarray(names), paths=np.asarray(data.paths),
                                target=np.asarray(data.target), target_names=np.asarray(data.target_names),
                                groups=np.asarray(data.groups))
        return path
    meta = pd.DataFrame({"path": [str(p) for p in data.paths], "label": labels,
                         "target": np.asarray(data.target), "group": np.asarray(data.groups)})
    frame = pd.concat([meta, pd.DataFrame(X, columns=names)], axis=1)
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


def run(args) -> int:
    from ..pipelines import make_features
    from ..settings import SETTINGS_SUFFIX

    out = Path(args.output)
    _check_output(out, args.overwrite)  # fail fast: before reading images and extracting
    _apply_settings(args, _DEF_FEATURES)
    _check_features(args.features, args.debug)
    _preprocessing_steps(args.preprocess)
    sidecar = out.with_name(out.name + SETTINGS_SUFFIX)
    _check_writable(sidecar, "the settings sidecar")
    data = _load_study(args)
    t0 = time.perf_counter()
    union = make_features(_features_of(args), region=args.region, n_jobs=args.n_jobs, cache=args.cache,
                          progress=_progress(args))
    X = np.asarray(union.fit_transform(data.data))
    names = [str(n) for n in union.get_feature_names_out()]
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_table(out, X, names, data)
    _write_settings(args, union, sidecar, data)
    print(f"wrote {X.shape[0]} images x {X.shape[1]} features to {out} "
          f"({time.perf_counter() - t0:.1f} s); settings in {sidecar}")
    return 0
