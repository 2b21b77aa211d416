"""Is there a lesion? Presence scores at a site never seen: BUSI held out, every trained part rebuilt without it.

Issue 67, point 1. The shipped ``breast-us`` classifier asks "is there a lesion?" of the segmenter's
highest pixel (``LesionProbability``), and with BUSI held out (the only site with normal scans) a
segmenter trained on the other two sites (4 normal scans among 1,065 images) found a lesion in
every one of BUSI's 111 normal scans. This benchmark measures the levers beside today's score, on
the same held-out images:

* **pooling** (:func:`featbus.segmentation.presence.pool_map`): the image's score pooled from the
  segmenter's map: the highest pixel (today's), the mean of the top 1 % / 5 % of the pixels, the
  strongest lesion candidate's mean probability or its probability mass (share of the image);
* **negatives**: the same segmenter fine-tuned with site-balanced lesion-free crops of the
  training sites' own lesion images and caliper marks painted onto them
  (``scripts/train_presence_breast_us.py``), every pooling again; ``negatives`` with crops keeping
  40-90 % of each side of the frame, ``negatives-large`` 60-95 % (closer to a whole frame's
  scale, from fewer images);
* **pooled-features**: a logistic regression on the five pooled scores (logits; the mass as a log),
  fitted on the training sites' validation images (lesion images against lesion-free crops of
  them and their normal scans; lesion images and negatives weighted equally, each site's negatives
  equally), its threshold chosen on its out-of-fold scores.

What is rebuilt (all without a single BUSI image), in ``--cache-dir`` (default
``~/.cache/featbus/presence_score``; delete a file there to rebuild it)::

    python scripts/train_segmenter_breast_us.py --hold-out busi --set 'weights="imagenet"' \\
        --set input_size=160 --set epochs=8 --float32 -o CACHE/seg_loso_busi.keras
    python scripts/train_presence_breast_us.py --hold-out busi --segmenter CACHE/seg_loso_busi.keras \\
        --crops-per-site 400 --epochs 1 -o CACHE/seg_presence_busi.keras
    python scripts/train_presence_breast_us.py --hold-out busi --segmenter CACHE/seg_loso_busi.keras \\
        --crops-per-site 400 --epochs 1 --min-fraction 0.6 --max-fraction 0.95 \\
        -o CACHE/seg_negatives-large_busi.keras
    python benchmarks/presence_score.py --cache-dir CACHE

The segmenter is the ``breast-us`` recipe's U-Net, trained as the recipe trains it (a grouped
validation split, best epoch kept; with only 4 normal scans the split's stratification holds out a
quarter of the images, 267, mirror test-time averaging, pixel threshold 0.4) but
with two changes that fit 2 CPU cores: 160 px input and 8 epochs, and its encoder starting from
ImageNet (no site seen) rather than the ``breast-us`` backbone rebuilt without BUSI
(``--encoder-weights`` takes such a backbone, ``scripts/train_breast_us.py --hold-out busi``).

Figures, on BUSI's 514 lesion images and 111 normal scans, each with a 95 % interval from a
bootstrap over BUSI's near-duplicate groups (1000 resamples, seed 0, paired across scores):
normal-vs-lesion AUC, its difference from today's score, and at a threshold chosen on the
training sites only, the share of normal scans called normal and of lesion images called normal.
The threshold is the one rule of featbus's operating points
(:func:`featbus.metrics.threshold_for_sensitivity`) at 98 % of the training sites' validation
lesion images called lesion; today's score is also judged at its stored threshold (the
segmenter's pixel threshold, 0.4: what the shipped classifier's presence point is). Beside them,
``oracle_normal_called_normal``: the share of normal scans called normal at the threshold chosen
on BUSI itself (97 % of its lesion images called lesion): how far the ranking alone could reach,
not a figure of travel (no label of the new site is available to choose it). Writes
``benchmarks/results/presence_score.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from featbus import get_data_home

ROOT = Path(__file__).resolve().parents[1]
DATA = get_data_home()
SITES = {"busi": DATA / "busi" / "Dataset_BUSI_with_GT", "bus-bra": DATA / "bus-bra",
         "breast-lesions-usg": DATA / "breast-lesions-usg"}
RESULTS = ROOT / "benchmarks" / "results" / "presence_score.json"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "featbus" / "presence_score"
HELD = "busi"
TARGET = 0.98  # share of the training sites' validation lesion images called lesion
STORED = 0.4  # the breast-us segmenter's pixel threshold: today's presence point on the highest pixel
AIMS = {"auc": 0.95, "normal_called_normal": 0.70, "lesions_called_normal": 0.03}
VAL_CROPS = 2  # lesion-free crops of each validation lesion image (for the pooled-features lever)
SEGMENTER_SETTINGS = ["--set", 'weights="imagenet"', "--set", "input_size=160", "--set", "epochs=8", "--float32"]
PRESENCE_SETTINGS = ["--crops-per-site", "400", "--epochs", "1"]
#: The fine-tunes with lesion-free crops: name -> the settings of scripts/train_presence_breast_us.py.
FINE_TUNES = {"negatives": PRESENCE_SETTINGS,
              "negatives-large": [*PRESENCE_SETTINGS, "--min-fraction", "0.6", "--max-fraction", "0.95"],
              # issue 77: whole frames with the lesion removed, up to 400 per site (its own normal scans counted)
              "made-frames": [*PRESENCE_SETTINGS, "--whole-frames"]}


def _run(cmd: list[str]) -> None:
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.time()
    subprocess.run([sys.executable, *cmd], check=True, cwd=ROOT)
    print(f"  ({(time.time() - t0) / 60:.1f} min)", flush=True)


def _tuned_path(cache: Path, name: str) -> Path:
    return cache / (f"seg_presence_{HELD}.keras" if name == "negatives" else f"seg_{name}_{HELD}.keras")


def rebuild(cache: Path, encoder_weights: str | None, fine_tunes=tuple(FINE_TUNES)) -> dict[str, Path]:
    """The segmenters of the benchmark (``"today"`` and each of ``fine_tunes``), trained
    without the held-out site unless cached."""
    base = cache / f"seg_loso_{HELD}.keras"
    if not base.is_file():
        enc = ["--encoder-weights", encoder_weights] if encoder_weights else []
        _run(["scripts/train_segmenter_breast_us.py", "--hold-out", HELD, *SEGMENTER_SETTINGS, *enc, "-o", str(base)])
    paths = {"today": base}
    for name in fine_tunes:
        settings = FINE_TUNES[name]
        paths[name] = _tuned_path(cache, name)
        if not paths[name].is_file():
            _run(["scripts/train_presence_breast_us.py", "--hold-out", HELD, "--segmenter", str(base), *settings,
                  "-o", str(paths[name])])
    return paths


def evaluation_images(seg):
    """BUSI's images (the held-out site) and the training sites' validation images, with
    lesion-free crops of the latter's lesion images (seed 0)."""
    from featbus import combine_sites, load_data
    from featbus.segmentation.negatives import lesion_free_crops

    sys.path.insert(0, str(ROOT / "scripts"))
    from train_presence_breast_us import BOXES

    held = load_data(SITES[HELD])
    names = [s for s in SITES if s != HELD]
    train = combine_sites([load_data(SITES[n]) for n in names], names=names)
    val = [int(i) for i in seg.validation_indices_]
    rng = np.random.default_rng(0)
    crops, crop_sites, crop_groups = [], [], []
    for i in val:
        rec = train.data[i]
        if rec.mask is not None and rec.mask.any():
            for c in lesion_free_crops(rec.image, rec.mask, VAL_CROPS, random_state=rng, **BOXES):
                crops.append(c)
                crop_sites.append(str(train.sites[i]))
                crop_groups.append(f"{train.sites[i]}/{train.groups[i]}")
    val_y = np.array([bool(train.data[i].mask is not None and train.data[i].mask.any()) for i in val])
    return {"held_images": held.data, "held_y": np.asarray(held.target_names)[held.target].astype(str),
            "held_groups": np.asarray(held.groups).astype(str),
            "val_images": [train.data[i] for i in val], "val_lesion": val_y,
            "val_sites": np.array([str(train.sites[i]) for i in val]),
            "val_groups": np.array([f"{train.sites[i]}/{train.groups[i]}" for i in val]),
            "crops": crops, "crop_sites": np.array(crop_sites), "crop_groups": np.array(crop_groups)}


