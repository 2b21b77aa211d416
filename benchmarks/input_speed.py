"""The fine-tuning input side alone: training images per second at 224 px, on one core and on all.

What ``FineTunedCNN.fit`` feeds its network, with the network replaced by nothing: BUSI images
decoded and resized once to 224 px (as a fit does; outside the timing), then epochs of shuffled
batches of 16 with the default ``"ultrasound"`` augmentation, label smoothing, class weights and
dropout masks (the fit's defaults), each batch taken and dropped. Rows, each in a subprocess of
its own:

* **featbus, one core**: the process pinned to one CPU (``os.sched_setaffinity``), ``n_jobs=1``:
  the batches made on one background thread of the process, as a fit makes them with one worker;
* **featbus, all cores**: ``n_jobs=-1``: one worker process per core, reading the images from
  shared memory and handing the batches back in shared slots (switched on here; a fit switches
  them on itself when its augmentation would take at least a few seconds, as BUSI's default
  fit's does);
* **plain, one core / all cores**: the single-process way featbus had before (issue 76): each
  image augmented by the code of then (copied below: NumPy's ziggurat normals for the speckle, a
  new array per step, the settings checked for every image), on threads of one process (one,
  or one per core as ``n_jobs=-1`` gave).

Images per second over the epochs after the first (the first starts the worker processes; its
seconds are recorded beside); each row runs ``--repeats`` times, the rows interleaved, and its
median run is kept (every run's speed beside it). ``cpu_s_per_image`` is what the timed epochs
cost in CPU, the worker processes included (psutil): the same per image on one core and on all
means the workers add no work, whatever else takes the cores. Aims (issue 76): one core >= 100
images/s; all cores >= 0.7 x linear (``cores`` x one core); on a 2-core machine all cores >= 1.3 x
one core. Other work on the machine takes cores from the rows: the load average before and after
each row is recorded.

Run from the repository root::

    python benchmarks/input_speed.py                     # 256 BUSI images, 6 epochs, 3 runs of each row
    python benchmarks/input_speed.py --output /tmp/input_speed_gpu_machine.json

It writes ``benchmarks/results/input_speed.json`` (``--output``). Without BUSI under the data
home it augments synthetic phantoms of the same size (the cost does not depend on the content).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "input_speed.json"
#: The default backbone's (efficientnet_lite0) embedding width: the dropout mask's columns.
CHANNELS = 1280
ROWS = (("featbus", "one"), ("featbus", "all"), ("plain", "one"), ("plain", "all"))


def _images(n: int, size: int):
    """``n`` BUSI images (seed 0) resized to ``size`` as a fit resizes them, their labels and the
    data's name; synthetic phantoms when BUSI is not at hand."""
    import numpy as np

    from featbus import FineTunedCNN, get_data_home, load_busi, make_phantoms

    try:
        data = load_busi(get_data_home() / "busi")
        name = "BUSI"
    except Exception:  # no BUSI here: phantoms (augmentation costs the same on any pixels)
        data = make_phantoms(n, image_size=size, random_state=0)
        name = "phantoms"
    idx = np.sort(np.random.default_rng(0).choice(len(data.data), size=min(n, len(data.data)), replace=False))
    prep = FineTunedCNN(input_size=size)
    prep._check_params()
    prep.input_size_ = prep._size
    images = prep._prepare_all([data.data[i] for i in idx])
    _, y_idx = np.unique(np.asarray(data.target)[idx], return_inverse=True)
    return images, y_idx, name


