"""Named training recipes: what ``featbus train --recipe NAME`` and ``train_model(recipe=NAME)`` fit.

A recipe is either features + a classifier (cross-validated on duplicate-grouped folds inside
:func:`featbus.train_model`), or fine-tuned networks (one, or an ensemble averaging several),
which are trained with the labels and judged on one duplicate-grouped validation split (k full
folds of fine-tuning cost k extra trainings; ``benchmarks/recipes.py`` runs them). Every figure
quoted here is the protocol to quote for a recipe: ``benchmarks/recipes.py`` on
``../shared/data/busi`` (625 images, duplicate-grouped 3-fold CV, the same folds for every
recipe, the recipe's settings as they ship, accuracy of the most probable class, 95 % bootstrap
intervals over near-duplicate groups), copied from the file it writes,
``benchmarks/results/recipes.json`` (``tests/test_figures.py`` checks them against it); a figure
from another protocol says so. Times are for those 625 images.

``featbus recipes`` (and :func:`describe_recipes`) lists them. Overrides (:data:`OVERRIDES`):
``backbone``, ``image_size``, ``epochs``, ``members``, ``batch_size``, ``weights`` (the starting
weights: a local Keras weights file, as ``--weights NAME=PATH``), ``mixed_precision`` (``"auto"``,
``True`` or ``False``: ``--mixed-precision auto|on|off``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._compat import estimator_param_names
from .._registry import did_you_mean

__all__ = ["Recipe", "RECIPES", "DEFAULT_RECIPE", "OVERRIDES", "get_recipe", "build_network", "describe_recipes",
           "SegmenterRecipe", "SEGMENTER_RECIPES", "DEFAULT_SEGMENTER_RECIPE", "build_segmenter"]


@dataclass(frozen=True)
class Recipe:
    """One named recipe.

    Parameters
    ----------
    name : str
    summary : str
        What it does, in a line.
    features : tuple of str
        Feature families (feature recipes).
    classifier : str or None
        Classifier alias (feature recipes).
    network : dict or None
        :class:`~featbus.FineTunedCNN` parameters (network recipes).
    members : int
        Networks averaged (1: a single network).
    cpu_time, gpu_time : str
        Training time on the 625 BUSI images on 2 CPU cores and on one GPU, each naming the
        measurement it comes from in brackets. ``gpu_time`` is empty where no GPU measured it
        (nothing is then said about a GPU; it is copied from the ``default_recipe`` row of
        ``benchmarks/results/backend_speed_gpu.json``, ``scripts/gpu_measurements.sh``, once a
        GPU has run it); ``"(CPU only)"`` for a recipe that uses no GPU.
    figure : str
        Duplicate-grouped accuracy and malignant AUC with intervals (``benchmarks/recipes.py``,
        as its ``benchmarks/results/recipes.json`` holds them).
    segmenter : str or None
        The shipped segmenter whose lesion box the features see (feature recipes).
    two_decisions : bool
        "Is there a lesion?" by the segmenter, then "benign or malignant" by a classifier of the
        lesion images (``train_model(two_decisions=True)``).
    cpu_minutes : float or None
        ``cpu_time`` as a number, for a network recipe whose time grows with its images and epochs:
        :func:`expected_minutes` scales it to the data and the ``--epochs`` given.
    """

    name: str
    summary: str
    features: tuple[str, ...] = ()
    classifier: str | None = None
    network: dict[str, Any] | None = None
    members: int = 1
    cpu_time: str = ""
    gpu_time: str = ""
    figure: str = ""
    backbones: tuple[str, ...] | None = field(default=None)
    segmenter: str | None = None
    two_decisions: bool = False
    cpu_minutes: float | None = None

    @property
    def is_network(self) -> bool:
        return self.network is not None


# The fine-tuning recipe: whole network after a head-only warm-up, frozen BN statistics,
# AdamW 1e-4 body / 1e-3 head with a one-epoch ramp and cosine decay, class weights, label
# smoothing 0.1, fresh augmentation per image every epoch, mirror test-time averaging. The
# epochs decide when training ends: 15 % of the images (whole near-duplicate groups) are held
# out only to measure the model that ``featbus train`` writes (patience None: they choose no
# epoch). Early stopping on them kept the first fine-tuning epoch on BUSI and lost accuracy
# 0.82 -> 0.74, malignant AUC 0.94 -> 0.88 on unseen images (issue 44).
_FINETUNE = {"warmup_epochs": 2, "batch_size": 32, "learning_rate": 1e-4, "head_learning_rate": 1e-3,
             "weight_decay": 0.01, "label_smoothing": 0.1, "freeze_bn": True, "augment": "ultrasound",
             "tta": True, "validation_fraction": 0.15, "patience": None}

#: finetuned-lite0's training time, measured: ``featbus train`` of 120 BUSI images (40 per class, the
#: recipe's defaults: 2 warm-up + 12 fine-tuning epochs) took 122 s of CPU time (118 s user, 4 s system,
#: ``/usr/bin/time -v``; its wall time, 14.4 min, was that of a machine shared by many jobs, 14 % of a CPU
#: for this one). The work grows with images x epochs: 625 images take 122 x 625 / 120 = 635 CPU s, so
#: about 5.3 min on 2 cores. The earlier "about 15 min" was 3 times that (measured beside other jobs).
_LITE0_MINUTES = 122 * 625 / 120 / 2 / 60
_LITE0_MEASURED = "122 CPU s measured for 120 images, scaled to 625 on 2 cores"

#: lesion-then-malignancy's training time on the 625 BUSI images: ``featbus train ../shared/data/busi
#: --recipe lesion-then-malignancy`` took 1.8 min (1.1 CPU min), timed once with ``nice`` beside
#: another training job (the segmenter and the backbone run once per image, the SVM is
#: cross-validated on 5 folds)
_LTM_CPU_TIME = "about 2 min (1.8 min measured, 1.1 CPU min, beside another training)"

RECIPES: dict[str, Recipe] = {r.name: r for r in [
    Recipe("handcrafted", "HOG + LBP + intensity statistics -> RBF SVM (no network, no TensorFlow)",
           features=("hog", "lbp", "intensity"), classifier="svm",
           cpu_time="about 1.5 min", gpu_time="(CPU only)",
           figure="accuracy 0.65 [0.60, 0.69], malignant AUC 0.78 [0.72, 0.84] (3-fold)"),
    Recipe("frozen-cnn", "frozen EfficientNet-Lite0 ImageNet features (block6d, avg+max) -> RBF SVM",
           features=("efficientnet_lite0",), classifier="svm",
           cpu_time="about 1 min",
           figure="accuracy 0.76 [0.72, 0.80], malignant AUC 0.84 [0.80, 0.88] (3-fold)"),
    Recipe("finetuned-lite0", "EfficientNet-Lite0 fine-tuned at 224 px (2 head warm-up epochs, then 12 "
                              "fine-tuning epochs)",
           network={**_FINETUNE, "backbone": "efficientnet_lite0", "input_size": 224, "epochs": 12},
           cpu_time=f"about {_LITE0_MINUTES:.0f} min ({_LITE0_MEASURED})", cpu_minutes=_LITE0_MINUTES,
           gpu_time=("about 2 min (on JAX, the GPU default, in a first process: 121 s measured on one H200, 100 s "
                     "of it training, mostly compiling; 79 s with KERAS_BACKEND=torch, 47 s of it training; "
                     "benchmarks/results/backend_speed_gpu.json)"),
           figure=("accuracy 0.82 [0.78, 0.85], malignant AUC 0.91 [0.87, 0.94] (3-fold; 10.4 min of fine-tuning per "
                   "fold of about 417 images on 2 CPU cores shared with other jobs)")),
    Recipe("best", "3 EfficientNet-Lite2 networks fine-tuned at 260 px (seeds 0-2), probabilities averaged",
           network={**_FINETUNE, "backbone": "efficientnet_lite2", "input_size": 260, "epochs": 15},
           members=3, cpu_time="about 2 h",
           figure=("not measured here: its CV takes about 1.5 h per fold on 2 CPU cores (run benchmarks/recipes.py "
                   "--recipes best on a GPU); another protocol, not this recipe: one Lite2 network with an earlier "
                   "study's settings (10 epochs cut by a 400 s budget) scored accuracy 0.81 [0.77, 0.84], malignant "
                   "AUC 0.92 [0.89, 0.95] (examples/busi_finetune.py, 5-fold, on the earlier grouping: 473 groups)")),
    Recipe("lesion-then-malignancy",
           "two decisions, each with its own operating point: 'is there a lesion?' by the shipped breast-us "
           "segmenter (normal below its lesion probability threshold), then benign or malignant by an RBF SVM "
           "trained on the lesion images only, on frozen breast-us backbone features of the segmenter's lesion box",
           # no shape features of the mask: leave one site out they ranked about as well (mean AUC 0.85 with,
           # 0.84 without) but moved the stored point at an unseen site (BUS-BRA specificity 0.27 with, 0.63
           # without): benchmarks/breast_us_classifier.py
           features=("breast-us",), classifier="svm", segmenter="breast-us", two_decisions=True,
           cpu_time=_LTM_CPU_TIME,
           figure=("not measured by benchmarks/recipes.py (it judges whole-image recipes on BUSI, which the "
                   "shipped segmenter and backbone were trained on); its leave-one-site-out figures are on the "
                   "breast-us classifier card (docs page guide/breast_us_classifier)")),
]}

#: What ``featbus train`` fits without ``--recipe``: the best recipe that trains on the 625
#: shared images in about 5 minutes on a 2-core CPU.
DEFAULT_RECIPE = "finetuned-lite0"

#: Settings a recipe takes from the command line (``--backbone`` ...) or ``train_model``.
OVERRIDES = ("backbone", "image_size", "epochs", "members", "batch_size", "weights", "mixed_precision")


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; a ``ValueError`` lists the known names otherwise."""
    try:
        return RECIPES[str(name).strip().lower()]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}{did_you_mean(name, RECIPES)}; known: {', '.join(RECIPES)} "
                         "(featbus recipes)") from None


