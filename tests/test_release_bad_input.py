"""Bad input inside a release (issue 81 item 6): a refusal or a named skip, and nothing outside read or written.

Each test builds a small valid release (a flat folder of images, a table naming them, masks beside)
and spoils one thing. A refusal is a :class:`featbus.datasets.ReleaseError` (a ``ValueError``)
whose message names the file or row; a named skip is an entry of ``summary.left_out`` with the
file's name and the reason. Where the issue allows either, the tests accept either, and check the
spoilt item is never a sample. Paths outside the release are watched: a sentinel file beside the
release keeps its contents and its access time (set older than its modification time, so that
with ``relatime`` any read would move it), and no new file appears beside the release nor in the
working folder the read runs in.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _release_builders import lesion_mask, save, scan

from featbus.datasets import ReleaseError, read_release

SENTINEL_BYTES = b"\x89PNG sentinel, never to be read"


def _release(root: Path, n: int = 6, *, table: str = "labels.csv", rows: list[str] | None = None) -> Path:
    """``n`` images ``img_01.png`` ... with ``img_01_mask.png`` beside, and a CSV ``file,diagnosis,patient``."""
    root.mkdir(parents=True, exist_ok=True)
    lines = ["file,diagnosis,patient"]
    for k in range(1, n + 1):
        save(root / f"img_{k:02d}.png", scan(k))
        save(root / f"img_{k:02d}_mask.png", lesion_mask(k))
        lines.append(f"img_{k:02d}.png,{'benign' if k % 2 else 'malignant'},P{(k + 1) // 2}")
    lines += rows or []
    (root / table).write_text("\n".join(lines) + "\n")
    return root


def _tree(top: Path, skip: Path) -> dict[str, bytes]:
    """Every file under ``top`` outside ``skip``, with its contents."""
    return {p.relative_to(top).as_posix(): p.read_bytes() for p in top.rglob("*")
            if p.is_file() and skip not in p.parents}


class Outside:
    """A sentinel file and a snapshot of everything beside the release, checked after a read."""

    def __init__(self, tmp_path: Path, release: Path, monkeypatch):
        self.top, self.release = tmp_path, release
        self.cwd = tmp_path / "cwd"  # the read runs here: a file written "nowhere in particular" lands in it
        self.cwd.mkdir()
        monkeypatch.chdir(self.cwd)
        self.sentinel = tmp_path / "x.png"
        self.sentinel.write_bytes(SENTINEL_BYTES)
        self.before = _tree(tmp_path, release)
        os.utime(self.sentinel, (1_000_000_000, 1_700_000_000))  # atime < mtime: relatime would move it

    def untouched(self) -> None:
        stat = self.sentinel.stat()  # before this check reads it
        assert stat.st_atime == 1_000_000_000, "the sentinel outside the release was read"
        assert self.sentinel.read_bytes() == SENTINEL_BYTES
        after = _tree(self.top, self.release)
        after.pop(self.sentinel.name)
        before = dict(self.before)
        before.pop(self.sentinel.name)
        assert after == before, "a file outside the release was written"


def _symlink_or_skip(link: Path, target: Path, *, folder: bool = False) -> None:
    try:
        link.symlink_to(target, target_is_directory=folder)
    except OSError as error:  # Windows without the privilege
        pytest.skip(f"no symbolic links here: {error}")


def _refused_or_skipped(root: Path, name: str, reason: str):
    """Read ``root``: either a refusal naming ``name``, or ``name`` left out for ``reason`` and
    never a sample. Returns the read release (None after a refusal)."""
    try:
        rel = read_release(root)
    except ReleaseError as error:
        assert name in str(error), str(error)
        return None
    s = rel.summary
    skipped = [r for r in s.left_out if name in r.item]
    assert skipped, f"{name} neither refused nor left out: {s.left_out}"
    assert all(r.reason == reason for r in skipped), skipped
    assert s.left_out_counts().get(reason, 0) >= len(skipped)
    assert not any(name in str(p) for p in rel.images)
    return rel


@pytest.mark.parametrize("row", ["../x.png", "ABSOLUTE"])
def test_row_naming_a_path_outside_is_refused(tmp_path, monkeypatch, row):
    """A row naming ``../x.png`` or an absolute path: refused by name; the file there is never read."""
    release = tmp_path / "release"
    outside = Outside(tmp_path, release, monkeypatch)
    row = str(outside.sentinel) if row == "ABSOLUTE" else row
    _release(release, rows=[f"{row},malignant,P9"])
    with pytest.raises(ReleaseError) as error:
        read_release(release)
    assert row in str(error.value)
    outside.untouched()


def test_symlink_leading_out_is_refused(tmp_path, monkeypatch):
    """An image file that is a link to a file outside the release: refused or left out, by name."""
    release = _release(tmp_path / "release")
    outside = Outside(tmp_path, release, monkeypatch)
    _symlink_or_skip(release / "img_07.png", outside.sentinel)
    (release / "labels.csv").write_text((release / "labels.csv").read_text() + "img_07.png,benign,P4\n")
    _refused_or_skipped(release, "img_07.png", "outside the release")
    outside.untouched()


def test_symlinked_folder_leading_out_is_refused(tmp_path, monkeypatch):
    """A folder link leading out (``more -> ../elsewhere``): nothing under it is read."""
    release = _release(tmp_path / "release")
    elsewhere = tmp_path / "elsewhere"
    save(elsewhere / "img_20.png", scan(20))
    outside = Outside(tmp_path, release, monkeypatch)
    os.utime(elsewhere / "img_20.png", (1_000_000_000, 1_700_000_000))  # after the snapshot read it
    _symlink_or_skip(release / "more", elsewhere, folder=True)
    try:
        rel = read_release(release)
    except ReleaseError as error:
        assert "more" in str(error)
    else:
        assert not any("img_20" in str(p) for p in rel.images)
        assert any("more" in r.item and r.reason == "outside the release" for r in rel.summary.left_out)
    assert (elsewhere / "img_20.png").stat().st_atime == 1_000_000_000, "a file behind the link was read"
    outside.untouched()


FORMULA = '=HYPERLINK("http://example.invalid/x","P1")'


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_formula_cell_is_text_and_escaped_in_the_index(tmp_path, kind):
    """A ``=HYPERLINK(...)`` patient cell: kept as text, never evaluated; the index escapes it with
    a leading apostrophe and reads back to the same text."""
    import pandas as pd

    release = tmp_path / "release"
    _release(release)
    table = pd.read_csv(release / "labels.csv")
    table["patient"] = table["patient"].astype(object)
    table.loc[0, "patient"] = FORMULA
    (release / "labels.csv").unlink()
    if kind == "csv":
        table.to_csv(release / "labels.csv", index=False)
    else:
        table.to_excel(release / "labels.xlsx", index=False)  # openpyxl stores a leading '=' as a formula
    rel = read_release(release)
    first = [Path(p).name for p in rel.images].index("img_01.png")
    assert rel.groups[first] == FORMULA
    index = tmp_path / "index.csv"
    rel.write_index(index)
    text = index.read_text()
    assert "'" + FORMULA.replace('"', '""') in text or "'" + FORMULA in text
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            assert not cell.startswith(("=", "+", "@")), row
    again = read_release(index)
    assert list(again.groups) == list(rel.groups)


def test_one_image_under_two_labels_is_named(tmp_path):
    """Two rows give ``img_03.png`` two labels: refused or left out ("two labels"), by name."""
    release = _release(tmp_path / "release", rows=["img_03.png,malignant,P2"])
    rel = _refused_or_skipped(release, "img_03.png", "two labels")
    if rel is not None:
        assert rel.summary.n_images == 5


def test_image_named_by_two_tables_is_named(tmp_path):
    """A second table naming images of the first: said by name, never read twice."""
    release = _release(tmp_path / "release")
    (release / "second_table.csv").write_text("file,diagnosis\nimg_01.png,benign\nimg_03.png,benign\n")
    try:
        rel = read_release(release)
    except ReleaseError as error:
        assert "second_table.csv" in str(error) or "img_01.png" in str(error)
        return
    names = [Path(p).name for p in rel.images]
    assert len(names) == len(set(names)) == 6
    text = rel.summary.text()
    assert "second_table.csv" in text
    assert "img_01.png" in text or "img_03.png" in text or "2 images" in text, text


def test_mask_of_another_size_is_named_and_left_out(tmp_path):
    """``img_02_mask.png`` half the size of its image: left out ("mask size differs"), the image kept
    without it."""
    release = _release(tmp_path / "release")
    save(release / "img_02_mask.png", np.full((15, 20), 255, np.uint8))
    rel = read_release(release)
    s = rel.summary
    assert ("mask size differs" in dict(s.left_out_counts()))
    assert any("img_02_mask.png" in r.item and r.reason == "mask size differs" for r in s.left_out)
    names = [Path(p).name for p in rel.images]
    assert "img_02.png" in names and "img_02_mask.png" not in names
    assert rel.masks[names.index("img_02.png")] == ()
    assert s.n_images == 6 and s.n_masks_paired == 5


def _xlsx_with_sheet(path: Path, sheet_xml_chunks, *, declared_size: int | None = None) -> None:
    """A valid small ``.xlsx`` (pandas / openpyxl) whose sheet XML is replaced by ``sheet_xml_chunks``
    (written streaming); ``declared_size`` forges the sheet's uncompressed size in both headers."""
    import pandas as pd

    plain = path.with_suffix(".plain.xlsx")
    pd.DataFrame({"file": ["img_01.png"], "diagnosis": ["benign"]}).to_excel(plain, index=False)
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if item.filename == "xl/worksheets/sheet1.xml":
                sheet = zipfile.ZipInfo(item.filename)
                sheet.compress_type = zipfile.ZIP_DEFLATED
                with target.open(sheet, "w", force_zip64=declared_size is None) as out:
                    for chunk in sheet_xml_chunks:
                        out.write(chunk)
            else:
                target.writestr(item, source.read(item.filename))
    plain.unlink()
    if declared_size is not None:
        _declare_size(path, "xl/worksheets/sheet1.xml", declared_size)


