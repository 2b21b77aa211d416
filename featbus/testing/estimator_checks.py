"""Common checks for estimators that take images.

scikit-learn's :func:`~sklearn.utils.estimator_checks.parametrize_with_checks` feeds every
estimator a 2-D numeric array; featbus transformers take a sequence of images instead (their
``input_tags.two_d_array`` tag is ``False``, so scikit-learn skips them). This module gives them
the same treatment with image inputs, as imbalanced-learn and nilearn do for their own input
conventions: the API checks of scikit-learn that need no data, plus image versions of the data
checks (fit returns self, determinism, idempotent fit, clone and pickle, feature names, pandas
output, per-image independence, input kinds, ``n_jobs`` invariance, input left untouched, a place
in a ``Pipeline`` inside ``GridSearchCV``).

Use :func:`check_image_estimator` (one call, every check) or :func:`parametrize_with_image_checks`
(one pytest test per check) on your own transformer; both are importable from
:mod:`featbus.testing`.

scikit-learn's :func:`~sklearn.utils.estimator_checks.check_estimator` passes on an image
estimator without testing it: the image tags make it skip every check that feeds data, so only
the API checks run. These checks are the ones that apply.

Examples
--------
>>> from featbus import IntensityStats
>>> from featbus.testing.estimator_checks import image_transformer_checks
>>> for check in image_transformer_checks(IntensityStats()):
...     check()
"""

from __future__ import annotations

import copy
import functools
import pickle
from collections.abc import Callable, Collection, Iterator

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as sk_checks
from sklearn.utils import get_tags

from .._records import ImageRecord

__all__ = ["all_estimators", "check_image_estimator", "check_images_for", "check_instances", "make_check_images",
           "image_transformer_checks", "parametrize_with_image_checks"]

# scikit-learn checks that look at the API only, never at data: they apply to image estimators as is.
_SKLEARN_API_CHECKS = (
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_repr",
    "check_estimator_cloneable",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_valid_tag_types",
    "check_estimator_tags_renamed",
    "check_mixin_order",
)


def make_check_images(n_images: int = 6, size: int = 64, random_state: int = 0) -> list[ImageRecord]:
    """Small synthetic records for the checks: textured uint8 images of two sizes with an
    elliptic dark lesion and its mask (the last image has an empty mask, as a normal case).

    Examples
    --------
    >>> recs = make_check_images(3)
    >>> [r.image.shape for r in recs]
    [(64, 64), (72, 64), (64, 64)]
    """
    rng = np.random.default_rng(random_state)
    records = []
    for i in range(n_images):
        h = size + (8 if i % 2 else 0)
        yy, xx = np.mgrid[:h, :size].astype(np.float32)
        background = 120 + 40 * np.sin(xx / (3 + i)) + 30 * np.cos(yy / 5.0)
        speckle = rng.gamma(4.0, 0.25, size=(h, size))
        cy, cx = h / 2 + rng.uniform(-6, 6), size / 2 + rng.uniform(-6, 6)
        ry, rx = rng.uniform(6, 12), rng.uniform(8, 16)
        mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        if i == n_images - 1 and n_images > 1:
            mask[:] = False
        image = background * speckle
        image[mask] *= 0.35
        records.append(ImageRecord(np.clip(image, 0, 255).astype(np.uint8), mask,
                                   meta={"check_index": i}))
    return records


def all_estimators(kind: str | None = None, *, backend: bool | None = None) -> list[tuple[str, type]]:
    """Every public featbus estimator class, as ``(name, class)`` pairs sorted by name.

    Read from the one registry (:data:`featbus._registry.ESTIMATORS`), as scikit-learn's
    :func:`~sklearn.utils.all_estimators` reads its package.

    Parameters
    ----------
    kind : {"features", "preprocessor", "network", "sampler", "segmenter"}, optional
        Only estimators of this kind.
    backend : bool, optional
        ``False``: only those that need no deep-learning backend; ``True``: only those that do.

    Examples
    --------
    >>> from featbus.testing.estimator_checks import all_estimators
    >>> [name for name, _ in all_estimators("sampler")]
    ['ImageAugmenter']
    """
    from importlib import import_module

    from .._registry import ESTIMATORS

    kinds = {e.kind for e in ESTIMATORS.values()}
    if kind is not None and kind not in kinds:
        raise ValueError(f"kind must be one of {sorted(kinds)}, got {kind!r}")
    return [(name, getattr(import_module(e.module), name)) for name, e in sorted(ESTIMATORS.items())
            if (kind is None or e.kind == kind) and (backend is None or e.backend == backend)]


