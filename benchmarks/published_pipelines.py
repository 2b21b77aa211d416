"""The five published pipelines featbus was made for, reproduced: paper / leaky / leak-free.

Runs the paper examples (``examples/paper_*.py``, one code path: their ``main``) and prints one
table: each paper's reported figure, featbus's figure under the paper's own protocol (folds
drawn at random over images: near-duplicates of one lesion, or the two breasts of one woman, on
both sides: leaky) and featbus's leak-free figure (near-duplicate / woman-grouped folds, 95 %
bootstrap interval), with the command that printed each row.

* (a) MobileNetV3-Small, stride-16 + stride-32 head, BUSI benign vs malignant, TFLite (98.30 %);
* (b) MobileNetV2 deeper layers fine-tuned, BUSI three classes, intensity and error analyses,
  local app (0.82);
* (c) VGG16 / InceptionV3 features + SVM, mini-MIAS normal vs abnormal (97.77 %);
* (d) enhancement + classical segmentation + ResNet101 fully fine-tuned, BUSI (99.86 %);
* (e) custom CNN from scratch vs fine-tuned networks, U-Net on a MobileNet encoder (Dice 0.8959).

Run from the repository root (``--quick``, the default here, is each example's reduced
settings, printed in its output; ``--full`` the paper's settings, hours to days on a CPU)::

    python benchmarks/published_pipelines.py                 # all five, reduced settings
    python benchmarks/published_pipelines.py --paper b       # one of them
    python benchmarks/published_pipelines.py --paper a,e -- --size 160   # options passed to each example
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PAPERS = {"a": "paper_busi_mobilenetv3_phone", "b": "paper_busi_mobilenetv2_app", "c": "paper_mias_cnn_svm",
          "d": "paper_busi_resnet101_enhanced", "e": "paper_busi_custom_cnn"}


def run(paper: str, argv: list[str]):
    """The :class:`PaperResult` of one paper's example, run with ``argv``."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    import importlib

    return importlib.import_module(PAPERS[paper]).main(argv)


def summary(results) -> str:
    """The paper / leaky / leak-free table of several results."""
    def fmt(v):
        return f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"

    lines = [f"{'paper':6s} {'metric':10s} {'reported':>9s} {'random split (leaky)':>24s} "
             f"{'grouped CV (leak-free)':>24s}  command"]
    for r in results:
        lines.append(f"({r.paper})    {r.metric:10s} {r.reported:>9s} {fmt(r.leaky):>24s} {fmt(r.free):>24s}  "
                     f"{r.command}")
    return "\n".join(lines)


def main(argv=None) -> list:
    argv = sys.argv[1:] if argv is None else list(argv)
    passed = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paper", default="a,b,c,d,e", help="comma-separated subset of a,b,c,d,e")
    ap.add_argument("--full", action="store_true", help="the examples' default (paper) settings, not --quick")
    args = ap.parse_args(own)
    papers = [p.strip() for p in args.paper.split(",") if p.strip()]
    unknown = sorted(set(papers) - set(PAPERS))
    if unknown:
        ap.error(f"unknown paper(s) {', '.join(unknown)}; choose from a, b, c, d, e")
    results = [run(p, ([] if args.full else ["--quick"]) + passed) for p in papers]
    print("\nThe published pipelines, reproduced (accuracy; (e): the U-Net's mean Dice)")
    print(summary(results))
    return results


if __name__ == "__main__":
    main()
