"""The layout words of featbus, kept as data in one place: the words a mask file or a mask folder
carries, the folder names that are containers (never a class), the usual names of a table's image,
label, patient and pixel-size columns, the spellings of the classes. The release reader
(:mod:`featbus.datasets._release_rules` holds its rules over these words), ``featbus predict``'s
listing and every message read them here; a release that names things another way is one more word
here. This package imports nothing heavy, so ``featbus predict`` reads it without the data-set loaders.

Sources of the words (each release's own documentation): BUSI (``<name>_mask.png``,
``<name>_mask_1.png``), BUS-BRA (``Images/bus_0001-l.png`` with ``Masks/mask_0001-l.png``, ``Case``),
BrEaST-Lesions-USG (``case001_tumor.png``, ``case001_other1.png``, ``CaseID``, ``Image_filename``,
``Mask_tumor_filename``), BUSI-WHU / STU-Hospital / BUS-CoT (``images/`` + ``masks/`` or ``GT/``),
OASBUD and GDPH&SYSUCC (patient folders), hospitals' exports (``original/`` + ``GT/``, ``PatientID``).
"""

from __future__ import annotations

import re

#: Table and annotation files (a delimiter sniffed; Excel's .xlsx through openpyxl, .xls through xlrd when
#: installed; Hugging Face's metadata.jsonl / .parquet; a .json is an annotation file when a source reads it).
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xls", ".jsonl", ".parquet", ".json")
#: Image formats featbus does not read (an animated GIF): such a file is left out, named, never skipped unsaid.
NOT_READ_IMAGES = (".gif", ".webp", ".heic", ".jp2", ".avif")
#: Files never read as a table (a release's notes).
NOT_TABLES = re.compile(r"^(readme|license|licence|citation|changelog|notes?)\b", re.IGNORECASE)

#: Words a mask file adds to its image's name, before or after the stem with any separator (``a_mask.png``,
#: ``a-GT.png``, ``mask_a.png``, ``a_tumor.png``, ``a_mask_1.png``): the release reader's rule and
#: ``featbus predict``'s, which leaves such files out of the scans.
MASK_WORDS = ("mask", "masks", "seg", "segmentation", "gt", "groundtruth", "tumor", "tumour", "lesion", "roi",
              "label", "annotation", "other")
#: Mask words of findings that are not the lesion (BrEaST-Lesions-USG's ``_other1``): paired, never the lesion.
NON_LESION_MASK_WORDS = ("other",)
#: A folder whose name says it holds masks.
MASK_FOLDER = re.compile(r"mask|^gts?$|ground.?truth|segmentation|annotation|^rois?$|^labels?(?:tr|ts)?$",
                         re.IGNORECASE)


#: Folder names that hold a release's files without saying anything about them: never a class,
#: never a patient (compared without case, spaces, ``_`` or ``-``).
CONTAINER_FOLDERS = ("images", "image", "imgs", "img", "original", "originals", "data", "dataset", "datasets",
                     "raw", "scans", "scan", "frames", "png", "jpg", "jpeg", "dicom", "dcm", "files", "us",
                     "ultrasound", "bmode", "jpegimages")
#: Folder names of a release's published splits (``train/``, ``val/``, ``test/``): never a class.
SPLIT_FOLDERS = ("train", "training", "val", "valid", "validation", "test", "testing", "trainval", "traintest",
                 "dev", "holdout")
#: A published split's spellings (a folder or a split column's value, compared without case, spaces, ``_``
#: or ``-``), as the split it is (:attr:`~featbus.datasets.Release.splits`).
SPLITS = {"train": "train", "training": "train", "val": "valid", "valid": "valid", "validation": "valid",
          "dev": "valid", "test": "test", "testing": "test", "holdout": "test"}
#: The DICOM header attributes a table's key column may hold in place of file names (a PACS export's
#: labels keyed by ``SOPInstanceUID``); a table column named as another DICOM keyword is matched too.
DICOM_KEY_FIELDS = ("SOPInstanceUID", "AccessionNumber", "StudyInstanceUID", "SeriesInstanceUID", "PatientID")
#: The renamings labelling tools apply to an uploaded file's name, each keeping the original stem in
#: ``stem``: Roboflow's ``<stem>_<ext>.rf.<hash>`` (``P017_003_png.rf.9f8e...``) and Label Studio's
#: ``<8 hex>-<stem>`` upload prefix (``1a2b3c4d-P017_003``).
RENAMINGS = {"Roboflow's '<name>_<ext>.rf.<hash>'": re.compile(r"^(?P<stem>.+)_[a-z0-9]{2,5}\.rf\.[0-9a-f]{16,}$",
                                                               re.IGNORECASE),
             "Label Studio's '<hash>-<name>'": re.compile(r"^(?=\d*[a-f])[0-9a-f]{8}-(?P<stem>.+)$", re.IGNORECASE)}
