"""Cold start: seconds from a fresh process to the first prediction of one image.

What a clinic's laptop does when a user predicts one image: start Python, read the model, read
the image, compute, print. Three models, as ``featbus train`` makes them:

* ``default``: the recipe ``featbus train`` uses without options (``finetuned-lite0``: a
  fine-tuned EfficientNet-Lite0 at 224 px and its own softmax head);
* ``frozen-cnn``: ``featbus train -f efficientnet_lite0`` (frozen ImageNet features, scaler,
  calibrated SVM);
* ``handcrafted``: ``featbus train -f hog,lbp,intensity`` (no network), for scale.

Unless ``--model NAME=PATH`` gives a trained file, each is trained here on 30 BUSI images (the
default recipe for one epoch): prediction costs the same as for the fully trained model (same
network, same sizes), which is all this benchmark measures.

Three ways, each a fresh process per run (median of ``--repeats``; the wall time of the whole
process, interpreter start included):

* ``featbus predict``: ``featbus predict MODEL IMAGE`` as a user types it; the networks run
  through the model file's LiteRT forwards (:mod:`featbus.model.runtime`), TensorFlow is not imported;
* ``featbus predict --runtime keras``: the same, the networks rebuilt in Keras (TensorFlow);
* ``hand-written``: the plain way without featbus's file: a script that imports Keras, loads
  the network from a ``.keras`` file, reads and resizes the image, runs ``model(x)``, pools, and
  applies the scikit-learn head from ``joblib`` (or the fine-tuned head's arrays).

And the floor, ``imports only``: a process that imports what any scikit-learn model with a
LiteRT network needs (scikit-learn's SVC, pipeline and calibration, LiteRT, Pillow, OpenCV) and
does nothing else.

First, the command's own start-up, side by side in the same run: ``featbus --version`` (the
parser is built for the command that runs, so it imports no scikit-learn), beside a process that
only imports scikit-learn and, when installed, ``pyradiomics --version``.

Also printed: the largest probability difference between ``featbus predict`` and the Keras run
(the runtime's agreement), and the ratio of each way to ``featbus predict``.

Run from the repository root (about 3 minutes, plus the training of a missing model)::

    python benchmarks/cold_start.py
    python benchmarks/cold_start.py --model default=/tmp/default.featbus --repeats 5
    python benchmarks/cold_start.py --models none  # the start-up lines only (seconds)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from featbus import get_data_home

REPO = Path(__file__).resolve().parents[1]
BUSI = get_data_home() / "busi" / "Dataset_BUSI_with_GT"

HAND_WRITTEN = r"""
import sys
import numpy as np
net_path, head_path, image = sys.argv[1:4]
import cv2, joblib, keras
from PIL import Image
net = keras.saving.load_model(net_path, compile=False)
gray = np.asarray(Image.open(image).convert("L"), np.float32)
h, w = net.input_shape[1:3]
x = cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA)
x = np.repeat(x[None, :, :, None], 3, axis=-1)
features = np.asarray(net(x, training=False)).mean(axis=(1, 2))
if head_path.endswith(".npz"):  # a fine-tuned network's own head: standardise, dense, softmax
    a = np.load(head_path)
    z = ((features - a["mean"]) / a["scale"]) @ a["kernel"] + a["bias"]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
else:
    p = joblib.load(head_path).predict_proba(features)
