# The public names of featbus and the modules that define them. This stub is the one list:
# featbus/__init__.py hands it to lazy_loader.attach_stub, which imports a module when one of its
# names is first used (import featbus stays fast and needs no TensorFlow), and type checkers and
# editors follow these imports as written. tests/test_lazy_imports.py checks that every name
# resolves and that every estimator of featbus._registry.ESTIMATORS is here.
# ruff: noqa: F401 (a stub's imports are its exports)

from ._records import ImageError, ImageRecord
from ._version import __version__
from .compute.scaling import FamilyUnion
from .datasets import (
    get_data_home,
    load_breast_lesions_usg,
    load_bus_bra,
    load_busi,
    load_data,
    load_image_folder,
    load_manifest,
    load_mias,
    load_sample,
    make_phantoms,
    read_release,
)
from .evaluation.report import Report, compare, evaluate
from .evaluation.sites import combine_sites
from .evaluation.validation import ExternalValidation, validate
from .features.deep import DeepFeatures
from .features.filters import FractalFeatures, GaborFeatures, LawsFeatures, LoGFeatures, WaveletFeatures
from .features.finetune import FineTunedCNN, FineTunedEnsemble
from .features.glcm import GLCMFeatures
from .features.hog import HOGFeatures
from .features.intensity import IntensityStats
from .features.lbp import LBPFeatures
from .features.shape import ShapeFeatures
from .features.texture_matrices import GLDMFeatures, GLDZMFeatures, GLRLMFeatures, GLSZMFeatures, NGTDMFeatures
from .io import read_image, read_images, read_mask
from .metrics import OperatingPoint
from .model.loaded import FeatbusModel, load_model
from .model_selection import DuplicateGroupKFold, duplicate_groups
from .networks.augmentation import ImageAugmenter, augment_image
from .networks.backend import backend_info
from .pipelines.make import make_classification_pipeline, make_pipeline, param_grid
from .preprocessing.intensity import CLAHE, AdaptiveThreshold, HistogramEqualizer, Normalize, Resize, SpeckleDenoise
from .preprocessing.mammography import BreastMask, PectoralMuscleRemover
from .segmentation.classical import EdgeSegmenter, ThresholdSegmenter
from .segmentation.metrics import dice_score, iou_score
from .segmentation.roi import LesionProbability, ROICropper, RoiFoundFlag
from .segmentation.unet import UNetSegmenter
from .workflows.adaptation import adapt
from .workflows.training import train_model
