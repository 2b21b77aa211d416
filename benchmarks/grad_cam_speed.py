"""How long one Grad-CAM map takes, beside the forward pass it is built on, in one run.

A Lite0 + Platt-calibrated RBF SVC model (featbus's default head on frozen ImageNet Lite0
features) is trained on a class-balanced BUSI subset; then, on held-out images, each row times
the same images:

* ``forward``: ``model.transform`` of one image (the CNN's forward pass and pooling), the unit;
* ``Grad-CAM, closed form``: :func:`featbus.deploy.explain.grad_cam` as shipped, whose head gradient
  is in closed form for this head (:func:`featbus.deploy.explain.class_score_gradient`);
* ``Grad-CAM, differences``: the same map with the head gradient by central differences
  (``2 x n_features`` rows through libsvm at each of the path's points), the route before.

The maps of the two Grad-CAM rows are compared (largest difference relative to the map's
range). Run from the repository root (data at ../shared/data)::

    python benchmarks/grad_cam_speed.py [--n-train 60] [--n-images 10]
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import numpy as np

from featbus import get_data_home

DEFAULT_DATA = get_data_home() / "busi" / "Dataset_BUSI_with_GT"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--n-train", type=int, default=60, help="training images per class")
    parser.add_argument("--n-images", type=int, default=10, help="held-out images timed")
    args = parser.parse_args(argv)

    from sklearn.utils import Bunch

    from featbus import DeepFeatures, load_busi, train_model
    from featbus.deploy import explain as ex

    data = load_busi(args.data)
    rng = np.random.default_rng(0)
    train, test = [], []
    for c in range(len(data.target_names)):
        idx = rng.permutation(np.flatnonzero(data.target == c))
        train += idx[:args.n_train].tolist()
        test += idx[args.n_train:args.n_train + args.n_images // len(data.target_names) + 1].tolist()
    test = test[:args.n_images]
    subset = Bunch(**{**data, **{key: [data[key][i] for i in train] for key in ("images", "masks", "paths", "data")},
                      "target": data.target[train], "groups": data.groups[train]})
    model = train_model(subset, [("lite0", DeepFeatures(backbone="efficientnet_lite0"))], classifier="svm",
                        cross_validate=False, progress=False)
    images = [data.data[i].image for i in test]
    model.transform(images[:1])  # warm-up: graph tracing is not what is timed
    ex.grad_cam(model, images[0])

    def timed(fn):
        out, t = [], time.perf_counter()
        for im in images:
            out.append(fn(im))
        return out, (time.perf_counter() - t) / len(images)

    _, forward = timed(lambda im: model.transform([im]))
    closed, t_closed = timed(lambda im: ex.grad_cam(model, im))
    with mock.patch.object(ex, "class_score_gradient", return_value=None):
        diffs, t_diff = timed(lambda im: ex.grad_cam(model, im))
    gap = max(float(np.abs(a - b).max() / max(np.ptp(b), 1e-12)) for a, b in zip(closed, diffs))
    n_features = model.transform(images[:1]).shape[1]
    print(f"{model!r}\n{len(images)} held-out BUSI images, {n_features} features, "
          f"{len(model.head.calibrated_classifiers_[0].estimator[-1].support_vectors_)} support vectors\n")
    print(f"{'route':<26}{'s/image':>9}{'x forward':>11}")
    for name, t in (("forward (transform)", forward), ("Grad-CAM, closed form", t_closed),
                    ("Grad-CAM, differences", t_diff)):
        print(f"{name:<26}{t:>9.3f}{t / forward:>11.1f}")
    print(f"\nclosed form vs differences: {t_diff / t_closed:.1f}x faster; largest map difference "
          f"{gap:.1e} of the map's range")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