def build_network(recipe: Recipe, *, overrides: dict | None = None, random_state: int = 0,
                  progress: Any = "auto", cache: Any = None):
    """The unfitted network of a network recipe: a FineTunedCNN, or a FineTunedEnsemble of them.

    Parameters
    ----------
    recipe : Recipe
    overrides : dict, optional
        Keys of :data:`OVERRIDES` (``None`` values are ignored).
    random_state : int
        Seed of the (first) network.
    progress, cache
        As :class:`~featbus.FineTunedCNN`.

    Returns
    -------
    network : FineTunedCNN or FineTunedEnsemble

    Examples
    --------
    >>> from featbus.pipelines.recipes import build_network, get_recipe
    >>> net = build_network(get_recipe("finetuned-lite0"), overrides={"epochs": 3, "image_size": 192})
    >>> net.epochs, net.input_size
    (3, 192)
    """
    from ..features.finetune import FineTunedCNN, FineTunedEnsemble

    if not recipe.is_network:
        raise ValueError(f"recipe {recipe.name!r} is features + classifier, not a network")
    over = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(over) - set(OVERRIDES))
    if unknown:
        raise ValueError(f"unknown recipe settings {unknown}; known: {', '.join(OVERRIDES)}")
    params = dict(recipe.network)
    if "backbone" in over:
        params["backbone"] = over["backbone"]
        params.pop("input_size", None)  # the new backbone's own size, unless given
    if "image_size" in over:
        params["input_size"] = int(over["image_size"])
    for key in ("epochs", "batch_size"):
        if key in over:
            params[key] = int(over[key])
    if "weights" in over:  # every member of an ensemble starts from the same file
        params["weights"] = over["weights"]
    if "mixed_precision" in over:  # "auto" (bfloat16 on a GPU), True or False
        if over["mixed_precision"] not in ("auto", True, False):
            raise ValueError(f"mixed_precision must be 'auto', True or False, got {over['mixed_precision']!r}")
        params["mixed_precision"] = over["mixed_precision"]
    members = int(over.get("members", recipe.members))
    if members < 1:
        raise ValueError(f"members must be at least 1, got {members}")
    net = FineTunedCNN(**params, random_state=random_state, progress=progress, cache=cache)
    if members == 1:
        return net
    return FineTunedEnsemble(net.set_params(random_state=None), n_members=members, random_state=random_state)


