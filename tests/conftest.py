"""Shared fixtures: paths to the real data sets (tests skip cleanly when they are absent).

The quick run, ``python -m pytest -m "not slow"``, leaves out the tests marked ``slow`` (the
marker is registered in pyproject.toml); ``python -m pytest`` runs everything. A test is slow
when its file says so (``pytestmark = pytest.mark.slow``: the files that train or build networks,
build the docs, start a server or a cluster, or run the commands on real data), when it is
decorated ``@pytest.mark.slow``, or, marked here (:func:`pytest_collection_modifyitems`), when it
uses one of :data:`SLOW_FIXTURES` (the real data sets in ``../shared/data``, the shared trained
networks) or is a doctest of :data:`SLOW_DOCTEST_MODULES` (they train networks).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest

from featbus import get_data_home

#: No "auto" progress in the tests (featbus.progress.PROGRESS_ENV), in this process and the commands it
#: starts: a log's stage lines ("loading m.featbus: started", "ended after 1s") are written only when
#: work takes over a second, so what a command writes would depend on how busy the machine is. The
#: tests of the display itself ask for it back (:func:`progress_shown`).
os.environ["FEATBUS_PROGRESS"] = "0"


def _approx_without_none(expected, *args, **kwargs):
    """:func:`pytest.approx`, refusing ``None`` (alone, as a mapping's value or a sequence's item) on every
    pytest: pytest 9.2 raises TypeError there while older ones compare it with ``==``, so a test that passed
    here failed on a fresh install. A test compares a missing value with ``is None`` instead."""
    values = expected.values() if isinstance(expected, dict) else \
        expected if isinstance(expected, (list, tuple)) else [expected]
    if any(v is None for v in values):
        raise TypeError(f"pytest.approx({expected!r}): None is no number to compare approximately; "
                        "assert `is None` for a missing value")
    return _pytest_approx(expected, *args, **kwargs)


_pytest_approx = pytest.approx
pytest.approx = _approx_without_none  # the test modules, imported after this file, call it as pytest.approx

REPO = Path(__file__).resolve().parents[1]
# The data: $FEATBUS_DATA, else ../shared/data beside the repository (featbus.get_data_home decides).
DATA = get_data_home()
BUSI = DATA / "busi" / "Dataset_BUSI_with_GT"
MIAS = DATA / "mini-mias"
MIAS_ORIGINAL = DATA / "mini-mias-original"
BUS_BRA = DATA / "bus-bra"


def stderr_lines(err: str) -> list[str]:
    """A command's stderr lines without the paragraph every command prints on reading DATA
    (``read 'DATA': N images; ...``, :meth:`featbus.datasets.ReleaseSummary.text`): what a
    one-line error test counts; nor the line on the scale the model sees them at (``frames brought
    to 320 px ...``, :func:`featbus.model.scale.scale_words`); nor the runtime that runs the networks,
    said once per process (``featbus: runtime: LiteRT ...``, :func:`featbus.model.runtime.say_runtime`)."""
    said = ("read '", "frames brought to ", "frames seen at their stored size", "featbus: runtime: ")
    return [ln for ln in err.strip().splitlines() if ln.strip() and not ln.startswith(said)]


def sigint_as_a_terminal_gives_it() -> None:
    """A child process's ``preexec_fn``: SIGINT at its default, as a terminal's foreground job has it, so
    the child's Python turns Ctrl-C into ``KeyboardInterrupt``. A shell starts a background job (``pytest
    &``, CI under ``nohup``) with SIGINT ignored, every child inherits that, and Python then keeps it
    ignored: a test that sends SIGINT would see it lost whatever featbus does."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def repo_script(relative: str, name: str | None = None):
    """A script of the repository (``benchmarks/NAME.py``, ``scripts/NAME.py``) loaded as a module,
    under ``name`` (default: the file's stem); scripts are not part of the package."""
    import importlib.util

    path = REPO / relative
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: A test that uses one of these fixtures (itself or through another fixture) is marked ``slow``:
#: they read the real data sets or train a network.
SLOW_FIXTURES = frozenset({"busi_root", "busi", "mias_root", "mias_original_root", "make_bus_bra_subset",
                           "phantom_unet", "phantom_ensemble"})


#: Modules whose doctests train networks (their doctests are marked ``slow``).
SLOW_DOCTEST_MODULES = ("featbus.features.finetune",)


