"""Small releases laid out as public breast-imaging data sets are documented to ship (issue 81 item 4).

Each builder writes tiny synthetic images (40 x 30 grey, speckle and a dark blob; every image
different, so nothing is a duplicate) under a fresh folder, with the file names, folders and tables
of the release it copies, and returns a :class:`Built`: the release's root, the truth of every
image (label, patient, masks) and what the reader's summary must say of it. Nothing here reads a
release: the tests (``test_release_layouts.py``) read each one with ``featbus.datasets.read_release``
and no option.

Where a publisher's documentation leaves a detail open, the builder's docstring says what was
built and from which source. The expectations follow the issue's rules: the table is the one whose
column names the images, the patient comes from a column found by name and by count, then one
folder per patient, then the file-name prefix, else one per image; folder names are classes only
when nothing else labels the images, and a container or split folder (``Images``, ``img``,
``train``, the release's own name) is never a class. A mask file paired with an image is used, not
left out; one paired with none is left out with the reason ``"mask"`` (the tests count those from
the pairing); ``expect["left_out"]`` holds every other reason.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

#: Size of every synthetic image (rows, columns); masks have the same size.
SHAPE = (30, 40)

#: A field whose value the tests do not check (the reader's choice of words there is free).
ANY = object()


@dataclass
class Built:
    """A built release: its root, the truth per image, and the summary the reader must give.

    ``truth`` maps each image's path relative to ``root`` (POSIX) to ``(label, patient, masks)``:
    the label (``None`` where the release labels nothing), a patient key (images with the same key
    are one patient; the key's spelling is not checked) and the relative paths of the masks that
    belong to the image. ``mask_files`` is every mask file of the release (some may belong to no
    image the reader keeps); ``expect`` the summary's other fields.
    """

    root: Path
    truth: dict[str, tuple[str | None, str, tuple[str, ...]]] = field(default_factory=dict)
    mask_files: set[str] = field(default_factory=set)
    expect: dict = field(default_factory=dict)
    #: each image's published split, where the release has splits
    splits: dict[str, str] = field(default_factory=dict)
    #: the lesion an annotation file draws for an image (polygons, RLE), as a boolean array
    drawn: dict[str, np.ndarray] = field(default_factory=dict)

    def image(self, relative: str, k: int, *, label: str | None, patient: str | None = None,
              masks: tuple[str, ...] = (), lesion: bool = True, fmt: str | None = None) -> None:
        """Write image ``k`` at ``relative`` and record its truth; ``masks`` are written too
        (the lesion's blob, or all zero where ``lesion`` is false)."""
        save(self.root / relative, scan(k), fmt)
        for mask in masks:
            save(self.root / mask, lesion_mask(k) if lesion else np.zeros(SHAPE, np.uint8))
            self.mask_files.add(mask)
        self.truth[relative] = (label, patient if patient is not None else relative, tuple(masks))

    def extra_mask(self, relative: str, k: int) -> None:
        """A second mask file of image ``k`` (``_mask_1``, ``_other1``), written and counted."""
        save(self.root / relative, lesion_mask(k, shift=6))
        self.mask_files.add(relative)


def _blob(k: int, shift: int = 0) -> np.ndarray:
    y, x = np.ogrid[:SHAPE[0], :SHAPE[1]]
    cy, cx = 12 + k % 5 + shift // 2, 16 + k % 7 + shift
    return ((y - cy) / (5 + k % 3)) ** 2 + ((x - cx) / (7 + k % 4)) ** 2 <= 1


def scan(k: int) -> np.ndarray:
    """Synthetic scan ``k``: speckle (seeded by ``k``, so no two images are alike) and a dark blob."""
    rng = np.random.default_rng(1000 + k)
    image = rng.integers(60, 160, SHAPE, dtype=np.uint8)
    image[_blob(k)] //= 4
    return image


def lesion_mask(k: int, shift: int = 0) -> np.ndarray:
    """The 0/255 mask of scan ``k``'s blob (moved by ``shift`` for a second lesion)."""
    return np.where(_blob(k, shift), 255, 0).astype(np.uint8)


def save(path: Path, array: np.ndarray, fmt: str | None = None) -> None:
    """Write ``array`` at ``path`` (format from the suffix: png, bmp, tif, pgm, jpg)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)


def _write_xlsx(path: Path, rows: list[dict]) -> None:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_excel(path, index=False)


def _write_csv(path: Path, rows: list[dict], *, sep: str = ",", bom: bool = False) -> None:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False, sep=sep, encoding="utf-8-sig" if bom else "utf-8")


def _expect(**fields) -> dict:
    base = {"table": None, "image_column": None, "label_column": None, "group_column": None,
            "mask_column": ANY, "patient_source": "one per image", "left_out": None}
    base.update(fields)
    return base


# ---------------------------------------------------------------------------------------------
# Public ultrasound releases
# ---------------------------------------------------------------------------------------------

def build_busi(tmp: Path) -> Built:
    """BUSI, Al-Dhabyani et al., Data in Brief 28:104863 (2020), doi:10.1016/j.dib.2019.104863.

    ``Dataset_BUSI_with_GT/<class>/<class> (N).png`` with ``<class> (N)_mask.png`` beside it and,
    for an image with several lesions, ``_mask_1.png`` (the data page and ../shared/data/README.md);
    normal images have an all-zero mask. No patient is given.
    """
    b = Built(tmp / "Dataset_BUSI_with_GT")
    k = 0
    for label, n in (("benign", 3), ("malignant", 2), ("normal", 2)):
        for i in range(1, n + 1):
            k += 1
            stem = f"{label}/{label} ({i})"
            b.image(f"{stem}.png", k, label=label, masks=(f"{stem}_mask.png",), lesion=label != "normal")
    b.extra_mask("benign/benign (2)_mask_1.png", 2)
    b.truth["benign/benign (2).png"] = ("benign", "benign/benign (2).png",
                                        ("benign/benign (2)_mask.png", "benign/benign (2)_mask_1.png"))
    b.expect = _expect(left_out={})
    return b


def build_busi_flat(tmp: Path) -> Built:
    """BUSI as segmentation repositories and Kaggle copies flatten it: every image in ``images/``, its
    masks in ``masks/`` under the same name plus ``_mask`` (``_mask_1`` for a second lesion), the class
    only in each file name's first word (``benign (1).png``). No patient is given.
    """
    b = Built(tmp / "BUSI_flat")
    k = 0
    for label, n in (("benign", 3), ("malignant", 2), ("normal", 2)):
        for i in range(1, n + 1):
            k += 1
            b.image(f"images/{label} ({i}).png", k, label=label, masks=(f"masks/{label} ({i})_mask.png",),
                    lesion=label != "normal")
    b.extra_mask("masks/benign (2)_mask_1.png", 2)
    b.truth["images/benign (2).png"] = ("benign", "images/benign (2).png",
                                        ("masks/benign (2)_mask.png", "masks/benign (2)_mask_1.png"))
    b.expect = _expect(left_out={})
    return b


def build_bus_bra(tmp: Path) -> Built:
    """BUS-BRA, Gómez-Flores et al., Medical Physics 51(4):3110 (2024), doi:10.5281/zenodo.8231412.

    ``BUSBRA/Images/bus_0001-l.png``, ``BUSBRA/Masks/mask_0001-l.png``, ``bus_data.csv`` (ID, Case,
    Histology, Pathology, BIRADS, Device, Width, Height, Side, BBOX) and the published partitions
    ``5-fold-cv.csv`` / ``10-fold-cv.csv`` (ID, Pathology, kFold: the columns the public loaders
    read, e.g. the SAM2 preprocessing scripts built on github.com/wgomezf/BUS-BRA). IDs ending
    ``-l``/``-r`` are two views of one lesion, ``-s`` a single view; ``Case`` is the patient.
    """
    b = Built(tmp / "BUSBRA")
    rows, folds = [], []
    cases = [(1, "benign", "fibroadenoma", ("l", "r")), (2, "malignant", "invasive ductal carcinoma", ("s",)),
             (3, "malignant", "invasive lobular carcinoma", ("l", "r")), (4, "benign", "cyst", ("s",))]
    k = 0
    for case, pathology, histology, views in cases:
        for view in views:
            k += 1
            ident = f"bus_{case:04d}-{view}"
            b.image(f"Images/{ident}.png", k, label=pathology, patient=str(case),
                    masks=(f"Masks/mask_{case:04d}-{view}.png",))
            rows.append({"ID": ident, "Case": case, "Histology": histology, "Pathology": pathology,
                         "BIRADS": 4 if pathology == "malignant" else 3, "Device": "GE Logiq 5 @10-12MHz",
                         "Width": SHAPE[1], "Height": SHAPE[0], "Side": "left" if view != "r" else "right",
                         "BBOX": "[10,8,20,14]"})
            folds.append({"ID": ident, "Pathology": pathology, "kFold": 1 + case % 5})
    _write_csv(b.root / "bus_data.csv", rows)
    _write_csv(b.root / "5-fold-cv.csv", folds)
    _write_csv(b.root / "10-fold-cv.csv", [dict(f, kFold=1 + int(f["ID"][4:8]) % 10) for f in folds])
    b.expect = _expect(table="bus_data.csv", image_column="ID", label_column="Pathology", group_column="Case",
                       patient_source="column", left_out={})
    return b


#: The clinical table's columns, in the order TCIA's BrEaST-Lesions-USG clinical data sheet has them.
BREAST_COLUMNS = ("CaseID", "Image_filename", "Mask_tumor_filename", "Mask_other_filename", "Pixel_size", "Age",
                  "Tissue_composition", "Signs", "Symptoms", "Shape", "Margin", "Echogenicity",
                  "Posterior_features", "Halo", "Calcifications", "Skin_thickening", "Interpretation", "BIRADS",
                  "Verification", "Diagnosis", "Classification")
#: The folder TCIA's zip unpacks to.
BREAST_FOLDER = "BrEaST-Lesions_USG-images_and_masks"
#: The clinical sheet's file name on TCIA (downloaded beside the zip).
BREAST_SHEET = "BrEaST-Lesions-USG-clinical-data-Dec-15-2023.xlsx"


def breast_row(case: int, classification: str, *, other: str = "", diagnosis: str = "not applicable",
               **values) -> dict:
    """One row of BrEaST's clinical sheet for ``case`` (the columns of :data:`BREAST_COLUMNS`)."""
    row = dict.fromkeys(BREAST_COLUMNS, "not available")
    row.update(CaseID=case, Image_filename=f"case{case:03d}.png", Mask_tumor_filename=f"case{case:03d}_tumor.png",
               Mask_other_filename=other or None, Pixel_size=0.0075, Age=50 + case % 20, BIRADS="3",
               Verification="confirmed by biopsy", Diagnosis=diagnosis, Classification=classification)
    row.update(values)
    return row


def build_breast_lesions_usg(tmp: Path) -> Built:
    """BrEaST-Lesions-USG, Pawłowska et al., Scientific Data 11:148 (2024), TCIA doi:10.7937/9WKK-Q141.

    One folder ``BrEaST-Lesions_USG-images_and_masks/`` holding ``case001.png`` beside
    ``case001_tumor.png`` and, where other findings were outlined, ``case001_other1.png``; the
    clinical ``.xlsx`` (downloaded beside the folder) names them in ``Image_filename``,
    ``Mask_tumor_filename`` and ``Mask_other_filename`` and labels them in ``Classification``
    (benign / malignant / normal) beside the finer ``Diagnosis``; ``CaseID`` is the patient (one
    image per patient). The normal case's tumour mask is all zero.
    """
    b = Built(tmp)
    rows = []
    for case, label in enumerate(("normal", "benign", "benign", "malignant", "benign", "malignant"), start=1):
        name = f"{BREAST_FOLDER}/case{case:03d}"
        b.image(f"{name}.png", case, label=label, patient=str(case), masks=(f"{name}_tumor.png",),
                lesion=label != "normal")
        other = ""
        if case == 3:
            other = "case003_other1.png"
            b.extra_mask(f"{name}_other1.png", case)
            b.truth[f"{name}.png"] = (label, "3", (f"{name}_tumor.png", f"{name}_other1.png"))
        rows.append(breast_row(case, label, other=other,
                               diagnosis={"benign": "Fibroadenoma", "malignant": "Invasive carcinoma"}.get(
                                   label, "not applicable")))
    _write_xlsx(b.root / BREAST_SHEET, rows)
    b.expect = _expect(table=BREAST_SHEET, image_column="Image_filename", label_column="Classification",
                       group_column="CaseID", patient_source="column", left_out={})
    return b


def build_busi_whu(tmp: Path) -> Built:
    """BUSI-WHU (Renmin Hospital of Wuhan University), Mendeley Data doi:10.17632/k6cpmwybk3.

    Split folders each holding ``img/`` and ``mask/`` with the same file names, as the release is
    used by github.com/huangjin520/WSFANet (``BUSI-WHU/{train,val,test}/{img,mask}``). The release
    carries no class labels (a public review that downloaded it says so), so nothing is labelled;
    the file names' form is not documented in the sources reachable here: numbered PNGs are built.
    """
    b = Built(tmp / "BUSI-WHU")
    k = 0
    for split, n in (("train", 3), ("val", 2), ("test", 2)):
        for _ in range(n):
            k += 1
            b.image(f"{split}/img/{k:04d}.png", k, label=None, masks=(f"{split}/mask/{k:04d}.png",))
    b.expect = _expect(left_out={})
    return b


def build_buid(tmp: Path) -> Built:
    """BUID (QAMEBI, Qaem hospital, Mashhad), Homayoun et al. / qamebi.com.

    ``Benign/1 Benign Image.bmp`` with ``1 Benign Mask.tif`` (the binary mask) and
    ``1 Benign Lesion.bmp`` (a visual annotation), likewise ``Malignant/``; case numbers restart in
    each class folder (the layout public loaders of the set document, e.g. the BUID dataset classes
    that list ``XXX Benign Image.bmp / Mask.tif / Lesion.bmp``). The ``Lesion.bmp`` carries a mask
    word, so it is counted as a mask file; the binary ``Mask.tif`` must be among the image's masks.
    No patient is given: case 1 of Benign and case 1 of Malignant are not one patient.
    """
    b = Built(tmp / "BUID")
    k = 0
    for label, n in (("Benign", 3), ("Malignant", 2)):
        for i in range(1, n + 1):
            k += 1
            b.image(f"{label}/{i} {label} Image.bmp", k, label=label, masks=(f"{label}/{i} {label} Mask.tif",))
            b.extra_mask(f"{label}/{i} {label} Lesion.bmp", k)
    b.expect = _expect(left_out={})
    return b


def build_stu_hospital(tmp: Path) -> Built:
    """STU-Hospital (First Affiliated Hospital of Shantou University), github.com/xbhlk/STU-Hospital.

    ``Hospital/Test_Image_N.png`` beside ``Hospital/mask_N.png`` (42 pairs in the repository; the
    mask's name swaps the ``Test_Image`` word for ``mask``). No labels, no patients.
    """
    b = Built(tmp / "STU-Hospital" / "Hospital")
    for k in (1, 4, 7, 12, 16):
        b.image(f"Test_Image_{k}.png", k, label=None, masks=(f"mask_{k}.png",))
    b.expect = _expect(left_out={})
    return b


def build_rodrigues(tmp: Path) -> Built:
    """"Breast Ultrasound Image", Rodrigues P.S., Mendeley Data doi:10.17632/wmy84gzngw.1.

    250 grey BMP images (100 benign, 150 malignant) for classification, one folder per class and no
    masks (the data page). The file names inside are not documented in the sources reachable here:
    ``benign/benign1.bmp`` is built.
    """
    b = Built(tmp / "Breast Ultrasound Image")
    k = 0
    for label, n in (("benign", 2), ("malignant", 3)):
        for i in range(1, n + 1):
            k += 1
            b.image(f"{label}/{label}{i}.bmp", k, label=label)
    b.expect = _expect(left_out={})
    return b


def build_busc(tmp: Path) -> Built:
    """BUSC (Iqbal & Sharif), Mendeley Data doi:10.17632/vckdnhtw26: Rodrigues' images at 128 px with
    masks drawn by a radiologist.

    The data page says benign and malignant images were annotated for segmentation; its folder
    names are not given in the sources reachable here: ``<class>/images/`` + ``<class>/masks/`` with
    equal names is built (the shape the page's description and the common re-packings share).
    """
    b = Built(tmp / "BUSC Dataset")
    k = 20
    for label, n in (("benign", 2), ("malignant", 2)):
        for i in range(1, n + 1):
            k += 1
            b.image(f"{label}/images/{i}.png", k, label=label, masks=(f"{label}/masks/{i}.png",))
    b.expect = _expect(left_out={})
    return b


def build_oasbud_export(tmp: Path) -> Built:
    """OASBUD, Piotrzkowska-Wróblewska et al., Medical Physics 44:6105 (2017), zenodo record 545928.

    The release is ONE file, ``OASBUD.mat``: a struct array ``data`` with ``id``, ``class``,
    ``birads``, ``rf1``/``rf2`` (raw RF of two perpendicular scans) and ``roi1``/``roi2`` (the
    lesion's region). No image reader reads RF data; what is built is the closest image export: the
    two B-mode scans of each lesion as ``<id>_1.png`` / ``<id>_2.png`` with ``<id>_1_roi.png`` beside
    and a table of the struct's fields, one row per scan (``scan``, ``id``, ``class`` spelled
    benign / malignant, ``birads``). ``id`` is not a patient word, so the patient is the file-name
    prefix (the lesion's id).
    """
    b = Built(tmp / "OASBUD_bmode")
    rows = []
    k = 40
    for ident, label in (("K001", "malignant"), ("K002", "benign"), ("K003", "benign")):
        for view in (1, 2):
            k += 1
            b.image(f"{ident}_{view}.png", k, label=label, patient=ident, masks=(f"{ident}_{view}_roi.png",))
            rows.append({"scan": f"{ident}_{view}.png", "id": ident, "class": label,
                         "birads": "4a" if label == "benign" else "5"})
    _write_csv(b.root / "oasbud.csv", rows)
    b.expect = _expect(table="oasbud.csv", image_column="scan", label_column="class",
                       patient_source="file-name prefix", left_out={})
    return b


def build_gdph_sysucc(tmp: Path) -> Built:
    """GDPH&SYSUCC, Mo et al., IEEE TMI (2023) doi:10.1109/TMI.2023.3236011, github.com/yuhaomo/HoVerTrans.

    ``GDPH&SYSUCC/label.csv`` (``name``, ``label``: 0 benign, 1 malignant) and ``img/benign(0).png``,
    ``img/malignant(0).png`` ... (the repository's README). No masks, no patients: ``benign`` is
    the class in the name, not a patient prefix.
    """
    b = Built(tmp / "GDPH&SYSUCC")
    rows = []
    k = 60
    for label, code, n in (("benign", 0, 3), ("malignant", 1, 2)):
        for i in range(n):
            k += 1
            b.image(f"img/{label}({i}).png", k, label=str(code))
            rows.append({"name": f"{label}({i}).png", "label": code})
    _write_csv(b.root / "label.csv", rows)
    b.expect = _expect(table="label.csv", image_column="name", label_column="label", left_out={})
    return b


def build_bus_cot(tmp: Path) -> Built:
    """BUS-CoT, Yu et al., Scientific Data (2026), arXiv:2509.17046 (Figshare / Zenodo).

    Lesion images ``BUS-Lesion/{trainval,test}/NNNNNN@L.png`` (image id ``NNNNNN``, lesion ``L``:
    the path form public loaders of the set parse) and the expert annotations in
    ``BUS-Expert_dataset.json``; a JSON file is not a table featbus reads, so nothing is labelled.
    The patient proxy is the image id before ``@`` (the file-name prefix); the split folders are not
    classes. The JSON's key names are not documented in the sources reachable here.
    """
    import json

    b = Built(tmp / "BUS-CoT")
    k = 80
    names = [("trainval", "000000@0"), ("trainval", "000000@1"), ("trainval", "000001@0"), ("test", "000002@0")]
    for split, name in names:
        k += 1
        b.image(f"BUS-Lesion/{split}/{name}.png", k, label=None, patient=name.split("@")[0])
    annotations = [{"image": f"BUS-Lesion/{s}/{n}.png", "pathology": "fibroadenoma"} for s, n in names]
    (b.root / "BUS-Expert_dataset.json").write_text(json.dumps(annotations))
    b.expect = _expect(patient_source="file-name prefix", left_out={})
    return b


# ---------------------------------------------------------------------------------------------
# Mammography releases
# ---------------------------------------------------------------------------------------------

MIAS_HEADER = """\
              MAMMOGRAPHIC IMAGE ANALYSIS SOCIETY
                  MiniMammographic Database

Thank you for downloading the MIAS MiniMammographic Database.

INFORMATION:

This file lists the films in the MIAS database and provides
appropriate details as follows:

1st column: MIAS database reference number.
2nd column: Character of background tissue: F, G, D
3rd column: Class of abnormality present: CALC, CIRC, SPIC, MISC, ARCH, ASYM, NORM
4th column: Severity of abnormality; B - Benign, M - Malignant
5th,6th columns: x,y image-coordinates of centre of abnormality.
7th column: Approximate radius (in pixels) of a circle enclosing the abnormality.

=================================================================

"""


def build_mini_mias(tmp: Path, *, under: str = "", ext: str = ".pgm") -> Built:
    """mini-MIAS, Suckling et al., Excerpta Medica ICS 1069:375 (1994); the pilot European archive's
    ``all-mias`` folder.

    ``mdbNNN.pgm`` (binary PGM) beside ``Info.txt``: a free-text header, then one line per finding,
    space separated, without a header row (reference, tissue, class, severity, x, y, radius; a
    normal film has no severity; one film can have several lines), CRLF line ends (as the copy in
    ../shared/data/mini-mias). Its notes say the films come in pairs, the left and right breast of
    one woman (mdb001 + mdb002 ...): the patients are those pairs (a name pattern). The label is the
    severity, a film without one being normal (as featbus' MIAS loader has always read it).

    ``under``: the images' sub-folder below ``Info.txt`` (``"all-mias"``: Kaggle's copy, ``Info.txt`` beside
    the ``all-mias/`` folder); ``ext``: their format (``".png"``, ``".jpg"``: the community's conversions).
    """
    b = Built(tmp / "all-mias")
    lines = [("mdb001", "G CIRC B 535 425 197", "benign"), ("mdb002", "G CIRC B 522 280 69", "benign"),
             ("mdb003", "D NORM", "normal"), ("mdb004", "D NORM", "normal"),
             ("mdb005", "F CIRC B 477 133 30", "benign"), ("mdb005", "F CIRC B 500 168 26", "benign"),
             ("mdb006", "F CALC M 310 640 21", "malignant")]
    fmt = {".pgm": "PPM", ".png": "PNG", ".jpg": "JPEG"}[ext]
    for k, (ref, _, label) in enumerate(lines):
        if (rel := "/".join(filter(None, (under, ref + ext)))) not in b.truth:
            b.image(rel, 100 + k, label=label, patient=str((int(ref[3:]) + 1) // 2), fmt=fmt)
    text = MIAS_HEADER + "\n".join(f"{ref} {rest} " for ref, rest, _ in lines) + "\n"
    (b.root / "Info.txt").write_bytes(text.replace("\n", "\r\n").encode("ascii"))
    b.expect = _expect(table="Info.txt", image_column=ANY, label_column=ANY, patient_source="pattern", left_out={})
    return b


#: The columns of CBIS-DDSM's ``mass_case_description_*.csv`` (TCIA, doi:10.7937/K9/TCIA.2016.7O02S9CY).
CBIS_COLUMNS = ("patient_id", "breast_density", "left or right breast", "image view", "abnormality id",
                "abnormality type", "mass shape", "mass margins", "assessment", "pathology", "subtlety",
                "image file path", "cropped image file path", "ROI mask file path")


def build_cbis_ddsm(tmp: Path) -> Built:
    """CBIS-DDSM, Lee et al., Scientific Data 4:170177 (2017), TCIA doi:10.7937/K9/TCIA.2016.7O02S9CY.

    The description table ``mass_case_description_train_set.csv`` names each full mammogram in
    ``image file path`` (``Mass-Training_P_00001_LEFT_CC/<study uid>/<series uid>/000000.dcm``) and
    its lesion in ``ROI mask file path`` (``Mass-Training_P_00001_LEFT_CC_1/.../000001.dcm``), one
    row per abnormality, ``pathology`` MALIGNANT / BENIGN / BENIGN_WITHOUT_CALLBACK, ``patient_id``.
    Writing DICOM is left out: this is the PNG-converted shape commonly shared, the same tree and
    table with ``.png`` in place of ``.dcm`` (the cropped-image files are not built; their column
    stays in the table, empty). Every file is called ``000000.png`` / ``000001.png``: only the table
    tells image from mask. One image has two abnormalities (two rows, two masks); one mask path
    carries the trailing newline some rows of the published table have.
    """
    b = Built(tmp / "CBIS-DDSM")
    rows = []
    uid = "1.3.6.1.4.1.9590.100.1.2"
    findings = [("P_00001", "LEFT", "CC", 1, "MALIGNANT"), ("P_00001", "LEFT", "MLO", 1, "MALIGNANT"),
                ("P_00004", "LEFT", "CC", 1, "BENIGN"), ("P_00004", "RIGHT", "MLO", 1, "BENIGN_WITHOUT_CALLBACK"),
                ("P_00009", "RIGHT", "CC", 1, "MALIGNANT"), ("P_00009", "RIGHT", "CC", 2, "MALIGNANT")]
    for k, (patient, side, view, abnormality, pathology) in enumerate(findings):
        case = f"Mass-Training_{patient}_{side}_{view}"
        image = f"{case}/{uid}.{k}1/{uid}.{k}2/000000.png"
        mask = f"{case}_{abnormality}/{uid}.{k}3/{uid}.{k}4/000001.png"
        if abnormality == 1:
            b.image(image, 200 + k, label=pathology, patient=patient, masks=(mask,))
        else:
            image = next(i for i in b.truth if i.startswith(case + "/"))
            b.extra_mask(mask, 200 + k)
            label, group, masks = b.truth[image]
            b.truth[image] = (label, group, masks + (mask,))
        rows.append({"patient_id": patient, "breast_density": 2, "left or right breast": side, "image view": view,
                     "abnormality id": abnormality, "abnormality type": "mass", "mass shape": "OVAL",
                     "mass margins": "CIRCUMSCRIBED", "assessment": 4, "pathology": pathology, "subtlety": 3,
                     "image file path": image, "cropped image file path": "",
                     "ROI mask file path": mask + ("\n" if k == 3 else "")})
    _write_csv(b.root / "mass_case_description_train_set.csv", rows)
    b.expect = _expect(table="mass_case_description_train_set.csv", image_column="image file path",
                       label_column="pathology", group_column="patient_id", mask_column="ROI mask file path",
                       patient_source="column", left_out={})
    return b


# ---------------------------------------------------------------------------------------------
# Hospitals' own exports
# ---------------------------------------------------------------------------------------------

def build_hospital_flat_xlsx(tmp: Path) -> Built:
    """A PACS export: one flat folder of JPEGs and an ``.xlsx`` with the file name, the diagnosis,
    the patient and free columns (date, note); no masks."""
    b = Built(tmp / "export_2024")
    rows = []
    k = 300
    for patient, diagnosis, n in (("H-1001", "Benign", 2), ("H-1002", "Malignant", 3), ("H-1003", "Benign", 1)):
        for _ in range(n):
            k += 1
            name = f"IMG_{k:04d}.jpg"
            b.image(name, k, label=diagnosis, patient=patient)
            rows.append({"File name": name, "Date": "2024-03-0" + str(k % 9 + 1), "Patient ID": patient,
                         "Diagnosis": diagnosis, "Note": "left breast" if k % 2 else ""})
    _write_xlsx(b.root / "export.xlsx", rows)
    b.expect = _expect(table="export.xlsx", image_column="File name", label_column="Diagnosis",
                       group_column="Patient ID", patient_source="column", left_out={})
    return b


def build_hospital_patient_folders(tmp: Path) -> Built:
    """One folder per patient (``P001/IMG_1.png``; the same file name in several folders) and a
    table naming each image by its relative path with the finding; the patient is the folder."""
    b = Built(tmp / "study")
    rows = []
    k = 400
    for patient, finding, n in (("P001", "benign", 2), ("P002", "malignant", 1), ("P003", "malignant", 2)):
        for i in range(1, n + 1):
            k += 1
            b.image(f"{patient}/IMG_{i}.png", k, label=finding, patient=patient)
            rows.append({"path": f"{patient}/IMG_{i}.png", "finding": finding})
    _write_csv(b.root / "labels.csv", rows)
    b.expect = _expect(table="labels.csv", image_column="path", label_column="finding",
                       patient_source="folder", left_out={})
    return b


def build_hospital_patient_table(tmp: Path) -> Built:
    """One folder per patient (``P001/IMG_1.png``) and a table BY PATIENT (``Patient``, ``Age``,
    ``Diagnosis``: one row per patient, no row per image): the table labels each patient's images,
    the folders are the patients, never classes."""
    b = Built(tmp / "study_by_patient")
    rows = []
    k = 600
    for patient, finding, n in (("P001", "benign", 2), ("P002", "malignant", 1), ("P003", "malignant", 2)):
        for i in range(1, n + 1):
            k += 1
            b.image(f"{patient}/IMG_{i}.png", k, label=finding, patient=patient)
        rows.append({"Patient": patient, "Age": 40 + k % 30, "Diagnosis": finding})
    _write_csv(b.root / "patients.csv", rows)
    b.expect = _expect(table="patients.csv", image_column=ANY, label_column="Diagnosis", group_column=ANY,
                       patient_source=("folder", "column"), left_out={})
    return b


def build_one_patient_folders(tmp: Path, dicom: bool = True) -> Built:
    """No table, a folder per exported examination, each holding one patient's images and named
    neither as a class nor as an id any table gives (``exam A/``, ``exam B/``, ``exam C/``: how a
    clinician exports a PACS query, one folder a patient): DICOM files whose ``PatientID`` is the
    patient (``dicom``), else PNG files named ``PREFIX_NUMBER`` by the patient (``P017_1.png``). Few
    folders, as class folders are; but each is one patient, so they are patients, never classes."""
    b = Built(tmp / ("exams_dicom" if dicom else "exams_png"))
    k = 900
    for folder, patient, n in (("exam A", "P017", 3), ("exam B", "P023", 2), ("exam C", "P031", 3)):
        for i in range(1, n + 1):
            k += 1
            if dicom:
                relative = f"{folder}/IM{i:04d}.dcm"
                write_dicom(b.root / relative, dicom_dataset(k, patient=patient, study=f"1.2.3.{k}.1",
                                                             series=f"1.2.3.{k}.2", sop=f"1.2.3.{k}.3"))
                b.truth[relative] = (None, patient, ())
            else:
                b.image(f"{folder}/{patient}_{i}.png", k, label=None, patient=patient)
    b.expect = _expect(patient_source="folder", left_out={})
    return b


def build_hospital_prefix_semicolon(tmp: Path) -> Built:
    """``images/ABCD_012.png`` + ``masks/ABCD_012.png`` (same names) + a ``;`` CSV with a byte-order
    mark (``Image;Class``); the patient is only the file name's prefix (issue 75's release 3a)."""
    b = Built(tmp / "release_3a")
    rows = []
    k = 500
    for patient, label in (("ABCD", "Benign"), ("EFGH", "Malignant"), ("IJKL", "Normal")):
        for n in (10, 12):
            k += 1
            name = f"{patient}_{n:03d}.png"
            b.image(f"images/{name}", k, label=label, patient=patient, masks=(f"masks/{name}",),
                    lesion=label != "Normal")
            rows.append({"Image": name, "Class": label})
    _write_csv(b.root / "export.csv", rows, sep=";", bom=True)
    b.expect = _expect(table="export.csv", image_column="Image", label_column="Class",
                       patient_source="file-name prefix", left_out={})
    return b


# ---------------------------------------------------------------------------------------------
# DICOM as a PACS or a CD writes it (issue 89)
# ---------------------------------------------------------------------------------------------

#: The physical pixel size the DICOM builders write, in mm: ultrasound regions in cm (0.008 cm),
#: a mammogram's PixelSpacing in mm.
US_PIXEL_MM, MG_PIXEL_MM = 0.08, 0.07


def dicom_dataset(k: int, *, patient: str, study: str, series: str, sop: str, modality: str = "US",
                  accession: str = "", pixels: bool = True):
    """Synthetic scan ``k`` as a DICOM part 10 dataset the way a modality sends it to a PACS: the
    preamble and ``DICM``, the file meta, the patient / study / series / instance modules (what a
    DICOMDIR's records need: ``StudyDate``, ``StudyTime``, ``StudyID``...), 8-bit MONOCHROME2 pixels
    and the pixel size where the modality states it: ultrasound as ``SequenceOfUltrasoundRegions``
    (one B-mode region, ``PhysicalDeltaX/Y`` in cm, unit code 3), a mammogram as ``PixelSpacing``
    (``ImagerPixelSpacing`` too, as DX / MG write). ``pixels=False``: no ``PixelData`` element."""
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    sop_class = "1.2.840.10008.5.1.4.1.1.6.1" if modality == "US" else "1.2.840.10008.5.1.4.1.1.1.2"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop
    ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = patient, f"ANON^{patient}", "", "F"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.AccessionNumber = study, series, accession
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.ReferringPhysicianName = "20240105", "101500", "1", ""
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = modality, 1, k + 1
    ds.Rows, ds.Columns = SHAPE
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if modality == "US":
        region = Dataset()
        region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
        region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
        region.RegionLocationMaxX1, region.RegionLocationMaxY1 = SHAPE[1] - 1, SHAPE[0] - 1
        region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3  # cm
        region.PhysicalDeltaX = region.PhysicalDeltaY = US_PIXEL_MM / 10
        ds.SequenceOfUltrasoundRegions = [region]
    else:
        ds.PixelSpacing = ds.ImagerPixelSpacing = [MG_PIXEL_MM, MG_PIXEL_MM]
    if pixels:
        ds.PixelData = scan(k).tobytes()
    return ds


def write_dicom(path: Path, ds) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def write_deflated_dicom(path: Path, ds, pad: int = 0) -> None:
    """``ds`` in the Deflated Explicit VR Little Endian transfer syntax, deflated by pydicom; ``pad``: a private
    OB element of that many zero bytes in the deflated dataset instead, streamed through the deflater a MB at a
    time (a bomb of a few hundred KB that inflates to ``pad`` bytes, never held whole here)."""
    import zlib

    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    if not pad:
        write_dicom(path, ds)
        return
    ds.add_new(0x00090010, "LO", "FEATBUS TEST")
    ds.add_new(0x00091000, "OB", b"")
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    raw = body.getvalue()
    at = raw.index(b"\x09\x00\x00\x10OB\x00\x00") + 8  # the pad's 4-byte length, 0 as written
    meta = DicomBytesIO()
    meta.is_little_endian, meta.is_implicit_VR = True, False
    write_file_meta_info(meta, ds.file_meta)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(bytes(128) + b"DICM" + meta.getvalue())
        f.write(deflater.compress(raw[:at] + pad.to_bytes(4, "little")))
        for _ in range(pad // len(zeros)):
            f.write(deflater.compress(zeros))
        f.write(deflater.compress(bytes(pad % len(zeros)) + raw[at + 4:]))
        f.write(deflater.flush())


def _pacs_studies(k0: int) -> list[dict]:
    """Three patients, one study and series each, two or three images: the instances of a PACS query."""
    from pydicom.uid import generate_uid

    out, k = [], k0
    for patient, label, n in (("PAT0001", "malignant", 3), ("PAT0002", "benign", 2), ("PAT0003", "benign", 2)):
        study, series = generate_uid(), generate_uid()
        for _ in range(n):
            out.append({"k": k, "patient": patient, "study": study, "series": series, "sop": generate_uid(),
                        "label": label})
            k += 1
    return out


def _build_pacs(tmp: Path, name: str, extension: bool) -> Built:
    b = Built(tmp / name)
    rows = []
    for n, inst in enumerate(_pacs_studies(700)):
        file = f"IM{n + 1:04d}.dcm" if extension else f"I{n + 1:07d}"
        relative = f"{inst['patient']}/{inst['study']}/{inst['series']}/{file}"
        write_dicom(b.root / relative, dicom_dataset(inst["k"], patient=inst["patient"], study=inst["study"],
                                                     series=inst["series"], sop=inst["sop"]))
        b.truth[relative] = (inst["label"], inst["patient"], ())
        rows.append({"SOPInstanceUID": inst["sop"], "Pathology": inst["label"].capitalize()})
    _write_csv(b.root / "labels.csv", rows)
    b.expect = _expect(table="labels.csv", image_column="SOPInstanceUID", label_column="Pathology",
                       patient_source="folder", left_out={}, pixel_mm=US_PIXEL_MM)
    return b


def build_pacs_tree(tmp: Path) -> Built:
    """A PACS export ``PATIENTID/STUDYUID/SERIESUID/IM0001.dcm`` (ultrasound, the pixel size in
    ``SequenceOfUltrasoundRegions``) beside ``labels.csv`` keyed by ``SOPInstanceUID`` with a
    ``Pathology`` column (the issue's release 2); the patient is the first folder."""
    return _build_pacs(tmp, "pacs_export", extension=True)


def build_pacs_cd(tmp: Path) -> Built:
    """The same tree with extension-less files (``I0000001``), the usual PACS / CD form."""
    return _build_pacs(tmp, "pacs_cd", extension=False)


def build_dicomdir(tmp: Path) -> Built:
    """A DICOM CD (mammograms, ``PixelSpacing``) as pydicom's :class:`~pydicom.fileset.FileSet` writes
    one: ``DICOMDIR`` at the root and ``PT000000/ST000000/SE000000/IM000000`` files it references
    (DICOM PS3.10 file IDs), with ``labels.csv`` keyed by ``SOPInstanceUID``; the patient is the
    ``PTnnnnnn`` folder."""
    import pydicom
    from pydicom.fileset import FileSet

    b = Built(tmp / "dicom_cd")
    staging = tmp / "dicomdir_staging"
    fs, rows, label_of = FileSet(), [], {}
    for inst in _pacs_studies(720):
        src = staging / inst["sop"]
        write_dicom(src, dicom_dataset(inst["k"], patient=inst["patient"], study=inst["study"],
                                       series=inst["series"], sop=inst["sop"], modality="MG"))
        fs.add(src)
        rows.append({"SOPInstanceUID": inst["sop"], "Pathology": inst["label"]})
        label_of[inst["sop"]] = (inst["label"], inst["patient"])
    b.root.mkdir(parents=True)
    fs.write(b.root)
    for instance in FileSet(pydicom.dcmread(b.root / "DICOMDIR")):
        label, patient = label_of[instance.SOPInstanceUID]
        b.truth[Path(instance.path).relative_to(b.root).as_posix()] = (label, patient, ())
    _write_csv(b.root / "labels.csv", rows)
    b.expect = _expect(table="labels.csv", image_column="SOPInstanceUID", label_column="Pathology",
                       patient_source="folder", left_out={}, pixel_mm=MG_PIXEL_MM)
    return b


#: The DICOM layouts (pydicom writes them): in :data:`LAYOUTS` where pydicom is installed.
DICOM_LAYOUTS: dict[str, Callable[[Path], Built]] = {
    "pacs-tree": build_pacs_tree,
    "pacs-cd-no-extension": build_pacs_cd,
    "dicomdir": build_dicomdir,
}


#: Every layout: name -> builder (``builder(tmp_path) -> Built``).
LAYOUTS: dict[str, Callable[[Path], Built]] = {
    "busi": build_busi,
    "busi-flat": build_busi_flat,
    "bus-bra": build_bus_bra,
    "breast-lesions-usg": build_breast_lesions_usg,
    "busi-whu": build_busi_whu,
    "buid-qamebi": build_buid,
    "stu-hospital": build_stu_hospital,
    "rodrigues-bus": build_rodrigues,
    "busc": build_busc,
    "oasbud-bmode-export": build_oasbud_export,
    "gdph-sysucc": build_gdph_sysucc,
    "bus-cot": build_bus_cot,
    "mini-mias": build_mini_mias,
    "mini-mias-kaggle-png": lambda tmp: build_mini_mias(tmp, under="all-mias", ext=".png"),
    "cbis-ddsm-png": build_cbis_ddsm,
    "hospital-flat-xlsx": build_hospital_flat_xlsx,
    "hospital-patient-folders": build_hospital_patient_folders,
    "hospital-patient-table": build_hospital_patient_table,
    "hospital-prefix-semicolon": build_hospital_prefix_semicolon,
}
if importlib.util.find_spec("pydicom") is not None:
    LAYOUTS.update(DICOM_LAYOUTS)


# ---------------------------------------------------------------------------------------------
# Labelling tools' and dataset hubs' exports (issue 89): annotation files, one-hot tables, splits
# ---------------------------------------------------------------------------------------------

def outline(k: int, shift: int = 0, n: int = 24) -> list[float]:
    """The outline of scan ``k``'s blob as a COCO polygon ``[x1, y1, x2, y2, ...]``: pixel edges,
    so a pixel's centre is at ``+0.5`` (COCO's convention)."""
    cy, cx = 12 + k % 5 + shift // 2, 16 + k % 7 + shift
    ry, rx = 5 + k % 3, 7 + k % 4
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return [round(float(v), 2) for xy in zip(cx + rx * np.cos(t) + 0.5, cy + ry * np.sin(t) + 0.5) for v in xy]


def coco_runs(mask: np.ndarray) -> list[int]:
    """A mask's COCO run lengths (column-major, background first), as CVAT writes a mask shape."""
    flat = np.asarray(mask, bool).T.ravel()
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat.astype(np.int8))) + 1, [flat.size]])
    runs = np.diff(bounds).tolist()
    return [0] + runs if flat[0] else runs


def coco_compressed(runs: list[int]) -> str:
    """The runs as COCO's compressed RLE string (pycocotools' ``rleToString``, written from its
    description: each run after the second as the difference to the one two before, 5 bits a
    character from ``'0'``, bit 0x20 saying another character follows)."""
    out = []
    for i, x in enumerate(runs):
        x = x - runs[i - 2] if i > 2 else x
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr((c | 0x20 if more else c) + 48))
    return "".join(out)


