"""Throughput of featbus's frozen networks against the fastest runtime on this machine, and of
the handcrafted extractors against their plain scikit-image calls: side by side, in one run.

For each shipped network -- EfficientNet-Lite0 cut at ``block6d_add`` (``DeepFeatures()``'s
default), the ``breast-us`` backbone (``DeepFeatures(backbone="breast-us")``) and the
``breast-us`` segmenter (``ROICropper(segmenter="breast-us")``'s maps, mirror-averaged) -- it
times, on the same BUSI image files:

* ``featbus``: the default (``runtime="auto"``: LiteRT with XNNPACK where installed) from the
  files, end to end (``transform`` with ``cache=False``; the segmenter's ``predict_proba_maps``);
* ``featbus keras``: the same with ``runtime="keras"`` (what featbus ran before);
* ``bare litert``: the fastest runtime here as a user would write it: a bare LiteRT interpreter
  (the same flatbuffer, XNNPACK, :func:`featbus.model.runtime.runtime_threads` threads) in a loop
  of ``cv2.imread`` + ``cv2.resize`` + ``invoke``, one image at a time, decode and resize included;
* ``bare keras``: the compiled Keras forward (the one featbus uses) at its batch, on tensors decoded
  and resized beforehand (forward only).

Every way runs once per round, the ways interleaved in each round, over ``--rounds`` rounds (the
machine is shared: ratios within a round are what to read; the medians over rounds are reported).
Then a batch sweep of the Lite0 forward (1, 4, 8, 32 images per call, LiteRT and Keras,
pre-resized tensors): what :data:`featbus.model.runtime.RUNTIME_BATCH` is chosen from. Then the
handcrafted extractors (HOG, LBP, GLCM, intensity statistics) against the plain loops of
``benchmarks/handcrafted.py`` on the same images, interleaved likewise.

Results: ``benchmarks/results/deep_throughput.json`` (``--output``), written through
:func:`featbus.io.write_file`. ``featbus.model.runtime.LITERT_SPEEDUP`` quotes its
``litert_over_keras`` figures (``tests/test_frozen_runtime.py`` checks them against it).

Run from the repository root::

    python benchmarks/deep_throughput.py                 # 128 BUSI images, 3 rounds
    python benchmarks/deep_throughput.py --n-images 64 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from featbus import get_data_home  # noqa: E402

DEFAULT_DATA = get_data_home() / "busi" / "Dataset_BUSI_with_GT"
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "deep_throughput.json"
BATCHES = (1, 4, 8, 32)


def busi_files(root: Path, n: int) -> list[str]:
    files = sorted(p for p in root.glob("*/*.png") if "_mask" not in p.name)
    if not files:
        raise SystemExit(f"no BUSI images under {root}")
    idx = np.linspace(0, len(files) - 1, min(n, len(files))).astype(int)  # spread over the classes
    return [str(files[i]) for i in idx]


#: CPU seconds of every way's runs, by the way's label (``timed`` adds to the label ``CPU`` names)
CPU: dict[str, list[float]] = {}


def timed(fn, n: int, label: str | None = None) -> float:
    """Images per second of ``fn()`` over ``n`` images (wall clock); with ``label``, the images per
    CPU second of this process (every thread) are kept in :data:`CPU` too: on a machine shared with
    other work the CPU time is the steadier figure (wall time waits for the others)."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if label is not None:
        CPU.setdefault(label, []).append(n / max(cpu, 1e-9))
    return n / wall


# ----------------------------------------------------------------------------- the bare ways
def bare_interpreter(flatbuffer: bytes, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=flatbuffer, num_threads=threads)
    it.allocate_tensors()
    return it, it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]


def to_longer_side(img: np.ndarray, side: int | None) -> np.ndarray:
    h, w = img.shape
    if side is None or max(h, w) <= side:
        return img
    f = side / max(h, w)
    return cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def bare_litert_features(paths, interp, size: int, side: int | None) -> None:
    """A user's loop: read, bring to the trained scale, resize to the input, invoke."""
    it, i_in, i_out = interp
    for p in paths:
        img = to_longer_side(cv2.imread(p, cv2.IMREAD_GRAYSCALE), side).astype(np.float32)
        x = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)[None]
        it.set_tensor(i_in, x)
        it.invoke()
        it.get_tensor(i_out)


