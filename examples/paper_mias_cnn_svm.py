"""
Paper pipeline: VGG16 / InceptionV3 features + SVM on mammograms, normal versus abnormal
========================================================================================

    python examples/paper_mias_cnn_svm.py

mini-MIAS mammograms -> breast region (background, labels and markers removed) -> crop to the
breast's bounding box -> frozen ImageNet CNN features -> SVM. Evaluated with 5-fold CV grouped
by woman (the two breasts of one woman stay in one fold) and, for comparison, plain stratified
folds. Where VGG16 / InceptionV3 ImageNet weights cannot be downloaded (no internet here), the
offline EfficientNet-Lite0 stands in and the output says so.

The paper also augmented the images before splitting them at random;
``benchmarks/mias_published_recipe.py`` runs that protocol beside the leak-free one (women
grouped, training folds augmented), on whole breasts and on lesion-centred patches (the table
is in the mammography guide).

Data: Suckling J et al. The Mammographic Image Analysis Society digital mammogram database.
Exerpta Medica, International Congress Series 1069:375-378 (1994).
"""

from __future__ import annotations

import numpy as np
from _paper_common import CACHE, DATA, pretrained, table

from featbus import DeepFeatures, ImageRecord, load_mias
from featbus.evaluation import evaluate
from featbus.pipelines import make_classification_pipeline
from featbus.preprocessing.mammography import breast_mask

METRICS = (("accuracy", "accuracy", "macro"), ("sensitivity", "sensitivity", "abnormal"),
           ("AUC", "auc", "abnormal"))


def main() -> None:
    data = load_mias(DATA / "mini-mias")
    y = (data.target != list(data.target_names).index("normal")).astype(int)
    # The breast region travels as the record's mask, so region="bbox" crops every image to it.
    records = []
    for image, path in zip(data.images, data.paths):
        masked, mask = breast_mask(image)
        records.append(ImageRecord(masked, mask, path))
    print(f"mini-MIAS: {len(y)} images, {int(y.sum())} abnormal, {len(set(data.groups.tolist()))} women")
    rows, done = [], {}
    for paper_backbone in ("vgg16", "inception_v3"):
        used, note = pretrained(paper_backbone)
        print(note)
        if used not in done:
            deep = DeepFeatures(backbone=used, region="bbox", aspect="pad", cache=CACHE, progress=True)
            done[used] = deep.fit_transform(records)
        for cv in ("stratified", "duplicate-grouped"):
            rep = evaluate(make_classification_pipeline(None, classifier="svm", balance="class-weight"), done[used], y,
                           cv=cv, groups=data.groups, target_names=np.array(["normal", "abnormal"]))
            rows.append((f"{paper_backbone} [{used}]", "woman-grouped" if cv != "stratified" else cv, rep))
    table(rows, METRICS)


if __name__ == "__main__":
    main()
