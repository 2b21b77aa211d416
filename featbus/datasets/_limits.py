"""The bounds within which featbus reads a release's untrusted files, in one place.

A file over a bound is refused by name before it is parsed; the rest of the release is read."""

#: The most bytes of a JSON annotation file (a COCO export) parsed at all: checked on the file's size
#: before a byte is read (a breast release's COCO file is a few MB; hundreds of MB is not an export).
MAX_JSON_BYTES = 64 * 1024 * 1024
#: The deepest nesting of ``[`` / ``{`` a JSON file (or a JSONL line) may have, checked before it is
#: parsed (a COCO file nests 5 deep; thousands deep would exhaust the parser's stack).
MAX_JSON_DEPTH = 64
