"""Reading images and masks from files: PNG, JPEG, TIFF, PGM/PPM, DICOM (and what Pillow reads).

The format is recognised from the file's first bytes, not from its extension, so a text file
named ``.png`` gets an error that says so instead of an obscure decoder message. Bit depth is
kept: 8-bit images come back as ``uint8``, 16-bit ones as ``uint16`` (never silently reduced to
8 bits). Every error names the file and what is wrong with it.
"""

from __future__ import annotations

import contextlib
import errno
import functools
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
    DICOM_VIEW_KEY,
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
           "write_file", "MAX_PIXELS", "DICOM_WINDOW", "refuse_existing", "resize_to", "INTERPOLATIONS",
           "WORK_PIXELS", "work_shape", "pixel_limit_problem", "voi_window", "dicom_view", "VOI_FUNCTIONS",
           "is_image_reference", "read_reference", "probe_bytes"]

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
#: The most pixels (height x width, from the header) of a release's image: 2**25 (33.5 M, e.g. 6000 x 5592), above
#: every real full-field mammogram (RSNA's 4915 x 5355 is 26.3 M, a 6000 x 5000 frame 30 M), which is decoded and
#: area-reduced to :data:`WORK_PIXELS` right after decoding. A header that claims more (a 12000 x 12000 PNG of
#: 136 KB, a DICOM header promising 60000 x 60000) is taken for a decompression bomb: left out, named, before a
#: pixel is decoded. One image's decoding then holds at most about 4 bytes a pixel of it (the decoded words,
#: the looked-up output), 134 MB at this limit.
MAX_IMAGE_PIXELS = 1 << 25
#: The working size: the most pixels (height x width) an image is worked at when featbus loads it for a step
#: (features, preprocessing, a model; :func:`load_item`, a release read into memory). 2**22 = 4,194,304 (2048 x
#: 2048): a larger image (a full-field mammogram of 13-30 M pixels) is area-reduced right after it is decoded
#: (OpenCV ``INTER_AREA``, its aspect kept: 4915 x 5355 becomes 1962 x 2137, about 0.18 mm a pixel for a
#: 0.07 mm detector, the 0.2 mm of mini-MIAS that featbus's mammography recipes were made on), its lesion masks
#: with it (a pixel is lesion where more than half of its area was) and its physical pixel size scaled. The
#: extractors then hold about 35 bytes a pixel (150 MB) of it, and a release of 46 mammograms held in memory
#: 8 MB each; smaller images (every ultrasound frame, mini-MIAS' 1024 x 1024) are never resized. A feature
#: table's settings sidecar records it (``"working_size"``).
WORK_PIXELS = 1 << 22
#: The most bytes of a JSON annotation file (a COCO export) or JSONL metadata parsed at all: checked on the
#: file's size before a byte is read (a breast release's COCO file is a few MB; hundreds of MB is not an export).
MAX_JSON_BYTES = 64 * 1024 * 1024
#: The deepest nesting of ``[`` / ``{`` a JSON file (or a JSONL line) may have, checked before it is parsed
#: (a COCO file nests 5 deep; thousands deep would exhaust the parser's stack).
MAX_JSON_DEPTH = 64

#: The most members (files, folders, links) a zip or tar archive read in place may list: its table of
#: contents is read whole before any member is (a zip's central directory, a tar's headers).
MAX_ARCHIVE_MEMBERS = 1_000_000
#: The most bytes one member of an archive may expand to: its declared size is checked before it is read,
#: and the read itself stops one byte past it (a zip may declare less than it holds). A breast release's
#: image is a few MB; an image of 2**24 pixels in 16 bits is 32 MB.
MAX_ARCHIVE_MEMBER_BYTES = 256 * 1024 * 1024
#: The most bytes an archive's members may expand to, summed over their declared sizes (a total-size bomb:
#: thousands of small members that are each within the member budget) before any member is read.
MAX_ARCHIVE_BYTES = 16 * 1024 * 1024 * 1024
#: The most bytes one array of an ``.npz`` (MedMNIST's ``train_images``) or one column of a parquet file
#: (a Hugging Face ``image`` column) expands to: each is read whole, once, so it must fit in memory
#: (BreastMNIST's 224-pixel ``train_images`` is 27 MB).
MAX_ARRAY_BYTES = 2 * 1024 * 1024 * 1024
#: The most bytes a DICOM file's deflated dataset (transfer syntax Deflated Explicit VR Little Endian) may inflate
#: to. pydicom inflates such a dataset whole, in memory, before it reads a header value (a 1 MB file of zeros
#: inflates to 1 GB), so featbus inflates it first as a count, keeping nothing, and refuses a file beyond it,
#: named. Above a release's largest image (:data:`MAX_IMAGE_PIXELS` of three 16-bit samples, 192 MB) and its header.
MAX_DICOM_INFLATED_BYTES = 256 * 1024 * 1024
#: The most bytes of one extended header of a tar (a PAX header, a GNU long name or link name): Python's tarfile
#: reads one whole into memory while the archive is listed, whatever size it claims, so its size is checked first
#: (a name or a PAX record is a few hundred bytes; a tar's xattrs a few KB).
MAX_TAR_HEADER_BYTES = 4 * 1024 * 1024