def _write_json(path: Path, data) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def _coco_image(k: int, image_id: int, file_name: str, **extra) -> dict:
    return {"id": image_id, "width": SHAPE[1], "height": SHAPE[0], "file_name": file_name, **extra}


def _coco_polygon(ann_id: int, image_id: int, category: int, k: int, shift: int = 0, **extra) -> dict:
    poly = outline(k, shift)
    xs, ys = poly[0::2], poly[1::2]
    return {"id": ann_id, "image_id": image_id, "category_id": category, "segmentation": [poly],
            "area": float(_blob(k, shift).sum()), "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
            "iscrowd": 0, **extra}


def build_cvat_coco(tmp: Path) -> Built:
    """CVAT's "COCO 1.0" export with images: ``images/`` + ``annotations/instances_default.json``.

    As CVAT writes it (its documentation, "COCO 1.0" format page, and an export of a task): the
    ``licenses``, ``info``, ``categories`` (ids from 1, ``supercategory`` empty), ``images`` (ids
    from 1, ``file_name`` the task's file name, ``flickr_url`` / ``coco_url`` empty,
    ``date_captured`` 0) and ``annotations`` (a polygon as ``segmentation: [[x, y, ...]]`` with
    ``iscrowd`` 0; a mask shape as an uncompressed RLE ``{"counts": [...], "size": [h, w]}`` with
    ``iscrowd`` 1; ``attributes: {"occluded": false}``). Two patients' images carry two polygons
    (two lesions, joined); one image has no annotation (a normal scan)."""
    b = Built(tmp / "task_breast_us_cvat")
    images, anns = [], []
    k, ann_id = 600, 0
    for patient, label, category in (("P001", "benign", 1), ("P002", "benign", 1), ("P003", "malignant", 2),
                                     ("P004", "malignant", 2)):
        for n in (1, 2):
            k += 1
            name = f"{patient}_{n:02d}.png"
            save(b.root / "images" / name, scan(k))
            b.truth[f"images/{name}"] = (label, patient, ())
            images.append(_coco_image(k, len(images) + 1, name, license=0, flickr_url="", coco_url="",
                                      date_captured=0))
            ann_id += 1
            if patient == "P003" and n == 2:  # a mask shape: uncompressed RLE
                anns.append({"id": ann_id, "image_id": len(images), "category_id": category,
                             "segmentation": {"counts": coco_runs(_blob(k)), "size": list(SHAPE)},
                             "area": float(_blob(k).sum()), "bbox": [0, 0, SHAPE[1], SHAPE[0]], "iscrowd": 1,
                             "attributes": {"occluded": False}})
                b.drawn[f"images/{name}"] = _blob(k)
                continue
            anns.append(_coco_polygon(ann_id, len(images), category, k, attributes={"occluded": False}))
            b.drawn[f"images/{name}"] = _blob(k)
            if n == 2:  # a second lesion of the image: joined
                ann_id += 1
                anns.append(_coco_polygon(ann_id, len(images), category, k, shift=8,
                                          attributes={"occluded": False}))
                b.drawn[f"images/{name}"] = _blob(k) | _blob(k, shift=8)
    k += 1
    save(b.root / "images" / "P005_01.png", scan(k))
    b.truth["images/P005_01.png"] = ("normal", "P005", ())
    images.append(_coco_image(k, len(images) + 1, "P005_01.png", license=0, flickr_url="", coco_url="",
                              date_captured=0))
    _write_json(b.root / "annotations" / "instances_default.json", {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "", "date_created": "", "description": "", "url": "", "version": "", "year": ""},
        "categories": [{"id": 1, "name": "benign", "supercategory": ""},
                       {"id": 2, "name": "malignant", "supercategory": ""}],
        "images": images, "annotations": anns})
    b.expect = _expect(table="annotations/instances_default.json", patient_source="file-name prefix", left_out={})
    return b


