"""Joint image/mask augmentation for segmentation training (:func:`augment_pair`)."""

from __future__ import annotations

import cv2
import numpy as np
from sklearn.utils import check_random_state

__all__ = ["augment_pair"]


def augment_pair(image: np.ndarray, mask: np.ndarray, random_state=None, *, rotation: float = 15.0,
                 shift: float = 0.1, zoom: float = 0.1, flip: bool = True,
                 brightness: float = 0.2, gamma: float = 0.2,
                 border: str = "reflect") -> tuple[np.ndarray, np.ndarray]:
    """Randomly rotate, shift, zoom, flip, brighten and re-contrast an image and its mask together.

    The default ranges are those of common breast-ultrasound U-Net papers: rotation in
    ``[-15, 15]`` degrees, shift up to 10 % of the side, zoom in ``[0.9, 1.1]``, horizontal flip
    with probability 0.5, brightness factor in ``[0.8, 1.2]``, and a gamma (contrast) change
    ``image ** g`` with ``log g`` uniform in ``[log 0.8, log 1.2]``, since scanners and gain settings
    differ mostly in contrast. Pixels moved in from outside the frame mirror the image (and the
    mask) at its edge by default; filling them with 0 instead (``border="constant"``) teaches the
    network that dark regions touching the frame are outside the image, which is wrong for the
    dark lesions that reach an edge. Vertical flips are not used: depth has a direction.

    Parameters
    ----------
    image : ndarray of shape (h, w), float in [0, 1]
    mask : ndarray of shape (h, w)
        Values in ``[0, 1]``; returned as ``float32`` 0/1.
    random_state : int, RandomState or None
    rotation, shift, zoom, brightness, gamma : float
        Ranges as above; 0 turns one off.
    flip : bool
        Random horizontal flips.
    border : {"reflect", "constant"}
        How pixels moved in from outside are filled: mirrored, or 0.

    Returns
    -------
    image, mask : ndarray of float32, same shape

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.RandomState(0).rand(32, 32).astype("float32")
    >>> m = np.zeros((32, 32), "float32"); m[8:24, 8:24] = 1
    >>> a, b = augment_pair(img, m, 0)
    >>> a.shape, b.shape, set(np.unique(b)) <= {0.0, 1.0}
    ((32, 32), (32, 32), True)
    """
    rng = check_random_state(random_state)
    h, w = image.shape
    angle = rng.uniform(-rotation, rotation)
    scale = rng.uniform(1 - zoom, 1 + zoom)
    tx, ty = rng.uniform(-shift, shift) * w, rng.uniform(-shift, shift) * h
    mat = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, scale)
    mat[:, 2] += (tx, ty)
    if border not in ("reflect", "constant"):
        raise ValueError(f"border must be 'reflect' or 'constant', got {border!r}")
    flags = dict(borderMode=cv2.BORDER_REFLECT_101 if border == "reflect" else cv2.BORDER_CONSTANT, borderValue=0)
    out = cv2.warpAffine(np.ascontiguousarray(image, np.float32), mat, (w, h), flags=cv2.INTER_LINEAR, **flags)
    m = cv2.warpAffine(np.ascontiguousarray(mask, np.float32), mat, (w, h), flags=cv2.INTER_LINEAR, **flags)
    m = (m > 0.5).astype(np.float32)
    if flip and rng.rand() < 0.5:
        out, m = out[:, ::-1], m[:, ::-1]
    out = np.clip(out * rng.uniform(1 - brightness, 1 + brightness), 0.0, 1.0)
    if gamma:
        out = out ** np.exp(rng.uniform(np.log(1 - gamma), np.log(1 + gamma)))
    return np.ascontiguousarray(out, np.float32), np.ascontiguousarray(m, np.float32)


def _resize(a: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    """Resize to (height, width); cv2 takes (width, height)."""
    return cv2.resize(np.ascontiguousarray(a), (int(size[1]), int(size[0])), interpolation=interpolation)