#: The names of the limits above, in one tuple (documented where each is defined).
RELEASE_LIMITS = ("MAX_FOLDER_DEPTH", "MAX_TABLE_BYTES", "MAX_LINE_CHARS", "MAX_FIELD_CHARS", "MAX_COLUMNS", "MAX_ROWS",
                  "MAX_XLSX_BYTES", "MAX_XLSX_PARTS", "MAX_IMAGE_PIXELS", "MAX_JSON_BYTES", "MAX_JSON_DEPTH",
                  "MAX_ARCHIVE_MEMBERS", "MAX_ARCHIVE_MEMBER_BYTES", "MAX_ARCHIVE_BYTES", "MAX_ARRAY_BYTES",
                  "MAX_DICOM_INFLATED_BYTES", "MAX_TAR_HEADER_BYTES")


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
    does not hold whole (truncated), is ``"unreadable"`` with why; a DICOMDIR is ``"not an image"``; one whose
    deflated dataset inflates beyond :data:`MAX_DICOM_INFLATED_BYTES` is ``"too large"``, never inflated whole.

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
    if is_image_reference(path):  # an archive's member, an array's row (featbus.datasets.sources._refs)
        return path.probe()
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
    except _InflatedTooLarge as exc:
        return None, ("too large", str(exc))
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


#: How many bytes of a deflated DICOM dataset are read, and at most inflated, at a time while it is counted.
_INFLATE_CHUNK = 1 << 20


class _InflatedTooLarge(ValueError):
    """A DICOM file whose deflated dataset inflates beyond :data:`MAX_DICOM_INFLATED_BYTES` (the message says so)."""


def _check_inflated(fp, force: bool) -> None:
    """:class:`_InflatedTooLarge` when the DICOM file ``fp`` (binary, at its start) is in the deflated transfer
    syntax and its dataset inflates beyond :data:`MAX_DICOM_INFLATED_BYTES`: inflated a chunk at a time as a
    count, nothing kept, stopping there. Its preamble and file meta are read as pydicom reads them; a file of
    another transfer syntax is left to pydicom."""
    from pydicom import filereader
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    filereader.read_preamble(fp, force)
    meta = filereader._read_file_meta_info(fp)
    if meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
        return
    filereader._read_command_set_elements(fp)  # pydicom inflates from after them
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    inflated, pending = 0, b""
    while not inflater.eof:
        if not pending:
            pending = fp.read(_INFLATE_CHUNK)
            if not pending:
                return
        inflated += len(inflater.decompress(pending, _INFLATE_CHUNK))
        pending = inflater.unconsumed_tail
        if inflated > MAX_DICOM_INFLATED_BYTES:
            raise _InflatedTooLarge(f"its deflated dataset inflates beyond {limit_words('MAX_DICOM_INFLATED_BYTES')} "
                                    "bytes: taken for a decompression bomb, not read further")


def _dcmread(source, **kwargs):
    """pydicom's ``dcmread`` (``kwargs`` passed on) of a path or a binary file object, a deflated dataset first
    counted within :data:`MAX_DICOM_INFLATED_BYTES` (:func:`_check_inflated`): how featbus opens every DICOM."""
    import pydicom

    force = bool(kwargs.get("force", False))
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fp:
            _check_inflated(fp, force)
    else:
        start = source.tell()
        _check_inflated(source, force)
        source.seek(start)
    return pydicom.dcmread(source, **kwargs)


def _dicom_shape(path: Path) -> tuple[tuple[int, int] | None, tuple[str, str] | None]:
    """:func:`header_shape` of a DICOM file: its header read, the pixel data's values deferred (never
    read), and a file without pixel data or whose pixel data the file does not hold whole named."""
    ds = _dcmread(path, defer_size=_DICOM_DEFER_BYTES)
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
    file again. An archive's member (an image reference with encoded bytes) is read from its bytes,
    within :data:`MAX_ARCHIVE_MEMBER_BYTES` as its probe reads them; an array's row has no header."""
    from io import BytesIO

    import pydicom  # noqa: F401 - an ImportError for the caller when it is not installed

    try:
        if is_image_reference(path):
            data = path.read()
            if not isinstance(data, (bytes, bytearray)):  # an array's row: pixels, no header
                return None
            return _dcmread(BytesIO(data), stop_before_pixels=True, force=True)
        return _dcmread(os.fspath(path), stop_before_pixels=True, force=True)
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
            import pydicom  # noqa: F401 - (None, None) when it is not installed

            ds = _dcmread(path, stop_before_pixels=True, force=True)
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


# --------------------------------------------------------------------------- DICOM pixels
# A DICOM frame is decoded by pydicom (compressed frames through the plugins of the ``[dicom]`` extra), then
# every stored value is mapped to its output once, in a lookup table of at most 65,536 entries (the modality
# rescale, the VOI window or LUT, the MONOCHROME1 inversion, the padding), so a full-field mammogram of 26 M
# 16-bit pixels costs one table look-up per pixel and no float copy of the image; the image is then
# area-reduced to the working size of the step that reads it (:data:`WORK_PIXELS`).

#: The VOI functions of DICOM PS3.3 C.11.2.1.2 (``VOILUTFunction``; absent means ``LINEAR``).
VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


def _voi_lut_sequence():
    """pydicom's modality and VOI LUT functions (pydicom 3, or 2.x's older home)."""
    try:
        from pydicom.pixels import apply_modality_lut, apply_voi_lut
    except ImportError:  # pydicom < 3
        from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut
    return apply_modality_lut, apply_voi_lut


def _first(value) -> float:
    """The first of a multi-valued DICOM number (Window Center / Width may hold several windows)."""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = value[0]
    return float(value)