# ----------------------------------------------------------------------------- the plain way
def _plain_augment01(image, rng, p: dict):
    """One augmented copy as featbus drew it before issue 76 (the ``"ultrasound"`` preset's steps:
    warp, brightness, contrast, gamma, speckle), its code as it was."""
    import cv2
    import numpy as np

    from featbus.networks.augmentation import FILL_MODES, _affine

    h, w = image.shape
    m = _affine(rng, (h, w), p)
    if not np.allclose(m, [[1, 0, 0], [0, 1, 0]]):
        image = cv2.warpAffine(np.ascontiguousarray(image, np.float32), m, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=FILL_MODES[p["fill_mode"]], borderValue=float(p["fill_value"]))
    else:
        image = np.array(image, np.float32)
    if p["brightness"]:
        image = image + np.float32(rng.uniform(-p["brightness"], p["brightness"]))
    c0, c1 = p["contrast"]
    if c1 > c0 or c0 != 1.0:
        mean = np.float32(image.mean())
        image = (image - mean) * np.float32(rng.uniform(c0, c1)) + mean
    g0, g1 = p["gamma"]
    if g1 > g0 or g0 != 1.0:
        gamma = math.exp(rng.uniform(math.log(g0), math.log(g1)))
        image = np.power(np.clip(image, 0.0, 1.0), np.float32(gamma))
    if p["speckle"]:
        sigma = rng.uniform(0.0, p["speckle"])
        image = image * (1.0 + np.float32(sigma) * rng.standard_normal(image.shape, dtype=np.float32))
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _plain_epoch(ft, augmenter, images, y_idx, class_w, seed, threads: int):
    """One epoch's batches the way ``FineTunedCNN._batches`` made them before issue 76."""
    import numpy as np

    from featbus.networks.training import prefetched

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    bs, n_classes, smooth = int(ft.batch_size), int(y_idx.max()) + 1, float(ft.label_smoothing)
    batches = [order[i:i + bs] for i in range(0, len(order), bs)]
    seeds = rng.integers(0, 2**63 - 1, size=len(batches))

    def make(k):
        idx = batches[k]
        r = np.random.default_rng(int(seeds[k]))
        p = augmenter._settings()  # checked for every image then
        x = np.stack([_plain_augment01(images[i] / np.float32(255.0), r, p) for i in idx])
        x *= np.float32(255.0)
        target = np.full((len(idx), n_classes), smooth / n_classes, np.float32)
        target[np.arange(len(idx)), y_idx[idx]] += 1.0 - smooth
        sw = class_w[y_idx[idx]].astype(np.float32)
        keep_p = 1.0 - float(ft.dropout)
        keep = (r.random((len(idx), CHANNELS)) < keep_p).astype(np.float32) / np.float32(keep_p)
        return np.ascontiguousarray(x, np.float32), target, sw, keep

    return prefetched(make, len(batches), workers=threads, ahead=4)


# ----------------------------------------------------------------------------- one row
def _tree_cpu_seconds() -> float | None:
    """CPU seconds of this process and its worker processes so far (``None`` without psutil): what
    the timed epochs cost in CPU, whatever else runs on the machine."""
    try:
        import psutil
    except ImportError:
        return None
    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:  # a worker that just ended
            continue
        total += times.user + times.system
    return total


def worker(args) -> dict:
    """One row (run in a subprocess of its own; pinned to one CPU for a one-core row)."""
    import resource

    import numpy as np

    from featbus import FineTunedCNN

    if args.cores == "one":
        if not hasattr(os, "sched_setaffinity"):
            raise SystemExit("one-core rows need os.sched_setaffinity (Linux)")
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    data = np.load(args.images)
    images, y_idx = data["images"], data["y_idx"]
    n_jobs = 1 if args.cores == "one" else -1
    threads = 1 if args.cores == "one" else os.cpu_count() or 1  # the plain way's (n_jobs=-1: one per core)
    ft = FineTunedCNN(input_size=args.size, batch_size=args.batch_size, n_jobs=n_jobs)  # mixup off, as by default
    augmenter = ft._augmenter()
    class_w = np.ones(int(y_idx.max()) + 1, np.float32)
    train_idx = np.arange(len(images))
    seconds, cpu, load_before = [], [], os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    with ft._input_side(images, augmenter, len(images) * args.epochs,
                        processes=args.way == "featbus" and args.cores == "all") as (executor, source, slots):
        for epoch in range(args.epochs):
            start = time.perf_counter()
            if args.way == "featbus":
                batches = ft._batches(source, y_idx, train_idx, class_w, augmenter, len(class_w), CHANNELS,
                                      [0, 1, epoch], executor=executor, slots=slots)
            else:
                batches = _plain_epoch(ft, augmenter, images, y_idx, class_w, [0, 1, epoch], threads)
            n = sum(len(batch[0]) for batch in batches)
            seconds.append(time.perf_counter() - start)
            cpu.append(_tree_cpu_seconds())
        processes = executor is not None
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    timed = float(np.sum(seconds[1:]))
    return {"images_per_s": n * (len(seconds) - 1) / timed, "first_epoch_s": seconds[0], "epoch_s": seconds,
            "cpu_s_per_image": (cpu[-1] - cpu[0]) / (n * (len(seconds) - 1)) if cpu[0] is not None else None,
            "this_process_cpu_s_per_image": (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime)
            / (n * len(seconds)), "worker_processes": ft._input_processes() if processes else 0,
            "threads": 0 if processes else threads if args.way == "plain" else ft._input_threads(),
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "load_average_before": load_before, "load_average_after": os.getloadavg()[0]}


