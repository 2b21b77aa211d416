"""Bounded by construction (issue 90 item 2): each bomb is refused or left out by name, in a child process
limited to 1 GiB of address space and 60 s of CPU (:mod:`_untrusted`), with no "internal error"; each
limit a documented constant of :data:`featbus.io.RELEASE_LIMITS`, named in its refusal. A sentinel folder beside
each release is watched: nothing in it is opened."""

from __future__ import annotations

import ast
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _untrusted import Watched, outside_files, run_featbus
from PIL import Image

import featbus.io as limits


def _release(top: Path) -> Path:
    outside_files(top / "outside")
    rel = top / "rel"
    for c in ("benign", "malignant"):
        (rel / c).mkdir(parents=True)
        for k in range(3):
            Image.fromarray((np.arange(48 * 48).reshape(48, 48) * (k + 1) + (c == "benign") * 50).astype(np.uint8)
                            ).save(rel / c / f"{c}_{k}.png")
    return rel


def _run(top: Path, args) -> str:
    with Watched(top / "outside") as watched:
        outcome = run_featbus(args, cwd=top)
        assert watched.touched() == [], "a file outside the release was opened"
    assert not outcome.timed_out, "hung"
    assert "internal error" not in outcome.text and "Traceback" not in outcome.text, outcome.text[-2000:]
    return outcome


def test_every_limit_is_a_documented_constant_in_one_module():
    """Each limit is defined once, in featbus.io, with a ``#:`` comment; the data-set readers import them
    from there and define none of their own."""
    source = Path(limits.__file__).read_text()
    lines = source.splitlines()
    names = [n.targets[0].id for n in ast.parse(source).body if isinstance(n, ast.Assign)
             and n.targets[0].id in limits.RELEASE_LIMITS]
    assert sorted(names) == sorted(limits.RELEASE_LIMITS)
    for name in names:
        k = next(i for i, line in enumerate(lines) if line.startswith(f"{name} ="))
        assert lines[k - 1].startswith("#:"), f"{name} is not documented"
    for reader in Path(limits.__file__).parent.joinpath("datasets").glob("*.py"):
        defined = [n.targets[0].id for n in ast.parse(reader.read_text()).body if isinstance(n, ast.Assign)
                   and isinstance(n.targets[0], ast.Name)]
        assert not set(defined) & set(limits.RELEASE_LIMITS), reader


#: A cell in the last row and column Excel has: with the declared range, a million rows of 16,384 cells.
CORNER = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'