#: Words an image's own name carries where its mask's name carries a mask word (``1 Benign Image.bmp`` with
#: ``1 Benign Mask.tif``, STU-Hospital's ``Test_Image_4.png`` with ``mask_4.png``).
IMAGE_WORDS = ("image", "images", "img", "scan", "original", "frame", "us")
#: An image's mask files by their word, best first: where files of several words name one image, those
#: of the best word are its masks and the others (BUID's ``Lesion.bmp``, a drawing over the scan) are
#: left out as masks, said (``folder``: a mask folder's file; ``pattern``: ``--mask-pattern``'s).
MASK_WORD_RANK = ("pattern", "folder", "mask", "masks", "seg", "segmentation", "gt", "groundtruth", "tumor", "tumour",
                  "roi", "label", "annotation", "lesion")
#: The most sub-folders read as classes when nothing else labels the images (more are patients).
MAX_CLASS_FOLDERS = 10

#: The usual names of a table's column naming each image's file (compared as :func:`column_key`).
IMAGE_COLUMNS = ("image", "images", "file", "filename", "name", "path", "imagename", "imagefile", "imagepath",
                 "img", "imagefilename", "id", "imageid")
#: The usual names of a patient column.
PATIENT_COLUMNS = ("patient", "patientid", "patientno", "patientnumber", "case", "caseid", "caseno", "casenumber",
                   "subject", "subjectid", "woman", "participant", "participantid", "mrn", "accession")
#: The usual names of a study's, series' or exam's id column (DICOM's own UIDs among them): with the patient and
#: image columns, the columns whose values are ids, never classes (a folder level so named is that level).
STUDY_COLUMNS = ("study", "studyid", "studyuid", "studyinstanceuid", "series", "seriesid", "seriesuid",
                 "seriesinstanceuid", "exam", "examid", "accessionnumber", "sopinstanceuid", "visit", "visitid")
#: The usual names of a label column (the values decide first: :data:`LABEL_SPELLINGS`).
LABEL_COLUMNS = ("label", "class", "diagnosis", "pathology", "histology", "category", "classification", "target",
                 "cancer", "malignancy")
#: Words in a column's name that say it names mask files (``Mask_tumor_filename``).
MASK_COLUMN_WORDS = ("mask", "segmentation", "gt", "groundtruth", "roi")
#: The usual names of a column giving each image's physical pixel size (compared as :func:`column_key`,
#: brackets dropped, a unit of :data:`PIXEL_UNITS` after the name: ``Pixel_size``, ``pixel_size_mm``,
#: ``Pixel spacing (mm)``); the values decide too: positive numbers (:func:`pixel_size_column`).
#: ``PixelSpacing``, DICOM's own attribute name, is in millimetres as DICOM defines it.
PIXEL_SIZE_COLUMNS = {"pixelsize": None, "pixelspacing": "mm", "spacing": None, "pixelpitch": None,
                      "mmperpixel": "mm", "mmperpx": "mm", "pixelsizemm": "mm"}
#: A pixel-size column's unit words (after its name), in millimetres.
PIXEL_UNITS = {"mm": 1.0, "cm": 10.0, "um": 1e-3, "µm": 1e-3, "micron": 1e-3, "microns": 1e-3,
               "micrometre": 1e-3, "micrometer": 1e-3}

#: A label column's values, any case: the class each spelling means.
LABEL_SPELLINGS = {
    "benign": ("benign", "benigno", "benigna", "benin", "bénin", "benignant", "b"),
    "malignant": ("malignant", "maligno", "maligna", "malin", "malign", "m"),
    "normal": ("normal", "normale", "no lesion", "nolesion", "n"),
}
#: Single-letter spellings count only in a column whose every value is one of them (a density column's A-D is
#: no class's: :func:`featbus.datasets._release_rules.letter_codes`).
LETTER_SPELLINGS = {"b", "m", "n"}


#: Words that make a folder named for masks hold images too (``images_and_masks``).
IMAGES_TOO = re.compile(r"image|img|original|scan|\band\b|[_\-]and[_\-]", re.IGNORECASE)

#: Names a folder of every image (unlabelled copies of the class folders' images) usually has,
#: compared without case, spaces, ``_`` or ``-``.
ALL_FOLDER_NAMES = ("all", "allimages", "alldata", "everything", "combined", "complete", "full", "whole",
                    "dataset", "unlabelled", "unlabeled", "mixed")
#: The layouts featbus reads as a labelled data set, for messages.
WORKING_LAYOUTS = ("one sub-folder per class (DATA/benign/*.png with masks beside them as <name>_mask.png, or "
                   "DATA/benign/images/ + DATA/benign/masks/), a CSV manifest (columns image,label[,mask,group]) or "
                   "a table, CSV or Excel, beside images/ and masks/ or original/ and GT/ (a hospital's export: "
                   "--image-column, --label-column, --group-column, --group-pattern)")
