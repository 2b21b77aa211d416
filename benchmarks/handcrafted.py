"""Throughput of the handcrafted feature transformers against plain library calls.

For each family (HOG, LBP, GLCM, intensity statistics, shape; the IBSI texture matrices GLRLM,
GLSZM, GLDZM, NGTDM, GLDM; the filter families Gabor, Laws, wavelet, LoG, fractal) and for the
whole handcrafted set (``all``: a FeatureUnion of the first five; ``radiomics``: of the ten
newer ones), prints images/s of

* ``plain``: a plain Python loop calling scikit-image / NumPy directly, doing the same
  computation (same resize, same quantisation; shape uses the function twin
  :func:`featbus.features.shape.shape_features`, since there is no single library call; so do
  the texture-matrix and filter families, e.g. :func:`~featbus.features.texture_matrices.glrlm_features`,
  so their rows measure the transformer's overhead over its own function);
  for ``n_jobs=2`` the same loop body under ``joblib.Parallel(n_jobs=2)``;
* ``featbus``: the transformer's ``transform`` on a list of :class:`ImageRecord`;

for ``n_jobs=1`` and ``n_jobs=2``, then the overhead ``featbus / plain - 1`` in time (target
< 10 %) and the speed-up ``n_jobs=2`` over ``n_jobs=1`` of featbus (target >= 1.6x).

Every featbus extractor runs with ``cache=False``: each repeat computes every image again (the
extraction path still hashes each image, so its overhead is part of the measurement); with the
default cache, repeats would be served from memory.

Fairness: images and masks are loaded once, before timing, for both sides; each measurement
is warmed up (this also starts joblib's worker processes), plain and featbus runs alternate
(so load drift on a shared machine hits both alike) and the best of ``--repeats`` is kept.
Numbers depend on the machine and its load.

Data: BUSI at ``../shared/data/busi`` (Al-Dhabyani et al., Data in Brief 28:104863, 2020),
falling back to :func:`featbus.datasets.make_phantoms` when absent.

Run from the repository root::

    python benchmarks/handcrafted.py            # 100 BUSI images, 3 repeats
    python benchmarks/handcrafted.py --n-images 625 --repeats 5
    python benchmarks/handcrafted.py --families glrlm,glszm,gldzm,ngtdm,gldm,gabor,laws,wavelet,log,fractal,radiomics
"""

from __future__ import annotations

import argparse
import os
import time

import cv2
import numpy as np
from joblib import Parallel, delayed
from skimage.feature import graycomatrix, graycoprops, hog, local_binary_pattern
from sklearn.pipeline import FeatureUnion

from featbus import GLCMFeatures, HOGFeatures, ImageRecord, LBPFeatures, get_data_home
from featbus.features import filters as fl
from featbus.features import texture_matrices as tm
from featbus.features.glcm import GLCM_PROPS
from featbus.features.intensity import IntensityStats
from featbus.features.shape import ShapeFeatures, shape_features

BUSI = get_data_home() / "busi" / "Dataset_BUSI_with_GT"
ANGLES = [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4]


