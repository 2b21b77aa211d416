"""``featbus app MODEL``: a local web page that predicts and explains one image at a time."""

from __future__ import annotations

from pathlib import Path

from ._common import CLIError, _trust_file
from ._options import add_model, add_trust

__all__ = ["add_parser", "run"]


def add_parser(sub, parents) -> None:
    p = sub.add_parser("app", parents=[parents.dicom, parents.base],
                       help="a local web page (Streamlit) that predicts and explains one image at a time",
                       description="Serve a page on http://127.0.0.1:PORT (this computer only): upload a PNG, "
                                   "JPEG or DICOM image, see the class, the probabilities, the explanation "
                                   "overlay and where its intensity falls among the training classes. Needs "
                                   'the [app] extra: pip install "featbus[app]".')
    add_model(p)
    p.add_argument("--port", type=int, default=8501, help="port on 127.0.0.1 (default 8501)")
    add_trust(p, "add MODEL to your trust list first (see predict --trust)")
    p.add_argument("--data", metavar="DIR", action="append", default=[],
                   help="a folder whose images the page may open by path (typed, or ?image= in the address); "
                        "repeat for several. Without it the page opens uploads only")
    p.add_argument("--allow-host", metavar="NAME", action="append", default=[],
                   help="also answer requests addressed to NAME, or sent from its pages on any port (e.g. behind "
                        "a reverse proxy); by default every route of the server answers only requests addressed to "
                        "127.0.0.1 or localhost from pages of the server itself (others get 403), which stops "
                        "DNS-rebinding pages and other local sites")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..model.format import read_manifest, trust_model, types_needing_trust

    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise CLIError('featbus app needs Streamlit, which is not installed: pip install "featbus[app]"') from None
    if not 1 <= args.port <= 65535:
        raise CLIError(f"--port {args.port}: give a port number between 1 and 65535")
    read_manifest(args.model)  # not a model file: one line here, not an error page
    if args.trust:
        try:  # the app's own process reads the trust list: trust it cannot record would not reach it
            trust_model(args.model)
        except OSError as exc:
            raise CLIError(f"--trust: cannot write the trust list {_trust_file()!r} ({exc.strerror or exc}), which the "
                           "app reads to trust this file; set FEATBUS_TRUSTED_MODELS to a file you can write") from None
    else:
        needed = types_needing_trust(args.model)
        if needed:
            raise CLIError(f"{args.model!r} would create types featbus does not trust by itself ({', '.join(needed)}) "
                           f"and is not in your trust list {_trust_file()!r}; if you trust its origin, rerun with "
                           "--trust")
    from ..deploy.app import run_app

    for folder in args.data:
        if not Path(folder).is_dir():
            raise CLIError(f"--data {folder!r} is not a folder")
    for host in args.allow_host:
        if not host or any(c in host for c in " /:@\t") or host != host.strip():
            raise CLIError(f"--allow-host {host!r}: give a host name, without scheme, port or path")
    return run_app(args.model, port=args.port, data=args.data, allow_hosts=args.allow_host)
