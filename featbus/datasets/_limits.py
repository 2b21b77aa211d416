"""The bounds of reading a release, under the name the data-set readers import them by: defined and
documented once, in :mod:`featbus.io` (light: ``featbus predict`` lists a folder and checks headers against
them without the data-set loaders); :data:`featbus.io.RELEASE_LIMITS` names them."""

from ..io import (  # noqa: F401
    MAX_COLUMNS,
    MAX_FIELD_CHARS,
    MAX_FOLDER_DEPTH,
    MAX_IMAGE_PIXELS,
    MAX_LINE_CHARS,
    MAX_ROWS,
    MAX_TABLE_BYTES,
    MAX_XLSX_BYTES,
    MAX_XLSX_PARTS,
    RELEASE_LIMITS,
    limit_words,
)

__all__ = list(RELEASE_LIMITS) + ["RELEASE_LIMITS", "limit_words"]
