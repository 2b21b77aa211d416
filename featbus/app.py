"""``featbus app MODEL``: a local web page that predicts one image at a time (Streamlit).

Upload a PNG, JPEG, TIFF or DICOM image (or type the path of one on this computer) and the page
shows the predicted class and the probability of every class, the explanation overlay
(Grad-CAM where :func:`featbus.explain.supports_grad_cam`, occlusion sensitivity otherwise), and
where the image's mean grey level and spread fall among the training images of each class (the
intensity analysis of the MobileNetV2 study; the training values are stored in the model file's
manifest). The model's recipe, training data and cross-validation results are shown beside it.
When the model has a lesion segmenter (``featbus train --segmenter``), the page also shows the
lesion ROI the features were computed on: the image with the crop box and the contour of the
predicted lesion drawn (:func:`roi_overlay`), or says that no lesion was found and the whole
image was used.

The server binds to 127.0.0.1 only (never to the network), with Streamlit's usage statistics off.
Install with ``pip install "featbus[app]"``.

Run::

    featbus app busi.featbus             # http://127.0.0.1:8501
    featbus app busi.featbus --port 8600

The page script is this module: ``streamlit run featbus/app.py`` with the model path in the
environment variable ``FEATBUS_APP_MODEL`` (what :func:`run_app` does).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["run_app", "analyse", "intensity_position", "roi_overlay", "streamlit_command", "allowed_path",
           "max_pixels", "host_allowed", "APP_MAX_PIXELS", "APP_MAX_UPLOAD_MB"]

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
    A request without the header (not a browser) is answered.

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
    from ._records import to_float

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

    from ._records import to_float

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
        :func:`featbus.explain.explain`'s keys (``roi`` included) plus ``overlay`` (RGB uint8),
        ``intensity`` (:func:`intensity_position`) and ``roi_overlay`` (:func:`roi_overlay`;
        ``None`` for a model without a segmenter).
    """
    from .explain import explain, overlay

    res = explain(model, image, method=method)
    res["overlay"] = overlay(res["image"], res["map"])
    res["intensity"] = intensity_position(model, res["image"])
    res["roi_overlay"] = None if res["roi"] is None else roi_overlay(res["image"], res["roi"])
    return res


def allowed_path(path: str, roots: list[str]) -> Path:
    """``path`` resolved (symbolic links and ``..`` followed) when it lies inside one of the
    ``roots``, the data folders the page was given; ``ValueError`` otherwise, so that a path
    typed in the page or passed as ``?image=`` cannot reach any other file the server's account
    can read.

    Examples
    --------
    >>> import os, tempfile
    >>> from featbus.app import allowed_path
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
    from ._records import ImageError

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
    from .io import read_image

    suffix = Path(name).suffix.lower() or ".png"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        return read_image(path, max_pixels=max_pixels())


def _intensity_figure(model, image):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._records import to_float

    stats = model.manifest.get("intensity") or {}
    img = to_float(np.asarray(image))
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
    for ax, key, label in zip(axes, ("mean", "std"), ("mean grey level", "grey-level spread (std)")):
        names = list(stats)
        ax.boxplot([stats[c][key]["values"] for c in names], orientation="horizontal", widths=0.5)
        ax.set_yticks(range(1, len(names) + 1), names)
        ax.axvline(float(np.mean(img) if key == "mean" else np.std(img)), color="crimson", lw=2,
                   label="this image")
        ax.set_xlabel(label + " (0..1)")
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle("training images per class (boxes) and this image (red line)", fontsize=10)
    fig.tight_layout()
    return fig


def page(model_path: str | None = None) -> None:  # pragma: no cover - exercised through AppTest
    """The Streamlit page (run by ``streamlit run``)."""
    import pandas as pd
    import streamlit as st

    from .model import load_model

    model_path = model_path or os.environ.get(_ENV)
    st.set_page_config(page_title="featbus", layout="wide")
    if not host_allowed(st.context.headers.get("Host")):  # before any model or image is touched
        st.error("This page answers only at http://127.0.0.1 or http://localhost (featbus app --allow-host NAME "
                 "adds a name).")
        st.stop()
    st.title("featbus: breast image classification")
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
    m = model.manifest
    with st.sidebar:
        st.header("Model")
        st.text(model.describe())
        if m.get("holdout"):
            h = m["holdout"]
            st.write(f"held-out accuracy: {h['accuracy']:.3f} on {h['n_images']} images never seen in training")
        st.caption("Explanations: " + ("Grad-CAM (of the CNN features)"
                                       if _grad_cam_ok(model) else "occlusion sensitivity"))
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
            from .io import read_image

            name = path.strip()
            image = read_image(allowed_path(name, roots), max_pixels=max_pixels())
    except (ValueError, OSError) as exc:
        st.error(_read_failure(name, exc))
        return
    if image is None:
        st.info("Upload an image to see the predicted class, the probabilities and why.")
        return
    with st.spinner("predicting and explaining..."):
        res = analyse(model, image)
    st.subheader(f"Predicted: {res['predicted']}")
    proba = pd.DataFrame({"class": list(res["proba"]), "probability": list(res["proba"].values())})
    cols = st.columns(3)
    cols[0].image(np.asarray(res["image"]), caption=name, clamp=True, width="stretch")
    cols[1].image(res["overlay"], caption=f"{res['method']}: regions behind '{res['target']}'",
                  width="stretch")
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


def _grad_cam_ok(model) -> bool:
    from .explain import supports_grad_cam

    return supports_grad_cam(model)


def streamlit_command(model_path: str, *, port: int = 8501) -> list[str]:
    """The ``streamlit run`` command line of :func:`run_app` (127.0.0.1 only, headless)."""
    return [sys.executable, "-m", "streamlit", "run", str(Path(__file__).resolve()),
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
    ``data`` folders (:func:`allowed_path`), and answers only requests addressed to a local name
    or one of ``allow_hosts`` (:func:`host_allowed`).
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


if __name__ == "__main__":  # pragma: no cover - `streamlit run featbus/app.py`
    # run as a script: the package is imported by absolute name, not relative to this file
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    from featbus.app import page as _page

    _page()