print(",".join(f"{v:.6f}" for v in p[0]))
"""


FLOOR = ("import sklearn.svm, sklearn.pipeline, sklearn.calibration, numpy, PIL.Image, cv2\n"
         "from ai_edge_litert.interpreter import Interpreter\n"
         "print('0,0,0')")


def _train(name: str, folder: Path, out: Path) -> Path:
    """A model of recipe ``name`` trained on 30 BUSI images (10 per class) by ``featbus train``."""
    small = folder / "busi30"
    if not small.is_dir():
        for cls in ("benign", "malignant", "normal"):
            (small / cls).mkdir(parents=True)
            files = sorted(f for f in (BUSI / cls).glob("*.png") if "_mask" not in f.name)[:10]
            for f in files:
                (small / cls / f.name).symlink_to(f.resolve())
    options = {"default": ["--epochs", "1"], "frozen-cnn": ["-f", "efficientnet_lite0"],
               "handcrafted": ["-f", "hog,lbp,intensity"]}[name]
    cmd = [sys.executable, "-m", "featbus", "train", str(small), "-o", str(out), "-q", "--n-bootstrap", "0",
           "--overwrite", *options]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out


def _hand_written_files(path: Path, folder: Path) -> tuple[Path, Path] | None:
    """The network as a ``.keras`` file and the head (joblib, or the fine-tuned head's arrays)."""
    import joblib

    from featbus.model import load_model

    model = load_model(path, runtime="keras", warm_up=False)
    ests = [e for _, e in model.features.transformer_list]
    if len(ests) != 1 or type(ests[0]).__name__ not in ("DeepFeatures", "FineTunedCNN"):
        return None
    est = ests[0]
    _, network = est._keras_forward()
    net_file = folder / f"{path.stem}.keras"
    network.save(net_file)
    if model.networks:
        head_file = folder / f"{path.stem}.npz"
        np.savez(head_file, mean=est.embedding_mean_, scale=est.embedding_scale_, kernel=est.weights_[-2],
                 bias=est.weights_[-1])
    else:
        head_file = folder / f"{path.stem}.joblib"
        joblib.dump(model.head, head_file)
    return net_file, head_file


def _run(cmd: list[str], env: dict) -> tuple[float, list[float]]:
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    last = out.stdout.strip().splitlines()[-1]
    return seconds, [float(v) for v in last.split(",")[-4:-1 if last.endswith(",") else None] if v]


def _seconds(cmd: list[str], env: dict) -> float:
    """Wall seconds of one fresh process running ``cmd`` (which must succeed)."""
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return seconds


def _start_up(env: dict, repeats: int) -> None:
    """``featbus --version`` beside ``import sklearn`` and ``pyradiomics --version``, and the
    scikit-learn modules ``featbus --version`` imports (none)."""
    ways = {"python -c pass (the interpreter)": [sys.executable, "-c", "pass"],
            "featbus --version": [sys.executable, "-m", "featbus", "--version"],
            "featbus --help": [sys.executable, "-m", "featbus", "--help"],
            "python -c 'import sklearn'": [sys.executable, "-c", "import sklearn"]}
    pyradiomics = shutil.which("pyradiomics")
    if pyradiomics is not None:
        ways["pyradiomics --version"] = [pyradiomics, "--version"]
    print(f"start-up: wall seconds of a fresh process, median of {repeats}")
    base = None
    for way, cmd in ways.items():
        seconds = statistics.median(_seconds(cmd, env) for _ in range(repeats))
        base = seconds if way == "featbus --version" else base
        ratio = f"{seconds / base:6.2f}" if base else ""
        print(f"  {way:<34} {seconds:8.2f} {ratio}")
    if pyradiomics is None:
        print("  pyradiomics --version              (pyradiomics is not installed)")
    code = ("import sys\nfrom featbus.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print(sum(m.split('.')[0] == 'sklearn' for m in sys.modules), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    print(f"  scikit-learn modules imported by featbus --version: {out.stderr.strip().splitlines()[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="default,frozen-cnn,handcrafted",
                        help="models whose prediction is timed ('none': the start-up lines only)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                        help="use this trained file for NAME instead of training one")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    given = dict(item.split("=", 1) for item in args.model)
    folder = Path(tempfile.mkdtemp(prefix="featbus-cold-"))
    image = next(f for f in sorted((BUSI / "malignant").glob("*.png"), reverse=True) if "_mask" not in f.name)
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2",
               FEATBUS_TRUSTED_MODELS=str(folder / "trusted.txt"))
    _start_up(env, args.repeats)
    if args.models == "none":
        return
    print(f"cold start of one prediction ({image.name}); wall seconds of a fresh process, median of "
          f"{args.repeats}; {os.cpu_count()} cores")
    print(f"{'model':<12} {'way':<34} {'seconds':>8} {'ratio':>6}  probabilities")
    floor = statistics.median(_run([sys.executable, "-c", FLOOR], env)[0] for _ in range(args.repeats))
    print(f"{'-':<12} {'imports only (the floor)':<34} {floor:8.2f}")
    for name in args.models.split(","):
        path = Path(given[name]) if name in given else _train(name, folder, folder / f"{name}.featbus")
        ways = {"featbus predict": [sys.executable, "-m", "featbus", "predict", str(path), str(image)],
                "featbus predict --runtime keras": [sys.executable, "-m", "featbus", "predict", str(path),
                                                    str(image), "--runtime", "keras"]}
        files = _hand_written_files(path, folder)
        if files is not None:
            ways["hand-written Keras + scikit-learn"] = [sys.executable, "-c", HAND_WRITTEN, str(files[0]),
                                                         str(files[1]), str(image)]
        else:
            del ways["featbus predict --runtime keras"]  # no network: both ways are the same
        results = {}
        for way, cmd in ways.items():
            runs = [_run(cmd, env) for _ in range(args.repeats)]
            results[way] = (statistics.median(r[0] for r in runs), runs[0][1])
        base = results["featbus predict"][0]
        for way, (seconds, proba) in results.items():
            print(f"{name:<12} {way:<34} {seconds:8.2f} {seconds / base:6.2f}  "
                  + " ".join(f"{p:.4f}" for p in proba))
        if "featbus predict --runtime keras" in results:
            diff = np.max(np.abs(np.subtract(results["featbus predict"][1],
                                             results["featbus predict --runtime keras"][1])))
            print(f"{name:<12} largest probability difference, LiteRT vs Keras: {diff:.1e}")


if __name__ == "__main__":
    main()