def roboflow_name(stem: str, k: int, ext: str = "png") -> str:
    """Roboflow's name for an uploaded ``<stem>.<ext>``: ``<stem>_<ext>.rf.<32 hex>.jpg``."""
    import hashlib

    return f"{stem}_{ext}.rf.{hashlib.md5(f'{stem}{k}'.encode()).hexdigest()}.jpg"


#: Roboflow's split folders and how many images each gets in the builders.
_ROBOFLOW_SPLITS = (("train", 6), ("valid", 2), ("test", 3))


def build_roboflow_coco(tmp: Path) -> Built:
    """Roboflow's "COCO" export: ``train/``, ``valid/``, ``test/``, each with its images and an
    ``_annotations.coco.json``; ``README.dataset.txt`` and ``README.roboflow.txt`` at the top.

    As Roboflow writes it (its "COCO JSON" format page and public Universe exports): every file
    renamed ``<stem>_<ext>.rf.<hash>.jpg``; category 0 is the project (``supercategory: "none"``)
    and every class has it as its ``supercategory``; images with ``license``, ``date_captured``;
    polygons as ``segmentation: [[...]]``, ``iscrowd`` 0. An image with no annotation (a null
    image, Roboflow's word) is a normal scan."""
    b = Built(tmp / "breast-us.v2i.coco")
    (b.root).mkdir(parents=True)
    (b.root / "README.dataset.txt").write_text("# breast-us > 2024-05-01\nhttps://universe.roboflow.com/\n")
    (b.root / "README.roboflow.txt").write_text("This dataset was exported via roboflow.com\n")
    k = 700
    categories = [{"id": 0, "name": "lesions", "supercategory": "none"},
                  {"id": 1, "name": "benign", "supercategory": "lesions"},
                  {"id": 2, "name": "malignant", "supercategory": "lesions"}]
    for split, n in _ROBOFLOW_SPLITS:
        images, anns = [], []
        for j in range(n):
            k += 1
            patient = f"P{17 + k % 4:03d}"
            stem = f"{patient}_{k:03d}"
            name = roboflow_name(stem, k)
            label, category = (("benign", 1) if k % 2 else ("malignant", 2))
            if split == "test" and j == n - 1:
                label = "normal"
            save(b.root / split / name, scan(k), "JPEG")
            b.truth[f"{split}/{name}"] = (label, patient, ())
            b.splits[f"{split}/{name}"] = split
            images.append(_coco_image(k, j, name, license=1, date_captured="2024-05-01T10:00:00+00:00"))
            if label != "normal":
                anns.append(_coco_polygon(len(anns), j, category, k))
                b.drawn[f"{split}/{name}"] = _blob(k)
        _write_json(b.root / split / "_annotations.coco.json", {
            "info": {"year": "2024", "version": "2", "description": "Exported from roboflow.com",
                     "contributor": "", "url": "https://public.roboflow.com/", "date_created": "2024-05-01"},
            "licenses": [{"id": 1, "url": "https://creativecommons.org/licenses/by/4.0/", "name": "CC BY 4.0"}],
            "categories": categories, "images": images, "annotations": anns})
    b.expect = _expect(table=ANY, patient_source="file-name prefix", left_out={})
    return b


