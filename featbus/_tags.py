"""featbus's estimator tags: scikit-learn's input tags plus what featbus estimators take.

:class:`ImageInputTags` stands on the floor (it imports nothing of featbus), so that every
estimator that takes images (:mod:`featbus._base`'s base classes, the image augmenter of
:mod:`featbus.networks.augmentation`) says so with the same tags.
"""

from __future__ import annotations

from dataclasses import dataclass

from sklearn.utils import InputTags

__all__ = ["ImageInputTags"]


@dataclass(slots=True)
class ImageInputTags(InputTags):
    """scikit-learn input tags plus what featbus estimators take.

    Parameters
    ----------
    images : bool, default=True
        The estimator takes a sequence of images (arrays, :class:`~featbus.ImageRecord` or paths).
    masks : bool, default=False
        Every image must come with a lesion mask (an :class:`~featbus.ImageRecord` whose ``mask`` is
        set): shape features, ``region="mask"`` or ``"bbox"``, ROI crops from ground truth.
    records : bool, default=False
        Every image must be an :class:`~featbus.ImageRecord` carrying what an earlier step wrote in its
        ``meta`` (:class:`~featbus.preprocessing.roi.RoiFoundFlag` reads an ``ROICropper``'s
        ``roi_found``): plain arrays are refused.
    """

    images: bool = True
    masks: bool = False
    records: bool = False