#: The widest VOI window read, as a multiple of the span of modality values a file's ``BitsStored`` can hold:
#: a window 256 times wider than every value the file holds maps all of them into less than one 8-bit grey
#: level, one flat grey image, so such a window (``1e300``) is refused as a malformed one is.
MAX_WINDOW_SPAN = 256


def voi_window(x: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """The VOI window of DICOM PS3.3 C.11.2.1.2 on values ``x``, as fractions of the output range ``[0, 1]``.

    ``LINEAR``: 0 at or below ``c - 0.5 - (w - 1) / 2``, 1 above ``c - 0.5 + (w - 1) / 2``, else
    ``(x - (c - 0.5)) / (w - 1) + 0.5`` (``w >= 1``). ``LINEAR_EXACT``: 0 at or below ``c - w / 2``, 1 above
    ``c + w / 2``, else ``(x - c) / w + 0.5`` (``w > 0``). ``SIGMOID``: ``1 / (1 + exp(-4 (x - c) / w))``
    (``w > 0``), its exponent clipped to +-700 so that no value far from the window overflows.

    Examples
    --------
    >>> voi_window(np.array([0.0, 1024.0, 4095.0]), 1024, 512).round(3).tolist()
    [0.0, 0.501, 1.0]
    >>> voi_window(np.array([1024.0, 1e9]), 1024, 512, "SIGMOID").tolist()
    [0.5, 1.0]
    """
    x = np.asarray(x, dtype=np.float64)
    if function == "LINEAR":
        if not width >= 1:
            raise ValueError(f"Window Width {width:g} is below 1 (LINEAR needs a width of at least 1)")
        if width == 1:  # a threshold: the standard's formula divides by w - 1
            return (x > center - 0.5).astype(np.float64)
        return np.clip((x - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)
    if not width > 0:
        raise ValueError(f"Window Width {width:g} is not positive ({function} needs a width above 0)")
    if function == "LINEAR_EXACT":
        return np.clip((x - center) / width + 0.5, 0.0, 1.0)
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(np.clip(-4.0 * (x - center) / width, -700.0, 700.0)))
    raise ValueError(f"VOILUTFunction {function!r} is none of {', '.join(VOI_FUNCTIONS)}")


def _padding(ds) -> tuple[int, int] | None:
    """The stored values that are padding (``PixelPaddingValue`` up to ``PixelPaddingRangeLimit``), or None."""
    if "PixelPaddingValue" not in ds:
        return None
    try:
        a = int(_first(ds.PixelPaddingValue))
        b = int(_first(ds.PixelPaddingRangeLimit)) if "PixelPaddingRangeLimit" in ds else a
    except (TypeError, ValueError):
        return None
    return min(a, b), max(a, b)


def _display_unit(values: np.ndarray, ds, voi_lut) -> np.ndarray:
    """The VOI LUT or window of ``ds`` on modality values, as fractions of its output range ``[0, 1]``."""
    if ds.get("VOILUTSequence"):
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        if np.all(values == np.round(values)):  # a LUT is indexed by integers (pydicom warns on floats)
            values = values.astype(np.int64)
        return np.clip(np.asarray(voi_lut(values, ds, index=0), dtype=np.float64) / float(2**bits - 1), 0.0, 1.0)
    function = str(ds.get("VOILUTFunction", "") or "LINEAR").strip().upper()
    center, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
    if not (math.isfinite(center) and math.isfinite(width)):
        raise ValueError(f"Window Center {center:g} / Width {width:g} is not a finite number")
    bits = int(ds.get("BitsStored", 16) or 16)
    span = (2**bits - 1) * abs(float(ds.get("RescaleSlope", 1) or 1))  # every modality value the file can hold
    if width > MAX_WINDOW_SPAN * max(span, 1.0):
        raise ValueError(f"Window Width {width:g} is more than {MAX_WINDOW_SPAN} times the {span:g} its "
                         f"{bits} stored bits span: every pixel would read as one grey value")
    return voi_window(values, center, width, function)


def _dicom_values(raw: np.ndarray, ds, photometric: str, window: bool, path: str) -> np.ndarray:
    """Stored values -> what :func:`read_image` returns for them (``raw`` may be every stored value once:
    the lookup table), padding not yet masked. With a VOI LUT or window (and ``window``): the modality
    rescale, the VOI, MONOCHROME1 inverted, the output range filled (``uint16``; ``uint8`` for 8-bit
    words). Else the stored values after the modality rescale, MONOCHROME1 inverted within the stored bits'
    range, ``BitsStored`` scaled to the dtype's range (as a PGM's maxval is); negative or fractional
    values as ``float32``."""
    apply_modality_lut, apply_voi_lut = _voi_lut_sequence()
    if window and (ds.get("VOILUTSequence") or ("WindowCenter" in ds and "WindowWidth" in ds)):
        try:
            modality = (np.asarray(apply_modality_lut(raw, ds), dtype=np.float64) if ds.get("ModalityLUTSequence")
                        else raw.astype(np.float64) * float(ds.get("RescaleSlope", 1) or 1)
                        + float(ds.get("RescaleIntercept", 0) or 0))
            unit = _display_unit(modality, ds, apply_voi_lut)
        except Exception as exc:  # a malformed window or LUT
            raise ImageError(f"cannot apply the DICOM VOI LUT / window ({type(exc).__name__}: {exc}); "
                             "read the stored values with dicom_window=False (--dicom-raw)", path=path) from None
        if photometric == "MONOCHROME1":
            unit = 1.0 - unit  # inverted after the VOI: bright means dense, as in MONOCHROME2
        top = 255 if raw.dtype.itemsize == 1 else 65535
        return np.rint(unit * top).astype(np.uint8 if top == 255 else np.uint16)
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
    if integral and (values.size == 0 or values.min() >= 0):
        top = 255 if raw.dtype.itemsize == 1 else 65535
        stored_max = 2**bits - 1
        if slope == 1 and intercept == 0 and not signed and bits < raw.dtype.itemsize * 8 and stored_max < top:
            # e.g. 12-bit mammograms in 16-bit words: 4095 is full white, as a PGM's maxval is
            # (pydicom keeps only the BitsStored low bits, so no value exceeds stored_max)
            values = np.floor((values * top + stored_max // 2) / stored_max)  # rounded integer rescale
        if values.size == 0 or (values.max() <= 255 and raw.dtype.itemsize == 1):
            return values.astype(np.uint8 if raw.dtype.itemsize == 1 else np.uint16)
        if values.max() <= 65535:
            return values.astype(np.uint16)
    # negative or fractional values (e.g. CT units) stay as they are, as float32: featbus needs
    # them rescaled to [0, 1] first (featbus.Normalize), and says so when they are used.
    return values.astype(np.float32)


#: Pixels looked up at once where a frame's output replaces its stored words (:func:`_dicom_gray`).
_LUT_BLOCK = 1 << 20


def _dicom_gray(raw: np.ndarray, ds, photometric: str, window: bool, path: str) -> np.ndarray:
    """A grey frame as :func:`read_image` returns it: integer words of up to 16 bits through a lookup table
    of every stored value (each value computed once; without a window, the output's type decided on the
    values present), others value by value. ``PixelPaddingValue`` (to ``PixelPaddingRangeLimit``) pixels
    are masked: set to black, 0 (the lowest value the image's other pixels take where those are fractional
    modality values), whatever the window maps them to, so padding never reads as tissue."""
    pad = _padding(ds)
    if raw.dtype.kind in "iu" and raw.dtype.itemsize <= 2:
        signed = raw.dtype.kind == "i"
        words = raw.view(np.uint8 if raw.dtype.itemsize == 1 else np.uint16)
        if signed:  # two's complement -> offset binary: index = value + 2**(bits - 1)
            words = words ^ (words.dtype.type(1) << (8 * raw.dtype.itemsize - 1))
        size = 1 << (8 * raw.dtype.itemsize)
        stored = (np.arange(size, dtype=np.int64) - (size // 2 if signed else 0)).astype(raw.dtype)
        padded = np.zeros(size, bool) if pad is None else (stored >= pad[0]) & (stored <= pad[1])
        if window and (ds.get("VOILUTSequence") or ("WindowCenter" in ds and "WindowWidth" in ds)):
            keep = ~padded  # a window's output depends on no other value: every stored value's entry computed
        else:  # the output's type depends on the values present: a histogram says which (OpenCV's, 6x NumPy's)
            import cv2

            counts = cv2.calcHist([words], [0], None, [size], [0, size]).ravel()
            keep = (counts > 0) & ~padded
        shown = _dicom_values(stored[keep], ds, photometric, window, path)
        lut = np.zeros(size, dtype=shown.dtype)
        lut[keep] = shown
        if padded.any() and shown.dtype.kind == "f":
            lut[padded] = shown.min() if shown.size else 0
        if lut.dtype == words.dtype and words.flags.writeable and words.flags.c_contiguous:
            # looked up in place, a block at a time: a 26 MP frame's output no second 52 MB array beside it
            # (the decoded words are this read's own and not read again)
            flat = words.reshape(-1)
            for start in range(0, flat.size, _LUT_BLOCK):
                block = flat[start:start + _LUT_BLOCK]
                np.take(lut, block, out=block, mode="clip")
            return words
        return lut[words]
    out = _dicom_values(raw, ds, photometric, window, path)
    if pad is not None:
        hit = (raw >= pad[0]) & (raw <= pad[1])
        out[hit] = out[~hit].min() if out.dtype.kind == "f" and (~hit).any() else 0
    return out


def _codestream_size(frame: bytes) -> tuple[int, int] | None:
    """``(height, width)`` a JPEG / JPEG-LS / JPEG 2000 codestream claims in its own header (its SOF or
    SIZ marker), or None where the frame is none of those or says no size."""
    at = frame.find(b"\xff\x4f\xff\x51", 0, 4096)  # J2K: SOC then SIZ (also inside a JP2 box)
    if at >= 0 and len(frame) >= at + 24:
        xsiz, ysiz, xo, yo = (int.from_bytes(frame[at + k:at + k + 4], "big") for k in (8, 12, 16, 20))
        return ysiz - yo, xsiz - xo
    if not frame.startswith(b"\xff\xd8"):
        return None
    pos = 2
    sof = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}
    while pos + 9 <= len(frame) and pos < 1 << 20:
        if frame[pos] != 0xFF:
            return None
        marker = frame[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = int.from_bytes(frame[pos + 2:pos + 4], "big")
        if marker in sof:
            return int.from_bytes(frame[pos + 5:pos + 7], "big"), int.from_bytes(frame[pos + 7:pos + 9], "big")
        if marker == 0xDA or length < 2:  # the scan starts before any frame header
            return None
        pos += 2 + length
    return None


def _check_frame(ds, syntax, rows: int, columns: int, path: str) -> None:
    """A compressed frame checked before it is decoded: a decoder is installed for its transfer syntax (else
    one line naming both), it ends with its end-of-image / end-of-codestream marker (a truncated frame
    decodes silently into garbage with some decoders), and the size its codestream claims is the header's
    (a decoder allocates what the codestream claims: a frame claiming more is a decompression bomb)."""
    try:
        from pydicom.pixels import get_decoder
    except ImportError:  # pydicom < 3: its handlers say what is missing when they decode
        return
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise ImageError(f"its pixel data is in the transfer syntax {syntax.name} ({syntax}), which pydicom cannot "
                         "decode", path=path) from None
    if not decoder.is_available:
        raise ImageError(f"its pixel data is {syntax.name} ({syntax}) and no decoder for it is installed "
                         f"(pydicom's plugins: {'; '.join(decoder.missing_dependencies) or 'none'}): "
                         f"{DICOM_INSTALL}", path=path)
    if "PixelData" not in ds:
        return
    from pydicom.encaps import generate_frames

    try:
        frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    except Exception as exc:  # noqa: BLE001 - an encapsulation pydicom cannot parse
        raise ImageError(f"its {syntax.name} pixel data is damaged ({type(exc).__name__}: {exc})", path=path) from None
    if syntax.name.startswith(("JPEG", "High-Throughput JPEG")):
        if not frame.rstrip(b"\x00").endswith(b"\xff\xd9"):
            raise ImageError(f"its {syntax.name} frame is truncated: {len(frame):,} bytes with no end-of-image "
                             "marker (FFD9) at their end", path=path)
        claimed = _codestream_size(frame)
        if claimed is not None and claimed != (rows, columns):
            raise ImageError(f"its {syntax.name} frame claims {claimed[1]} x {claimed[0]} pixels where the header "
                             f"says {columns} x {rows} (Columns x Rows): not decoded (a decompression bomb or a "
                             "broken file)", path=path)


def _check_bits(ds, path: str) -> None:
    """``BitsAllocated`` / ``BitsStored`` that describe a readable frame, else one line naming them."""
    allocated = int(ds.get("BitsAllocated", 0) or 0)
    stored = int(ds.get("BitsStored", allocated) if ds.get("BitsStored") is not None else allocated)
    if allocated not in (1, 8, 16, 32, 64):
        raise ImageError(f"has BitsAllocated {allocated}: not 1, 8, 16, 32 or 64", path=path)
    if not 1 <= stored <= allocated:
        raise ImageError(f"has BitsStored {stored}: {'no bit' if stored < 1 else 'more bits than'} "
                         + ("" if stored < 1 else f"its BitsAllocated {allocated} ") + "per pixel", path=path)


def dicom_view(ds) -> dict:
    """What a DICOM header says of a mammogram's view, as :data:`featbus._records.DICOM_VIEW_KEY` holds it.

    ``laterality`` from ``ImageLaterality`` (else ``Laterality``), ``view`` from ``ViewPosition``,
    ``presentation`` from ``PresentationIntentType`` (``FOR PRESENTATION`` / ``FOR PROCESSING``),
    ``modality`` from ``Modality`` (``MG`` for a mammogram, ``US`` for ultrasound), and
    ``chest_wall``, the side of the stored pixels the chest wall is on: from ``PatientOrientation``'s row
    direction where it is given (``P``: columns run toward the chest wall, so it is on the right; ``A``: on
    the left), else from the laterality as mammograms are stored (a right breast's chest wall on the right);
    ``chest_wall_from`` names the field.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset(); ds.ImageLaterality = "R"; ds.ViewPosition = "MLO"
    >>> dicom_view(ds)["chest_wall"], dicom_view(ds)["chest_wall_from"]
    ('right', "ImageLaterality 'R'")
    """
    def text(key):
        value = ds.get(key)
        if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            value = "\\".join(str(v) for v in value)
        value = str(value or "").strip().upper()
        return value or None

    laterality, field = text("ImageLaterality"), "ImageLaterality"
    if laterality not in ("L", "R"):
        laterality, field = text("Laterality"), "Laterality"
    laterality = laterality if laterality in ("L", "R") else None
    rows_toward = (text("PatientOrientation") or "").split("\\")[0][:1]
    if rows_toward in ("A", "P"):
        wall, source = ("right" if rows_toward == "P" else "left"), f"PatientOrientation '{text('PatientOrientation')}'"
    elif laterality is not None:
        wall, source = ("right" if laterality == "R" else "left"), f"{field} '{laterality}'"
    else:
        wall, source = None, "none: the header says no laterality"
    return {"laterality": laterality, "view": text("ViewPosition"), "chest_wall": wall, "chest_wall_from": source,
            "presentation": text("PresentationIntentType"), "modality": text("Modality")}


#: What a 'FOR PROCESSING' frame is, as a note names it.
FOR_PROCESSING_WORDS = ("'FOR PROCESSING' mammogram(s) (the detector's raw values, before the vendor's processing "
                        "that makes the image a radiologist reads): read as stored, their VOI window applied where "
                        "the file has one, not taken for 'FOR PRESENTATION' images")


def _read_dicom(path: str, max_pixels: int | None = None, window: bool = True, info: dict | None = None
                ) -> np.ndarray:
    """DICOM: see :func:`read_image`. ``info``, where given, gets ``"dicom"``: :func:`dicom_view` of the
    header."""
    try:
        import pydicom  # noqa: F401 - whether it is there: the refusal below names the extra
    except ImportError:
        raise ImportError(
            f"reading the DICOM file {path!r} needs pydicom: {DICOM_INSTALL}") from None
    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            ds = _dcmread(path, force=True)
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        rows, cols = int(getattr(ds, "Rows", 0) or 0), int(getattr(ds, "Columns", 0) or 0)
    except _InflatedTooLarge as exc:
        raise ImageError(str(exc), path=path) from None
    except Exception as exc:  # pydicom raises many types for broken data
        raise ImageError(f"cannot read the DICOM header ({type(exc).__name__}: {exc})", path=path) from None
    ended = [str(w.message) for w in said if "End of file reached" in str(w.message)]
    if "PixelData" not in ds and ended:
        raise ImageError("is a truncated DICOM: the file ends inside its pixel data", path=path)
    if frames > 1:
        raise ImageError(f"is a multi-frame DICOM ({frames} frames); featbus reads single images: "
                         "save each frame as its own file", path=path)
    _check_bits(ds, path)
    _check_pixels(path, rows, cols, max_pixels)  # before the pixel data is decoded
    syntax = (getattr(ds, "file_meta", None) or {}).get("TransferSyntaxUID")
    compressed = syntax is not None and syntax.is_compressed
    if compressed:
        _check_frame(ds, syntax, rows, cols, path)
    if info is not None:
        info["dicom"] = dicom_view(ds)
        info["pixel_size"] = dicom_pixel_size(path, header=ds)[0]
    try:
        raw = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for broken or compressed data
        what = f"its {syntax.name} pixel data" if compressed else "the DICOM pixel data"
        first = str(exc).strip().splitlines()
        reason = " ".join(line.strip() for line in first[:3]) if first else ""
        raise ImageError(f"cannot decode {what}: the file is damaged or truncated ({type(exc).__name__}: "
                         f"{reason})", path=path) from None
    del ds.PixelData  # the encoded bytes are not needed any more
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper()
    if raw.ndim == 3:  # colour (pydicom already converts YBR to RGB): no rescale or inversion applies
        return np.ascontiguousarray(raw)
    return _dicom_gray(raw, ds, photometric, window, path)


# --------------------------------------------------------------------------- public API

def read_image(path: str | os.PathLike, *, mode: str = "gray", max_pixels: int | None | str = "default",
               dicom_window: bool | None = None, work_pixels: int | None = None) -> np.ndarray:
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
        ``VOILUTFunction`` ``LINEAR``, ``LINEAR_EXACT`` and ``SIGMOID`` follow DICOM PS3.3 C.11.2.1.2
        (:func:`voi_window`); MONOCHROME1 is inverted after the VOI. Pixels of ``PixelPaddingValue`` (up to
        ``PixelPaddingRangeLimit``) are masked: set to 0, black, whatever the window maps them to (to the
        image's lowest value where it is fractional modality values). JPEG 2000, JPEG lossless, JPEG-LS
        and RLE frames are decoded by pydicom's plugins (``featbus[dicom]`` installs permissively licensed
        ones); a missing decoder is one error naming the transfer syntax, and a compressed frame is checked
        before it is decoded (its end marker present, the size its codestream claims the header's).
    work_pixels : int or None, default=None
        Area-reduce an image of more pixels than this right after it is decoded (OpenCV ``INTER_AREA``, to
        the largest size of its aspect within it: :func:`work_shape`). ``None``: the file's own size.
        featbus's steps load images at :data:`WORK_PIXELS`.

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
    return _read(path, mode, max_pixels, dicom_window, work_pixels, None)


def _read(path, mode: str, max_pixels, dicom_window, work_pixels: int | None, info: dict | None) -> np.ndarray:
    """:func:`read_image`; ``info``, where given, gets ``"shape"`` (the decoded size, before any reduction)
    and, for a DICOM file, ``"dicom"`` (:func:`dicom_view`)."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    max_pixels = _check_max_pixels(max_pixels)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like, got {type(path).__name__}")
    if is_image_reference(path):  # an archive's member, an array's row: read as a file is, info and size alike
        return read_reference(path, mode=mode, max_pixels=max_pixels, dicom_window=dicom_window,
                              work_pixels=work_pixels, info=info)
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
        image = _read_dicom(path, max_pixels, DICOM_WINDOW if dicom_window is None else bool(dicom_window), info)
    else:
        image = _read_pil(path, fmt, max_pixels)
    if image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
        raise ImageError(f"decoded to an array of shape {image.shape}, not an image", path=path)
    if mode == "gray":
        image = to_gray(image, path=path)
    return _at_work(image, work_pixels, info)


def _at_work(image: np.ndarray, work_pixels: int | None, info: dict | None) -> np.ndarray:
    """A decoded image area-reduced to ``work_pixels`` where larger; ``info["shape"]``: its size before."""
    if info is not None:
        info["shape"] = tuple(image.shape[:2])
    if work_pixels is not None and image.shape[0] * image.shape[1] > work_pixels:
        image = _area_reduce(image, work_shape(image.shape[:2], work_pixels))
        _give_back_freed_memory()
    return image


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None (another C library, another system)."""
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _give_back_freed_memory() -> None:
    """Return the memory freed by a large image's decoding to the system (glibc's ``malloc_trim``): its
    buffers of 1-32 MB (a 3328 x 4084 frame, its lookup, pydicom's copies) are served from the heap, which
    would otherwise keep them, so a release of 46 full-field mammograms read into memory held 2.5 times
    their working-size images (128 MB more for six). Nothing elsewhere."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def work_shape(shape: Sequence[int], work_pixels: int | None = None) -> tuple[int, int]:
    """The size ``(height, width)`` an image of ``shape`` is worked at: itself when it has at most
    ``work_pixels`` pixels (default :data:`WORK_PIXELS`), else the largest size of its aspect within them.

    Examples
    --------
    >>> work_shape((5355, 4915)), work_shape((1024, 1024))
    ((2137, 1962), (1024, 1024))
    """
    h, w = int(shape[0]), int(shape[1])
    budget = WORK_PIXELS if work_pixels is None else int(work_pixels)
    if h * w <= budget:
        return h, w
    scale = math.sqrt(budget / (h * w))
    return max(1, math.floor(h * scale)), max(1, math.floor(w * scale))


def _area_reduce(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """``image`` area-averaged to ``hw`` (OpenCV ``INTER_AREA``), its dtype kept (bool as more than half)."""
    import cv2

    if image.dtype == bool:
        return cv2.resize(image.astype(np.uint8) * np.uint8(255), (hw[1], hw[0]), interpolation=cv2.INTER_AREA) > 127
    work = image.astype(np.float32) if image.dtype.kind == "f" and image.dtype != np.float32 else image
    return np.ascontiguousarray(cv2.resize(work, (hw[1], hw[0]), interpolation=cv2.INTER_AREA))


def pixel_limit_problem(shape: Sequence[int]) -> tuple[str, str] | None:
    """``("too large", why)`` for an image whose header claims more than :data:`MAX_IMAGE_PIXELS`, else None:
    how a release's file and ``featbus predict``'s input are refused before a pixel is decoded."""
    h, w = int(shape[0]), int(shape[1])
    if h * w <= MAX_IMAGE_PIXELS:
        return None
    return "too large", (f"{w} x {h} = {h * w:,} pixels, above {limit_words('MAX_IMAGE_PIXELS')} (more than any "
                         "real image, a full-field mammogram included: taken for a decompression bomb)")


def is_image_reference(path) -> bool:
    """Whether ``path`` is an image reference (:mod:`featbus.datasets.sources._refs`): an image that is no file
    of its own (an archive's member, an array's row), path-like by its stable name and read by its
    ``read()`` (pixels or encoded bytes) and ``probe()`` (its header's ``(shape, problem)``)."""
    return isinstance(path, os.PathLike) and callable(getattr(path, "read", None)) \
        and callable(getattr(path, "probe", None))


def read_reference(ref, *, mode: str = "gray", max_pixels: int | None | str = "default", dicom_window=None,
                   work_pixels: int | None = None, info: dict | None = None) -> np.ndarray:
    """The pixels of an image reference, checked as a file's are: an array row as stored (2-D, or
    RGB / RGBA), encoded bytes decoded by :func:`read_image` itself (the same formats, the same
    checks); an error names the reference (``archive.zip!a/b.png``). ``work_pixels`` and ``info`` as
    :func:`read_at_work` takes them: a member read at its working size, its own size (and a DICOM
    member's header fields) in ``info``."""
    name = os.fspath(ref)
    max_pixels = _check_max_pixels(max_pixels)
    data = ref.read()
    if isinstance(data, np.ndarray):
        if data.ndim not in (2, 3) or min(data.shape[:2]) < 1 or (data.ndim == 3 and data.shape[-1] not in (1, 3, 4)):
            raise ImageError(f"is an array of shape {data.shape}, not an image", path=name)
        _check_pixels(name, data.shape[0], data.shape[1], max_pixels)
        image = np.ascontiguousarray(data[..., 0] if data.ndim == 3 and data.shape[-1] == 1 else data)
        return _at_work(to_gray(image, path=name) if mode == "gray" else image, work_pixels, info)
    with _spilled(bytes(data), Path(name).suffix) as file:
        try:
            return _read(file, mode, max_pixels, dicom_window, work_pixels, info)
        except ImageError as exc:
            raise ImageError(exc.reason, path=name) from None


def _spilled(data: bytes, suffix: str):
    """A private temporary file holding ``data`` (removed on leaving the ``with``): an archive
    member's or a parquet cell's encoded image, decoded by the file readers."""
    import tempfile

    @contextlib.contextmanager
    def spill():
        fd, name = tempfile.mkstemp(suffix=suffix if len(suffix) <= 10 else "", prefix="featbus-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            yield name
        finally:
            os.unlink(name)

    return spill()


def probe_bytes(data: bytes, name: str) -> tuple[tuple[int, int] | None, tuple[str, str] | None]:
    """:func:`header_shape` of an image held as bytes (an archive's member): ``(shape, problem)``."""
    if not data:
        return None, ("unreadable", "an empty (zero-byte) member")
    with _spilled(data, Path(name).suffix) as file:
        return header_shape(file)


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
        Expected ``(height, width)``, usually the image's. Default: the first mask's shape. A mask of an
        image loaded at its working size (:func:`work_shape` of the mask's size is ``shape``) is area-reduced
        with it: a pixel is lesion where more than half of its area was.

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
        m = mask_at_work(m, shape)
        if m.shape != shape:
            raise ImageError(f"mask has shape {m.shape}, expected {shape} (the image's size)",
                             path=os.fspath(p))
        union = m if union is None else (union | m)
    return union


def mask_at_work(mask: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """``mask`` (bool) brought to ``shape`` where ``shape`` is the working size of an image of the mask's
    size (:func:`work_shape`): a pixel is lesion where more than half of its area was; else unchanged.

    Examples
    --------
    >>> m = np.zeros((4096, 2048), bool); m[:2048] = True
    >>> small = mask_at_work(m, work_shape(m.shape)); small.shape, float(small.mean())
    ((2896, 1448), 0.5)
    """
    shape = tuple(int(v) for v in shape)
    if mask.shape[:2] != shape and work_shape(mask.shape[:2]) == shape:
        return _area_reduce(np.asarray(mask, dtype=bool), shape)
    return mask


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


def read_at_work(path: str | os.PathLike, info: dict | None = None) -> np.ndarray:
    """A grey image read as featbus's steps load it: :func:`read_image` at its working size
    (``work_pixels=WORK_PIXELS``). ``info``, where given, gets ``"shape"`` (the file's own size) and, for a
    DICOM file, ``"dicom"`` (:func:`dicom_view`) and ``"pixel_size"`` (:func:`dicom_pixel_size`)."""
    return _read(path, "gray", "default", None, WORK_PIXELS, info)


def _read_indexed(path, index: int | None, info: dict | None = None) -> np.ndarray:
    """Read a file at its working size (:func:`read_at_work`); a read error gets the item's index added to its
    message."""
    try:
        return read_at_work(path, info)
    except ImageError as exc:
        if exc.index is not None or index is None:
            raise
        raise ImageError(exc.reason, index, exc.path or str(path)) from exc
    except FileNotFoundError as exc:
        error = FileNotFoundError(f"{describe(index, None)}: {exc}")
        error.image_index, error.image_reason = index, str(exc)  # renamed by names_caller_positions
        raise error from exc


def scaled_pixel_size(size: dict | None, shape: Sequence[int], worked: Sequence[int]) -> dict | None:
    """A physical pixel size (:data:`featbus._records.PIXEL_SIZE_KEY`) of an image of ``shape`` brought to the
    size ``worked`` (:func:`work_shape`): its size times the reduction, said in its ``source``."""
    if size is None or tuple(shape[:2]) == tuple(worked[:2]):
        return size
    factor = (shape[0] / worked[0] + shape[1] / worked[1]) / 2
    return {**size, "size": size["size"] * factor,
            "source": f"{size.get('source', '')} (x{factor:.4g}: area-reduced to the working size)".strip()}


def loaded_meta(info: dict, image: np.ndarray, path) -> dict:
    """The :attr:`~featbus.ImageRecord.meta` entries a file read at its working size adds: a DICOM header's
    view (:data:`featbus._records.DICOM_VIEW_KEY`) and pixel size (scaled where the image was reduced).
    A 'FOR PROCESSING' mammogram is named in a warning (:data:`FOR_PROCESSING_WORDS`)."""
    meta: dict = {}
    if info.get("dicom") is not None:
        meta[DICOM_VIEW_KEY] = info["dicom"]
        if info["dicom"].get("presentation") == "FOR PROCESSING":
            warnings.warn(for_processing_note([path]), UserWarning, stacklevel=find_stack_level())
    size = scaled_pixel_size(info.get("pixel_size"), info.get("shape", image.shape), image.shape)
    if size is not None:
        meta[PIXEL_SIZE_KEY] = size
    return meta


def for_processing_note(paths: Sequence) -> str:
    """The one line that names 'FOR PROCESSING' mammograms (:data:`FOR_PROCESSING_WORDS`), the first three."""
    shown = ", ".join(repr(os.path.basename(str(p))) for p in list(paths)[:3])
    return f"{len(paths)} {FOR_PROCESSING_WORDS}: {shown}{', ...' if len(paths) > 3 else ''}"


def load_item(item: Any, index: int | None = None, *, min_side: int = MIN_SIDE) -> ImageRecord:
    """Turn one entry of ``X`` into a validated :class:`ImageRecord` (reads files, at their working size:
    :data:`WORK_PIXELS`; a mask given with a file read smaller follows it, :func:`mask_at_work`)."""
    if isinstance(item, ImageRecord):
        image = item.image
        path = item.path
        meta = dict(item.meta)
        if isinstance(image, _PathLike):
            path = path or str(image)
            info: dict = {}
            image = _read_indexed(image, index, info)
            meta = {**loaded_meta(info, image, path), **meta}
            if PIXEL_SIZE_KEY in item.meta:  # a table's pixel size, of the file's own size
                meta[PIXEL_SIZE_KEY] = scaled_pixel_size(item.meta[PIXEL_SIZE_KEY], info["shape"], image.shape)
        image = check_image(image, index=index, path=path, min_side=min_side)
        mask = None if item.mask is None else check_mask(mask_at_work(np.asarray(item.mask), image.shape[:2]),
                                                         image.shape, index=index, path=path)
        return ImageRecord(image, mask, path, meta)
    if isinstance(item, _PathLike):
        info = {}
        image = _read_indexed(item, index, info)
        meta = loaded_meta(info, image, item)
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
                try:
                    target = os.path.realpath(full)
                except OSError as exc:  # a link the system cannot resolve (/proc/<pid>/exe), or gone mid-walk
                    left_out.append(LeftOut(str(rel), "unreadable", f"a link that cannot be followed "
                                                                    f"({exc.strerror or exc})"))
                    continue
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
                try:
                    mode = entry.stat(follow_symlinks=False).st_mode
                except OSError as exc:  # removed while the folder was walked
                    left_out.append(LeftOut(str(rel), "unreadable", f"gone while listed ({exc.strerror or exc})"))
                    continue
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
