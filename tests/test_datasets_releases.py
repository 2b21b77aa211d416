"""Hospital releases read as downloaded (issue 75 item 4) and groups that do not chain (item 5).

Two tiny synthetic releases, one of each shape the issue met:
* like 3a: ``images/`` + ``masks/`` (colour masks) + a ``;`` table with a byte-order mark, the patient
  only as the file name's prefix (``ABCD_012.png``);
* like 3b: ``original/`` + ``GT/`` + an ``.xlsx`` whose class column (``Type``) sits beside a finer
  diagnosis column (``Diagnosis``: CYST, FA, IDC, LP, LN ...).
"""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest
from PIL import Image

from featbus.cli import main
from featbus.datasets import load_data, load_image_folder
from featbus.datasets._common import plausible_typo
from featbus.datasets.name_groups import name_groups, pattern_groups, propose_prefix_groups
from featbus.model_selection import _complete_linkage, duplicate_groups, duplicates_across_groups, hash_pairs

#: the colour of each class in a colour mask (black background)
COLOURS = {"benign": (0, 255, 0), "malignant": (255, 0, 0)}


def _scan(rng, k: int) -> np.ndarray:
    """A small scan-like image, distinct for each ``k`` (smooth bands, a dark lesion)."""
    y, x = np.mgrid[:48, :56]
    image = 90 + 60 * np.sin(x / (3 + k % 5) + k) * np.cos(y / (4 + k % 3))
    image[14:30, 16:36] -= 50
    return np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)


def _colour_mask(label: str) -> np.ndarray:
    mask = np.zeros((48, 56, 3), np.uint8)
    if label in COLOURS:
        mask[14:30, 16:36] = COLOURS[label]
    return mask


