"""DICOM as screening mammography ships it (issue 95, items 4, 5 and 7's bad pixels).

* JPEG 2000, JPEG lossless, JPEG-LS and RLE frames decode to the pixels they hold; a missing decoder is one
  line naming the transfer syntax;
* the VOI functions LINEAR, LINEAR_EXACT and SIGMOID follow DICOM PS3.3 C.11.2.1.2 with no overflow warning;
  MONOCHROME1 is inverted after the VOI; ``PixelPaddingValue`` pixels are black; 'FOR PROCESSING' frames
  are named;
* the orientation step flips a right breast by its header's laterality, not by its pixels;
* a full-field mammogram is read (not refused) and brought to the working size, its mask with it;
* bad input named in one line each: a truncated compressed frame, a header promising 60000 x 60000, a
  frame whose codestream claims more than its header, BitsStored 0 or 17.

Frames are small on disk; a header of a real size only where the size is checked from the header.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")

from _untrusted import run_featbus  # noqa: E402

from featbus import BreastMask, ImageError, ImageRecord, read_image  # noqa: E402
from featbus._records import DICOM_VIEW_KEY, PIXEL_SIZE_KEY  # noqa: E402
from featbus.io import WORK_PIXELS, load_item, voi_window, work_shape  # noqa: E402
from featbus.preprocessing.mammography import make_mammogram_phantom  # noqa: E402

SPACING_MM = 0.07


def mammogram(arr: np.ndarray, *, bits: int = 12, photometric: str = "MONOCHROME2", window=None,
              function: str | None = None, laterality: str | None = None, view: str | None = None,
              orientation: str | None = None, padding: int | None = None, intent: str | None = None,
              rows_columns: tuple[int, int] | None = None):
    """A digital mammography DICOM dataset (the MG SOP class, as a modality writes it) holding ``arr``."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"  # Digital Mammography X-Ray, for presentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "MG", "P1"
    ds.Rows, ds.Columns = rows_columns or arr.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = arr.dtype.itemsize * 8, bits, bits - 1, 0
    ds.PixelSpacing = [SPACING_MM, SPACING_MM]
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if function is not None:
        ds.VOILUTFunction = function
    if laterality is not None:
        ds.ImageLaterality = laterality
    if view is not None:
        ds.ViewPosition = view
    if orientation is not None:
        ds.PatientOrientation = orientation
    if padding is not None:
        ds.PixelPaddingValue = padding
    if intent is not None:
        ds.PresentationIntentType = intent
    ds.PixelData = arr.tobytes()
    return ds


def save(ds, path: Path, syntax=None) -> Path:
    """``ds`` written to ``path``, its frame compressed in ``syntax`` (pydicom's encoders; gdcm's for the JPEG
    lossless and JPEG-LS frames pydicom cannot encode)."""
    from pydicom.uid import JPEGLosslessSV1, JPEGLSLossless

    path.parent.mkdir(parents=True, exist_ok=True)
    if syntax in (JPEGLosslessSV1, JPEGLSLossless):
        gdcm = pytest.importorskip("gdcm")
        native = path.with_suffix(".native.dcm")
        ds.save_as(native, enforce_file_format=True)
        reader = gdcm.ImageReader()
        reader.SetFileName(str(native))
        assert reader.Read()
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLSLossless if syntax == JPEGLSLossless
                                                     else gdcm.TransferSyntax.JPEGLosslessProcess14_1))
        change.SetInput(reader.GetImage())
        assert change.Change()
        writer = gdcm.ImageWriter()
        writer.SetFileName(str(path))
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        assert writer.Write()
        native.unlink()
        return path
    if syntax is not None:
        ds.compress(syntax)
    ds.save_as(path, enforce_file_format=True)
    return path


