"""Build featbus's bundled sample (``featbus.load_sample``) from a copy of BrEaST-Lesions-USG.

BrEaST-Lesions-USG (Pawłowska et al., Scientific Data 11:148, 2024; TCIA, DOI 10.7937/9WKK-Q141)
is the only site featbus reads whose licence (CC BY 4.0) allows redistributing images. The
sample holds a fixed, seeded draw of benign and malignant cases (equal numbers) and every
normal case, each image and its lesion mask shrunk to a longest side of ``--size`` pixels and
written as optimised PNG, beside a table of their rows of ``breast_data.csv`` and a note with the
licence and the citation.

Run from the repository root (the shared data folder beside it)::

    python scripts/make_sample.py ../shared/data/breast-lesions-usg

It rewrites ``featbus/datasets/data/breast_lesions_usg_sample/``; the same arguments give the
same files.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "featbus" / "datasets" / "data" / "breast_lesions_usg_sample"
# the table's columns kept: identity, label, patient, and the radiologist's description
COLUMNS = ["ID", "CaseID", "Classification", "BIRADS", "Verification", "Diagnosis", "Age", "Tissue_composition",
           "Shape", "Margin", "Echogenicity", "Posterior_features", "Calcifications"]
NOTE = """\
featbus sample: {n} images from BrEaST-Lesions-USG ({counts})

BrEaST-Lesions-USG: Curated benchmark dataset for ultrasound-based breast lesion analysis.
Source: The Cancer Imaging Archive (TCIA), DOI 10.7937/9WKK-Q141.
Article: Pawłowska A, Ćwierz-Pieńkowska A, Domalik A, et al. Curated benchmark dataset for ultrasound
based breast lesion analysis. Scientific Data 11, 148 (2024). https://doi.org/10.1038/s41597-024-02984-z
Licence: Creative Commons Attribution 4.0 International (CC BY 4.0),
https://creativecommons.org/licenses/by/4.0/

Changes: a seeded draw of the cases (scripts/make_sample.py, seed {seed}); images converted to
8-bit grey and shrunk to a longest side of {size} px; masks (tumour outline) shrunk with the same
factor (nearest neighbour); breast_data.csv keeps the drawn cases' rows and the columns
{columns}.
Cite the article and the TCIA DOI wherever results on these images are reported.
"""


def _shrink(path: Path, size: int, resample) -> Image.Image:
    im = Image.open(path).convert("L")
    scale = size / max(im.size)
    if scale < 1:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), resample)
    return im


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="the BrEaST-Lesions-USG folder (class folders + breast_data.csv)")
    parser.add_argument("--per-class", type=int, default=24, help="benign and malignant cases each (default 24)")
    parser.add_argument("--size", type=int, default=224, help="longest image side in px (default 224)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    table = pd.read_csv(args.root / "breast_data.csv")
    rng = np.random.RandomState(args.seed)
    chosen = []
    for label in ("benign", "malignant", "normal"):
        ids = sorted(table.loc[table.Classification == label, "ID"])
        take = len(ids) if label == "normal" else args.per_class
        chosen += sorted(rng.choice(ids, size=take, replace=False).tolist())
    if args.out.exists():
        shutil.rmtree(args.out)
    rows = table.set_index("ID").loc[chosen].reset_index()
    for _, row in rows.iterrows():
        folder = args.out / row.Classification
        folder.mkdir(parents=True, exist_ok=True)
        src = args.root / row.Classification
        _shrink(src / f"{row.ID}.png", args.size, Image.LANCZOS).save(folder / f"{row.ID}.png", optimize=True)
        mask = src / f"{row.ID}_mask.png"
        if mask.is_file():
            m = _shrink(mask, args.size, Image.NEAREST)
            m.point(lambda v: 255 if v else 0).convert("1").save(folder / f"{row.ID}_mask.png", optimize=True)
    rows[COLUMNS].to_csv(args.out / "breast_data.csv", index=False)
    counts = rows.Classification.value_counts().reindex(["benign", "malignant", "normal"]).to_dict()
    (args.out / "README.txt").write_text(NOTE.format(n=len(rows), counts=", ".join(f"{k} {v}" for k, v in
                                                                                   counts.items()),
                                                     seed=args.seed, size=args.size, columns=", ".join(COLUMNS)),
                                         encoding="utf-8")
    total = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"{len(rows)} images ({counts}) written to {args.out}: {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
