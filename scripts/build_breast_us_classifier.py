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
  the file's SHA-256, version and licence, and the card's four parts (:func:`card_part_data`), each
  copied from a benchmark's results file that it names: leave one site out at the stored points
  (``benchmarks/breast_us_classifier.py``, every part rebuilt without the held-out site); after
  label-free alignment and after k labelled patients (``benchmarks/site_alignment.py``, the
  heads rebuilt without the held-out site); normal vs lesion (``benchmarks/presence_score.py``).
  ``--card-only`` rewrites them from those files without retraining.

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
ALIGNMENT = ROOT / "benchmarks" / "results" / "site_alignment.json"
PRESENCE = ROOT / "benchmarks" / "results" / "presence_score.json"
#: What benchmarks/site_alignment.py rebuilt, said beside its figures (they are on images trained parts saw).
HEADS_ONLY = ("heads rebuilt without the held-out site; the backbone and the segmenter are the shipped ones, which "
              "saw its images, so the shift is smaller than at a new hospital")
CARD_RST = ROOT / "docs" / "guide" / "breast_us_classifier_card.rst"
VERSION = "2.0"
INTENDED_USE = ("research, not diagnosis: a first look at whether featbus's recipe travels to a hospital's images, "
                "before training anything; calibrate it to the site with a few labelled patients (featbus adapt "
                "breast-us SITE --labels) and judge it on other patients of the site (featbus validate)")
LIMITS = ("'normal' is learnt from one source's scans (BUSI's 111 normal images; BrEaST-Lesions-USG has 4, BUS-BRA "
          "none): at a new site the segmenter draws a lesion in most normal scans, so few are called normal "
          "until the presence threshold is fitted to the site; it learnt from three sources only (Egypt, Brazil's "
          "GE Logiq 5 images, Poland's several scanners): other scanners, settings and populations are untested; "
          "figures on images from these sources are on images every trained part has seen")


def _segmenter_words(settings: dict) -> str:
    """How benchmarks/presence_score.py's segmenter was trained, in words, from its recorded settings."""
    seg, enc = settings.get("segmenter"), settings.get("encoder_weights", "imagenet")
    start = "ImageNet encoder" if enc == "imagenet" else f"its encoder {enc}"
    if isinstance(seg, dict):  # the recipe from the segmenter's card: the shipped one
        words = f"the shipped recipe, {seg.get('input_size')} px, {seg.get('epochs')} epochs, {start}"
    else:
        words = f"the recipe's U-Net at 160 px, 8 epochs, {start}: settings that fit 2 CPU cores"
    trained_on = settings.get("trained_on")
    return words + (f"; trained on {trained_on}" if trained_on and trained_on != "the shared sites" else "")


def card_part_data(loso: dict | None, alignment: dict | None, presence: dict | None) -> dict:
    """The card's four parts from the benchmarks' results files, each naming its script and file
    and what was rebuilt without the held-out site (:data:`featbus.model.describe.CARD_PARTS`)."""
    parts: dict = {}
    full = alignment is not None and alignment.get("protocol") == "full"
    about = HEADS_ONLY
    if full:  # every trained part rebuilt without the held-out site: (a), (b) and (c) from this one rebuild
        trained_on = (alignment.get("loso_parts") or {}).get("trained_on", "the shared sites")
        about = (f"every trained part (backbone, segmenter, heads) rebuilt without the held-out site; the backbone "
                 f"and the segmenter trained on {trained_on}")
        parts["leave_one_site_out"] = {
            "label": "leave one site out, at the stored points", "about": about,
            "source": "benchmarks/site_alignment.py, benchmarks/results/site_alignment.json",
            "before": {site: r["rows"]["stored points"] for site, r in alignment["sites"].items()}}
    elif loso is not None:
        parts["leave_one_site_out"] = {
            "label": "leave one site out, at the stored points",
            "about": "every trained part (backbone, segmenter, heads) rebuilt without the held-out site (honest)",
            "source": "benchmarks/breast_us_classifier.py, benchmarks/results/breast_us_classifier.json",
            "before": loso["before"]["lesion-then-malignancy"]}
    if alignment is not None:
        source = "benchmarks/site_alignment.py, benchmarks/results/site_alignment.json"
        parts["after_alignment"] = {
            "label": "after label-free alignment (featbus adapt breast-us SITE_IMAGES, assuming the training sites' "
                     "share of malignant lesions), at the stored points",
            "about": about, "source": source,
            "sites": {site: {"aligned": r["rows"]["aligned, training share"], "stored": r["rows"]["stored points"],
                             "training_share": r["training_share"], "true_share": r["true_share"]}
                      for site, r in alignment["sites"].items()}}
        if all("calibration" in r for r in alignment["sites"].values()):
            settings = alignment["settings"]
            parts["calibration"] = {
                "label": f"after k labelled patients (featbus adapt breast-us CALIB --labels, with its guards; k "
                         f"patients drawn {settings['draws']} times, judged on the site's other patients: median "
                         "[5 %, 95 %] over the draws)",
                "about": about, "source": source, "draws": settings["draws"], "ks": settings["ks"],
                "normal_note": None if full else "scans the shipped segmenter trained on",
                "sites": {site: r["calibration"] for site, r in alignment["sites"].items()}}
    if presence is not None:
        today, stored = presence["cells"]["today/max"], presence["cells"]["today/max@stored"]
        parts["presence"] = {
            "label": "normal vs lesion (is there a lesion? p(lesion), the segmenter's highest pixel)",
            "about": f"{presence['held_out']}, the only site with normal scans, held out; the segmenter rebuilt "
                     f"without it ({_segmenter_words(presence['settings'])})",
            "source": "benchmarks/presence_score.py, benchmarks/results/presence_score.json",
            "held_out": presence["held_out"], "n_normal": presence["n_normal"], "n_lesion": presence["n_lesion"],
            "auc": today["auc"],
            "at_stored": {"threshold": presence["stored_threshold"],
                          "normal_called_normal": stored["normal_called_normal"],
                          "lesions_called_normal": stored["lesions_called_normal"]},
            "at_training_threshold": {"threshold": today["threshold"], "chosen": today["threshold_from"],
                                      "normal_called_normal": today["normal_called_normal"],
                                      "lesions_called_normal": today["lesions_called_normal"]}}
    return parts


