"""Common checks on every public featbus estimator, read from the one registry.

Every class in :data:`featbus._registry.ESTIMATORS` is checked with the constructor arguments
its entry gives (``check_params``): a new feature family, preprocessor, network, sampler or
segmenter is checked here as soon as it is registered, without touching this file. Image
estimators get :mod:`featbus.estimator_checks` (scikit-learn's API checks plus image versions
of its data checks; ``parametrize_with_checks`` skips them because they do not take a 2-D
array); estimators with tabular input get scikit-learn's own ``parametrize_with_checks``.
Estimators that run a network are checked when a deep-learning backend is installed. Each of
their fits trains or builds a network (10-70 s here), so by default they get the checks that
need no fit (scikit-learn's API checks, declared parameter constraints); FEATBUS_FULL_CHECKS=1
runs every check on them (all passed; 18 minutes on a 2-core CPU). Their fitted behaviour
(round trips, determinism, pandas output, grid search) is tested in test_finetune, test_deep,
test_recipes and test_segmentation.
"""

import importlib.util
import os

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import featbus
from featbus._registry import ESTIMATORS
from featbus.estimator_checks import (
    _SKLEARN_API_CHECKS,
    all_estimators,
    check_images_for,
    check_instances,
    image_transformer_checks,
)

HAS_BACKEND = any(importlib.util.find_spec(m) for m in ("tensorflow", "jax", "torch"))
NETWORK_CHECKS = {*_SKLEARN_API_CHECKS, "check_parameter_constraints"}


def _cases():
    params, ids = [], []
    for name, _ in all_estimators(backend=None if HAS_BACKEND else False):
        only = None
        if ESTIMATORS[name].backend and not os.environ.get("FEATBUS_FULL_CHECKS"):
            only = NETWORK_CHECKS
        X = check_images_for(name)
        for k, est in enumerate(check_instances(name)):
            for check in image_transformer_checks(est, X, only=only):
                params.append(check)
                ids.append(f"{name}{k or ''}-{check.__name__}")
    return pytest.mark.parametrize("check", params, ids=ids)


@_cases()
def test_image_estimator(check):
    check()


def test_every_public_estimator_is_registered():
    """featbus's public classes that are estimators are exactly the registry's."""
    public = {n for n in featbus.__all__ if isinstance(getattr(featbus, n, None), type)
              and hasattr(getattr(featbus, n), "get_params")}
    assert public == set(ESTIMATORS)
    from featbus._registry import FEATURES

    for name, (module, cls) in FEATURES.items():  # the short names point at registered classes
        assert ESTIMATORS[cls].module == module and ESTIMATORS[cls].kind == "features", name


def _tabular_estimators():
    from sklearn.linear_model import LogisticRegression

    from featbus.pipelines import EncodedLabelClassifier

    return [EncodedLabelClassifier(LogisticRegression())]


@parametrize_with_checks(_tabular_estimators())
def test_tabular_estimator(estimator, check):
    check(estimator)