def cached_maps(seg, path: Path, ev: dict) -> dict:
    """The segmenter's probability maps of the held-out images, validation images and crops,
    cached as float16 logits (float16 probabilities would tie the highest pixels near 1)."""
    keys = ("held", "val", "crops")
    if path.is_file():  # as computed, up to float16 logits (relative steps of 1/1000)
        z = np.load(path)
        return {k: [_sigmoid(z[f"{k}{i}"]) for i in range(int(z[f"n_{k}"]))] for k in keys}
    t0 = time.time()
    maps = {"held": seg.predict_proba_maps(ev["held_images"]), "val": seg.predict_proba_maps(ev["val_images"]),
            "crops": seg.predict_proba_maps(ev["crops"])}
    arrays = {f"{k}{i}": _logit(m, 1e-7).astype(np.float16) for k in keys for i, m in enumerate(maps[k])}
    arrays.update({f"n_{k}": np.asarray(len(maps[k])) for k in keys})
    np.savez_compressed(path.with_suffix(".tmp.npz"), **arrays)
    path.with_suffix(".tmp.npz").replace(path)
    print(f"  maps of {path.stem}: {sum(len(v) for v in maps.values())} images in {time.time() - t0:.0f} s",
          flush=True)
    return {k: [_sigmoid(arrays[f"{k}{i}"]) for i in range(len(maps[k]))] for k in keys}  # as a rerun reads them