def _xlsx(top: Path, path: Path, corner: bool) -> None:
    """A table of the release's six images whose sheet declares ``A1:XFD1048576`` (and holds the corner cell)."""
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["image", "label"])
    for c in ("benign", "malignant"):
        for k in range(3):
            book.active.append([f"{c}_{k}.png", c])
    plain = top / "plain.xlsx"
    book.save(plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, n = re.subn(rb'<dimension ref="[^"]*" ?/>', b'<dimension ref="A1:XFD1048576"/>', data)
                data = data.replace(b"</sheetData>", (CORNER if corner else b"") + b"</sheetData>")
                assert n == 1
            dst.writestr(item, data)


def test_xlsx_declaring_A1_XFD1048576_is_refused_by_its_rows_not_padded(tmp_path):
    """A few-KB ``.xlsx`` whose sheet declares ``A1:XFD1048576`` and holds a cell in that corner: the
    reader padded a million rows of 16,384 columns and ran until killed; read by the cells present,
    it meets :data:`~featbus.io.MAX_ROWS` (rows counted, empty ones too) and is refused by name."""
    rel = _release(tmp_path)
    _xlsx(tmp_path, rel / "t.xlsx", corner=True)
    assert (rel / "t.xlsx").stat().st_size < 8000
    outcome = _run(tmp_path, ["read", rel])
    assert outcome.returncode != 0 and "t.xlsx" in outcome.text and "MAX_ROWS" in outcome.text


def test_xlsx_declaring_a_range_it_does_not_fill_is_read_by_its_cells(tmp_path):
    """The same declared range without the corner cell: the table is read, by the cells it holds."""
    rel = _release(tmp_path)
    _xlsx(tmp_path, rel / "t.xlsx", corner=False)
    outcome = _run(tmp_path, ["read", rel])
    assert outcome.returncode == 0 and "table t.xlsx" in outcome.stdout and "6 images" in outcome.stdout


@pytest.mark.parametrize("line", [None, 1000], ids=["one line", "quoted line breaks"])
def test_csv_with_a_200_MB_cell_is_refused_by_name(tmp_path, line):
    """One 200 MB cell: refused at the line limit, or (a quoted cell of many short lines) at the cell
    limit, one line naming the table and the limit."""
    rel = _release(tmp_path)
    block = "x" * (1 << 20) if line is None else ("x" * (line - 1) + "\n") * ((1 << 20) // line)
    with open(rel / "t.csv", "w") as f:
        f.write('image,label\nbenign_0.png,"')
        for _ in range(200):
            f.write(block)
        f.write('"\n')
    outcome = _run(tmp_path, ["read", rel])
    assert outcome.returncode != 0 and "t.csv" in outcome.text
    assert ("MAX_LINE_CHARS" if line is None else "MAX_FIELD_CHARS") in outcome.text
    assert len(outcome.stderr.strip().splitlines()) == 1


def test_csv_with_a_header_of_100_M_columns_is_refused_by_name(tmp_path):
    rel = _release(tmp_path)
    with open(rel / "t.csv", "w") as f:
        chunk = "a," * (1 << 20)
        for _ in range(100):
            f.write(chunk)
        f.write("a\nbenign_0.png\n")
    outcome = _run(tmp_path, ["read", rel])
    assert outcome.returncode != 0 and "t.csv" in outcome.text and "MAX_LINE_CHARS" in outcome.text


def test_csv_of_too_many_columns_is_refused_by_name(tmp_path):
    rel = _release(tmp_path)
    (rel / "t.csv").write_text(",".join(f"c{k}" for k in range(limits.MAX_COLUMNS + 1)) + "\nbenign_0.png\n")
    outcome = _run(tmp_path, ["read", rel])
    assert outcome.returncode != 0 and "t.csv" in outcome.text and "MAX_COLUMNS" in outcome.text


def test_a_12000_x_12000_png_under_extract_lbp_is_left_out_by_name(tmp_path):
    """A valid 12000 x 12000 PNG (136 KB, under the decoder's own bomb limit) drove ``extract -f lbp`` past
    3.5 GB: its header is checked against :data:`featbus.io.MAX_IMAGE_PIXELS`, it is left out
    named, and the others are extracted within 1 GiB."""
    rel = _release(tmp_path)
    Image.fromarray(np.zeros((12000, 12000), np.uint8)).save(rel / "benign" / "huge.png")
    assert 12000 * 12000 > limits.MAX_IMAGE_PIXELS
    outcome = _run(tmp_path, ["extract", rel, "-f", "lbp", "-o", tmp_path / "f.csv"])
    assert outcome.returncode == 0, outcome.text[-2000:]
    assert "huge.png" in outcome.text and "too large" in outcome.text
    from featbus.datasets import read_release

    (item, reason, detail), = read_release(rel).summary.left_out  # as featbus read lists it
    assert item == "benign/huge.png" and reason == "too large"
    assert "12000 x 12000" in detail and "MAX_IMAGE_PIXELS" in detail
    import pandas as pd

    table = pd.read_csv(tmp_path / "f.csv")
    assert len(table) == 6 and not table.iloc[:, 0].astype(str).str.contains("huge").any()


def test_a_deflated_dicom_inflating_to_257_MB_is_left_out_by_name(tmp_path):
    """A 260 KB DICOM in the deflated transfer syntax whose dataset inflates to 257 MB (a pad of zeros): pydicom
    would inflate it whole before any header value is read; featbus counts it inflating and leaves it out at
    :data:`featbus.io.MAX_DICOM_INFLATED_BYTES`, named, the release's other images read."""
    pytest.importorskip("pydicom")
    from _release_builders import dicom_dataset, write_deflated_dicom

    rel = _release(tmp_path)
    pad = limits.MAX_DICOM_INFLATED_BYTES + (1 << 20)
    write_deflated_dicom(rel / "benign" / "deflated.dcm", dicom_dataset(1, patient="P1", study="1.2.3.1",
                                                                       series="1.2.3.2", sop="1.2.3.3"), pad=pad)
    assert (rel / "benign" / "deflated.dcm").stat().st_size < 1 << 20
    outcome = _run(tmp_path, ["read", rel])
    assert outcome.returncode == 0, outcome.text[-2000:]
    assert "6 images" in outcome.stdout, outcome.text[-2000:]
    assert ("deflated.dcm: too large: its deflated dataset inflates beyond featbus.io.MAX_DICOM_INFLATED_BYTES"
            in outcome.stderr), outcome.text[-2000:]


@pytest.mark.parametrize("limit,table", [("MAX_ROWS", "image,label\n" + "x.png,benign\n" * 30)])
def test_a_limit_met_names_the_file_and_the_limit(tmp_path, monkeypatch, limit, table):
    import featbus.datasets._release_tables as tables
    from featbus.datasets import ReleaseError, read_release

    rel = _release(tmp_path)
    (rel / "big.csv").write_text(table)
    monkeypatch.setattr(tables, limit, 20)
    with pytest.raises(ReleaseError, match=rf"big\.csv' has more than 20 rows: .*{limit}"):
        read_release(rel)


def test_predict_leaves_out_an_image_above_the_pixel_budget_by_name(tmp_path):
    from featbus.datasets import make_phantoms
    from featbus.workflows.training import train_model

    rel = _release(tmp_path)
    Image.fromarray(np.zeros((12000, 12000), np.uint8)).save(rel / "benign" / "huge.png")
    model = tmp_path / "m.featbus"
    train_model(make_phantoms(24, image_size=40, random_state=0), "lbp", classifier="logreg", cross_validate=False,
                progress=False).save(model)
    outcome = _run(tmp_path, ["predict", model, rel, "-o", tmp_path / "p.csv"])
    assert outcome.returncode == 0, outcome.text[-2000:]
    assert "huge.png: too large: 12000 x 12000 = 144,000,000 pixels" in outcome.stderr
    assert "MAX_IMAGE_PIXELS" in outcome.stderr
    assert "huge" not in (tmp_path / "p.csv").read_text()


def test_a_thread_keeps_a_bounded_number_of_zips_open(tmp_path):
    """Each member read opens its zip once per thread and keeps it for the next read; a session reading zip after
    zip closes the one opened longest ago, so no more than MAX_OPEN_ZIPS stay open, and every member still reads."""
    from featbus.datasets.sources import _refs

    paths = []
    for k in range(_refs.MAX_OPEN_ZIPS + 3):
        paths.append(tmp_path / f"part{k}.zip")
        with zipfile.ZipFile(paths[-1], "w") as zf:
            zf.writestr("scan.txt", f"member {k}")
    for _ in range(2):
        for k, path in enumerate(paths):
            assert _refs._read_member(path, "scan.txt") == f"member {k}".encode()
    kept = _refs._OPEN.handles
    assert [Path(key[0]).name for key in kept] == [p.name for p in paths[-_refs.MAX_OPEN_ZIPS:]]
    assert all(zf.fp is not None for zf in kept.values())
