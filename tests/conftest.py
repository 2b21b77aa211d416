"""Shared fixtures: paths to the real data sets (tests skip cleanly when they are absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The data live beside the repository (../shared/data); FEATBUS_DATA overrides for other layouts.
DATA = Path(os.environ.get("FEATBUS_DATA", REPO.parent / "shared" / "data"))
BUSI = DATA / "busi" / "Dataset_BUSI_with_GT"
MIAS = DATA / "mini-mias"
MIAS_ORIGINAL = DATA / "mini-mias-original"
BUS_BRA = DATA / "bus-bra"


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


@pytest.fixture(autouse=True)
def _fresh_feature_store():
    """Each test starts with an empty in-process feature store (and no cache folder from the
    environment), so a row computed by one test never answers another test's transform."""
    from featbus.extraction import clear_memory

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