def build_label_studio_coco(tmp: Path) -> Built:
    """Label Studio's "COCO" export: ``result.json`` + ``images/``, each file as Label Studio
    stored the upload, ``<8 hex>-<name>`` (its export documentation and an exported project);
    ``file_name`` ``images/<8 hex>-<name>``, categories from id 0 named as the labelling config's
    labels (``Benign``, ``Malignant``), polygons, ``info`` with the project's data."""
    b = Built(tmp / "project-3-at-2024-05-01-10-00-a1b2c3d4")
    images, anns = [], []
    k = 800
    for patient, label, category in (("P020", "Benign", 0), ("P021", "Malignant", 1), ("P022", "Benign", 0)):
        for n in (1, 2):
            k += 1
            name = f"a{k:07x}-{patient}_{n:02d}.png"
            save(b.root / "images" / name, scan(k))
            b.truth[f"images/{name}"] = (label.lower(), patient, ())
            images.append({"width": SHAPE[1], "height": SHAPE[0], "id": len(images), "file_name": f"images/{name}"})
            anns.append({**_coco_polygon(len(anns), len(images) - 1, category, k), "ignore": 0})
            b.drawn[f"images/{name}"] = _blob(k)
    _write_json(b.root / "result.json", {
        "images": images, "categories": [{"id": 0, "name": "Benign"}, {"id": 1, "name": "Malignant"}],
        "annotations": anns, "info": {"year": 2024, "version": "1.0", "description": "",
                                      "contributor": "Label Studio", "url": "", "date_created": "2024-05-01"}})
    b.expect = _expect(table="result.json", patient_source="file-name prefix", left_out={})
    return b


