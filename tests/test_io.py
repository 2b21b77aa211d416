"""Tests of featbus.io: read_image, read_mask, read_images, on good and bad files."""

from __future__ import annotations

import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

import featbus.io
from featbus import ImageError, read_image, read_images, read_mask
from featbus._records import to_float


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_claiming(path, width, height):
    """A 100-byte PNG whose header claims width x height 8-bit gray pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + _chunk(b"IEND", b""))
    return path


def _save(path, arr, **kw):
    Image.fromarray(arr).save(path, **kw)
    return path


@pytest.fixture
def gray8():
    return (np.arange(24 * 32) % 251).astype(np.uint8).reshape(24, 32)


class TestFormats:
    def test_png_gray8(self, tmp_path, gray8):
        im = read_image(_save(tmp_path / "a.png", gray8))
        assert im.dtype == np.uint8 and im.shape == (24, 32)
        np.testing.assert_array_equal(im, gray8)

    def test_png_16bit_kept(self, tmp_path):
        arr = (np.arange(20 * 20, dtype=np.uint16) * 150).reshape(20, 20)
        im = read_image(_save(tmp_path / "a.png", arr))
        assert im.dtype == np.uint16
        np.testing.assert_array_equal(im, arr)

    def test_png_16bit_rgb_kept(self, tmp_path):
        import cv2

        arr = np.zeros((10, 12, 3), np.uint16)
        arr[..., 0], arr[..., 1], arr[..., 2] = 1000, 20000, 60000  # R, G, B
        cv2.imwrite(str(tmp_path / "c.png"), arr[..., ::-1])  # OpenCV writes BGR
        im = read_image(tmp_path / "c.png", mode="unchanged")
        assert im.dtype == np.uint16 and im.shape == (10, 12, 3)
        np.testing.assert_array_equal(im[0, 0], [1000, 20000, 60000])
        assert read_image(tmp_path / "c.png").dtype == np.uint16

    def test_rgb_and_rgba(self, tmp_path, gray8):
        rgb = np.dstack([gray8] * 3)
        np.testing.assert_array_equal(read_image(_save(tmp_path / "rgb.png", rgb)), gray8)
        assert read_image(tmp_path / "rgb.png", mode="unchanged").shape == (24, 32, 3)
        rgba = np.dstack([gray8] * 3 + [np.full_like(gray8, 255)])
        rgba[0, 0, 3] = 0  # transparent pixel -> composited over black
        path = _save(tmp_path / "rgba.png", rgba)
        assert read_image(path, mode="unchanged").shape == (24, 32, 4)
        im = read_image(path)
        assert im.shape == (24, 32) and im.dtype == np.uint8
        assert im[0, 0] == 0 and im[1, 1] == gray8[1, 1]

    def test_palette_and_bilevel(self, tmp_path, gray8):
        Image.fromarray(gray8).convert("P").save(tmp_path / "p.png")
        assert read_image(tmp_path / "p.png").shape == (24, 32)
        Image.fromarray(gray8 > 100).save(tmp_path / "b.png")
        im = read_image(tmp_path / "b.png")
        assert im.dtype == np.uint8 and set(np.unique(im)) <= {0, 255}

    def test_jpeg_and_tiff(self, tmp_path, gray8):
        im = read_image(_save(tmp_path / "a.jpg", gray8, quality=95))
        assert im.dtype == np.uint8 and im.shape == gray8.shape
        assert np.abs(im.astype(int) - gray8).mean() < 10
        arr16 = (np.arange(16 * 16, dtype=np.uint16) * 200).reshape(16, 16)
        im = read_image(_save(tmp_path / "a.tif", arr16))
        assert im.dtype == np.uint16
        np.testing.assert_array_equal(im, arr16)

    def test_extension_does_not_matter(self, tmp_path, gray8):
        path = _save(tmp_path / "a.png", gray8)
        path.rename(tmp_path / "a.dat")
        np.testing.assert_array_equal(read_image(tmp_path / "a.dat"), gray8)


class TestPGM:
    def _write(self, path, arr, maxval, comment=True, magic=b"P5"):
        head = magic + b"\n" + (b"# a comment\n" if comment else b"")
        head += f"{arr.shape[1]} {arr.shape[0]}\n{maxval}\n".encode()
        body = arr.astype(">u2" if maxval > 255 else np.uint8).tobytes()
        path.write_bytes(head + body)
        return path

    def test_8bit(self, tmp_path, gray8):
        im = read_image(self._write(tmp_path / "a.pgm", gray8, 255))
        assert im.dtype == np.uint8
        np.testing.assert_array_equal(im, gray8)

    def test_16bit(self, tmp_path):
        arr = (np.arange(12 * 10) * 500).reshape(12, 10).astype(np.uint16)
        im = read_image(self._write(tmp_path / "a.pgm", arr, 65535))
        assert im.dtype == np.uint16
        np.testing.assert_array_equal(im, arr)

    def test_maxval_honoured(self, tmp_path):
        arr = np.array([[0, 511, 1023]] * 3, np.uint16)
        im = read_image(self._write(tmp_path / "a.pgm", arr, 1023))
        assert im.dtype == np.uint16
        assert im[0].tolist() == [0, 32735, 65535]  # 10-bit: 1023 is full white
        arr = np.array([[0, 7, 15]] * 3, np.uint8)
        im = read_image(self._write(tmp_path / "b.pgm", arr, 15, comment=False))
        assert im.dtype == np.uint8 and im[0].tolist() == [0, 119, 255]

    def test_ascii_and_ppm(self, tmp_path):
        (tmp_path / "a.pgm").write_bytes(b"P2\n3 2\n255\n0 1 2\n3 4 255\n")
        assert read_image(tmp_path / "a.pgm").tolist() == [[0, 1, 2], [3, 4, 255]]
        rgb = np.zeros((2, 3, 3), np.uint8)
        rgb[..., 1] = 200
        (tmp_path / "a.ppm").write_bytes(b"P6\n3 2\n255\n" + rgb.tobytes())
        np.testing.assert_array_equal(read_image(tmp_path / "a.ppm", mode="unchanged"), rgb)

    def test_truncated_and_bad(self, tmp_path, gray8):
        path = self._write(tmp_path / "a.pgm", gray8, 255)
        path.write_bytes(path.read_bytes()[:-10])
        with pytest.raises(ImageError, match="truncated"):
            read_image(path)
        (tmp_path / "b.pgm").write_bytes(b"P5\n4 4\n10\n" + bytes([200] * 16))
        with pytest.raises(ImageError, match="maxval"):
            read_image(tmp_path / "b.pgm")

    def test_real_mias(self, mias_root):
        im = read_image(mias_root / "mdb001.pgm")
        assert im.shape == (1024, 1024) and im.dtype == np.uint8 and im.max() > 100


class TestBadFiles:
    def test_missing(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="nope.png"):
            read_image(tmp_path / "nope.png")

    def test_zero_byte(self, tmp_path):
        (tmp_path / "empty.png").write_bytes(b"")
        with pytest.raises(ImageError, match=r"empty.png.*zero-byte"):
            read_image(tmp_path / "empty.png")

    def test_truncated_png(self, tmp_path, gray8):
        path = _save(tmp_path / "t.png", (np.random.RandomState(0).rand(64, 64) * 255).astype(np.uint8))
        path.write_bytes(path.read_bytes()[:200])
        with pytest.raises(ImageError, match=r"t.png.*(truncated|damaged)"):
            read_image(path)

    @pytest.mark.parametrize("name", ["t.jpg", "t.tif"])
    def test_truncated_jpeg_tiff(self, tmp_path, name):
        path = _save(tmp_path / name, (np.random.RandomState(0).rand(64, 64) * 255).astype(np.uint8))
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
        with pytest.raises(ImageError, match=name):
            read_image(path)

    def test_text_named_png(self, tmp_path):
        (tmp_path / "notes.png").write_text("this is not an image\n")
        with pytest.raises(ImageError, match=r"notes.png.*text file"):
            read_image(tmp_path / "notes.png")

    def test_binary_junk_named_png(self, tmp_path):
        (tmp_path / "junk.png").write_bytes(bytes(range(256)) * 2)
        with pytest.raises(ImageError, match=r"junk.png.*not PNG"):
            read_image(tmp_path / "junk.png")

    def test_unsupported(self, tmp_path):
        (tmp_path / "x.bin").write_bytes(b"\x00\x01\x02\xff" * 50)
        with pytest.raises(ImageError, match=r"x.bin.*unsupported"):
            read_image(tmp_path / "x.bin")

    def test_folder_and_bad_args(self, tmp_path):
        with pytest.raises(ImageError, match="folder"):
            read_image(tmp_path)
        with pytest.raises(ValueError, match="mode"):
            read_image(tmp_path / "a.png", mode="rgb")
        with pytest.raises(TypeError):
            read_image(42)


def _write_dicom(path, arr, photometric="MONOCHROME2", slope=None, intercept=None, bits=16, window=None,
                 voi_lut=None):
    pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"  # digital mammography
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if slope is not None:
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
    if window is not None:  # (center, width)
        ds.WindowCenter, ds.WindowWidth = window
    if voi_lut is not None:  # (first input value mapped, table of output values, output bits)
        from pydicom.dataset import Dataset

        first, table, out_bits = voi_lut
        item = Dataset()
        item.LUTDescriptor = [len(table), first, out_bits]
        item.LUTData = np.asarray(table, np.uint16).tobytes()  # OW: 16-bit words
        ds.VOILUTSequence = [item]
    ds.PixelData = arr.tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


class TestDICOM:
    def test_monochrome2_16bit(self, tmp_path):
        arr = (np.arange(16 * 16, dtype=np.uint16) * 256).reshape(16, 16)
        im = read_image(_write_dicom(tmp_path / "a.dcm", arr, bits=16))
        assert im.dtype == np.uint16
        np.testing.assert_array_equal(im, arr)

    def test_bits_stored_below_allocated_is_scaled(self, tmp_path):
        """A 12-bit mammogram in 16-bit words: 4095 is full white (as a PGM's maxval is)."""
        arr = (np.arange(16 * 16, dtype=np.uint16) * 16).reshape(16, 16)
        arr[-1, -1] = 4095
        im = read_image(_write_dicom(tmp_path / "a.dcm", arr, bits=12))
        assert im.dtype == np.uint16
        expected = (arr.astype(np.int64) * 65535 + 2047) // 4095
        np.testing.assert_array_equal(im, expected)
        assert to_float(im)[-1, -1] == 1.0 and to_float(im)[0, 1] == pytest.approx(16 / 4095, abs=1e-6)
        im8 = read_image(_write_dicom(tmp_path / "b.dcm", np.full((16, 16), 127, np.uint8), bits=7))
        assert im8.dtype == np.uint8 and im8[0, 0] == 255  # 7 bits stored in 8

    def test_monochrome1_inverted(self, tmp_path):
        arr = np.zeros((16, 16), np.uint16)
        arr[:8] = 4095
        im = read_image(_write_dicom(tmp_path / "a.dcm", arr, "MONOCHROME1", bits=12))
        assert im.dtype == np.uint16
        assert im[0, 0] == 0 and im[-1, -1] == 65535  # 12-bit range inverted, then scaled

    def test_window_applied_as_viewers_do(self, tmp_path):
        """A 12-bit mammogram with Window Center/Width: read as shown, or raw with dicom_window=False."""
        from featbus import io

        arr = np.linspace(0, 4095, 16 * 16).astype(np.uint16).reshape(16, 16)
        path = _write_dicom(tmp_path / "w.dcm", arr, bits=12, window=(2048, 1024))
        im = read_image(path)
        # LINEAR window (DICOM PS3.3 C.11.2.1.2): below c - 0.5 - (w-1)/2 black, above c - 0.5 + (w-1)/2 white
        lo, hi = 2048 - 0.5 - 1023 / 2, 2048 - 0.5 + 1023 / 2
        expected = np.clip((arr.astype(float) - lo) / (hi - lo), 0, 1) * 65535
        assert im.dtype == np.uint16
        np.testing.assert_allclose(im.astype(float), expected, atol=70)  # 65535 / 1023: one output step
        assert im.min() == 0 and im.max() == 65535 and (im == 0).sum() > 50
        raw = read_image(path, dicom_window=False)
        np.testing.assert_array_equal(raw, (arr.astype(np.int64) * 65535 + 2047) // 4095)
        io.DICOM_WINDOW = False
        try:
            np.testing.assert_array_equal(read_image(path), raw)
        finally:
            io.DICOM_WINDOW = True
        inverted = read_image(_write_dicom(tmp_path / "w1.dcm", arr, "MONOCHROME1", bits=12, window=(2048, 1024)))
        np.testing.assert_allclose(inverted.astype(float), 65535 - im.astype(float), atol=1)

    def test_voi_lut_sequence_applied(self, tmp_path):
        arr = (np.arange(16 * 16) % 8).astype(np.uint16).reshape(16, 16)
        table = [0, 10, 20, 40, 80, 160, 200, 255]  # 8-bit output
        im = read_image(_write_dicom(tmp_path / "l.dcm", arr, bits=12, voi_lut=(0, table, 8)))
        expected = np.rint(np.asarray(table)[arr] / 255 * 65535)
        np.testing.assert_array_equal(im, expected.astype(np.uint16))

    def test_multiframe_refused(self, tmp_path):
        path = _write_dicom(tmp_path / "m.dcm", np.zeros((16, 16), np.uint16))
        import pydicom

        ds = pydicom.dcmread(path)
        ds.NumberOfFrames = 2
        ds.PixelData = np.zeros((2, 16, 16), np.uint16).tobytes()
        ds.save_as(str(path))
        with pytest.raises(ImageError, match=r"m.dcm.*multi-frame DICOM \(2 frames\)"):
            read_image(path)

    def test_rescale(self, tmp_path):
        arr = np.full((16, 16), 100, np.uint16)
        im = read_image(_write_dicom(tmp_path / "noext", arr, slope=2, intercept=10))
        assert im.dtype == np.uint16 and im[0, 0] == 210
        im = read_image(_write_dicom(tmp_path / "b.dcm", arr, slope=1, intercept=-1024))
        assert im.dtype == np.float32 and im[0, 0] == -924  # negative values are not wrapped

    def test_8bit(self, tmp_path):
        arr = np.full((16, 16), 7, np.uint8)
        im = read_image(_write_dicom(tmp_path / "a.dcm", arr, bits=8))
        assert im.dtype == np.uint8 and im[0, 0] == 7

    @pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom complains about the junk
    def test_broken_dicom(self, tmp_path):
        pytest.importorskip("pydicom")
        (tmp_path / "x.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00" * 20)
        with pytest.raises(ImageError, match="x.dcm"):
            read_image(tmp_path / "x.dcm")

    def test_missing_pydicom(self, tmp_path, monkeypatch):
        import sys

        (tmp_path / "x.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 20)
        monkeypatch.setitem(sys.modules, "pydicom", None)
        with pytest.raises(ImportError, match=r"featbus\[dicom\]"):
            read_image(tmp_path / "x.dcm")


class TestHostileFiles:
    def test_decompression_bomb_is_named_and_skippable(self, tmp_path, gray8):
        bomb = _png_claiming(tmp_path / "bomb.png", 60000, 60000)
        with pytest.raises(ImageError, match=r"bomb.png.*60000 x 60000.*max_pixels=268,435,456"):
            read_image(bomb)
        good = _save(tmp_path / "good.png", gray8)
        with pytest.warns(UserWarning, match=r"skipped 1 .*bomb.png"):
            ims, skipped = read_images([good, bomb], on_error="skip", return_skipped=True)
        assert len(ims) == 1 and skipped[0][0] == 1 and "max_pixels" in skipped[0][2]

    def test_pixel_limit_is_settable(self, tmp_path, gray8, monkeypatch):
        path = _save(tmp_path / "a.png", gray8)  # 24 x 32 = 768 pixels
        with pytest.raises(ImageError, match=r"a.png.*32 x 24 = 768 pixels.*max_pixels=767"):
            read_image(path, max_pixels=767)
        assert read_image(path, max_pixels=768).shape == (24, 32)
        monkeypatch.setattr(featbus.io, "MAX_PIXELS", 100)
        with pytest.raises(ImageError, match="max_pixels=100"):
            read_image(path)
        with pytest.raises(ImageError, match="max_pixels=100"):
            read_images([path])
        assert read_image(path, max_pixels=None).shape == (24, 32)
        pgm = tmp_path / "a.pgm"
        pgm.write_bytes(b"P5 32 24 255\n" + gray8.tobytes())
        with pytest.raises(ImageError, match="a.pgm.*max_pixels=100"):
            read_image(pgm)
        with pytest.raises(ValueError, match="max_pixels"):
            read_image(path, max_pixels=0)

    def test_damaged_png_header_crc(self, tmp_path, gray8):
        raw = bytearray(_save(tmp_path / "ok.png", gray8).read_bytes())
        raw[29] ^= 0xFF  # first byte of the IHDR CRC
        (tmp_path / "crc.png").write_bytes(bytes(raw))
        with pytest.raises(ImageError, match=r"crc.png.*damaged PNG.*checksum") as err:
            read_image(tmp_path / "crc.png")
        assert "unsupported" not in str(err.value)

    def test_multipage_tiff_refused_like_multiframe_dicom(self, tmp_path, gray8):
        pages = [Image.fromarray(gray8 + i) for i in range(3)]
        pages[0].save(tmp_path / "stack.tif", save_all=True, append_images=pages[1:])
        with pytest.raises(ImageError, match=r"stack.tif.*multi-frame TIFF.*3 pages"):
            read_image(tmp_path / "stack.tif")
        pages[0].save(tmp_path / "one.tif")
        np.testing.assert_array_equal(read_image(tmp_path / "one.tif"), gray8)


class TestWideIntegers:
    @pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32, np.uint64])
    def test_wider_than_16_bits_asks_for_a_cast(self, gray8, dtype):
        expected = rf"image 3.*{np.dtype(dtype).name} \(values in \[0, 250\]\).*astype\(np.uint8\)"
        with pytest.raises(ImageError, match=expected):
            to_float(gray8.astype(dtype), index=3)

    def test_16_bits_and_below_are_scaled_by_the_dtype(self, gray8):
        np.testing.assert_allclose(to_float(gray8), gray8 / 255.0, atol=1e-7)
        np.testing.assert_allclose(to_float(gray8.astype(np.uint16)), gray8 / 65535.0, atol=1e-7)
        np.testing.assert_allclose(to_float(gray8.astype(np.int16)), gray8 / 32767.0, atol=1e-7)

    def test_extractor_names_the_item(self, gray8):
        from featbus import IntensityStats

        with pytest.raises(ImageError, match=r"image 1.*int64.*cast"):
            IntensityStats().fit_transform([gray8, gray8.astype(np.int64)])


class TestReadMask:
    def test_union_and_shape(self, tmp_path):
        a = np.zeros((10, 12), np.uint8)
        a[:3] = 255
        b = np.zeros((10, 12), np.uint8)
        b[-2:] = 255
        pa, pb = _save(tmp_path / "m.png", a), _save(tmp_path / "m_1.png", b)
        m = read_mask([pa, pb], shape=(10, 12))
        assert m.dtype == bool and m.sum() == 5 * 12
        assert read_mask(pa).sum() == 36
        rgb = _save(tmp_path / "rgb.png", np.dstack([a] * 3))
        assert read_mask(rgb).sum() == 36

    def test_wrong_shape(self, tmp_path):
        pa = _save(tmp_path / "small.png", np.zeros((5, 5), np.uint8))
        with pytest.raises(ImageError, match=r"small.png.*\(5, 5\).*\(10, 12\)"):
            read_mask(pa, shape=(10, 12))
        pb = _save(tmp_path / "big.png", np.zeros((6, 5), np.uint8))
        with pytest.raises(ImageError, match="big.png"):
            read_mask([pa, pb])
        with pytest.raises(ValueError):
            read_mask([])


class TestReadImages:
    def _files(self, tmp_path, gray8):
        good = _save(tmp_path / "good (1).png", gray8)
        (tmp_path / "empty.png").write_bytes(b"")
        return [good, tmp_path / "empty.png", tmp_path / "missing.png", good]

    def test_raise_names_index(self, tmp_path, gray8):
        paths = self._files(tmp_path, gray8)
        with pytest.raises(ImageError, match=r"image 1 .*empty.png"):
            read_images(paths)
        with pytest.raises(FileNotFoundError, match=r"image 2.*missing.png"):
            read_images([paths[0], paths[0], paths[2]])

    def test_skip_reports(self, tmp_path, gray8):
        paths = self._files(tmp_path, gray8)
        with pytest.warns(UserWarning, match=r"skipped 2 .*empty.png.*missing.png"):
            ims, skipped = read_images(paths, on_error="skip", return_skipped=True)
        assert len(ims) == 2 and [s[0] for s in skipped] == [1, 2]
        assert "zero-byte" in skipped[0][2]
        with pytest.warns(UserWarning):
            assert len(read_images(paths, on_error="skip")) == 2

    def test_parallel_same(self, tmp_path, gray8):
        paths = [_save(tmp_path / f"{i}.png", gray8 + i) for i in range(5)]
        a = read_images(paths)
        b = read_images(paths, n_jobs=2)
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert len(read_images(paths, on_error="skip")) == 5

    def test_bad_args(self, tmp_path):
        with pytest.raises(ValueError, match="on_error"):
            read_images([], on_error="ignore")
        with pytest.raises(ValueError, match="single path"):
            read_images(str(tmp_path / "a.png"))


class TestBrokenSegmenterFile:
    """UNetSegmenter.load / ROICropper(segmenter=path) on a file that is not a .keras archive."""

    @pytest.mark.parametrize("content", [b"not a zip at all", b"PK\x03\x04" + b"\0" * 40])
    def test_load_names_the_file(self, tmp_path, content):
        from featbus import UNetSegmenter

        path = tmp_path / "seg.keras"
        path.write_bytes(content)
        with pytest.raises(ValueError, match=r"seg.keras.*not a segmenter file.*damaged"):
            UNetSegmenter.load(path)

    def test_roi_cropper_names_the_file(self, tmp_path, gray8):
        from featbus import ROICropper

        path = tmp_path / "broken.keras"
        path.write_bytes(b"PK\x03\x04" + b"\0" * 40)
        with pytest.raises(ValueError, match=r"broken.keras.*not a segmenter file"):
            ROICropper(segmenter=str(path)).fit([gray8])

    def test_truncated_archive_names_the_file(self, tmp_path):
        import zipfile

        pytest.importorskip("keras")  # reading a .keras file needs featbus[deep]
        from featbus import UNetSegmenter

        path = tmp_path / "cut.keras"
        with zipfile.ZipFile(path, "w") as zf:  # a valid zip, but not a Keras model
            zf.writestr("featbus_unet.json", '{"params": {"input_size": 32}, "fitted": {}}')
            zf.writestr("model.weights.h5", b"junk")
        with pytest.raises(ValueError, match=r"cut.keras.*cannot load the segmenter's Keras model"):
            UNetSegmenter.load(path)
