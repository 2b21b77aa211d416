"""The one join between a table and its files (:mod:`featbus.datasets._release_join`), form by form: a
release's own table's cells (:func:`find`: paths, names, IDs, any case), a breast's views by the name's
first tokens, a case folder's files, and what a row looked for when nothing joined."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from featbus.datasets._release_join import FOLDER, NESTED, TOKENS, find, index, join

FILES = [Path("images/benign/bus_0001-l.png"), Path("images/malignant/bus_0002-r.png"), Path("scans/007.png"),
         Path("scans/sub/Case A.PNG"), Path("dicom/1.2.840.5")]


def test_a_cell_finds_its_file_by_path_name_or_id_in_any_case():
    files = index(FILES)
    for cell, want in [("images/benign/bus_0001-l.png", 0),  # the path as written
                       ("images\\Benign\\BUS_0001-L.PNG", 0),  # Windows separators, any case
                       ("./images/malignant/bus_0002-r", 1),  # a leading ./, no extension
                       ("benign/bus_0001-l.png", 0),  # a tail of the path
                       ("C:/export/bus_0002-r.png", 1),  # its name alone, the folder another machine's
                       ("bus_0001-l", 0), ("0001-L", 0),  # the stem, the stem without its leading word
                       ("7", 2), ("007", 2), ("7.0", 2),  # a number without its leading zeros, as Excel writes it
                       ("case a.png", 3),  # a name with a space, any case
                       ("1.2.840.5", 4)]:  # a DICOM UID named with its last dot, no extension
        assert find(files, cell) == FILES[want], cell
    for cell in ["", "  ", "bus_0003-l.png", "benign", "../bus_0001-l.png/x"]:
        assert find(files, cell) is None, cell


def test_a_key_two_files_share_finds_neither():
    files = index([Path("a/x.png"), Path("b/x.png"), Path("c/bus_9.png"), Path("c/img_9.png")])
    assert find(files, "x.png") is None and find(files, "9") is None
    assert find(files, "a/x.png") == Path("a/x.png")  # the longer tail is one file's


def test_a_cell_written_decomposed_finds_a_name_stored_composed():
    name = unicodedata.normalize("NFC", "échographie 1.png")
    cell = unicodedata.normalize("NFD", name)
    assert cell != name and find(index([Path(name)]), cell) == Path(name)
    assert find(index([Path(cell)]), name) == Path(cell)


def test_a_breasts_views_join_by_the_names_first_tokens():
    """CMMD's conversions name each view ``<ID1>_<LeftRight>_<view>.png``: a row (a breast) names its views."""
    files = [Path("png/D1-0001_L_CC.png"), Path("png/D1-0001_L_MLO.png"), Path("png/D1-0001_R_CC.png")]
    got = join([["D1-0001", "L"], ["D1-0001", "R"], ["D1-0002", "L"]], files, ("ID1", "LeftRight"), many=True)
    assert got.separator == TOKENS and got.files == [files[:2], files[2:], []]
    assert got.words == "ID1 + LeftRight (png/<ID1>_<LeftRight>_*.png)"
    assert got.expected(["D1-0002", "L"]) == "png/D1-0002_L_*.png"
    one = join([["D1-0001", "L"], ["D1-0001", "R"]], files, ("ID1", "LeftRight"))  # one file a row: never a guess
    assert one.files == [None, files[2]]


def test_a_breasts_views_join_under_the_patients_folder():
    """A conversion with a folder per patient (``<ID1>/<LeftRight>_<view>.png``): the row's patient is the
    folder, its side the name's first token. The side alone names no file: it is no key of its own (it joined
    every patient's left views to each left breast's row)."""
    files = [Path("png/D1-0001/L_CC.png"), Path("png/D1-0001/L_MLO.png"), Path("png/D1-0002/L_CC.png")]
    got = join([["D1-0001", "L"], ["D1-0002", "L"], ["D1-0003", "L"]], files, ("ID1", "LeftRight"), many=True)
    assert got.separator == NESTED and got.files == [files[:2], files[2:], []]
    assert got.words == "ID1 + LeftRight (png/<ID1>/<LeftRight>_*.png)"
    assert got.expected(["D1-0003", "R"]) == "png/D1-0003/R_*.png"
    alone = join([["D1-0001", "L"], ["D1-0002", "L"]], [Path("png/L_CC.png")], ("ID1", "LeftRight"), many=True)
    assert alone.files == [[], []]


def test_an_id_joins_the_names_first_token():
    """INbreast's ``File Name`` is each file name's first token (its cell as Excel saves a number too)."""
    files = [Path("AllPNGs/22678622_61b13c59bcba149e_MG_R_CC_ANON.png"),
             Path("AllPNGs/22678646_61b13c59bcba149e_MG_R_ML_ANON.png")]
    got = join([["22678622"], ["22678646.0"], ["1"]], files, ("File Name",))
    assert got.separator == TOKENS and got.files == files + [None]
    assert got.expected(["1"]) == "AllPNGs/1_*.png"


def test_a_case_folder_names_every_file_in_it_at_any_depth():
    """CBIS-DDSM's tree: the description table's first path part is a folder on disk holding the scan."""
    files = [Path("CBIS-DDSM/Mass-Training_P_00001_LEFT_CC/07-20/1.3.6.1/1-1.dcm"),
             Path("CBIS-DDSM/Mass-Training_P_00001_LEFT_CC_1/07-21/1.3.6.2/1-1.dcm"),
             Path("CBIS-DDSM/Mass-Training_P_00001_LEFT_CC_1/07-21/1.3.6.2/1-2.dcm")]
    got = join([["Mass-Training_P_00001_LEFT_CC"], ["mass-training_p_00001_left_cc_1"], ["Calc-Test_P_9_LEFT_CC"]],
               files, ("image file path",), many=True)
    assert got.separator == FOLDER and got.files == [files[:1], files[1:], []]
    assert got.expected(["Calc-Test_P_9_LEFT_CC"]) == "CBIS-DDSM/Calc-Test_P_9_LEFT_CC/*"


def test_a_table_joining_nothing_says_the_publishers_form_whatever_the_extension():
    got = join([["p1", "i1"]], [Path("other/x.png")], ("patient_id", "image_id"),
               publisher=("train_images/p/i.*", ("p", "i"), "/"))
    assert got.files == [None] and got.example == "train_images/p/i.*"
    assert got.expected(["p1", "i1"]) == "train_images/p1/i1.*"
    assert join([["p1", "i1"]], [], ("patient_id", "image_id"), many=True).files == [[]]