def pytest_collection_modifyitems(config, items):
    """Mark ``slow`` every test that uses one of :data:`SLOW_FIXTURES`, and the doctests of
    :data:`SLOW_DOCTEST_MODULES`."""
    for item in items:
        doctest_of = item.name if type(item).__name__ == "DoctestItem" else ""
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())) or any(
                doctest_of == m or doctest_of.startswith(m + ".") for m in SLOW_DOCTEST_MODULES):
            item.add_marker(pytest.mark.slow)


#: ``FEATBUS_TEST_COMPILED=1`` runs every test with TensorFlow's functions compiled (see below).
COMPILED_ONLY = os.environ.get("FEATBUS_TEST_COMPILED") == "1"


def _tensorflow():
    """TensorFlow when it is the Keras backend here (imported as featbus imports it), else None."""
    from featbus.networks.backend import keras_module, wanted_backend

    if wanted_backend() != "tensorflow":
        return None
    try:
        keras_module()
    except ImportError:
        return None
    return sys.modules.get("tensorflow")


def pytest_configure(config):
    """TensorFlow's functions run eagerly in a process that runs tests (an xdist worker, or pytest
    without workers), except where a test or fixture asks for them compiled (:func:`compiled`).

    The tests' networks are tiny and train for a few steps: tracing a training step or a forward
    (the graph TensorFlow builds the first time) costs seconds, more than those steps run eagerly
    (``test_paper_examples.py::test_custom_cnn_and_unet``: 119 s compiled, 33 s eagerly, measured
    side by side in one process). A training of many steps runs faster compiled: its test or
    fixture says ``compiled``. Outside the tests (the commands, the examples, the tests' own
    subprocesses) TensorFlow always compiles, and ``tests/test_retracing.py``,
    ``tests/test_training.py`` and ``tests/test_backends.py`` test that path;
    ``FEATBUS_TEST_COMPILED=1`` runs every test compiled."""
    controller = getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput")
    tf = None if COMPILED_ONLY or controller else _tensorflow()
    if tf is not None:
        tf.config.run_functions_eagerly(True)


@contextlib.contextmanager
def compiled():
    """TensorFlow's functions compiled (traced) inside the block, as outside the tests: for a
    fixture that trains for many steps (a test says ``@pytest.mark.compiled``)."""
    tf = sys.modules.get("tensorflow")
    was = tf.config.functions_run_eagerly() if tf is not None else None
    if tf is not None:
        tf.config.run_functions_eagerly(False)
    try:
        yield
    finally:
        if tf is not None:
            tf.config.run_functions_eagerly(was)


def _compiled_if_marked(request):
    return compiled() if request.node.get_closest_marker("compiled") else contextlib.nullcontext()


@pytest.fixture(autouse=True, scope="module")
def _compiled_file(request):
    """A file marked ``compiled`` (``pytestmark``) runs compiled, its module fixtures included."""
    with _compiled_if_marked(request):
        yield


@pytest.fixture(autouse=True)
def _compiled_test(request):
    with _compiled_if_marked(request):
        yield


@pytest.fixture(autouse=True, scope="module")
def _fresh_keras_state():
    """Keras's global state cleared after each test file (``keras.utils.clear_session``: the
    layer-name counters and, on TensorFlow, the default graph and the kernel cache), so that a file's
    networks do not slow the files after it. Keras is not imported for a file that did not."""
    yield
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.utils.clear_session(free_memory=True)


@pytest.fixture
def progress_shown(monkeypatch):
    """``"auto"`` progress shown as outside the tests (``FEATBUS_PROGRESS`` unset): for the tests of the
    display itself."""
    monkeypatch.delenv("FEATBUS_PROGRESS", raising=False)


@pytest.fixture(scope="session")
def busi_root() -> Path:
    if not BUSI.is_dir():
        pytest.skip(f"BUSI data not found at {BUSI}")
    return BUSI


@pytest.fixture(scope="session")
def mias_root() -> Path:
    if not (MIAS / "Info.txt").is_file():
        pytest.skip(f"mini-MIAS data not found at {MIAS}")
    return MIAS


@pytest.fixture(scope="session")
def mias_original_root() -> Path:
    """The untouched mini-MIAS images (muscle intact) with approximate muscle references."""
    if not (MIAS_ORIGINAL / "Info.txt").is_file() or not (MIAS_ORIGINAL / "pectoral").is_dir():
        pytest.skip(f"original mini-MIAS data not found at {MIAS_ORIGINAL}")
    return MIAS_ORIGINAL


