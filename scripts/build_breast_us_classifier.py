"""Rebuild featbus's ``breast-us`` classifier (a model file) from the three shared ultrasound sites.

The classifier is one instance of a recipe anyone can train (``featbus train A B C --recipe
lesion-then-malignancy``): the shipped ``breast-us`` segmenter finds the lesion, the shipped
``breast-us`` backbone describes its box (frozen), an SVM trained on the lesion images only
says benign or malignant, and the segmenter's lesion
probability says whether there is a lesion at all. Two decisions, each with its own operating
point (:class:`featbus.metrics.OperatingPoint`): "normal" below the segmenter's own presence
threshold, then malignant at sensitivity 0.9 on p(malignant | lesion), chosen on out-of-fold
predictions of the training images. Writes

* ``OUT`` (``.featbus``): the model file (it names the shipped backbone and segmenter, holding
  no copy of them);
* ``OUT`` with ``.json``: the card data: sites, image counts, recipe, seed, wall and CPU time,
  the file's SHA-256, version and licence, and the leave-one-site-out figures of
  ``benchmarks/results/breast_us_classifier.json`` (every part rebuilt without the held-out
  site: ``benchmarks/breast_us_classifier.py``).

Run (the shipped file; about 10 min on 2 CPU cores)::

    python scripts/build_breast_us_classifier.py -o featbus/networks/weights/breast_us_classifier.featbus

then put the printed SHA-256 in :data:`featbus.networks.pretrained.PRETRAINED` (bump its version).
The cross-validation figures inside the file are on images the backbone and the segmenter
trained on: the file says so beside them; the card's leave-one-site-out table is the honest one.
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

ROOT = Path(__file__).resolve().parents[1]
DATA = get_data_home()
SITES = {"busi": DATA / "busi", "bus-bra": DATA / "bus-bra", "breast-lesions-usg": DATA / "breast-lesions-usg"}
RECIPE = "lesion-then-malignancy"
LOSO = ROOT / "benchmarks" / "results" / "breast_us_classifier.json"
CARD_RST = ROOT / "docs" / "guide" / "breast_us_classifier_card.rst"
VERSION = "1.0"
INTENDED_USE = ("research, not diagnosis: a first look at whether featbus's recipe travels to a hospital's images, "
                "before training anything; calibrate it to the site with a few labelled patients (featbus adapt "
                "breast-us SITE --labels) and judge it on other patients of the site (featbus validate)")
LIMITS = ("'normal' is learnt from one source's scans (BUSI's 111 normal images; BrEaST-Lesions-USG has 4, BUS-BRA "
          "none): at a new site the segmenter draws a lesion in most normal scans, so few are called normal "
          "until the presence threshold is fitted to the site; it learnt from three sources only (Egypt, Brazil's "
          "GE Logiq 5 images, Poland's several scanners): other scanners, settings and populations are untested; "
          "figures on images from these sources are on images every trained part has seen")


def card_rst(card: dict) -> str:
    """The card's table for the docs page (``docs/guide/breast_us_classifier_card.rst``), from its data."""
    sites = ", ".join(f"{n} {k}" for n, k in card["sites"].items())
    rows = [("name, version", f"``{card['key']}`` in featbus's pretrained table, spelt ``breast-us`` or "
                              f"``breast_us``; version {card['version']}"),
            ("training data", f"{card['n_images']} images of the three shared sites ({sites}); the data and its "
                              "citations as on the breast-us backbone's card"),
            ("recipe", f"``{card['recipe']}`` (``featbus train A B C --recipe {card['recipe']}``): the shipped "
                       "breast-us segmenter's lesion box (15 % margin), frozen breast-us features of the box, an "
                       "RBF SVM of the lesion images with Platt calibration; the presence decision by the "
                       "segmenter's lesion probability (its highest pixel probability)"),
            ("operating points", card["operating_point_text"]),
            ("seed, time", f"seed {card['seed']}; {card['wall_minutes']} min ({card['cpu_minutes']} CPU min) on "
                           f"{card['machine']}"),
            ("rebuild", "``python scripts/build_breast_us_classifier.py -o "
                        "featbus/networks/weights/breast_us_classifier.featbus``"),
            ("file", f"``breast_us_classifier.featbus``, {card['size_bytes'] / 1e6:.1f} MB, SHA-256 "
                     f"``{card['sha256']}``; it names the shipped backbone and segmenter (checked by their own "
                     "digests) instead of holding copies"),
            ("licence", card["license"]),
            ("intended use", card["intended_use"]),
            ("limits", card["limits"])]
    lines = [".. Written by scripts/build_breast_us_classifier.py from the card data it stores beside the model",
             "   file (featbus/networks/weights/breast_us_classifier.json). Do not edit by hand.", "",
             "The card", "--------", "", ".. list-table::", "   :widths: 25 75", ""]
    for key, value in rows:
        lines += [f"   * - {key}", f"     - {value}"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-o", "--output", required=True, help="the model file (.featbus)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--card-only", action="store_true",
                   help="OUT exists: rewrite its card data and the docs card from it and the benchmark's JSON")
    args = p.parse_args(argv)

    from featbus import combine_sites, load_data
    from featbus.metrics import OperatingPoint
    from featbus.model.format import read_manifest
    from featbus.networks.pretrained import _LICENSE

    out = Path(args.output)
    names = list(SITES)
    if args.card_only:
        card = json.loads(out.with_suffix(".json").read_text())
        manifest = read_manifest(out)
    else:
        from featbus.workflows.training import train_model

        data = combine_sites([load_data(SITES[n]) for n in names], names=names)
        y = np.asarray(data.target_names)[data.target]
        print(f"training on {', '.join(names)}: {len(y)} images, "
              + ", ".join(f"{c} {int((y == c).sum())}" for c in data.target_names), flush=True)
        t0, c0 = time.time(), time.process_time()
        model = train_model(data, recipe=RECIPE, random_state=args.seed, progress=True, source=",".join(names),
                            command=f"python scripts/build_breast_us_classifier.py (recipe {RECIPE}, seed {args.seed})")
        wall, cpu = time.time() - t0, time.process_time() - c0
        print(f"trained in {wall / 60:.1f} min ({cpu / 60:.1f} CPU min)", flush=True)
        # no inference-runtime forwards: the segmenter runs in Keras anyway, and they would add 9 MB
        model.save(out, overwrite=args.overwrite, runtime=False)
        manifest = model.manifest
        card = {"sites": {n: int(np.sum(np.asarray(data.sites) == n)) for n in names},
                "classes": [str(c) for c in data.target_names], "n_images": int(len(y)), "seed": args.seed,
                "wall_minutes": round(wall / 60, 1), "cpu_minutes": round(cpu / 60, 1),
                "machine": f"{platform.machine()}, {os.cpu_count()} CPUs"}
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    loso = json.loads(LOSO.read_text()) if LOSO.is_file() else None
    card.update({"classifier": "breast-us", "key": "lesion_then_malignancy.breast_us", "version": VERSION,
                 "license": _LICENSE, "recipe": RECIPE, "intended_use": INTENDED_USE, "limits": LIMITS,
                 "sha256": digest, "size_bytes": out.stat().st_size,
                 "operating_point": manifest["operating_point"],
                 "operating_point_text": OperatingPoint.from_record(manifest["operating_point"]).describe(),
                 "leave_one_site_out": None if loso is None else {
                     "about": "every trained part (backbone, segmenter, heads) rebuilt without the held-out site; "
                              "benchmarks/breast_us_classifier.py, docs: guide/breast_us_classifier",
                     "before": loso["before"].get("lesion-then-malignancy"), "calibration": loso["calibration"]}})
    out.with_suffix(".json").write_text(json.dumps(card, indent=1))
    CARD_RST.write_text(card_rst(card))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, sha256 {digest}), its card and {CARD_RST}", flush=True)


if __name__ == "__main__":
    main()
