"""Two hospital releases, built from the shared data in a temporary folder exactly as such releases
come, read as the commands read them (``featbus.cli._data._load_folder``: what ``featbus validate``,
``train``, ``adapt`` and ``compare`` call first): issue 75's aims for item 4.

* **like 3a**: ``images/`` + ``masks/`` + a ``;``-separated CSV with a UTF-8 byte-order mark
  (``Image;Class;BIRADS``), the patient only as the file name's prefix: BUS-BRA's 809 images
  renamed ``<Case>_<n>.png`` (its ``Case`` as the prefix, 490 patients) and BUSI's 111 normal scans
  as ``N<k>_001.png`` (each its own prefix), colour masks (benign green, malignant red, normal all
  black, RGB). Aim: read whole, one group per patient, no image left out.
* **like 3b**: ``original/`` + ``GT/`` (the same file names, ``000001.png``...) + an ``.xlsx`` whose
  ``Image`` column holds the numbers (Excel drops the leading zeros), ``Type`` the class
  (Benign / Malignant / Normal) and ``Diagnosis`` a finer code (FA, IDC, ILC, LN, DCIS, PASH ...):
  BrEaST-Lesions-USG's 256 images, its ``Diagnosis`` written as codes. Aim: read as downloaded, the
  class column chosen.

Per release: images read, images left out, groups, where they came from, how many groups mix
patients, the label column chosen, images with a non-empty mask, and the one-line notes the
reading printed. Also, on the 3a images, near-duplicate groups (what featbus formed before it read
patients from the names) and how many of them join two patients; and with ``--busi-groups``
BUSI's near-duplicate groups (``featbus.duplicate_groups``'s docstring quotes them).

Run from the repository root (about 1 min on 2 CPU cores)::

    PYTHONPATH=. python benchmarks/hospital_releases.py [--busi-groups]

Before/after: the same script with an older featbus first on ``PYTHONPATH`` (``git archive REV |
tar -x -C /tmp/old``, then ``PYTHONPATH=/tmp/old python benchmarks/hospital_releases.py``).

Data: ``../shared/data`` (BUS-BRA: Gomez-Flores et al. 2024, doi:10.1002/mp.16812; BUSI:
Al-Dhabyani et al. 2020, doi:10.1016/j.dib.2019.104863; BrEaST-Lesions-USG: Pawlowska et al.,
Sci Data 11:148, 2024, doi:10.7937/9WKK-Q141, CC BY 4.0).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from featbus import get_data_home

DATA = get_data_home()
COLOURS = {"benign": (0, 200, 0), "malignant": (220, 0, 0)}
#: BrEaST-Lesions-USG's diagnoses as the codes a hospital's table uses
CODES = {"Fibroadenoma": "FA", "Invasive carcinoma of no special type (NST)": "IDC",
         "Invasive lobular carcinoma": "ILC", "Intramammary lymph node": "LN", "Lipoma": "LP",
         "not applicable": "NA", "Benign mammary dysplasia": "BMD"}


def _code(diagnosis: str) -> str:
    if diagnosis in CODES:
        return CODES[diagnosis]
    inside = re.findall(r"\(([A-Z]{2,})\)", diagnosis)
    return "+".join(inside) if inside else "".join(w[0] for w in diagnosis.split() if w[0].isalpha()).upper()[:4]


def _colour(mask: np.ndarray, label: str) -> np.ndarray:
    out = np.zeros(mask.shape + (3,), np.uint8)
    out[mask > 0] = COLOURS.get(label, (0, 0, 0))
    return out


def build_3a(root: Path) -> dict[str, str]:
    """The 3a release; returns each file name's true patient."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    table = pd.read_csv(DATA / "bus-bra" / "bus_data.csv")
    rows, patient = [], {}
    count: dict[int, int] = {}
    for _, r in table.iterrows():
        label = str(r["Pathology"]).strip().lower()
        source = DATA / "bus-bra" / label / f"{r['ID']}.png"
        if not source.is_file():
            continue
        count[r["Case"]] = count.get(r["Case"], 0) + 1
        name = f"{int(r['Case']):04d}_{count[r['Case']]:03d}.png"
        Image.open(source).save(root / "images" / name)
        mask = np.asarray(Image.open(DATA / "bus-bra" / label / f"{r['ID']}_mask.png").convert("L"))
        Image.fromarray(_colour(mask, label)).save(root / "masks" / name)
        rows.append(f"{name};{label.capitalize()};{r['BIRADS']}")
        patient[name] = f"bra{r['Case']}"
    normals = sorted((DATA / "busi" / "Dataset_BUSI_with_GT" / "normal").glob("*).png"),
                     key=lambda p: int(re.findall(r"\d+", p.name)[0]))
    for k, source in enumerate(normals, 1):
        name = f"N{k:03d}_001.png"
        image = Image.open(source)
        image.save(root / "images" / name)
        Image.fromarray(np.zeros((image.height, image.width, 3), np.uint8)).save(root / "masks" / name)
        rows.append(f"{name};Normal;1")
        patient[name] = f"busi-normal{k}"
    (root / "export.csv").write_text("\ufeffImage;Class;BIRADS\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return patient


def build_3b(root: Path) -> dict[str, str]:
    """The 3b release; returns each file name's true patient."""
    (root / "original").mkdir(parents=True)
    (root / "GT").mkdir()
    table = pd.read_csv(DATA / "breast-lesions-usg" / "breast_data.csv")
    rows, patient = [], {}
    for k, (_, r) in enumerate(table.iterrows(), 1):
        label = str(r["Classification"]).strip().lower()
        source = DATA / "breast-lesions-usg" / label / f"{r['ID']}.png"
        if not source.is_file():
            continue
        name = f"{k:06d}.png"
        Image.open(source).save(root / "original" / name)
        Image.open(DATA / "breast-lesions-usg" / label / f"{r['ID']}_mask.png").save(root / "GT" / name)
        rows.append({"Image": k, "Type": label.capitalize(), "Diagnosis": _code(str(r["Diagnosis"])), "Age": r["Age"]})
        patient[name] = str(r["CaseID"])
    pd.DataFrame(rows).to_excel(root / "DatasetB.xlsx", index=False)
    return patient


def read(root: Path, columns: dict | None = None):
    """The release read as ``featbus validate`` reads it: (data or None, notes, seconds)."""
    from featbus.cli._common import CLIError
    from featbus.cli._data import _load_folder

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            data = _load_folder(str(root), "raise", "severity", min_classes=1, columns=columns)
        except CLIError as exc:
            return None, [f"error: {exc}"], time.perf_counter() - t0
    return data, [f"warning: {w.message}" for w in record], time.perf_counter() - t0


def mixing(groups, names, patient) -> int:
    """How many groups hold images of two or more patients."""
    by_group: dict[int, set] = {}
    for g, n in zip(np.asarray(groups).tolist(), names):
        by_group.setdefault(g, set()).add(patient[n])
    return sum(len(p) > 1 for p in by_group.values())


def report(title: str, root: Path, patient: dict[str, str]) -> None:
    data, notes, seconds = read(root)
    print(f"\n== {title}: {root.name}/ ({len(patient)} images of {len(set(patient.values()))} patients on disk)")
    for note in notes:
        print("  " + note)
    if data is None:
        return
    names = [Path(p).name for p in data.paths]
    label = getattr(data, "label_column", None)
    print(f"  read {len(names)} images in {seconds:.1f} s; left out {len(patient) - len(names)}; "
          f"classes {dict(zip(data.target_names.tolist(), np.bincount(data.target).tolist()))}")
    print(f"  label column: {label!r}; groups: {len(np.unique(data.groups))} "
          f"(from: {getattr(data, 'groups_from', None) or 'near-duplicates'}); "
          f"groups mixing patients: {mixing(data.groups, names, patient)}")
    print(f"  images with a non-empty mask: {sum(bool(m.any()) for m in data.masks)} "
          f"(lesion images: {int(np.sum(data.target_names[data.target] != 'normal'))})")


def near_duplicates(root: Path, patient: dict[str, str]) -> None:
    from featbus import duplicate_groups, read_images

    paths = sorted((root / "images").glob("*.png"))
    t0 = time.perf_counter()
    groups = duplicate_groups(read_images(paths, n_jobs=2), n_jobs=2)
    sizes = np.bincount(groups)
    print(f"\n== near-duplicate groups of the 3a images (no patients used): {len(sizes)} groups, largest "
          f"{sizes.max()}, groups joining two or more patients: {mixing(groups, [p.name for p in paths], patient)} "
          f"({time.perf_counter() - t0:.1f} s)")


def busi_groups() -> None:
    from featbus import load_data

    data = load_data(DATA / "busi", n_jobs=2)
    sizes = np.bincount(data.groups)
    print(f"\n== BUSI near-duplicate groups: {len(data.groups)} images, {len(sizes)} groups, largest {sizes.max()}, "
          f"images per group {np.bincount(sizes)[1:].tolist()} (groups of 1, 2, ...)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--busi-groups", action="store_true", help="also BUSI's near-duplicate groups")
    args = parser.parse_args(argv)
    import featbus

    print(f"featbus {featbus.__version__} from {Path(featbus.__file__).parent}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        a = build_3a(Path(tmp) / "release_3a")
        b = build_3b(Path(tmp) / "release_3b")
        print(f"built both releases in {time.perf_counter() - t0:.1f} s")
        report("like 3a", Path(tmp) / "release_3a", a)
        report("like 3b", Path(tmp) / "release_3b", b)
        data, notes, _ = read(Path(tmp) / "release_3b", {"label_column": "Diagnosis"})
        print("  with --label-column Diagnosis: " + (notes[-1] if data is None else
              f"{len(data.target_names)} classes {data.target_names.tolist()}, read"))
        near_duplicates(Path(tmp) / "release_3a", a)
    if args.busi_groups:
        busi_groups()
    return 0


if __name__ == "__main__":
    sys.exit(main())
