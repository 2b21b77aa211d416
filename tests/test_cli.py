"""The featbus command: --version/--help, extract, evaluate, demo, bad folders (phantom folders)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from featbus import __version__
from featbus.cli import main
from featbus.datasets import make_phantoms


@pytest.fixture(scope="module")
def phantom_dir(tmp_path_factory) -> Path:
    """A BUSI-layout folder of 36 phantoms (class folders, <name>_mask.png beside each image)."""
    root = tmp_path_factory.mktemp("phantoms")
    ph = make_phantoms(36, image_size=64, random_state=0)
    for i, (im, m, t) in enumerate(zip(ph.images, ph.masks, ph.target)):
        folder = root / str(ph.target_names[t])
        folder.mkdir(exist_ok=True)
        Image.fromarray(im).save(folder / f"case ({i}).png")
        Image.fromarray((m * 255).astype(np.uint8)).save(folder / f"case ({i})_mask.png")
    return root


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and __version__ in capsys.readouterr().out
    assert main([]) == 2
    out = capsys.readouterr().out
    for cmd in ("extract", "evaluate", "demo"):
        assert cmd in out
    for cmd in ("extract", "evaluate", "demo"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        assert "--n-jobs" in capsys.readouterr().out


def test_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "featbus", "--version"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == f"featbus {__version__}"


@pytest.mark.parametrize("suffix", [".csv", ".npz", ".parquet"])
def test_extract_formats(phantom_dir, tmp_path, suffix, capsys):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / f"features{suffix}"
    assert main(["extract", str(phantom_dir), "-f", "intensity,shape", "-o", str(out), "-q"]) == 0
    assert "36 images" in capsys.readouterr().out
    if suffix == ".npz":
        z = np.load(out)
        assert z["X"].shape[0] == 36 and len(z["feature_names"]) == z["X"].shape[1]
        assert all("case (" in p for p in z["paths"])
        return
    frame = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert list(frame.columns[:4]) == ["path", "label", "target", "group"]
    assert frame.shape[0] == 36
    assert any(c.startswith("shape__") for c in frame.columns)
    assert set(frame["label"]) == {"benign", "malignant", "normal"}


def test_extract_cache_reuses_features(phantom_dir, tmp_path):
    cache = tmp_path / "cache"
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["extract", str(phantom_dir), "-f", "intensity", "-o", str(a), "-q", "--cache", str(cache)]) == 0
    files = list(cache.glob("intensity-*.npz"))
    assert len(files) == 1
    assert main(["extract", str(phantom_dir), "-f", "intensity", "-o", str(b), "-q", "--cache", str(cache)]) == 0
    assert list(cache.glob("*.npz")) == files
    pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b))


def test_evaluate_writes_report(phantom_dir, tmp_path, capsys):
    report = tmp_path / "report"
    code = main(["evaluate", str(phantom_dir), "-f", "intensity,shape", "-c", "svm", "-b", "none,smote",
                 "--cv", "both", "--n-splits", "3", "--n-bootstrap", "50", "-q", "--report", str(report)])
    assert code == 0
    out = capsys.readouterr().out
    assert "duplicate-grouped:accuracy" in out and "stratified:accuracy" in out
    assert "auc[malignant]" in out and "best (duplicate-grouped)" in out
    for name in ("intensity,shape | svm | none", "intensity,shape | svm | smote"):
        assert name in out
    html = (report / "report.html").read_text()
    assert "Paired tests" in html and "data:image/png;base64" in html
    assert (report / "stratified.html").is_file() and (report / "summary.csv").is_file()
    assert any(p.suffix == ".png" for p in (report / "report_files").iterdir())


def test_evaluate_with_search(phantom_dir, capsys):
    assert main(["evaluate", str(phantom_dir), "-f", "shape", "-c", "logreg", "--search", "--n-splits", "3",
                 "--n-bootstrap", "0", "-q"]) == 0
    assert "| grid" in capsys.readouterr().out


def test_bad_inputs_are_clear(phantom_dir, tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing"), "-q"]) == 2
    assert "does not exist" in capsys.readouterr().err
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    assert main(["extract", str(afile), "-o", str(tmp_path / "f.csv"), "-q"]) == 2
    assert "is a file" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["evaluate", str(empty), "-q"]) == 2
    assert "error" in capsys.readouterr().err
    assert main(["extract", str(phantom_dir), "-o", str(tmp_path / "f.xlsx"), "-q"]) == 2
    assert ".parquet, .csv or .npz" in capsys.readouterr().err
    assert main(["extract", str(phantom_dir), "-f", "hgo", "-o", str(tmp_path / "f.csv"), "-q"]) == 2
    assert "unknown feature 'hgo'" in capsys.readouterr().err
    assert main(["evaluate", str(phantom_dir), "-c", "svn", "-q"]) == 2
    assert "unknown classifier" in capsys.readouterr().err
    assert main(["evaluate", str(phantom_dir), "-b", "smot", "-q"]) == 2
    assert "unknown balance" in capsys.readouterr().err
    one = tmp_path / "one"
    (one / "benign").mkdir(parents=True)
    Image.fromarray(np.full((32, 32), 9, np.uint8)).save(one / "benign" / "a.png")
    assert main(["evaluate", str(one), "-q"]) == 2
    assert "single class" in capsys.readouterr().err


def test_demo_on_phantoms(tmp_path, capsys):
    assert main(["demo", "--n-samples", "30", "--image-size", "64", "--n-bootstrap", "50", "-q",
                 "--report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "synthetic ultrasound phantoms" in out and "macro" in out and "done in" in out
    assert (tmp_path / "demo.html").is_file()


def test_demo_on_a_folder(phantom_dir, capsys):
    assert main(["demo", "--data", str(phantom_dir), "-f", "intensity,shape", "--n-bootstrap", "20", "-q"]) == 0
    assert "36 images" in capsys.readouterr().out


def test_extract_cache_sees_every_parameter(tmp_path):
    """Two extractors with the same repr but different parameters never share a cache entry
    (a changed default is invisible in repr)."""
    from featbus._base import BaseFeatureExtractor
    from featbus.cli import extract_features
    from featbus.datasets import make_phantoms

    class Scaled(BaseFeatureExtractor):
        def __init__(self, k=1.0):
            self.k = k

        def __repr__(self):
            return "Scaled()"

        def _fit_features(self, items):
            return ["scaled.mean"]

        def _features(self, image, mask):
            return [self.k * image.mean()]

    data = make_phantoms(3, image_size=32, random_state=0)
    a, _ = extract_features(data, [("s", Scaled(1.0))], cache=tmp_path, progress=False)
    b, _ = extract_features(data, [("s", Scaled(2.0))], cache=tmp_path, progress=False)
    assert np.allclose(b, 2 * a)
    c, _ = extract_features(data, [("s", Scaled(2.0))], cache=tmp_path, progress=False)
    assert np.array_equal(b, c) and len(list(tmp_path.glob("s-*.npz"))) == 2