def make_release_3a(root, *, patients=("ABCD", "EFGH", "IJKL", "MNOP"), per_patient=3):
    """images/ + masks/ (RGB colour masks) + a ';' CSV with a BOM: columns Image;Class, no patient."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.RandomState(0)
    rows, labels = [], ["benign", "malignant", "normal"]
    for p, patient in enumerate(patients):
        for n in range(per_patient):
            name = f"{patient}_{n + 10:03d}.png"
            label = labels[p % 3]
            Image.fromarray(_scan(rng, p * per_patient + n)).save(root / "images" / name)
            Image.fromarray(_colour_mask(label)).save(root / "masks" / name)
            rows.append(f"{name};{label.capitalize()}")
    (root / "export.csv").write_text("\ufeffImage;Class\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return root


DIAGNOSES = {"Benign": ["CYST", "FA", "LN", "LN", "LN", "LP", "FA"], "Malignant": ["IDC", "IDC", "ILC", "IDC"]}


def make_release_3b(root, *, mask_suffix=""):
    """original/ + GT/ + an .xlsx with Image (numbers: Excel drops the leading zeros), Type, Diagnosis."""
    import pandas as pd

    (root / "original").mkdir(parents=True)
    (root / "GT").mkdir()
    rng = np.random.RandomState(1)
    rows = []
    k = 0
    for type_, diagnoses in DIAGNOSES.items():
        for diagnosis in diagnoses:
            k += 1
            name = f"{k:06d}"
            Image.fromarray(_scan(rng, k)).save(root / "original" / f"{name}.png")
            mask = np.zeros((48, 56), np.uint8)
            mask[14:30, 16:36] = 255
            Image.fromarray(mask).save(root / "GT" / f"{name}{mask_suffix}.png")
            rows.append({"Image": k, "Type": type_, "Diagnosis": diagnosis, "Age": 40 + k})
    pd.DataFrame(rows).to_excel(root / "DatasetB.xlsx", index=False)
    return root


def _messages(record) -> list[str]:
    return [str(w.message) for w in record]


# --------------------------------------------------------------------------- (a) patients from file names

def test_release_3a_reads_whole_one_group_per_patient(tmp_path):
    root = make_release_3a(tmp_path / "3a")
    with pytest.warns(UserWarning) as record:
        data = load_data(root)
    said = [m for m in _messages(record) if "patients read from the file names" in m]
    assert len(said) == 1 and "'ABCD_010.png' -> 'ABCD'" in said[0] and "--group-pattern" in said[0]
    assert "\n" not in said[0]
    assert len(data.images) == 12 and not data.skipped  # no image left out
    assert data.groups.tolist() == [k // 3 for k in range(12)]
    assert data.groups_from.startswith("patients: the file-name prefix")
    assert not data.near_duplicate_groups
    assert data.target_names.tolist() == ["benign", "malignant", "normal"]


def test_group_pattern_sets_and_overrides_the_patients(tmp_path):
    root = make_release_3a(tmp_path / "3a")
    with pytest.warns(UserWarning) as record:
        data = load_data(root, group_pattern=r"^[A-Z]{2}")  # no group: the whole match
    assert data.groups.tolist() == [k // 3 for k in range(12)]
    assert any("by --group-pattern" in m for m in _messages(record))
    assert not any("prefix before _NUMBER" in m for m in _messages(record))  # the pattern overrides the proposal
    with pytest.raises(ValueError, match=r"matches none of the 12 file names: 'ABCD_010' gives no patient"):
        load_data(root, group_pattern=r"^\d+")
    with pytest.raises(ValueError, match=r"matches 9 of the 12 file names \(e\.g\. 'ABCD_010'\) but not 3: 'MNOP_010'"):
        load_data(root, group_pattern=r"^([A-L])")
    with pytest.raises(ValueError, match="not a regular expression"):
        load_data(root, group_pattern="(")


def test_group_pattern_on_the_command_line(tmp_path, capsys):
    root = make_release_3a(tmp_path / "3a")
    out = tmp_path / "features.csv"
    assert main(["extract", str(root), "-f", "intensity", "-o", str(out), "--group-pattern", "^(ABCD|EFGH)"]) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if ": warning: " not in line]
    assert len(err) == 1 and "group pattern" in err[0] and "'IJKL_010'" in err[0] and not out.exists()
    assert main(["extract", str(root), "-f", "intensity", "-o", str(out), "--group-pattern", "^(.)"]) == 0
    import pandas as pd

    table = pd.read_csv(out)
    group_column = next(c for c in table.columns if "group" in c.lower())
    assert table[group_column].nunique() == 4


def test_prefix_is_not_proposed_where_names_say_no_patient(tmp_path):
    assert propose_prefix_groups(["img_1.png", "img_2.png", "img_3.png"]) is None  # one prefix
    assert propose_prefix_groups(["a_1.png", "b_2.png", "c_3.png"]) is None  # no prefix shared
    assert propose_prefix_groups(["benign (1).png", "benign (2).png"]) is None  # not PREFIX_NUMBER
    assert propose_prefix_groups(["benign_1.png", "malignant_1.png", "benign_2.png"], ["benign", "malignant"]) is None
    assert name_groups(["x.png"]) is None
    # class folders whose names restate the class: near-duplicate groups, nothing said about patients
    rng = np.random.RandomState(0)
    for c in ("benign", "malignant"):
        (tmp_path / c).mkdir()
        for n in range(3):
            Image.fromarray(_scan(rng, n + 3 * (c == "benign"))).save(tmp_path / c / f"{c}_{n}.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_image_folder(tmp_path)
    assert data.near_duplicate_groups and not getattr(data, "groups_from", None)


def test_class_folders_take_patients_from_the_names(tmp_path):
    rng = np.random.RandomState(0)
    for c, patients in (("benign", ("P01", "P02")), ("malignant", ("P03", "P04"))):
        (tmp_path / c).mkdir()
        for p in patients:
            for n in range(2):
                Image.fromarray(_scan(rng, len(list(tmp_path.rglob("*.png"))))).save(tmp_path / c / f"{p}_{n}.png")
    with pytest.warns(UserWarning, match="patients read from the file names"):
        data = load_image_folder(tmp_path)
    assert data.groups.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert "P01" in data.groups_from


def test_pattern_groups_by_first_appearance():
    groups, patients = pattern_groups(["z_1.png", "a_1.png", "z_2.png"], r"^(.)_")
    assert groups.tolist() == [0, 1, 0] and patients == ["z", "a", "z"]


# --------------------------------------------------------------------------- (b), (c): 3b as downloaded

def test_release_3b_reads_as_downloaded_the_class_column_chosen(tmp_path):
    root = make_release_3b(tmp_path / "3b")
    with pytest.warns(UserWarning) as record:
        data = load_data(root)
    chosen = [m for m in _messages(record) if m.startswith("labels from")]
    assert len(chosen) == 1
    assert "'Type' column of DatasetB.xlsx" in chosen[0] and "'Diagnosis' (CYST, FA, IDC, ILC and 2 more)" in chosen[0]
    assert "--label-column" in chosen[0]
    assert data.label_column == "Type" and data.target_names.tolist() == ["benign", "malignant"]
    assert len(data.images) == 11
    assert all("/original/" in p for p in data.paths)  # not GT/, which holds the same names
    assert all(m.sum() == 16 * 20 for m in data.masks)  # GT/ read as the masks
    assert [d.meta["diagnosis"] for d in data.data][:3] == ["CYST", "FA", "LN"]


def test_label_column_overrides_and_different_words_are_classes(tmp_path):
    root = make_release_3b(tmp_path / "3b")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_data(root, label_column="diagnosis")
    # LP (1 row) beside LN (3 rows), FA beside FAD...: different words, never "a misspelling"
    assert data.target_names.tolist() == ["cyst", "fa", "idc", "ilc", "ln", "lp"]


def test_gt_masks_named_with_a_suffix_pair_with_their_images(tmp_path):
    root = make_release_3b(tmp_path / "3b", mask_suffix="_mask")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_data(root)
    assert len(data.images) == 11 and all(m.any() for m in data.masks)


def test_two_class_columns_are_refused_naming_the_option(tmp_path, capsys):
    import pandas as pd

    root = make_release_3b(tmp_path / "3b")
    table = pd.read_excel(root / "DatasetB.xlsx")
    table["Tumour type"] = table["Type"].str.upper()  # neither of a usual label name: nothing to choose by
    table.to_excel(root / "DatasetB.xlsx", index=False)
    with pytest.raises(ValueError, match=r"several label columns \['Type', 'Tumour type'\].*--label-column"):
        load_data(root)
    assert main(["extract", str(root), "-f", "intensity", "-o", str(tmp_path / "f.csv")]) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if ": warning: " not in line]
    assert len(err) == 1 and "--label-column" in err[0]
    table["Class"] = table["Type"]  # a usual name among the class columns: that one
    table.to_excel(root / "DatasetB.xlsx", index=False)
    with pytest.warns(UserWarning, match=r"labels from the 'Class' column.*other candidates: 'Diagnosis'"):
        assert load_data(root).label_column == "Class"


@pytest.mark.skipif(importlib.util.find_spec("xlrd") is not None, reason="xlrd is installed")
def test_an_xls_table_without_xlrd_says_what_to_install(tmp_path):
    root = make_release_3b(tmp_path / "3b")
    (root / "DatasetB.xlsx").rename(root / "DatasetB.xls")
    with pytest.raises(ValueError, match=r"DatasetB\.xls.*needs the xlrd package.*pip install xlrd"):
        load_data(root)


# --------------------------------------------------------------------------- (d) misspellings

@pytest.mark.parametrize("a, b, typo", [
    ("benigm", "benign", True), ("Malignant ", "malignant", True), ("malginant", "malignant", True),
    ("Benigh", "Benign", True), ("LP", "LN", False), ("FA", "FAD", False), ("DCIS", "LCIS", False),
    ("IDC", "ILC", False), ("normal", "abnormal", False), ("benign", "malignant", False),
])
def test_plausible_typo_rule(a, b, typo):
    assert plausible_typo(a, b) is typo and plausible_typo(b, a) is typo


def test_a_typo_is_refused_and_spaces_are_read_as_the_class(tmp_path):
    import pandas as pd

    root = make_release_3b(tmp_path / "3b")
    table = pd.read_excel(root / "DatasetB.xlsx")
    table.loc[5, "Type"] = "Benigm"
    table.to_excel(root / "DatasetB.xlsx", index=False)
    with pytest.raises(ValueError, match=r"row 7 .*'Benigm' \(1 row\) looks like a misspelling of 'Benign'"):
        load_data(root, label_column="Type")
    table.loc[5, "Type"] = "Benign "  # surrounding spaces are no typo: the cell is read trimmed
    table.to_excel(root / "DatasetB.xlsx", index=False)
    with pytest.warns(UserWarning, match=r"'Benign' read as 'benign' \(case differs\)"):
        data = load_data(root)
    assert data.target_names.tolist() == ["benign", "malignant"]


# --------------------------------------------------------------------------- (e) colour masks

def test_colour_masks_in_images_and_masks_are_read_as_masks(tmp_path):
    root = make_release_3a(tmp_path / "3a")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_data(root)
    for label, mask in zip(data.target, data.masks):
        expected = 0 if data.target_names[label] == "normal" else 16 * 20
        assert mask.sum() == expected


def test_colour_masks_in_class_folders(tmp_path):
    rng = np.random.RandomState(0)
    for c in ("benign", "malignant"):
        for d in ("images", "masks"):
            (tmp_path / c / d).mkdir(parents=True)
        for n in range(2):
            Image.fromarray(_scan(rng, n + 2 * (c == "benign"))).save(tmp_path / c / "images" / f"{c}{n}.png")
            mask = _colour_mask(c)
            if n == 1:  # an RGBA mask: the black background opaque, so alpha alone says nothing
                mask = np.dstack([mask, np.full(mask.shape[:2], 255, np.uint8)])
            Image.fromarray(mask).save(tmp_path / c / "masks" / f"{c}{n}.png")
    data = load_image_folder(tmp_path, groups=None)
    assert [int(m.sum()) for m in data.masks] == [16 * 20] * 4
    assert all(d.meta["has_mask_file"] for d in data.data)


# --------------------------------------------------------------------------- groups that do not chain

def test_complete_linkage_never_chains():
    # A - B 8 bits, B - C 8 bits, A - C 16 bits: linked A = B = C, but A and C share nothing
    hashes = np.zeros((3, 63), bool)
    hashes[1, :8] = True
    hashes[2, :16] = True
    rows, cols, _ = hash_pairs(hashes, 10)
    groups = _complete_linkage(3, rows, cols, hashes, None, 10, 8)
    assert len(np.unique(groups)) == 2
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        for i in members:
            for j in members:
                assert np.sum(hashes[i] != hashes[j]) <= 10 + 2  # every pair near, no chain


def test_random_hash_chains_split_into_near_groups():
    rng = np.random.default_rng(0)
    base = rng.random(63) < 0.5
    hashes = [base]
    for _ in range(12):  # a walk: each hash 4 bits from the last, so far ends share little
        step = hashes[-1].copy()
        step[rng.choice(63, 4, replace=False)] ^= True
        hashes.append(step)
    hashes = np.array(hashes)
    rows, cols, _ = hash_pairs(hashes, 10)
    groups = _complete_linkage(len(hashes), rows, cols, hashes, None, 10, 8)
    assert len(np.unique(groups)) > 1
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        distances = [np.sum(hashes[i] != hashes[j]) for i in members for j in members]
        assert max(distances) <= 12


def test_copies_of_one_image_stay_one_group():
    rng = np.random.RandomState(0)
    image = _scan(rng, 3).astype(float)
    copies = [image, np.clip(image + 3, 0, 255), image[1:, 1:], np.clip(image * 0.9, 0, 255)]
    assert np.unique(duplicate_groups(copies)).size == 1


def test_with_patients_near_duplicates_never_join_two_patients(tmp_path):
    root = make_release_3a(tmp_path / "3a")
    # EFGH's first image is a copy of ABCD's first: two patients, reported, not merged
    (root / "images" / "EFGH_010.png").write_bytes((root / "images" / "ABCD_010.png").read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_data(root)
    assert np.unique(data.groups).size == 4 and data.groups[0] != data.groups[3]
    pairs = duplicates_across_groups(data.images, data.groups)
    assert (0, 3, 0) in pairs
    assert all(data.groups[i] != data.groups[j] for i, j, _ in pairs)
    # what the commands say before they validate or train on it: one line naming the pair
    from featbus.cli._data import _label_conflicts

    with pytest.warns(UserWarning) as record:
        kept = _label_conflicts(data, "validation", source=str(root))
    said = [m for m in _messages(record) if "lie across two patients" in m]
    assert len(said) == 1 and "'images/ABCD_010.png' ~ 'images/EFGH_010.png' (0 bits)" in said[0]
    assert kept.groups.tolist() == data.groups.tolist()


def test_class_folders_with_original_and_gt_folders(tmp_path):
    rng = np.random.RandomState(0)
    for c in ("benign", "malignant"):
        for d in ("original", "GT"):
            (tmp_path / c / d).mkdir(parents=True)
        for n in range(2):
            Image.fromarray(_scan(rng, n + 2 * (c == "benign"))).save(tmp_path / c / "original" / f"s{n}.png")
            Image.fromarray(_colour_mask(c)).save(tmp_path / c / "GT" / f"s{n}_gt.png")
    data = load_image_folder(tmp_path, groups=None)
    assert len(data.images) == 4 and [int(m.sum()) for m in data.masks] == [16 * 20] * 4


def test_group_pattern_overrides_a_patient_column(tmp_path):
    import pandas as pd

    root = make_release_3b(tmp_path / "3b")
    table = pd.read_excel(root / "DatasetB.xlsx")
    table["Patient"] = [f"P{k}" for k in range(len(table))]
    table.to_excel(root / "DatasetB.xlsx", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.unique(load_data(root).groups).size == 11  # the column
    with pytest.warns(UserWarning, match=r"by --group-pattern '\^0000\(\.\)'.*over the 'Patient' column"):
        data = load_data(root, group_pattern=r"^0000(.)")
    assert data.groups.tolist() == [0] * 9 + [1] * 2  # 000001-000009, then 000010-000011
    assert data.groups_from == "patients: --group-pattern '^0000(.)' on the file names"