def bare_litert_maps(paths, interp, size: int, side: int | None) -> None:
    """The segmenter's maps the plain way: read, scale, resize, invoke on the image and its
    mirror, average, resize the map back to the frame."""
    it, i_in, i_out = interp
    for p in paths:
        img = to_longer_side(cv2.imread(p, cv2.IMREAD_GRAYSCALE), side).astype(np.float32) / 255.0
        x = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)[None, :, :, None]
        it.set_tensor(i_in, x)
        it.invoke()
        a = it.get_tensor(i_out)[0, :, :, 0]
        it.set_tensor(i_in, np.ascontiguousarray(x[:, :, ::-1]))
        it.invoke()
        b = it.get_tensor(i_out)[0, :, ::-1, 0]
        cv2.resize(0.5 * (a + b), (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)


def keras_batches(fn, xs: np.ndarray, batch: int) -> None:
    for i in range(0, len(xs), batch):
        np.asarray(fn(xs[i:i + batch]))


# ----------------------------------------------------------------------------- the networks
def network_ways(paths: list[str]) -> dict:
    """Per network: a dict of way -> callable, and the numbers describing it."""
    from featbus import DeepFeatures
    from featbus.model.runtime import RUNTIME_BATCH, cached_flatbuffer, forward_flatbuffer, runtime_key, runtime_threads
    from featbus.segmentation.roi import ROICropper

    threads = runtime_threads()
    n = len(paths)
    out = {}
    for label, backbone in (("efficientnet_lite0", "efficientnet_lite0"), ("breast-us", "breast-us")):
        auto = DeepFeatures(backbone, cache=False, progress=False).fit(paths[:1])
        keras = DeepFeatures(backbone, cache=False, progress=False, runtime="keras").fit(paths[:1])
        auto.transform(paths[:8])
        keras.transform(paths[:8])  # traced
        fwd, net = auto._forward(), keras._net()
        key = runtime_key(auto._weights_hash() or keras._keras_forward()[1], auto._lite_cut(), tuple(auto.input_size_))
        flat = cached_flatbuffer(key, lambda est=keras: forward_flatbuffer(est))
        interp = bare_interpreter(flat, threads)
        size, side = int(auto.input_size_[0]), auto.input_scale_
        xs = np.stack([keras._prepare(keras._load(p, i), i) for i, p in enumerate(paths)])
        got, want = fwd(xs[:8]), net(xs[:8])
        out[label] = {
            "ways": {  # (default arguments: each network's own objects, not the loop's last)
                "featbus": lambda lb, a=auto: timed(lambda: a.transform(paths), n, lb),
                "featbus keras": lambda lb, k=keras: timed(lambda: k.transform(paths), n, lb),
                "bare litert": lambda lb, i=interp, z=size, sd=side: timed(
                    lambda: bare_litert_features(paths, i, z, sd), n, lb),
                "bare keras": lambda lb, f=net, x=xs: timed(lambda: keras_batches(f, x, RUNTIME_BATCH["keras"]), n, lb),
            },
            "max_rel_diff": float((np.abs(got - want).max(1) / np.abs(want).max(1)).max()),
            "flatbuffer_bytes": len(flat),
            "sweep": (flat, fwd.n_features, net, xs),
        }
    crop = ROICropper(segmenter="breast-us").fit(paths[:1])
    seg, side = crop.segmenter_, crop.input_scale_
    scaled = [to_longer_side(cv2.imread(p, cv2.IMREAD_GRAYSCALE), side) for p in paths]
    lite = seg._lite("auto")
    seg.predict_proba_maps(scaled[:4], runtime="auto")
    seg.predict_proba_maps(scaled[:4], runtime="keras")
    s = int(seg.input_size)
    _, trackable = seg._keras_forward()
    flat = cached_flatbuffer(runtime_key(trackable, "unet-maps", (s, s, 1)),
                             lambda: forward_flatbuffer(seg, input_shape=(s, s, 1)))
    interp = bare_interpreter(flat, threads)
    xs = np.stack([cv2.resize(im.astype(np.float32) / 255.0, (s, s), interpolation=cv2.INTER_AREA)
                   for im in scaled])[..., None]
    keras_fn = seg._predict_array
    a, b = lite(xs[:4]), keras_fn(seg.model_, xs[:4], 8)
    # featbus's segmenter reads at the trained scale through ROICropper; here the maps of the
    # frames brought to it, for featbus and the bare loop alike (the loop reads and scales itself)
    out["breast-us segmenter"] = {
        "ways": {
            "featbus": lambda lb: timed(lambda: seg.predict_proba_maps([to_longer_side(
                cv2.imread(p, cv2.IMREAD_GRAYSCALE), side) for p in paths], runtime="auto"), n, lb),
            "featbus keras": lambda lb: timed(lambda: seg.predict_proba_maps([to_longer_side(
                cv2.imread(p, cv2.IMREAD_GRAYSCALE), side) for p in paths], runtime="keras"), n, lb),
            "bare litert": lambda lb: timed(lambda: bare_litert_maps(paths, interp, s, side), n, lb),
            "bare keras": lambda lb: timed(lambda: [keras_fn(seg.model_, xs[i:i + 8], 8) for i in range(0, n, 8)]
                                           and [keras_fn(seg.model_, np.ascontiguousarray(xs[i:i + 8, :, ::-1]), 8)
                                                for i in range(0, n, 8)], n, lb),
        },
        "max_rel_diff": float(np.abs(a - b).max()),
        "flatbuffer_bytes": len(flat),
    }
    return out


def batch_sweep(flat: bytes, n_features: int, net, xs: np.ndarray, rounds: int) -> dict:
    """Images/s of the Lite0 forward per batch size, LiteRT and Keras interleaved, median of rounds."""
    from featbus.model.runtime import LiteForward

    lites = {b: LiteForward(flat, n_features, batch=b) for b in BATCHES}
    rates: dict[str, list[float]] = {}
    for _ in range(rounds):
        for b in BATCHES:
            for name, fn in ((f"litert {b}", lites[b]), (f"keras {b}", net)):
                fn(xs[:b])
                rates.setdefault(name, []).append(timed(lambda fn=fn, b=b: keras_batches(fn, xs, b), len(xs)))
    return {k: round(statistics.median(v), 1) for k, v in rates.items()}


# ----------------------------------------------------------------------------- handcrafted
def handcrafted(paths: list[str], rounds: int) -> dict:
    """Images/s of featbus's HOG, LBP, GLCM and intensity extractors and of the plain loops of
    benchmarks/handcrafted.py on the same loaded records, interleaved; ratios featbus / plain."""
    import handcrafted as hc

    from featbus.io import load_item

    recs = [load_item(p, i) for i, p in enumerate(paths)]
    families = ("hog", "lbp", "glcm", "intensity")
    ways = {}
    for fam in families:
        plain, make = hc.FAMILIES[fam]
        est = make(1).fit(recs)
        est.transform(recs[:2])
        [plain(r) for r in recs[:2]]
        ways[fam] = (plain, est)
    ratios: dict[str, list[float]] = {f: [] for f in families}
    rates: dict[str, list[float]] = {}
    for _ in range(rounds):
        for fam, (plain, est) in ways.items():
            p = timed(lambda plain=plain: [plain(r) for r in recs], len(recs), f"{fam} plain")
            f = timed(lambda est=est: est.transform(recs), len(recs), f"{fam} featbus")
            rates.setdefault(f"{fam} plain", []).append(p)
            rates.setdefault(f"{fam} featbus", []).append(f)
            ratios[fam].append(f / p)
    return {"images_per_s": {k: round(statistics.median(v), 1) for k, v in rates.items()},
            "featbus_over_plain": {k: round(statistics.median(v), 2) for k, v in ratios.items()},
            "cpu_featbus_over_plain": {f: round(statistics.median(
                a / b for a, b in zip(CPU[f"{f} featbus"], CPU[f"{f} plain"])), 2) for f in families},
            "featbus_over_plain_rounds": {k: [round(x, 2) for x in v] for k, v in ratios.items()}}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--n-images", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = ap.parse_args(argv)

    from featbus.io import write_file
    from featbus.model.runtime import RUNTIME_BATCH, runtime_threads

    paths = busi_files(args.data, args.n_images)
    print(f"{len(paths)} BUSI images, {args.rounds} rounds, {runtime_threads()} runtime threads, "
          f"load average {os.getloadavg()[0]:.1f} at start", flush=True)
    nets = network_ways(paths)
    rates: dict[str, dict[str, list[float]]] = {k: {} for k in nets}
    for r in range(args.rounds):
        for name, entry in nets.items():
            for way, fn in entry["ways"].items():
                rates[name].setdefault(way, []).append(fn(f"{name}|{way}"))
        print(f"round {r + 1}: " + "; ".join(f"{k} " + ", ".join(f"{w} {v[-1]:.1f}" for w, v in d.items())
                                           for k, d in rates.items()), flush=True)
    networks = {}
    print("\nimages/s (wall), median of rounds; ratios per round, then the median")
    print(f"{'network':<22}{'featbus':>9}{'keras':>9}{'bare lite':>10}{'bare keras':>11}"
          f"{'f/bare lite':>12}{'lite/keras':>11}{'max diff':>10}")
    for name, d in rates.items():
        fb, fk, bl = d["featbus"], d["featbus keras"], d["bare litert"]
        row = {
            "images_per_s": {w: round(statistics.median(v), 1) for w, v in d.items()},
            "images_per_s_rounds": {w: [round(x, 1) for x in v] for w, v in d.items()},
            # per round, then the median: the ways of one round shared the machine's load
            "featbus_over_bare_litert": round(statistics.median(a / b for a, b in zip(fb, bl)), 2),
            "litert_over_keras": round(statistics.median(a / b for a, b in zip(fb, fk)), 2),
            "featbus_over_bare_keras": round(statistics.median(a / b for a, b in zip(fb, d["bare keras"])), 2),
            "max_rel_diff_vs_keras": nets[name]["max_rel_diff"],
            "images_per_cpu_s": {w: round(statistics.median(CPU[f"{name}|{w}"]), 1) for w in d},
            "cpu_featbus_over_bare_litert": round(statistics.median(
                a / b for a, b in zip(CPU[f"{name}|featbus"], CPU[f"{name}|bare litert"])), 2),
            "cpu_litert_over_keras": round(statistics.median(
                a / b for a, b in zip(CPU[f"{name}|featbus"], CPU[f"{name}|featbus keras"])), 2),
            "flatbuffer_mb": round(nets[name]["flatbuffer_bytes"] / 1e6, 2),
        }
        networks[name] = row
        ips = row["images_per_s"]
        print(f"{name:<22}{ips['featbus']:>9.1f}{ips['featbus keras']:>9.1f}{ips['bare litert']:>10.1f}"
              f"{ips['bare keras']:>11.1f}{row['featbus_over_bare_litert']:>12.2f}{row['litert_over_keras']:>11.2f}"
              f"{row['max_rel_diff_vs_keras']:>10.1e}")
        print(f"{'':<22}by CPU time: featbus / bare litert {row['cpu_featbus_over_bare_litert']:.2f}, "
              f"litert / keras {row['cpu_litert_over_keras']:.2f}")
    sweep = batch_sweep(*nets["efficientnet_lite0"]["sweep"], args.rounds)
    print("\nLite0 forward, images/s by batch (pre-resized):", sweep)
    hand = handcrafted(paths, args.rounds)
    print("handcrafted featbus / plain scikit-image (median of rounds):", hand["featbus_over_plain"],
          "by CPU time:", hand["cpu_featbus_over_plain"])
    result = {
        "benchmark": "deep_throughput",
        "command": "python benchmarks/deep_throughput.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "n_images": len(paths), "rounds": args.rounds, "runtime_threads": runtime_threads(),
        "cpus": os.cpu_count(), "runtime_batch": RUNTIME_BATCH,
        "networks": networks, "batch_sweep_lite0": sweep, "handcrafted": hand,
        "note": ("featbus: the default runtime from the files (decode, scale, resize included); bare litert: "
                 "a user's interpreter loop on the same flatbuffer, decode and resize included, one image a "
                 "call; bare keras: featbus's compiled Keras forward on pre-resized tensors. Ratios per round, "
                 "median over rounds (the machine is shared)."),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_file(args.output, json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
