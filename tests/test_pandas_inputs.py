"""The inputs a pandas user has: Series and one-column DataFrames of paths, images or records,
NumPy arrays of paths; one colour image refused with both readings; an image's error names its
file and its label in the caller's X, inside cross-validation too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

from featbus import (
    CLAHE,
    DuplicateGroupKFold,
    FamilyUnion,
    ImageError,
    ImageRecord,
    IntensityStats,
    LBPFeatures,
    make_pipeline,
)
from featbus._records import caller_positions

N = 24


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(N):
        path = tmp_path / f"scan {i}.png"
        Image.fromarray(rng.integers(0, 256, (32, 40), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def _rows(X):
    return IntensityStats(cache=False, progress=False).fit_transform(X)


def test_series_and_one_column_frames_are_read_as_the_list(files):
    ref = _rows(files[:4])
    images = [np.asarray(Image.open(p)) for p in files[:4]]
    records = [ImageRecord(im, path=p) for im, p in zip(images, files[:4])]
    for X in (pd.Series(files[:4]), pd.DataFrame({"path": files[:4]}), pd.Series(images), pd.Series(records),
              pd.DataFrame({"image": pd.Series(images)}), pd.Series(files[:4], index=[10, 11, 12, 13])):
        np.testing.assert_array_equal(_rows(X), ref)


@pytest.mark.parametrize("make", [np.array, lambda p: np.array(p, dtype=object),
                                  lambda p: np.array([Path(x) for x in p], dtype=object)],
                         ids=["str", "object-str", "object-Path"])
def test_numpy_arrays_of_paths_are_read(files, make):
    X = make(files[:3])
    assert X.ndim == 1
    np.testing.assert_array_equal(_rows(X), _rows(files[:3]))


@pytest.mark.parametrize("channels", [3, 4])
def test_one_colour_image_is_refused_with_both_readings(channels):
    image = np.random.default_rng(0).integers(0, 256, (48, 40, channels), dtype=np.uint8)
    with pytest.raises(ValueError) as err:
        IntensityStats().fit(image)
    msg = str(err.value)
    assert f"one colour image (48x40 pixels, {channels} channels)" in msg
    assert f"48 gray images of 40x{channels} pixels" in msg
    assert "[image]" in msg and "image[None]" in msg
    # both ways it names work
    np.testing.assert_array_equal(_rows([image]), _rows(image[None]))


def test_a_frame_of_several_columns_is_refused_naming_them_and_column_transformer_picks_one(files):
    frame = pd.DataFrame({"path": files[:6], "label": ["benign", "malignant"] * 3, "age": range(6)})
    with pytest.raises(ValueError, match=r"3 columns \('path', 'label', 'age'\).*X\['path'\].*ColumnTransformer"):
        IntensityStats().fit(frame)
    picked = ColumnTransformer([("intensity", IntensityStats(cache=False, progress=False), "path")])
    np.testing.assert_allclose(picked.fit_transform(frame), _rows(files[:6]))


def test_caller_positions_are_the_pandas_labels():
    s = pd.Series(["a", "b", "c", "d"])
    assert caller_positions(s) is None  # 0..n-1: position and label agree
    assert caller_positions(s.iloc[[3, 1]]) == [3, 1]
    assert caller_positions(["a", "b"]) is None and caller_positions(np.array(["a"])) is None


def _search(pipe, X):
    y = np.arange(N) % 2
    groups = np.arange(N) // 2
    search = GridSearchCV(pipe, {"svc__C": [1.0]}, cv=DuplicateGroupKFold(3), error_score="raise")
    return search.fit(X, y, groups=groups)


@pytest.mark.parametrize("pipe", [
    lambda: make_pipeline(IntensityStats(progress=False), SVC()),
    lambda: make_pipeline(CLAHE(), IntensityStats(progress=False), SVC()),  # a preprocessor passes the labels on
    lambda: make_pipeline(FamilyUnion([("lbp", LBPFeatures(progress=False)),
                                       ("intensity", IntensityStats(progress=False))]), SVC()),
], ids=["extractor", "preprocessor-then-extractor", "family-union"])
@pytest.mark.parametrize("kind", ["series", "frame"])
def test_errors_inside_cross_validation_name_the_image_of_the_callers_x(files, pipe, kind):
    paths = list(files)
    paths[17] = str(Path(files[0]).parent / "gone.png")  # the 18th image of X
    X = pd.Series(paths) if kind == "series" else pd.DataFrame({"path": paths})
    with pytest.raises(FileNotFoundError, match=r"^image 17: '.*gone\.png': no such image file"):
        _search(pipe(), X)
    images = [np.asarray(Image.open(p)) for p in files]
    images[17] = images[17][:4, :4]  # too small
    with pytest.raises(ImageError, match=r"^image 17: is 4x4 pixels") as err:
        _search(pipe(), pd.Series(images))
    assert err.value.index == 17


def test_a_list_inside_cross_validation_names_the_file(files):
    """A list reaches each fold as a new list: the error names the file and its place there."""
    paths = list(files)
    paths[17] = str(Path(files[0]).parent / "gone.png")
    with pytest.raises(FileNotFoundError, match=r"gone\.png"):
        _search(make_pipeline(IntensityStats(progress=False), SVC()), paths)


def test_an_index_label_is_named_outside_cross_validation(files):
    X = pd.Series([files[0], str(Path(files[0]).parent / "gone.png")], index=["case-a", "case-b"])
    with pytest.raises(FileNotFoundError, match=r"^image 'case-b': '.*gone\.png'"):
        IntensityStats().fit_transform(X)


def test_a_preprocessor_keeps_a_series_and_its_index(files):
    X = pd.Series(files[:3], index=[5, 7, 9])
    out = CLAHE().fit_transform(X)
    assert isinstance(out, pd.Series) and list(out.index) == [5, 7, 9]
    assert all(isinstance(r, ImageRecord) for r in out)
    assert isinstance(CLAHE().fit_transform(files[:3]), list)