# --------------------------------------------------------------------------- segmenters

@dataclass(frozen=True)
class SegmenterRecipe:
    """One named lesion-segmentation recipe (``featbus segment train --recipe NAME``).

    Parameters
    ----------
    name, summary : str
    params : dict
        :class:`~featbus.UNetSegmenter` parameters; the rest keep the estimator's defaults.
    cpu_time, gpu_time : str
        Training time on ``time_for`` on 2 CPU cores and on one GPU, as :class:`Recipe` has them
        (``gpu_time`` empty where no GPU measured it).
    figure : str
        Lesion Dice and HD95 with intervals, measured as ``figure_from`` says.
    time_for, figure_from : str
        What the time is for (the 625 BUSI images) and how the figure was measured
        (duplicate-grouped CV on BUSI, ``benchmarks/segmentation_busi.py``).
    """

    name: str
    summary: str
    params: dict[str, Any]
    cpu_time: str = ""
    gpu_time: str = ""
    figure: str = ""
    time_for: str = "625 images"
    figure_from: str = "duplicate-grouped CV on BUSI"


#: the network both segmenter recipes train: an EfficientNet-Lite2 U-Net at 224 px, 21 epochs on the
#: lesion images, learning rate annealed to zero, BCE + per-image Dice, mirror averaging, threshold 0.4
_LITE2_UNET = {"backbone": "efficientnet_lite2", "input_size": 224, "epochs": 21, "validation_fraction": 0.0,
               "empty_masks": "skip", "loss": "bce_image_dice", "tta": True, "threshold": 0.4}

