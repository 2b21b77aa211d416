"""``featbus upgrade MODEL -o NEW``: re-save an older model file in the current format."""

from __future__ import annotations

import warnings
from pathlib import Path

from .._version import __version__
from ._common import _check_writable, _load_model_cli, _refuse_existing
from ._options import add_model, add_output, add_overwrite, add_trust

__all__ = ["add_parser", "run"]


def add_parser(sub, parents) -> None:
    p = sub.add_parser("upgrade", parents=[parents.base],
                       help="re-save a model file in the current format (no pickle, inference runtime)",
                       description="Load MODEL (an older file's pickle loads only if trusted) and write it again "
                                   "in the current format: its pipeline without pickle, its networks' forwards "
                                   "for the inference runtime.")
    add_model(p)
    add_output(p, "FILE", "the new .featbus file")
    add_overwrite(p, "FILE")
    add_trust(p, "load MODEL although it is not in your trust list (an older file: its pickle runs)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..model.format import converting, read_manifest, types_needing_trust, version_problem

    out = Path(args.output)
    _refuse_existing(out, args.overwrite)
    _check_writable(out, "-o")
    with warnings.catch_warnings():  # its advice to run featbus upgrade is being followed
        warnings.filterwarnings("ignore", message=".*stores its pipeline as a pickle")
        # the networks in Keras: saving traces them into the new file's runtime forwards
        with converting():  # a file of another featbus version: what upgrade is for
            model = _load_model_cli(args.model, args.trust, args.debug, warm_up=False, runtime="keras",
                                    keras_too=True)
    other = version_problem(read_manifest(args.model))
    if other:  # the new file is this version's: it says where it came from

        made = model.manifest.get("versions") or {}
        note = f"converted by featbus upgrade from a file made with featbus {made.get('featbus')}"
        model.manifest = {**model.manifest, "versions": {**made, "featbus": __version__},
                          "notes": [*model.manifest.get("notes", []), note]}
    model.save(out, overwrite=args.overwrite)
    needed = types_needing_trust(out)
    print(f"{out}: format {model.manifest['format_version']}, "
          + ("loads without pickle and without trust" if not needed else
             f"loads without pickle; its types {', '.join(needed)} need trust (added to your trust list)"))
    if other:
        print(f"converted from {other}: its stored fitted state now runs with this version's code; check it on "
              f"labelled images before use (featbus validate {out} DATA)")
    return 0
