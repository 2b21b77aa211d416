"""``featbus app MODEL``: a local web page that predicts one image at a time (Streamlit).

Upload a PNG, JPEG, TIFF or DICOM image (or type the path of one on this computer) and the page
shows the predicted class and the probability of every class, the explanation overlay
(Grad-CAM where :func:`featbus.deploy.explain.supports_grad_cam`, occlusion sensitivity otherwise), and
where the image's mean grey level and spread fall among the training images of each class (the
intensity analysis of the MobileNetV2 study; the training values are stored in the model file's
manifest). The model's recipe, training data and cross-validation results are shown beside it.
When the model has a lesion segmenter (``featbus train --segmenter``), the page also shows the
lesion ROI the features were computed on: the image with the crop box and the contour of the
predicted lesion drawn (:func:`roi_overlay`), or says that no lesion was found and the whole
image was used.

The server binds to 127.0.0.1 only (never to the network), with Streamlit's usage statistics off,
and every one of its routes (the page, the health check, static files, file uploads, the
WebSocket) refuses with 403 a request addressed to a name other than a local one
(:func:`host_allowed`) or sent from a page of another origin (:func:`origin_allowed`), before any
Streamlit handler runs (:func:`serve`). Install with ``pip install "featbus[app]"``.

Run::

    featbus app busi.featbus             # http://127.0.0.1:8501
    featbus app busi.featbus --port 8600

The page script is this module, run by Streamlit with the model path in the environment variable
``FEATBUS_APP_MODEL``: :func:`run_app` starts :func:`streamlit_command`, which is ``streamlit run
featbus/deploy/app.py`` through :func:`serve` (plain ``streamlit run featbus/deploy/app.py`` shows the same page,
but only the page itself checks the ``Host`` header then).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

__all__ = ["run_app", "analyse", "intensity_position", "roi_overlay", "streamlit_command", "allowed_path",
           "max_pixels", "host_allowed", "origin_allowed", "request_allowed", "install_request_guard", "serve",
           "APP_MAX_PIXELS", "APP_MAX_UPLOAD_MB", "REFUSED_BODY", "RESEARCH_NOTICE", "verdict_lines",
           "card_lines"]

#: Shown at the top of the page and printed once when ``featbus app`` starts.
RESEARCH_NOTICE = ("Research use only, not for diagnosis: featbus models are research tools, not medical devices; "
                   "their predictions must not guide any patient's care.")
_ENV = "FEATBUS_APP_MODEL"
#: The folders whose images the page may open by path (``featbus app --data DIR``), joined by
#: ``os.pathsep``; without any, the page opens uploads only.
_ROOTS_ENV = "FEATBUS_APP_DATA"
UPLOAD_TYPES = ["png", "jpg", "jpeg", "tif", "tiff", "dcm", "dicom"]
#: Largest image the page opens, in pixels (``FEATBUS_APP_MAX_PIXELS`` overrides): a full-field
#: digital mammogram (about 4096 x 3328) fits; a small file claiming more is refused before its
#: pixels are decoded, so a few hundred kB cannot take the server to gigabytes.
APP_MAX_PIXELS = 16_000_000
_MAX_PIXELS_ENV = "FEATBUS_APP_MAX_PIXELS"
#: Largest upload, in MB (Streamlit's ``server.maxUploadSize``; its default is 200).
APP_MAX_UPLOAD_MB = 50


#: Extra host names the page answers to, joined by ``os.pathsep`` (``featbus app --allow-host``).
_HOSTS_ENV = "FEATBUS_APP_HOSTS"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def host_allowed(host_header: str | None) -> bool:
    """Whether the page answers a request with this ``Host`` header.

    Only local names (:data:`LOCAL_HOSTS`, any port) and the names given with ``featbus app
    --allow-host`` are answered: a web page elsewhere that points its own domain name at
    127.0.0.1 (DNS rebinding) reaches the server with its name in ``Host`` and gets nothing.
    A request without the header (not a browser) is answered. The one rule for the page and for
    every route of the server (:func:`request_allowed`), and for the host of an ``Origin``
    (:func:`origin_allowed`).

    Parameters
    ----------
    host_header : str or None
        The ``Host`` header's value (``name``, ``name:port`` or ``[IPv6]:port``).

    Returns
    -------
    allowed : bool

    Examples
    --------
    >>> host_allowed("127.0.0.1:8501"), host_allowed("localhost"), host_allowed("[::1]:8501")
    (True, True, True)
    >>> host_allowed("attacker.example:8501")
    False
    """
    if not host_header:
        return True
    host = host_header.strip().lower()
    if host.startswith("["):  # [IPv6]:port
        host = host[1:host.find("]")] if "]" in host else host[1:]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    extra = [h.strip().lower() for h in os.environ.get(_HOSTS_ENV, "").split(os.pathsep) if h.strip()]
    return host in LOCAL_HOSTS or host in extra


def origin_allowed(origin: str, port: int) -> bool:
    """Whether the server answers a request carrying this ``Origin`` header (the page that sent it).

    The origin must be ``http`` or ``https`` with a host name :func:`host_allowed` accepts, and
    for a local name (:data:`LOCAL_HOSTS`) the server's own ``port``: another server on this
    computer (a development server at localhost:3000, say) is another origin, and its pages may not
    talk to this one. A name given with ``featbus app --allow-host`` is accepted on any port (a
    reverse proxy serves the page on its own). ``null``, other schemes, user names, paths and
    malformed ports are refused.

    Parameters
    ----------
    origin : str
        The header's value, e.g. ``"http://localhost:8501"``.
    port : int
        The port the server listens on.

    Returns
    -------
    allowed : bool

    Examples
    --------
    >>> origin_allowed("http://localhost:8501", 8501), origin_allowed("http://[::1]:8501", 8501)
    (True, True)
    >>> origin_allowed("http://localhost:3000", 8501), origin_allowed("http://127.0.0.1", 8501)
    (False, False)
    >>> origin_allowed("http://attacker.example:8501", 8501), origin_allowed("null", 8501)
    (False, False)
    """
    try:
        parts = urlsplit(origin.strip())
        origin_port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # a port that is not a number, or out of range
        return False
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None
            or parts.password is not None or parts.path not in ("", "/") or parts.query or parts.fragment):
        return False
    name = parts.hostname.lower()
    if not host_allowed(name):
        return False
    return origin_port == int(port) or name not in LOCAL_HOSTS


def request_allowed(hosts: Sequence[str], origins: Sequence[str], port: int) -> bool:
    """Whether the server answers a request with these ``Host`` and ``Origin`` header values.

    The one rule of every route of the server (:func:`install_request_guard`): at most one of
    each header, the ``Host`` accepted by :func:`host_allowed` (the rule the page itself applies)
    and the ``Origin``, where the request has one, by :func:`origin_allowed`.

    Parameters
    ----------
    hosts, origins : sequence of str
        Every value of the request's ``Host`` and ``Origin`` headers (usually one or none).
    port : int
        The port the server listens on.

    Returns
    -------
    allowed : bool
        ``False``: the server answers 403 and no handler runs.

    Examples
    --------
    >>> request_allowed(["localhost:8501"], [], 8501), request_allowed([], [], 8501)
    (True, True)
    >>> request_allowed(["rebind.example:8501"], [], 8501)
    False
    >>> request_allowed(["localhost:8501"], ["http://rebind.example:8501"], 8501)
    False
    """
    if len(hosts) > 1 or len(origins) > 1:
        return False
    if hosts and not host_allowed(hosts[0]):
        return False
    return not origins or origin_allowed(origins[0], port)


#: The body of the 403 answer to a request :func:`request_allowed` refuses, on every route.
REFUSED_BODY = (b"featbus app: refused. This server answers only requests addressed to http://127.0.0.1 or "
                b"http://localhost from its own pages (featbus app --allow-host NAME adds a name).\n")
_REFUSED_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(REFUSED_BODY)).encode()), (b"connection", b"close")]


async def _refuse_asgi(scope, receive, send) -> None:
    """Answer an ASGI ``http`` or ``websocket`` request with 403 and :data:`REFUSED_BODY`."""
    if scope["type"] == "websocket":
        await receive()  # websocket.connect; the connection is never accepted (no upgrade)
        if "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": 403, "headers": _REFUSED_HEADERS})
            await send({"type": "websocket.http.response.body", "body": REFUSED_BODY})
        else:  # closing before accepting: the ASGI server answers the handshake with 403
            await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "http.response.start", "status": 403, "headers": _REFUSED_HEADERS})
    await send({"type": "http.response.body", "body": REFUSED_BODY})


def _guard_starlette(port: int) -> bool:
    """Wrap ``Starlette.__call__``, the ASGI entry of every Starlette application (Streamlit's
    server since it moved from Tornado): a refused request never reaches its middleware or routes."""
    try:
        from starlette.applications import Starlette
    except ImportError:
        return False
    original = Starlette.__call__
    if getattr(original, "_featbus_guard", False):
        return True

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            headers = scope.get("headers") or []
            hosts = [v.decode("latin-1") for k, v in headers if k.lower() == b"host"]
            origins = [v.decode("latin-1") for k, v in headers if k.lower() == b"origin"]
            if not request_allowed(hosts, origins, port):
                await _refuse_asgi(scope, receive, send)
                return
        await original(self, scope, receive, send)

    __call__._featbus_guard = True
    Starlette.__call__ = __call__
    return True


def _guard_tornado(port: int) -> bool:
    """Wrap ``tornado.web.Application.find_handler`` (Streamlit's server before Starlette): a
    refused request, WebSocket upgrades included, is routed to a handler that answers 403."""
    try:
        import tornado.web
    except ImportError:
        return False
    original = tornado.web.Application.find_handler
    if getattr(original, "_featbus_guard", False):
        return True

    class _Refused(tornado.web.RequestHandler):
        SUPPORTED_METHODS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")  # others: 405

        def check_xsrf_cookie(self) -> None:  # refused anyway, with the same answer for every method
            pass

        def prepare(self) -> None:
            self.set_status(403)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(REFUSED_BODY)

    def find_handler(self, request, **kwargs):
        if not request_allowed(request.headers.get_list("Host"), request.headers.get_list("Origin"), port):
            return self.get_handler_delegate(request, _Refused)
        return original(self, request, **kwargs)

    find_handler._featbus_guard = True
    tornado.web.Application.find_handler = find_handler
    return True


def install_request_guard(port: int) -> None:
    """Make every route of the web server in this process apply :func:`request_allowed` first.

    Streamlit's own routes (health check, static files, file uploads, the WebSocket) answer any
    ``Host``; this wraps the entry point of the web framework Streamlit serves with, before the
    server starts: ``Starlette.__call__`` (Streamlit 1.5x and later, on uvicorn) and Tornado's
    ``Application.find_handler`` (earlier releases), whichever are installed. A refused request
    gets 403 with :data:`REFUSED_BODY` (a WebSocket handshake: 403, no upgrade) and no Streamlit
    handler runs. Installing twice changes nothing.

    Parameters
    ----------
    port : int
        The port the server will listen on (the port an ``Origin`` of a local name must have).

    Raises
    ------
    ImportError
        Neither Starlette nor Tornado is installed (no server to guard).
    """
    guarded = [_guard_starlette(port), _guard_tornado(port)]
    if not any(guarded):
        raise ImportError('featbus app needs Streamlit, whose server runs on Starlette or Tornado: '
                          'pip install "featbus[app]"')


def serve(argv: Sequence[str] | None = None) -> None:
    """Run the ``streamlit`` command line ``argv`` with every route guarded (the server of :func:`run_app`).

    :func:`install_request_guard` with the port of ``--server.port`` (8501 without it), then
    ``python -m streamlit *argv`` in this process, so the guard is in place before the server
    answers its first request. :func:`streamlit_command` runs it as
    ``python -c "from featbus.deploy.app import serve; serve()" run featbus/deploy/app.py ...``.

    Parameters
    ----------
    argv : sequence of str, optional
        Streamlit's arguments (``run SCRIPT --server.port PORT ...``); ``sys.argv[1:]`` by default.

    Raises
    ------
    SystemExit
        With Streamlit's exit status, when its server stops.
    """
    import runpy

    args = list(sys.argv[1:] if argv is None else argv)
    port = int(args[args.index("--server.port") + 1]) if "--server.port" in args[:-1] else 8501
    install_request_guard(port)
    sys.argv = ["streamlit", *args]
    runpy.run_module("streamlit", run_name="__main__", alter_sys=True)


def max_pixels() -> int:
    """The page's pixel limit: ``FEATBUS_APP_MAX_PIXELS`` if set (a positive integer), else
    :data:`APP_MAX_PIXELS`."""
    raw = os.environ.get(_MAX_PIXELS_ENV, "").strip()
    if not raw:
        return APP_MAX_PIXELS
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{_MAX_PIXELS_ENV} must be a positive integer, got {raw!r}")
    return int(raw)


def intensity_position(model, image) -> dict:
    """Where an image's mean and standard deviation (0..1 grey scale) fall in each training class.

    Returns
    -------
    position : dict
        ``{"mean": value, "std": value, "classes": {class: {"mean": percentile, "std": percentile}}}``
        where a percentile is the share (0..100) of that class's training images below the value.

    Examples
    --------
    >>> import numpy as np
    >>> class M:
    ...     manifest = {"intensity": {"a": {"mean": {"values": [0.1, 0.2, 0.3]}, "std": {"values": [0.1, 0.1, 0.1]}}}}
    >>> intensity_position(M(), np.full((8, 8), 0.25))["classes"]["a"]["mean"]
    66.7
    """
    from .._records import to_float

    img = to_float(np.asarray(image))
    value = {"mean": float(np.mean(img)), "std": float(np.std(img))}
    classes = {}
    for c, stats in (model.manifest.get("intensity") or {}).items():
        classes[c] = {k: round(100.0 * float(np.mean(np.asarray(stats[k]["values"]) < value[k])), 1)
                      for k in ("mean", "std") if stats.get(k, {}).get("values")}
    return {**value, "classes": classes}


def roi_overlay(image, roi: dict) -> np.ndarray:
    """The image in RGB with the lesion ROI drawn: the crop box (yellow) and the contour of the
    predicted lesion (red); nothing is drawn when no lesion was found (the whole image was used).

    Parameters
    ----------
    image : ndarray of shape (h, w)
    roi : dict
        One item of :meth:`featbus.model.FeatbusModel.lesion_roi` (``found``, ``box``, ``mask``).

    Returns
    -------
    rgb : ndarray of shape (h, w, 3), uint8

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((40, 40), np.uint8); mask = np.zeros((40, 40), bool); mask[10:20, 10:20] = True
    >>> rgb = roi_overlay(img, {"found": True, "box": (5, 25, 5, 25), "mask": mask})
    >>> rgb.shape, rgb[5, 15].tolist(), rgb[10, 15].tolist(), rgb[30, 30].tolist()
    ((40, 40, 3), [255, 215, 0], [220, 20, 60], [0, 0, 0])
    """
    import cv2

    from .._records import to_float

    grey = np.round(255 * to_float(np.asarray(image))).astype(np.uint8)
    rgb = np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if not roi.get("found"):
        return rgb
    h, w = grey.shape
    thick = max(1, round(min(h, w) / 200))
    r0, r1, c0, c1 = roi["box"]
    cv2.rectangle(rgb, (int(c0), int(r0)), (int(c1) - 1, int(r1) - 1), (255, 215, 0), thick)
    if roi.get("mask") is not None:
        contours, _ = cv2.findContours(np.asarray(roi["mask"], np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(rgb, contours, -1, (220, 20, 60), thick)
    return rgb


def analyse(model, image, *, method: str = "auto") -> dict:
    """Everything the page shows about one image (also usable without Streamlit).

    Returns
    -------
    result : dict
        :func:`featbus.deploy.explain.explain`'s keys (``roi`` included) plus ``overlay`` (RGB uint8),
        ``intensity`` (:func:`intensity_position`), ``roi_overlay`` (:func:`roi_overlay`;
        ``None`` for a model without a segmenter), ``out_of_domain`` (the image's score
        against the model's training images, above 1: unlike them; ``None`` for a model file
        without a reference, :mod:`featbus.model.domain`), ``rule`` (what decided ``predicted``:
        :meth:`~featbus.model.FeatbusModel.decision_rule`), ``most_probable`` (the class of
        the highest probability, which a stored operating point may overrule) and
        ``two_decisions``: for a model whose operating point takes two decisions, the image's
        two scores beside their thresholds (:func:`two_decisions_of`), else ``None``.
    """
    from .explain import explain, overlay

    res = explain(model, image, method=method)
    reference = getattr(model, "domain", None)
    res["out_of_domain"] = (None if reference is None
                            else float(reference.transform(model.transform([res["image"]]))[0, 0]))
    res["overlay"] = overlay(res["image"], res["map"], method=res["method"])
    res["intensity"] = intensity_position(model, res["image"])
    res["roi_overlay"] = None if res["roi"] is None else roi_overlay(res["image"], res["roi"])
    res["rule"] = model.decision_rule()
    res["most_probable"] = max(res["proba"], key=res["proba"].get)
    res["two_decisions"] = two_decisions_of(model.operating_point, res["proba"])
    return res


def two_decisions_of(point, proba: dict) -> dict | None:
    """One image's two scores beside the two thresholds of a two-decision operating point.

    Parameters
    ----------
    point : OperatingPoint or None
        The model's stored point (:attr:`featbus.model.FeatbusModel.operating_point`).
    proba : dict
        Class -> probability of the image.

    Returns
    -------
    scores : dict or None
        ``absent``, ``positive``, ``p_lesion`` (``1 - p(absent)``), ``presence_threshold``,
        ``p_given`` (``p(positive | lesion)``, :func:`featbus.metrics.lesion_and_given`) and
        ``threshold``; ``None`` when the point takes one decision (or there is none).

    Examples
    --------
    >>> from featbus.deploy.app import two_decisions_of
    >>> from featbus.metrics import OperatingPoint
    >>> point = OperatingPoint("malignant", 0.2, absent="normal", presence=OperatingPoint("lesion", 0.4))
    >>> two = two_decisions_of(point, {"benign": 0.6, "malignant": 0.2, "normal": 0.2})
    >>> round(two["p_lesion"], 3), round(two["p_given"], 3)
    (0.8, 0.25)
    """
    from ..metrics import lesion_and_given

    if point is None or not point.two_decisions:
        return None
    p_lesion, given = lesion_and_given([list(proba.values())], list(proba), absent=point.absent,
                                       positive=point.positive)
    return {"absent": point.absent, "positive": point.positive, "p_lesion": float(p_lesion[0]),
            "presence_threshold": float(point.presence.threshold), "p_given": float(given[0]),
            "threshold": float(point.threshold)}


def decision_caption(res: dict) -> str:
    """The line under the page's answer: the rule that decided it, and the most probable class
    when the rule overruled it.

    Examples
    --------
    >>> from featbus.deploy.app import decision_caption
    >>> print(decision_caption({"predicted": "malignant", "most_probable": "benign", "proba": {"benign": 0.8,
    ...       "malignant": 0.15, "normal": 0.05},
    ...       "rule": "malignant when p(malignant) >= 0.043, else the most probable other class"}))
    ... # doctest: +NORMALIZE_WHITESPACE
    Decided by the model's operating point: malignant when p(malignant) >= 0.043, else the most probable
    other class. The most probable class is benign (0.800); malignant has 0.150.

    Of a model that takes two decisions (``res["two_decisions"]``, :func:`two_decisions_of`),
    each decision with the image's score and its threshold:

    >>> print(decision_caption({"predicted": "malignant", "most_probable": "benign",
    ...       "proba": {"benign": 0.6, "malignant": 0.2, "normal": 0.2},
    ...       "two_decisions": {"absent": "normal", "positive": "malignant", "p_lesion": 0.8,
    ...                         "presence_threshold": 0.4, "p_given": 0.25, "threshold": 0.2}}))
    ... # doctest: +NORMALIZE_WHITESPACE
    Decided by the model's two operating points: is there a lesion? p(lesion) = 0.800, at least its
    threshold 0.4: a lesion. Then, malignant given a lesion? p(malignant | lesion) = 0.250, at least its
    threshold 0.2: malignant. The most probable class is benign (0.600); malignant has 0.200.
    """
    two = res.get("two_decisions")
    if two:
        def score(p: float, t: float) -> str:  # enough digits that the shown score is on its side of t
            shown = f"{p:.3f}"
            return shown if (float(shown) >= t) == (p >= t) and float(shown) != round(t, 3) else f"{p:.6f}"

        text = (f"Decided by the model's two operating points: is there a lesion? p(lesion) = "
                f"{score(two['p_lesion'], two['presence_threshold'])}, "
                + (f"below its threshold {two['presence_threshold']:.4g}: {two['absent']} (no second decision)."
                   if two["p_lesion"] < two["presence_threshold"] else
                   f"at least its threshold {two['presence_threshold']:.4g}: a lesion. Then, {two['positive']} given "
                   f"a lesion? p({two['positive']} | lesion) = {score(two['p_given'], two['threshold'])}, "
                   + (f"at least its threshold {two['threshold']:.4g}: {two['positive']}."
                      if two["p_given"] >= two["threshold"] else
                      f"below its threshold {two['threshold']:.4g}: not {two['positive']}, so the most probable "
                      f"other lesion class, {res['predicted']}.")))
    elif res["rule"] == "the most probable class":
        return "Decided by: the most probable class (the model file stores no operating point)."
    else:
        text = f"Decided by the model's operating point: {res['rule']}."
    if res["most_probable"] != res["predicted"]:
        text += (f" The most probable class is {res['most_probable']} ({res['proba'][res['most_probable']]:.3f}); "
                 f"{res['predicted']} has {res['proba'][res['predicted']]:.3f}.")
    return text


def allowed_path(path: str, roots: list[str]) -> Path:
    """``path`` resolved (symbolic links and ``..`` followed) when it lies inside one of the
    ``roots``, the data folders the page was given; ``ValueError`` otherwise, so that a path
    typed in the page or passed as ``?image=`` cannot reach any other file the server's account
    can read.

    Examples
    --------
    >>> import os, tempfile
    >>> from featbus.deploy.app import allowed_path
    >>> root = tempfile.mkdtemp()
    >>> open(os.path.join(root, "a.png"), "wb").close()
    >>> allowed_path(os.path.join(root, "a.png"), [root]).name
    'a.png'
    >>> allowed_path(os.path.join(root, "..", "etc", "passwd"), [root])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ...outside the data folder(s) this page was started with...
    """
    if not roots:
        raise ValueError("this page opens uploaded images only (start it with featbus app MODEL --data DIR to "
                         "open images of DIR by path)")
    resolved = Path(os.path.expanduser(path)).resolve()
    for root in roots:
        if resolved.is_relative_to(Path(root).resolve()):
            if not resolved.is_file():
                raise ValueError(f"{path!r}: no such image file")
            return resolved
    raise ValueError(f"{path!r} is outside the data folder(s) this page was started with: "
                     + ", ".join(map(str, roots)))


def _data_roots() -> list[str]:
    return [r for r in os.environ.get(_ROOTS_ENV, "").split(os.pathsep) if r]


def _read_failure(name: str, exc: Exception) -> str:
    """What the page says about an image it cannot read: never the file's bytes (an image
    error may quote the first bytes of a text file), only what kind of problem it is."""
    from .._records import ImageError

    if isinstance(exc, ImageError):
        if "more than the limit" in str(exc):
            return (f"cannot open the image {name!r}: it has more than {max_pixels():,} pixels, the most this page "
                    f"opens (set {_MAX_PIXELS_ENV} before starting it for larger genuine images)")
        return (f"cannot read the image {name!r}: it is not an image featbus can read (PNG, JPEG, TIFF, PGM or "
                "DICOM), or it is damaged")
    if isinstance(exc, OSError):
        return f"cannot read the image {name!r}: {exc.strerror or type(exc).__name__}"
    return f"cannot read the image {name!r}: {exc}"


def _read_upload(name: str, data: bytes) -> np.ndarray:
    """Read uploaded bytes with featbus.io (same checks and DICOM handling as files)."""
    from ..io import read_image

    suffix = Path(name).suffix.lower() or ".png"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        return read_image(path, max_pixels=max_pixels())


def _intensity_figure(model, image):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .._records import to_float

    stats = model.manifest.get("intensity") or {}
    img = to_float(np.asarray(image))
    # constrained layout keeps the legend below the axes, where it cannot cover a box
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.1), layout="constrained")
    for ax, key, label in zip(axes, ("mean", "std"), ("mean grey level", "grey-level spread (std)")):
        names = list(stats)
        ax.boxplot([stats[c][key]["values"] for c in names], orientation="horizontal", widths=0.5)
        ax.set_yticks(range(1, len(names) + 1), names)
        line = ax.axvline(float(np.mean(img) if key == "mean" else np.std(img)), color="crimson", lw=2,
                          label="this image")
        ax.set_xlabel(label + " (0..1)")
    fig.legend(handles=[line], loc="outside lower center", fontsize=8, frameon=False)
    fig.suptitle("training images per class (boxes) and this image (red line)", fontsize=10)
    return fig


def page(model_path: str | None = None) -> None:  # pragma: no cover - exercised through AppTest
    """The Streamlit page (run by ``streamlit run``)."""
    import streamlit as st

    from ..model.loaded import load_model

    model_path = model_path or os.environ.get(_ENV)
    st.set_page_config(page_title="featbus", layout="wide")
    if not host_allowed(st.context.headers.get("Host")):  # before any model or image is touched
        st.error("This page answers only at http://127.0.0.1 or http://localhost (featbus app --allow-host NAME "
                 "adds a name).")
        st.stop()
    st.title("featbus: breast image classification")
    st.markdown(f":orange-background[:material/warning: **{RESEARCH_NOTICE}**]")
    if not model_path:
        st.error(f"no model: start the page with `featbus app MODEL` (or set {_ENV})")
        return

    @st.cache_resource(show_spinner="loading the model...")
    def get_model(path: str):
        return load_model(path)  # trust-checked: `featbus app --trust` adds the file to the list first

    try:
        model = get_model(model_path)
    except (ValueError, OSError) as exc:
        st.error(f"cannot load the model: {exc}")
        return
    _sidebar(st, model)
    name, image = _chosen_image(st)
    if image is None:
        return
    with st.spinner("predicting and explaining..."):
        res = analyse(model, image)
    _show_result(st, model, res, name)


def _sidebar(st, model) -> None:  # pragma: no cover - exercised through AppTest
    """The page's sidebar: what the model is, its verdict, its card and the file in full."""
    m = model.manifest
    with st.sidebar:
        st.header("Model")
        description = model.describe()
        st.text(description.splitlines()[0] if description else "")  # what it is; the rest folded below
        verdict = verdict_lines(m)
        if verdict is not None:
            kind, headline, reasons = verdict
            getattr(st, kind)(headline)
            st.text("\n".join(reasons))
        card = card_lines(m)
        if card:  # the shipped classifier: its card's four parts, as featbus inspect quotes them
            st.caption("Its card (what it does at sites it never saw, and after adapting to one):")
            st.text("\n".join(card))
        with st.expander("The model file, in full (featbus inspect)"):
            st.text(description)
        if m.get("holdout"):
            h = m["holdout"]
            st.write(f"held-out accuracy: {h['accuracy']:.3f} on {h['n_images']} images never seen in this training")
            for note in h.get("notes") or []:  # a shipped backbone that trained on them
                st.caption(f"optimistic: {note}")
        st.caption("Explanations: " + ("Grad-CAM (of the CNN features)"
                                       if _grad_cam_ok(model) else "occlusion sensitivity"))