#: CVAT's default label colours for the builders' classes (its labelmap.txt lines).
VOC_COLOURS = {"background": (0, 0, 0), "benign": (250, 50, 83), "malignant": (51, 221, 255)}


def build_cvat_voc(tmp: Path) -> Built:
    """CVAT's "Segmentation mask 1.1" export (Pascal VOC): ``JPEGImages/<name>.jpg``,
    ``SegmentationClass/<name>.png`` (each class in its colour), ``SegmentationObject/<name>.png``
    (each object in a colour of its own), ``labelmap.txt`` (``# label:color_rgb:parts:actions``, one
    ``name:r,g,b::`` line a label, ``background`` first) and ``ImageSets/Segmentation/<subset>.txt``
    listing the names of each subset (CVAT's format page). A mask of background only is a scan
    without a lesion."""
    b = Built(tmp / "task_breast_voc")
    (b.root / "labelmap.txt").parent.mkdir(parents=True, exist_ok=True)
    (b.root / "labelmap.txt").write_text("# label:color_rgb:parts:actions\n" + "".join(
        f"{name}:{','.join(map(str, rgb))}::\n" for name, rgb in VOC_COLOURS.items()))
    subsets: dict[str, list[str]] = {"train": [], "val": []}
    k = 900
    for patient, label in (("P030", "benign"), ("P031", "malignant"), ("P032", "benign"), ("P033", "normal")):
        for n in (1, 2):
            k += 1
            stem = f"{patient}_{n:02d}"
            save(b.root / "JPEGImages" / f"{stem}.jpg", scan(k), "JPEG")
            index = np.zeros(SHAPE, np.uint8)  # CVAT writes palette PNGs: an index per pixel, the colours apart
            if label != "normal":
                index[_blob(k)] = list(VOC_COLOURS).index(label)
            for folder, palette in (("SegmentationClass", [v for rgb in VOC_COLOURS.values() for v in rgb]),
                                    ("SegmentationObject", [0, 0, 0, 128, 0, 0, 0, 128, 0])):
                (b.root / folder).mkdir(exist_ok=True)
                mask = Image.fromarray(index if folder == "SegmentationClass" else (index > 0).astype(np.uint8), "P")
                mask.putpalette(palette)
                mask.save(b.root / folder / f"{stem}.png")
                b.mask_files.add(f"{folder}/{stem}.png")
            b.truth[f"JPEGImages/{stem}.jpg"] = (label, patient, (f"SegmentationClass/{stem}.png",))
            split = "val" if patient == "P033" or (patient == "P032" and n == 2) else "train"
            subsets[split].append(stem)
            b.splits[f"JPEGImages/{stem}.jpg"] = "valid" if split == "val" else "train"
    for subset, stems in subsets.items():
        path = b.root / "ImageSets" / "Segmentation" / f"{subset}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{s}\n" for s in stems))
    b.expect = _expect(table="labelmap.txt", patient_source="file-name prefix", left_out={})
    return b


