"""Cold one-image prediction with a frozen-feature model: ``featbus predict MODEL IMAGE`` beside
loading the same parts by hand.

A model of handcrafted features (``featbus train SAMPLE -f lbp -c logreg``, trained here on the
sample that ships with featbus unless ``--model PATH`` gives one) predicts one image of that
sample. Each way is a fresh process per run (wall seconds, interpreter start included; median
and fastest of ``--repeats``), side by side in the same run:

* ``python -c pass``: the interpreter alone;
* ``imports only (the model's parts)``: a process that imports the libraries the model's own
  parts need (scikit-learn's pipeline and logistic regression, skops to read the file, Pillow)
  and does nothing else: the floor of any way;
* ``by hand: load_model + predict_table``: featbus's model file loaded and run in a script, no
  command;
* ``featbus predict``: the command as a user types it;
* ``featbus predict + featbus.datasets``: the command with the data-set loaders imported first,
  as it did before the image paths were expanded without them (issue 59).

Ratios are to ``featbus predict``. scikit-learn's own import (``sklearn.base`` brings
scipy.stats and pandas through ``sklearn.utils``) is most of every way but the interpreter's:
a model whose head is scikit-learn cannot start faster than that.

Run from the repository root (about a minute on 2 CPU cores)::

    PYTHONPATH=. python benchmarks/predict_cold.py
    PYTHONPATH=. python benchmarks/predict_cold.py --model /tmp/lbp.featbus --repeats 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from cold_start import _seconds  # the start-up benchmarks' one fresh-process timer (this folder)

from featbus.datasets.sample import SAMPLE_DIR

REPO = Path(__file__).resolve().parents[1]
SAMPLE = Path(SAMPLE_DIR)  # the bundled sample (featbus.load_sample)

FLOOR = "import sklearn.pipeline, sklearn.linear_model, sklearn.preprocessing, skops.io, PIL.Image\n"
BY_HAND = ("import sys\nfrom featbus.model import load_model\n"
           "print(load_model(sys.argv[1]).predict_table([sys.argv[2]]).to_csv(index=False))\n")
OLD_WAY = ("import sys\nimport featbus.datasets\nfrom featbus.cli import main\n"
           "sys.exit(main(['predict', sys.argv[1], sys.argv[2]]))\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, metavar="PATH", help="a trained frozen-feature model file")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="featbus-predict-cold-"))
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2",
               FEATBUS_TRUSTED_MODELS=str(folder / "trusted.txt"))
    model = args.model
    if model is None:
        model = str(folder / "lbp.featbus")
        subprocess.run([sys.executable, "-m", "featbus", "train", str(SAMPLE), "-f", "lbp", "-c", "logreg",
                        "-o", model, "-q", "--n-bootstrap", "0", "--n-splits", "3"],
                       check=True, capture_output=True, text=True, env=env)
    image = str(sorted(f for f in (SAMPLE / "malignant").glob("*.png") if "_mask" not in f.name)[0])
    ways = {"python -c pass": [sys.executable, "-c", "pass"],
            "imports only (the model's parts)": [sys.executable, "-c", FLOOR],
            "by hand: load_model + predict_table": [sys.executable, "-c", BY_HAND, model, image],
            "featbus predict": [sys.executable, "-m", "featbus", "predict", model, image],
            "featbus predict + featbus.datasets": [sys.executable, "-c", OLD_WAY, model, image]}
    runs: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(args.repeats):  # interleaved: a burst of load elsewhere falls on every way alike
        for way, cmd in ways.items():
            runs[way].append(_seconds(cmd, env))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cold one-image predict ({Path(image).name}, model {Path(model).name}); wall seconds of a fresh "
          f"process over {args.repeats} runs; {os.cpu_count()} cores, load average {load:.1f}")
    base = statistics.median(runs["featbus predict"])
    print(f"  {'way':<38} {'median':>7} {'fastest':>8} {'ratio':>6}")
    for way, seconds in runs.items():
        median = statistics.median(seconds)
        print(f"  {way:<38} {median:7.2f} {min(seconds):8.2f} {median / base:6.2f}")


if __name__ == "__main__":
    main()
