"""Cold start: seconds from a fresh Python process to the first prediction of a saved model.

For a handcrafted model (``hog,lbp,intensity`` -> scaler -> calibrated SVC) and an
EfficientNet-Lite0 model (ImageNet weights, ``block6d_add`` avg -> scaler -> logistic
regression), each trained here on a few images, prints, per fresh process (median of
``--repeats`` processes):

* ``import``: ``import featbus`` plus the loader's module;
* ``load``: reading the file;
* ``first``: the first prediction of one image (a BUSI image read from disk);
* ``second``: the next prediction of another image (the steady state);
* ``to first``: import + load + first, what a user waits for.

Two ways, side by side:

* ``before``: what featbus offered before the model file: ``joblib.load`` of the fitted
  pipeline (``FeatureUnion`` + the same fitted head inside an imbalanced-learn ``Pipeline``, as
  :func:`featbus.make_pipeline` builds) and ``predict_proba`` -- the CNN is built and its
  function traced during the first prediction;
* ``after``: :func:`featbus.load_model` (manifest and version checks, trust-list digest, then
  warm-up: the CNN is built and traced on a tiny image inside ``load``; a head without a sampler
  is a scikit-learn ``Pipeline``, so imbalanced-learn is not imported), then ``predict_proba``.

Data: BUSI at ``../shared/data/busi`` when present (training: 30 images; prediction: two other
images), else phantoms. Run from the repository root::

    python benchmarks/cold_start.py                 # both models, 3 processes each
    python benchmarks/cold_start.py --models handcrafted --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BUSI = REPO.parent / "shared" / "data" / "busi"

CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
how, path, img1, img2 = sys.argv[1:5]
import featbus
if how == "before":
    import joblib
else:
    from featbus.model import load_model
t1 = time.perf_counter()
if how == "before":
    parts = joblib.load(path)
    predict = lambda p: parts["head"].predict_proba(parts["features"].transform([p]))
else:
    model = load_model(path, trusted=True)
    predict = lambda p: model.predict_proba([p])
t2 = time.perf_counter()
p1 = predict(img1)
t3 = time.perf_counter()
p2 = predict(img2)
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "first": t3 - t2, "second": t4 - t3,
                  "to first": t3 - t0, "proba": p1[0].tolist()}))
"""


def _data():
    from featbus.datasets import load_image_folder, make_phantoms

    root = BUSI / "Dataset_BUSI_with_GT"
    if root.is_dir():
        data = load_image_folder(root, groups=None)
        rng = np.random.RandomState(0)
        idx = np.concatenate([rng.choice(np.flatnonzero(data.target == k), 10, replace=False) for k in range(3)])
        rest = np.setdiff1d(np.arange(len(data.target)), idx)
        from featbus.cli import _subset

        return _subset(data, idx), [data.paths[rest[0]], data.paths[rest[1]]], "BUSI"
    ph = make_phantoms(32, image_size=256, random_state=0)
    tmp = Path(tempfile.mkdtemp())
    from PIL import Image

    files = []
    for i in (30, 31):
        Image.fromarray(ph.images[i]).save(tmp / f"p{i}.png")
        files.append(str(tmp / f"p{i}.png"))
    from featbus.cli import _subset

    return _subset(ph, np.arange(30)), files, "phantoms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="handcrafted,lite0")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import joblib

    from featbus.model import train_model

    data, images, source = _data()
    recipes = {"handcrafted": ("hog,lbp,intensity", "svm"), "lite0": ("efficientnet_lite0", "logreg")}
    tmp = Path(tempfile.mkdtemp())
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    print(f"cold start, {source}; median of {args.repeats} fresh processes; seconds")
    print(f"{'model':<12} {'way':<7} {'import':>7} {'load':>7} {'first':>7} {'second':>7} {'to first':>9}")
    for name in args.models.split(","):
        features, clf = recipes[name]
        model = train_model(data, features, classifier=clf, cross_validate=False, progress=False)
        files = {"after": model.save(tmp / f"{name}.featbus", trust=False),
                 "before": tmp / f"{name}.joblib"}
        from imblearn.pipeline import Pipeline as ImbPipeline

        # before: make_pipeline's imblearn Pipeline around the same fitted head (same predictions)
        joblib.dump({"features": model.features, "head": ImbPipeline([("head", model.head)])}, files["before"])
        rows = {}
        for way in ("before", "after"):
            runs = []
            for _ in range(args.repeats):
                out = subprocess.run([sys.executable, "-c", CHILD, way, str(files[way]), *images],
                                     capture_output=True, text=True, env=env, check=False)
                if out.returncode:
                    raise SystemExit(out.stderr[-2000:])
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            med = {k: float(np.median([r[k] for r in runs])) for k in ("import", "load", "first", "second", "to first")}
            rows[way] = (med, runs[0]["proba"])
            print(f"{name:<12} {way:<7} {med['import']:7.2f} {med['load']:7.2f} {med['first']:7.2f} "
                  f"{med['second']:7.2f} {med['to first']:9.2f}")
        b, a = rows["before"][0], rows["after"][0]
        diff = float(np.max(np.abs(np.subtract(rows["before"][1], rows["after"][1]))))
        print(f"{name:<12} ratio   first prediction after/before {a['first'] / b['first']:.2f}, "
              f"to first {a['to first'] / b['to first']:.2f}; max |p_before - p_after| {diff:.1e}")


if __name__ == "__main__":
    main()
