"""Reading images and masks from files: PNG, JPEG, TIFF, PGM/PPM, DICOM (and what Pillow reads).

The format is recognised from the file's first bytes, not from its extension, so a text file
named ``.png`` gets an error that says so instead of an obscure decoder message. Bit depth is
kept: 8-bit images come back as ``uint8``, 16-bit ones as ``uint16`` (never silently reduced to
8 bits). Every error names the file and what is wrong with it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import math
import os
import shutil
import stat
import threading
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._records import (
    MIN_SIDE,
    PIXEL_SIZE_KEY,
    ImageError,
    ImageRecord,
    LeftOut,
    _PathLike,
    check_image,
    check_mask,
    describe,
    map_images,
    to_gray,
)
from .progress import find_stack_level

__all__ = ["read_image", "read_images", "read_mask", "load_item", "header_shape", "dicom_pixel_size", "is_dicom",
           "dicom_header", "DICOM_INSTALL",
           "write_feature_table", "list_folder", "printable_path", "limit_words", "RELEASE_LIMITS",
           "write_file", "MAX_PIXELS", "DICOM_WINDOW", "refuse_existing", "resize_to", "INTERPOLATIONS"]

#: Default largest image (height x width) that :func:`read_image` decodes: 2**28 = 268,435,456
#: pixels (16384 x 16384; a full-field digital mammogram has about 25 million). A header that
#: claims more is refused before any pixel memory is allocated (a "decompression bomb": a few
#: kilobytes of PNG can claim 60000 x 60000 pixels). Set ``featbus.io.MAX_PIXELS`` or pass
#: ``max_pixels=`` to change it; ``None`` removes the limit.
MAX_PIXELS: int | None = 1 << 28

#: Whether DICOM files are read as viewers show them: the file's VOI LUT or window applied after
#: the modality rescale (as pydicom's ``apply_voi_lut`` does). ``False`` keeps the stored values
#: (after the modality rescale). Pass ``dicom_window=`` to :func:`read_image` or set this; its
#: default comes from the environment variable ``FEATBUS_DICOM_WINDOW`` (``0``: off), which
#: ``featbus ... --dicom-raw`` sets, so worker processes read files the same way.
DICOM_WINDOW: bool = os.environ.get("FEATBUS_DICOM_WINDOW", "1").strip() != "0"

# --------------------------------------------------------------------------- untrusted input: the limits
# A release is untrusted input (a download, a colleague's disk, a PACS export): every walk and every parse
# is bounded before it starts, by these constants (:data:`RELEASE_LIMITS`), each refusal one line naming the
# file and the limit (:func:`limit_words`); the data-set readers import them from here.

#: Folders below a release's root that are walked (a 1,500-deep chain is left out, named, at this depth).
MAX_FOLDER_DEPTH = 64
#: The most bytes of a text table (CSV / TSV / TXT) read at all.
MAX_TABLE_BYTES = 512 * 1024 * 1024
#: The most characters of one line of a text table (a header of 100 M columns is refused before it is split).
MAX_LINE_CHARS = 1024 * 1024
#: The most characters of one cell (Python's csv default field limit, stated here and set while reading).
MAX_FIELD_CHARS = 131_072
#: The most columns of a table (text or Excel: counted from the cells present, never a declared range).
MAX_COLUMNS = 10_000
#: The most rows of a table (text or Excel; empty rows counted too, so an empty range cannot spin).
MAX_ROWS = 1_000_000
#: The most bytes an ``.xlsx`` may unpack to (its zip entries summed before openpyxl opens it).
MAX_XLSX_BYTES = 200 * 1024 * 1024
#: The most parts (zip entries) of an ``.xlsx``.
MAX_XLSX_PARTS = 10_000
#: The most pixels (height x width, from the header) of a release's image. The feature extractors work at
#: the image's own size in float64 with working copies: ``featbus extract -f lbp`` took 828 MB of memory at
#: its peak for a 4096 x 4096 image (237 MB for small ones: about 35 bytes a pixel) and 1,404 MB at
#: 5792 x 5792, where a 12000 x 12000 PNG (144 M pixels, 136 KB on disk) took 3.5 GB. 2**24 (16.8 M, 4096 x
#: 4096; a full-field mammogram has 13-30 M) keeps one image's extraction under 1 GB; a larger one is left
#: out, named.
MAX_IMAGE_PIXELS = 1 << 24
#: The most bytes of a JSON annotation file (a COCO export) or JSONL metadata parsed at all: checked on the
#: file's size before a byte is read (a breast release's COCO file is a few MB; hundreds of MB is not an export).
MAX_JSON_BYTES = 64 * 1024 * 1024
#: The deepest nesting of ``[`` / ``{`` a JSON file (or a JSONL line) may have, checked before it is parsed
#: (a COCO file nests 5 deep; thousands deep would exhaust the parser's stack).
MAX_JSON_DEPTH = 64


#: The names of the limits above, in one tuple (documented where each is defined).
RELEASE_LIMITS = ("MAX_FOLDER_DEPTH", "MAX_TABLE_BYTES", "MAX_LINE_CHARS", "MAX_FIELD_CHARS", "MAX_COLUMNS", "MAX_ROWS",
                  "MAX_XLSX_BYTES", "MAX_XLSX_PARTS", "MAX_IMAGE_PIXELS", "MAX_JSON_BYTES", "MAX_JSON_DEPTH")


def limit_words(name: str) -> str:
    """``"featbus.io.MAX_ROWS = 1,000,000"``: how a refusal names the limit it met."""
    return f"featbus.io.{name} = {globals()[name]:,}"


# Pillow keeps its own bomb limit in a module global; featbus checks its own limit instead, and
# the global is switched off only while a file's header is parsed, under this lock
_PIL_OPEN_LOCK = threading.Lock()

_MODES = ("gray", "unchanged")
_ON_ERROR = ("raise", "skip")


# --------------------------------------------------------------------------- format sniffing

def _sniff(head: bytes) -> str | None:
    """Name the format from the first bytes of a file (None when unknown)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head[:2] in (b"P2", b"P5", b"P6") and len(head) > 2 and head[2:3].isspace():
        return "pnm"
    return None


#: The leading bytes of the image formats a file's header is read from (:func:`header_shape`)
_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*", b"P1", b"P2", b"P3", b"P4", b"P5", b"P6")


def header_shape(path: str | os.PathLike) -> tuple[tuple[int, int] | None, tuple[str, str] | None]:
    """``((height, width), None)`` from a file's header, no pixel decoded; else ``(None, (reason,
    detail))``: ``"not an image"`` (no image format's leading bytes) or ``"unreadable"`` (the header
    cannot be read, ``detail`` saying why). What the release reader checks every file with and what
    ``featbus predict`` counts the files it will bring to scale with. A DICOM file's header is read with
    its pixel data deferred (never read): one without pixel data, or whose native pixel data the file
    does not hold whole (truncated), is ``"unreadable"`` with why; a DICOMDIR is ``"not an image"``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from PIL import Image
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
    >>> Image.fromarray(np.zeros((30, 40), np.uint8)).save(p)
    >>> header_shape(p)
    ((30, 40), None)
    >>> _ = p.with_suffix(".txt").write_text("hello"); header_shape(p.with_suffix(".txt"))
    (None, ('not an image', ''))
    """
    path = Path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # the type before any open: a FIFO would block it
            return None, ("unreadable", "not a regular file (a FIFO, device or socket), never opened")
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError as exc:
        return None, ("unreadable", str(exc.strerror or exc))
    dicom = head[128:132] == b"DICM" or path.suffix.lower() == ".dcm"
    if not dicom and not head.startswith(_MAGIC):
        return None, ("not an image", "")
    try:
        if dicom:
            return _dicom_shape(path)
        with _open_pil(str(path), None) as im:  # the header only: no pixel is decoded; the callers judge the size
            w, h = im.size
        return (h, w), None
    except Exception as exc:  # noqa: BLE001 - every reader's failure is the file's, named
        return None, ("unreadable", f"{type(exc).__name__}: {exc}")


