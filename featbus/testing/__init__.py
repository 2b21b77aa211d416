"""Checks that an estimator taking images behaves as featbus's own do: for your extractors too.

featbus's own tests run every estimator through these checks; run them on yours::

    from featbus.testing import check_image_estimator, parametrize_with_image_checks

    check_image_estimator(MyExtractor())            # every check; an AssertionError names the failures

    @parametrize_with_image_checks([MyExtractor()])  # one pytest test per check
    def test_my_extractor(estimator, check):
        check()

scikit-learn's :func:`~sklearn.utils.estimator_checks.check_estimator` gives false assurance
here: an estimator that takes images says so in its tags (``input_tags.two_d_array=False``), and
scikit-learn then skips every check that feeds it data. See :doc:`/guide/own_extractor`.

* :func:`check_image_estimator`: run every check on one estimator, raise naming each failure;
* :func:`parametrize_with_image_checks`: the pytest decorator, one test per estimator and check;
* :func:`image_transformer_checks`: the checks themselves, as callables;
* :func:`make_check_images`: the small synthetic images (with lesion masks) they use.

The module behind them is :mod:`featbus.testing.estimator_checks`.
"""

from .estimator_checks import (
    check_image_estimator,
    image_transformer_checks,
    make_check_images,
    parametrize_with_image_checks,
)

__all__ = ["check_image_estimator", "image_transformer_checks", "make_check_images", "parametrize_with_image_checks"]