def load_images(n: int) -> tuple[list[ImageRecord], str]:
    if BUSI.is_dir():
        from PIL import Image

        paths = sorted(p for p in BUSI.glob("*/*.png") if "_mask" not in p.name)
        step = max(1, len(paths) // n)
        out = []
        for p in paths[::step][:n]:
            img = np.array(Image.open(p).convert("L"))
            mask = np.zeros(img.shape, bool)
            for mp in p.parent.glob(f"{p.stem}_mask*.png"):
                mask |= np.array(Image.open(mp).convert("L")) > 0
            out.append(ImageRecord(img, mask, str(p)))
        return out, f"BUSI ({len(out)} images, sizes vary, longer side <= 320 px)"
    from featbus.datasets import make_phantoms

    bunch = make_phantoms(n, image_size=256, random_state=0)
    return list(bunch.data), f"phantoms ({n} images, 256x256; BUSI not found at {BUSI})"


# ---------------------------------------------------------------- plain loops: same computation
def plain_hog(rec):
    x = rec.image.astype(np.float32) / np.float32(255)
    x = cv2.resize(x, (128, 128), interpolation=cv2.INTER_AREA)
    return hog(x, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2-Hys")


def plain_lbp(rec):
    # 8-bit images: featbus codes them as they are (see featbus.features.lbp._as_lbp_input)
    x = rec.image
    out = []
    for r in (1, 2, 3):
        codes = local_binary_pattern(x, 8 * r, r, method="uniform").astype(np.int64).ravel()
        h = np.bincount(codes, minlength=8 * r + 2).astype(np.float64)
        out.append(h / h.sum())
    return np.concatenate(out)


def plain_glcm(rec):
    x = rec.image.astype(np.float32) / np.float32(255)
    q = np.minimum(np.floor(x.astype(np.float64) * 32), 31).astype(np.uint8)
    d = np.array([1, 2, 4])
    # graycomatrix rounds d * sin(45 deg): pass d * sqrt(2) on the diagonals for offsets (d, d)
    axial = graycomatrix(q, d, [0, np.pi / 2], levels=32, symmetric=True)
    diagonal = graycomatrix(q, d * np.sqrt(2), [np.pi / 4, 3 * np.pi / 4], levels=32, symmetric=True)
    P = np.stack([axial[..., 0], diagonal[..., 0], axial[..., 1], diagonal[..., 1]], axis=-1)
    out = []
    for prop in GLCM_PROPS:
        v = graycoprops(P, prop)
        if prop == "mean":  # featbus numbers grey levels from 1 (IBSI)
            v = v + 1
        elif prop == "entropy":  # featbus: bits
            v = v / np.log(2)
        out.append(np.stack([v.mean(axis=1), np.ptp(v, axis=1)], axis=1))
    return np.stack(out, axis=1).ravel()


def plain_intensity(rec):
    x = (rec.image.astype(np.float32) / np.float32(255)).astype(np.float64).ravel()
    mean, std = x.mean(), x.std()
    qs = np.percentile(x, [10, 25, 50, 75, 90])
    p10, p25, med, p75, p90 = qs
    inner = x[(x >= p10) & (x <= p90)]
    d = x - mean
    d2 = d * d
    skew = np.mean(d2 * d) / std ** 3
    kurt = np.mean(d2 * d2) / std ** 4 - 3
    hist = np.bincount(np.minimum((x * 64).astype(np.int64), 63), minlength=64)
    p = hist[hist > 0] / x.size
    mean_square = np.mean(x * x)
    return np.array([mean, std, x.min(), x.max(), np.ptp(x), *qs, p75 - p25, (p75 - p25) / (p75 + p25),
                     np.mean(np.abs(d)), np.mean(np.abs(inner - inner.mean())), np.mean(np.abs(x - med)),
                     np.median(np.abs(x - med)), std / mean, skew, kurt,
                     -(p * np.log2(p)).sum(), (p * p).sum(), mean_square, np.sqrt(mean_square)])


def plain_shape(rec):
    return shape_features(rec.mask)


FAMILIES = {
    "hog": (plain_hog, lambda nj: HOGFeatures(n_jobs=nj, cache=False, progress=False)),
    "lbp": (plain_lbp, lambda nj: LBPFeatures(n_jobs=nj, cache=False, progress=False)),
    "glcm": (plain_glcm, lambda nj: GLCMFeatures(n_jobs=nj, cache=False, progress=False)),
    "intensity": (plain_intensity, lambda nj: IntensityStats(n_jobs=nj, cache=False, progress=False)),
    "shape": (plain_shape, lambda nj: ShapeFeatures(n_jobs=nj, cache=False, progress=False)),
}


CLASSIC = list(FAMILIES)


def _twin(func):
    """Plain loop body for a family whose reference is its own function twin."""
    def plain(rec):
        return func(rec.image.astype(np.float32) / np.float32(255))
    return plain


# IBSI texture matrices and filter families (default parameters on both sides)
RADIOMICS = {
    "glrlm": (_twin(tm.glrlm_features), lambda nj: tm.GLRLMFeatures(n_jobs=nj, cache=False, progress=False)),
    "glszm": (_twin(tm.glszm_features), lambda nj: tm.GLSZMFeatures(n_jobs=nj, cache=False, progress=False)),
    "gldzm": (_twin(tm.gldzm_features), lambda nj: tm.GLDZMFeatures(n_jobs=nj, cache=False, progress=False)),
    "ngtdm": (_twin(tm.ngtdm_features), lambda nj: tm.NGTDMFeatures(n_jobs=nj, cache=False, progress=False)),
    "gldm": (_twin(tm.gldm_features), lambda nj: tm.GLDMFeatures(n_jobs=nj, cache=False, progress=False)),
    "gabor": (_twin(fl.gabor_features), lambda nj: fl.GaborFeatures(n_jobs=nj, cache=False, progress=False)),
    "laws": (_twin(fl.laws_features), lambda nj: fl.LawsFeatures(n_jobs=nj, cache=False, progress=False)),
    "wavelet": (_twin(fl.wavelet_features), lambda nj: fl.WaveletFeatures(n_jobs=nj, cache=False, progress=False)),
    "log": (_twin(fl.log_features), lambda nj: fl.LoGFeatures(n_jobs=nj, cache=False, progress=False)),
    "fractal": (_twin(fl.fractal_features), lambda nj: fl.FractalFeatures(n_jobs=nj, cache=False, progress=False)),
}
FAMILIES.update(RADIOMICS)


def _plain_union(names):
    def plain(rec):
        return np.concatenate([FAMILIES[n][0](rec) for n in names])
    return plain


def _make_union(names):
    def make(nj):
        return FeatureUnion([(n, FAMILIES[n][1](nj)) for n in names])
    return make


plain_all, union = _plain_union(CLASSIC), _make_union(CLASSIC)
UNIONS = {"all": (plain_all, union), "radiomics": (_plain_union(list(RADIOMICS)), _make_union(list(RADIOMICS)))}


def _plain_chunk(func, recs):
    return [func(r) for r in recs]


def run_plain(func, recs, n_jobs):
    if n_jobs == 1:
        return np.vstack([func(r) for r in recs])
    # the natural hand-written parallel loop: a few chunks per worker
    chunks = np.array_split(np.arange(len(recs)), 4 * n_jobs)
    parts = Parallel(n_jobs=n_jobs)(delayed(_plain_chunk)(func, [recs[i] for i in c]) for c in chunks)
    return np.vstack([v for part in parts for v in part])


def best_times(fns, repeats):
    """Best wall time of each function; runs alternate so that load drift hits all alike."""
    for fn in fns:
        fn()  # warm-up: caches, lazy imports, joblib workers
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [min(ts) for ts in times]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-images", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--families", default="hog,lbp,glcm,intensity,shape,all")
    args = ap.parse_args(argv)

    recs, what = load_images(args.n_images)
    n = len(recs)
    print(f"data: {what}; CPUs: {os.cpu_count()}; best of {args.repeats} after a warm-up")
    print(f"{'family':<10} {'n_jobs':>6} {'plain img/s':>12} {'featbus img/s':>14} {'overhead':>9}")
    summary = []
    for name in args.families.split(","):
        if name in UNIONS:
            plain, make = UNIONS[name]
        else:
            plain, make = FAMILIES[name]
        est1 = make(1).fit(recs[:2])
        # same numbers on both sides before timing anything
        np.testing.assert_allclose(est1.transform(recs[:5]), run_plain(plain, recs[:5], 1), rtol=1e-5, atol=1e-6)
        fb = {}
        for nj in (1, 2):
            est = make(nj).fit(recs[:2])
            t_plain, t_ours = best_times([lambda plain=plain, nj=nj: run_plain(plain, recs, nj),
                                          lambda est=est: est.transform(recs)],
                                         args.repeats)
            fb[nj] = t_ours
            print(f"{name:<10} {nj:>6} {n / t_plain:>12.1f} {n / t_ours:>14.1f} {100 * (t_ours / t_plain - 1):>8.1f}%")
        summary.append((name, fb[1] / fb[2]))
    print("speed-up of featbus n_jobs=2 over n_jobs=1 (target >= 1.6x):")
    for name, s in summary:
        print(f"  {name:<10} {s:.2f}x")


if __name__ == "__main__":
    main()
