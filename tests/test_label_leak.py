"""No label leak by default (issue 43): the default ``featbus extract`` table of BUSI holds no
column that alone tells the classes apart, the columns that read the ground-truth masks are
marked when asked for, and a report of a mask-reading pipeline says its score is optimistic."""

from __future__ import annotations

import csv
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from featbus.cli import main
from featbus.pipelines.settings import SETTINGS_SUFFIX


def _busi_manifest(busi_root: Path, path: Path, per_class: int = 40) -> Path:
    """A CSV manifest of ``per_class`` BUSI images of each class, spread over each class's
    numbering, with every mask file of each image (several lesions: ``;``-joined)."""
    rows = []
    for label in ("benign", "malignant", "normal"):
        images = sorted((p for p in (busi_root / label).glob("*.png") if "_mask" not in p.name),
                        key=lambda p: int(re.search(r"\((\d+)\)", p.name).group(1)))
        for image in images[::max(1, len(images) // per_class)][:per_class]:
            masks = sorted(image.parent.glob(f"{image.stem}_mask*.png"))
            rows.append({"image": str(image), "label": label, "mask": ";".join(str(m) for m in masks)})
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, ["image", "label", "mask"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _separating_columns(X: pd.DataFrame, labels: np.ndarray) -> list[str]:
    """Columns that alone predict the class perfectly: one threshold splits normal from lesion
    (a depth-1 tree), or the classes' value ranges are pairwise disjoint (thresholds give every
    class)."""
    values = X.to_numpy(dtype=float)
    normal = labels == "normal"

    def apart(a, b):  # a threshold puts every value of a on one side and every value of b on the other
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column separates nothing
            return (np.nanmax(a, 0) < np.nanmin(b, 0)) | (np.nanmax(b, 0) < np.nanmin(a, 0))

    classes = np.unique(labels)
    every_pair = np.ones(values.shape[1], bool)
    for i, a in enumerate(classes):
        for b in classes[i + 1:]:
            every_pair &= apart(values[labels == a], values[labels == b])
    return list(X.columns[apart(values[normal], values[~normal]) | every_pair])


def _read(out: Path) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """(feature columns, labels, the table's own list of label-leaking columns)."""
    if out.suffix == ".npz":
        z = np.load(out)
        frame = pd.DataFrame(z["X"], columns=z["feature_names"])
        return frame, np.asarray(z["target_names"])[z["target"]], list(z["label_leak"])
    table = pd.read_parquet(out)
    return table.iloc[:, 4:], table["label"].to_numpy(), table.attrs["featbus"]["label_leak"]["columns"]


def test_default_busi_table_has_no_column_that_gives_the_class_away(busi_root, tmp_path, capsys):
    """The default table of 120 BUSI images (40 of each class): no single column separates
    normal from lesion, or the three classes, unless the table, its sidecar and the output mark
    it; before issue 43 every shape column (has_lesion, area, ...) did, unmarked."""
    manifest = _busi_manifest(busi_root, tmp_path / "busi.csv")
    try:
        import pyarrow  # noqa: F401
        suffix = ".parquet"
    except ImportError:  # the table's metadata is then the .npz's label_leak array
        suffix = ".npz"
    out = tmp_path / f"default{suffix}"
    assert main(["extract", str(manifest), "-o", str(out), "-q"]) == 0
    printed = capsys.readouterr()
    X, labels, marked = _read(out)
    assert X.shape[0] == 120 and sorted(set(labels)) == ["benign", "malignant", "normal"]
    assert not any(c.startswith("shape__") for c in X.columns)
    assert "shape left out" in printed.out and "ground-truth lesion masks" in printed.out
    sidecar = json.loads(Path(f"{out}{SETTINGS_SUFFIX}").read_text())
    assert marked == [] and sidecar["columns"]["label_leak"]["columns"] == []
    assert _separating_columns(X, labels) == []

    # asked for, the mask columns are computed, and every one that gives the class away is marked
    flagged = tmp_path / f"shape{suffix}"
    assert main(["extract", str(manifest), "-f", "intensity,shape", "-o", str(flagged), "-q"]) == 0
    printed = capsys.readouterr()
    X, labels, marked = _read(flagged)
    separating = _separating_columns(X, labels)
    assert "shape__shape.has_lesion" in separating and set(separating) <= set(marked)
    assert marked == [c for c in X.columns if c.startswith("shape__")]
    sidecar = json.loads(Path(f"{flagged}{SETTINGS_SUFFIX}").read_text())
    assert sidecar["columns"]["label_leak"]["columns"] == marked
    assert "encode the label" in sidecar["columns"]["label_leak"]["why"]
    warning = [line for line in printed.err.splitlines() if "warning:" in line]
    assert len(warning) == 1 and "encode the label (every normal image has an empty mask)" in warning[0]
    assert "OPTIMISTIC" in warning[0] and "label_leak" in warning[0]


def test_marked_columns_in_every_format_and_the_sidecar_reads_back(tmp_path, capsys):
    """A CSV table has no metadata: its sidecar marks the columns, and the sidecar stays a
    settings file that remakes the table (the mark is ignored on reading)."""
    from PIL import Image

    from featbus.datasets import make_phantoms

    ph = make_phantoms(18, image_size=48, random_state=0)
    root = tmp_path / "data"
    for i, (im, m, t) in enumerate(zip(ph.images, ph.masks, ph.target)):
        (root / ph.target_names[t]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(root / ph.target_names[t] / f"case ({i}).png")
        Image.fromarray((m * 255).astype(np.uint8)).save(root / ph.target_names[t] / f"case ({i})_mask.png")
    out = tmp_path / "t.csv"
    assert main(["extract", str(root), "-f", "lbp", "--region", "mask", "-o", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    assert "texture/intensity inside the lesion mask" in err and "marked 'label_leak' in its settings sidecar" in err
    sidecar = Path(f"{out}{SETTINGS_SUFFIX}")
    columns = pd.read_csv(out).columns[4:].tolist()
    assert json.loads(sidecar.read_text())["columns"]["label_leak"]["columns"] == columns
    again = tmp_path / "again.csv"
    assert main(["extract", str(root), "--params", str(sidecar), "-o", str(again), "-q"]) == 0
    assert pd.read_csv(again).columns.tolist() == pd.read_csv(out).columns.tolist()


def test_report_summary_says_optimistic_when_the_pipeline_reads_the_masks():
    """report.summary() ends with the command line's note when the evaluated pipeline reads the
    data set's masks (shape, region="mask", a ground-truth crop, inside a search too), and only then."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    from featbus import ROICropper
    from featbus.cli._data import _mask_note
    from featbus.datasets import make_phantoms
    from featbus.evaluation import evaluate
    from featbus.pipelines import make_classification_pipeline

    data = make_phantoms(30, image_size=48, random_state=0)

    def summary(pipe):
        return str(evaluate(pipe, data, n_splits=3, n_bootstrap=0, progress=False).summary())

    text = summary(make_classification_pipeline(["intensity", "shape"], classifier="svm"))
    assert "OPTIMISTIC" in text and "shape features from the lesion masks" in text
    assert text.splitlines()[-1] == _mask_note(["intensity", "shape"], "image", real_data=True)  # one text
    assert "empty mask alone gives the class away" in text  # the normal phantoms' masks are empty
    masked = make_classification_pipeline(["intensity"], region="mask", classifier="svm")
    assert "inside the lesion mask" in summary(GridSearchCV(masked, {"classifier__C": [1]}, cv=2))
    cropped = Pipeline([("roi", ROICropper(source="mask")),
                        ("model", make_classification_pipeline(["intensity"], classifier="svm"))])
    assert "inside the lesion box" in summary(cropped)
    honest = summary(make_classification_pipeline(["intensity"], classifier="svm"))
    assert "OPTIMISTIC" not in honest and "note:" not in honest