def _logit(p, eps: float = 1e-4):
    p = np.clip(np.asarray(p, float), eps, 1 - eps)
    return np.log(p / (1 - p))


def _sigmoid(z) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.asarray(z, np.float64)))).astype(np.float32)


def pooled_table(maps: list, threshold: float) -> dict:
    from featbus.segmentation.presence import POOLINGS, pooled_scores

    return {name: pooled_scores(maps, name, threshold=threshold) for name in POOLINGS}


def feature_matrix(pooled: dict) -> np.ndarray:
    """The pooled-features lever's inputs: logits of the probabilities, the log of the mass share."""
    cols = [np.log(pooled[k] + 1e-6) if k == "blob_mass" else _logit(pooled[k]) for k in sorted(pooled)]
    return np.column_stack(cols)


def pooled_features_lever(val_pooled: dict, crop_pooled: dict, held_pooled: dict, ev: dict) -> tuple:
    """Logistic regression on the pooled scores, fitted on the training sites' validation images
    (lesion images vs lesion-free crops and normal scans), threshold from its out-of-fold scores."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.vstack([feature_matrix(val_pooled), feature_matrix(crop_pooled)])
    y = np.r_[ev["val_lesion"], np.zeros(len(ev["crops"]), bool)]
    sites = np.r_[ev["val_sites"], ev["crop_sites"]]
    groups = np.r_[ev["val_groups"], ev["crop_groups"]]
    w = np.ones(len(y))
    for cls in (True, False):  # each class half the weight; within negatives, each site the same
        members = y == cls
        if cls:
            w[members] = 0.5 / members.sum()
        else:
            present = np.unique(sites[members])
            for s in present:
                m = members & (sites == s)
                w[m] = 0.5 / len(present) / m.sum()
    w *= len(y)

    def model():
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0))

    oof = np.empty(len(y))
    for tr, te in GroupKFold(n_splits=5).split(X, y, groups):
        oof[te] = model().fit(X[tr], y[tr], logisticregression__sample_weight=w[tr]).predict_proba(X[te])[:, 1]
    final = model().fit(X, y, logisticregression__sample_weight=w)
    n_val = len(ev["val_lesion"])
    return final.predict_proba(feature_matrix(held_pooled))[:, 1], oof[:n_val], oof[n_val:]


def judge(scores: dict, reference: str, threshold_of: dict, y: np.ndarray, groups: np.ndarray,
          n_bootstrap: int) -> dict:
    """AUC normal-vs-lesion, its paired difference from ``reference``, and the decisions at each
    score's threshold, each (value, low, high) over a group bootstrap (one seed: paired)."""
    from featbus.metrics import bootstrap, rank_auc, threshold_for_sensitivity

    lesion = y != "normal"
    out = {}
    for name, s in scores.items():
        t = threshold_of[name]

        def stat(idx, s=s, t=t):
            les, sc, ref = lesion[idx], s[idx], scores[reference][idx]
            called_normal = sc < t
            auc = rank_auc(les, sc)
            return {"auc": auc, "auc_minus_today": auc - rank_auc(les, ref),
                    "normal_called_normal": float(np.mean(called_normal[~les])),
                    "lesions_called_normal": float(np.mean(called_normal[les]))}

        value, ci = bootstrap(stat, np.arange(len(y)), groups=groups, n_bootstrap=n_bootstrap, random_state=0)
        out[name] = {k: [float(value[k]), float(ci[k][0]), float(ci[k][1])] for k in value}
        out[name]["threshold"] = float(t)
        # the ROC's reach, not a figure of travel: the threshold chosen on the held-out site itself
        t_site = threshold_for_sensitivity(s, lesion, 1 - AIMS["lesions_called_normal"])
        out[name]["oracle_normal_called_normal"] = float(np.mean(s[~lesion] < t_site))
        out[name]["median_score"] = {"normal": float(np.median(s[~lesion])), "lesion": float(np.median(s[lesion]))}
    return out


