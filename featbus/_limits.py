"""The bounds of reading a release, in one place (light: :mod:`featbus.io`, the folder listing of
:mod:`featbus._listing` and :mod:`featbus.datasets` all import it, ``featbus predict`` without the data-set
loaders; ``featbus.datasets._limits`` is the same module): a release is untrusted input (a download, a colleague's
disk, a PACS export), so every walk and every parse is bounded before it starts. Each refusal is one line
naming the file and the limit (its constant's name and value).
"""

__all__ = ["MAX_COLUMNS", "MAX_FIELD_CHARS", "MAX_FOLDER_DEPTH", "MAX_IMAGE_PIXELS", "MAX_LINE_CHARS", "MAX_ROWS",
           "MAX_TABLE_BYTES", "MAX_XLSX_BYTES", "MAX_XLSX_PARTS", "limit_words"]

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
#: the image's own size in float64 with a few working copies (LBP about 24 bytes a pixel), so 2**25
#: (33.5 M, 5792 x 5792; a full-field mammogram has 13-30 M) keeps one image's extraction near 0.8 GB,
#: where a 12000 x 12000 PNG (144 M, 136 KB on disk) took 3.5 GB.
MAX_IMAGE_PIXELS = 1 << 25


def limit_words(name: str) -> str:
    """``"featbus._limits.MAX_ROWS = 1,000,000"``: how a refusal names the limit it met."""
    return f"featbus._limits.{name} = {globals()[name]:,}"