def check_instances(name: str) -> list:
    """The instances the common checks run for the registered estimator ``name`` (from its
    ``check_params``).

    Examples
    --------
    >>> from featbus.testing.estimator_checks import check_instances
    >>> check_instances("LBPFeatures")
    [LBPFeatures(), LBPFeatures(region='mask')]
    """
    from .._registry import ESTIMATORS

    return [_build(name, params) for params in ESTIMATORS[name].check_params]


def check_images_for(name: str, X: list[ImageRecord] | None = None) -> list[ImageRecord]:
    """The check images fed to the registered estimator ``name``: :func:`make_check_images`,
    through the step its ``check_input`` names (an ``ROICropper`` for ``RoiFoundFlag``)."""
    from .._registry import ESTIMATORS

    X = make_check_images() if X is None else X
    step = ESTIMATORS[name].check_input
    return X if step is None else list(_build(*step).fit_transform(X))


def _build(cls_name: str, params: dict):
    """A registered estimator from its name and arguments; an argument ``(name, arguments)``
    naming a registered estimator is built too."""
    from importlib import import_module

    from .._registry import ESTIMATORS

    params = {k: _build(*v) if isinstance(v, tuple) and len(v) == 2 and v[0] in ESTIMATORS else v
              for k, v in params.items()}
    return getattr(import_module(ESTIMATORS[cls_name].module), cls_name)(**params)


def _labels(est, X) -> np.ndarray | None:
    """Labels for an estimator that needs them (two classes, alternating), else ``None``."""
    return np.arange(len(X)) % 2 if get_tags(est).target_tags.required else None


def _fit(est, X):
    y = _labels(est, X)
    return est.fit(X) if y is None else est.fit(X, y)


def _as_2d(Xt) -> np.ndarray:
    return np.asarray(Xt.to_numpy() if hasattr(Xt, "to_numpy") else Xt, dtype=np.float64)


def check_fit_returns_self(est, X):
    assert _fit(clone(est), X) is not None
    e = clone(est)
    assert _fit(e, X) is e, f"{type(est).__name__}.fit must return self"


def check_unfitted_transform_raises(est, X):
    if not get_tags(est).requires_fit:
        return
    try:
        clone(est).transform(X)
    except NotFittedError:
        return
    raise AssertionError(f"{type(est).__name__}.transform before fit must raise NotFittedError")


def check_deterministic_and_idempotent(est, X):
    a = _fit(clone(est), X)
    out1 = a.transform(X)
    out2 = _fit(a, X).transform(X)
    out3 = _fit(clone(est), X).transform(X)
    _assert_same_output(out1, out2, "transform after a second fit")
    _assert_same_output(out1, out3, "transform of an independently fitted clone")


def check_clone_and_pickle(est, X):
    fitted = _fit(clone(est), X)
    ref = fitted.transform(X)
    restored = pickle.loads(pickle.dumps(fitted))
    _assert_same_output(ref, restored.transform(X), "transform after a pickle round trip")
    again = pickle.loads(pickle.dumps(clone(est)))
    _assert_same_output(ref, _fit(again, X).transform(X), "a pickled unfitted clone")


def check_feature_names_and_pandas(est, X):
    fitted = _fit(clone(est), X)
    Xt = fitted.transform(X)
    if isinstance(Xt, list):
        return  # image -> image transformers have no tabular output
    names = fitted.get_feature_names_out()
    assert len(names) == Xt.shape[1], "get_feature_names_out length != number of columns"
    assert len(set(names)) == len(names), "feature names must be unique"
    df = _fit(clone(est).set_output(transform="pandas"), X).transform(X)
    assert list(df.columns) == list(names), "pandas output must use get_feature_names_out"
    np.testing.assert_allclose(df.to_numpy(dtype=float), _as_2d(Xt))


def check_per_image_independence(est, X):
    """Output for one image does not depend on the other images of the batch or their order."""
    fitted = _fit(clone(est), X)
    full = fitted.transform(X)
    order = np.arange(len(X))[::-1]
    rev = fitted.transform([X[i] for i in order])
    sub = fitted.transform(X[1:3])
    if isinstance(full, list):
        _assert_same_output([full[i] for i in order], rev, "transform of the reversed batch")
        _assert_same_output(full[1:3], sub, "transform of a subset")
    else:
        _assert_same_output(_as_2d(full)[order], rev, "transform of the reversed batch")
        _assert_same_output(_as_2d(full)[1:3], sub, "transform of a subset")


