"""The loaded model: :class:`FeatbusModel` and :func:`load_model`, what ``featbus predict``, the app and
validation hold. One of a model's three rooms (issue 44), so that predicting imports nothing of training:

* :mod:`featbus.model.format`: the ``.featbus`` file and its trust rules (manifest, versions, skops
  schema, trust list, digests); its docstring describes the file and what loading it implies;
* :mod:`featbus.model` (here): the model that predicts, describes and saves itself, and :func:`load_model`;
* :mod:`featbus.workflows.training`: :func:`~featbus.workflows.training.train_model`, which makes one.

The format room's public names (:func:`read_manifest`, :func:`trust_model`, :class:`UntrustedModelError`...)
are importable from here as before; ``train_model`` is imported from :mod:`featbus.workflows.training` (or
``featbus``), so this module never leads back to training.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._registry import is_cnn
from ..io import file_sha256, refuse_existing
from ..progress import find_stack_level
from .domain import score_columns
from .format import (
    EXTRA_TRUSTED_TYPES,
    FORMAT_SKOPS,
    FORMAT_VERSION,
    TRUSTED_PACKAGES,
    ModelVersionError,
    UntrustedModelError,
    check_saveable,
    check_versions,
    checked_runtimes_file,
    describe_manifest,
    is_trusted_type,
    keras_installed,
    model_file,
    pipeline_types,
    read_manifest,
    read_pipeline,
    read_runtime_forwards,
    remember_runtime_checked,
    runtime_checked,
    runtime_forwards,
    trust_model,
    trusted_digests,
    trusted_models_file,
    types_needing_trust,
    write_model_file,
)
from .trust import CraftedModelError, NeedsTrust, check_loaded, printable

__all__ = ["FeatbusModel", "Look", "load_model", "read_manifest", "describe_manifest", "pipeline_types",
           "types_needing_trust", "is_trusted_type", "trust_model", "trusted_models_file", "checked_runtimes_file",
           "UntrustedModelError", "ModelVersionError", "FORMAT_VERSION", "EXTRA_TRUSTED_TYPES", "TRUSTED_PACKAGES"]

#: Images per chunk of a model's pass (:meth:`FeatbusModel.crops_and_features`): a display moves
#: every chunk, and the segmenter's and the networks' batches fill (two of 32).
PASS_CHUNK = 64


def read_records(images, on_error: str = "raise"):
    """Read every image once, as a model reads what it is given: ``(records, kept, skipped)``, the
    records read, their positions in ``images``, and ``[(index, path, reason)]`` of the images
    left out (``on_error="skip"``; ``"raise"``: the first unreadable image raises).

    Examples
    --------
    >>> import numpy as np
    >>> records, kept, skipped = read_records([np.zeros((8, 8))])
    >>> len(records), skipped
    (1, [])
    """
    from .._records import ImageError, check_images
    from ..io import load_item

    items = check_images(images, name="images")
    records, kept, skipped = [], [], []
    for i, item in enumerate(items):
        try:
            rec = load_item(item, i)
        except (ImageError, OSError) as exc:
            if on_error != "skip":
                raise
            path = getattr(exc, "path", None) or (str(item) if isinstance(item, (str, os.PathLike)) else None)
            skipped.append((i, path, " ".join(str(getattr(exc, "reason", exc)).split())))
            continue
        records.append(rec)
        kept.append(i)
    return records, np.asarray(kept, dtype=int), skipped


class Look:
    """What one model computed of a command's images, once (:meth:`FeatbusModel.look`): the commands
    take it as an argument instead of computing it again, as scikit-learn hands its scorers a
    call-local cache.

    Attributes
    ----------
    records : list of ImageRecord
        The images as read (loaded).
    crops : list of ImageRecord
        The images as the features see them (:meth:`FeatbusModel.crops_and_features`).
    features : ndarray of shape (n_images, n_features)
    proba : ndarray of shape (n_images, n_classes)
        The head's probabilities, with the site's score alignment applied (as predict does).
    out_of_domain : ndarray of shape (n_images,) or None
        The model's feature-space scores (``None`` without an out-of-domain reference).
    kind : dict or None
        :func:`featbus.model.domain.check_images` of the images: which are not the model's kind and
        why, and the words on how they differ (``None`` for a file storing no training-image profile).
    """

    def __init__(self, records, crops, features, proba, out_of_domain, kind):
        self.records, self.crops, self.features = list(records), list(crops), np.asarray(features)
        self.proba, self.out_of_domain, self.kind = proba, out_of_domain, kind

    def __len__(self) -> int:
        return len(self.records)


class FeatbusModel:
    """A fitted featbus recipe with its provenance: extractors, classifier, class names.

    Made by :func:`~featbus.workflows.training.train_model` or :func:`load_model`; not an estimator to refit
    (that is what
    :func:`featbus.make_classification_pipeline` is for).

    Parameters
    ----------
    features : FeatureUnion
        Fitted feature extractors (images -> feature matrix).
    head : classifier
        Fitted scaler/sampler/classifier pipeline with ``predict_proba`` whose ``classes_`` are
        the class names.
    manifest : dict
        Provenance (see :mod:`featbus.model.format`).
    roi : ROICropper or None, default=None
        Fitted lesion cropper applied to every image before the features (a model with a
        segmenter, see :func:`train_model`); ``None``: the features see the whole image.
    preprocess : Pipeline or None, default=None
        Fitted image -> image steps applied to every image first (e.g. pectoral-muscle
        removal, see :func:`train_model`'s ``preprocessing``).
    domain : DomainReference or None, default=None
        The training images' out-of-domain reference (:mod:`featbus.model.domain`); ``None``: none stored.

    Attributes
    ----------
    classes_ : ndarray of str
        Class names, in the order of :meth:`predict_proba`'s columns.
    manifest : dict
    roi : ROICropper or None

    Examples
    --------
    >>> from featbus import make_phantoms
    >>> from featbus.workflows.training import train_model
    >>> data = make_phantoms(30, image_size=48, random_state=0)
    >>> model = train_model(data, "intensity", classifier="logreg", n_bootstrap=0, progress=False)
    >>> model.classes_.tolist()
    ['benign', 'malignant', 'normal']
    >>> model.predict_proba(data.images[:2]).shape
    (2, 3)
    """

    def __init__(self, features, head, manifest: dict, roi=None, preprocess=None, domain=None):
        self.cv_report = None  # train_model's cross-validation Report (not saved in the file)
        self.features = features
        self.head = head
        self.manifest = manifest
        self.roi, self.preprocess, self.domain = roi, preprocess, domain

    # -- description
    @property
    def classes_(self) -> np.ndarray:
        return np.asarray([str(c) for c in self.head.classes_], dtype=object)

    @property
    def deep_extractors(self) -> list:
        """The CNN parts of the feature union: :class:`~featbus.DeepFeatures`,
        :class:`~featbus.FineTunedCNN` or :class:`~featbus.FineTunedEnsemble` (may be empty)."""
        return [est for _, est in self.features.transformer_list if is_cnn(est)]

    @property
    def reads_images(self) -> bool:
        """Whether the model computes its features from images: ``False`` for a model trained on a feature
        table without its recipe (:func:`featbus.workflows.training.train_on_table`), which predicts on
        tables only."""
        return not any(type(est).__name__ == "TableColumns" for _, est in self.features.transformer_list)

    @property
    def networks(self) -> list:
        """The fine-tuned networks of a network recipe (an ensemble's members, or the one
        :class:`~featbus.FineTunedCNN`) whose own heads make the prediction; ``[]`` for a
        features + classifier model."""
        if type(self.head).__name__ != "NetworkHead":
            return []
        (_, est), = self.features.transformer_list
        return list(getattr(est, "members_", [est]))

    def __repr__(self) -> str:
        r = self.manifest.get("recipe", {})
        seg = f", segmenter={type(self.roi.segmenter_).__name__}" if self.roi is not None else ""
        return (f"FeatbusModel(features={r.get('features')!r}, classifier={r.get('classifier')!r}{seg}, "
                f"classes={self.classes_.tolist()})")

    def describe(self) -> str:
        """A few lines: recipe, training data, cross-validation results, versions, date."""
        return describe_manifest(self.manifest)

    # -- prediction
    @property
    def input_scale(self) -> dict:
        """The scale the model's parts were trained at, which every image is brought to before any
        part sees it: ``{"longer_side_px": int or None (native size), "from": how it is known}``
        (the manifest's ``input_scale``; for an older file, :func:`featbus.model.scale.input_scale_of`)."""
        from .scale import input_scale_of

        return input_scale_of(self.manifest)

    def _crop(self, images, passes=None):
        """The images as the features see them: brought to the model's :attr:`input_scale`
        (:func:`featbus.model.scale.bring_to_scale`: every part sees the pixel size it was trained
        at; an image whose physical pixel size is known, to the trained one where the model records
        it), through :attr:`preprocess`, then cropped to the predicted lesion by :attr:`roi` (records with
        ``meta["roi_found"]`` and ``meta["roi_box"]``, the box in the image as given), or as given
        without either. The one entry through which the model's parts receive images. ``passes``: a
        run's :class:`~featbus.model.runtime.SharedPasses`, handed to the segmenter."""
        from .scale import bring_to_scale

        scale = self.input_scale  # the longer side, and the pixel size where the model records one
        scaled = images = bring_to_scale(images, scale["longer_side_px"], scale.get("pixel_size"))
        if self.preprocess is not None:
            images = self.preprocess.transform(images)
        if self.roi is None:
            return images
        crops = self.roi.transform(images) if passes is None else self.roi.transform(images, passes=passes)
        return _boxes_as_given(crops, scaled)

    def crops_and_features(self, images, *, progress=False, passes=None) -> tuple[list, np.ndarray]:
        """The images as the features see them (:meth:`_crop`: the lesion crops of a model with a
        segmenter) and their feature rows, in one pass: the segmenter then the features,
        :data:`PASS_CHUNK` images at a time, each chunk advancing the display.

        What :meth:`predict_table`, :func:`featbus.validate` and :func:`featbus.adapt` read the
        images through; given a run's ``passes``, a second model that shares the segmenter reads
        the first one's pass.

        Parameters
        ----------
        images : sequence of paths, arrays or ImageRecord
        progress : bool, "auto", None or Stages, default=False
            The display of the pass (:func:`featbus.progress.stages`): a stage counting images.
        passes : featbus.model.runtime.SharedPasses, optional
            What the run's models share (``compare``, ``adapt``): a segmenter's map of an image is
            computed once per run.

        Returns
        -------
        crops : list of ImageRecord
        features : ndarray of shape (n_images, n_features)

        Examples
        --------
        >>> from featbus import make_phantoms
        >>> from featbus.workflows.training import train_model
        >>> data = make_phantoms(30, image_size=48, random_state=0)
        >>> model = train_model(data, "intensity", classifier="logreg", n_bootstrap=0, progress=False)
        >>> crops, X = model.crops_and_features(data.images[:3])
        >>> len(crops), X.shape[0]
        (3, 3)
        """
        from ..progress import stages

        items = list(images)
        if not items:
            crops = self._crop(items, passes)
            return list(crops), np.asarray(self.features.transform(crops))
        crops, rows = [], []
        what = "lesion crops and features" if self.roi is not None else "features"
        with stages(progress, "predict").stage(what, len(items)) as bar:
            for start in range(0, len(items), PASS_CHUNK):
                chunk = self._crop(items[start:start + PASS_CHUNK], passes)
                rows.append(np.asarray(self.features.transform(chunk)))
                crops.extend(chunk)
                bar.update(len(chunk))
        return crops, np.concatenate(rows, axis=0)

    def look(self, images, *, progress=False, passes=None) -> Look:
        """What a command needs of the images, computed once: the crops and features
        (:meth:`crops_and_features`), the probabilities, the out-of-domain scores and the image
        kind (:func:`featbus.model.domain.check_images`), in that order.

        Parameters
        ----------
        images : sequence of paths, arrays or ImageRecord
        progress : bool, "auto", None or Stages, default=False
            The display of the pass and of the image check (:func:`featbus.progress.stages`).
        passes : featbus.model.runtime.SharedPasses, optional
            What the run's other models computed of these images (a shared segmenter's maps,
            the image check's descriptions): read, not computed again.

        Returns
        -------
        Look

        Examples
        --------
        >>> from featbus import make_phantoms
        >>> from featbus.workflows.training import train_model
        >>> data = make_phantoms(30, image_size=48, random_state=0)
        >>> model = train_model(data, "intensity", classifier="logreg", n_bootstrap=0, progress=False)
        >>> look = model.look(data.images[:3])
        >>> look.proba.shape, look.out_of_domain.shape, [bool(r) for r in look.kind["reasons"]]
        ((3, 3), (3,), [False, False, False])
        """
        from ..io import load_item
        from ..progress import stages
        from .domain import check_images

        items = list(images)
        shown = stages(progress, "predict")  # a Stages handed on keeps its name
        crops, features = self.crops_and_features(items, progress=shown, passes=passes)
        proba = self.aligned(self.head.predict_proba(features))
        # the reference checked as predict's columns check it (a crafted file's other object: one line)
        out_of_domain = score_columns(self.domain, features, range(len(items)), len(items)).get("out_of_domain")
        records = [load_item(r, i) for i, r in enumerate(items)]
        kind = check_images(self, records, crops, out_of_domain, progress=shown, passes=passes)
        return Look(records, crops, features, proba, out_of_domain, kind)

    def _proba_of_crops(self, crops) -> np.ndarray:
        return self.aligned(self.head.predict_proba(np.asarray(self.features.transform(crops))))

    def aligned(self, proba) -> np.ndarray:
        """The head's probabilities with the site's score alignment applied, when the manifest holds
        one (``score_alignment``, :class:`featbus.model.alignment.ScoreAlignment`, set by
        :func:`featbus.adapt` without labels)."""
        proba = np.asarray(proba, dtype=float)
        record = self.manifest.get("score_alignment")
        if not record:
            return proba
        from .alignment import ScoreAlignment

        return ScoreAlignment.from_record(record).apply(proba, self.classes_)

    def transform(self, images) -> np.ndarray:
        """Feature matrix of images (paths, arrays or :class:`~featbus.ImageRecord`), after the
        lesion crop when the model has a segmenter."""
        return np.asarray(self.features.transform(self._crop(images)))

    def predict_proba(self, images) -> np.ndarray:
        """Class probabilities, one row per image, columns in the order of :attr:`classes_`."""
        return self._proba_of_crops(self._crop(images))

    def predict(self, images) -> np.ndarray:
        """Predicted class names: :meth:`decide` of :meth:`predict_proba`."""
        return self.decide(self.predict_proba(images))

    def decide(self, proba) -> np.ndarray:
        """Class names from probabilities: the most probable class, unless the manifest holds an
        ``operating_point`` (``{"positive": class, "threshold": t}``, set by :func:`featbus.adapt`
        on a site's labelled images): then an image is ``positive`` when ``p(positive) >= t``,
        else its most probable other class. A point with two decisions (``absent`` and
        ``presence``, :class:`~featbus.metrics.OperatingPoint`) first calls an image ``absent``
        when ``p(lesion) = 1 - p(absent)`` is below the presence threshold, then decides among
        lesions on ``p(positive | lesion)`` (:meth:`decision_rule` says the rule in words)."""
        from ..metrics import decide  # the one decision rule (validation decides by it too)

        point = self.operating_point
        if point is not None:
            return point.decide(proba, self.classes_)
        return self.classes_[decide(proba)]

    def lesion_roi(self, images) -> list[dict]:
        """Where the model's segmenter finds the lesion in each image (one segmenter pass).

        Parameters
        ----------
        images : sequence of paths, arrays or ImageRecord

        Returns
        -------
        rois : list of dict
            One per image: ``"found"`` (bool), ``"box"`` ``(row0, row1, col0, col1)`` in the
            input image (half-open; the whole image when nothing was found, which is what the
            features then see) and ``"mask"``, the predicted lesion as a bool array of the
            image's size (its largest connected component), or ``None`` when none was found.

        Raises
        ------
        ValueError
            The model has no segmenter.

        Examples
        --------
        >>> from featbus import make_phantoms
        >>> from featbus.workflows.training import train_model
        >>> data = make_phantoms(24, image_size=48, random_state=0)
        >>> model = train_model(data, "intensity", classifier="logreg", cross_validate=False, progress=False)
        >>> model.lesion_roi(data.images[:1])
        Traceback (most recent call last):
        ...
        ValueError: this model has no lesion segmenter (train it with segmenter=...): it uses whole images
        """
        if self.roi is None:
            raise ValueError("this model has no lesion segmenter (train it with segmenter=...): it uses whole "
                             "images")
        records, _, _ = read_records(images)
        return [self._roi_of(rec, crop) for rec, crop in zip(records, self._crop(records))]

    def _roi_of(self, record, crop) -> dict:
        """:meth:`lesion_roi`'s dict for one loaded image and its crop by :attr:`roi` (from the
        segmenter pass that made the crop: a caller holding the crop needs no second pass)."""
        roi = self.roi
        if not roi.pass_mask or roi.output_size is not None:
            raise ValueError("lesion_roi needs the model's ROICropper to pass the mask at the crop's own size "
                             f"(pass_mask=True, output_size=None), it has pass_mask={roi.pass_mask!r}, "
                             f"output_size={roi.output_size!r}")
        found, box = bool(crop.meta["roi_found"]), tuple(int(b) for b in crop.meta["roi_box"])
        mask = None
        if found:  # the crop holds the whole predicted lesion (its box plus a margin): paste it back
            mask = np.zeros(record.image.shape[:2], bool)
            part = np.asarray(crop.mask)
            if part.shape != (box[1] - box[0], box[3] - box[2]):  # cropped at the model's scale
                from ..io import resize_to

                part = resize_to(part.astype(np.uint8), (box[1] - box[0], box[3] - box[2]), "nearest").astype(bool)
            mask[box[0]:box[1], box[2]:box[3]] = part
        return {"found": found, "box": box, "mask": mask}

    def decision_rule(self, decision: str = "operating-point") -> str:
        """The rule :meth:`predict_table` decides by, in words (its ``rule`` column).

        Parameters
        ----------
        decision : {"operating-point", "most-probable"}, default="operating-point"
            The model file's stored operating point (the most probable class when it stores
            none), or the most probable class whatever it stores.

        Returns
        -------
        rule : str
            :meth:`OperatingPoint.rule_text <featbus.metrics.OperatingPoint.rule_text>` of the
            stored point: ``"malignant when p(malignant) >= 0.0431, else the most probable other
            class"``, or for a point with two decisions ``"normal when p(lesion) < 0.4; otherwise
            malignant when p(malignant | lesion) >= 0.2, else the most probable other lesion
            class"``; or ``"the most probable class"``.

        Examples
        --------
        >>> from featbus import make_phantoms
        >>> from featbus.workflows.training import train_model
        >>> data = make_phantoms(30, image_size=48, random_state=0)
        >>> model = train_model(data, "intensity", classifier="logreg", n_bootstrap=0, progress=False)
        >>> model.decision_rule()
        'the most probable class'
        >>> model.manifest["operating_point"] = {"positive": "malignant", "threshold": 0.2, "absent": "normal",
        ...                                      "presence": {"positive": "lesion", "threshold": 0.4}}
        >>> print(model.decision_rule())  # doctest: +NORMALIZE_WHITESPACE
        normal when p(lesion) < 0.4; otherwise malignant when p(malignant | lesion) >= 0.2, else the most
        probable other lesion class
        """
        if decision not in ("operating-point", "most-probable"):
            raise ValueError(f"decision must be 'operating-point' or 'most-probable', got {decision!r}")
        point = self.operating_point
        if decision == "most-probable" or point is None:
            return "the most probable class"
        return point.rule_text()

    @property
    def operating_point(self):
        """The manifest's stored :class:`~featbus.metrics.OperatingPoint` (``None`` when it stores
        none): what :meth:`decide` decides by, with the trained parts that saw the images of its
        figures (:func:`featbus.model.provenance.stored_operating_point`)."""
        from .provenance import stored_operating_point

        return stored_operating_point(self.manifest)

    def predict_table(self, images, *, on_error: str = "raise", decision: str = "operating-point",
                      force: bool = False, progress=False, look: Look | None = None):
        """One row per image: ``image``, ``predicted``, ``rule``, ``p_<class>`` columns and ``error``.

        ``predicted`` is decided by the rule in ``rule`` (:meth:`decision_rule`): the model
        file's stored operating point by default, so it may differ from the most probable class
        (a low threshold on ``p(malignant)`` calls an image malignant at ``p_malignant`` 0.05).

        A model whose operating point takes two decisions (``"is there a lesion?"``, then
        ``"malignant, given a lesion?"``; :class:`~featbus.metrics.OperatingPoint` with
        ``presence``) adds, right after the ``p_<class>`` columns and whichever ``decision``,
        the two scores its rule compares with its two thresholds
        (:func:`~featbus.metrics.lesion_and_given`): ``p_lesion``, ``1 - p_<absent>`` (the image
        is called ``absent``, e.g. ``normal``, when it is below the presence threshold), and
        ``p_<positive>_given_lesion`` (``p_malignant_given_lesion``), ``p_<positive> / p_lesion``
        (0 where ``p_lesion`` is 0; ``positive`` when it reaches the second threshold, else the
        most probable other lesion class). Both are empty (``NaN``) for unreadable images.

        A model with a segmenter adds ``roi_found`` (whether a lesion was found; if not, the whole image was used)
        and ``roi_box`` (``(row0, row1, col0, col1)`` of the crop in the image), from the same segmenter pass as the
        prediction. A model with a :attr:`domain` adds ``out_of_domain`` and ``unlike_training``: how unlike the
        training images an image is (:mod:`featbus.model.domain`). A model whose file stores its
        training images' profile (``manifest["training_images"]``) adds ``image_statistics`` (above 1:
        unlike them) and ``out_of_domain_reason``: an image that is not the kind the model learnt
        from (:func:`featbus.model.domain.kind_reasons`: a photograph, a mammogram for an ultrasound
        model) gets ``predicted`` ``"out of domain"`` and the reason there, unless ``force``;
        ``table.attrs["data_words"]`` says how the images differ from the training images
        (:func:`featbus.model.domain.data_words`).

        Parameters
        ----------
        images : sequence of paths, arrays or ImageRecord
        on_error : {"raise", "skip"}
            An unreadable image raises (naming it), or gets a row with an empty prediction and
            the reason in ``error`` (also warned, so it is never silent).
        decision : {"operating-point", "most-probable"}, default="operating-point"
            Decide at the stored operating point (:meth:`decide`), or answer the most probable class.
        force : bool, default=False
            Decide a class for out-of-domain images too (``out_of_domain_reason`` still says why
            they are).
        progress : bool, "auto", None or Stages, default=False
            Show the work as it runs, a display per stage (:func:`featbus.progress.stages`): the
            model's pass over the images (:meth:`crops_and_features`), then the image check.
        look : Look, optional
            :meth:`look` of the readable images, in their order, computed already: read, not
            computed again. ``None``: computed here.

        Returns
        -------
        table : pandas.DataFrame
        """
        import pandas as pd

        from ..metrics import decide
        from ..progress import stages

        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        rule = self.decision_rule(decision)
        items = list(images)
        records, kept, skipped = read_records(items, on_error)
        names = [str(it) if isinstance(it, (str, os.PathLike)) else (getattr(it, "path", None) or f"#{i}")
                 for i, it in enumerate(items)]
        n = len(items)
        proba = np.full((n, len(self.classes_)), np.nan)
        predicted, error = np.full(n, "", dtype=object), np.full(n, "", dtype=object)
        roi_found, roi_box, feats = np.full(n, None, dtype=object), np.full(n, None, dtype=object), None
        shown, crops = stages(progress, "predict"), None
        if records:  # the crops and features once: the probabilities, the scores and the image check read them
            if look is None:
                look = self.look(records, progress=shown)
            elif len(look) != len(records):
                raise ValueError(f"the look was computed from {len(look)} images, {len(records)} are readable")
            crops, feats = look.crops, look.features
            proba[kept] = p = look.proba
            predicted[kept] = self.decide(p) if decision == "operating-point" else self.classes_[decide(p)]
            if self.roi is not None:
                for i, crop in zip(kept, crops):
                    roi_found[i] = bool(crop.meta["roi_found"])
                    roi_box[i] = tuple(int(b) for b in crop.meta["roi_box"])
        for i, _path, reason in skipped:
            error[i] = reason
        if skipped:
            warnings.warn(f"skipped {len(skipped)} unreadable image(s): "
                          + "; ".join(f"{names[i]}: {r}" for i, _, r in skipped[:10]), UserWarning,
                          stacklevel=find_stack_level())
        table = pd.DataFrame({"image": names, "predicted": predicted,
                              "rule": np.where(np.asarray(error) == "", rule, "")})
        for j, c in enumerate(self.classes_):
            table[f"p_{c}"] = proba[:, j]
        point = self.operating_point
        if point is not None and point.two_decisions:  # the two scores the rule compares with its thresholds
            from ..metrics import lesion_and_given

            p_lesion, given = np.full(n, np.nan), np.full(n, np.nan)
            if records:
                p_lesion[kept], given[kept] = lesion_and_given(proba[kept], self.classes_, absent=point.absent,
                                                               positive=point.positive)
            table["p_lesion"], table[f"p_{point.positive}_given_lesion"] = p_lesion, given
        if self.roi is not None:  # empty for unreadable images
            table = table.assign(roi_found=roi_found, roi_box=roi_box)
        table = table.assign(**score_columns(self.domain, feats, kept, n))  # none without a reference
        if isinstance(self.manifest.get("training_images"), dict):  # the images against the training images'
            self._kind_columns(table, look.kind if records else None, kept, force)
        table["error"] = error
        return table

    @property
    def feature_columns(self) -> list[str]:
        """The names of the feature columns the classifier reads, in order (a feature table's columns)."""
        return [str(n) for n in self.features.get_feature_names_out()]

    def predict_feature_table(self, table, *, decision: str = "operating-point"):
        """:meth:`predict_table`'s columns for the rows of a feature table (``featbus extract``'s, read by
        :func:`featbus.pipelines.tables.read_feature_table`) instead of images: ``image`` (the row's path),
        ``predicted``, ``rule``, the ``p_<class>`` columns and the out-of-domain columns of the features.

        The table must hold every column of :attr:`feature_columns` (a missing one is refused, named);
        other columns are ignored. No image is read, so there is no lesion crop and no image check.
        """
        import pandas as pd

        from ..metrics import decide

        if self.roi is not None:
            raise ValueError("this model crops its images to a segmenter's lesion before the features, which a "
                             "table's rows cannot go through: predict on the images")
        X = table.columns(self.feature_columns)
        n = X.shape[0]
        proba = self.aligned(self.head.predict_proba(X)) if n else np.zeros((0, len(self.classes_)))
        predicted = (self.decide(proba) if decision == "operating-point" else self.classes_[decide(proba)]) if n \
            else np.array([], dtype=object)
        out = pd.DataFrame({"image": list(table.paths), "predicted": predicted,
                            "rule": [self.decision_rule(decision)] * n})
        for j, c in enumerate(self.classes_):
            out[f"p_{c}"] = proba[:, j]
        point = self.operating_point
        if point is not None and point.two_decisions:
            from ..metrics import lesion_and_given

            out["p_lesion"], out[f"p_{point.positive}_given_lesion"] = lesion_and_given(
                proba, self.classes_, absent=point.absent, positive=point.positive)
        out = out.assign(**score_columns(self.domain, X, range(n), n))
        out["error"] = ""
        return out

    def _kind_columns(self, table, check, kept, force: bool) -> None:
        """:meth:`predict_table`'s ``image_statistics`` and ``out_of_domain_reason`` columns (its
        ``data_words``), in place: ``check``, the readable images against the training images' profile
        (:func:`featbus.model.domain.check_images`, the look's ``kind``; ``None`` without readable
        images); out-of-domain images get no class unless ``force``."""
        from .domain import OUT_OF_DOMAIN

        n = len(table)
        stat, why = np.full(n, np.nan), np.full(n, "", dtype=object)
        if check is not None:
            stat[kept], why[kept] = check["statistics"], check["reasons"]
        table["image_statistics"], table["out_of_domain_reason"] = stat, why
        table.attrs["data_words"] = check["words"] if check else []
        if not force:
            out = why != ""
            table.loc[out, "predicted"] = OUT_OF_DOMAIN
            table.loc[out, "rule"] = "no class: out of domain; --force decides anyway"

    def warm_up(self) -> FeatbusModel:
        """Run one tiny image through the segmenter (if any), every extractor and the classifier.

        Builds CNNs and traces their compiled functions now, so that the first real prediction
        does not pay for it (``load_model`` calls this unless ``warm_up=False``).
        """
        if not self.reads_images:  # a feature table's columns: nothing to warm up
            return self
        side = 64
        for est in self.networks or self.deep_extractors:
            side = max(side, *est.input_size_)
        if self.roi is not None:
            side = max(side, int(getattr(self.roi.segmenter_, "input_size", side)))
        img = (np.arange(side * side, dtype=np.float64).reshape(side, side) % 251).astype(np.uint8)
        self.predict_proba([img])
        return self

    # -- persistence
    def save(self, path: str | os.PathLike, *, overwrite: bool = False, trust: bool | None = None,
             runtime: bool | None = None) -> Path:
        """Write the ``.featbus`` file (atomically): manifest, pipeline (skops, no pickle) and the
        networks' inference-runtime forwards.

        Parameters
        ----------
        path : path
            Usually ``*.featbus``.
        overwrite : bool, default=False
            Replace an existing file.
        trust : bool or None, default=None
            Add the file's SHA-256 to :func:`trusted_models_file` (you made it). ``None``: only
            when the pipeline holds types featbus does not trust by itself (an estimator of
            yours, see :func:`is_trusted_type`): every other file loads without the list.
        runtime : bool or None, default=None
            Store each network's forward pass as a TFLite flatbuffer (:mod:`featbus.model.runtime`),
            so that prediction needs neither TensorFlow nor the network's weights package.
            ``None``: when Keras runs on TensorFlow (the converter traces a TensorFlow graph);
            a conversion that fails is warned about and the file is written without it.

        Raises
        ------
        ValueError
            When a network builder (or another function among the estimators' parameters) is
            defined in the running script (``__main__``) or inside a function: the file names
            it by its module, so nothing else could load it
            (:func:`featbus.model.format.check_saveable`). Put it in an importable module.
        """
        path = Path(path)
        refuse_existing(path, overwrite)
        parts = {k: getattr(self, k) for k in ("features", "head", "roi", "preprocess", "domain")}
        parts = {k: v for k, v in parts.items() if v is not None}  # no roi / preprocess / domain: no member
        check_saveable(parts)  # before the runtime forwards are converted: a refusal costs nothing
        self.manifest = write_model_file(path, parts, self.manifest, runtime_forwards(self, runtime), trust=trust)
        return path


def _boxes_as_given(crops, scaled) -> list:
    """The crops with ``meta["roi_box"]`` in the image as given: a record :func:`bring_to_scale` resized
    (``meta["input_shape"]``) has its box mapped back from the model's scale (outward, so the box still
    holds the whole crop); the others are left as they are."""
    from .scale import box_as_given

    crops = list(crops)
    for crop, rec in zip(crops, scaled):
        stored = rec.meta.get("input_shape") if hasattr(rec, "meta") else None
        if stored is None or "roi_box" not in crop.meta:
            continue
        crop.meta["roi_box"] = box_as_given(crop.meta["roi_box"], rec.image.shape[:2], stored)
    return crops


def load_model(path: str | os.PathLike, *, trusted: bool | Sequence[str] = False, warm_up: bool = True,
               runtime: str = "auto", manifest: dict | None = None) -> FeatbusModel:
    """Read a ``.featbus`` file: check its manifest, versions and members, then load its pipeline.

    A file of the current format loads without pickle: its pipeline is a skops archive whose
    types are listed before anything is created, and it creates only types trusted by skops or
    featbus (:func:`is_trusted_type`) unless you name the others (``trusted``) or trust the
    file. Older files (a pickled pipeline) load only when trusted, as before, with a warning on
    how to re-save them.

    Parameters
    ----------
    path : path or str
        A ``.featbus`` file, or the name of a classifier featbus ships (``"breast-us"``).
    trusted : bool or sequence of str, default=False
        ``True``: you vouch for the file (its other types are created; an old pickled file is
        unpickled). A sequence: type names (``module.Class``) you allow besides the trusted
        ones. Either way a file whose SHA-256 is in the trust list counts as vouched for.
    warm_up : bool, default=True
        Build CNNs and trace them now (:meth:`FeatbusModel.warm_up`), so that the first
        prediction is as fast as the next ones.
    runtime : {"auto", "keras"}, default="auto"
        ``"auto"``: run the networks through the file's inference-runtime forwards
        (:mod:`featbus.model.runtime`) when it has them and ``ai-edge-litert`` is installed, without
        importing TensorFlow; a file without them (``breast-us``) runs its networks -- backbone,
        fine-tuned network, segmenter -- through LiteRT too, each converted once and kept in
        featbus's cache folder (:func:`featbus.model.runtime.frozen_forward`), where LiteRT is
        installed; ``"keras"``: always rebuild the Keras networks and run them in Keras.
    manifest : dict, optional
        The file's manifest as :func:`read_manifest` returned it, when the caller read it already
        (the command line decides from it whether Keras loads): the file's manifest is then read
        once per load. Its pipeline is checked against it as against one read here.

    Returns
    -------
    model : FeatbusModel

    Raises
    ------
    UntrustedModelError
        The file would create types nobody vouched for, or is an old pickled file that is not
        trusted (nothing was loaded).
    ModelVersionError
        The file needs another featbus / scikit-learn version or a newer format.
    ValueError
        Not a featbus file, or a damaged or crafted one.

    Examples
    --------
    >>> import os, tempfile
    >>> from featbus import make_phantoms
    >>> from featbus.model import load_model
    >>> from featbus.workflows.training import train_model
    >>> data = make_phantoms(30, image_size=48, random_state=0)
    >>> model = train_model(data, "intensity", classifier="logreg", n_bootstrap=0, progress=False)
    >>> path = os.path.join(tempfile.mkdtemp(), "m.featbus")
    >>> _ = model.save(path)
    >>> load_model(path).predict(data.images[:1]).tolist() == model.predict(data.images[:1]).tolist()
    True
    """
    if runtime not in ("auto", "keras"):
        raise ValueError(f"runtime must be 'auto' or 'keras', got {runtime!r}")
    if not (isinstance(trusted, bool) or (isinstance(trusted, Sequence) and not isinstance(trusted, str)
                                          and all(isinstance(t, str) for t in trusted))):
        raise TypeError(f"trusted must be True, False or a list of type names, got {trusted!r}")
    path = model_file(path)  # a file, or the name of a classifier featbus ships ("breast-us")
    manifest = read_manifest(path) if manifest is None else manifest
    check_versions(manifest, path)
    size = max(os.path.getsize(path), 2**20)  # featbus stores members: none inflates past the file

    def vouched() -> bool:
        return trusted is True or file_sha256(path) in trusted_digests()

    parts = read_pipeline(path, manifest, size, trusted, vouched)
    if manifest["format_version"] >= FORMAT_SKOPS:  # a pickle (a trusted file) is not checked: it ran already
        _check_contents(parts, path, vouched)
    if not isinstance(parts, dict) or not {"features", "head"} <= set(parts):
        raise ValueError(f"{path!r} is damaged: its pipeline is not a featbus model's parts")
    roi = parts.get("roi")  # absent in format 1 files
    if (roi is None) != (not manifest.get("segmenter")):
        raise ValueError(f"{path!r} is damaged: its manifest and its pipeline disagree on whether the model "
                         "has a lesion segmenter")
    preprocess = parts.get("preprocess")  # absent before format 3
    if (preprocess is None) != (not (manifest.get("recipe") or {}).get("preprocessing")):
        raise ValueError(f"{path!r} is damaged: its manifest and its pipeline disagree on whether the model "
                         "preprocesses its images")
    model = FeatbusModel(parts["features"], parts["head"], manifest, roi, preprocess, parts.get("domain"))
    _check_classes(model, manifest, path)
    if runtime == "auto":
        _attach_runtime(model, path, size)
    _choose_runtime(model, runtime)
    if warm_up:
        model.warm_up()
    return model


def _check_contents(parts, path: str, vouched) -> None:
    """What the file made, checked before anything uses it (:func:`featbus.model.trust.check_loaded`):
    contents featbus never writes are a damaged file; parameters that would touch files or start
    unbounded workers need trust."""
    try:
        check_loaded(parts, repr(path))
    except CraftedModelError as exc:
        raise ValueError(f"{exc} (damaged or crafted: featbus never writes this)") from None
    except NeedsTrust as exc:
        if not vouched():
            raise UntrustedModelError(f"{exc}. Nothing was used. If you trust the file's origin, pass trusted=True "
                                      "(command line: --trust)") from None


def _check_classes(model: FeatbusModel, manifest: dict, path: str) -> None:
    """The manifest's class names (what ``inspect`` shows) are the classifier's, in its order
    (what ``predict`` uses): one order per file."""
    try:
        mine = [str(c) for c in model.head.classes_]
    except Exception as exc:
        raise ValueError(f"{path!r} is damaged: its classifier has no class list ({type(exc).__name__})") from None
    if mine != list(manifest["classes"]):
        raise ValueError(f"{path!r} is damaged or crafted: its manifest lists the classes "
                         f"{printable(manifest['classes'])} but its classifier predicts {printable(mine)}")


def _choose_runtime(model: FeatbusModel, runtime: str) -> None:
    """Each network of the model runs through ``runtime``: a frozen extractor's and the lesion
    cropper's own ``runtime`` parameter set to it, and a fine-tuned network without the file's
    forward given its LiteRT forward (:func:`featbus.model.runtime.frozen_forward`) for ``"auto"``.
    Grad-CAM still runs the Keras networks (it needs gradients)."""
    from .._registry import is_a
    from .runtime import frozen_forward, network_estimators

    if model.roi is not None and "runtime" in model.roi.get_params(deep=False):
        model.roi.set_params(runtime=runtime)
    for _, est in network_estimators(model):
        if is_a(est, "DeepFeatures"):
            est.set_params(runtime=runtime)
        elif runtime == "auto" and getattr(est, "_inference", None) is None:
            fwd = frozen_forward(est, runtime, cut="finetuned-embedding", input_shape=tuple(est.input_size_),
                                 network="your fine-tuned network", n_features=est.n_features_out_)
            if fwd is not None:
                est._inference = fwd


def _attach_runtime(model: FeatbusModel, path: str, size: int) -> None:
    """Give each network estimator the file's inference-runtime forward (when the file has them
    and LiteRT is installed): predictions then never import TensorFlow.

    One answer per file: where Keras is installed, each forward is run once against the network
    the file also holds, on two probe images (:func:`featbus.model.runtime.forward_disagreement`); a
    forward that is not that network (swapped for another of the same shape, its digest updated)
    is refused. A file that passed, or that this installation saved, is remembered by its SHA-256
    (:func:`checked_runtimes_file`), so later loads skip the check and never import TensorFlow.
    Without Keras the forward is the only way this installation can run the network."""
    from .runtime import RUNTIME_CHECK_RTOL, forward_disagreement, network_estimators, runtime_available

    if not (model.manifest.get("runtime") or {}).get("forwards") or not runtime_available():
        return
    attached = read_runtime_forwards(path, model.manifest, dict(network_estimators(model)), size)
    digest = file_sha256(path)
    if keras_installed() and not runtime_checked(digest):
        for member, est, fwd in attached:
            off = forward_disagreement(est, fwd)
            if not off <= RUNTIME_CHECK_RTOL:
                raise ValueError(f"{path!r} is damaged or crafted: its {member} is not the network it holds (they "
                                 f"disagree by {off:.3g} of the largest feature on the same images, at most "
                                 f"{RUNTIME_CHECK_RTOL:g} is allowed)")
        remember_runtime_checked(digest)
    for _, est, fwd in attached:
        est._inference = fwd
