"""Reading a release's tables within bounds: CSV / TSV / TXT with a sniffed delimiter, Excel's
``.xlsx`` (its zip's unpacked size checked before it is opened) and ``.xls`` when xlrd is installed,
JSON Lines and Parquet (Hugging Face's ``metadata.jsonl`` / ``metadata.parquet``).

Every limit (:data:`featbus.io.RELEASE_LIMITS`) is met before the memory it guards is taken: the file's
type, its bytes, each line (a header of 100 M columns is refused before it is split), each cell, the
columns and rows (an ``.xlsx`` by the cells it holds, never the range it declares). The encoding comes
from a byte-order mark, else UTF-8, else Latin-1, said when not plain UTF-8.

Every cell is text as written: a formula (``=HYPERLINK(...)``) is its own text, never evaluated
(openpyxl opened without ``data_only``); a number Excel stored as ``12.0`` reads ``12``.
"""

from __future__ import annotations

import codecs
import csv
import importlib.util
import json
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from .._records import LeftOut
from ..io import (
    MAX_COLUMNS,  # noqa: F401 (read by name in _within: a test may lower it)
    MAX_FIELD_CHARS,
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    MAX_LINE_CHARS,
    MAX_ROWS,  # noqa: F401 (read by name in _within: a test may lower it)
    MAX_TABLE_BYTES,  # noqa: F401 (read by name in _within: a test may lower it)
    MAX_XLSX_BYTES,
    MAX_XLSX_PARTS,
    limit_words,
)

__all__ = ["SourceError", "SourceRefused", "decoded_bytes", "json_depth", "load_json", "parquet_batches", "read_table",
           "TableError", "value_lengths"]


class TableError(ValueError):
    """A table featbus refuses to read (too large, a zip bomb, a reader not installed)."""


def _text(value) -> str:
    if value is None or (isinstance(value, float) and value != value):  # a parquet's missing value: NaN
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _within(path: Path, n: int, limit: str, words: str, **more) -> None:
    """Refuse the table when ``n`` is above the limit ``limit`` names (its value here: a test may lower it):
    ``words`` say what it has, a format of ``n``, ``mb`` (``n`` in MB), ``limit`` (its value) and ``more``."""
    value = globals()[limit]
    if n > value:
        raise TableError(f"{str(path)!r} {words.format(n=n, mb=n / 2**20, limit=value, **more)}: a release's "
                         f"table is refused above featbus.io.{limit} = {value:,}")