def _part_rows(card: dict) -> list[tuple[str, str]]:
    """The card's parts as table rows: the lettered label on the left; on the right what was
    measured, how and where (the rest of the heading :func:`featbus.model.describe.card_parts`
    gives ``inspect``), then the figures: the same words, the label alone in the narrow column."""
    from featbus.model.describe import CARD_PARTS, card_parts

    keys = [k for k in CARD_PARTS if isinstance(card.get(k), dict)]
    rows = []
    for key, (head, text) in zip(keys, card_parts(card)):
        label = f"({'abcd'[CARD_PARTS.index(key)]}) {card[key].get('label')}"
        rows.append((label, f"{head[len(label):].strip()}: {text}"))
    return rows


def card_rst(card: dict) -> str:
    """The card's table for the docs page (``docs/guide/breast_us_classifier_card.rst``), from its data;
    its four parts in the words featbus inspect and the app quote (:func:`featbus.model.describe.card_parts`)."""

    sites = ", ".join(f"{n} {k}" for n, k in card["sites"].items())
    rows = [("name, version", f"``{card['key']}`` in featbus's pretrained table, spelt ``breast-us`` or "
                              f"``breast_us``; version {card['version']}"),
            ("training data", f"{card['n_images']} images of the three shared sites ({sites}); the data and its "
                              "citations as on the breast-us backbone's card"),
            ("recipe", f"``{card['recipe']}`` (``featbus train A B C --recipe {card['recipe']}``): the shipped "
                       "breast-us segmenter's lesion box (15 % margin), frozen breast-us features of the box, an "
                       "RBF SVM of the lesion images with Platt calibration; the presence decision by the "
                       "segmenter's lesion probability (its highest pixel probability)"),
            # the text says beside its figures which trained parts saw their images
            ("operating points", card["operating_point_text"]),
            ("seed, time", f"seed {card['seed']}; {card['wall_minutes']} min ({card['cpu_minutes']} CPU min) on "
                           f"{card['machine']}"),
            ("rebuild", "``python scripts/build_breast_us_classifier.py -o "
                        "featbus/networks/weights/breast_us_classifier.featbus``"),
            ("file", f"``breast_us_classifier.featbus``, {card['size_bytes'] / 1e6:.1f} MB, SHA-256 "
                     f"``{card['sha256']}``; it names the shipped backbone and segmenter (checked by their own "
                     "digests) instead of holding copies"),
            *_part_rows(card),
            ("licence", card["license"]),
            ("intended use", card["intended_use"]),
            ("limits", card["limits"])]
    lines = [".. Written by scripts/build_breast_us_classifier.py from the card data it stores beside the model",
             "   file (featbus/networks/weights/breast_us_classifier.json). Do not edit by hand.", "",
             "The card", "--------", "", ".. list-table::", "   :widths: 30 70", ""]
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
    from featbus.model.format import read_manifest
    from featbus.model.provenance import stored_operating_point
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
    loso, alignment, presence = (json.loads(f.read_text()) if f.is_file() else None
                                 for f in (LOSO, ALIGNMENT, PRESENCE))
    card.update({"classifier": "breast-us", "key": "lesion_then_malignancy.breast_us", "version": VERSION,
                 "license": _LICENSE, "recipe": RECIPE, "intended_use": INTENDED_USE, "limits": LIMITS,
                 "sha256": digest, "size_bytes": out.stat().st_size,
                 "operating_point": manifest["operating_point"],
                 # what featbus adapt aligns a site's scores onto (stored by training; an older file's card keeps
                 # the one benchmarks/site_alignment.py --write-card reproduced)
                 "score_reference": manifest.get("score_reference") or card.get("score_reference"),
                 # in words, with the trained parts that saw the images of its figures (a file from before they
                 # were recorded: read from its manifest)
                 "operating_point_text": stored_operating_point(manifest).describe(),
                 **card_part_data(loso, alignment, presence)})
    out.with_suffix(".json").write_text(json.dumps(card, indent=1))
    CARD_RST.write_text(card_rst(card))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, sha256 {digest}), its card and {CARD_RST}", flush=True)


if __name__ == "__main__":
    main()
