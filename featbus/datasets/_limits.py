"""The limits of reading a release (:data:`featbus.io.RELEASE_LIMITS`, defined and documented once in featbus.io,
which ``featbus predict`` imports without the data-set loaders), under the name the data-set readers use."""

from ..io import (  # noqa: F401
                  MAX_COLUMNS,
                  MAX_FIELD_CHARS,
                  MAX_FOLDER_DEPTH,
                  MAX_IMAGE_PIXELS,
                  MAX_JSON_BYTES,
                  MAX_JSON_DEPTH,
                  MAX_LINE_CHARS,
                  MAX_ROWS,
                  MAX_TABLE_BYTES,
                  MAX_XLSX_BYTES,
                  MAX_XLSX_PARTS,
                  RELEASE_LIMITS,
                  limit_words,
)
