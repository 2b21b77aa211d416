"""Extraction settings in a file, as the radiomics world keeps them (pyradiomics' parameter file).

A settings file (YAML or JSON) names the feature families and their parameters, the region and
the preprocessing steps::

    # featbus settings
    region: mask                 # image, mask or bbox; for every family that takes one
    preprocess: [clahe]          # optional: steps of --preprocess, in order
    features:
      glcm: {distances: [1, 2, 4], levels: 32}
      lbp: {radii: [1, 2]}
      intensity: {}              # {} or nothing: the family's defaults
      efficientnet_lite0: {input_size: 224}   # a CNN backbone: DeepFeatures parameters

It is checked against the registry before any image is read: every family must be known, every
parameter one its extractor takes, with a value its constraints accept; the error names the
file and the key. ``featbus extract``, ``evaluate`` and ``train`` take it as ``--params FILE``.

Every feature table featbus writes records the settings that made it in a sidecar
``<table>.settings.json`` (:func:`settings_record`): the featbus version, the command, and the
*full* parameters of every extractor, defaults included. The sidecar is itself a settings file:
``featbus extract DATA --params table.csv.settings.json`` computes the same table again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ._registry import is_a

__all__ = ["read_settings", "check_settings", "settings_extractors", "settings_record", "SETTINGS_SUFFIX"]

#: What :func:`settings_record` appends to a table's path.
SETTINGS_SUFFIX = ".settings.json"

_KEYS = {"features", "region", "preprocess"}
#: Keys a record adds that say where the settings come from; read back, they are ignored.
_RECORD_KEYS = {"featbus", "command", "created", "data", "columns"}
_REGIONS = ("image", "mask", "bbox")
# settings that say how a run goes, not what it computes: given on the command line, not here
_RUN_PARAMS = {"region", "n_jobs", "cache", "progress", "verbose"}


class SettingsError(ValueError):
    """A settings file that cannot be used; the message names the file and the key."""


def read_settings(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a settings file (``.yaml``/``.yml`` or ``.json``).

    Parameters
    ----------
    path : str or path

    Returns
    -------
    settings : dict
        As :func:`check_settings` returns it.

    Raises
    ------
    SettingsError
        The file is missing, not YAML/JSON, or not valid settings (the message says where).

    Examples
    --------
    >>> import json, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "settings.json")
    >>> with open(path, "w") as f:
    ...     json.dump({"features": {"glcm": {"distances": [1, 2]}, "intensity": None}}, f)
    >>> read_settings(path)["features"]
    {'glcm': {'distances': (1, 2)}, 'intensity': {}}
    """
    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"settings file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text)  # safe_load: plain data only, no Python objects
        else:
            raw = json.loads(text)
    except Exception as exc:  # noqa: BLE001  (yaml's and json's many error types: one message)
        kind = "YAML" if path.suffix.lower() in (".yaml", ".yml") else "JSON"
        detail = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise SettingsError(f"settings file {str(path)!r} is not valid {kind}: {detail}") from None
    return check_settings(raw, source=str(path))