_BOMS = ((codecs.BOM_UTF8, "utf-8-sig", "UTF-8 with a byte-order mark"),
         (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 (its byte-order mark)"),
         (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 (its byte-order mark)"))


def _encoding(path: Path) -> tuple[str, str | None]:
    """The text encoding of a table and, when it is not plain UTF-8, the words that say it."""
    with open(path, "rb") as f:
        head = f.read(4)
        for bom, name, words in _BOMS:
            if head.startswith(bom):
                return name, words
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while block := f.read(1 << 20):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return "latin-1", f"Latin-1 (not UTF-8: {exc.reason} at byte {f.tell() - len(block) + exc.start})"
    return "utf-8", None


def _lines(f, path: Path, words: str = "has a line longer than {limit:,} characters"):
    """The file's lines (text or bytes) numbered from 1, each refused beyond
    :data:`~featbus.io.MAX_LINE_CHARS` before it is held whole."""
    k = 0
    while line := f.readline(MAX_LINE_CHARS + 1):
        k += 1
        _within(path, len(line), "MAX_LINE_CHARS", words, k=k)
        yield k, line


def _kept(path: Path, header, numbered, clean, every_row: bool) -> tuple[list[str], list[list[str]], list[int]]:
    """``(header, rows, lines)`` of a text or Excel table: the rows of ``numbered`` (``(line, cells)``)
    with a cell that is not blank, each ``clean``-ed; each row's width and the rows (``every_row``: the
    empty ones too, else those kept) bounded as they come, the header's width at the end."""
    if header is None:
        return [], [], []
    rows, lines = [], []
    for n, (line, row) in enumerate(numbered, 1):
        _within(path, len(row), "MAX_COLUMNS", "has a row of {n:,} columns")
        _within(path, n if every_row else len(rows) + 1, "MAX_ROWS", "has more than {limit:,} rows")
        cells = [clean(cell) for cell in row]
        if any(cell.strip() for cell in cells):
            rows.append(cells)
            lines.append(line)
    _within(path, len(header), "MAX_COLUMNS", "has {n:,} columns")
    return [_text(h) for h in header], rows, lines


#: Characters of a text table's start its delimiter and quoting are guessed from (whole lines):
#: :class:`csv.Sniffer`'s time grows with the square of what it reads (64 KB of BUS-BRA's
#: table took 2.6 s, 16 KB 0.17 s), and a table's dialect shows in its first rows.
SNIFF_CHARS = 16 * 1024


def _read_text(path: Path, notes: list, strip: bool, dialect) -> tuple[list[str], list[list[str]], list[int]]:
    _within(path, path.stat().st_size, "MAX_TABLE_BYTES", "is {mb:.0f} MB")
    encoding, said = _encoding(path)
    if said:
        notes.append(f"{path.name} read as {said}")
    saved = csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        with open(path, encoding=encoding, newline="") as f:
            head = f.read(SNIFF_CHARS) if dialect is None else ""
            if len(head) == SNIFF_CHARS and "\n" in head:  # whole lines: a cut row is no evidence
                head = head[:head.rindex("\n") + 1]
            f.seek(0)
            try:
                dialect = dialect or csv.Sniffer().sniff(head, delimiters=",;\t|")
            except csv.Error:
                if path.suffix.lower() == ".txt":
                    return [], [], []  # free text, no table
                dialect = csv.excel
            reader = csv.reader((line for _, line in _lines(f, path)), dialect)
            # numbered as a spreadsheet shows the rows: the header 1, a blank line a row, a cell's line breaks not
            return _kept(path, next(reader, None), enumerate(reader, start=2), _text if strip else str,
                         every_row=False)
    except csv.Error as exc:
        if "field larger than field limit" not in str(exc):
            raise TableError(f"{str(path)!r} is not a readable table: {exc}") from None
    finally:
        csv.field_size_limit(saved)
    _within(path, MAX_FIELD_CHARS + 1, "MAX_FIELD_CHARS", "has a cell longer than {limit:,} characters")


def _read_xlsx(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    try:
        with zipfile.ZipFile(path) as z:
            total = sum(i.file_size for i in z.infolist())
            n = len(z.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise TableError(f"{str(path)!r} is not a readable .xlsx file: {exc}") from None
    if total > MAX_XLSX_BYTES or n > MAX_XLSX_PARTS:
        raise TableError(f"{str(path)!r} unpacks to {total / 2**20:.0f} MB in {n} parts: an .xlsx is refused above "
                         f"{MAX_XLSX_BYTES // 2**20} MB unpacked or {MAX_XLSX_PARTS:,} parts "
                         "(featbus.io.MAX_XLSX_BYTES, MAX_XLSX_PARTS)")
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a damaged file
        raise TableError(f"{str(path)!r} is not a readable .xlsx file: {type(exc).__name__}: {exc}") from None
    try:
        sheet = book.worksheets[0]
        if hasattr(sheet, "reset_dimensions"):
            sheet.reset_dimensions()  # the cells present, never the range the file declares (A1:XFD1048576)
        rows = sheet.iter_rows(values_only=True)
        return _kept(path, next(rows, None), enumerate(rows, start=2), _text, every_row=True)
    finally:
        book.close()


def _read_xls(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    if importlib.util.find_spec("xlrd") is None:
        raise TableError(f"{str(path)!r} is an Excel table and reading it needs the xlrd package, which is not "
                         "installed (the old Excel 97-2003 format: pip install xlrd, or save the table as .xlsx or "
                         ".csv)")
    import xlrd

    sheet = xlrd.open_workbook(str(path), on_demand=True).sheet_by_index(0)
    _within(path, sheet.nrows - 1, "MAX_ROWS", "has more than {limit:,} rows")
    _within(path, sheet.ncols, "MAX_COLUMNS", "has {n:,} columns")
    return _kept(path, sheet.row_values(0) if sheet.nrows else [],
                 ((r + 1, sheet.row_values(r)) for r in range(1, sheet.nrows)), _text, every_row=True)


def _read_jsonl(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Hugging Face's ``metadata.jsonl``: one JSON object a line, the keys the columns (in order of first
    appearance); the bytes, each line's length, size and depth, columns and rows bounded before they are parsed."""
    _within(path, path.stat().st_size, "MAX_TABLE_BYTES", "is {n:,} bytes")
    header: dict[str, None] = {}
    records, lines = [], []
    with open(path, "rb") as f:
        for k, line in _lines(f, path, "has a line {k} longer than {limit:,} characters"):
            if not line.strip():
                continue
            try:
                record = load_json(path, line)
            except SourceError as exc:
                raise ValueError(f"line {k}: {exc}") from None
            if not isinstance(record, dict):
                raise ValueError(f"line {k} is no JSON object")
            header.update(dict.fromkeys(map(str, record)))
            _within(path, len(header), "MAX_COLUMNS", "has more than {limit:,} columns")
            records.append(record)
            lines.append(k)
            _within(path, len(records), "MAX_ROWS", "has more than {limit:,} rows")
    return list(header), [[_text(r.get(h)) for h in header] for r in records], lines


#: Rows of a parquet file decoded at a time at most (:func:`parquet_batches`; fewer when its pages are large).
PARQUET_BATCH_ROWS = 65_536


def parquet_batches(path: Path, limit: int, columns: list[str] | None = None):
    """``(schema, batches)`` of a parquet file's ``columns`` (all when None; ``image.path``: a struct's field), for
    :func:`decoded_bytes` to count batch by batch against ``limit`` before a value is made a Python object. A
    dictionary-encoded column is read as its dictionary and indices (a value in every row held once); a batch has
    so few rows that it decodes to about an eighth of ``limit``: a row takes its share of each column chunk's
    uncompressed pages, or all of them where prefixes are shared (``DELTA_BYTE_ARRAY``: any value may be as long)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    at = [i for i in range(meta.num_columns) if columns is None or any(
        meta.schema.column(i).path == c or meta.schema.column(i).path.startswith(f"{c}.") for c in columns)]
    dictionary, per_row = set(), 1  # the bytes one row may take, the largest row group's
    for g in range(meta.num_row_groups):
        group, worst = meta.row_group(g), 0
        for i in at:
            chunk = group.column(i)
            if chunk.has_dictionary_page:
                dictionary.add(meta.schema.column(i).path)
            size = chunk.total_uncompressed_size
            worst += size if "DELTA_BYTE_ARRAY" in chunk.encodings else -(-size // max(1, group.num_rows))
        per_row = max(per_row, worst)
    rows = max(1, min(PARQUET_BATCH_ROWS, limit // 8 // per_row))
    file = pq.ParquetFile(path, read_dictionary=sorted(dictionary) or None)
    return file.schema_arrow, file.iter_batches(batch_size=rows, columns=columns)


def value_lengths(array, chars: bool = False):
    """Each row's length of a pyarrow text or bytes array (dictionary-encoded too: its values' lengths taken by
    row, none decoded), in bytes or ``chars`` of text; None for an array of another type."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = array.dictionary if isinstance(array, pa.DictionaryArray) else array
    binary = pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type)
    if not (binary or pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return None
    lengths = pc.binary_length(values) if binary or not chars else pc.utf8_length(values)
    return pc.take(lengths, array.indices) if values is not array else lengths


def decoded_bytes(array) -> int:
    """The bytes a pyarrow array takes once decoded: a dictionary's value counted in each row that names it (as a
    Python object made of each row would take), a struct's or list's values summed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lengths = value_lengths(array)
    if lengths is not None:
        return int(pc.sum(lengths).as_py() or 0)
    if isinstance(array, pa.StructArray):
        return sum(decoded_bytes(field) for field in array.flatten())
    if isinstance(array, (pa.ListArray, pa.LargeListArray, pa.FixedSizeListArray)):
        return 8 * len(array) + decoded_bytes(array.flatten())
    return array.nbytes


def _read_parquet(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Hugging Face's ``metadata.parquet`` (pyarrow: the ``featbus[parquet]`` extra): its bytes, rows and columns
    from the footer, then what it decodes to batch by batch before a value is made a Python object (a value in
    every row, dictionary-encoded, counted in each: :data:`~featbus.io.MAX_TABLE_BYTES`), each text cell within
    :data:`~featbus.io.MAX_FIELD_CHARS` as a CSV's."""
    if importlib.util.find_spec("pyarrow") is None:
        raise ValueError("reading a .parquet table needs pyarrow, which is not installed (pip install "
                         "'featbus[parquet]')")
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    _within(path, path.stat().st_size, "MAX_TABLE_BYTES", "is {n:,} bytes")
    meta = pq.ParquetFile(path).metadata
    _within(path, meta.num_rows, "MAX_ROWS", "has {n:,} rows")
    _within(path, meta.num_columns, "MAX_COLUMNS", "has {n:,} columns")
    schema, batches = parquet_batches(path, MAX_TABLE_BYTES)
    kept, total = [], 0
    for batch in batches:
        for name, values in zip(batch.schema.names, batch.columns):
            lengths = value_lengths(values, chars=True)
            longest = pc.max(lengths).as_py() if lengths is not None else None
            _within(path, longest or 0, "MAX_FIELD_CHARS", "has a cell longer than {limit:,} characters (column "
                    "{name!r})", name=name)
            total += decoded_bytes(values) + len(values)  # a cell at least a byte, as a CSV's delimiter
        _within(path, total, "MAX_TABLE_BYTES", "decodes to more than {limit:,} bytes (a value many rows share "
                "counted in each)")
        kept.append(batch)
    frame = pa.Table.from_batches(kept, schema=schema).to_pandas()
    rows = []
    for row in frame.itertuples(index=False):
        cells = [_text(v) for v in row]
        _within(path, max(map(len, cells), default=0), "MAX_FIELD_CHARS", "has a cell longer than {limit:,} "
                "characters")
        rows.append(cells)
    return [str(c) for c in frame.columns], rows, list(range(2, len(frame) + 2))


class SourceError(ValueError):
    """An annotation file refused within bounds (too large, nested too deep, not JSON)."""


class SourceRefused(SourceError):
    """A file a source knows as the release's own labels (CMMD's clinical table) that cannot be read
    as saved: the release is refused, naming it, never read as if the file were not there."""


_JSON_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(data: bytes) -> int:
    """The deepest nesting of ``[`` / ``{`` in JSON text (brackets inside strings do not count), in
    chunks of numpy sums, without parsing."""
    import numpy as np

    arr = np.frombuffer(_JSON_STRINGS.sub(b'""', data), np.uint8)
    depth = top = 0
    for start in range(0, len(arr), 1 << 22):
        a = arr[start:start + (1 << 22)]
        step = (a == 91).astype(np.int32) + (a == 123) - (a == 93) - (a == 125)
        running = np.cumsum(step, dtype=np.int64) + depth
        top, depth = max(top, int(running.max())), int(running[-1])
    return top


def load_json(path: Path, text: bytes | None = None):
    """A JSON file (or one JSONL line, ``text``) parsed within bounds: its size
    (:data:`featbus.io.MAX_JSON_BYTES`) checked before it is read, its depth
    (:data:`featbus.io.MAX_JSON_DEPTH`) before it is parsed; :class:`SourceError` else."""
    if text is None:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):  # the type before any open: a FIFO would block
            raise SourceError("not a regular file (a FIFO, device or socket), never opened")
        if info.st_size > MAX_JSON_BYTES:
            raise SourceError(f"{info.st_size / 2**20:.0f} MB: a JSON file is refused above "
                              f"{limit_words('MAX_JSON_BYTES')} bytes, unread")
        text = Path(path).read_bytes()
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise SourceError(f"nested {depth} deep: a JSON file is refused deeper than {limit_words('MAX_JSON_DEPTH')}, "
                          "unparsed")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"not JSON ({exc})") from None


#: While :func:`tables_read_once` is active: each table parsed, by the file's identity and the reading's options:
#: ``(header, rows, notes, left_out)``.
_PARSED: ContextVar[dict | None] = ContextVar("featbus_tables_parsed", default=None)


@contextmanager
def tables_read_once() -> Iterator[None]:
    """While active (one :func:`~featbus.datasets.read_release`), :func:`read_table` parses each table file once,
    however many sources ask for it (CBIS-DDSM's ``dicom_info.csv`` was parsed four times in one read: by the
    source's ``recognise``, its ``read``, once a case table); a later call gets a copy of the rows and the same
    notes and left-out rows. A file changed on disk meanwhile (its size or modification time) is parsed again."""
    token = _PARSED.set({})
    try:
        yield
    finally:
        _PARSED.reset(token)


def read_table(path: Path, *, notes: list | None = None, left_out: list | None = None, strip: bool = True,
               dialect=None, lines: list | None = None) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of a table, every cell text; rows padded to the header's width (once per file within
    :func:`tables_read_once`). ``notes`` gets the words on an encoding that is not plain UTF-8; ``left_out`` a
    :class:`~featbus.datasets._release_scan.LeftOut` for each row left out (a NUL character in a cell: no file
    name or label holds one), the rest read; ``strip=False`` keeps the cells' spaces as written (an index's
    values); ``dialect`` (a text table's, :class:`csv.Dialect`) replaces the sniffed one. :class:`TableError`
    for a table refused within bounds (not a regular file, a limit of :data:`featbus.io.RELEASE_LIMITS` met, an
    ``.xlsx`` that unpacks too large, an ``.xls`` without xlrd), naming the file and the limit. ``lines`` gets each
    row's number in the file, as a spreadsheet numbers it (the header row 1, blank rows counted): what a
    message naming a row says."""
    parsed, lines = _PARSED.get(), [] if lines is None else lines
    try:
        st = os.stat(path)  # the type before any open: a FIFO named table.csv would block
    except OSError as exc:
        raise TableError(f"{str(path)!r} cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise TableError(f"{str(path)!r} is not a regular file (a FIFO, device or socket): never opened")
    if parsed is None:  # outside tables_read_once: parsed for this caller alone, nothing kept or copied
        header, rows, numbers = _parse(Path(path), [] if notes is None else notes,
                                       [] if left_out is None else left_out, strip, dialect)
        lines += numbers
        return header, rows
    key = (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, strip, dialect)
    if key not in parsed:
        said, out = [], []
        parsed[key] = (*_parse(Path(path), said, out, strip, dialect), said, out)
    header, rows, numbers, said, out = parsed[key]  # this caller's own copy of the rows; the kept ones as parsed
    for into, got in ((notes, said), (left_out, out), (lines, numbers)):
        if into is not None:
            into.extend(got)
    return list(header), [list(row) for row in rows]


def _parse(path: Path, notes: list, left_out: list, strip: bool, dialect) -> tuple[list, list, list[int]]:
    """:func:`read_table`'s parsing of the table at ``path``: its header, rows and each row's number."""
    reader = {".xlsx": _read_xlsx, ".xls": _read_xls, ".jsonl": _read_jsonl, ".parquet": _read_parquet}.get(
        path.suffix.lower())
    header, rows, lines = reader(path) if reader else _read_text(path, notes, strip, dialect)
    width = len(header)
    header = [h or f"column {k + 1}" for k, h in enumerate(header)]
    nul = [any("\0" in cell for cell in row) for row in rows]
    left_out.extend(LeftOut(f"row {line} of {path.name}", "unreadable", "a NUL character in a cell")
                    for line, bad in zip(lines, nul) if bad)
    return (header, [(row + [""] * width)[:width] for row, bad in zip(rows, nul) if not bad],
            [line for line, bad in zip(lines, nul) if not bad])
