"""Run the README's "In a script" snippet, taken from the README text itself, and count the work.

The snippet is nested cross-validation on BUSI: ``evaluate`` runs 5 duplicate-grouped outer
folds, each fitting a ``GridSearchCV`` (the ``param_grid`` candidates x 5 inner folds + a refit),
so a few hundred pipeline fits, each of which transforms its images with every feature
extractor. featbus's extraction path keys each row by image content and extractor setting, so
each image should go through each extractor exactly once, whatever the number of fits.

Printed: wall time, the number of pipeline fits, and for each extractor how many times each
image was computed (from :func:`featbus.compute.extraction.extraction_counts`, counted where rows are
computed), then the snippet's own output.

Run from the repository root (BUSI at ``../shared/data/busi``)::

    python benchmarks/readme_script.py
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from featbus import get_data_home

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
BUSI = get_data_home() / "busi" / "Dataset_BUSI_with_GT"


def readme_snippet() -> str:
    """The first Python block under the README's "In a script" heading (``## In a script`` or a
    numbered ``### 3. In a script``)."""
    text = (ROOT / "README.md").read_text()
    heading = re.search(r"^#+ (?:\d+\. )?In a script\s*$", text, re.M)
    match = heading and re.search(r"```python\n(.*?)```", text[heading.end():], re.S)
    if not match:
        raise SystemExit("README.md has no ```python block under an 'In a script' heading")
    return match.group(1)


def main() -> None:
    if not BUSI.is_dir():
        raise SystemExit(f"BUSI not found at {BUSI}")
    code = readme_snippet()
    if "path/to/Dataset_BUSI_with_GT" not in code:
        raise SystemExit("the README snippet no longer loads 'path/to/Dataset_BUSI_with_GT'")
    code = code.replace("path/to/Dataset_BUSI_with_GT", str(BUSI))

    from imblearn.pipeline import Pipeline

    from featbus.compute.extraction import extraction_counts, reset_extraction_counts

    n_fits = Counter()
    fit = Pipeline.fit

    def counting_fit(self, *args, **kwargs):  # count every pipeline fit, wherever it happens
        n_fits["pipeline"] += 1
        return fit(self, *args, **kwargs)

    Pipeline.fit = counting_fit
    reset_extraction_counts()
    print("--- the README snippet:\n" + code.rstrip() + "\n--- its output:", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)  # report.html goes to a scratch folder
        t0 = time.perf_counter()
        try:
            exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
        finally:
            os.chdir(cwd)
        wall = time.perf_counter() - t0
    Pipeline.fit = fit

    counts = extraction_counts()
    per_extractor: dict[str, Counter] = {}
    for (extractor, _setting, _image), n in counts.items():
        per_extractor.setdefault(extractor, Counter())[n] += 1
    print("--- measured:")
    print(f"wall time {wall:.0f} s ({wall / 60:.1f} min) on {os.cpu_count()} CPU(s); "
          f"{n_fits['pipeline']} pipeline fits")
    for extractor, hist in sorted(per_extractor.items()):
        n_images = sum(hist.values())
        spread = ", ".join(f"{k} time(s): {v} images" for k, v in sorted(hist.items()))
        print(f"{extractor:>16}: {n_images} unique images computed; {spread}")
    once = all(set(h) == {1} for h in per_extractor.values())
    print(f"exactly one extraction per image per extractor setting: {once}")
    sys.exit(0 if once else 1)


if __name__ == "__main__":
    main()
