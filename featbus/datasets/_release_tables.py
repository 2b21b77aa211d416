"""Reading a release's tables within bounds: CSV / TSV / TXT with a sniffed delimiter, Excel's
``.xlsx`` (its zip's unpacked size checked before it is opened) and ``.xls`` when xlrd is installed,
JSON Lines and Parquet (Hugging Face's ``metadata.jsonl`` / ``metadata.parquet``).

Every cell is text as written: a formula (``=HYPERLINK(...)``) is its own text, never evaluated
(openpyxl opened without ``data_only``); a number Excel stored as ``12.0`` reads ``12``.
"""

from __future__ import annotations

import csv
import importlib.util
import zipfile
from pathlib import Path

__all__ = ["MAX_ROWS", "MAX_XLSX_BYTES", "read_table", "TableError"]

#: The most rows a release's table may have (a table of millions of rows is refused, not read).
MAX_ROWS = 1_000_000
#: The most bytes an ``.xlsx`` may unpack to (its zip's entries summed before openpyxl opens it).
MAX_XLSX_BYTES = 200 * 1024 * 1024
#: The most bytes of a text table read at all.
MAX_TEXT_BYTES = 512 * 1024 * 1024


class TableError(ValueError):
    """A table featbus refuses to read (too large, a zip bomb, a reader not installed)."""


def _text(value) -> str:
    if value is None or (isinstance(value, float) and value != value):  # a parquet's missing value: NaN
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read_text(path: Path) -> tuple[list[str], list[list[str]]]:
    if path.stat().st_size > MAX_TEXT_BYTES:
        raise TableError(f"{str(path)!r} is {path.stat().st_size / 2**20:.0f} MB: a release's table is refused "
                         f"above {MAX_TEXT_BYTES // 2**20} MB")
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        head = f.read(64 * 1024)
        f.seek(0)
        try:
            dialect = csv.Sniffer().sniff(head, delimiters=",;\t|")
        except csv.Error:
            if path.suffix.lower() == ".txt":
                return [], []  # free text, no table
            dialect = csv.excel
        reader = csv.reader(f, dialect)
        header = next(reader, None)
        if header is None:
            return [], []
        rows = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            rows.append([cell.strip() for cell in row])
            if len(rows) > MAX_ROWS:
                raise TableError(f"{str(path)!r} has more than {MAX_ROWS:,} rows: a release's table is refused "
                                 "above that")
    return [h.strip() for h in header], rows


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as z:
            total = sum(i.file_size for i in z.infolist())
            n = len(z.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise TableError(f"{str(path)!r} is not a readable .xlsx file: {exc}") from None
    if total > MAX_XLSX_BYTES or n > 10_000:
        raise TableError(f"{str(path)!r} unpacks to {total / 2**20:.0f} MB in {n} parts: an .xlsx is refused above "
                         f"{MAX_XLSX_BYTES // 2**20} MB unpacked")


def _read_xlsx(path: Path) -> tuple[list[str], list[list[str]]]:
    _check_zip(path)
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a damaged file
        raise TableError(f"{str(path)!r} is not a readable .xlsx file: {type(exc).__name__}: {exc}") from None
    try:
        sheet = book.worksheets[0]
        rows_iter = sheet.iter_rows(values_only=True)
        header = next(rows_iter, None)
        if header is None:
            return [], []
        rows = []
        for row in rows_iter:
            cells = [_text(v) for v in row]
            if not any(cells):
                continue
            rows.append(cells)
            if len(rows) > MAX_ROWS:
                raise TableError(f"{str(path)!r} has more than {MAX_ROWS:,} rows: a release's table is refused "
                                 "above that")
    finally:
        book.close()
    return [_text(h) for h in header], rows


def _read_xls(path: Path) -> tuple[list[str], list[list[str]]]:
    if importlib.util.find_spec("xlrd") is None:
        raise TableError(f"{str(path)!r} is an Excel table and reading it needs the xlrd package, which is not "
                         "installed (the old Excel 97-2003 format: pip install xlrd, or save the table as .xlsx or "
                         ".csv)")
    import xlrd

    book = xlrd.open_workbook(str(path), on_demand=True)
    sheet = book.sheet_by_index(0)
    if sheet.nrows > MAX_ROWS + 1:
        raise TableError(f"{str(path)!r} has more than {MAX_ROWS:,} rows: a release's table is refused above that")
    header = [_text(v) for v in sheet.row_values(0)] if sheet.nrows else []
    rows = [[_text(v) for v in sheet.row_values(r)] for r in range(1, sheet.nrows)]
    return header, [r for r in rows if any(r)]


def _read_jsonl(path: Path) -> tuple[list[str], list[list[str]]]:
    """Hugging Face's ``metadata.jsonl``: one JSON object a line, the keys the columns (in order of
    first appearance), each line's size and depth bounded before it is parsed."""
    from ._release_sources import SourceError, load_json

    if path.stat().st_size > MAX_TEXT_BYTES:
        raise TableError(f"{str(path)!r} is {path.stat().st_size / 2**20:.0f} MB: a release's table is refused "
                         f"above {MAX_TEXT_BYTES // 2**20} MB")
    header: dict[str, None] = {}
    records = []
    with open(path, "rb") as f:
        for k, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = load_json(path, line)
            except SourceError as exc:
                raise ValueError(f"line {k}: {exc}") from None
            if not isinstance(record, dict):
                raise ValueError(f"line {k} is no JSON object")
            header.update(dict.fromkeys(map(str, record)))
            records.append(record)
            if len(records) > MAX_ROWS:
                raise TableError(f"{str(path)!r} has more than {MAX_ROWS:,} rows: a release's table is refused "
                                 "above that")
    return list(header), [[_text(r.get(h)) for h in header] for r in records]


def _read_parquet(path: Path) -> tuple[list[str], list[list[str]]]:
    """Hugging Face's ``metadata.parquet`` (pyarrow, the ``featbus[parquet]`` extra; without it a
    ``ValueError`` saying so), its row count checked from the footer before the rows are read."""
    if importlib.util.find_spec("pyarrow") is None:
        raise ValueError("reading a .parquet table needs pyarrow, which is not installed (pip install "
                         "'featbus[parquet]')")
    import pyarrow.parquet as pq

    if pq.ParquetFile(path).metadata.num_rows > MAX_ROWS:
        raise TableError(f"{str(path)!r} has more than {MAX_ROWS:,} rows: a release's table is refused above that")
    frame = pq.read_table(path).to_pandas()
    return [str(c) for c in frame.columns], [[_text(v) for v in row] for row in frame.itertuples(index=False)]


def read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of a table, every cell text; rows padded to the header's width.

    Raises :class:`TableError` for a table refused within bounds (too many rows, an ``.xlsx`` that
    unpacks too large, an ``.xls`` without xlrd), naming the file.
    """
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        header, rows = _read_xlsx(path)
    elif suffix == ".xls":
        header, rows = _read_xls(path)
    elif suffix == ".jsonl":
        header, rows = _read_jsonl(path)
    elif suffix == ".parquet":
        header, rows = _read_parquet(path)
    else:
        header, rows = _read_text(path)
    width = len(header)
    header = [h or f"column {k + 1}" for k, h in enumerate(header)]
    return header, [(r + [""] * width)[:width] for r in rows]