def _chosen_image(st) -> tuple[str | None, np.ndarray | None]:  # pragma: no cover - exercised through AppTest
    """The image the user gave (an upload, or a path inside the data folders) and its name; none
    (and the page says why) when there is none yet or it cannot be read."""
    upload = st.file_uploader("Image (PNG, JPEG, TIFF or DICOM)", type=UPLOAD_TYPES)
    roots = _data_roots()
    path = ""
    if roots:  # ?image=PATH in the address pre-fills the path; only files inside the data folders open
        path = st.text_input(f"...or the path of an image in {', '.join(roots)}",
                             value=st.query_params.get("image", ""))
    elif st.query_params.get("image"):
        st.warning("?image= is ignored: this page was started without data folders (featbus app MODEL --data "
                   "DIR), so it opens uploads only")
    image, name = None, None
    try:
        if upload is not None:
            name = upload.name
            image = _read_upload(upload.name, upload.getvalue())
        elif path.strip():
            from ..io import read_image

            name = path.strip()
            image = read_image(allowed_path(name, roots), max_pixels=max_pixels())
    except (ValueError, OSError) as exc:
        st.error(_read_failure(name, exc))
        return name, None
    if image is None:
        st.info("Upload an image to see the predicted class, the probabilities and why.")
    return name, image