def _row(way: str, cores: str, tmp: Path, args) -> dict:
    """One run of one row, in a subprocess of its own."""
    out = tmp / f"{way}-{cores}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--way", way, "--cores", cores,
           "--images", str(tmp / "images.npz"), "--worker-out", str(out), "--size", str(args.size),
           "--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        raise SystemExit(f"{way}, {cores} core(s): exit {proc.returncode}")
    return json.loads(out.read_text())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-images", type=int, default=256)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each row, interleaved (the median is kept)")
    ap.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    ap.add_argument("--way", choices=("featbus", "plain"), help=argparse.SUPPRESS)
    ap.add_argument("--cores", choices=("one", "all"), help=argparse.SUPPRESS)
    ap.add_argument("--images", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.epochs < 2:
        ap.error("--epochs must be >= 2 (the first epoch, starting the workers, is not timed)")
    if args.worker_out is not None:
        args.worker_out.write_text(json.dumps(worker(args)))
        return 0

    import numpy as np
    from joblib import cpu_count

    images, y_idx, data_name = _images(args.n_images, args.size)
    rows: dict = {}
    key = {"one": "one_core", "all": "all_cores"}
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "images.npz", images=images, y_idx=y_idx)
        runs: dict = {}
        for _ in range(args.repeats):  # the rows interleaved, so a change of the machine's load hits all
            for way, cores in ROWS:
                r = _row(way, cores, Path(tmp), args)
                runs.setdefault((way, cores), []).append(r)
                print(f"{way:8s} {cores:3s} core(s): {r['images_per_s']:7.1f} images/s  "
                      f"(load {r['load_average_before']:.1f} -> {r['load_average_after']:.1f})", flush=True)
    for (way, cores), made in runs.items():  # each row: its median run, every run's speed beside it
        speeds = [r["images_per_s"] for r in made]
        rows.setdefault(way, {})[key[cores]] = {**made[int(np.argsort(speeds)[len(speeds) // 2])],
                                                "images_per_s_of_each_run": speeds}
    n_cores = cpu_count()
    one, every = rows["featbus"]["one_core"]["images_per_s"], rows["featbus"]["all_cores"]["images_per_s"]
    shown = list(argv if argv is not None else sys.argv[1:])  # the settings; where the file goes is none
    while "--output" in shown:
        del shown[shown.index("--output"):shown.index("--output") + 2]
    result = {
        "command": " ".join(["python benchmarks/input_speed.py", *[a for a in shown if not a.startswith("--output=")]]),
        "cores": n_cores, "one_core_images_per_s": one, "all_cores_images_per_s": every,
        "all_cores_over_one_core": every / one, "all_cores_over_linear": every / (n_cores * one),
        "plain_one_core_images_per_s": rows["plain"]["one_core"]["images_per_s"],
        "plain_all_cores_images_per_s": rows["plain"]["all_cores"]["images_per_s"],
        "one_core_over_plain": one / rows["plain"]["one_core"]["images_per_s"],
        "cpu_s_per_image": {f"{way}_{key[cores]}": rows[way][key[cores]]["cpu_s_per_image"] for way, cores in ROWS},
        "all_cores_over_plain": every / rows["plain"]["all_cores"]["images_per_s"],
        "image_size": args.size, "batch_size": args.batch_size, "augment": "ultrasound", "epochs": args.epochs,
        "timed_epochs": args.epochs - 1, "n_images": int(len(images)), "data": data_name, "repeats": args.repeats,
        "load_average": {f"{way}_{key[cores]}": [rows[way][key[cores]]["load_average_before"],
                                                 rows[way][key[cores]]["load_average_after"]] for way, cores in ROWS},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()},
        "rows": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    from featbus.io import write_file  # the one write-then-rename

    write_file(args.output, json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"one core {one:.0f} images/s, all {n_cores} cores {every:.0f} images/s ({every / one:.2f}x one core, "
          f"{every / (n_cores * one):.2f} of linear); wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
