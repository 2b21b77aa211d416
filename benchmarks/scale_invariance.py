"""The shipped ``breast-us`` classifier on the same scans at their shared 320 px size and larger, seen
at their stored size (native, as featbus did before issue 82) and brought to the scale it was trained at
(320 px on the longer side, what :class:`featbus.FeatbusModel` does now).

**What the larger images are.** Full-size originals of the shared sites could not be fetched here (the
one public copy of BUSI found was squashed to 256 x 256): the larger images are STAND-INS made from the
shared 320 px copies, enlarged 2x and 3x (640 and 960 px on the longer side, the range hospitals store,
about 370-1,000 px), in one of two ways (``--stand-in``): ``cubic``, bicubic interpolation
(``cv2.INTER_CUBIC``); ``block-consistent``, the same plus the correction that makes every k x k
block's mean equal the copy's pixel, as a true original's is (the copies were made from the originals
by area averaging, so area-averaging an original gives its copy back: a cubic enlargement does not,
it gives a slightly blurred copy). A stand-in has no more detail than its 320 px copy, so
it measures what the pixel size alone does to the decisions, not what a true original's finer speckle
would add. Every row says which images it comes from.

Two more kinds bound what any resize rule can do: ``half``, the copies shrunk to 0.5x (160 px, by
area averaging; ``--factors`` then names divisors): a scan stored smaller than the trained scale,
whose lost detail enlarging cannot bring back; ``blur``, the copies at 320 px under a Gaussian blur
of sigma 0.5 px (nothing is resized, ``--factors`` is ignored): how far the classifier's decisions
move under a change of the image nobody would see, the floor of every agreement above.

For each site and size the script runs :func:`featbus.validate` (the figures ``featbus validate``
prints: the malignant AUC, sensitivity and specificity at the file's stored point, the share of
normal scans called normal, with 95 % intervals over the data's groups), with the model at its
trained scale and with the same model at native size (its manifest's ``input_scale`` set to native;
the parts are the same objects), and times each run (wall and CPU seconds, same process, the feature
store emptied before each). At 1x both ways are the same computation (nothing is resized): it runs
once. Per image it also compares p(lesion), p(malignant | lesion) and the decision with the 320 px
copy's.

Subset: every normal image and up to ``--per-class`` benign and malignant images of each site,
spread evenly over the site's sorted files (the whole sets take over 10 min per size on 2 shared cores).

Run from the repository root::

    nice python benchmarks/scale_invariance.py                   # BUSI + BrEaST subsets, 1x 2x 3x (~25 min)
    nice python benchmarks/scale_invariance.py --stand-in block-consistent   # the other stand-in
    nice python benchmarks/scale_invariance.py --stand-in half --factors 2  # 160 px scans
    nice python benchmarks/scale_invariance.py --stand-in blur              # the classifier's noise floor
    nice python benchmarks/scale_invariance.py --per-class 20 --factors 2 --n-bootstrap 50   # a smoke run

Writes ``benchmarks/results/scale_invariance.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "scale_invariance.json"
SITES = ("busi", "breast-lesions-usg")


def subset(data, per_class: int):
    """Every normal image and up to ``per_class`` of each other class, spread evenly (by file order)."""
    from sklearn.utils import Bunch

    y = np.asarray(data.target)
    names = list(data.target_names)
    keep = []
    for k, name in enumerate(names):
        idx = np.flatnonzero(y == k)
        if name != "normal" and idx.size > per_class:
            idx = idx[np.linspace(0, idx.size - 1, per_class).round().astype(int)]
        keep += idx.tolist()
    keep = np.sort(np.asarray(keep, dtype=int))
    return Bunch(data=[data.data[i] for i in keep], target=y[keep], target_names=names,
                 groups=np.asarray(data.groups)[keep], DESCR=getattr(data, "DESCR", ""))


def stand_in(image: np.ndarray, factor: int, kind: str = "cubic") -> np.ndarray:
    """One 320 px copy enlarged ``factor`` times (uint8): bicubic, or bicubic with each
    ``factor x factor`` block shifted so that its mean is the copy's pixel (``block-consistent``);
    or shrunk ``factor`` times by area averaging (``half``), or blurred at its size (``blur``)."""
    import cv2

    img = np.asarray(image)
    h, w = img.shape[:2]
    if kind == "blur":
        return cv2.GaussianBlur(img, (0, 0), 0.5)
    if kind == "half":
        return cv2.resize(img, (round(w / factor), round(h / factor)), interpolation=cv2.INTER_AREA)
    if factor == 1:
        return img
    big = cv2.resize(img, (w * factor, h * factor), interpolation=cv2.INTER_CUBIC).astype(np.float64)
    if kind == "block-consistent":
        means = big.reshape(h, factor, w, factor).mean(axis=(1, 3))
        big += np.repeat(np.repeat(img.astype(np.float64) - means, factor, axis=0), factor, axis=1)
    return np.clip(np.rint(big), 0, 255).astype(np.uint8)


def enlarged(data, factor: int, kind: str = "cubic"):
    """The stand-ins (:func:`stand_in`) of every image, no mask."""
    from sklearn.utils import Bunch

    from featbus import ImageRecord

    recs = [ImageRecord(stand_in(r.image, factor, kind), None, r.path, dict(r.meta)) for r in data.data]
    return Bunch(data=recs, target=data.target, target_names=data.target_names, groups=data.groups)


def native_twin(model):
    """The same parts with the manifest's scale set to native (what featbus did before issue 82)."""
    from featbus import FeatbusModel
    from featbus.model.scale import scale_record

    manifest = {**model.manifest, "input_scale": scale_record(None, "native size, for this benchmark")}
    return FeatbusModel(model.features, model.head, manifest, model.roi, model.preprocess, model.domain)


