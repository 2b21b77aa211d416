"""Training on several sites (issue 42, item 2): featbus.combine_sites, and ``featbus train`` /
``featbus evaluate`` given several DATA, on a small BUSI subset (a CSV manifest) and a small
BUS-BRA subset (its own layout, patients as groups)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import BUSI

from featbus import combine_sites, load_data, make_phantoms
from featbus.cli import main


@pytest.fixture(scope="module")
def busi_manifest(tmp_path_factory) -> Path:
    """20 BUSI images per class, listed in a CSV manifest (no group column: near-duplicates grouped)."""
    if not BUSI.is_dir():
        pytest.skip(f"BUSI data not found at {BUSI}")
    root = tmp_path_factory.mktemp("busi-site")
    rows = []
    for cls in ("benign", "malignant", "normal"):
        images = sorted(p for p in (BUSI / cls).glob("*.png") if "_mask" not in p.name)[:20]
        for p in images:
            rows.append({"image": str(p), "label": cls})
    path = root / "busi.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def busbra_subset(tmp_path_factory, make_bus_bra_subset) -> Path:
    """About 40 BUS-BRA images of 24 patients (both classes) in the BUS-BRA layout."""
    return make_bus_bra_subset(tmp_path_factory.mktemp("sites") / "bus-bra", 14, 10)[0]


def test_combine_sites_unites_labels_groups_and_sites(busi_manifest, busbra_subset):
    a, b = load_data(busi_manifest), load_data(busbra_subset)
    both = combine_sites([a, b])
    assert both.target_names.tolist() == ["benign", "malignant", "normal"]
    n_a, n_b = len(a.target), len(b.target)
    assert n_a == 60 and 30 <= n_b <= 60
    for key in ("images", "masks", "paths", "data", "target", "groups", "sites", "group_ids"):
        assert len(both[key]) == n_a + n_b, key
    assert both.site_names == ["busi", "bus-bra"]  # the manifest's stem, the folder's name
    assert both.sites.tolist() == ["busi"] * n_a + ["bus-bra"] * n_b
    assert [r.meta["site"] for r in both.data] == both.sites.tolist()
    # re-indexed by name: every image keeps its class
    assert both.target_names[both.target[:n_a]].tolist() == a.target_names[a.target].tolist()
    assert both.target_names[both.target[n_a:]].tolist() == b.target_names[b.target].tolist()
    # groups disjoint across sites, and a site's grouping unchanged (a patient stays whole)
    assert not set(both.groups[:n_a]) & set(both.groups[n_a:])
    for orig, new in ((a.groups, both.groups[:n_a]), (b.groups, both.groups[n_a:])):
        assert len(set(zip(orig.tolist(), new.tolist()))) == len(set(orig.tolist())) == len(set(new.tolist()))
    assert both.site_classes["bus-bra"] == ["benign", "malignant"]
    assert "2 sites" in both.DESCR
    assert "site" not in a.data[0].meta  # the inputs are not changed


def test_combine_sites_site_column_and_bad_input(tmp_path):
    ph = make_phantoms(6, image_size=32, random_state=0)
    for k, rec in enumerate(ph.data):  # a manifest's 'site' column lands in meta
        rec.meta["site"] = "north" if k < 3 else "south"
    both = combine_sites([ph, make_phantoms(4, image_size=32, random_state=1)], names=["x", "y"])
    assert both.sites.tolist() == ["north"] * 3 + ["south"] * 3 + ["y"] * 4
    assert both.site_names == ["north", "south", "y"]
    with pytest.raises(ValueError, match="given twice"):
        combine_sites([ph, ph], names=["x", "x"])
    with pytest.raises(ValueError, match="one name per data set"):
        combine_sites([ph], names=["x", "y"])
    with pytest.raises(ValueError, match="at least one"):
        combine_sites([])


def test_train_on_two_sites(busi_manifest, busbra_subset, tmp_path, capsys):
    out = tmp_path / "m.featbus"
    code = main(["train", str(busi_manifest), str(busbra_subset), "-f", "intensity", "-c", "logreg",
                 "-o", str(out), "--n-bootstrap", "50"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert out.is_file()
    line = next(x for x in captured.err.splitlines() if x.startswith("training on 2 sites"))
    assert line.startswith("training on 2 sites: busi (60 images, 3 classes), bus-bra (")
    assert line.endswith(" images, 2 classes; no normal)")
    assert "other hospitals:" not in captured.out  # trained on two sites: no one-site note
    from featbus import load_model

    assert load_model(out).classes_.tolist() == ["benign", "malignant", "normal"]


def test_evaluate_on_two_sites_prints_leave_one_site_out(busi_manifest, busbra_subset, capsys):
    code = main(["evaluate", str(busi_manifest), str(busbra_subset), "-f", "intensity", "-c", "logreg",
                 "--n-bootstrap", "50", "--n-splits", "3"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "evaluating on 2 sites: busi (60 images, 3 classes)" in captured.err
    out = captured.out
    assert "leave one site out (intensity | logreg | none" in out
    held = [x for x in out.splitlines() if " held out (" in x]
    assert len(held) == 2 and held[0].lstrip().startswith("busi held out (60 images; trained on bus-bra")
    assert "AUC[malignant]" in held[0] and "AUC[malignant]" in held[1]
    assert "the other sites have no normal" in held[0]  # BUSI's normal images cannot be called normal
    assert "no normal here" in held[1]  # BUS-BRA lacks the class: figures over its own two


def test_one_data_unchanged_and_same_data_twice(busi_manifest, capsys):
    args = ["evaluate", str(busi_manifest), "-f", "intensity", "-c", "logreg", "--n-bootstrap", "20",
            "--n-splits", "3"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "sites" not in captured.err and "leave one site out" not in captured.out
    assert "60 images, classes {'benign': 20, 'malignant': 20, 'normal': 20}" in captured.err
    code = main(["evaluate", str(busi_manifest), str(busi_manifest), "-f", "intensity", "-c", "logreg"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "is given twice" in err[0], err


def test_combine_sites_takes_subsets_that_carry_only_records():
    # a subset cut by hand (records, target, groups) has no images/masks/paths lists: the records hold them
    from sklearn.utils import Bunch

    a, b = make_phantoms(8, image_size=32, random_state=0), make_phantoms(6, image_size=32, random_state=1)
    cut = Bunch(data=a.data[:5], target=a.target[:5], target_names=a.target_names, groups=a.groups[:5])
    both = combine_sites([cut, b], names=["a", "b"])
    assert len(both.target) == 11 and both.sites.tolist() == ["a"] * 5 + ["b"] * 6
    assert all(im is rec.image for im, rec in zip(both.images[:5], cut.data))
    assert both.target_names[both.target].tolist() == (a.target_names[a.target[:5]].tolist()
                                                       + b.target_names[b.target].tolist())


@pytest.mark.slow  # trains on a site and judges every other
def test_a_model_of_one_site_says_its_figures_stop_there(busi_manifest, tmp_path, capsys):
    out = tmp_path / "one site.featbus"
    assert main(["train", str(busi_manifest), "-f", "intensity", "-c", "logreg", "-o", str(out),
                 "--n-bootstrap", "20"]) == 0
    note = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("other hospitals:"))
    assert f"featbus validate '{out}' SITE_DATA" in note and "featbus train DATA1 DATA2" in note


def test_train_site_flags(busi_manifest, busbra_subset, tmp_path, capsys):
    out = tmp_path / "m.featbus"
    code = main(["train", str(busi_manifest), str(busbra_subset), "-f", "intensity", "-c", "logreg", "-o", str(out),
                 "--n-bootstrap", "20", "--site-balance", "--site-cv", "no"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    from featbus import load_model

    manifest = load_model(out).manifest
    assert "site_cv" not in manifest and manifest["recipe"]["site_balance"]["sites"] == {"busi": 0.5, "bus-bra": 0.5}
    code = main(["train", str(busi_manifest), "-f", "intensity", "-c", "logreg", "-o", str(tmp_path / "x.featbus"),
                 "--site-balance"])
    err = capsys.readouterr().err.strip().splitlines()
    errors = [x for x in err if "error" in x]
    assert code != 0 and errors == [err[-1]] and "at least 2 sites" in err[-1]
    assert not any("Traceback" in x for x in err)


def test_combined_sites_name_where_their_groups_came_from():
    """Sites whose tables name patients keep that name once united (not 'duplicate-grouped'); a site
    whose groups featbus formed is named so beside them."""
    from featbus.model_selection import grouping_name

    a, b, c = (make_phantoms(6, image_size=24, random_state=k) for k in range(3))
    a.groups_from, b.groups_from = "patients: the 'Case' column of a.csv", "patients: the 'ID' column of b.csv"
    both = combine_sites([a, b], ["a", "b"])
    assert grouping_name(both.groups_from) == ("patient-grouped (from each site's own (a: the 'Case' column of "
                                               "a.csv; b: the 'ID' column of b.csv))")
    mixed = combine_sites([a, c], ["a", "c"])
    assert mixed.groups_from == ("each site's own groups (a: the 'Case' column of a.csv; "
                                 "c: near-duplicate groups featbus formed)")
    assert getattr(combine_sites([c, make_phantoms(4, image_size=24, random_state=5)], ["c", "d"]),
                   "groups_from", None) is None
