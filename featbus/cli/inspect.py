"""``featbus inspect MODEL``: what a model file holds and would create, without loading it."""

from __future__ import annotations

import zipfile

from ._options import add_model

__all__ = ["add_parser", "run"]


def add_parser(sub, parents) -> None:
    p = sub.add_parser("inspect", parents=[parents.base],
                       help="what a model file holds and would create when loaded, without loading it",
                       description="Print a .featbus file's recipe, classes, training data, cross-validation "
                                   "figures and versions (from its manifest), its members, and the types loading "
                                   "it would create with whether each is trusted; nothing from the file is run. "
                                   "Text from the file is printed escaped.")
    add_model(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..model.format import (
        describe_manifest,
        pipeline_types,
        read_manifest,
        types_needing_trust,
        version_problem,
        what_works,
    )
    from ..model.runtime import runtime_available
    from ..model.trust import printable

    path = args.model
    manifest = read_manifest(path)  # sizes and schema checked; nothing else is read yet
    version = manifest["format_version"]
    print(f"{printable(path)}: featbus model file, format {version} "
          + ("(pipeline stored with skops: loads without pickle)" if version >= 4 else
             "(pipeline pickled: loads only if trusted; re-save it with featbus upgrade)"))
    print(describe_manifest(manifest))
    print(_verdict_text(manifest))
    for line in _shipped_lines(path):
        print(line)
    with zipfile.ZipFile(path) as z:
        print("members: " + ", ".join(f"{printable(i.filename)} ({i.file_size / 1e6:.2f} MB)" for i in z.infolist()))
    forwards = (manifest.get("runtime") or {}).get("forwards") or []
    if forwards:
        print("inference runtime: LiteRT forwards of " + ", ".join(
            f"{printable(f['estimator'])} ({printable('x'.join(map(str, f.get('input', []))))} -> "
            f"{printable(f.get('outputs'))})" for f in forwards)
            + ("" if runtime_available() else "; ai-edge-litert is not installed here, so predictions use Keras"))
    networks = manifest.get("segmenter") or any(
        e.get("class") in ("DeepFeatures", "FineTunedCNN", "FineTunedEnsemble")
        for e in (manifest.get("recipe") or {}).get("extractors", {}).values() if isinstance(e, dict))
    if networks:  # what its networks need to run: LiteRT for the stored forwards, else Keras on any backend
        print("its networks need: " + ("LiteRT (ai-edge-litert) for the stored forwards, or " if forwards else "")
              + "Keras 3 on any backend (TensorFlow, PyTorch or JAX: pip install \"featbus[deep]\", "
              "\"featbus[torch]\" or \"featbus[jax]\")"
              + ("; its segmenter and Grad-CAM always use Keras" if forwards else ""))
    types = pipeline_types(path)
    width = max(len(printable(t["name"])) for t in types)
    print(f"types loading it creates ({len(types)}):")
    for t in types:
        print(f"  {printable(t['name']):<{width}}  x{t['count']:<4} {t['trust']}")
    problem = version_problem(manifest)
    if problem:  # said before any "loads" line: it will not load here as it is
        print(f"loads in this installation: no, it was made with {problem}; {what_works(manifest, path)}")
    needed = types_needing_trust(path)
    # what this command read is the schema: it can say a file needs trust, never that its
    # contents are sound (they are checked when the file loads, see docs "Receiving a model file")
    print("loads without --trust: " + ("its types, yes; its contents are checked when it loads" if not needed else
                                       f"no, it needs your trust for {printable(', '.join(needed))}"))
    return 0


def _verdict_text(manifest: dict) -> str:
    """The model-sanity verdict the file holds (or one recomputed from its stored
    cross-validation figures), every text from the file escaped."""
    from ..evaluation.sanity import verdict_from_manifest
    from ..model.trust import printable

    verdict = verdict_from_manifest(manifest)
    if verdict is None:
        return "verdict: none -- the file holds no cross-validation figures to judge the model by"
    from ..evaluation.sanity import verdict_prefix

    lines = verdict.summary(prefix=verdict_prefix(manifest)).splitlines()
    return "\n".join(printable(line) for line in lines)


def _shipped_lines(path) -> list[str]:
    """For a classifier featbus ships: its card in a few lines, its honest figures first (the
    file's own figures are on images every part of it trained on)."""
    from ..model.describe import card_parts
    from ..networks.pretrained import shipped_entry

    entry = shipped_entry(path, "classifier")
    if entry is None:
        return []
    card = entry.card()
    lines = [f"featbus's shipped classifier {entry.name}, version {entry.version} (card: docs {entry.doc}); "
             f"intended use: {card.get('intended_use')}",
             "  its cross-validation figures above are on images its backbone, segmenter and heads all trained "
             "on (seen): they are not evidence that it travels"]
    parts = card_parts(card)
    if parts:  # the card's four parts, the one figure of each quantity (the docs card and the app quote the same)
        lines.append(f"  its card, in {len(parts)} parts:")
        lines += [f"  {head}: {text}" for head, text in parts]
    lines.append(f"  limits: {card.get('limits')}")
    return lines