def check_settings(raw: Any, *, source: str = "settings") -> dict[str, Any]:
    """Check settings (a mapping as read from a file) against the registry and normalise them.

    Lists become tuples (the extractors' parameters are sequences); a family given ``None``
    gets its defaults. Every parameter is validated by constructing the extractor and running
    its declared constraints.

    Returns
    -------
    settings : dict
        ``{"features": {name: params}, "region": str or None, "preprocess": list of str}``.

    Examples
    --------
    >>> check_settings({"features": {"lbp": {"radii": [1]}}, "region": "mask"})
    {'features': {'lbp': {'radii': (1,)}}, 'region': 'mask', 'preprocess': []}
    >>> check_settings({"features": {"lbp": {"radius": 1}}})
    Traceback (most recent call last):
    ...
    featbus.settings.SettingsError: settings: features.lbp.radius: LBPFeatures has no parameter 'radius'; ...
    """
    if not isinstance(raw, dict):
        raise SettingsError(f"{source}: must be a mapping with 'features' (and optionally 'region', 'preprocess'), "
                            f"got {type(raw).__name__}")
    unknown = sorted(set(raw) - _KEYS - _RECORD_KEYS)
    if unknown:
        raise SettingsError(f"{source}: unknown key(s) {unknown}; settings have {sorted(_KEYS)}")
    region = raw.get("region")
    if region is not None and region not in _REGIONS:
        raise SettingsError(f"{source}: region must be one of {list(_REGIONS)} (or absent), got {region!r}")
    preprocess = raw.get("preprocess") or []
    if isinstance(preprocess, str):
        preprocess = [p.strip() for p in preprocess.split(",") if p.strip()]
    from ._registry import PREPROCESSORS

    if not isinstance(preprocess, list) or not all(isinstance(p, str) and p in PREPROCESSORS for p in preprocess):
        raise SettingsError(f"{source}: preprocess must be a list of step names from "
                            f"{', '.join(PREPROCESSORS)}, got {preprocess!r}")
    features = raw.get("features")
    if not isinstance(features, dict) or not features:
        raise SettingsError(f"{source}: 'features' must map at least one family name to its parameters, e.g. "
                            "features: {lbp: {}, glcm: {distances: [1, 2]}}")
    checked = {}
    for name, params in features.items():
        where = f"{source}: features.{name}"
        key = str(name).strip().lower()
        params = {} if params is None else params
        if not isinstance(params, dict):
            raise SettingsError(f"{where}: parameters must be a mapping (or empty), got {type(params).__name__}")
        checked[key] = {str(k): _as_value(v) for k, v in params.items()}
        _build(key, checked[key], where)
    return {"features": checked, "region": region, "preprocess": list(preprocess)}


def _as_value(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_as_value(v) for v in value)
    if isinstance(value, dict):
        return {str(k): _as_value(v) for k, v in value.items()}
    return value


def _build(name: str, params: dict[str, Any], where: str):
    """The extractor for one family entry; errors name the entry."""
    from .pipelines import make_features

    try:
        (_, est), = make_features([name]).transformer_list
    except (ValueError, ImportError) as exc:
        raise SettingsError(f"{where}: {exc}") from None
    cls = type(est)
    accepted = est.get_params(deep=False)
    run = sorted(set(params) & _RUN_PARAMS)
    if run:
        raise SettingsError(f"{where}: {', '.join(run)} {'is' if len(run) == 1 else 'are'} set for the whole run "
                            "(region at the top of the file; n_jobs, cache, progress on the command line)")
    for key in params:
        if key not in accepted:
            choices = ", ".join(k for k in accepted if k not in _RUN_PARAMS)
            raise SettingsError(f"{where}.{key}: {cls.__name__} has no parameter {key!r}; its parameters: {choices}")
    est.set_params(**params)
    if hasattr(est, "_validate_params"):
        try:
            est._validate_params()
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"{where}: {str(exc).splitlines()[0]}") from None
    return est


def settings_extractors(settings: dict[str, Any]) -> list[tuple[str, Any]]:
    """``(name, extractor)`` pairs of checked settings, for
    :func:`featbus.pipelines.make_features` (give it ``region=settings["region"]``).

    Examples
    --------
    >>> settings_extractors(check_settings({"features": {"glcm": {"distances": [2]}}}))
    [('glcm', GLCMFeatures(distances=(2,)))]
    """
    return [(name, _build(name, params, f"features.{name}")) for name, params in settings["features"].items()]


def settings_record(union, *, region: str | None, preprocess: list[str] | None, command: str | None = None,
                    data: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a feature table records of its making: a settings file with every parameter.

    Parameters
    ----------
    union : FeatureUnion
        The fitted extractors (:func:`featbus.pipelines.make_features`).
    region, preprocess
        The run's region and preprocessing step names.
    command : str, optional
        The command line.
    data : dict, optional
        Where the images came from (path, count).

    Returns
    -------
    record : dict
        JSON-ready; :func:`check_settings` reads it back.
    """
    from datetime import datetime, timezone

    from ._version import __version__
    from .extraction import _jsonable

    features = {}
    for name, est in union.transformer_list:
        params = {k: v for k, v in est.get_params(deep=False).items() if k not in _RUN_PARAMS}
        if is_a(est, "DeepFeatures"):
            params.pop("backbone", None)  # the entry's name is the backbone
        features[name] = _jsonable(params)
    return {"featbus": __version__, "command": command,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "data": data,
            "region": region, "preprocess": list(preprocess or []), "features": features}