#: The pip command that installs DICOM reading (pydicom), as every refusal names it.
DICOM_INSTALL = 'pip install "featbus[dicom]"'
#: A DICOM header's values longer than this are not read by :func:`header_shape` (the pixel data's
#: place and length are kept, so the header is read without the image).
_DICOM_DEFER_BYTES = 1024
#: The SOP class of a DICOMDIR (a CD's directory of its files: no image).
_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"


def is_dicom(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a regular file holding DICOM by its content (``DICM`` at byte 128, the
    DICOM file format's mark), whatever its name: PACS and CD exports name files ``I0000001``. Reads
    132 bytes of a regular file, nothing of anything else (a FIFO, a device, a folder).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "I0000001"
    >>> _ = p.write_bytes(bytes(128) + b"DICM" + bytes(20))
    >>> is_dicom(p), is_dicom(p.parent)
    (True, False)
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM"


def _dicom_shape(path: Path) -> tuple[tuple[int, int] | None, tuple[str, str] | None]:
    """:func:`header_shape` of a DICOM file: its header read, the pixel data's values deferred (never
    read), and a file without pixel data or whose pixel data the file does not hold whole named."""
    import pydicom

    ds = pydicom.dcmread(path, defer_size=_DICOM_DEFER_BYTES)
    if str(ds.file_meta.get("MediaStorageSOPClassUID", "")) == _DICOMDIR_CLASS:
        return None, ("not an image", "a DICOMDIR (the directory of a DICOM CD's files)")
    if "SOPClassUID" not in ds and "Rows" not in ds:
        return None, ("unreadable", "DICM at byte 128, but no DICOM image header after it (no SOP class, no size)")
    pixels = ds.get_item(0x7FE00010, keep_deferred=True)
    if pixels is None:
        return None, ("unreadable", f"a DICOM without pixel data (modality {ds.get('Modality', '?')}, SOP class "
                                    f"{ds.get('SOPClassUID', '?')}: no image in it)")
    rows, columns = int(ds.Rows), int(ds.Columns)
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is not None and not syntax.is_compressed and not syntax.is_deflated:  # native: bytes known
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        needed = (rows * columns * int(ds.get("SamplesPerPixel", 1)) * frames * int(ds.BitsAllocated) + 7) // 8
        if getattr(pixels, "value", None) is not None:
            held = len(pixels.value)
        else:  # deferred: what of its declared length the file holds
            held = min(pixels.length, max(os.path.getsize(path) - pixels.value_tell, 0))
        if held < needed:
            return None, ("unreadable", f"a truncated DICOM (pixel data {held:,} of {needed:,} bytes)")
    return (rows, columns), None


def dicom_header(path: str | os.PathLike):
    """A DICOM file's header (a :class:`pydicom.dataset.Dataset` read with ``stop_before_pixels``: no
    pixel read), or None when it cannot be read (the file's probe names why: :func:`header_shape`).
    Its attributes by keyword (``SOPInstanceUID``, ``PatientID``, ``AccessionNumber``...) are what
    a release's table may be keyed by; :func:`dicom_pixel_size` takes it (``header=``) to read no
    file again."""
    import pydicom

    try:
        return pydicom.dcmread(os.fspath(path), stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001 - a broken header is named where its file is probed
        return None


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text)


# --------------------------------------------------------------------------- decoders

def _check_pixels(path: str, height: int, width: int, max_pixels: int | None, frames: int = 1) -> None:
    if max_pixels is not None and height * width * frames > max_pixels:
        size = f"{width} x {height}" + (f" x {frames} frames" if frames > 1 else "")
        raise ImageError(f"claims {size} = {height * width * frames:,} pixels, more than the limit of "
                         f"max_pixels={max_pixels:,} (a guard against decompression bombs; pass a larger "
                         "max_pixels= or set featbus.io.MAX_PIXELS if the image is genuine)", path=path)


def _open_pil(path: str, max_pixels: int | None):
    from PIL import Image

    with _PIL_OPEN_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None  # featbus applies max_pixels itself, just below
        try:
            im = Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    try:
        _check_pixels(path, im.size[1], im.size[0], max_pixels)
    except ImageError:
        im.close()
        raise
    return im


def _damaged_header(path: str, fmt: str | None) -> str | None:
    """Why a file that starts like a known format cannot be parsed (None when unknown)."""
    if fmt == "png":
        with open(path, "rb") as fh:
            head = fh.read(33)
        if len(head) < 33 or head[12:16] != b"IHDR":
            return "is a damaged PNG file: its IHDR header chunk is missing or truncated"
        if zlib.crc32(head[12:29]) != int.from_bytes(head[29:33], "big"):
            return "is a damaged PNG file: the checksum (CRC) of its IHDR header chunk does not match"
        return "is a damaged PNG file: its header cannot be parsed"
    if fmt in ("jpeg", "tiff"):
        return f"is a damaged {fmt.upper()} file: it starts like one but its header cannot be parsed"
    return None


def _read_pil(path: str, fmt: str | None, max_pixels: int | None = None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with _open_pil(path, max_pixels) as im:
            frames = int(getattr(im, "n_frames", 1) or 1)
            if frames > 1 and im.format != "MPO":  # MPO: a JPEG with a preview image
                raise ImageError(f"is a multi-frame {im.format} file ({frames} pages/frames); featbus reads "
                                 "single images: save each page as its own file", path=path)
            im.load()  # decode now: truncated data raises here, not later
            mode = im.mode
            if mode == "1":
                return np.asarray(im, dtype=bool).astype(np.uint8) * np.uint8(255)
            if mode == "P" or mode == "PA":
                im = im.convert("RGBA" if ("transparency" in im.info or mode == "PA") else "RGB")
            elif mode == "LA":
                im = im.convert("RGBA")
            elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
                im = im.convert("RGB")
            arr = np.asarray(im)
            deep_colour = im.mode in ("RGB", "RGBA") and _is_16bit_colour(path, fmt, im)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:  # a frame Pillow checks itself while decoding
        raise ImageError(f"is larger than Pillow's decompression-bomb limit ({exc})", path=path) from None
    except UnidentifiedImageError:
        damaged = _damaged_header(path, fmt)
        if damaged:
            raise ImageError(damaged, path=path) from None
        raise ImageError("unsupported image format (neither PNG, JPEG, TIFF, PGM/PPM, DICOM nor "
                         "another format Pillow reads)", path=path) from None
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow's truncated/broken-file errors
        raise ImageError(f"cannot decode the {fmt.upper() if fmt else 'image'} data, the file is "
                         f"damaged or truncated ({exc})", path=path) from None
    if deep_colour:  # Pillow reduces 16-bit colour to 8 bits: OpenCV keeps all 16
        return _read_cv2_16(path)
    if arr.dtype.byteorder == ">":  # e.g. mode I;16B
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.dtype == np.int32:  # Pillow's mode "I": 16-bit data in a 32-bit container
        if arr.size and arr.min() >= 0 and arr.max() <= 65535:
            arr = arr.astype(np.uint16)
    return np.ascontiguousarray(arr)


def _is_16bit_colour(path: str, fmt: str | None, im) -> bool:
    if fmt == "png":
        with open(path, "rb") as fh:
            ihdr = fh.read(26)
        return len(ihdr) >= 26 and ihdr[24] == 16  # IHDR bit depth
    if fmt == "tiff":
        bits = im.tag_v2.get(258) if hasattr(im, "tag_v2") else None
        bits = bits if isinstance(bits, tuple) else (bits,)
        return any(b == 16 for b in bits)
    return False


def _read_cv2_16(path: str) -> np.ndarray:
    import cv2

    arr = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ImageError("cannot decode the 16-bit colour image data (damaged or truncated file)", path=path)
    if arr.ndim == 3:  # OpenCV gives BGR(A)
        arr = arr[..., [2, 1, 0, 3][: arr.shape[-1]]]
    return np.ascontiguousarray(arr)


def _read_pnm(path: str, max_pixels: int | None = None) -> np.ndarray:
    """Netpbm P2 (ASCII gray), P5 (binary gray) and P6 (binary RGB), 8- or 16-bit.

    Values are rescaled so that ``maxval`` maps to the maximum of the output dtype (``uint8`` when
    ``maxval < 256``, else ``uint16``): a file with ``maxval=1023`` stores 10-bit data, and a pixel
    at 1023 is full white, as :func:`featbus._records.to_float` will then read it.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    magic = data[:2]
    fields: list[bytes] = []
    pos = 2
    # header: width, height, maxval, separated by whitespace, with '#' comments to end of line
    while len(fields) < 3:
        while pos < len(data) and data[pos:pos + 1].isspace():
            pos += 1
        if pos < len(data) and data[pos:pos + 1] == b"#":
            end = data.find(b"\n", pos)
            pos = len(data) if end < 0 else end + 1
            continue
        start = pos
        while pos < len(data) and not data[pos:pos + 1].isspace() and data[pos:pos + 1] != b"#":
            pos += 1
        if start == pos:
            raise ImageError("truncated PGM/PPM header (needs width, height and maxval)", path=path)
        fields.append(data[start:pos])
    try:
        width, height, maxval = (int(f) for f in fields)
    except ValueError:
        raise ImageError(f"invalid PGM/PPM header values {[f.decode('latin-1') for f in fields]}",
                         path=path) from None
    if width < 1 or height < 1 or not 0 < maxval < 65536:
        raise ImageError(f"invalid PGM/PPM header: width={width}, height={height}, maxval={maxval}",
                         path=path)
    _check_pixels(path, height, width, max_pixels)
    channels = 3 if magic == b"P6" else 1
    n = width * height * channels
    dtype = np.uint8 if maxval < 256 else np.uint16
    if magic == b"P2":
        try:
            values = np.array(data[pos:].split(), dtype=np.int64)
        except ValueError:
            raise ImageError("non-numeric pixel values in an ASCII PGM", path=path) from None
        if values.size < n:
            raise ImageError(f"truncated PGM: {values.size} of {n} pixel values present", path=path)
        values = values[:n]
    else:
        pos += 1  # exactly one whitespace byte separates the header from the raster
        itemsize = 1 if maxval < 256 else 2
        raster = data[pos:pos + n * itemsize]
        if len(raster) < n * itemsize:
            raise ImageError(f"truncated PGM/PPM: {len(raster)} of {n * itemsize} pixel bytes present",
                             path=path)
        values = np.frombuffer(raster, dtype=">u2" if itemsize == 2 else np.uint8).astype(np.int64)
    if values.size and values.max() > maxval:
        raise ImageError(f"pixel value {int(values.max())} exceeds the header's maxval {maxval}", path=path)
    top = np.iinfo(dtype).max
    if maxval != top:
        values = (values * top + maxval // 2) // maxval  # rounded integer rescale
    shape = (height, width, 3) if channels == 3 else (height, width)
    return values.astype(dtype).reshape(shape)


def dicom_pixel_size(path: str | os.PathLike, *, header=None) -> tuple[dict | None, str | None]:
    """A DICOM file's physical pixel size from its header alone (no pixel decoded), as an
    :attr:`~featbus.ImageRecord.meta` entry of :data:`featbus._records.PIXEL_SIZE_KEY`
    (``{"size": mm, "unit": "mm", "source": ...}``), and ``None``; or ``(None, why)`` when the
    header gives none or one featbus cannot use. ``PixelSpacing`` (millimetres, row then column)
    first, else the B-mode regions of ``SequenceOfUltrasoundRegions`` (``PhysicalDeltaX`` /
    ``PhysicalDeltaY`` in centimetres, unit code 3). Square pixels only; two regions of different
    spacings give none. ``(None, None)``: the file is no DICOM file or pydicom is not installed.
    ``header``: the file's header already read (:func:`dicom_header`), so the file is not read again.
    """
    path = os.fspath(path)
    ds = header
    if ds is None:
        try:
            with open(path, "rb") as fh:
                head = fh.read(132)
            if head[128:132] != b"DICM" and not path.lower().endswith((".dcm", ".dicom")):
                return None, None
            import pydicom

            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        except ImportError:
            return None, None
        except Exception as exc:  # noqa: BLE001 - pydicom raises many types for a broken header
            return None, f"unreadable DICOM header ({type(exc).__name__})"
    spacing = ds.get("PixelSpacing")
    if spacing is not None:
        try:
            dy, dx = (float(v) for v in spacing)
        except (TypeError, ValueError):
            return None, f"PixelSpacing {spacing!r} is not two numbers"
        if not (math.isfinite(dx) and math.isfinite(dy) and dx > 0 and dy > 0):
            return None, f"PixelSpacing {dy:g}\\{dx:g} is not positive"
        if not math.isclose(dx, dy, rel_tol=1e-3):
            return None, f"PixelSpacing {dy:g}\\{dx:g}: pixels not square"
        return {"size": dx, "unit": "mm", "source": "DICOM PixelSpacing"}, None
    deltas = set()
    for region in ds.get("SequenceOfUltrasoundRegions") or []:
        if int(region.get("RegionSpatialFormat", 1) or 0) != 1:  # 1: a 2-D (B-mode) region
            continue
        units = (int(region.get("PhysicalUnitsXDirection", 0) or 0), int(region.get("PhysicalUnitsYDirection", 0) or 0))
        try:
            dx, dy = abs(float(region.PhysicalDeltaX)), abs(float(region.PhysicalDeltaY))
        except (AttributeError, TypeError, ValueError):
            continue
        if units == (3, 3) and dx > 0 and math.isfinite(dx):  # 3: centimetres
            if not math.isclose(dx, dy, rel_tol=1e-3):
                return None, f"ultrasound region spacing {dx:g} x {dy:g} cm: pixels not square"
            deltas.add(round(dx * 10, 9))
    if len(deltas) == 1:
        return {"size": deltas.pop(), "unit": "mm", "source": "DICOM SequenceOfUltrasoundRegions"}, None
    if deltas:
        return None, f"{len(deltas)} ultrasound regions of different spacings"
    return None, "no PixelSpacing nor ultrasound region spacing in its header"


def _voi_functions():
    """pydicom's modality and VOI LUT functions (pydicom 3, or 2.x's older home)."""
    try:
        from pydicom.pixels import apply_modality_lut, apply_voi_lut
    except ImportError:  # pydicom < 3
        from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut
    return apply_modality_lut, apply_voi_lut


def _dicom_display(raw: np.ndarray, ds, photometric: str, path: str) -> np.ndarray | None:
    """The image as a viewer shows it (modality LUT, then the first VOI LUT or window, scaled to
    the full range of the output dtype, MONOCHROME1 inverted), or None when the file has no VOI."""
    if not (ds.get("VOILUTSequence") or ("WindowCenter" in ds and "WindowWidth" in ds)):
        return None
    apply_modality_lut, apply_voi_lut = _voi_functions()
    try:
        values = np.asarray(apply_voi_lut(apply_modality_lut(raw, ds), ds, index=0), dtype=np.float64)
        if ds.get("VOILUTSequence"):
            lo, hi = 0.0, float(2 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1)
        else:  # the window's output range: where far-out inputs saturate
            lo, hi = (float(v) for v in apply_voi_lut(np.array([-1e15, 1e15]), ds, index=0))
    except Exception as exc:  # a malformed window or LUT
        raise ImageError(f"cannot apply the DICOM VOI LUT / window ({type(exc).__name__}: {exc}); "
                         "read the stored values with dicom_window=False (--dicom-raw)", path=path) from None
    if not hi > lo:
        raise ImageError(f"the DICOM window's output range [{lo:g}, {hi:g}] is empty", path=path)
    unit = np.clip((values - lo) / (hi - lo), 0.0, 1.0)
    if photometric == "MONOCHROME1":
        unit = 1.0 - unit  # bright means dense, as in MONOCHROME2
    if raw.dtype.itemsize == 1:
        return np.rint(unit * 255).astype(np.uint8)
    return np.rint(unit * 65535).astype(np.uint16)


def _read_dicom(path: str, max_pixels: int | None = None, window: bool = True) -> np.ndarray:
    """DICOM: rescale slope/intercept applied, MONOCHROME1 inverted, ``BitsStored`` scaled to
    the full range of the output dtype (as a PGM's maxval is); with ``window``, the VOI LUT or
    window applied as viewers do (:func:`_dicom_display`)."""
    try:
        import pydicom
    except ImportError:
        raise ImportError(
            f"reading the DICOM file {path!r} needs pydicom: {DICOM_INSTALL}") from None
    try:
        ds = pydicom.dcmread(path, force=True)
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        rows, cols = int(getattr(ds, "Rows", 0) or 0), int(getattr(ds, "Columns", 0) or 0)
    except Exception as exc:  # pydicom raises many types for broken data
        raise ImageError(f"cannot read the DICOM header ({type(exc).__name__}: {exc})", path=path) from None
    if frames > 1:
        raise ImageError(f"is a multi-frame DICOM ({frames} frames); featbus reads single images: "
                         "save each frame as its own file", path=path)
    _check_pixels(path, rows, cols, max_pixels)  # before the pixel data is decoded
    try:
        raw = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for broken or compressed data
        raise ImageError(f"cannot read the DICOM pixel data ({type(exc).__name__}: {exc})", path=path) from None
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper()
    if raw.ndim == 3:  # colour (pydicom already converts YBR to RGB): no rescale or inversion applies
        return np.ascontiguousarray(raw)
    if window:
        shown = _dicom_display(raw, ds, photometric, path)
        if shown is not None:
            return shown
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    bits = int(getattr(ds, "BitsStored", raw.dtype.itemsize * 8) or raw.dtype.itemsize * 8)
    signed = int(getattr(ds, "PixelRepresentation", 0) or 0) == 1
    values = raw.astype(np.float64) * slope + intercept
    if photometric == "MONOCHROME1":
        # invert within the range the stored bits can represent, so black stays black on any image
        lo_raw, hi_raw = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        lo, hi = sorted((lo_raw * slope + intercept, hi_raw * slope + intercept))
        values = lo + hi - values
    integral = np.all(values == np.round(values))
    if integral and values.min() >= 0:
        top = 255 if raw.dtype.itemsize == 1 else 65535
        stored_max = 2**bits - 1
        if slope == 1 and intercept == 0 and not signed and bits < raw.dtype.itemsize * 8 \
                and stored_max < top:
            # e.g. 12-bit mammograms in 16-bit words: 4095 is full white, as a PGM's maxval is
            # (pydicom keeps only the BitsStored low bits, so no value exceeds stored_max)
            values = np.floor((values * top + stored_max // 2) / stored_max)  # rounded integer rescale
        if values.max() <= 255 and raw.dtype.itemsize == 1:
            return values.astype(np.uint8)
        if values.max() <= 65535:
            return values.astype(np.uint16)
    # negative or fractional values (e.g. CT units) stay as they are, as float32: featbus needs
    # them rescaled to [0, 1] first (featbus.Normalize), and says so when they are used.
    return values.astype(np.float32)


# --------------------------------------------------------------------------- public API

def read_image(path: str | os.PathLike, *, mode: str = "gray", max_pixels: int | None | str = "default",
               dicom_window: bool | None = None) -> np.ndarray:
    """Read one image file, keeping its bit depth.

    Parameters
    ----------
    path : str or path-like
        PNG, JPEG, TIFF, PGM/PPM (binary P5/P6 or ASCII P2; 8- or 16-bit), DICOM (needs
        ``pydicom``, the ``featbus[dicom]`` extra), or another format Pillow reads (BMP, ...).
        The format is recognised from the content, not the extension.
    mode : {"gray", "unchanged"}, default="gray"
        ``"gray"`` returns a 2-D array, converted with :func:`featbus._records.to_gray` (exact
        for RGB files whose channels are equal; RGBA composited over black). ``"unchanged"``
        returns what the file stores: ``(h, w)``, ``(h, w, 3)`` RGB or ``(h, w, 4)`` RGBA.
    max_pixels : int or None, default=featbus.io.MAX_PIXELS
        Largest ``height x width`` decoded (2**28 unless :data:`MAX_PIXELS` is changed). A file
        whose header claims more raises an :class:`~featbus.ImageError` before any pixel memory
        is allocated (decompression-bomb guard). ``None``: no limit.
    dicom_window : bool, default=featbus.io.DICOM_WINDOW (True)
        DICOM only: apply the file's VOI LUT or window (Window Center / Width, the first
        when there are several) after the modality rescale, as a viewer shows the image and
        as pydicom's ``apply_voi_lut`` computes it; the result fills the output dtype's range
        (``uint16``; ``uint8`` for 8-bit words), MONOCHROME1 inverted. Files without a VOI LUT
        or window are read as with ``False``: the stored values after the modality rescale.

    Returns
    -------
    image : ndarray
        ``uint8`` for 8-bit data, ``uint16`` for 16-bit data (PNG, TIFF, PGM with
        ``maxval > 255``, DICOM). PGM values are rescaled so ``maxval`` maps to the dtype's
        maximum. DICOM: ``RescaleSlope``/``RescaleIntercept`` are applied and ``MONOCHROME1``
        is inverted (so that bright means dense, as in ``MONOCHROME2``); values that are
        negative or fractional after rescaling come back as ``float32``, unscaled. DICOM with
        ``BitsStored`` below ``BitsAllocated`` (12-bit mammograms in 16-bit words) is scaled
        like a PGM's ``maxval``: ``2**BitsStored - 1`` maps to 65535 (255 for 8-bit words), so
        ``to_float`` reads full white as 1.0, not 1/16. This applies to stored values
        (no ``RescaleSlope``/``RescaleIntercept`` other than 1/0); rescaled modality values
        are returned as they are.

    Multi-frame files (multi-page TIFF, animated GIF/PNG, multi-frame DICOM) raise an
    :class:`~featbus.ImageError`: featbus reads single images and never silently keeps the
    first page.

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    featbus.ImageError
        The path is a folder, the file is empty, truncated or damaged (a PNG whose header
        checksum fails is reported as damaged), is text, is in an unsupported format, holds
        several pages or frames, or is larger than ``max_pixels``; the message names the path
        and the problem.
    ImportError
        A DICOM file is read without ``pydicom`` installed.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus import read_image
    >>> tmp = tempfile.mkdtemp()
    >>> Image.fromarray(np.full((16, 16), 1000, np.uint16)).save(os.path.join(tmp, "a.png"))
    >>> im = read_image(os.path.join(tmp, "a.png"))
    >>> im.shape, im.dtype, int(im.max())
    ((16, 16), dtype('uint16'), 1000)
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    max_pixels = _check_max_pixels(max_pixels)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like, got {type(path).__name__}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path!r}: no such image file")
    if os.path.isdir(path):
        raise ImageError("is a folder, not an image file", path=path)
    if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the open, a device never end
        raise ImageError("is not a regular file (a FIFO, device or socket): never opened", path=path)
    with open(path, "rb") as fh:
        head = fh.read(512)
    if not head:
        raise ImageError("is an empty (zero-byte) file", path=path)
    fmt = _sniff(head)
    ext = Path(path).suffix.lower()
    if fmt is None and ext in (".dcm", ".dicom"):
        fmt = "dicom"  # DICOM files without the 128-byte preamble
    if fmt is None:
        if _looks_like_text(head):
            snippet = head[:40].decode("utf-8", "replace").strip()
            raise ImageError(f"is a text file, not an image (it starts with {snippet!r})", path=path)
        expected = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
                    ".pgm": "PGM"}.get(ext)
        if expected:
            raise ImageError(f"has the extension {ext} but its content is not {expected} data "
                             f"(first bytes {head[:8]!r})", path=path)
    if fmt == "pnm":
        image = _read_pnm(path, max_pixels)
    elif fmt == "dicom":
        image = _read_dicom(path, max_pixels, DICOM_WINDOW if dicom_window is None else bool(dicom_window))
    else:
        image = _read_pil(path, fmt, max_pixels)
    if image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
        raise ImageError(f"decoded to an array of shape {image.shape}, not an image", path=path)
    if mode == "gray":
        image = to_gray(image, path=path)
    return image


