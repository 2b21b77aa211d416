# The public names of featbus.features and their modules, read by lazy_loader.attach_stub (see
# featbus/__init__.pyi): every estimator class of featbus._registry.ESTIMATORS defined in
# featbus.features and, for each handcrafted family, its <name>_features and
# <name>_feature_names (tests/test_lazy_imports.py checks both against the registry).
# ruff: noqa: F401 (a stub's imports are its exports)

from .deep import DeepFeatures
from .filters import (
    FractalFeatures,
    GaborFeatures,
    LawsFeatures,
    LoGFeatures,
    WaveletFeatures,
    fractal_feature_names,
    fractal_features,
    gabor_feature_names,
    gabor_features,
    laws_feature_names,
    laws_features,
    log_feature_names,
    log_features,
    wavelet_feature_names,
    wavelet_features,
)
from .finetune import FineTunedCNN, FineTunedEnsemble, fine_tuned_features
from .glcm import GLCMFeatures, glcm_feature_names, glcm_features
from .hog import HOGFeatures, hog_feature_names, hog_features
from .intensity import IntensityStats, intensity_feature_names, intensity_features
from .lbp import LBPFeatures, lbp_feature_names, lbp_features
from .shape import ShapeFeatures, shape_feature_names, shape_features
from .texture_matrices import (
    GLDMFeatures,
    GLDZMFeatures,
    GLRLMFeatures,
    GLSZMFeatures,
    NGTDMFeatures,
    gldm_feature_names,
    gldm_features,
    gldzm_feature_names,
    gldzm_features,
    glrlm_feature_names,
    glrlm_features,
    glszm_feature_names,
    glszm_features,
    ngtdm_feature_names,
    ngtdm_features,
)
