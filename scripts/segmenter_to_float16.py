"""Store a U-Net ``.keras`` file's weights in float16, as the shipped ``breast-us`` backbone's
``.npz`` is: half the size, and the same masks (a one-off for featbus's shipped segmenter).

Every float32 array of the archive's ``model.weights.h5`` is written as float16; the model's
configuration (``config.json``, float32 layers) and featbus's own entry (``featbus_unet.json``:
parameters, fitted threshold, training fingerprints) are copied unchanged, so Keras casts the
weights back to float32 as it loads them into the float32 layers
(:func:`featbus.segmentation.persistence.load_network` checks that it did). The archive is
written with fixed dates and no HDF5 timestamps: the same input gives the same bytes (and SHA-256).

With ``--check IMAGES_DIR``, the float32 and float16 segmenters outline ``--n`` images of that
folder (BUSI's layout: ``<class>/<name>.png``) and the script prints the Dice of each pair of
thresholded masks and the largest difference in lesion probability.

Usage::

    cp featbus/networks/weights/breast_us_segmenter.keras /tmp/breast_us_segmenter.f32.keras
    python scripts/segmenter_to_float16.py /tmp/breast_us_segmenter.f32.keras \\
        -o featbus/networks/weights/breast_us_segmenter.keras --check ../shared/data/busi --n 20

Then write the new SHA-256 into the one pretrained table
(:data:`featbus.networks.pretrained.PRETRAINED`), the card ``breast_us_segmenter.json`` and its
docs page (``tests/test_pretrained.py`` checks that the three agree).
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import zipfile
from pathlib import Path

import numpy as np

WEIGHTS = "model.weights.h5"
_DATE = (1980, 1, 1, 0, 0, 0)


def half_weights(h5_bytes: bytes) -> bytes:
    """The HDF5 weights file ``h5_bytes`` with every float32 dataset stored as float16."""
    import h5py

    out = io.BytesIO()
    with h5py.File(io.BytesIO(h5_bytes), "r") as src, h5py.File(out, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value

        def copy(group_src, group_dst):
            for key, value in group_src.attrs.items():
                group_dst.attrs[key] = value
            for name, item in group_src.items():
                if isinstance(item, h5py.Group):
                    copy(item, group_dst.create_group(name))
                else:
                    data = item[()]
                    if data.dtype == np.float32:
                        if np.any(np.abs(data) > np.finfo(np.float16).max):
                            raise ValueError(f"{item.name} holds values float16 cannot store")
                        data = data.astype(np.float16)
                    ds = group_dst.create_dataset(name, data=data, track_times=False)
                    for k, v in item.attrs.items():
                        ds.attrs[k] = v

        copy(src, dst)
    return out.getvalue()


def convert(src: Path, out: Path) -> str:
    """Write ``src`` (a ``.keras`` archive) to ``out`` with float16 weights; its SHA-256."""
    import hashlib

    with zipfile.ZipFile(src) as zin:
        entries = [(info.filename, zin.read(info.filename)) for info in zin.infolist()]
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zout:
        for name, data in entries:
            if name == WEIGHTS:
                data = half_weights(data)
            zout.writestr(zipfile.ZipInfo(name, date_time=_DATE), data)
    tmp.replace(out)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2.0 * float((a & b).sum()) / float(total)


def _truth(path: Path) -> np.ndarray | None:
    """The union of an image's ground-truth masks (``<name>_mask*.png`` beside it), if any."""
    from featbus.io import read_image

    masks = [read_image(m) > 0 for m in sorted(path.parent.glob(f"{glob.escape(path.stem)}_mask*.png"))]
    return np.logical_or.reduce(masks) if masks else None


def check(f32: Path, f16: Path, folder: Path, n: int) -> dict:
    """Outline ``n`` images of ``folder`` (drawn with seed 0) with both files: the Dice of their
    thresholded masks, whether both find a lesion, the largest difference of their pixel and
    image-level lesion probabilities, and each one's mean Dice against the ground truth of the
    images that hold a lesion."""
    from featbus.io import read_image
    from featbus.segmentation.unet import UNetSegmenter

    files = sorted(p for p in folder.rglob("*.png") if "_mask" not in p.name)
    rng = np.random.RandomState(0)
    files = [files[i] for i in sorted(rng.choice(len(files), size=min(n, len(files)), replace=False))]
    images = [read_image(p) for p in files]
    truth = [_truth(p) for p in files]
    a, b = UNetSegmenter.load(f32), UNetSegmenter.load(f16)
    pa, pb = a.predict_proba_maps(images), b.predict_proba_maps(images)
    ma, mb = a.masks_from_maps(pa), b.masks_from_maps(pb)
    dice = [_dice(x, y) for x, y in zip(ma, mb)]
    lesion = [t is not None and t.any() for t in truth]
    return {"n_images": len(images), "dice_f32_f16_min": min(dice), "dice_f32_f16_mean": float(np.mean(dice)),
            "lesion_found_agree": int(sum(bool(x.any()) == bool(y.any()) for x, y in zip(ma, mb))),
            "max_abs_pixel_probability_diff": float(max(np.max(np.abs(x - y)) for x, y in zip(pa, pb))),
            "max_abs_presence_diff": float(np.max(np.abs(a.presence_from_maps(pa) - b.presence_from_maps(pb)))),
            "n_lesion_images": int(sum(lesion)),
            "dice_truth_f32": float(np.mean([_dice(m, t) for m, t, k in zip(ma, truth, lesion) if k])),
            "dice_truth_f16": float(np.mean([_dice(m, t) for m, t, k in zip(mb, truth, lesion) if k]))}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path, help="the float32 .keras file")
    parser.add_argument("-o", "--out", type=Path, required=True, help="the float16 .keras file to write")
    parser.add_argument("--check", type=Path, help="a folder of images to compare the two segmenters on")
    parser.add_argument("--n", type=int, default=20, help="how many of its images (default 20)")
    args = parser.parse_args(argv)
    digest = convert(args.src, args.out)
    print(f"{args.out}: {args.out.stat().st_size / 1e6:.2f} MB, SHA-256 {digest}")
    if args.check is not None:
        print(json.dumps(check(args.src, args.out, args.check, args.n), indent=1))


if __name__ == "__main__":
    main()
