"""
Paper pipeline: MobileNet / VGG16 / InceptionV3 ImageNet features + SVM on BUSI, three classes
==============================================================================================

    python examples/paper_busi_cnn_comparison.py

Frozen ImageNet CNN features (global-average-pooled last convolutional block, as in the papers
that compare these backbones on BUSI) -> standardisation -> RBF SVM, judged by 5-fold CV twice:
with plain stratified folds (what the papers report) and with near-duplicate-grouped folds
(featbus's default). Where a backbone's ImageNet weights cannot be downloaded (this machine has
no internet), the offline EfficientNet-Lite0 stands in, in one row named for what it is, and
the backbones it stands for say "not run". The five published pipelines, each with its
paper's figure, are the other ``paper_*.py`` examples (``benchmarks/published_pipelines.py``).

Data: Al-Dhabyani W et al. Dataset of breast ultrasound images. Data in Brief 28:104863 (2020).
"""

# sphinx_gallery_thumbnail_path = "_static/gallery/paper_busi_cnn_comparison.png"

from __future__ import annotations

from _paper_common import DATA, deep_matrix, pretrained, table

from featbus import load_busi
from featbus.evaluation import evaluate
from featbus.pipelines import make_classification_pipeline


def main() -> None:
    data = load_busi(DATA / "busi")
    print(f"BUSI: {len(data.target)} images, {len(set(data.groups.tolist()))} near-duplicate groups")
    runs: dict[str, list[str]] = {}  # backbone run -> the paper backbones it stands for
    for paper_backbone in ("mobilenet", "vgg16", "inception_v3"):
        used, note = pretrained(paper_backbone)
        print(note)
        runs.setdefault(used, []).append(paper_backbone)
    rows, missing = [], []
    for used, papers in runs.items():  # a stand-in shared by several backbones: one row, named so
        label = used if papers == [used] else f"{used} (stand-in for {', '.join(papers)})"
        missing += [p for p in papers if p != used]
        X = deep_matrix(data, used, layers="output" if used != "efficientnet_lite0" else None)
        for cv in ("stratified", "duplicate-grouped"):
            rep = evaluate(make_classification_pipeline(None, classifier="svm"), X, data.target, cv=cv,
                           groups=data.groups, target_names=data.target_names)
            rows.append((label, cv, rep))
    table(rows)
    for p in missing:
        print(f"{p}: not run: ImageNet weights unavailable on this machine")
    print("95% CIs: bootstrap over near-duplicate groups. 'stratified' rows are inflated by copies of "
          "one lesion on both sides of a split.")


if __name__ == "__main__":
    main()
