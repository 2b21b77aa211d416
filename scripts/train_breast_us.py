"""Rebuild featbus's ``breast-us`` backbone from the shared ultrasound sites.

EfficientNet-Lite0 (ImageNet start) fine-tuned benign / malignant / normal on the sites named,
with the default recipe's settings (224 px, 12 epochs, 15 % validation images; seed fixed). Writes

* ``OUT`` (``.npz``): the whole Lite0 body in the Keras layout that
  :func:`featbus.networks.efficientnet_lite.efficientnet_lite0` loads (the trained layers
  up to the recipe's cut; the layers after it keep their ImageNet values), float16;
* ``OUT`` with ``.json``: the card data: sites, image counts, recipe, seed, CPU time, the file's
  SHA-256 and the perceptual hash of every training image (so that featbus can say when it is
  evaluated on images it trained on);
* with ``--hold-out SITE``: ``OUT`` with ``.heldout.npz``: the trained network's class
  probabilities on the held-out site's images (leave-one-site-out figures, see
  ``benchmarks/three_sites.py``).

Run (the shipped file; about 25 min on 2 CPU cores)::

    python scripts/train_breast_us.py -o featbus/networks/weights/breast_us.npz

Leave one site out (the honest figures)::

    python scripts/train_breast_us.py --hold-out bus-bra -o /tmp/breast_us_no_busbra.npz

Normal scans in each training site's own style (issue 77): ``--normals-per-site N`` adds, as the
class "normal", up to N whole frames per training site with the lesion removed
(:func:`featbus.segmentation.negatives.lesion_free_frame`, kept only when the fill passes its
tissue check), each in its source image's group; a site's own normal scans count towards its N.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from featbus import get_data_home
from featbus.networks.pretrained import get_pretrained

DATA = get_data_home()
SITES = {"busi": DATA / "busi" / "Dataset_BUSI_with_GT", "bus-bra": DATA / "bus-bra",
         "breast-lesions-usg": DATA / "breast-lesions-usg"}


def add_lesion_free_frames(data, y, per_site: int, *, seed: int = 0):
    """The training set with up to ``per_site`` lesion-free whole frames of each site's lesion
    images added as "normal" (:func:`featbus.segmentation.negatives.lesion_free_frames`), each
    grouped with its source. Returns ``X, y, groups, sites, made, counts``."""
    from featbus.segmentation.negatives import lesion_free_frames

    frames, source, counts = lesion_free_frames(data.images, data.masks, data.sites, per_site, labels=y,
                                                random_state=seed)
    X = list(data.data) + frames
    y = np.r_[np.asarray(y, dtype=object), np.full(len(frames), "normal", dtype=object)].astype(str)
    groups = list(data.groups) + [data.groups[i] for i in source]
    sites = list(data.sites) + [data.sites[i] for i in source]
    made = np.r_[np.zeros(len(data.data), bool), np.ones(len(frames), bool)]
    return X, y, groups, sites, made, counts


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--sites", default=",".join(SITES))
    p.add_argument("--hold-out", default=None, help="a site left out of training, its predictions saved")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--normals-per-site", type=int, default=0,
                   help="lesion-free whole frames added per training site as 'normal' (0: none)")
    args = p.parse_args(argv)

    from featbus import FineTunedCNN, combine_sites, load_data
    from featbus.model.provenance import fingerprints
    from featbus.networks.efficientnet_lite import efficientnet_lite0
    from featbus.pipelines.recipes import get_recipe

    names = [s.strip() for s in args.sites.split(",") if s.strip()]
    if args.hold_out:
        names = [n for n in names if n != args.hold_out]
    data = combine_sites([load_data(SITES[n]) for n in names], names=names)
    y = np.asarray(data.target_names)[data.target]
    X, groups, sites, made = list(data.data), list(data.groups), list(data.sites), np.zeros(len(y), bool)
    normals_added = {}
    if args.normals_per_site:
        X, y, groups, sites, made, normals_added = add_lesion_free_frames(
            data, y, args.normals_per_site, seed=args.seed)
        print("lesion-free frames added as normal: " + ", ".join(f"{k} {v}" for k, v in normals_added.items()),
              flush=True)
    print(f"training on {', '.join(names)}: {len(y)} images, "
          + ", ".join(f"{c} {int((y == c).sum())}" for c in data.target_names), flush=True)

    params = {**get_recipe("finetuned-lite0").network, "epochs": args.epochs, "input_size": args.image_size}
    net = FineTunedCNN(**params, random_state=args.seed, progress=True)
    t0, c0 = time.time(), time.process_time()
    net.fit(X, y, groups=np.asarray(groups))
    wall, cpu = time.time() - t0, time.process_time() - c0
    print(f"trained in {wall / 60:.1f} min ({cpu / 60:.1f} CPU min)", flush=True)

    # the whole Lite0 body: trained layers from the fitted network, the rest from ImageNet
    full = efficientnet_lite0((args.image_size, args.image_size, 3), weights="imagenet")
    trained = {lay.name: lay for lay in net._trainer().body.layers if lay.weights}
    arrays, n_trained = {}, 0
    for lay in full.layers:
        src = trained.get(lay.name, lay)
        n_trained += lay.name in trained
        for w_full, w_src in zip(lay.weights, src.weights):
            arrays[f"{lay.name}/{w_full.name}"] = np.asarray(w_src.numpy(), np.float16)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    entry = get_pretrained("breast-us", "backbone")  # bump its version in the table first
    card = {"backbone": "breast-us", "key": entry.key, "version": entry.version, "license": entry.license,
            "architecture": "efficientnet_lite0", "start": "imagenet",
            "sites": {n: int(np.sum(np.asarray(data.sites) == n)) for n in names},
            "classes": [str(c) for c in net.classes_], "n_images": int(len(y)),
            "lesion_free_frames": normals_added,
            "recipe": {k: v for k, v in params.items() if isinstance(v, (int, float, str, bool, type(None)))},
            "seed": args.seed, "trained_layers": int(n_trained), "wall_minutes": round(wall / 60, 1),
            "cpu_minutes": round(cpu / 60, 1), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "sha256": digest, "dtype": "float16",
            "image_phash": fingerprints(data.data)}  # made frames: their sources are here
    out.with_suffix(".json").write_text(json.dumps(card, indent=1))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, sha256 {digest})", flush=True)

    if args.hold_out:
        held = load_data(SITES[args.hold_out])
        proba = net.predict_proba(held.data)
        val = np.asarray(net.validation_indices_, dtype=int)  # training sites' held-out images: the operating point
        np.savez(out.with_suffix(".heldout.npz"), proba=proba, classes=np.asarray(net.classes_, dtype=str),
                 y=np.asarray(held.target_names)[held.target], groups=np.asarray(held.groups),
                 paths=np.asarray(held.paths, dtype=str), val_proba=np.asarray(net.validation_proba_),
                 val_y=y[val], val_sites=np.asarray(sites)[val], val_made=made[val])
        print(f"held-out {args.hold_out}: {len(held.target)} images predicted", flush=True)


if __name__ == "__main__":
    main()
