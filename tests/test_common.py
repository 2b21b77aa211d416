"""Common checks on every public featbus estimator that takes images.

scikit-learn's ``parametrize_with_checks`` skips estimators whose input is not a 2-D array (our
image transformers say so in their tags); :mod:`featbus.estimator_checks` runs its API checks and
image versions of its data checks instead. Estimators with tabular input are given to
scikit-learn's own ``parametrize_with_checks``.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

import featbus
from featbus.estimator_checks import parametrize_with_image_checks

IMAGE_ESTIMATORS = [
    featbus.HOGFeatures(size=(32, 32)),
    featbus.LBPFeatures(),
    featbus.LBPFeatures(region="mask"),
    featbus.GLCMFeatures(),
    featbus.GLCMFeatures(region="bbox"),
    featbus.IntensityStats(),
    featbus.IntensityStats(region="mask"),
    featbus.ShapeFeatures(),
    featbus.Resize(size=(32, 40)),
    featbus.CLAHE(),
    featbus.SpeckleDenoise(),
    featbus.Normalize(),
    featbus.BreastMask(),
    featbus.PectoralMuscleRemover(),
    featbus.ROICropper(source="mask"),
]


@parametrize_with_image_checks(IMAGE_ESTIMATORS)
def test_image_estimator(estimator, check):
    check()


def _tabular_estimators():
    from sklearn.linear_model import LogisticRegression

    from featbus.pipelines import EncodedLabelClassifier

    return [EncodedLabelClassifier(LogisticRegression())]


@parametrize_with_checks(_tabular_estimators())
def test_tabular_estimator(estimator, check):
    check(estimator)