def ramp(shape=(64, 80), top: int = 4095, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (np.linspace(0, top, shape[0] * shape[1]).reshape(shape) + rng.integers(0, 3, shape)).clip(0, top
                                                                                                      ).astype(np.uint16)


# --------------------------------------------------------------------------- compressed frames
@pytest.mark.parametrize("syntax_name", ["JPEG2000Lossless", "JPEGLosslessSV1", "JPEGLSLossless", "RLELossless"])
def test_compressed_frames_decode_to_the_stored_pixels(tmp_path, syntax_name):
    import pydicom.uid

    syntax = getattr(pydicom.uid, syntax_name)
    arr = ramp()
    native = read_image(save(mammogram(arr), tmp_path / "native.dcm"))
    path = save(mammogram(arr), tmp_path / "c.dcm", syntax)
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == syntax
    np.testing.assert_array_equal(read_image(path), native)  # lossless: the same pixels as uncompressed


def test_a_missing_decoder_is_named_with_its_transfer_syntax(tmp_path, monkeypatch):
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEG2000Lossless

    path = save(mammogram(ramp()), tmp_path / "j2k.dcm", JPEG2000Lossless)
    decoder = get_decoder(JPEG2000Lossless)
    monkeypatch.setattr(decoder, "_available", {})  # as where neither pylibjpeg-openjpeg nor gdcm is installed
    monkeypatch.setattr(decoder, "_unavailable", {"pylibjpeg": ("pylibjpeg>=2.0", "pylibjpeg-openjpeg>=2.0")})
    with pytest.raises(ImageError) as caught:
        read_image(path)
    text = str(caught.value)
    assert "\n" not in text and "j2k.dcm" in text
    assert "JPEG 2000 Image Compression (Lossless Only) (1.2.840.10008.1.2.4.90)" in text
    assert "no decoder" in text and 'pip install "featbus[dicom]"' in text and "pylibjpeg-openjpeg" in text


def test_the_dicom_extra_installs_no_gpl_decoder():
    """pyproject's ``[dicom]`` extra: pydicom and permissive decoders, never pylibjpeg-libjpeg (GPL-3.0)."""
    import tomllib

    extra = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
                          )["project"]["optional-dependencies"]["dicom"]
    names = {d.split(">")[0].split("=")[0].split(";")[0].strip() for d in extra}
    assert {"pydicom", "pylibjpeg", "pylibjpeg-openjpeg", "python-gdcm"} <= names
    assert "pylibjpeg-libjpeg" not in names