def _encoder(card: dict, given: str | None) -> str:
    """Where the segmenter's encoder started: a backbone trained without the held-out site, or ImageNet."""
    start = (card.get("recipe") or {}).get("weights", given)
    if start in (None, "imagenet"):
        return "imagenet"
    return f"a breast-us backbone trained without {HELD} ({Path(start).name})"


def _parts_note(cache: Path) -> str:
    """What the cached segmenters trained on (``parts.json`` of scripts/train_loso_parts.sh), else the shared sites."""
    note = cache / "parts.json"
    return json.loads(note.read_text()).get("data", "not recorded") if note.is_file() else "the shared sites"


def _cell(v, d=2) -> str:
    return f"{v[0]:.{d}f} [{v[1]:.{d}f}, {v[2]:.{d}f}]"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cache-dir", default=str(DEFAULT_CACHE),
                   help="where the segmenters trained without BUSI and their maps are kept (default: %(default)s)")
    p.add_argument("--encoder-weights", default=None,
                   help="the segmenter encoder's start: a breast-us backbone rebuilt without BUSI "
                        "(default: ImageNet)")
    p.add_argument("--fine-tunes", default=",".join(FINE_TUNES),
                   help="the presence fine-tunes to measure (default: %(default)s)")
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("-o", "--output", default=str(RESULTS))
    args = p.parse_args(argv)
    tunes = [t.strip() for t in args.fine_tunes.split(",") if t.strip()]
    if unknown := [t for t in tunes if t not in FINE_TUNES]:
        p.error(f"unknown fine-tune {unknown[0]!r}; known: {', '.join(FINE_TUNES)}")
    cache = Path(args.cache_dir).expanduser()
    cache.mkdir(parents=True, exist_ok=True)

    from featbus import UNetSegmenter
    from featbus.metrics import rank_auc, threshold_for_sensitivity

    paths = rebuild(cache, args.encoder_weights, tunes)
    segs = {tag: UNetSegmenter.load(path) for tag, path in paths.items()}
    if any(list(s.validation_indices_) != list(segs["today"].validation_indices_) for s in segs.values()):
        raise SystemExit("the segmenters do not share one validation split")
    ev = evaluation_images(segs["today"])
    y, groups = ev["held_y"], ev["held_groups"]
    print(f"held out {HELD}: {int((y != 'normal').sum())} lesion images, {int((y == 'normal').sum())} normal; "
          f"training sites' validation: {int(ev['val_lesion'].sum())} lesion images, "
          f"{int((~ev['val_lesion']).sum())} normal, {len(ev['crops'])} lesion-free crops", flush=True)

    scores, thresholds, validation = {}, {}, {}
    for tag, seg in segs.items():
        maps = cached_maps(seg, cache / f"maps_{tag}_{HELD}.npz", ev)
        t = float(seg.threshold)
        pooled = {k: pooled_table(maps[k], t) for k in ("held", "val", "crops")}
        for name in pooled["held"]:
            key = f"{tag}/{name}"
            scores[key] = pooled["held"][name]
            thresholds[key] = threshold_for_sensitivity(pooled["val"][name], ev["val_lesion"], TARGET)
            neg = np.r_[pooled["val"][name][~ev["val_lesion"]], pooled["crops"][name]]
            validation[key] = rank_auc(np.r_[np.ones(ev["val_lesion"].sum(), bool), np.zeros(len(neg), bool)],
                                       np.r_[pooled["val"][name][ev["val_lesion"]], neg])
        held_s, oof_val, oof_crops = pooled_features_lever(pooled["val"], pooled["crops"], pooled["held"], ev)
        key = f"{tag}/pooled-features"
        scores[key] = held_s
        thresholds[key] = threshold_for_sensitivity(oof_val, ev["val_lesion"], TARGET)
        validation[key] = rank_auc(np.r_[ev["val_lesion"], np.zeros(len(oof_crops), bool)], np.r_[oof_val, oof_crops])
    scores["today/max@stored"] = scores["today/max"]
    thresholds["today/max@stored"] = STORED

    cells = judge(scores, "today/max", thresholds, y, groups, args.n_bootstrap)
    for key in cells:
        cells[key]["training_sites_validation_auc"] = (float(validation[key]) if key in validation
                                                       else float(validation["today/max"]))
        cells[key]["threshold_from"] = ("stored: the segmenter's pixel threshold" if key.endswith("@stored") else
                                        f"training sites' validation lesion images, {TARGET:.0%} called lesion")
    cards = {("segmenter" if tag == "today" else tag): json.loads(Path(p).with_suffix(".json").read_text())
             for tag, p in paths.items() if Path(p).with_suffix(".json").is_file()}
    results = {"held_out": HELD, "n_lesion": int((y != "normal").sum()), "n_normal": int((y == "normal").sum()),
               "aims": AIMS, "target_sensitivity_training_sites": TARGET, "stored_threshold": STORED,
               "settings": {"n_bootstrap": args.n_bootstrap, "seed": 0,
                            # what the segmenter was trained with: its card's recipe (a cached one may come
                            # from scripts/train_loso_parts.sh, the shipped recipe), else this script's settings
                            "segmenter": cards.get("segmenter", {}).get("recipe") or SEGMENTER_SETTINGS,
                            "encoder_weights": _encoder(cards.get("segmenter", {}), args.encoder_weights),
                            "trained_on": _parts_note(cache),
                            "presence_fine_tunes": {t: FINE_TUNES[t] for t in tunes},
                            "validation_crops_per_image": VAL_CROPS},
               "training": {tag: {k: c.get(k) for k in ("wall_minutes", "cpu_minutes", "crops", "epochs_run",
                                                         "stopped", "n_images", "sites", "boxes") if k in c}
                            for tag, c in cards.items()},
               "cells": cells}
    print(f"\n{'score (BUSI held out)':28s} {'AUC normal vs lesion':22s} {'minus today':24s} "
          f"{'normals called normal':22s} {'lesions called normal':22s} threshold  val AUC  oracle")
    for key, c in cells.items():
        print(f"{key:28s} {_cell(c['auc'], 3):22s} {_cell(c['auc_minus_today'], 3):24s} "
              f"{_cell(c['normal_called_normal']):22s} {_cell(c['lesions_called_normal']):22s} "
              f"{c['threshold']:<9.4g}  {c['training_sites_validation_auc']:.3f}  "
              f"{c['oracle_normal_called_normal']:.2f}")
    met = [k for k, c in cells.items() if c["auc"][0] >= AIMS["auc"]
           and c["normal_called_normal"][0] >= AIMS["normal_called_normal"]
           and c["lesions_called_normal"][0] <= AIMS["lesions_called_normal"]]
    results["meets_all_aims"] = met
    better = [k for k, c in cells.items() if c["auc_minus_today"][1] > 0]
    results["verdict"] = (
        f"AUC beyond today's (the highest pixel, {cells['today/max']['auc'][0]:.3f}) by more than its interval: "
        + (", ".join(better) if better else "none")
        + "; meets all three aims: " + (", ".join(met) if met else "none")
        + f". At the threshold chosen on the training sites the scores trade normals called normal against "
          f"lesions called normal along one ranking; chosen on BUSI itself (oracle) at most "
          f"{max(c['oracle_normal_called_normal'] for c in cells.values()):.2f} of its normal scans are called "
          f"normal with {AIMS['lesions_called_normal']:.0%} of its lesions called normal.")
    print(results["verdict"])
    print(f"meets all three aims (AUC >= {AIMS['auc']}, normals called normal >= {AIMS['normal_called_normal']}, "
          f"lesions called normal <= {AIMS['lesions_called_normal']}): {', '.join(met) if met else 'none'}")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    from featbus.io import write_file  # the one write-then-rename

    write_file(out, json.dumps(results, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
