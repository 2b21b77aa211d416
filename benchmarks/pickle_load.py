"""Seconds for a pickled pipeline holding ``DeepFeatures()`` to load in a new process, and to predict.

A project that uses featbus as a dependency pickles (or ``joblib.dump``-s) a fitted pipeline and
loads it elsewhere. ``DeepFeatures`` never pickles its network: the pickle holds the parameters,
and the network is rebuilt on first use in the new process from the shipped weights (the default
backbone, EfficientNet-Lite0, converted once into ``$KERAS_HOME/featbus``). Measured, each a fresh
process (wall seconds of the whole process, interpreter start included; median of ``--repeats``),
side by side in one run:

* ``python -c pass``: the interpreter alone;
* ``load: HOG + SVC``: ``pickle.load`` of a pipeline without a network, the floor of any load;
* ``load: DeepFeatures() + SVC``: ``pickle.load`` of the pipeline holding ``DeepFeatures()``;
* ``load + predict 1 image``: the same, then ``predict`` on one image (the network is built
  and its weights read here: the first prediction's cost, paid once per process).

The pickles are fitted here on the images that ship with featbus (``load_sample``), so the
script needs no data set. The aim (issue 84): the DeepFeatures pickle loads in <= 5 s.

Run from the repository root::

    python benchmarks/pickle_load.py [--repeats 3]

Result (2 CPU cores shared with other jobs, load average 10.6 during the run; Keras 3.15 on
TensorFlow 2.21 CPU)::

    a fresh process each, median of 3 (wall s, interpreter start included); 2 CPU(s); DeepFeatures pickle 87 KiB
      python -c pass                   0.16 s
      load: HOG + SVC                  5.77 s
      load: DeepFeatures() + SVC       4.99 s
      load + predict 1 image          22.40 s

Loading costs what any scikit-learn pipeline's does (``python -X importtime`` puts nearly all of
it in ``import sklearn``; featbus's modules add about 0.1 s and import no Keras): the pickle holds
no network. The first prediction pays the deep-learning backend's import and the network's build
once per process.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

LOAD = "import pickle\nwith open({path!r}, 'rb') as f:\n    pipe = pickle.load(f)\n"
PREDICT = LOAD + "import numpy as np\nprint(pipe.predict([np.load({image!r})]))\n"


def fresh(code: str, repeats: int) -> float:
    """Median wall seconds of ``python -c code`` in a new process."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import numpy as np
    from sklearn.svm import SVC

    from featbus import DeepFeatures, HOGFeatures, load_sample, make_pipeline

    data = load_sample()
    X, y = data.data, data.target
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        deep = make_pipeline(DeepFeatures(progress=False), SVC()).fit(X, y)
        hog = make_pipeline(HOGFeatures(progress=False), SVC()).fit(X, y)
        for name, pipe in (("deep", deep), ("hog", hog)):
            (tmp / f"{name}.pkl").write_bytes(pickle.dumps(pipe))
        image = tmp / "image.npy"
        np.save(image, X[0].image)
        fresh(LOAD.format(path=str(tmp / "deep.pkl")), 1)  # warm the file cache and the converted weights
        rows = [
            ("python -c pass", fresh("pass", args.repeats)),
            ("load: HOG + SVC", fresh(LOAD.format(path=str(tmp / "hog.pkl")), args.repeats)),
            ("load: DeepFeatures() + SVC", fresh(LOAD.format(path=str(tmp / "deep.pkl")), args.repeats)),
            ("load + predict 1 image", fresh(PREDICT.format(path=str(tmp / "deep.pkl"), image=str(image)),
                                             args.repeats)),
        ]
        size = (tmp / "deep.pkl").stat().st_size
    print(f"a fresh process each, median of {args.repeats} (wall s, interpreter start included); "
          f"{os.cpu_count()} CPU(s); DeepFeatures pickle {size / 1024:.0f} KiB")
    for name, seconds in rows:
        print(f"  {name:30} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
