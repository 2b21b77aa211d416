"""``featbus read DATA``: what featbus reads in a release (images, masks paired and how, the table and its
columns, classes, patients, files left out and why), in seconds and without a model; ``--index FILE``
writes the index it built, which every command takes back as DATA."""

from __future__ import annotations

import sys

from ._common import CLIError, _check_writable, _one_line, _refuse_existing, _refuse_input
from ._data import left_out_lines
from ._options import add_export_columns, add_overwrite

__all__ = ["add_parser", "run"]


def add_parser(sub, parents) -> None:
    p = sub.add_parser("read", parents=[parents.base],
                       help="say what featbus reads in DATA (images, masks, table, classes, patients, files left "
                            "out), without a model",
                       description="Read a release as its publisher ships it (image files anywhere under the "
                                   "folder, any table naming them, masks beside them or in a mask folder) and print "
                                   "the one paragraph every command prints before a model loads. No pixel is "
                                   "decoded and no model is loaded: seconds for thousands of images. --index "
                                   "writes the index built (image,label,group,mask), which every command takes as "
                                   "DATA.")
    p.add_argument("data_dir", metavar="DATA", help="the release's folder, or an index CSV")
    p.add_argument("--index", metavar="CSV", default=None,
                   help="also write the index featbus built: one row per image with its label, patient and masks "
                        "(paths relative to the CSV; no group column where nothing gives the patients, so that "
                        "near-duplicate images are grouped again when it is read); cells a spreadsheet would run "
                        "as formulas are escaped")
    add_overwrite(p, "the --index file")
    p.add_argument("--require-labels", action="store_true",
                   help="refuse DATA when nothing labels its images (what training and validation need)")
    add_export_columns(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from ..datasets.release import ReleaseError, read_release

    if args.index is not None:
        _refuse_input(Path(args.index), [args.data_dir], "--index")
        _refuse_existing(Path(args.index), args.overwrite, "--index")
        _check_writable(Path(args.index), "--index")
    try:
        release = read_release(args.data_dir, image_column=args.image_column, label_column=args.label_column,
                               group_column=args.group_column, group_pattern=args.group_pattern,
                               mask_pattern=args.mask_pattern, require_labels=args.require_labels,
                               unannotated=(args.unannotated or "normal").replace("-", " "))
    except (ReleaseError, ValueError, OSError) as exc:
        raise CLIError(_one_line(exc)) from exc
    print(release.summary.text())
    for line in left_out_lines(release.summary):
        print(line, file=sys.stderr)
    if args.index is not None:
        release.write_index(args.index)
        print(f"wrote the index of {len(release.images)} images to {args.index}")
    return 0