def _check_max_pixels(max_pixels):
    if isinstance(max_pixels, str) and max_pixels == "default":
        return MAX_PIXELS
    if max_pixels is None:
        return None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive int or None, got {max_pixels!r}")
    return int(max_pixels)


def read_mask(paths_or_path: str | os.PathLike | Sequence[str | os.PathLike],
              shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read one or several mask files and return their union as a boolean array.

    A pixel is in the mask when it is non-zero in any colour channel of any file (masks are
    stored as 0/255 images; several files hold several lesions of one image). A colour mask (one
    colour per class on a black background, RGB or a palette) reads the same way: every pixel
    that is not black is lesion, whatever its colour (the class comes from the label, not the
    colour); in an RGBA file a transparent pixel is no lesion either.

    Parameters
    ----------
    paths_or_path : path or sequence of paths
        The mask file(s).
    shape : (int, int), optional
        Expected ``(height, width)``, usually the image's. Default: the first mask's shape.

    Returns
    -------
    mask : ndarray of bool

    Raises
    ------
    featbus.ImageError
        A mask's shape differs from ``shape`` (the message names the file and both shapes), or a
        file cannot be read. ``FileNotFoundError`` for a missing file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus import read_mask
    >>> tmp = tempfile.mkdtemp()
    >>> a = np.zeros((8, 8), np.uint8); a[:2] = 255
    >>> b = np.zeros((8, 8), np.uint8); b[-2:] = 255
    >>> Image.fromarray(a).save(os.path.join(tmp, "m.png"))
    >>> Image.fromarray(b).save(os.path.join(tmp, "m_1.png"))
    >>> int(read_mask([os.path.join(tmp, "m.png"), os.path.join(tmp, "m_1.png")]).sum())
    32
    """
    if isinstance(paths_or_path, (str, os.PathLike)):
        paths = [paths_or_path]
    else:
        paths = list(paths_or_path)
    if not paths:
        raise ValueError("read_mask needs at least one mask path")
    if shape is not None:
        shape = tuple(int(s) for s in shape)
    union = None
    for p in paths:
        m = read_image(p, mode="unchanged")
        if m.ndim == 3 and m.shape[-1] == 4:  # RGBA: a lesion is a coloured pixel that is not transparent
            m = m[..., :3].any(axis=-1) & (m[..., 3] > 0)
        else:
            m = m.any(axis=-1) if m.ndim == 3 else m > 0
        if shape is None:
            shape = m.shape
        if m.shape != shape:
            raise ImageError(f"mask has shape {m.shape}, expected {shape} (the image's size)",
                             path=os.fspath(p))
        union = m if union is None else (union | m)
    return union


def read_images(paths: Sequence[str | os.PathLike], *, mode: str = "gray", on_error: str = "raise",
                n_jobs: int | None = None, return_skipped: bool = False,
                max_pixels: int | None | str = "default"):
    """Read many image files, in order, optionally in parallel.

    Parameters
    ----------
    paths : sequence of str or path-like
    mode : {"gray", "unchanged"}, default="gray"
        See :func:`read_image`.
    on_error : {"raise", "skip"}, default="raise"
        ``"raise"``: the first unreadable file raises an error naming its index and path.
        ``"skip"``: unreadable files are left out, and a warning lists every one of them.
    n_jobs : int, optional
        Parallel reading threads (joblib); ``None`` reads one file at a time.
    return_skipped : bool, default=False
        Also return the skipped files as ``(index, path, reason)`` tuples.
    max_pixels : int or None, default=featbus.io.MAX_PIXELS
        See :func:`read_image`; a larger file is an unreadable one (skipped with ``"skip"``).

    Returns
    -------
    images : list of ndarray
        The images read, in the order of ``paths`` (skipped ones left out).
    skipped : list of (int, str, str)
        Only when ``return_skipped=True``.

    Examples
    --------
    >>> import os, tempfile, warnings
    >>> import numpy as np
    >>> from PIL import Image
    >>> from featbus import read_images
    >>> tmp = tempfile.mkdtemp()
    >>> Image.fromarray(np.zeros((8, 8), np.uint8)).save(os.path.join(tmp, "ok.png"))
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     ims, skipped = read_images([os.path.join(tmp, "ok.png"), os.path.join(tmp, "no.png")],
    ...                                on_error="skip", return_skipped=True)
    >>> len(ims), [s[0] for s in skipped]
    (1, [1])
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    if isinstance(paths, (str, os.PathLike)):
        raise ValueError("paths is a single path; pass a list of paths, e.g. [path]")
    paths = list(paths)
    max_pixels = _check_max_pixels(max_pixels)

    def one(p: Any, i: int):
        try:
            return read_image(p, mode=mode, max_pixels=max_pixels)
        except FileNotFoundError as exc:
            if on_error == "raise":
                raise FileNotFoundError(f"image {i}: {exc}") from None
            return (i, os.fspath(p), "no such file")
        except ImageError as exc:
            if on_error == "raise":
                raise ImageError(exc.reason, i, exc.path or os.fspath(p)) from None
            return (i, os.fspath(p), exc.reason)
        except (TypeError, ValueError) as exc:
            if on_error == "raise":
                raise ImageError(str(exc), i, str(p)) from None
            return (i, str(p), str(exc))

    # threads: decoders release the GIL, and no worker processes need to start
    results = map_images(one, paths, n_jobs, backend="threading")
    images = [r for r in results if isinstance(r, np.ndarray)]
    skipped = [r for r in results if not isinstance(r, np.ndarray)]
    if skipped:
        warn_skipped(skipped)
    return (images, skipped) if return_skipped else images


def warn_skipped(skipped: list[tuple[int, str, str]], what: str = "image file(s)") -> None:
    """Warn once about the items a reader went past: the first 20 by index, path and reason.

    The warning names the first line outside featbus (the user's).

    Parameters
    ----------
    skipped : list of (int, str, str)
        ``(index, path, reason)`` of each unreadable item.
    what : str, default="image file(s)"
        What the items are, in the message.

    Examples
    --------
    >>> import warnings
    >>> from featbus.io import warn_skipped
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_skipped([(3, "a.png", "not an image")])
    >>> print(caught[0].message)
    skipped 1 unreadable image file(s): 3 ('a.png'): not an image
    """
    lines = "; ".join(f"{i} ({p!r}): {r}" for i, p, r in skipped[:20])
    more = f"; ... and {len(skipped) - 20} more" if len(skipped) > 20 else ""
    warnings.warn(f"skipped {len(skipped)} unreadable {what}: {lines}{more}", UserWarning,
                  stacklevel=find_stack_level())


def skipped_note(skipped, *, shown: int = 5, reasons: bool = True) -> str:
    """One sentence naming the images a reader went past: the first ``shown`` (folder/name and,
    with ``reasons``, why), then how many more; ``""`` when none were skipped. Every report and
    summary line about skipped images says it (train's report and manifest, validate, evaluate,
    demo, segment).

    Parameters
    ----------
    skipped : sequence of (path, reason) or (index, path, reason)
        As a data set's ``Bunch.skipped`` (or :func:`read_images`' ``return_skipped``) lists them.
    shown : int, default=5
    reasons : bool, default=True

    Examples
    --------
    >>> from featbus.io import skipped_note
    >>> print(skipped_note([("d/benign/a.png", "not an image"), ("d/malignant/b.png", "truncated")], shown=1))
    skipped 2 unreadable or unusable image(s) (--on-error skip): benign/a.png (not an image) and 1 more
    """
    items = [tuple(x)[-2:] for x in skipped or []]
    if not items:
        return ""

    def name(path) -> str:
        p = Path(str(path))
        return f"{p.parent.name}/{p.name}" if p.parent.name else p.name

    listed = ", ".join(name(p) + (f" ({' '.join(str(r).split())})" if reasons and r else "") for p, r in items[:shown])
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return f"skipped {len(items)} unreadable or unusable image(s) (--on-error skip): {listed}{more}"


def dropped_masks_note(dropped, *, shown: int = 5) -> str:
    """One sentence naming the masks a reader dropped because they do not fit their image (the
    images kept, where no mask is needed), with both sizes; ``""`` when none were dropped.

    Examples
    --------
    >>> from featbus.io import dropped_masks_note
    >>> print(dropped_masks_note([("d/masks/a.png", "10 x 12 px, image 20 x 24")]))  # doctest: +NORMALIZE_WHITESPACE
    dropped 1 mask(s) that do not fit their image, the images kept without a mask: masks/a.png
    (10 x 12 px, image 20 x 24)
    """
    items = [tuple(x)[:2] for x in dropped or []]  # (mask, reason[, image])
    if not items:
        return ""
    names = ", ".join(f"{Path(str(p)).parent.name}/{Path(str(p)).name} ({' '.join(str(r).split())})"
                      for p, r in items[:shown])
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return f"dropped {len(items)} mask(s) that do not fit their image, the images kept without a mask: {names}{more}"


def data_notes(data) -> list[str]:
    """The sentences every report and summary says about how a data set was read: the images
    skipped (:func:`skipped_note`) and the masks dropped (:func:`dropped_masks_note`), if any."""
    return [n for n in (skipped_note(getattr(data, "skipped", None) or []),
                        dropped_masks_note(getattr(data, "dropped_masks", None) or [])) if n]


def _read_indexed(path, index: int | None) -> np.ndarray:
    """Read a file; a read error gets the item's index added to its message."""
    try:
        return read_image(path)
    except ImageError as exc:
        if exc.index is not None or index is None:
            raise
        raise ImageError(exc.reason, index, exc.path or str(path)) from exc
    except FileNotFoundError as exc:
        error = FileNotFoundError(f"{describe(index, None)}: {exc}")
        error.image_index, error.image_reason = index, str(exc)  # renamed by names_caller_positions
        raise error from exc


def load_item(item: Any, index: int | None = None, *, min_side: int = MIN_SIDE) -> ImageRecord:
    """Turn one entry of ``X`` into a validated :class:`ImageRecord` (reads files)."""
    if isinstance(item, ImageRecord):
        image = item.image
        path = item.path
        if isinstance(image, _PathLike):
            path = path or str(image)
            image = _read_indexed(image, index)
        image = check_image(image, index=index, path=path, min_side=min_side)
        mask = None if item.mask is None else check_mask(item.mask, image.shape, index=index, path=path)
        return ImageRecord(image, mask, path, dict(item.meta))
    if isinstance(item, _PathLike):
        image = _read_indexed(item, index)
        meta = {}
        if Path(item).suffix.lower() in (".dcm", ".dicom", ""):  # a DICOM header's pixel size (issue 82)
            size, _ = dicom_pixel_size(item)
            meta = {PIXEL_SIZE_KEY: size} if size is not None else {}
        return ImageRecord(check_image(image, index=index, path=str(item), min_side=min_side), None, str(item), meta)
    return ImageRecord(check_image(item, index=index, min_side=min_side))


def refuse_existing(path: str | os.PathLike, overwrite: bool, flag: str | None = None, *,
                    taken: Sequence[str] | None = None, replace: str = "them") -> None:
    """The one refusal of an output that would replace files without ``--overwrite`` (``overwrite=True``).

    Parameters
    ----------
    path : path-like
        The output: a file, or (``taken``) the folder it writes into.
    overwrite : bool
        Replace it: nothing is refused.
    flag : str, optional
        The command's option naming it (``"-o"``): the message speaks to a command's user
        (``pass --overwrite``); ``None``: to a caller of the library (``pass overwrite=True (--overwrite)``).
    taken : sequence of str, optional
        What the folder already holds that would be replaced (nothing refused when empty);
        ``None``: ``path`` itself is refused when it exists.
    replace : str, default="them"
        What ``--overwrite`` would replace, in words (after ``taken``).

    Raises
    ------
    FileExistsError

    Examples
    --------
    >>> from featbus.io import refuse_existing
    >>> refuse_existing("out", False, "-o", taken=["compare.json"])
    Traceback (most recent call last):
    ...
    FileExistsError: -o 'out' already holds compare.json; pass --overwrite to replace them
    """
    if overwrite:
        return
    where = f"{flag} {str(path)!r}" if flag else repr(str(path))
    how = "--overwrite" if flag else "overwrite=True (--overwrite)"
    if taken is None and Path(path).exists():
        raise FileExistsError(f"{where} already exists; pass {how} to replace it")
    if taken:
        raise FileExistsError(f"{where} already holds {', '.join(taken)}; pass {how} to replace {replace}")


#: Every file :func:`written_atomically` put into place in this process, in order: what a command
#: interrupted by Ctrl-C had written (:func:`files_written`).
_PLACED: list[str] = []


def files_written(since: int = 0) -> list[str]:
    """The files put into place (:func:`written_atomically`, :func:`write_file`) in this process,
    from the ``since``-th on: ``len(files_written())`` before a piece of work, then
    ``files_written(n)`` after it, says what it wrote."""
    return _PLACED[since:]


@contextlib.contextmanager
def written_atomically(path: str | os.PathLike, suffix: str = ".tmp"):
    """Write a file under a temporary name beside ``path`` and rename it into place: readers
    (and an interrupted run) never see a half-written ``path``. Yields the temporary path; on an
    error it is removed and ``path`` is left as it was. ``suffix`` ends the temporary name (a
    writer that checks the extension, such as Keras, gets e.g. ``".tmp.keras"``).

    The one write-then-rename of featbus (:func:`write_file` and every command's outputs): a missing
    folder is created; the temporary name has a fixed length, ``.fb-`` and 12 random hex digits
    before ``suffix``, so any name the file system takes for ``path`` works (a 240-character one
    too); an error names ``path``, never the temporary file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "new folder" / "a.txt"
    >>> with written_atomically(p) as tmp:
    ...     _ = tmp.write_text("done")
    >>> p.read_text()
    'done'
    """
    path = Path(path)
    tmp = path.with_name(f".fb-{os.urandom(6).hex()}{suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)  # atomic on POSIX and Windows
        _PLACED.append(str(path))
    except OSError as exc:
        if exc.filename in (str(tmp), tmp) or exc.filename2 in (str(tmp), tmp):
            raise type(exc)(exc.errno, exc.strerror, str(path)) from None  # the user's name, not the temporary one
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def written_whole(folder: str | os.PathLike):
    """Write a folder's files (a report, explanations, masks) into a temporary folder beside it, then move
    them in: an error, Ctrl-C or SIGTERM while they are written leaves nothing of them (the temporary
    folder is removed) and ``folder`` as it was; the move itself runs with SIGINT and SIGTERM held back
    (they take effect once every file is in place). Yields the temporary folder, to write into under the
    files' own names; a folder that does not exist yet is renamed into place whole, one that exists (an
    earlier report kept with ``--overwrite``, other files of the user's) receives the files one by one,
    replacing those of the same names. What :func:`files_written` records is named under ``folder``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "report"
    >>> with written_whole(out) as tmp:
    ...     _ = (tmp / "a.txt").write_text("a")
    ...     _ = write_file(tmp / "b.txt", "b")
    >>> sorted(p.name for p in out.iterdir()), files_written()[-1] == str(out / "b.txt")
    (['a.txt', 'b.txt'], True)
    """
    folder = Path(folder)
    tmp = folder.with_name(f".fb-{os.urandom(6).hex()}.tmp")
    placed = len(_PLACED)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        yield tmp
        with _signals_held():
            if not folder.exists():
                os.replace(tmp, folder)  # atomic: the folder appears whole
            else:
                for src in sorted(tmp.rglob("*")):
                    if not src.is_dir():
                        target = folder / src.relative_to(tmp)
                        target.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(src, target)
            prefix = str(tmp) + os.sep
            _PLACED[placed:] = [str(folder) + p[len(str(tmp)):] if p.startswith(prefix) else p
                                for p in _PLACED[placed:]]
    except BaseException:
        prefix = str(tmp) + os.sep
        _PLACED[placed:] = [p for p in _PLACED[placed:] if not p.startswith(prefix)]  # never put into place
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _signals_held():
    """SIGINT and SIGTERM held back during the block, delivered after it (POSIX; elsewhere nothing is held)."""
    import signal

    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def write_file(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write a whole file's text (UTF-8) or bytes at once, under a temporary name renamed into
    place (:func:`written_atomically`): an interrupted run never leaves a half-written file.

    Parameters
    ----------
    path : path
        The file to write (replaced when it exists).
    data : str or bytes
        Its whole content.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.json"
    >>> write_file(p, "{}").read_text()
    '{}'
    """
    path = Path(path)
    with written_atomically(path, suffix=".tmp" + path.suffix) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
    return path


def write_feature_table(path: str | os.PathLike, meta, X: np.ndarray, names: Sequence[str], *,
                        attrs: dict | None = None, batch_rows: int = 256) -> Path:
    """Write per-image columns and a feature matrix as one Parquet or CSV table (by suffix),
    a block of rows at a time, under a temporary name renamed into place.

    The plain way, ``pd.concat([meta, pd.DataFrame(X)], axis=1).to_parquet(path)``, holds the
    matrix three more times (the DataFrame, the concatenation, pyarrow's table) and, for CSV,
    pyarrow's text of the whole table: for 625 x 8249 float64 (39 MiB) that is +140 MiB
    (Parquet) and +442 MiB (CSV) at the peak (``benchmarks/table_write_memory.py``). Here each
    block of ``batch_rows`` rows is transposed into contiguous columns, handed to pyarrow without
    a further copy and written (one Parquet row group, or CSV lines, per block), so the extra
    memory is a few blocks whatever the number of images. The table is the same: the columns,
    their types, pandas' metadata (``attrs`` comes back as ``DataFrame.attrs``) and, for CSV,
    the same bytes as ``pyarrow.csv.write_csv`` of the concatenated frame.

    Parameters
    ----------
    path : path
        ``.parquet`` or ``.csv``.
    meta : pandas.DataFrame
        One row per image (path, label...), written first; a CSV's text cells must already be
        neutralised against formula injection by the caller.
    X : ndarray of shape (len(meta), len(names))
    names : sequence of str
        The feature columns' names.
    attrs : dict, optional
        Kept in the file's pandas metadata.
    batch_rows : int, default=256
        Rows per block.

    Returns
    -------
    path : Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, pandas as pd
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> meta = pd.DataFrame({"path": ["a.png", "b.png"], "target": [0, 1]})
    >>> _ = write_feature_table(p, meta, np.eye(2), ["f0", "f1"], attrs={"featbus": {"v": 1}})
    >>> t = pd.read_parquet(p); list(t.columns), t.attrs
    (['path', 'target', 'f0', 'f1'], {'featbus': {'v': 1}})
    """
    import pandas as pd
    import pyarrow as pa

    path = Path(path)
    X = np.asarray(X)
    if X.ndim != 2 or X.shape != (len(meta), len(names)):
        raise ValueError(f"X must have shape {(len(meta), len(names))} (rows of meta, names), got {X.shape}")
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ValueError(f"unknown table format {suffix!r}; use .parquet or .csv")
    meta = meta.reset_index(drop=True)
    head = pd.concat([meta.iloc[:0], pd.DataFrame(X[:0], columns=list(names))], axis=1)
    head.attrs = dict(attrs or {})
    schema = pa.Schema.from_pandas(head, preserve_index=False)
    meta_types = [schema.field(i).type for i in range(meta.shape[1])]
    with written_atomically(path) as tmp:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            writer = pq.ParquetWriter(tmp, schema)
        else:
            import pyarrow.csv as pa_csv

            writer = pa_csv.CSVWriter(tmp, schema)
        try:
            for a in range(0, max(len(meta), 1), batch_rows):
                b = min(len(meta), a + batch_rows)
                block = np.ascontiguousarray(X[a:b].T)  # one contiguous column per feature
                arrays = [pa.array(meta.iloc[a:b, i].to_numpy(), type=t) for i, t in enumerate(meta_types)]
                arrays += [pa.array(column) for column in block]  # zero-copy views of block
                writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
                del arrays, block
        finally:
            writer.close()
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks (weights, model files, trust lists).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.bin"; _ = p.write_bytes(b"abc")
    >>> file_sha256(p)[:12]
    'ba7816bf8f01'
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: The interpolations :func:`resize_to` knows, by name (OpenCV's ``INTER_*``).
INTERPOLATIONS = ("area", "linear", "cubic", "nearest", "lanczos")
_RESIZE_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)


def resize_to(image: np.ndarray, hw: Sequence[int], interpolation: str = "area") -> np.ndarray:
    """``image`` resized to exactly ``hw`` = ``(height, width)``, its dtype kept: the one resize under
    :func:`featbus.preprocessing.intensity.resize` and a model's input scale
    (:mod:`featbus.model.scale`). Area averaging is the choice for shrinking (no aliasing),
    ``"nearest"`` for masks. Dtypes OpenCV does not resize (int32, uint32, float16...) are resized in
    float64 and cast back (integers rounded and clipped to their range).

    Examples
    --------
    >>> import numpy as np
    >>> resize_to(np.ones((100, 50), np.int32), (20, 10)).dtype
    dtype('int32')
    """
    import cv2

    flag = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC,
            "nearest": cv2.INTER_NEAREST, "lanczos": cv2.INTER_LANCZOS4}[interpolation]
    size = (int(hw[1]), int(hw[0]))
    if image.dtype in _RESIZE_DTYPES:
        return cv2.resize(image, size, interpolation=flag)
    out = cv2.resize(image.astype(np.float64), size, interpolation=flag)
    if image.dtype.kind in "ui":
        info = np.iinfo(image.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(image.dtype)


# --------------------------------------------------------------------------- untrusted input: the listing
# The one listing of a folder of untrusted files (a release, a folder given to ``featbus predict``): no file is
# opened, each entry's type is checked with ``lstat`` first and only regular files are listed; every entry left
# out is named. Light (the standard library): ``featbus predict`` lists a plain folder without the data-set
# loaders.

def _file_type(mode: int) -> str | None:
    """``None`` for a regular file, else what it is in words (a FIFO, a device...)."""
    if stat.S_ISREG(mode):
        return None
    return ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")


def printable_path(path: str | os.PathLike) -> str:
    """A path as it can be printed and written as UTF-8: bytes of a name that is not UTF-8 as ``\\xNN``."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # surrogates: the bytes of a name that is not UTF-8
        return False
    return True


def list_folder(root: str | os.PathLike, suffixes: tuple[str, ...], not_read: tuple[str, ...] = (),
                by_content: bool = False) -> tuple[list[Path], list[LeftOut]]:
    """``(files, left out)``: the regular files under ``root`` whose suffix (any case) is one of
    ``suffixes``, as paths relative to ``root`` in sorted order, and a :class:`~featbus._records.LeftOut`
    record ``(item, reason, detail)`` for each entry left out.

    Nothing is opened and nothing outside ``root`` is read: each entry's type comes from ``lstat``
    (``os.scandir``'s entry) before anything else. Hidden files and folders (``.name``, ``__MACOSX``)
    are not read and files of other suffixes not listed. Left out, named: a link (file or folder)
    leading outside ``root`` (``"outside the release"``); a FIFO, socket or device, a link loop or a
    link to nothing, a name that is not valid UTF-8, a folder deeper than
    :data:`MAX_FOLDER_DEPTH` (``"unreadable"``); a file of a ``not_read`` suffix
    (``"not an image"``: an animated GIF). A link to a folder inside ``root`` is not followed
    (its files are listed where they lie); a link to a regular file inside it is listed. The walk is
    iterative (no recursion limit). With ``by_content``, a regular file inside ``root`` of another
    suffix is listed too when it is DICOM (:func:`is_dicom`: a PACS / CD export's ``I0000001``) or
    named ``DICOMDIR``: only such a file, its type known first, is opened (its first 132 bytes).

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "a.png").write_bytes(b"")
    >>> os.mkfifo(root / "b.png")
    >>> files, left_out = list_folder(root, (".png",))
    >>> files, left_out[0].text()
    ([PosixPath('a.png')], 'unreadable: a FIFO, not a regular file (never opened)')
    """
    root = Path(root)
    real_root = os.path.realpath(root)
    wanted = tuple(s.lower() for s in suffixes)
    files: list[Path] = []
    left_out: list[LeftOut] = []
    stack = [(root, 0)]
    while stack:
        here, depth = stack.pop()
        try:
            with os.scandir(here) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            left_out.append(LeftOut(printable_path(here.relative_to(root)), "unreadable", str(exc.strerror or exc)))
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name == "__MACOSX":
                continue
            full = here / name
            rel = full.relative_to(root)
            suffix = full.suffix.lower()
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                link = entry.is_symlink()
            except OSError:
                continue
            if not is_dir and not link and suffix not in wanted + not_read and not by_content:
                continue
            if not _utf8(name):
                left_out.append(LeftOut(printable_path(rel), "unreadable", "its name is not valid UTF-8 (rename it)"))
                continue
            if link:
                target = os.path.realpath(full)
                if os.path.commonpath([real_root, target]) != real_root:
                    left_out.append(LeftOut(str(rel), "outside the release", ""))
                    continue
                try:
                    mode = os.stat(full).st_mode  # inside the release: what the link leads to, never opened
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        left_out.append(LeftOut(str(rel), "unreadable", "a symbolic link loop"))
                    elif suffix in wanted:
                        left_out.append(LeftOut(str(rel), "unreadable", f"a link to nothing ({exc.strerror or exc})"))
                    continue
                if stat.S_ISDIR(mode):
                    continue  # a folder inside the release: its files are listed where they lie
            elif is_dir:
                if depth + 1 > MAX_FOLDER_DEPTH:
                    left_out.append(LeftOut(str(rel), "unreadable", f"a folder deeper than the limit "
                                                                    f"({limit_words('MAX_FOLDER_DEPTH')}), not walked"))
                else:
                    stack.append((full, depth + 1))
                continue
            else:
                mode = entry.stat(follow_symlinks=False).st_mode
            kind = _file_type(mode)
            if by_content and suffix not in wanted + not_read:
                if kind is None and stat.S_ISREG(mode) and (name == "DICOMDIR" or is_dicom(full)):
                    files.append(rel)
            elif suffix not in wanted:
                if kind is None:
                    left_out.append(LeftOut(str(rel), "not an image",
                                            f"featbus does not read {suffix} files (convert it to PNG)"))
            elif kind is not None:
                left_out.append(LeftOut(str(rel), "unreadable", f"{kind}, not a regular file (never opened)"))
            else:
                files.append(rel)
    files.sort()
    return files, left_out