# --------------------------------------------------------------------------- VOI, MONOCHROME1, padding, intent
@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
def test_voi_functions_follow_the_standard_with_no_overflow_warning(tmp_path, function):
    arr = ramp()
    c, w = 2000.0, 600.0
    x = arr.astype(np.float64)
    expected = {  # DICOM PS3.3 C.11.2.1.2, output range [0, 1]
        "LINEAR": np.clip((x - (c - 0.5)) / (w - 1) + 0.5, 0, 1),
        "LINEAR_EXACT": np.clip((x - c) / w + 0.5, 0, 1),
        "SIGMOID": 1 / (1 + np.exp(-4 * (x - c) / w)),
    }[function]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in exp (a window's range probed far out) would raise here
        shown = read_image(save(mammogram(arr, window=(c, w), function=function), tmp_path / "w.dcm"))
        inverted = read_image(save(mammogram(arr, window=(c, w), function=function, photometric="MONOCHROME1"),
                                   tmp_path / "w1.dcm"))
    assert shown.dtype == np.uint16
    np.testing.assert_array_equal(shown, np.rint(expected * 65535).astype(np.uint16))  # the same float64 formula
    # MONOCHROME1: inverted after the VOI (1 - y), so the window keeps its place in the stored values
    np.testing.assert_array_equal(inverted, np.rint((1 - expected) * 65535).astype(np.uint16))
    # far out of the window: the range's ends (the sigmoid's exponent is clipped, so no overflow; 1e-300 apart)
    np.testing.assert_allclose(voi_window(np.array([-1e300, 1e300]), c, w, function), [0.0, 1.0], rtol=0, atol=1e-300)


def test_an_unknown_voi_function_is_named(tmp_path):
    path = save(mammogram(ramp(), window=(2000, 600), function="CUBIC"), tmp_path / "w.dcm")
    with pytest.raises(ImageError, match=r"w\.dcm.*VOILUTFunction 'CUBIC' is none of LINEAR, LINEAR_EXACT, SIGMOID"):
        read_image(path)
    assert read_image(path, dicom_window=False).shape == (64, 80)  # the stored values stay readable


@pytest.mark.parametrize("window, words", [
    ((2000, 1e300), r"Window Width 1e\+300 is more than 256 times the 4095 its 12 stored bits span"),
    ((2000, float("inf")), r"Window Center 2000 / Width inf is not a finite number"),
    ((float("nan"), 600), r"Window Center nan / Width 600 is not a finite number"),
])
def test_a_window_far_beyond_the_stored_range_is_refused_as_a_malformed_one(tmp_path, window, words):
    """A width of 1e300 maps every stored value to one grey (0.5): refused, named, as a width below 1 is;
    the widest window read is :data:`featbus.io.MAX_WINDOW_SPAN` times the span the stored bits hold."""
    path = save(mammogram(ramp(), window=window), tmp_path / "w.dcm")
    with pytest.raises(ImageError, match=r"w\.dcm.*" + words):
        read_image(path)
    assert read_image(path, dicom_window=False).shape == (64, 80)  # the stored values stay readable
    wide = read_image(save(mammogram(ramp(), window=(2000, 256 * 4095)), tmp_path / "wide.dcm"))
    assert len(np.unique(wide)) > 1  # the widest window read still shows more than one grey


def test_extract_leaves_a_flattening_window_out_by_name(tmp_path):
    rel = tmp_path / "rel"
    for k in range(4):
        save(mammogram(ramp(seed=k)), rel / ("benign" if k % 2 else "malignant") / f"ok{k}.dcm")
    save(mammogram(ramp(seed=9), window=(2000, 1e300)), rel / "benign" / "flat.dcm")
    out = run_featbus(["extract", rel, "-f", "intensity", "-o", tmp_path / "f.csv", "--on-error", "skip"],
                      cwd=tmp_path)
    assert out.returncode == 0 and "Traceback" not in out.text, out.text[-2000:]
    assert any("flat.dcm" in x and "Window Width 1e+300" in x for x in out.text.splitlines()), out.text[-3000:]
    import pandas as pd

    assert len(pd.read_csv(tmp_path / "f.csv")) == 4


def test_padding_is_black_whatever_the_window_maps_it_to(tmp_path):
    """MONOCHROME1 mammograms pad the air with the highest stored value; after the window and the inversion
    it would read as a value of its own; masked, it is 0 (black, no tissue), on both reading paths."""
    arr = ramp(top=3000)
    arr[:, :10] = 4095  # the padding
    for window in ((1500, 2000), None):
        image = read_image(save(mammogram(arr, photometric="MONOCHROME1", window=window, padding=4095),
                                tmp_path / "p.dcm"))
        assert (image[:, :10] == 0).all()
        unpadded = read_image(save(mammogram(arr, photometric="MONOCHROME1", window=window), tmp_path / "q.dcm"))
        np.testing.assert_array_equal(image[:, 10:], unpadded[:, 10:])  # the breast is read as before


def test_for_processing_frames_are_named(tmp_path):
    path = save(mammogram(ramp(), intent="FOR PROCESSING"), tmp_path / "raw.dcm")
    with pytest.warns(UserWarning, match=r"1 'FOR PROCESSING' mammogram\(s\) .*not taken for 'FOR PRESENTATION'.*"
                                         r"'raw\.dcm'"):
        record = load_item(path)
    assert record.meta[DICOM_VIEW_KEY]["presentation"] == "FOR PROCESSING"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_item(save(mammogram(ramp(), intent="FOR PRESENTATION"), tmp_path / "shown.dcm"))


def test_a_release_names_its_for_processing_frames_once(tmp_path):
    from featbus.datasets import read_release

    for k in range(4):
        save(mammogram(ramp(seed=k), intent="FOR PROCESSING" if k < 3 else None),
             tmp_path / "rel" / ("benign" if k % 2 else "malignant") / f"m{k}.dcm")
    release = read_release(tmp_path / "rel")  # featbus read's paragraph says them from the headers alone
    said_first = [n for n in release.summary.notes if "FOR PROCESSING" in n]
    assert len(said_first) == 1 and said_first[0].startswith("3 'FOR PROCESSING' mammogram(s)")
    assert "3 'FOR PROCESSING' mammogram(s)" in release.summary.text()
    with pytest.warns(UserWarning) as said:
        release.to_bunch()
    notes = [str(w.message) for w in said if "FOR PROCESSING" in str(w.message)]
    assert len(notes) == 1 and notes[0].startswith("3 'FOR PROCESSING' mammogram(s)")


# --------------------------------------------------------------------------- orientation by the header
def test_a_right_breast_is_flipped_by_its_laterality_not_its_pixels(tmp_path):
    """The phantom's chest wall is on the left in its pixels; its header says a right breast, stored with the
    chest wall on the right: the header is believed and the image flipped; without the tag the pixels decide."""
    image, _ = make_mammogram_phantom((128, 128), side="left", seed=4, dtype=np.uint16)
    image = (image >> 4).astype(np.uint16)  # 12-bit words
    tagged = save(mammogram(image, laterality="R", view="MLO"), tmp_path / "R_MLO.dcm")
    plain = save(mammogram(image), tmp_path / "none.dcm")
    out = BreastMask(orientation="left", mask_background=False).fit_transform([tagged, plain])
    assert out[0].meta[DICOM_VIEW_KEY]["laterality"] == "R" and out[0].meta[DICOM_VIEW_KEY]["view"] == "MLO"
    assert out[0].meta["chest_wall"] == "right" and out[0].meta["flipped"]
    assert out[0].meta["chest_wall_from"] == "DICOM ImageLaterality 'R'"
    np.testing.assert_array_equal(out[0].image, read_image(tagged)[:, ::-1])
    assert out[1].meta["chest_wall"] == "left" and not out[1].meta["flipped"]
    assert out[1].meta["chest_wall_from"] == "pixels"


def test_patient_orientation_overrides_laterality(tmp_path):
    """A left breast stored mirrored: ``PatientOrientation`` P\\F says the columns run toward the chest wall."""
    image, _ = make_mammogram_phantom((96, 96), side="right", seed=5, dtype=np.uint8)
    path = save(mammogram(image, bits=8, laterality="L", orientation=["P", "F"]), tmp_path / "L.dcm")
    (out,) = BreastMask(orientation="left", mask_background=False).fit_transform([path])
    assert out.meta["chest_wall"] == "right" and out.meta["flipped"]
    assert out.meta["chest_wall_from"] == "DICOM PatientOrientation 'P\\F'"


# --------------------------------------------------------------------------- full-field sizes
def test_a_full_field_mammogram_is_read_at_the_working_size(tmp_path):
    """4915 x 5355 (RSNA's largest frames), 12-bit, RLE: the release reader keeps it (no "too large"), the
    loader decodes it and area-reduces it to the working size, its pixel size scaled, its mask with it."""
    from pydicom.uid import RLELossless

    from featbus.datasets import read_release

    h, w = 5355, 4915
    arr = np.zeros((h, w), np.uint16)
    arr[1000:4000, :2500] = 3000  # a flat "breast": RLE keeps the file small
    rel = tmp_path / "rel"
    save(mammogram(arr, window=(2000, 4000)), rel / "malignant" / "big.dcm", RLELossless)
    assert (rel / "malignant" / "big.dcm").stat().st_size < 2_000_000
    mask = np.zeros((h, w), np.uint8)
    mask[2000:3000, 500:1500] = 255
    from PIL import Image

    Image.fromarray(mask).save(rel / "malignant" / "big_mask.png")
    save(mammogram(ramp(seed=1)), rel / "benign" / "small.dcm")
    release = read_release(rel)
    assert not [r for r in release.summary.left_out if r.reason == "too large"]
    data = release.to_bunch()
    big = data.paths.index(str(rel / "malignant" / "big.dcm"))
    worked = work_shape((h, w))
    assert worked == (2137, 1962) and worked[0] * worked[1] <= WORK_PIXELS
    assert data.images[big].shape == worked and data.masks[big].shape == worked
    assert data.data[big].meta["file_shape"] == (h, w)
    # the flat breast stays flat after the area reduction (the LINEAR window maps 3000 to 0.7502 of the range);
    # OpenCV's INTER_AREA weights are float32: a few rows and columns of work pixels are off by up to 5e-4
    inside = data.images[big][500:1500, 100:900].astype(float)
    level = round(((3000 - 1999.5) / 3999 + 0.5) * 65535)
    assert np.median(inside) == level and np.abs(inside - level).max() <= 5e-4 * 65535
    # the mask follows the image: its area fraction is kept to within a row and a column of work pixels
    assert data.masks[big].mean() == pytest.approx(mask.astype(bool).mean(), abs=2 / worked[1] + 2 / worked[0])
    size = data.data[big].meta[PIXEL_SIZE_KEY]
    assert size["size"] == pytest.approx(SPACING_MM * w / worked[1], rel=1e-3) and "working size" in size["source"]
    small = data.paths.index(str(rel / "benign" / "small.dcm"))
    assert data.images[small].shape == (64, 80) and "file_shape" not in data.data[small].meta


# --------------------------------------------------------------------------- bad input, one line each
def _frame_of(path: Path) -> tuple[object, bytes]:
    import pydicom
    from pydicom.encaps import generate_frames

    ds = pydicom.dcmread(path)
    return ds, next(generate_frames(ds.PixelData, number_of_frames=1))


def _with_frame(ds, frame: bytes, path: Path) -> Path:
    from pydicom.encaps import encapsulate

    ds.PixelData = encapsulate([frame])
    ds.save_as(path)
    return path


@pytest.mark.parametrize("syntax_name", ["JPEG2000Lossless", "JPEGLSLossless"])
def test_a_truncated_compressed_frame_is_named(tmp_path, syntax_name):
    """Half a codestream (the encapsulation intact): JPEG-LS decoders return garbage without a word, so the
    missing end marker is checked before decoding."""
    import pydicom.uid

    ds, frame = _frame_of(save(mammogram(ramp()), tmp_path / "c.dcm", getattr(pydicom.uid, syntax_name)))
    path = _with_frame(ds, frame[: len(frame) // 2], tmp_path / "cut.dcm")
    with pytest.raises(ImageError) as caught:
        read_image(path)
    text = str(caught.value)
    assert "\n" not in text and "cut.dcm" in text and "truncated" in text
    assert ds.file_meta.TransferSyntaxUID.name in text


def test_a_codestream_claiming_more_than_its_header_is_not_decoded(tmp_path):
    """The DICOM header says 80 x 64; the JPEG 2000 codestream's SIZ marker says 60000 x 60000: a decoder
    would allocate what the codestream claims, so the frame is refused before decoding."""
    from pydicom.uid import JPEG2000Lossless

    ds, frame = _frame_of(save(mammogram(ramp()), tmp_path / "c.dcm", JPEG2000Lossless))
    siz = frame.find(b"\xff\x4f\xff\x51")
    bomb = bytearray(frame)
    bomb[siz + 8:siz + 16] = (60000).to_bytes(4, "big") * 2  # Xsiz, Ysiz
    with pytest.raises(ImageError, match=r"bomb\.dcm.*frame claims 60000 x 60000 pixels where the header says 80 x 64"):
        read_image(_with_frame(ds, bytes(bomb), tmp_path / "bomb.dcm"))


@pytest.mark.parametrize("bits,words", [(0, "BitsStored 0: no bit per pixel"),
                                        (17, "BitsStored 17: more bits than its BitsAllocated 16 per pixel")])
def test_bits_stored_outside_the_word_is_named(tmp_path, bits, words):
    ds = mammogram(ramp())
    ds.BitsStored = bits
    with pytest.raises(ImageError, match=rf"b\.dcm.*has {words}"):
        read_image(save(ds, tmp_path / "b.dcm"))


def test_bad_frames_in_a_release_each_left_out_in_one_line(tmp_path):
    """``featbus read`` and ``featbus extract`` as a user types them, in a child limited to 1 GiB: a header
    promising 60000 x 60000 (a 2 KB JPEG 2000 file) is "too large" by its header, never decoded; a truncated
    frame and a BitsStored of 17 are left out by name at extraction; the good mammograms are extracted."""
    from pydicom.uid import JPEG2000Lossless

    rel = tmp_path / "rel"
    for k in range(4):
        save(mammogram(ramp(seed=k)), rel / ("benign" if k % 2 else "malignant") / f"ok{k}.dcm")
    ds, frame = _frame_of(save(mammogram(ramp()), tmp_path / "c.dcm", JPEG2000Lossless))
    ds.Rows = ds.Columns = 60000
    _with_frame(ds, frame, rel / "benign" / "promise.dcm")
    ds, frame = _frame_of(save(mammogram(ramp()), tmp_path / "d.dcm", JPEG2000Lossless))
    _with_frame(ds, frame[:len(frame) // 3], rel / "malignant" / "cut.dcm")
    bad_bits = mammogram(ramp())
    bad_bits.BitsStored = 17
    save(bad_bits, rel / "benign" / "bits.dcm")

    read = run_featbus(["read", rel], cwd=tmp_path)
    assert read.returncode == 0 and "Traceback" not in read.text
    assert "left out 1 (too large, e.g. 'benign/promise.dcm')" in read.text
    from featbus.datasets import read_release

    (item, reason, detail), = read_release(rel).summary.left_out
    assert (item, reason) == ("benign/promise.dcm", "too large")
    assert "60000 x 60000" in detail and "MAX_IMAGE_PIXELS" in detail and "decompression bomb" in detail
    out = run_featbus(["extract", rel, "-f", "intensity", "-o", tmp_path / "f.csv", "--on-error", "skip"],
                      cwd=tmp_path)
    assert out.returncode == 0, out.text[-2000:]
    assert "Traceback" not in out.text and "internal error" not in out.text
    for name, why in (("cut.dcm", "truncated"), ("bits.dcm", "BitsStored 17")):
        assert any(name in x and why in x for x in out.text.splitlines()), (name, out.text[-3000:])
    import pandas as pd

    table = pd.read_csv(tmp_path / "f.csv")
    assert len(table) == 4


def test_a_header_promising_60000_x_60000_is_refused_before_decoding(tmp_path):
    ds = mammogram(np.zeros((4, 4), np.uint16), rows_columns=(60000, 60000))
    path = save(ds, tmp_path / "promise.dcm")
    assert path.stat().st_size < 4096
    with pytest.raises(ImageError, match=r"promise\.dcm.*claims 60000 x 60000 = 3,600,000,000 pixels"):
        read_image(path)


def test_a_record_of_a_path_keeps_its_mask_at_the_working_size(tmp_path):
    """An ImageRecord naming a file larger than the working size, with its full-size mask: both reduced."""
    arr = np.zeros((2400, 2000), np.uint8)
    arr[:, :1000] = 200
    path = save(mammogram(arr, bits=8), tmp_path / "m.dcm")
    mask = np.zeros(arr.shape, bool)
    mask[:1200] = True
    record = load_item(ImageRecord(str(path), mask))
    assert record.image.shape == record.mask.shape == work_shape(arr.shape)
    assert record.mask.mean() == pytest.approx(0.5, abs=2 / record.mask.shape[0])
