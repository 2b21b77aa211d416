"""The one start-up of the commands that read images and then a model: ``validate``, ``compare``,
``adapt`` and ``predict``.

Each command checks its own outputs first (:func:`featbus.cli._common._refuse_existing`, the one
``--overwrite`` refusal, and ``_check_writable``), then calls :func:`start`, which does what they
share, in one order: each MODEL's needs are read from its manifest (a missing Keras is said at
once, with the extra to install), DATA is read (a folder featbus cannot read is said in a second,
before the slow model loads), then each MODEL is loaded under the user's trust (``--trust``,
``--runtime``).
:func:`check_kind` is the one refusal of images that are not the kind a model learnt from (a
photograph, a mammogram for an ultrasound model). ``--n-bootstrap`` is checked where it is
declared (:func:`featbus.cli._options.add_n_bootstrap`), for every command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NamedTuple

from ._common import CLIError, _load_model_cli, _needs_keras
from ._data import _label_conflicts, _load_folder
from ._options import export_columns
from ._progress import command_progress

__all__ = ["Started", "start", "check_kind", "say_input_scale"]


class Started(NamedTuple):
    """What :func:`start` read: the data and the loaded models, in the order given."""

    #: the labelled data set (a :class:`~sklearn.utils.Bunch`), the unlabelled images' records
    #: (``images=``), or ``None``
    data: Any
    #: one loaded model per path given
    models: list


def start(args, models, *, data: str | None = None, images=None, min_classes: int = 1,
          conflicts: str | None = None, keras_too: bool | str = False, said=()) -> Started:
    """Read the command's data, then load its models.

    Parameters
    ----------
    args : argparse.Namespace
        The command's options (``on_error``, ``task``, the export columns, ``trust``, ``debug``,
        ``runtime``).
    models : list of str
        The model files (shipped names already resolved).
    data : str, optional
        A labelled data set (class folders, a manifest, an export, BUS-BRA...).
    images : list of str, optional
        Unlabelled image files or folders instead (``adapt`` without ``--labels``): read as
        records, each unreadable one said on stderr and left out (``--on-error skip``).
    min_classes : int, default=1
        Classes ``data`` must hold.
    conflicts : str, optional
        Words what reads the labels (``"validation"``): images under two labels are named.
    keras_too : bool or "fine-tuned", default=False
        Load Keras with the models (a command that runs or changes their networks in Keras);
        ``"fine-tuned"``: only for a fine-tuned network (``adapt``'s AdaBN).
    said : sequence of str, default=()
        Lines saying what the command's image folders hold (predict's listing), printed once the
        models' needs are checked and before any model loads.

    Returns
    -------
    Started
    """
    from ..model.format import read_manifest

    manifests = [read_manifest(path) for path in models]  # once per model: a foreign file fails here
    for path, manifest in zip(models, manifests):  # a missing Keras is said now, not after minutes of reading DATA
        if _needs_keras(path, args.runtime, keras_too, manifest):
            from ..networks.backend import require_keras

            require_keras(f"the model {Path(path).name!r} (its networks)")
    for line in said:
        print(line, file=sys.stderr)
    read = None
    if data is not None:
        read = _load_folder(data, args.on_error, args.task, min_classes=min_classes, columns=export_columns(args))
        if conflicts is not None:
            read = _label_conflicts(read, conflicts, source=data)
    elif images is not None:
        from ..model.loaded import read_records
        from ._data import _expand_images

        read, _, skipped = read_records(_expand_images(images), args.on_error)
        for _, path, reason in skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
    loaded = []
    for path, manifest in zip(models, manifests):  # a stage: it says which model loads, off with --quiet
        with command_progress(args, f"loading {Path(path).name}"):
            loaded.append(_load_model_cli(path, args.trust, args.debug, runtime=args.runtime, keras_too=keras_too,
                                          manifest=manifest))
    say_input_scale(loaded, read)
    return Started(read, loaded)


def say_input_scale(models, read) -> None:
    """The reading summary's one line on the scale the models see the images at (standard error):
    ``frames brought to 320 px on the longer side, as trained (...)``, once per distinct scale of
    ``models`` (:attr:`featbus.FeatbusModel.input_scale`), with how many of the images read were
    resized and from what stored size (and, for a model that records a physical scale, how many
    followed their pixel size and how many the longer side). Nothing without images."""
    records = getattr(read, "data", read)
    if not records:
        return
    shown = [r for r in records if hasattr(r, "image") and hasattr(r.image, "shape")]
    shapes = [r.image.shape[:2] for r in shown]
    from .._records import pixel_size
    from ..model.scale import scale_words

    pixels = [pixel_size(getattr(r, "meta", None)) for r in shown]  # the rule each image follows (issue 82)
    for words in dict.fromkeys(scale_words(m.input_scale, shapes or None, pixels) for m in models):
        print(words, file=sys.stderr)


def check_kind(model, records, force: bool, progress=False) -> tuple[list[str], Any]:
    """The model's look at the images (:meth:`featbus.FeatbusModel.look`: crops, features,
    probabilities, out-of-domain scores, the image kind) and the one refusal of images that are not
    the kind the model learnt from, read from it (:func:`featbus.model.domain.refuse_other_kind`: a
    mammogram named a mammogram, a photograph a photograph), unless ``--force``.

    Parameters
    ----------
    model : FeatbusModel
        The loaded model.
    records : list of ImageRecord
        The images.
    force : bool
        ``--force``: go on whatever the images are.
    progress : bool, "auto" or Stages, default=False
        The display of the model's pass and the image check (:func:`featbus.progress.stages`).

    Returns
    -------
    words : list of str
        How the images differ from the training images (printed once the work went ahead).
    look : featbus.model.loaded.Look or None
        What the command hands on (``featbus adapt`` to :func:`featbus.adapt`); ``None`` for an
        older file, which stores no training-image profile (nothing checked).
    """
    from ..model.domain import refuse_other_kind

    if not isinstance(model.manifest.get("training_images"), dict):
        return [], None  # an older file: the out-of-domain score stands alone
    look = model.look(records, progress=progress)
    try:
        refuse_other_kind(look, force=force)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    return list(look.kind["words"]), look