SEGMENTER_RECIPES: dict[str, SegmenterRecipe] = {r.name: r for r in [
    SegmenterRecipe(
        "default", "U-Net, EfficientNet-Lite2 encoder at 224 px, trained on the lesion images for 21 epochs "
                   "with the learning rate annealed to zero (no early stopping), BCE + per-image Dice loss, mirror "
                   "test-time averaging, threshold 0.4",
        params=_LITE2_UNET,
        cpu_time="about 15-20 min (14 min measured per fold of 4/5 of the images, scaled to all)",
        figure=("lesion Dice 0.783 [0.754, 0.810], HD95 31.9 [27.4, 36.7] px, 0 of 514 lesions missed; normal "
                "images predicted empty 0.06 (5-fold, 14 min of training per fold alone; +0.023 [+0.010, +0.039] "
                "over the previous Lite0 recipe on the same folds; the same recipe from another seed: 0.775 "
                "[0.746, 0.803])")),
    SegmenterRecipe(
        "best", "two networks of the default recipe (EfficientNet-Lite2 U-Net at 224 px, 21 epochs, lesion images "
                "only), each from its own seed, whose probabilities are averaged (a seed ensemble in one file), "
                "threshold 0.4",
        params={**_LITE2_UNET, "n_members": 2},
        cpu_time="about 30-40 min (twice the default's)",
        figure=("lesion Dice 0.788 [0.760, 0.815], HD95 30.3 [25.5, 35.2] px (5-fold, the default's two seeds' "
                "out-of-fold probabilities averaged); paired against one network +0.005 [+0.000, +0.010] (seed 0, "
                "0.783) and +0.013 [+0.007, +0.020] (seed 1, 0.775)")),
    SegmenterRecipe(
        "breast-us", "U-Net whose encoder is the breast-us backbone (EfficientNet-Lite0 fine-tuned on the three "
                     "shared ultrasound sites) at 224 px, trained 10 epochs on every image, normal ones too (an "
                     "empty mask teaches 'no lesion'), BCE + per-image Dice loss, 10 % of the patients held out "
                     "(best epoch kept), mirror test-time averaging, threshold 0.4, a lesion wherever the "
                     "thresholded mask is non-empty (a presence decision calibrated at the training sites lost "
                     "most lesions at a site it never saw: the segmenter's card): the recipe of the shipped "
                     "breast-us segmenter",
        params={"backbone": "efficientnet_lite0", "weights": "breast-us", "input_size": 224, "epochs": 10,
                "validation_fraction": 0.1, "empty_masks": "learn", "loss": "bce_image_dice", "tta": True,
                "threshold": 0.4, "presence": "mask"},
        cpu_time="about 31 min (30.6 min measured, 39.4 CPU min, beside another training)",
        time_for="the 1,690 images of the three shared sites",
        figure_from="leave one site out (trained on two sites, measured on the third; the card's table)",
        figure=("lesion Dice at the held-out site BUSI 0.72 [0.69, 0.75], BUS-BRA 0.80 [0.78, 0.81], BrEaST 0.73 "
                "[0.69, 0.76]; Dice under 0.5 for 18%, 8%, 17% of their lesion images; a lesion found in every one "
                "of BUSI's 111 normal scans (trained with 4)")),
]}

#: What ``featbus segment train`` fits without ``--recipe``.
DEFAULT_SEGMENTER_RECIPE = "default"


def build_segmenter(name: str = DEFAULT_SEGMENTER_RECIPE, **overrides):
    """The unfitted :class:`~featbus.UNetSegmenter` of segmentation recipe ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`SEGMENTER_RECIPES`.
    **overrides
        UNetSegmenter parameters that replace the recipe's (``None`` values are ignored).

    Returns
    -------
    segmenter : UNetSegmenter

    Examples
    --------
    >>> from featbus.pipelines.recipes import build_segmenter
    >>> seg = build_segmenter("best", random_state=0)
    >>> seg.backbone, seg.input_size, seg.n_members, seg.empty_masks
    ('efficientnet_lite2', 224, 2, 'skip')
    """
    from ..segmentation.unet import UNetSegmenter

    try:
        recipe = SEGMENTER_RECIPES[str(name).strip().lower()]
    except KeyError:
        raise ValueError(f"unknown segmentation recipe {name!r}; known: {', '.join(SEGMENTER_RECIPES)} "
                         "(featbus recipes)") from None
    params = {**recipe.params, **{k: v for k, v in overrides.items() if v is not None}}
    unknown = sorted(set(params) - set(estimator_param_names(UNetSegmenter)))
    if unknown:
        raise ValueError(f"unknown UNetSegmenter parameters {unknown}")
    return UNetSegmenter(**params)


