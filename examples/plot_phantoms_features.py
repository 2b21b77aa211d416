"""
Phantoms, masks and lesion texture
==================================

:func:`featbus.make_phantoms` draws ultrasound-like images (layered tissue, speckle) with a
benign (smooth oval, wider than tall), a malignant (irregular, spiculated, taller than wide)
or no lesion, and their exact masks. Texture measured inside the lesion mask separates the
classes; texture of the whole image hardly does.
"""

import matplotlib.pyplot as plt
import numpy as np

from featbus import LBPFeatures, ShapeFeatures, make_phantoms

data = make_phantoms(60, image_size=96, random_state=0)
print(data.DESCR)

# %%
# Two images of each class, with the lesion outline
fig, axes = plt.subplots(2, 3, figsize=(7.5, 5))
for col, name in enumerate(data.target_names):
    idx = np.flatnonzero(data.target == col)[:2]
    for row, i in enumerate(idx):
        ax = axes[row, col]
        ax.imshow(data.images[i], cmap="gray")
        if data.masks[i].any():
            ax.contour(data.masks[i], levels=[0.5], colors="tab:orange", linewidths=1)
        ax.set_title(name if row == 0 else "")
        ax.axis("off")
fig.tight_layout()

# %%
# Uniform LBP histograms (radius 1, 8 points: 10 bins), averaged per class, for the whole
# image and for the lesion's pixels only
fig, axes = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
for ax, region in zip(axes, ["image", "mask"]):
    lbp = LBPFeatures(radii=(1,), region=region)
    X = lbp.fit_transform(data.data)
    for k, name in enumerate(data.target_names):
        ax.plot(X[data.target == k].mean(axis=0), marker="o", label=name)
    ax.set_title(f"region={region!r}")
    ax.set_xlabel("LBP bin")
axes[0].set_ylabel("mean frequency")
axes[1].legend()
fig.tight_layout()

# %%
# Shape features use only the mask: malignant phantoms are taller than wide
shape = ShapeFeatures().set_output(transform="pandas")
S = shape.fit_transform(data.data)
S["class"] = data.target_names[data.target]
print(S.groupby("class")[["shape.taller_than_wide", "shape.circularity", "shape.solidity"]].mean().round(2))