def check_input_kinds(est, X):
    """Records, a list of arrays and (when no mask is needed) an (n, h, w) stack agree."""
    tags = get_tags(est).input_tags
    if getattr(tags, "masks", False) or getattr(tags, "records", False):  # plain arrays carry no mask, no meta
        return
    same = [r for r in X if r.image.shape == X[0].image.shape]
    out_records = _fit(clone(est), same).transform(same)
    arrays = [r.image for r in same]
    out_arrays = _fit(clone(est), arrays).transform(arrays)
    out_stack = _fit(clone(est), np.stack(arrays)).transform(np.stack(arrays))
    _assert_same_output(out_records, out_arrays, "records versus plain arrays")
    _assert_same_output(out_arrays, out_stack, "a list of arrays versus an (n, h, w) array")


def check_n_jobs_invariance(est, X):
    if "n_jobs" not in est.get_params():
        return
    one = _fit(clone(est).set_params(n_jobs=1), X).transform(X)
    two = _fit(clone(est).set_params(n_jobs=2), X).transform(X)
    _assert_same_output(one, two, "n_jobs=2 versus n_jobs=1")


def check_parameter_constraints(est, X):
    """Every parameter has a declarative constraint (scikit-learn's ``_parameter_constraints``),
    when the class declares them at all (every featbus estimator does, through its base class;
    another project's estimator that validates its parameters otherwise is not held to it)."""
    if not hasattr(type(est), "_parameter_constraints"):
        return
    constraints = type(est)._parameter_constraints
    missing = sorted(set(est.get_params(deep=False)) - set(constraints))
    assert not missing, f"{type(est).__name__}: no _parameter_constraints entry for {missing}"


def check_rows_computed_once(est, X):
    """With the default store, a second transform (by a clone too) computes nothing again and
    gives the same rows (:mod:`featbus.compute.extraction`)."""
    if "cache" not in est.get_params():
        return
    from ..compute.extraction import extraction_counts, reset_extraction_counts

    shared = clone(est).set_params(cache=None)
    first = _fit(shared, X).transform(X)
    reset_extraction_counts()
    again = _fit(clone(shared), X).transform(X)
    assert sum(extraction_counts().values()) == 0, "a second transform of the same images computed rows again"
    _assert_same_output(first, again, "rows served by the extraction store")


def check_input_not_modified(est, X):
    before = copy.deepcopy(X)
    _fit(clone(est), X).transform(X)
    for a, b in zip(before, X):
        np.testing.assert_array_equal(a.image, b.image, err_msg="transform modified an input image")
        if a.mask is not None:
            np.testing.assert_array_equal(a.mask, b.mask, err_msg="transform modified an input mask")


def check_empty_input_error(est, X):
    for bad in ([], np.zeros((0, 8, 8))):
        try:
            _fit(clone(est), bad)
        except ValueError as exc:
            assert "image" in str(exc).lower() or "sample" in str(exc).lower()
        else:
            raise AssertionError(f"{type(est).__name__}.fit([]) must raise ValueError")