def _show_result(st, model, res: dict, name: str | None) -> None:  # pragma: no cover - exercised through AppTest
    """The prediction, its rule, the explanation, the lesion crop and the intensity comparison."""
    import pandas as pd

    st.subheader(f"Predicted: {res['predicted']}")
    st.caption(decision_caption(res))  # the rule beside the answer: it may not be the tallest bar
    if res["out_of_domain"] is not None and res["out_of_domain"] > 1:
        # a warning, not an error box: the page works, the answer is an extrapolation
        st.warning(f"This image looks unlike the model's training images (out-of-domain score "
                   f"{res['out_of_domain']:.2f}, above 1): the prediction is an extrapolation.")
    proba = pd.DataFrame({"class": list(res["proba"]), "probability": list(res["proba"].values())})
    cols = st.columns(3)
    cols[0].image(np.asarray(res["image"]), caption=name, clamp=True, width="stretch")
    from .plotting import plot_explanation

    # the map over the image with its colour bar (what the colours mean), the plain image beside it;
    # a small panel keeps the title and the bar's label legible at the column's width
    cols[1].pyplot(plot_explanation(res, panels=("map",), panel_size=2.2), width="stretch")
    cols[2].dataframe(proba.style.format({"probability": "{:.3f}"}), hide_index=True)
    cols[2].bar_chart(proba.set_index("class"))
    if res["roi"] is not None:
        st.subheader("Lesion ROI (what the features saw)")
        roi = res["roi"]
        if roi["found"]:
            r0, r1, c0, c1 = roi["box"]
            caption = (f"crop box rows {r0}-{r1}, columns {c0}-{c1} (yellow); predicted lesion contour (red), "
                       f"{int(roi['mask'].sum())} pixels")
        else:
            caption = "no lesion found: whole image used"
        st.image(res["roi_overlay"], caption=name, width=min(480, int(res["roi_overlay"].shape[1] * 2)))
        st.caption(caption)
    st.subheader("Intensity among the training classes")
    st.pyplot(_intensity_figure(model, res["image"]))
    pos = res["intensity"]
    st.caption("Share of each class's training images below this image: " + "; ".join(
        f"{c}: mean {v.get('mean')}%, std {v.get('std')}%" for c, v in pos["classes"].items()))


