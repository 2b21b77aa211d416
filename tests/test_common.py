"""Common checks on every public featbus estimator, read from the one registry.

Every class in :data:`featbus._registry.ESTIMATORS` is checked with the constructor arguments
its entry gives (``check_params``): a new feature family, preprocessor, network, sampler or
segmenter is checked here as soon as it is registered, without touching this file. Image
estimators get :mod:`featbus.testing.estimator_checks` (scikit-learn's API checks plus image versions
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
import inspect
import os

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import featbus
from featbus import features as feature_module
from featbus._registry import ESTIMATORS
from featbus.testing import image_transformer_checks  # the public entry, as another project uses it
from featbus.testing.estimator_checks import _SKLEARN_API_CHECKS, all_estimators, check_images_for, check_instances

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
    """featbus's public classes that are estimators are exactly the registry's, but for the
    composite FamilyUnion (a FeatureUnion of registered extractors: tested in test_pipelines)."""
    from sklearn.pipeline import FeatureUnion

    public = {n for n in featbus.__all__ if isinstance(getattr(featbus, n, None), type)
              and hasattr(getattr(featbus, n), "get_params")}
    composites = {n for n in public if issubclass(getattr(featbus, n), FeatureUnion)}
    assert composites == {"FamilyUnion"}
    assert public - composites == set(ESTIMATORS)
    from featbus._registry import FEATURES

    for name, (module, cls) in FEATURES.items():  # the short names point at registered classes
        assert ESTIMATORS[cls].module == module and ESTIMATORS[cls].kind == "features", name
        if not ESTIMATORS[cls].backend:  # each handcrafted family has its function twins
            assert callable(getattr(feature_module, f"{name}_features"))
            assert callable(getattr(feature_module, f"{name}_feature_names"))


def _tabular_estimators():
    from sklearn.linear_model import LogisticRegression

    from featbus.pipelines import EncodedLabelClassifier, LesionThenMalignancy

    # absent=99: a class none of scikit-learn's check labels hold (numbers), so every check's
    # classes are lesion classes; classes_ then holds 99 besides them, by design
    return [EncodedLabelClassifier(LogisticRegression()), LesionThenMalignancy(LogisticRegression(), absent=99)]


def _expected_failures(estimator) -> dict[str, str]:
    """The checks an estimator fails by design, each with its reason."""
    if type(estimator).__name__ == "LesionThenMalignancy":
        why = ("classes_ always holds the absent class, which no check label is, and p(absent) is 1 minus the "
               "presence column (a probability, not a learnt feature), so the check's blobs are not learnt")
        return {"check_classifiers_classes": why, "check_classifiers_train": why}
    return {}


# xfail_strict (scikit-learn >= 1.7): an expected failure that passes fails the run
_STRICT = {"xfail_strict": True} if "xfail_strict" in inspect.signature(parametrize_with_checks).parameters else {}


@parametrize_with_checks(_tabular_estimators(), expected_failed_checks=_expected_failures, **_STRICT)
def test_tabular_estimator(estimator, check):
    check(estimator)


_NEW_FAMILY = '''
"""A family written as a user would: a module and nothing else."""
import numpy as np

from featbus._base import BaseFeatureExtractor


def edges_feature_names():
    return ["edges.mean_gradient", "edges.strong_share"]


def edges_features(image, mask=None):
    gy, gx = np.gradient(image.astype(float))
    magnitude = np.hypot(gx, gy) if mask is None else np.hypot(gx, gy)[mask]
    return np.array([magnitude.mean(), (magnitude > 0.05).mean()])


class EdgeFeatures(BaseFeatureExtractor):
    """Mean gradient magnitude and the share of strong edges."""

    _prefix = "edges"

    def __init__(self, region="image", empty_mask="image", n_jobs=None, cache=None, progress="auto"):
        self.region = region
        self.empty_mask = empty_mask
        self.n_jobs = n_jobs
        self.cache = cache
        self.progress = progress

    def _fit_features(self, items):
        return edges_feature_names()

    def _features(self, image, mask):
        return edges_features(image, mask)
'''


def test_a_new_family_is_one_module_and_one_registry_entry(tmp_path, monkeypatch, capsys):
    """Registering a family is all it takes: make_features, settings files, the command line and
    its help, and the common checks pick it up."""
    from PIL import Image

    from featbus import _registry
    from featbus.cli import main
    from featbus.datasets import make_phantoms
    from featbus.pipelines import make_features
    from featbus.pipelines.settings import read_settings, settings_extractors

    (tmp_path / "featbus_edges_family.py").write_text(_NEW_FAMILY)
    monkeypatch.syspath_prepend(str(tmp_path))
    _registry.register("EdgeFeatures", _registry.EstimatorEntry("featbus_edges_family", "features", name="edges",
                                                                check_params=({}, {"region": "mask"})))
    try:
        union = make_features("edges,intensity", region="mask", progress=False)
        assert union.transformer_list[0][1].region == "mask"
        assert [n for n, _ in all_estimators("features") if n == "EdgeFeatures"] == ["EdgeFeatures"]
        for est in check_instances("EdgeFeatures"):
            for check in image_transformer_checks(est, check_images_for("EdgeFeatures")):
                check()
        (tmp_path / "edges.yaml").write_text("features:\n  edges: {empty_mask: raise}\n")
        (name, est), = settings_extractors(read_settings(tmp_path / "edges.yaml"))
        assert name == "edges" and est.empty_mask == "raise"

        with pytest.raises(SystemExit):
            main(["extract", "--help"])
        assert "edges" in capsys.readouterr().out
        data = tmp_path / "data"
        ph = make_phantoms(8, image_size=48, random_state=0)
        for i, (im, t) in enumerate(zip(ph.images, ph.target)):
            (data / str(ph.target_names[t])).mkdir(parents=True, exist_ok=True)
            Image.fromarray(im).save(data / str(ph.target_names[t]) / f"{i}.png")
        out = tmp_path / "edges.csv"
        assert main(["extract", str(data), "-f", "edges", "-o", str(out), "-q"]) == 0
        header = out.read_text().splitlines()[0]
        assert "edges__edges.mean_gradient" in header and "edges__edges.strong_share" in header
    finally:
        _registry.unregister("EdgeFeatures")
    assert "edges" not in _registry.FEATURES