def check_in_grid_search(est, X):
    """The transformer sits in a Pipeline inside GridSearchCV, fed image records."""
    if isinstance(_fit(clone(est), X).transform(X[:2]), list):
        return  # image -> image: covered where it is followed by a feature extractor
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    Xg = (X * 2)[:8]
    y = np.array([0, 1] * (len(Xg) // 2))
    pipe = Pipeline([("feat", clone(est)), ("scale", StandardScaler()), ("clf", LinearSVC())])
    search = GridSearchCV(pipe, {"clf__C": [0.1, 1.0]}, cv=KFold(2), error_score="raise")
    search.fit(Xg, y)
    assert search.predict(Xg).shape == (len(Xg),)


_IMAGE_CHECKS = (
    check_fit_returns_self,
    check_unfitted_transform_raises,
    check_deterministic_and_idempotent,
    check_clone_and_pickle,
    check_feature_names_and_pandas,
    check_per_image_independence,
    check_input_kinds,
    check_n_jobs_invariance,
    check_input_not_modified,
    check_empty_input_error,
    check_in_grid_search,
    check_parameter_constraints,
    check_rows_computed_once,
)


def check_sampler_resamples(est, X):
    """``fit_resample`` keeps the originals first, labels follow their images, a fixed
    ``random_state`` repeats itself, and the input is left untouched."""
    before = copy.deepcopy(X)
    y = np.arange(len(X)) % 2
    Xr, yr = clone(est).fit_resample(X, y)
    assert len(Xr) == len(yr) >= len(X), "fit_resample must return as many labels as images, originals kept"
    _assert_same_output([r.image for r in X], [_pixels(r) for r in Xr[:len(X)]], "the originals, first")
    np.testing.assert_array_equal(yr[:len(X)], y)
    np.testing.assert_array_equal(yr.reshape(-1, len(X)), np.tile(y, (len(yr) // len(X), 1)))
    again, _ = clone(est).fit_resample(X, y)
    _assert_same_output([_pixels(r) for r in Xr], [_pixels(r) for r in again], "a second fit_resample")
    for a, b in zip(before, X):
        np.testing.assert_array_equal(a.image, b.image, err_msg="fit_resample modified an input image")


def check_sampler_in_pipeline(est, X):
    """In an imbalanced-learn Pipeline the copies reach ``fit`` only; ``predict`` sees the
    images as given."""
    from imblearn.pipeline import Pipeline
    from sklearn.linear_model import LogisticRegression

    from ..features.intensity import IntensityStats

    y = np.arange(len(X)) % 2
    pipe = Pipeline([("sample", clone(est)), ("features", IntensityStats(cache=False, progress=False)),
                     ("clf", LogisticRegression())]).fit(X, y)
    assert pipe.predict(X).shape == (len(X),)


def check_segmenter_masks(est, X):
    """``fit`` returns self; ``predict_masks`` gives one boolean mask of each image's shape, the
    same after a pickle round trip; the input is left untouched."""
    before = copy.deepcopy(X)
    fitted = clone(est)
    assert fitted.fit(X) is fitted, f"{type(est).__name__}.fit must return self"
    masks = fitted.predict_masks(X)
    assert len(masks) == len(X)
    for m, r in zip(masks, X):
        assert m.dtype == bool and m.shape == r.image.shape, "one boolean mask of the image's shape"
    restored = pickle.loads(pickle.dumps(fitted))
    _assert_same_output(fitted.predict_proba_maps(X), restored.predict_proba_maps(X), "maps after a pickle")
    for a, b in zip(before, X):
        np.testing.assert_array_equal(a.image, b.image, err_msg="fit modified an input image")


def _pixels(item) -> np.ndarray:
    return np.asarray(item.image if isinstance(item, ImageRecord) else item)


_SAMPLER_CHECKS = (check_sampler_resamples, check_sampler_in_pipeline, check_parameter_constraints)
_SEGMENTER_CHECKS = (check_segmenter_masks, check_parameter_constraints)


def _assert_close(x: np.ndarray, y: np.ndarray, what: str) -> None:
    # Tolerance, not equality: one image in another batch (size, order, companions) or on
    # another CPU goes through other BLAS / oneDNN summation orders; float32 CNN outputs then
    # differ by about 1e-6 of their largest value. rtol=1e-4 plus atol=1e-5 of the largest
    # magnitude covers that and still fails on any real difference.
    scale = max(1.0, float(np.abs(x).max(initial=0.0)))
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5 * scale, err_msg=what)


def _assert_same_output(a, b, what: str):
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{what}: different output lengths"
        for x, y in zip(a, b):
            x = x.image if isinstance(x, ImageRecord) else x
            y = y.image if isinstance(y, ImageRecord) else y
            _assert_close(np.asarray(x, float), np.asarray(y, float), what)
    else:
        _assert_close(_as_2d(a), _as_2d(b), what)


def image_transformer_checks(estimator, X: list[ImageRecord] | None = None, *,
                             only: Collection[str] | None = None) -> Iterator[Callable]:
    """Yield the common checks for one image estimator, each a no-argument callable.

    A transformer gets the transformer checks (with labels when its tags require them, as a
    fine-tuned network's do); a sampler (``fit_resample``) and a segmenter (``predict_masks``)
    get theirs; all get scikit-learn's API checks.

    Parameters
    ----------
    estimator : estimator
        An unfitted featbus-style estimator (takes a sequence of images).
    X : list of ImageRecord, optional
        Images with masks to use; :func:`make_check_images` by default.
    only : collection of str, optional
        Names of the checks to run (all by default).
    """
    X = make_check_images() if X is None else X
    name = type(estimator).__name__
    if "cache" in estimator.get_params():
        # the checks compare computations: no row may come from an earlier check's store
        estimator = clone(estimator).set_params(cache=False)
    for check_name in _SKLEARN_API_CHECKS:
        check = getattr(sk_checks, check_name, None)
        if check is not None and (only is None or check_name in only):
            yield _named(functools.partial(check, name, clone(estimator)), check_name)
    if hasattr(estimator, "fit_resample"):
        checks = _SAMPLER_CHECKS
    elif hasattr(estimator, "predict_masks"):
        checks = _SEGMENTER_CHECKS
    else:
        checks = _IMAGE_CHECKS
    for check in checks:
        if only is not None and check.__name__ not in only:
            continue
        yield _named(functools.partial(check, clone(estimator), X), check.__name__)


def _named(fn, name):
    fn.__name__ = name  # type: ignore[attr-defined]
    return fn


def check_image_estimator(estimator, X: list[ImageRecord] | None = None, *,
                          only: Collection[str] | None = None) -> list[str]:
    """Run every common check on an estimator that takes images; raise if any fails.

    The image counterpart of scikit-learn's :func:`~sklearn.utils.estimator_checks.check_estimator`,
    which, on an estimator whose tags say it takes images (``input_tags.two_d_array=False``),
    skips every check that feeds data and so passes without testing it. The checks
    (:func:`image_transformer_checks`): scikit-learn's API checks, then for a transformer fit
    returns self, unfitted transform raises ``NotFittedError``, deterministic and idempotent
    fit, clone and pickle, feature names and pandas output, rows independent of the batch,
    records / arrays / an ``(n, h, w)`` stack agree, ``n_jobs`` invariance, the input left
    untouched, an empty input refused, a place in a ``Pipeline`` inside ``GridSearchCV``,
    a ``_parameter_constraints`` entry per parameter, and rows computed once (with a
    ``cache`` parameter); samplers and segmenters get theirs.

    Parameters
    ----------
    estimator : estimator
        An unfitted estimator that takes a sequence of images (arrays, paths or
        :class:`~featbus.ImageRecord`).
    X : list of ImageRecord, optional
        Images with masks to use; :func:`make_check_images` by default.
    only : collection of str, optional
        Names of the checks to run (all by default).

    Returns
    -------
    passed : list of str
        The names of the checks run, all passed.

    Raises
    ------
    AssertionError
        Naming every check that failed and why (all checks run first).

    Examples
    --------
    >>> from featbus import IntensityStats
    >>> from featbus.testing import check_image_estimator
    >>> passed = check_image_estimator(IntensityStats())
    >>> "check_clone_and_pickle" in passed
    True
    """
    passed, failed = [], []
    for check in image_transformer_checks(estimator, X, only=only):
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - every failure is reported, as check_estimator(on_fail=None)
            failed.append(f"{check.__name__}: {type(exc).__name__}: {exc}")
        else:
            passed.append(check.__name__)
    if failed:
        raise AssertionError(f"{type(estimator).__name__} failed {len(failed)} of {len(passed) + len(failed)} "
                             "image-estimator checks:\n  " + "\n  ".join(failed))
    return passed


def parametrize_with_image_checks(estimators, X: list[ImageRecord] | None = None, *,
                                  only: Collection[str] | None = None):
    """Pytest decorator running :func:`image_transformer_checks` on each estimator.

    The decorated test takes two arguments, ``estimator`` and ``check``, and calls ``check()``:
    one test per estimator and check, named ``ClassName-check_name``. Use it in place of
    scikit-learn's :func:`~sklearn.utils.estimator_checks.parametrize_with_checks`, which skips
    the data checks of an estimator that takes images.

    Parameters
    ----------
    estimators : list of estimators
        Unfitted estimators that take a sequence of images.
    X : list of ImageRecord, optional
        Images with masks to use; :func:`make_check_images` by default.
    only : collection of str, optional
        Names of the checks to run (all by default).

    Examples
    --------
    In a test module of your project::

        from featbus.testing import parametrize_with_image_checks

        @parametrize_with_image_checks([MyExtractor(), MyExtractor(radius=2)])
        def test_my_extractor(estimator, check):
            check()
    """
    import pytest

    params, ids = [], []
    for est in estimators:
        for check in image_transformer_checks(est, X, only=only):
            params.append((est, check))
            ids.append(f"{type(est).__name__}-{check.__name__}")
    return pytest.mark.parametrize("estimator, check", params, ids=ids)