@pytest.fixture(scope="session")
def busi(busi_root):
    """BUSI (625 images with masks and near-duplicate groups) loaded once per test run and shared
    by every test that reads the whole data set: read it, never change it."""
    from featbus import load_busi

    return load_busi(busi_root)


#: The shared U-Net's training phantoms and settings: a narrow scratch encoder at 64 px.
UNET_PHANTOMS = dict(n_samples=48, image_size=64, random_state=0)
UNET_SMALL = dict(backbone="scratch", input_size=64, width=0.5, batch_size=8, learning_rate=3e-3, random_state=0,
                  progress=False)


@pytest.fixture(scope="session")
def phantom_unet():
    """One small U-Net trained once per test run on 48 phantoms (``UNET_PHANTOMS``; 25 epochs at
    most, early stopping on a tenth of them): it finds the phantoms' lesions (Dice above 0.7 on
    held-out ones, test_segmentation). Shared by the tests that need a trained U-Net: read it,
    never refit or change it."""
    pytest.importorskip("keras")
    from featbus import UNetSegmenter, make_phantoms

    train = make_phantoms(**UNET_PHANTOMS)
    # records carry their masks; y = class labels (what a Pipeline passes) is ignored
    with compiled():  # ~130 steps: faster compiled
        return UNetSegmenter(epochs=25, validation_fraction=0.1, patience=8, **UNET_SMALL).fit(train.data,
                                                                                              train.target)


#: The shared network model's training phantoms.
ENSEMBLE_PHANTOMS = dict(n_samples=30, image_size=48, random_state=3)


@pytest.fixture(scope="session")
def phantom_ensemble():
    """A network model trained once per test run: two tiny fine-tuned EfficientNet-Lite0 networks
    (random start, 32 px, one warm-up and one fine-tuning epoch, mirror TTA) averaged, trained by
    ``train_model`` on 30 phantoms (``ENSEMBLE_PHANTOMS``) and judged on its validation split.
    Shared by the tests of network model files (round trips, runtime, export, backends): read it,
    never change it."""
    pytest.importorskip("keras")
    from featbus import make_phantoms
    from featbus.features.finetune import FineTunedCNN, FineTunedEnsemble
    from featbus.workflows.training import train_model

    net = FineTunedCNN(weights=None, input_size=32, epochs=1, warmup_epochs=1, batch_size=8, progress=False,
                       validation_fraction=0.25, random_state=0, tta=True)
    return train_model(make_phantoms(**ENSEMBLE_PHANTOMS), network=FineTunedEnsemble(net, n_members=2, random_state=0),
                       n_bootstrap=50, progress=False)


@pytest.fixture(autouse=True)
def _fresh_feature_store():
    """Each test starts with an empty in-process feature store (and no cache folder from the
    environment), so a row computed by one test never answers another test's transform."""
    from featbus.compute.extraction import clear_memory

    saved = os.environ.pop("FEATBUS_CACHE", None)
    clear_memory()
    yield
    clear_memory()
    if saved is not None:
        os.environ["FEATBUS_CACHE"] = saved


@pytest.fixture(scope="session")
def make_bus_bra_subset():
    """A function writing a BUS-BRA subset in BUS-BRA's layout: the first ``n_benign`` benign and
    ``n_malignant`` malignant patients (``Case``), every image of theirs, with their masks when
    ``masks``, and their rows of ``bus_data.csv``; returns ``(root, patients)``. Skips without
    the data."""
    import shutil

    import pandas as pd

    def make(root: Path, n_benign: int, n_malignant: int, *, masks: bool = True) -> tuple[Path, int]:
        if not (BUS_BRA / "bus_data.csv").is_file():
            pytest.skip(f"BUS-BRA data not found at {BUS_BRA}")
        table = pd.read_csv(BUS_BRA / "bus_data.csv")
        cases = table.groupby("Case")["Pathology"].first()
        chosen = list(cases[cases == "benign"].index[:n_benign]) + list(cases[cases == "malignant"].index[:n_malignant])
        rows = table[table["Case"].isin(chosen)]
        root.mkdir(parents=True, exist_ok=True)
        for _, row in rows.iterrows():
            folder = root / row["Pathology"]
            folder.mkdir(exist_ok=True)
            for name in [f"{row['ID']}.png"] + ([f"{row['ID']}_mask.png"] if masks else []):
                shutil.copy(BUS_BRA / row["Pathology"] / name, folder / name)
        rows.to_csv(root / "bus_data.csv", index=False)
        return root, len(chosen)

    return make
