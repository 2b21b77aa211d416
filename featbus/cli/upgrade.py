"""``featbus upgrade MODEL -o NEW``: re-save an older model file in the current format."""

from __future__ import annotations

import warnings
from pathlib import Path

from ._common import CLIError, _check_writable, _load_model_cli

__all__ = ["add_parser", "run"]


def add_parser(sub, parents) -> None:
    p = sub.add_parser("upgrade", parents=[parents.base],
                       help="re-save a model file in the current format (no pickle, inference runtime)",
                       description="Load MODEL (an older file's pickle loads only if trusted) and write it again "
                                   "in the current format: its pipeline without pickle, its networks' forwards "
                                   "for the inference runtime.")
    p.add_argument("model", metavar="MODEL", help="a .featbus file")
    p.add_argument("--output", "-o", metavar="FILE", required=True, help="the new .featbus file")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    p.add_argument("--trust", action="store_true",
                   help="load MODEL although it is not in your trust list (an older file: its pickle runs)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..model_format import types_needing_trust

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise CLIError(f"-o {str(out)!r} already exists; pass --overwrite to replace it")
    _check_writable(out, "-o")
    with warnings.catch_warnings():  # its advice to run featbus upgrade is being followed
        warnings.filterwarnings("ignore", message=".*stores its pipeline as a pickle")
        # the networks in Keras: saving traces them into the new file's runtime forwards
        model = _load_model_cli(args.model, args.trust, args.debug, warm_up=False, runtime="keras", keras_too=True)
    model.save(out, overwrite=args.overwrite)
    needed = types_needing_trust(out)
    print(f"{out}: format {model.manifest['format_version']}, "
          + ("loads without pickle and without trust" if not needed else
             f"loads without pickle; its types {', '.join(needed)} need trust (added to your trust list)"))
    return 0