def card_lines(manifest: dict) -> list[str]:
    """What the page's sidebar shows of a classifier featbus ships: its card's four parts
    (:func:`featbus.model.describe.card_parts`, the words ``featbus inspect`` prints), one line
    each; none for any other model (an adapted copy of it included).

    Examples
    --------
    >>> from featbus.deploy.app import card_lines
    >>> card_lines({"pipeline_sha256": "0" * 64})
    []
    """
    from ..model.describe import card_parts, shipped_card
    from ..model.trust import printable

    card = shipped_card(manifest)
    return [printable(f"{head}: {text}") for head, text in card_parts(card)] if card is not None else []


def verdict_lines(manifest: dict) -> tuple[str, str, list[str]] | None:
    """What the page's sidebar shows of the model-sanity verdict the file holds (or one
    recomputed from its stored cross-validation figures, :func:`featbus.evaluation.sanity.verdict_from_manifest`).

    Parameters
    ----------
    manifest : dict
        The model's manifest.

    Returns
    -------
    shown : tuple or None
        ``(kind, headline, reasons)``: the Streamlit call (``"success"`` for a useful model,
        ``"warning"`` otherwise), the headline and the reasons as plain text (escaped: they come from the
        file); ``None`` when the file holds nothing to judge the model by.

    Examples
    --------
    >>> from featbus.deploy.app import verdict_lines
    >>> kind, headline, reasons = verdict_lines({"cv": {"sanity": {"verdict": "useless",
    ...                                          "reasons": ["no better than always answering 'normal'"]}}})
    >>> kind, headline
    ('warning', 'Verdict: useless (on its own cross-validation)')
    >>> reasons
    ["* no better than always answering 'normal'"]
    >>> seen = {"cv": {"caveat": "optimistic: 12 of these 12 images trained the backbone breast-us",
    ...                "sanity": {"verdict": "useful", "reasons": ["it beats the trivial answer"]}}}
    >>> kind, headline, _ = verdict_lines(seen)
    >>> kind, headline.split(", on images")[1]
    ('warning', ' a trained part of it saw: optimistic, not evidence that it works on new images')
    """
    from ..evaluation.sanity import verdict_from_manifest, verdict_prefix
    from ..model.trust import printable

    verdict = verdict_from_manifest(manifest)
    if verdict is None:
        return None
    # a useless model is a warning, not an error box: the page itself works (an st.error means it failed)
    kind = {"useful": "success", "limited": "warning", "useless": "warning"}[verdict.verdict]
    where = "validation split" if "validation split" in verdict.basis else "cross-validation"
    headline = f"Verdict: {verdict.verdict} (on its own {where})"
    if verdict_prefix(manifest) != "verdict":  # a trained part (a shipped backbone, the segmenter) saw these images
        kind = "warning"  # never green on figures a trained part has seen
        headline += ", on images a trained part of it saw: optimistic, not evidence that it works on new images"
    return kind, headline, [f"* {printable(r)}" for r in verdict.reasons]


