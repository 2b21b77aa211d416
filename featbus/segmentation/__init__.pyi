# The public names of featbus.segmentation and their modules, read by lazy_loader.attach_stub
# (see featbus/__init__.pyi).
# ruff: noqa: F401 (a stub's imports are its exports)

from .classical import EdgeSegmenter, ThresholdSegmenter, select_lesion
from .metrics import dice_score, dice_scores, iou_score, iou_scores
from .network import build_unet
from .roi import LesionProbability, ROICropper, RoiFoundFlag
from .unet import UNetSegmenter