def run(model, data, n_bootstrap: int) -> tuple[dict, np.ndarray]:
    """:func:`featbus.validate`'s figures of ``model`` on ``data``, timed; and its probabilities."""
    import featbus
    from featbus.compute.extraction import clear_memory

    clear_memory()
    cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    ev = featbus.validate(model, data, n_bootstrap=n_bootstrap, random_state=0)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    classes = list(ev.classes)

    def fig(key):
        v = ev.figures.get(key)
        ci = ev.intervals.get(key)
        return None if v is None else {"value": round(float(v), 4),
                                       "ci": None if ci is None else [round(float(c), 4) for c in ci]}

    out = {"auc": fig("auc"), "sensitivity": fig("sensitivity"), "specificity": fig("specificity"),
           "n_judged": int(len(ev.y_true) if ev.seen_images is None or ev.seen_images.all()
                           else (~ev.seen_images).sum()),
           "wall_s": round(wall, 1),
           "cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 1)}
    if "normal" in classes and (np.asarray(ev.y_true) == "normal").any():
        out["normal_called_normal"] = fig(f"recall[{classes.index('normal')}]")
    return out, np.asarray(ev.proba, dtype=float)


def agreement(model, base: np.ndarray, other: np.ndarray) -> dict:
    """Per image, ``other`` against the 320 px copy's probabilities ``base``."""
    from featbus.metrics import lesion_and_given

    cls = list(model.classes_)
    l0, g0 = lesion_and_given(base, cls)
    l1, g1 = lesion_and_given(other, cls)
    same = np.mean(model.decide(base) == model.decide(other))
    return {"same_decision": round(float(same), 4),
            "p_lesion_abs_diff": {"median": round(float(np.median(np.abs(l1 - l0))), 4),
                                  "p95": round(float(np.quantile(np.abs(l1 - l0), 0.95)), 4)},
            "p_malignant_given_lesion_abs_diff": {"median": round(float(np.median(np.abs(g1 - g0))), 4),
                                                  "p95": round(float(np.quantile(np.abs(g1 - g0), 0.95)), 4)}}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sites", default=",".join(SITES))
    ap.add_argument("--per-class", type=int, default=120)
    ap.add_argument("--factors", default="2,3", help="enlargements of the 320 px copies (the 1x copy always runs)")
    ap.add_argument("--n-bootstrap", type=int, default=200)
    ap.add_argument("--stand-in", choices=("cubic", "block-consistent", "half", "blur"), default="cubic",
                    help="how the larger images are made (the JSON keeps one entry per kind)")
    ap.add_argument("--grow", choices=("linear", "cubic", "keep"), default=None,
                    help="how the model enlarges an image smaller than its scale (featbus.model.scale.GROW; "
                         "default: featbus's); the JSON entry is then '<stand-in>+grow-<how>'")
    ap.add_argument("--trained-only", action="store_true", help="leave out the native runs (with --grow: the same "
                    "as the default's)")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)

    import featbus
    from featbus.model import scale

    if args.grow is not None:
        scale.GROW = args.grow
    key = args.stand_in if args.grow is None else f"{args.stand_in}+grow-{args.grow}"
    model = featbus.load_model("breast-us")
    native = native_twin(model)
    factors = [1] if args.stand_in == "blur" else [int(f) for f in args.factors.split(",") if f.strip()]
    made = {"half": "shrunk N times by area averaging", "blur": "blurred (Gaussian, sigma 0.5 px) at 320 px"}
    result = {"images": f"1x: the shared 320 px copies; the others: {args.stand_in}, the 320 px copies "
              + made.get(args.stand_in, "enlarged N times (STAND-INS: true full-size originals could not be fetched)"),
              "n_bootstrap": args.n_bootstrap, "per_class": args.per_class, "sites": {},
              "machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()},
              "command": "python benchmarks/scale_invariance.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    for site in [s.strip() for s in args.sites.split(",") if s.strip()]:
        data = subset(featbus.load_data(DATA / site), args.per_class)
        counts = {n: int(np.sum(np.asarray(data.target) == k)) for k, n in enumerate(data.target_names)}
        rows = {}
        base, p0 = run(model, enlarged(data, 1), args.n_bootstrap)
        rows["1x (320 px copy)"] = {"trained_scale": base, "native": "the same run: nothing is resized at 320 px"}
        print(site, "1x", base, file=sys.stderr, flush=True)
        for f in factors:
            big = enlarged(data, f, args.stand_in)
            row = {}
            for name, m in (("native", native), ("trained_scale", model))[args.stand_in == "blur"
                                                                          or args.trained_only:]:
                row[name], p = run(m, big, args.n_bootstrap)
                row[name]["against_320px_copy"] = agreement(model, p0, p)
                print(site, f"{f}x", name, row[name], file=sys.stderr, flush=True)
            if "native" in row:
                row["speedup_wall"] = round(row["native"]["wall_s"] / max(row["trained_scale"]["wall_s"], 1e-9), 2)
            size = {"half": f"1/{f}x ({args.stand_in}, {320 // f} px)", "blur": "1x (blur sigma 0.5 px, 320 px)"}
            rows[size.get(args.stand_in, f"{f}x ({args.stand_in} stand-in, {320 * f} px)")] = row
        result["sites"][site] = {"n_images": len(data.target), "counts": counts, "rows": rows}
    result["machine"]["load_after"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    kept = json.loads(out.read_text()) if out.is_file() else {}
    kept = {"about": __doc__.split("\n\n")[1].replace("\n", " "), "model": "breast-us (shipped)",
            "input_scale": model.input_scale, "stand_ins": {**kept.get("stand_ins", {}), key: result}}
    from featbus.io import write_file  # the one write-then-rename

    write_file(out, json.dumps(kept, indent=1) + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