def _grad_cam_ok(model) -> bool:
    from .explain import supports_grad_cam

    return supports_grad_cam(model)


def streamlit_command(model_path: str, *, port: int = 8501) -> list[str]:
    """The ``streamlit run`` command line of :func:`run_app` (127.0.0.1 only, headless).

    Streamlit runs through :func:`serve`, so that every route of its server refuses requests
    :func:`request_allowed` refuses; the model path goes in ``FEATBUS_APP_MODEL`` (:func:`run_app`).

    Parameters
    ----------
    model_path : str
        The model file (unused in the command: the page reads it from the environment).
    port : int, default 8501
        The port on 127.0.0.1.

    Returns
    -------
    command : list of str
        ``[python, "-c", "from featbus.deploy.app import serve; serve()", "run", APP, "--server.address",
        "127.0.0.1", "--server.port", PORT, ...]``.

    Examples
    --------
    >>> cmd = streamlit_command("busi.featbus", port=8600)
    >>> cmd[1:4], cmd[cmd.index("--server.address") + 1], cmd[cmd.index("--server.port") + 1]
    (['-c', 'from featbus.deploy.app import serve; serve()', 'run'], '127.0.0.1', '8600')
    """
    return [sys.executable, "-c", "from featbus.deploy.app import serve; serve()", "run", str(Path(__file__).resolve()),
            "--server.address", "127.0.0.1", "--server.port", str(int(port)), "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
            "--server.maxUploadSize", str(APP_MAX_UPLOAD_MB),
            "--client.toolbarMode", "minimal"]


