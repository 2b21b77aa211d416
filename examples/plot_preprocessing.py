"""
Preprocessing: contrast, speckle, lesion crop, pectoral muscle
==============================================================

Image-to-image steps are transformers too, so they sit at the head of a pipeline. Records keep
their masks through them: a crop cuts the mask along, a resize resizes it.
"""

import matplotlib.pyplot as plt

from featbus import CLAHE, ImageRecord, PectoralMuscleRemover, ROICropper, SpeckleDenoise, make_phantoms
from featbus.preprocessing.mammography import make_mammogram_phantom

data = make_phantoms(3, image_size=128, weights=[1, 0, 0], random_state=3)
record = data.data[0]

steps = {
    "original": [record],
    "CLAHE": CLAHE(clip_limit=2.0).fit_transform([record]),
    "speckle denoise (median 5)": SpeckleDenoise(method="median", size=5).fit_transform([record]),
    "ROI crop (margin 15 %)": ROICropper(source="mask", margin=0.15).fit_transform([record]),
}
fig, axes = plt.subplots(1, 4, figsize=(11, 3))
for ax, (title, out) in zip(axes, steps.items()):
    ax.imshow(out[0].image, cmap="gray")
    if out[0].mask is not None and out[0].mask.any():
        ax.contour(out[0].mask, levels=[0.5], colors="tab:orange", linewidths=1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
fig.tight_layout()
print("crop box (top, bottom, left, right):", steps["ROI crop (margin 15 %)"][0].meta["roi_box"])

# %%
# Mammograms: the pectoral muscle (bright triangle at the chest wall) is found and replaced
# by background; images are flipped so that the chest wall is on the left.
image, truth = make_mammogram_phantom((256, 256), side="right", seed=1)
out = PectoralMuscleRemover(orientation="left").fit_transform([ImageRecord(image)])[0]
print({k: out.meta[k] for k in ["chest_wall", "flipped", "pectoral_found"]})

fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
axes[0].imshow(image, cmap="gray")
axes[0].set_title("input (chest wall right)", fontsize=9)
axes[1].imshow(out.image, cmap="gray")
axes[1].contour(out.meta["pectoral_mask"], levels=[0.5], colors="tab:red", linewidths=1)
axes[1].set_title("muscle removed, flipped", fontsize=9)
axes[2].imshow(out.meta["pectoral_mask"], cmap="gray")
axes[2].set_title("removed region", fontsize=9)
for ax in axes:
    ax.axis("off")
fig.tight_layout()
