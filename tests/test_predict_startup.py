"""A cold ``featbus predict MODEL IMAGE`` imports what the model's own parts need and nothing else
(issue 59): an image file is taken as given, and a folder or manifest is read by the release reader
(featbus.datasets' reader modules, the same as featbus read and train use) without the data-set loaders
or the pixel reading (and through them scikit-learn's validation helpers and scipy.stats); a
frozen-feature model needs no network library. Each check runs in a fresh process and lists the
modules it imported."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from featbus.datasets import make_phantoms
from featbus.workflows.training import train_model

#: featbus.datasets' loaders and pixel reading: a command that reads no labels lists its data with the
#: release reader alone (featbus.datasets is a lazy package: importing the reader imports none of these)
LOADERS = ("load", "folders", "_release_bunch", "mias", "busi", "bus_bra", "breast_lesions_usg", "export",
           "patches", "phantoms", "sample", "site_tables", "conflicts")
#: Never imported by the predict path of a frozen-feature (handcrafted) model. (OpenCV is: the check of
#: what kind of image each one is reads its statistics at 256 px, shrunk by OpenCV's area resize, as the
#: model file's training-image profile was made.)
ABSENT = (*(f"featbus.datasets.{m}" for m in LOADERS), "featbus.pipelines.make", "featbus.pipelines.recipes",
          "featbus.deploy.explain", "featbus.evaluation.reporting", "featbus.deploy.plotting",
          "tensorflow", "keras", "torch", "jax", "matplotlib", "skimage")


def _modules_after(code: str, tmp_path) -> set[str]:
    """The modules a fresh process holds after running ``code``."""
    out = tmp_path / "modules.json"
    code += f"\nimport json, sys\nopen({str(out)!r}, 'w').write(json.dumps(sorted(sys.modules)))\n"
    env_code = "import os\nos.environ['FEATBUS_TRUSTED_MODELS'] = " + repr(str(tmp_path / "trusted.txt")) + "\n"
    subprocess.run([sys.executable, "-c", env_code + code], capture_output=True, text=True, check=True, timeout=300)
    return set(json.loads(out.read_text()))


@pytest.fixture(scope="module")
def model_and_images(tmp_path_factory):
    """A small LBP + logistic-regression model file, one image file and a folder of two images."""
    root = tmp_path_factory.mktemp("predict_startup")
    phantoms = make_phantoms(30, image_size=48, random_state=0)
    model = train_model(phantoms, "lbp", classifier="logreg", cross_validate=False, progress=False)
    path = root / "lbp.featbus"
    model.save(path)
    folder = root / "images"
    folder.mkdir()
    for i, record in enumerate(phantoms.data[:3]):
        pixels = np.asarray(record.image, dtype=float)
        pixels = (255 * (pixels - pixels.min()) / max(np.ptp(pixels), 1e-9)).astype(np.uint8)
        Image.fromarray(pixels).save(root / "one.png" if i == 0 else folder / f"img{i}.png")
    return path, root / "one.png", folder


def _is_heavy(name: str) -> bool:
    return any(name == h or name.startswith(h + ".") for h in ABSENT)


def test_cold_predict_imports_no_data_set_loader(model_and_images, tmp_path):
    model, image, folder = model_and_images
    cli = _modules_after(f"from featbus.cli import main\nassert main(['predict', {str(model)!r}, {str(image)!r}, "
                         f"{str(folder)!r}, '-o', {str(tmp_path / 'p.csv')!r}]) == 0", tmp_path)
    assert "featbus.model" in cli and (tmp_path / "p.csv").is_file()
    assert sorted(m for m in cli if _is_heavy(m)) == []
    # by hand: the model's own parts, loaded and run without the command
    by_hand = _modules_after(f"from featbus.model import load_model\n"
                             f"load_model({str(model)!r}).predict_table([{str(image)!r}])", tmp_path)
    # the command adds its own modules, argparse's and CSV writing's, the release reader that reads the
    # folder and the layout words it reads (a module of constants), and nothing the model does not need
    extra = sorted(m for m in cli - by_hand
                   if not m.startswith(("featbus.cli", "featbus.vocabulary", "featbus.datasets", "pandas.io.formats"))
                   and m.split(".")[0] not in sys.stdlib_module_names)
    assert extra == []
    assert "featbus.datasets.given" in cli  # the folder went through the reader


def test_cold_predict_of_an_image_file_imports_no_reader(model_and_images, tmp_path):
    """An image file given as it is: no listing, so not even the release reader is imported."""
    model, image, _ = model_and_images
    cli = _modules_after(f"from featbus.cli import main\nassert main(['predict', {str(model)!r}, {str(image)!r}, "
                         f"'-o', {str(tmp_path / 'p.csv')!r}]) == 0", tmp_path)
    assert (tmp_path / "p.csv").is_file() and sorted(m for m in cli if m.startswith("featbus.datasets")) == []
