"""featbus.make_pipeline is scikit-learn's make_pipeline (imbalanced-learn's with a sampler); the
classification-pipeline builder's old call form under that name warns and still builds it;
FamilyUnion is a top-level name."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from imblearn.over_sampling import RandomOverSampler
from sklearn.pipeline import Pipeline
from sklearn.pipeline import make_pipeline as sklearn_make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import featbus
from featbus import FamilyUnion, HOGFeatures, IntensityStats, LBPFeatures, make_classification_pipeline, make_pipeline
from featbus.testing import make_check_images


def test_steps_form_is_scikit_learns_pipeline():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no FutureWarning for the steps form
        pipe = make_pipeline(HOGFeatures(), SVC())
    ref = sklearn_make_pipeline(HOGFeatures(), SVC())
    assert type(pipe) is Pipeline
    assert list(pipe.named_steps) == list(ref.named_steps) == ["hogfeatures", "svc"]
    assert pipe.get_params(deep=False).keys() == ref.get_params(deep=False).keys()
    images = [r.image for r in make_check_images(6)]
    y = np.array([0, 1] * 3)
    np.testing.assert_array_equal(pipe.fit(images, y).predict(images), ref.fit(images, y).predict(images))


def test_memory_and_verbose_are_passed_on(tmp_path):
    pipe = make_pipeline(IntensityStats(), StandardScaler(), memory=str(tmp_path), verbose=True)
    assert pipe.memory == str(tmp_path) and pipe.verbose is True


def test_a_sampler_step_makes_it_imbalanced_learns_pipeline():
    from imblearn.pipeline import Pipeline as ImbPipeline

    pipe = make_pipeline(IntensityStats(), RandomOverSampler(random_state=0), SVC())
    assert isinstance(pipe, ImbPipeline) and isinstance(pipe, Pipeline)
    images = [r.image for r in make_check_images(6)]
    y = np.array([0, 0, 0, 0, 1, 1])
    assert pipe.fit(images, y).predict(images).shape == (6,)


@pytest.mark.parametrize("args, kwargs", [
    ((["intensity"],), {}),
    (("intensity",), {"classifier": "logistic"}),
    ((None,), {}),
    ((), {}),
    ((), {"features": ["intensity"], "classifier": "svm"}),
])
def test_the_builders_old_form_warns_and_builds_the_same_pipeline(args, kwargs):
    with pytest.warns(FutureWarning, match="make_classification_pipeline"):
        pipe = make_pipeline(*args, **kwargs)
    ref = make_classification_pipeline(*args, **kwargs)
    assert type(pipe) is type(ref) and list(pipe.named_steps) == list(ref.named_steps)


def test_names_mixed_with_estimators_are_refused_with_the_builders_name():
    with pytest.raises(TypeError, match=r"argument 0 is a list.*make_classification_pipeline"):
        make_pipeline(["hog"], SVC())
    with pytest.raises(TypeError, match="make_classification_pipeline"):
        make_pipeline(HOGFeatures(), SVC(), classifier="svm")


def test_family_union_is_a_top_level_name_and_joins_families():
    assert featbus.FamilyUnion is FamilyUnion and "FamilyUnion" in featbus.__all__
    images = [r.image for r in make_check_images(6)]
    union = FamilyUnion([("lbp", LBPFeatures()), ("intensity", IntensityStats())]).fit(images)
    assert union.transform(images).shape == (6, sum(union.family_widths_))