def build_hf_imagefolder(tmp: Path, fmt: str = "csv") -> Built:
    """A Hugging Face ``imagefolder`` data set as the hub's documentation lays it out: ``data/train/``
    and ``data/test/``, each with its images and a ``metadata.csv`` (or ``metadata.jsonl``, or
    ``metadata.parquet``) whose ``file_name`` column names each image beside it, the other columns
    its features (``label``, ``patient_id``); a ``README.md`` dataset card at the top. Both splits
    number their files from ``0001.png``: only the folder tells them apart."""
    import pandas as pd

    b = Built(tmp / f"hf-breast-us-{fmt}")
    (b.root).mkdir(parents=True)
    (b.root / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_dir: data\n---\n")
    k = 1000
    for split, n in (("train", 6), ("test", 3)):
        rows = []
        for j in range(1, n + 1):
            k += 1
            name = f"{j:04d}.png"
            label = ("benign", "malignant", "normal")[k % 3]
            patient = f"{split}-{j // 2}"
            save(b.root / "data" / split / name, scan(k))
            b.truth[f"data/{split}/{name}"] = (label, patient, ())
            b.splits[f"data/{split}/{name}"] = split
            rows.append({"file_name": name, "label": label, "patient_id": patient})
        frame, path = pd.DataFrame(rows), b.root / "data" / split / f"metadata.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        elif fmt == "jsonl":
            frame.to_json(path, orient="records", lines=True)
        else:
            frame.to_parquet(path, index=False)
    b.expect = _expect(table=ANY, patient_source="column", left_out={})
    return b


def build_roboflow_classification(tmp: Path) -> Built:
    """Roboflow's "Multi-Label Classification" CSV export: ``train/``, ``valid/``, ``test/``, each
    with its renamed images (``<stem>_png.rf.<hash>.jpg``) and a ``_classes.csv`` whose header is
    ``filename, benign, malignant`` (a space after each comma, as Roboflow writes it) and whose
    cells are one-hot 0 / 1."""
    b = Built(tmp / "breast-us.v1i.multiclass")
    k = 1100
    for split, n in _ROBOFLOW_SPLITS:
        lines = ["filename, benign, malignant"]
        for _ in range(n):
            k += 1
            patient = f"P{40 + k % 5:03d}"
            name = roboflow_name(f"{patient}_{k:03d}", k)
            label = "benign" if k % 3 else "malignant"
            save(b.root / split / name, scan(k), "JPEG")
            b.truth[f"{split}/{name}"] = (label, patient, ())
            b.splits[f"{split}/{name}"] = split
            lines.append(f"{name}, {int(label == 'benign')}, {int(label == 'malignant')}")
        (b.root / split / "_classes.csv").write_text("\n".join(lines) + "\n")
    b.expect = _expect(table=ANY, patient_source="file-name prefix", left_out={})
    return b


def build_split_column(tmp: Path) -> Built:
    """One table with a ``split`` column (``train`` / ``val`` / ``test``) beside ``images/``."""
    b = Built(tmp / "split_column")
    rows = []
    for j in range(9):
        k = 1200 + j
        name = f"US{j:03d}.png"
        label, split = ("benign", "malignant")[j % 2], ("train", "val", "test")[j % 3]
        b.image(f"images/{name}", k, label=label, patient=f"case{j // 3}")
        b.splits[f"images/{name}"] = {"val": "valid"}.get(split, split)
        rows.append({"image": name, "diagnosis": label, "case": f"case{j // 3}", "split": split})
    _write_csv(b.root / "labels.csv", rows)
    b.expect = _expect(table="labels.csv", patient_source="column", left_out={})
    return b


#: The labelling tools' and hubs' exports (issue 89): name -> builder.
SOURCE_LAYOUTS: dict[str, Callable[[Path], Built]] = {
    "cvat-coco": build_cvat_coco,
    "roboflow-coco": build_roboflow_coco,
    "label-studio-coco": build_label_studio_coco,
    "cvat-voc": build_cvat_voc,
    "hf-imagefolder-csv": lambda tmp: build_hf_imagefolder(tmp, "csv"),
    "hf-imagefolder-jsonl": lambda tmp: build_hf_imagefolder(tmp, "jsonl"),
    "hf-imagefolder-parquet": lambda tmp: build_hf_imagefolder(tmp, "parquet"),
    "roboflow-classification": build_roboflow_classification,
    "split-column": build_split_column,
}
