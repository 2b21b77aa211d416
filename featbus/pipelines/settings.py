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
*full* parameters of every extractor, defaults included, and the working size the images were read at
(``"working_size"``: an image of more than :data:`featbus.io.WORK_PIXELS` pixels, 2048 x 2048, such as a
full-field mammogram, is area-reduced to it right after decoding, so the mammography features are computed
at about 0.2 mm a pixel whatever the detector). The sidecar is itself a settings file:
``featbus extract DATA --params table.csv.settings.json`` computes the same table again.

A settings file may come from anyone, so it is read within limits (:func:`read_settings`): at
most :data:`MAX_FILE_BYTES`, :data:`MAX_DEPTH` levels of nesting, :data:`MAX_ALIASES` YAML
aliases and :data:`MAX_VALUES` values once the aliases are expanded (a "billion laughs" file is
refused while it is parsed, before any Python object is built); a key given twice, or two
family names that differ only in case, are refused rather than merged. Every parameter is then
checked by its extractor, resource bounds included (``levels``, ``bins``, ``bin_width``, radii,
window and image sizes have upper limits), so that no setting can ask for unbounded memory
or time; an error is one line naming the file, the family and the parameter.
"""

from __future__ import annotations

import functools
import json
import math
import os
from pathlib import Path
from typing import Any

from .._compat import validate_parameters
from .._registry import EXECUTION_PARAMS, is_a
from ._yaml import MAX_ALIASES, MAX_DEPTH, MAX_VALUES, YAMLRefused, read_yaml

__all__ = ["read_settings", "check_settings", "settings_extractors", "settings_record", "SETTINGS_SUFFIX",
           "MAX_FILE_BYTES", "MAX_DEPTH", "MAX_ALIASES", "MAX_VALUES"]

#: What :func:`settings_record` appends to a table's path.
SETTINGS_SUFFIX = ".settings.json"

_KEYS = {"features", "region", "preprocess"}
#: Keys a record adds that say where the settings come from; read back, they are ignored.
_RECORD_KEYS = {"featbus", "command", "created", "data", "columns", "working_size"}
_REGIONS = ("image", "mask", "bbox")
# settings that say how a run goes, not what it computes (and the region, a run-wide choice):
# given on the command line, not here
_RUN_PARAMS = EXECUTION_PARAMS | {"region"}


#: The largest settings file read, in bytes (a settings file is a few hundred bytes, a table's
#: sidecar a few kilobytes; YAML is parsed at about 0.25 MiB/s).
MAX_FILE_BYTES = 256 * 1024
#: The most preprocessing steps.
MAX_STEPS = 16


class SettingsError(ValueError):
    """A settings file that cannot be used; the message names the file and the key."""


# --------------------------------------------------------------------------- bounded reading
def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json``'s ``object_pairs_hook``: a mapping whose keys are all different."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise SettingsError(f"the key {key!r} is given twice in one object: give each key once")
        out[key] = value
    return out


def _check_extent(raw: Any) -> None:
    """Refuse values nested deeper than :data:`MAX_DEPTH` or more than :data:`MAX_VALUES` in
    all (JSON; YAML is measured while it is composed). Iterative: no recursion limit."""
    stack, count = [(raw, 1)], 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise SettingsError(f"more than {MAX_VALUES} values")
        if depth > MAX_DEPTH:
            raise SettingsError(f"values nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _load(path: Path) -> Any:
    """The plain data of a settings file, read within the limits."""
    name = repr(str(path))
    if not path.exists():
        raise SettingsError(f"settings file {name} does not exist")
    if not path.is_file():
        raise SettingsError(f"settings file {name} is not a regular file")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SettingsError(f"settings file {name} cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SettingsError(f"settings file {name} is refused: larger than {MAX_FILE_BYTES // 1024} KiB "
                            "(a settings file is a few hundred bytes)")
    text = data.decode("utf-8", errors="replace")
    is_yaml = path.suffix.lower() in (".yaml", ".yml")
    try:
        if is_yaml:
            return read_yaml(text)
        raw = json.loads(text, object_pairs_hook=_json_object)
        _check_extent(raw)
        return raw
    except (SettingsError, YAMLRefused) as exc:
        raise SettingsError(f"settings file {name} is refused: {exc}") from None
    except RecursionError:  # json's scanner on very deep nesting (featbus relies on Python's recursion limit here)
        raise SettingsError(f"settings file {name} is refused: values nested deeper than {MAX_DEPTH} "
                            "levels") from None
    except Exception as exc:  # noqa: BLE001  (yaml's and json's many error types: one message)
        kind = "YAML" if is_yaml else "JSON"
        detail = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise SettingsError(f"settings file {name} is not valid {kind}: {detail}") from None


def read_settings(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a settings file (``.yaml``/``.yml`` or ``.json``).

    The file may come from anyone, so it is read within limits, each refusal one line:

    * at most :data:`MAX_FILE_BYTES` (256 KiB) are read;
    * values nest at most :data:`MAX_DEPTH` (20) levels deep;
    * YAML: plain data only (``yaml.SafeLoader``'s types: no Python objects), at most
      :data:`MAX_ALIASES` (100) aliases (``*name``) in all, and at most :data:`MAX_VALUES`
      (100000) values once the aliases are expanded. Both are counted while the node graph is
      composed, where an alias is a reference and not a copy, so an alias bomb ("billion
      laughs") is refused in milliseconds, before any Python object is built;
    * a key given twice in one mapping (YAML or JSON object) is refused, as are two feature
      families whose names differ only in case (``glcm`` and ``GLCM``): nothing is merged;
    * numbers must be finite; family and parameter names must be text.

    Then :func:`check_settings` checks every parameter with its extractor's constraints and
    rules, resource bounds included (texture ``bins`` at most 1024 and ``bin_width`` at least
    1/1024, GLCM ``levels`` at most 256, radii, distances and windows at most 1024 pixels, HOG
    and network input sizes ...; see each extractor), before any image is read.

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
        A ``ValueError``: the file is missing, larger or deeper than the limits, not YAML/JSON,
        or not valid settings; the message is one line naming the file and, for a parameter,
        the family and the parameter.

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
    raw = _load(path)
    return check_settings(raw, source=str(path))


def check_settings(raw: Any, *, source: str = "settings") -> dict[str, Any]:
    """Check settings (a mapping as read from a file) against the registry and normalise them.

    Lists become tuples (the extractors' parameters are sequences); a family given ``None``
    gets its defaults. Two family names that differ only in case are refused. Every parameter
    is validated by constructing the extractor and running its checks (``_check_params``: its
    declared constraints, then its rules and resource bounds), before any image is read; a
    ``TypeError`` or ``ValueError`` becomes a one-line :class:`SettingsError` naming the family.

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
    featbus.pipelines.settings.SettingsError: settings: features.lbp.radius: LBPFeatures has no parameter 'radius'; ...
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
    from .._registry import PREPROCESSORS

    if not isinstance(preprocess, list) or not all(isinstance(p, str) and p in PREPROCESSORS for p in preprocess):
        raise SettingsError(f"{source}: preprocess must be a list of step names from "
                            f"{', '.join(PREPROCESSORS)}, got {preprocess!r}")
    if len(preprocess) > MAX_STEPS:
        raise SettingsError(f"{source}: preprocess has {len(preprocess)} steps; at most {MAX_STEPS}")
    features = raw.get("features")
    if not isinstance(features, dict) or not features:
        raise SettingsError(f"{source}: 'features' must map at least one family name to its parameters, e.g. "
                            "features: {lbp: {}, glcm: {distances: [1, 2]}}")
    checked: dict[str, dict[str, Any]] = {}
    given: dict[str, str] = {}  # family key -> the name as the file gives it
    for name, params in features.items():  # the whole file's shape first, then the extractors
        if not isinstance(name, str):
            raise SettingsError(f"{source}: features: a family name must be text, got {name!r}")
        where = f"{source}: features.{name}"
        key = name.strip().lower()
        if key in given:
            raise SettingsError(f"{where}: the family {given[key]!r} is given already (family names ignore "
                                "case): give each family once")
        given[key] = name
        params = {} if params is None else params
        if not isinstance(params, dict):
            raise SettingsError(f"{where}: parameters must be a mapping (or empty), got {type(params).__name__}")
        for k in params:
            if not isinstance(k, str):
                raise SettingsError(f"{where}: a parameter name must be text, got {k!r}")
        checked[key] = {k: _as_value(v, f"{where}.{k}") for k, v in params.items()}
    for key, params in checked.items():
        _build(key, params, f"{source}: features.{given[key]}")
    return {"features": checked, "region": region, "preprocess": list(preprocess)}


def _as_value(value: Any, where: str) -> Any:
    """A parameter's value as extractors take it: lists as tuples; non-finite numbers refused."""
    if isinstance(value, list):
        return tuple(_as_value(v, where) for v in value)
    if isinstance(value, dict):
        return {str(k): _as_value(v, where) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        raise SettingsError(f"{where}: must be a finite number, got {value!r}")
    return value


def _build(name: str, params: dict[str, Any], where: str):
    """The extractor for one family entry, its parameters checked; errors name the entry.

    The extractor's own checks run (:meth:`_check_params`: scikit-learn's
    ``_parameter_constraints``, then its rules, resource bounds included), before any image
    is read; whatever they raise becomes one line naming the family (and their message names
    the parameter).
    """
    from .make import make_features

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
    check = getattr(est, "_check_params", None)
    if check is None and getattr(est, "_parameter_constraints", None):
        check = functools.partial(validate_parameters, est)
    if check is not None:
        try:
            check()
        except (ValueError, TypeError, ArithmeticError, ImportError) as exc:
            raise SettingsError(f"{where}: {_first_line(exc)}") from None
    return est


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


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

    from .._version import __version__
    from ..compute.extraction import jsonable

    features = {}
    for name, est in union.transformer_list:
        params = {k: v for k, v in est.get_params(deep=False).items() if k not in _RUN_PARAMS}
        if is_a(est, "DeepFeatures"):
            params.pop("backbone", None)  # the entry's name is the backbone
        features[name] = jsonable(params)
    return {"featbus": __version__, "command": command,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "data": data,
            "working_size": working_size(), "region": region, "preprocess": list(preprocess or []),
            "features": features}


def working_size() -> dict[str, Any]:
    """What a settings record says of the size images are worked at (:data:`featbus.io.WORK_PIXELS`).

    Examples
    --------
    >>> working_size()["pixels"]
    4194304
    """
    from ..io import WORK_PIXELS

    side = math.isqrt(WORK_PIXELS)
    return {"pixels": WORK_PIXELS, "as": f"{side} x {side}",
            "rule": "an image of more pixels (a full-field mammogram) is area-reduced (OpenCV INTER_AREA, its "
                    "aspect kept) to the largest size within them right after decoding; smaller ones are read "
                    "at their own size"}