def _declare_size(path: Path, member: str, size: int) -> None:
    """Forge ``member``'s uncompressed size in its local header (offset 22) and its central
    directory entry (offset 24); the data stay as they are."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        local = z.getinfo(member).header_offset
    forged = min(size, 0xFFFFFFFE).to_bytes(4, "little")
    data[local + 22:local + 26] = forged
    name = member.encode()
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        if data[pos + 46:pos + 46 + len(name)] == name:
            data[pos + 24:pos + 28] = forged
        pos = data.find(b"PK\x01\x02", pos + 4)
    path.write_bytes(bytes(data))


def _sheet_bomb(n_bytes: int):
    head = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
    yield head
    row = b'<row><c t="inlineStr"><is><t>img_01.png</t></is></c></row>'
    block = row * ((1 << 20) // len(row))
    written = 0
    while written < n_bytes:
        yield block
        written += len(block)
    yield b"</sheetData></worksheet>"


BOUNDED_CHILD = """
import resource, sys
from featbus.datasets import ReleaseError, read_release
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    rel = read_release(sys.argv[1])
except ReleaseError as error:
    outcome = "refused: " + str(error)
else:
    outcome = "read: table=" + str(rel.summary.table) + " text=" + rel.summary.text()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("GROWTH_KB", (after - before) // (1024 if sys.platform == "darwin" else 1))  # macOS counts bytes
print(outcome)
"""


@pytest.mark.parametrize("kind", ["declared", "real"])
def test_xlsx_zip_bomb_is_refused_within_bounds(tmp_path, kind):
    """An ``.xlsx`` whose sheet unpacks to gigabytes (declared in its headers), or really unpacks to
    400 MB from about 1 MB: refused by name (or left unused and said), in a child process whose
    memory grows by less than 200 MB. The child's own limit is a guard against a hang, not a
    timing the test asserts."""
    release = _release(tmp_path / "release", n=2)
    (release / "labels.csv").unlink()
    bomb = release / "clinical.xlsx"
    if kind == "declared":
        _xlsx_with_sheet(bomb, _sheet_bomb(1 << 20), declared_size=4_000_000_000)
    else:
        _xlsx_with_sheet(bomb, _sheet_bomb(400 << 20))
        assert bomb.stat().st_size < 2 << 20
    outcome = _read_in_a_bounded_child(release)
    assert "clinical.xlsx" in outcome, outcome
    if outcome.startswith("read:"):
        assert "table=None" in outcome, outcome


def _read_in_a_bounded_child(release: Path) -> str:
    """``read_release(release)`` in a child process: its outcome line ("refused: ..." or "read: ..."),
    after checking its memory grew by less than 200 MB (the child's time limit guards a hang)."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    child = subprocess.run([sys.executable, "-c", BOUNDED_CHILD, str(release)], capture_output=True, text=True,
                           timeout=300, env=env)
    assert child.returncode == 0, child.stderr[-2000:]
    growth = int(child.stdout.split("GROWTH_KB", 1)[1].split()[0])
    assert growth < 200 * 1024, f"memory grew by {growth / 1024:.0f} MB"
    return child.stdout.split("\n", 1)[1]


def test_table_of_millions_of_rows_is_refused(tmp_path):
    """A CSV of 1.2 million short rows (25 MB): refused naming the table, or left unused and said,
    in a child process whose memory grows by less than 200 MB."""
    release = _release(tmp_path / "release", n=2)
    rows = "".join(f"img_{k:07d}.png,benign\n" for k in range(1_200_000))
    (release / "huge.csv").write_text("file,diagnosis\n" + rows)
    outcome = _read_in_a_bounded_child(release)
    assert "huge.csv" in outcome, outcome
    if outcome.startswith("read:"):
        assert not outcome.split(" text=")[0].endswith("huge.csv"), outcome


def test_png_that_is_not_an_image_is_named(tmp_path):
    """``img_04.png`` holding text: left out as "not an image", by name; the rest read."""
    release = _release(tmp_path / "release")
    (release / "img_04.png").write_text("this is not a PNG\n")
    rel = _refused_or_skipped(release, "img_04.png", "not an image")
    assert rel is not None, "one bad file refused the whole release"
    assert rel.summary.n_images == 5
