"""Parameter texts shared by many docstrings, written once (nilearn's ``fill_doc`` habit), and the
renamed parameters of the network estimators.

A docstring names a shared text as ``%(name)s`` on a line of its own, indented as the
parameter it stands for; :func:`fill_doc` puts the text in, indented to match. Only names of
:data:`DOCDICT` are replaced, so other ``%`` signs in a docstring stay as they are.

Most texts are a whole parameter (the ``name : type, default=...`` line, then its description).
A key ending in ``_body`` is the description only, for a parameter whose default differs between
estimators (:class:`~featbus.FineTunedCNN` and :class:`~featbus.UNetSegmenter` take the same
network knobs under the same names): the estimator writes the first line itself and the
placeholder, indented, below it.

Renamed parameters (scikit-learn's way): the old name stays a parameter for one release with
the default ``"deprecated"``; :func:`renamed` gives the value to use and warns with a
``FutureWarning`` when the old name was set.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, TypeVar

__all__ = ["DOCDICT", "RENAMED", "fill_doc", "renamed"]

#: Old name -> new name, in every network estimator (for one release).
RENAMED = {"encoder": "backbone", "flip_test": "tta", "verbose": "progress"}

_BACKBONE = '''backbone : str or callable, default="efficientnet_lite0"
    The pretrained network, by one name in every featbus network: a row of the backbone table
    (:data:`featbus.networks.BACKBONES`: ``"efficientnet_lite0"``,
    ``"efficientnet_lite2"``, ``"mobilenet_v2"``, ``"resnet50"`` ...; any case), any other
    ``keras.applications`` model by name (``"ResNet152"``, ``"ConvNeXtTiny"``), or a function
    ``f(input_shape) -> keras.Model`` building your own network, fed the gray image repeated to
    three channels in ``[0, 255]`` (its preprocessing belongs inside it). See
    :mod:`featbus.networks`.'''

#: name -> text (numpydoc: the first line, then the description indented by 4; ``*_body``: the description
#: only). The feature extractors' texts, then the networks'.
DOCDICT: dict[str, str] = {
    "empty_mask": '''empty_mask : {"image", "raise"}, default="image"
    What an empty mask means with ``region != "image"``: use the whole image, or raise.''',
    "n_jobs": '''n_jobs : int or None, default=None
    Images processed in parallel (joblib); ``None``: one at a time, the default because two
    jobs did not pay enough to be worth the memory on a shared 2-core machine: worker processes
    ran the 625 BUSI images at 0.94x (+23 % CPU, 1.8x peak memory), threads (what a union of
    families uses) at 1.28x (``benchmarks/parallel_extraction.py``; see the scaling guide).''',
    "cache": '''cache : None, False, str, path or joblib.Memory, default=None
    Where computed rows are kept (see :mod:`featbus.compute.extraction`): ``None``, in this process
    (and in the folder ``$FEATBUS_CACHE`` names, if set); a folder, also on disk, shared
    between processes and runs; ``False``, nowhere.''',
    "progress": '''progress : bool or "auto", default="auto"
    Progress over the images computed; ``"auto"``: a bar when standard error is a terminal,
    else a plain timestamped line every 30 s (:mod:`featbus.progress`); ``True``: always a bar.''',
    # the networks (FineTunedCNN, UNetSegmenter)
    "backbone": _BACKBONE,
    "epochs_body": '''Training epochs. They alone end a default fit: early stopping (``validation_fraction``,
``patience``) and a time budget (``max_time``) are opt-in, and when one of them ends
training a warning says so and ``history_`` records it (``stopped``) and which epoch's
weights were kept.''',
    "batch_size_body": '''Images per training step.''',
    "learning_rate_body": '''Peak rate of the AdamW optimiser: ramped up linearly over the first epoch, then
cosine-decayed to zero at the last one (:mod:`featbus.networks.training`).''',
    "weight_decay_body": '''Decoupled weight decay of AdamW (Loshchilov & Hutter, ICLR 2019); 0 gives plain Adam.''',
    "validation_fraction": '''validation_fraction : float in [0, 0.5), default=0.0
    Share of the training images held out for early stopping: whole near-duplicate groups
    (the ``groups`` of ``fit``, else :func:`featbus.model_selection.resolve_groups`), drawn by
    :func:`featbus.model_selection.holdout_split`, so a copy of a training image never
    validates. 0 (default): every image is trained on, ``epochs`` decide and the last epoch's
    weights are kept. Above 0, training stops after ``patience`` epochs without improvement
    and the best epoch's weights are kept (a warning says so when it ends training early).''',
    "patience_body": '''Epochs without improvement of the validation loss before early stopping ends training
(only with ``validation_fraction > 0``).''',
    "max_time": '''max_time : float or None, default=None
    Time budget in seconds, opt-in: training stops after the batch that passes it, keeps the
    best weights so far (the last ones without validation), and the cosine schedule reaches
    zero when it is spent; a warning says so, and ``history_["stopped"]`` is ``"max_time"``.
    A budget makes the result depend on the machine and its load. ``None``: ``epochs`` decide.''',
    "tta": '''tta : bool, default=False
    Test-time augmentation: average the predictions (or embeddings) of each image and of its
    left-right mirror (twice the inference cost).''',
    "random_state": '''random_state : int, RandomState or None, default=None
    Seeds the initial weights, the validation split, the batch order and the augmentation
    (and a fine-tuned head's dropout and mixup). With an int, two fits on the same data agree
    up to the floating-point reduction order of multi-threaded kernels.''',
    "network_progress": '''progress : bool or "auto", default="auto"
    Progress bar per training batch (epoch, loss, validation values) and over predicted
    images; ``"auto"``: a bar when standard error is a terminal, else a plain timestamped line
    every 30 s with the epoch, the loss and the time left (:mod:`featbus.progress`).''',
}

_PLACEHOLDER = re.compile(r"^([ \t]*)%\((\w+)\)s[ \t]*$", re.M)

T = TypeVar("T")


def fill_doc(obj: T) -> T:
    """Replace the ``%(name)s`` lines of ``obj.__doc__`` by the shared texts of :data:`DOCDICT`.

    Raises
    ------
    KeyError
        A placeholder names no shared text (a typo would otherwise reach the docs).

    Examples
    --------
    >>> @fill_doc
    ... class Extractor:
    ...     '''Parameters
    ...     ----------
    ...     %(n_jobs)s
    ...     '''
    >>> print(Extractor.__doc__.splitlines()[2].strip())
    n_jobs : int or None, default=None
    """

    def text(match: re.Match) -> str:
        indent, name = match.group(1), match.group(2)
        if name not in DOCDICT:
            raise KeyError(f"{getattr(obj, '__qualname__', obj)!r}: no shared docstring text {name!r}; "
                           f"choose from {sorted(DOCDICT)}")
        return "\n".join(indent + line if line else line for line in DOCDICT[name].splitlines())

    if obj.__doc__:
        obj.__doc__ = _PLACEHOLDER.sub(text, obj.__doc__)
    return obj


def renamed(est: Any, new: str, convert=None, *, warn: bool = True) -> Any:
    """The value of parameter ``new`` of ``est``, or of its deprecated old name when that was set.

    Parameters
    ----------
    est : estimator
    new : str
        The current name (a value of :data:`RENAMED`).
    convert : callable, optional
        Turns the old parameter's value into the new one's (``verbose=1`` -> ``progress=True``).
    warn : bool, default=True
        Warn (``FutureWarning``) when the old name was set; ``fit`` warns, prediction does not.
    """
    old = next(o for o, n in RENAMED.items() if n == new)
    value = getattr(est, old, "deprecated")
    if isinstance(value, str) and value == "deprecated":
        return getattr(est, new)
    if warn:
        warnings.warn(f"{type(est).__name__}: the parameter {old!r} was renamed {new!r} (one name in every featbus "
                      f"network) and will be removed in the next release; pass {new}= instead", FutureWarning,
                      stacklevel=3)
    return convert(value) if convert is not None else value