def time_text(r) -> str:
    """A recipe's expected time as one sentence.

    Each figure comes with its place ("on 2 CPU cores", "on a GPU") right after it and the
    measurement it comes from in brackets after that; a recipe that uses no GPU says so instead
    of a GPU time, and where no GPU has measured a recipe nothing is said about one.

    Parameters
    ----------
    r : Recipe
        A classification or segmentation recipe (its ``cpu_time`` and ``gpu_time``).

    Returns
    -------
    str

    Examples
    --------
    >>> from featbus.pipelines.recipes import RECIPES, time_text
    >>> print(time_text(RECIPES["finetuned-lite0"]))
    about 5 min on 2 CPU cores (122 CPU s measured for 120 images, scaled to 625 on 2 cores),
    about 2 min on a GPU (on JAX, the GPU default, in a first process: 121 s measured on one H200, 100 s
    of it training, mostly compiling; 79 s with KERAS_BACKEND=torch, 47 s of it training;
    benchmarks/results/backend_speed_gpu.json)
    >>> print(time_text(RECIPES["handcrafted"]).split("; ")[1])
    it runs on the CPU only, a GPU does not change it
    """

    def split(text: str) -> tuple[str, str]:
        text = " ".join(str(text).split())
        if text.startswith("("):
            return "", text
        main, bracket, note = text.partition(" (")
        return main, (bracket.strip() + note) if bracket else ""

    cpu, cpu_note = split(r.cpu_time)
    gpu, gpu_note = split(r.gpu_time)
    text = f"{cpu} on 2 CPU cores" + (f" {cpu_note}" if cpu_note else "")
    if not gpu:  # "(CPU only)", or no GPU has measured it: no GPU time to give
        if "cpu only" in gpu_note.lower():
            return text + "; it runs on the CPU only, a GPU does not change it"
        return text + (f"; on a GPU: {gpu_note.strip('()')}" if gpu_note else "")
    return text + f", {gpu} on a GPU" + (f" {gpu_note}" if gpu_note else "")


def expected_minutes(r, n_images: int, epochs: int | None = None) -> float | None:
    """A network recipe's expected training time on 2 CPU cores for ``n_images`` and ``epochs``
    fine-tuning epochs (default: the recipe's), scaled from its measured 625-image time
    (``cpu_minutes``) by images x epochs (warm-up epochs included); ``None`` when not measured.

    Examples
    --------
    >>> from featbus.pipelines.recipes import RECIPES, expected_minutes
    >>> r = RECIPES["finetuned-lite0"]
    >>> expected_minutes(r, 625) == r.cpu_minutes
    True
    >>> round(expected_minutes(r, 1250, epochs=5) / r.cpu_minutes, 3)  # twice the images, half the epochs
    1.0
    """
    if r.cpu_minutes is None or r.network is None:
        return None
    warm = int(r.network.get("warmup_epochs", 0))
    default = int(r.network.get("epochs", 1))
    return r.cpu_minutes * (n_images / 625) * (warm + (default if epochs is None else epochs)) / (warm + default)


def describe_recipes() -> str:
    """A table of the recipes (classification, then segmentation): name, what it does, expected
    time, grouped-CV figure."""

    def entry(r, default_name: str) -> str:
        default = " (default)" if r.name == default_name else ""
        time_for = getattr(r, "time_for", "625 images")
        figure_from = getattr(r, "figure_from", "duplicate-grouped CV on BUSI")
        return (f"{r.name}{default}\n    {r.summary}\n    time for {time_for}: {time_text(r)}"
                f"\n    {figure_from}: {r.figure}")

    return "\n".join(["classification (featbus train --recipe NAME):",
                      *(entry(r, DEFAULT_RECIPE) for r in RECIPES.values()),
                      "  (figures: benchmarks/recipes.py, duplicate-grouped 3-fold CV of the 625 BUSI images, the "
                      "same folds for every recipe, as the recipes ship; accuracy of the most probable class, before "
                      "train's operating point; 95 % intervals over near-duplicate groups)",
                      "\nsegmentation (featbus segment train --recipe NAME):",
                      *(entry(r, DEFAULT_SEGMENTER_RECIPE) for r in SEGMENTER_RECIPES.values())])