def run_app(model_path: str | os.PathLike, *, port: int = 8501, data: Sequence[str | os.PathLike] = (),
            allow_hosts: Sequence[str] = ()) -> int:
    """Serve the page for a model on http://127.0.0.1:PORT until interrupted; returns the exit status.

    The Streamlit server is a child process; when this one ends (Ctrl+C, or SIGTERM from a
    service manager) the server is stopped too, so no server is left listening. The page opens
    uploaded images, and by path (typed, or ``?image=`` in the address) only images inside the
    ``data`` folders (:func:`allowed_path`). Every route of the server, not only the page,
    answers only requests addressed to a local name or one of ``allow_hosts``
    (:func:`host_allowed`) and, where the request says which page sent it, sent from a page of
    the server itself (:func:`origin_allowed`); others get 403 (:func:`serve`).

    Parameters
    ----------
    model_path : str or path-like
        The ``.featbus`` file.
    port : int, default 8501
        The port on 127.0.0.1.
    data : sequence of str or path-like, default ()
        Folders whose images the page may open by path.
    allow_hosts : sequence of str, default ()
        Host names answered besides the local ones (e.g. behind a reverse proxy).

    Returns
    -------
    status : int
        The server's exit status (130 after Ctrl+C).
    """
    import signal
    import threading

    try:
        import streamlit  # noqa: F401
    except ImportError as exc:
        raise ImportError('featbus app needs Streamlit: pip install "featbus[app]"') from exc
    env = dict(os.environ, **{_ENV: str(Path(model_path).resolve()),
                              _ROOTS_ENV: os.pathsep.join(str(Path(d).resolve()) for d in data),
                              _HOSTS_ENV: os.pathsep.join(allow_hosts)})
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print(f"featbus app: {RESEARCH_NOTICE}", flush=True)
    print(f"featbus app: http://127.0.0.1:{port} (Ctrl+C to stop)", flush=True)
    server = subprocess.Popen(streamlit_command(str(model_path), port=port), env=env)

    def _stop(signum, frame):
        raise SystemExit(128 + signum)

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop) if main else None
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


if __name__ == "__main__":  # pragma: no cover - `streamlit run featbus/deploy/app.py`
    # run as a script: the package is imported by absolute name, not relative to this file
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    from featbus.deploy.app import page as _page

    _page()
