"""Rebuild featbus's ``breast-us`` lesion segmenter from the shared ultrasound sites.

A U-Net of the ``breast-us`` segmenter recipe (:data:`featbus.pipelines.recipes.SEGMENTER_RECIPES`):
its encoder is the ``breast-us`` backbone (EfficientNet-Lite0 fine-tuned on the same sites),
trained on every image of the sites named, normal images included (an empty mask teaches "no
lesion"), with a grouped validation split (whole patients / near-duplicate groups) whose best
epoch is kept. Writes

* ``OUT`` (``.keras``): the segmenter (``UNetSegmenter.load`` reads it);
* ``OUT`` with ``.json``: the card data: sites, image counts, recipe, seed, wall and CPU time,
  the file's SHA-256 and the perceptual hash of every training image (so that ``featbus segment
  evaluate`` says when it is given images the segmenter trained on);
* with ``--hold-out SITE``: ``OUT`` with ``.heldout.npz``: the held-out site's lesion probability
  maps (at each image's size, in steps of 1/255), drawn masks' presence, groups and paths, for the
  leave-one-site-out figures (``benchmarks/segmentation_sites.py``).

Leave one site out, the encoder rebuilt without that site too (``scripts/train_breast_us.py
--hold-out SITE -o LOSO_DIR/loso_SITE.npz``), so no trained part has seen it::

    python scripts/train_segmenter_breast_us.py --hold-out bus-bra \\
        --encoder-weights LOSO_DIR/loso_bus-bra.npz -o LOSO_DIR/seg_loso_bus-bra.keras

The shipped file (all three sites)::

    python scripts/train_segmenter_breast_us.py -o featbus/networks/weights/breast_us_segmenter.keras
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


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-o", "--output", required=True, help="the segmenter file (.keras)")
    p.add_argument("--sites", default=",".join(SITES))
    p.add_argument("--hold-out", default=None, help="a site left out of training, its probability maps saved")
    p.add_argument("--encoder-weights", default=None,
                   help="the encoder's starting weights (default: the recipe's, the shipped breast-us backbone); "
                        "with --hold-out give the backbone rebuilt without that site")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe parameter (JSON value), e.g. --set epochs=8")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--float32", action="store_true",
                   help="keep the weights in float32 (default: stored in float16, as shipped: "
                        "scripts/segmenter_to_float16.py)")
    p.add_argument("--finish", action="store_true",
                   help="OUT was trained already (by an earlier release of this script): fit its lesion-presence "
                        "decision on its validation images and record its training images' fingerprints, then "
                        "rewrite it and its card (the held-out maps are written again too)")
    args = p.parse_args(argv)

    from featbus import combine_sites, load_data
    from featbus.model.provenance import fingerprints
    from featbus.pipelines.recipes import SEGMENTER_RECIPES, build_segmenter

    names = [s.strip() for s in args.sites.split(",") if s.strip()]
    if args.hold_out:
        names = [n for n in names if n != args.hold_out]
    data = combine_sites([load_data(SITES[n]) for n in names], names=names)
    has_lesion = np.array([r.mask is not None and bool(r.mask.any()) for r in data.data])
    print(f"training on {', '.join(names)}: {len(has_lesion)} images, {int(has_lesion.sum())} with a lesion, "
          f"{int((~has_lesion).sum())} without", flush=True)

    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    if args.encoder_weights:
        overrides["weights"] = args.encoder_weights
    out = Path(args.output)
    if args.finish:  # a file trained before the presence decision existed: fit it, as fit now does
        from featbus import UNetSegmenter

        seg = UNetSegmenter.load(out)
        seg.set_params(presence=overrides.get("presence", SEGMENTER_RECIPES["breast-us"].params["presence"]))
        xs, ys, _ = seg._prepare([data.data[i] for i in seg.validation_indices_], None)
        seg.presence_ = seg._fit_presence(xs, ys)  # what fit now does with the validation images
        seg.fingerprints_ = fingerprints(data.data)
        card = json.loads(out.with_suffix(".json").read_text())
        wall, cpu = card["wall_minutes"] * 60, card["cpu_minutes"] * 60
    else:
        seg = build_segmenter("breast-us", **overrides, random_state=args.seed, progress=True)
        t0, c0 = time.time(), time.process_time()
        seg.fit(data.data, groups=data.groups)
        wall, cpu = time.time() - t0, time.process_time() - c0
    print(f"trained in {wall / 60:.1f} min ({cpu / 60:.1f} CPU min), {seg.n_train_} training and {seg.n_val_} "
          f"validation images", flush=True)
    print(f"lesion presence: {json.dumps(seg.presence_)}", flush=True)

    out.parent.mkdir(parents=True, exist_ok=True)
    seg.save(out)
    if not args.float32:  # half the size, the same masks (the conversion script's check)
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from segmenter_to_float16 import convert

        convert(out, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    recipe = SEGMENTER_RECIPES["breast-us"].params
    entry = get_pretrained("breast-us", "segmenter")  # bump its version in the table first
    card = {"segmenter": "breast-us", "key": entry.key, "version": entry.version, "license": entry.license,
            "dtype": "float32" if args.float32 else "float16",
            "sites": {n: int(np.sum(np.asarray(data.sites) == n)) for n in names},
            "n_images": int(len(has_lesion)), "n_lesion_images": int(has_lesion.sum()),
            "recipe": {**recipe, **overrides}, "seed": args.seed, "wall_minutes": round(wall / 60, 1),
            "cpu_minutes": round(cpu / 60, 1), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "sha256": digest, "size_bytes": out.stat().st_size, "image_phash": list(seg.fingerprints_)}
    out.with_suffix(".json").write_text(json.dumps(card, indent=1))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, sha256 {digest})", flush=True)

    if args.hold_out:
        held = load_data(SITES[args.hold_out])
        maps = seg.predict_proba_maps(held.data)
        arrays = {f"map{i}": np.round(m * 255).astype(np.uint8) for i, m in enumerate(maps)}
        np.savez_compressed(out.with_suffix(".heldout.npz"), **arrays,
                            paths=np.asarray(held.paths, dtype=str), groups=np.asarray(held.groups),
                            y=np.asarray(held.target_names)[held.target])
        print(f"held-out {args.hold_out}: {len(maps)} probability maps saved", flush=True)


if __name__ == "__main__":
    main()
