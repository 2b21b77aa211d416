"""featbus.model.domain: the out-of-domain score (issue 43, item 3)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from featbus._compat import InvalidParameterError
from featbus.model.domain import MAX_COMPONENTS, DomainReference


def _low_rank(n, rng, p=60, rank=6, noise=0.2):
    """Rows of a fixed low-rank structure plus noise: what feature rows of one source look like."""
    basis = np.random.default_rng(123).normal(size=(rank, p))
    return rng.normal(size=(n, rank)) @ basis + noise * rng.normal(size=(n, p))


@pytest.mark.parametrize("method", ["mahalanobis", "knn"])
def test_in_distribution_flagged_at_about_the_quantile_rate(method):
    rng = np.random.default_rng(0)
    X, new = _low_rank(600, rng), _low_rank(3000, rng)
    ref = DomainReference(n_components=8, method=method, quantile=0.95).fit(X)
    rate = np.mean(ref.predict(new) == -1)
    assert 0.02 <= rate <= 0.10, rate  # nominal 0.05; the threshold is a quantile of 600 distances
    # the cross-fitted threshold is the quantile of the training rows' own out-of-fold distances
    assert ref.threshold_ == pytest.approx(np.quantile(ref.training_distances_, 0.95))


@pytest.mark.parametrize("method", ["mahalanobis", "knn"])
def test_far_points_are_flagged(method):
    rng = np.random.default_rng(1)
    X = _low_rank(300, rng)
    ref = DomainReference(n_components=8, method=method).fit(X)
    shifted = _low_rank(50, rng) + 3.0  # off the structure in every column
    off_axes = _low_rank(50, rng) + 2.0 * rng.normal(size=(50, 60))  # directions training never varies in
    assert np.all(ref.predict(shifted) == -1)
    assert np.mean(ref.predict(off_axes) == -1) >= 0.95
    assert np.all(ref.transform(shifted)[:, 0] > 1)


def test_cross_fitting_keeps_the_threshold_honest():
    """Training rows scored by a reference that holds them are closer than new rows: the
    threshold comes from out-of-fold distances, so new rows are not over-flagged."""
    rng = np.random.default_rng(2)
    X, new = _low_rank(200, rng, p=150, rank=20, noise=0.5), _low_rank(2000, rng, p=150, rank=20, noise=0.5)
    ref = DomainReference(n_components=32, quantile=0.95).fit(X)
    in_sample = np.quantile(ref.distance(X), 0.95)
    assert in_sample < ref.threshold_
    assert np.mean(ref.distance(new) > in_sample) > 0.10  # what an in-sample threshold would flag
    assert np.mean(ref.predict(new) == -1) < 0.10


def test_groups_stay_in_one_fold():
    """Near-duplicates in one group: each is scored by a reference fitted without its copy."""
    rng = np.random.default_rng(3)
    X = np.repeat(_low_rank(150, rng), 2, axis=0) + 1e-3 * rng.normal(size=(300, 60))
    groups = np.repeat(np.arange(150), 2)
    ref = DomainReference(n_components=8)
    folds = ref._folds(len(X), groups)
    assert len(folds) == 5
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
    assert np.sort(np.concatenate([t for _, t in folds])).tolist() == list(range(300))
    assert ref.fit(X, groups=groups).threshold_ > 0


def test_transform_scores_and_outlier_api_agree():
    rng = np.random.default_rng(4)
    X = _low_rank(200, rng)
    ref = DomainReference(n_components=8).fit(X)
    Z = np.vstack([_low_rank(20, rng), _low_rank(5, rng) + 4])
    d = ref.distance(Z)
    np.testing.assert_allclose(ref.transform(Z)[:, 0], d / ref.threshold_)
    np.testing.assert_allclose(ref.decision_function(Z), ref.threshold_ - d)
    np.testing.assert_array_equal(ref.predict(Z), np.where(d <= ref.threshold_, 1, -1))
    np.testing.assert_allclose(ref.score_samples(Z), -d)
    assert ref.get_feature_names_out().tolist() == ["out_of_domain"]


def test_clone_get_params_set_output():
    ref = DomainReference(blocks=[40, 20], n_components=4, method="knn", n_neighbors=3, quantile=0.9)
    assert clone(ref).get_params() == ref.get_params()
    rng = np.random.default_rng(5)
    X = _low_rank(100, rng)
    out = clone(ref).set_output(transform="pandas").fit(X).transform(X[:3])
    assert list(out.columns) == ["out_of_domain"] and out.shape == (3, 1)
    assert not hasattr(clone(ref.fit(X)), "threshold_")  # clone drops fitted state


def test_family_blocks_weigh_families_alike():
    """A wide family does not drown a narrow one: shifting the narrow family is seen."""
    rng = np.random.default_rng(6)
    X = np.hstack([rng.normal(size=(300, 200)), rng.normal(size=(300, 2))])
    shifted = np.hstack([rng.normal(size=(50, 200)), rng.normal(size=(50, 2)) + 5])
    with_blocks = DomainReference(blocks=[200, 2], n_components=16).fit(X)
    assert np.mean(with_blocks.predict(shifted) == -1) >= 0.9


@pytest.mark.parametrize("bad", [dict(n_components=0), dict(n_components=MAX_COMPONENTS + 1),
                                 dict(method="lof"), dict(quantile=1.0), dict(quantile=0.3), dict(n_splits=1),
                                 dict(n_neighbors=0)])
def test_parameters_are_validated_in_fit(bad):
    ref = DomainReference(**bad)  # __init__ only stores
    with pytest.raises(InvalidParameterError):
        ref.fit(np.random.default_rng(0).normal(size=(20, 5)))


def test_wrong_width_and_unfitted_are_errors():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        DomainReference().predict(np.zeros((2, 5)))
    ref = DomainReference(n_components=3).fit(np.random.default_rng(0).normal(size=(40, 5)))
    with pytest.raises(ValueError, match="features"):
        ref.predict(np.zeros((2, 6)))


def test_inconsistent_arrays_are_refused():
    """What a crafted model file could hold: arrays that disagree are an error, not a crash."""
    ref = DomainReference(n_components=3).fit(np.random.default_rng(0).normal(size=(40, 5)))
    ref._check_state()
    ref.precision_ = np.eye(4)
    with pytest.raises(ValueError, match="disagree"):
        ref.predict(np.zeros((2, 5)))


def test_round_trips_through_skops():
    """The model file's format: every type trusted without the user's say-so."""
    sio = pytest.importorskip("skops.io")
    from featbus.model.trust import audit_schema, node_trust

    rng = np.random.default_rng(7)
    X = _low_rank(120, rng)
    for method in ("mahalanobis", "knn"):
        ref = DomainReference(n_components=8, method=method, blocks=[30, 30]).fit(X)
        blob = sio.dumps(ref)
        types = audit_schema(__import__("json").loads(_schema(blob)), "test")
        untrusted = [t for t, v in types.items() if not all(node_trust(ld, t) for ld in v["loaders"])]
        assert not untrusted, untrusted
        back = sio.loads(blob, trusted=sorted(types))
        np.testing.assert_array_equal(back.predict(X), ref.predict(X))
        np.testing.assert_allclose(back.transform(X), ref.transform(X))


def _schema(blob: bytes) -> str:
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        return z.read("schema.json").decode()


# --------------------------------------------------------------------------- real data


def test_busi_reference_flags_mammograms_not_held_out_busi(busi, mias_original_root):
    """Handcrafted BUSI features: mini-MIAS mammograms flagged, few held-out BUSI images.

    A subset, so it stays short: a quarter of BUSI's near-duplicate groups held out (up to 100
    images scored), every other image of the rest for the reference, 10 mammograms, and the
    families that are cheap on a 1024 x 1024 mammogram (GLCM and intensity: about 1 s each;
    LBP takes 6 s). benchmarks/out_of_domain.py measures every image with HOG and LBP too."""
    import warnings

    from featbus import load_data
    from featbus.pipelines import family_blocks, make_features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mias = load_data(mias_original_root)
    groups = np.asarray(busi.groups)
    rng = np.random.default_rng(0)
    ids = np.unique(groups)
    held_groups = rng.choice(ids, size=len(ids) // 4, replace=False)
    held = np.flatnonzero(np.isin(groups, held_groups))[:100]
    train = np.flatnonzero(~np.isin(groups, held_groups))[::2]
    union = make_features(["glcm", "intensity"], progress=False)
    X = np.asarray(union.fit_transform([busi.data[i] for i in train]))
    blocks = family_blocks([str(c) for c in union.get_feature_names_out()])
    ref = DomainReference(blocks=blocks).fit(X, groups=groups[train])
    held_rate = np.mean(ref.predict(np.asarray(union.transform([busi.data[i] for i in held]))) == -1)
    mias_rate = np.mean(ref.predict(np.asarray(union.transform(list(mias.data)[:10]))) == -1)
    assert mias_rate >= 0.9, mias_rate
    assert held_rate <= 0.08, held_rate


# --------------------------------------------------------------------------- in a model file


@pytest.fixture(scope="module")
def phantom_model(tmp_path_factory):
    """A small handcrafted model on phantoms, saved once (its own trust list)."""
    import os

    from featbus import make_phantoms
    from featbus.workflows.training import train_model

    folder = tmp_path_factory.mktemp("domain")
    saved_env = os.environ.get("FEATBUS_TRUSTED_MODELS")
    os.environ["FEATBUS_TRUSTED_MODELS"] = str(folder / "trusted.txt")
    data = make_phantoms(40, image_size=48, random_state=0)
    model = train_model(data, "intensity,lbp", classifier="logreg", cross_validate=False, progress=False)
    path = model.save(folder / "m.featbus")
    yield model, path, data, folder
    if saved_env is None:
        os.environ.pop("FEATBUS_TRUSTED_MODELS", None)
    else:
        os.environ["FEATBUS_TRUSTED_MODELS"] = saved_env


def _odd_images():
    """Images no phantom looks like: a checkerboard and a flat bright field."""
    checker = (np.indices((48, 48)).sum(axis=0) % 2 * 255).astype(np.uint8)
    return [checker, np.full((48, 48), 250, np.uint8)]


def test_train_model_stores_a_reference_predict_table_scores(phantom_model, monkeypatch):
    from featbus.model import load_model

    model, path, data, folder = phantom_model
    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(folder / "trusted.txt"))
    assert isinstance(model.domain, DomainReference)
    entry = model.manifest["domain"]
    assert entry["n_images"] == 40 and entry["threshold"] == pytest.approx(model.domain.threshold_)
    loaded = load_model(path, warm_up=False)  # no trust needed: featbus's own class, arrays
    table = loaded.predict_table(list(data.images[:3]) + _odd_images())
    assert list(table.columns[-5:]) == ["out_of_domain", "unlike_training", "image_statistics",
                                        "out_of_domain_reason", "error"]
    # unlike the phantoms both in their image statistics and in the features: no class, and why
    assert table["predicted"].tolist()[3:] == ["out of domain"] * 2
    assert all(table["out_of_domain_reason"].iloc[3:].str.startswith("not the kind of image the model learnt from"))
    np.testing.assert_allclose(table["out_of_domain"], model.predict_table(list(data.images[:3]) + _odd_images())
                               ["out_of_domain"])
    assert table["unlike_training"].tolist()[3:] == [True, True]
    assert table["out_of_domain"].iloc[3:].min() > 1


def test_a_model_without_reference_has_no_columns_and_says_so(phantom_model, tmp_path, monkeypatch, capsys):
    from featbus.cli import main
    from featbus.model import load_model

    model, path, data, folder = phantom_model
    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(folder / "trusted.txt"))
    old = load_model(path, warm_up=False)
    old.domain = None  # as a file written before the reference (and the training images' profile) was stored
    del old.manifest["training_images"]
    old_path = old.save(tmp_path / "old.featbus")
    assert load_model(old_path, warm_up=False).domain is None
    assert "out_of_domain" not in old.predict_table(data.images[:2]).columns
    images = []
    for k, img in enumerate(list(data.images[:3]) + _odd_images()):
        from PIL import Image

        images.append(str(tmp_path / f"{k}.png"))
        Image.fromarray(np.asarray(img, np.uint8)).save(images[-1])
    assert main(["predict", str(path), *images, "-o", str(tmp_path / "p.csv")]) == 0
    captured = capsys.readouterr()
    # the two odd images get no class (said once); the count of unlike images is of the 3 given a class
    assert "2 out-of-domain image(s) got no class" in captured.err
    assert "none of the 3 images given a class looks unlike the training images" in captured.out
    assert main(["predict", str(old_path), *images[:1]]) == 0
    captured = capsys.readouterr()
    assert "no out-of-domain reference" in captured.err and "out_of_domain" not in captured.out.splitlines()[0]


def test_a_crafted_reference_is_refused_at_load(phantom_model, tmp_path, monkeypatch):
    from featbus.model import load_model

    model, path, data, folder = phantom_model
    monkeypatch.setenv("FEATBUS_TRUSTED_MODELS", str(folder / "trusted.txt"))
    crafted = load_model(path, warm_up=False)
    crafted.domain.__dict__["components_"] = crafted.domain.components_[:, :-1]  # axes one column short
    bad = crafted.save(tmp_path / "bad.featbus")
    with pytest.raises(ValueError, match="damaged.*DomainReference's arrays disagree"):
        load_model(bad, warm_up=False)
    # a reference of another width than the classifier's features: a clear error, not a crash
    crafted.domain = DomainReference(n_components=2).fit(np.random.default_rng(0).normal(size=(20, 3)))
    odd = load_model(crafted.save(tmp_path / "bad2.featbus"), warm_up=False)
    with pytest.raises(ValueError, match="features"):
        odd.predict_table(data.images[:1])
    crafted.domain = crafted.head  # not a reference at all
    with pytest.raises(ValueError, match="not a DomainReference"):
        load_model(crafted.save(tmp_path / "bad3.featbus"), warm_up=False).predict_table(data.images[:1])


def _named_count(result) -> int:
    """How many images validate's note names as not of the model's kind (0 without the note)."""
    named = [n for n in result.notes if "are not the kind of image the model learnt from" in n]
    return int(named[-1].split()[0]) if named else 0


def _kind_rule_count(model, data, out_of_domain) -> int:
    """The images the documented rule flags (kind_reasons: image statistics above their threshold and
    out_of_domain above 1), recomputed here from the images and validate's own out_of_domain."""
    from featbus.model.domain import check_images

    return sum(bool(r) for r in check_images(model, list(data.data), None, out_of_domain)["reasons"])


def test_validate_reports_how_many_external_images_look_unlike_the_training_images():
    """featbus.validate scores the external images against the model's reference from the
    features it computes anyway, and says how many look unlike the training images.

    The claim is the rule's, not a count: validate names exactly the images the kind check flags
    (both thresholds, each the 0.99 quantile of 40 training phantoms' cross-fitted distances, so
    each rests on the one or two most unusual training images), and the negatives of the phantoms
    are named where the phantoms themselves are not. (It once asked for all 20 negatives, which a
    clean environment did not give: 17.)"""
    from featbus import make_phantoms, validate
    from featbus.workflows.training import train_model

    model = train_model(make_phantoms(40, image_size=48, random_state=0), "intensity", classifier="logreg",
                        cross_validate=False, progress=False)
    assert model.domain is not None
    like = make_phantoms(20, image_size=48, random_state=1)
    same = validate(model, like, n_bootstrap=20)
    assert same.out_of_domain.shape == (20,)
    inverted = make_phantoms(20, image_size=48, random_state=1)
    inverted.data = [255 - np.asarray(im) for im in inverted.images]  # the negative: no training image looks so
    inverted.images = inverted.data
    # images unlike the phantoms in their statistics and in the features: named as not the model's kind;
    # labelled images stay in the figures (which then say how the model does on them)
    every = validate(model, inverted, n_bootstrap=20)
    assert every.out_of_domain.shape == (20,)
    named = [n for n in every.notes if "are not the kind of image the model learnt from" in n]
    assert len(named) == 1 and " of 20 images" in named[0] and "they stay in every figure" in named[0]  # said once
    assert _named_count(every) == _kind_rule_count(model, inverted, every.out_of_domain)
    assert _named_count(same) == _kind_rule_count(model, like, same.out_of_domain)
    assert _named_count(every) > 20 // 2 > _named_count(same)  # the negatives mostly named, the phantoms mostly not
    half = make_phantoms(20, image_size=48, random_state=1)
    half.data = [255 - np.asarray(im) if i % 2 else im for i, im in enumerate(half.images)]
    half.images = half.data
    other = validate(model, half, n_bootstrap=20)
    named = [n for n in other.notes if "are not the kind of image the model learnt from" in n]
    assert named and other.out_of_domain.shape == (20,) and 1 <= int(named[-1].split()[0]) < 20
    assert "unlike the training images" in other.summary() or "look" in other.summary()
    d = other.to_dict()["out_of_domain"]
    assert d["n"] == len(other.out_of_domain) and d["flagged"] == int(np.sum(other.out_of_domain > 1))


def test_image_look_is_describe_images_and_a_grey_dicom_is_not_decoded_again(tmp_path, monkeypatch):
    """``image_look`` (what ``featbus extract`` keeps of each image for the table's profile) is the image's row of
    ``describe_images``; a grey DICOM's colour is read from its header (SamplesPerPixel 1: 0), not by decoding the
    frame a second time, which would double a full-field extraction's time."""
    pytest.importorskip("pydicom")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from _mammo_builders import mammogram, mg_dataset, write_dicom

    import featbus.io
    from featbus import ImageRecord
    from featbus.model.domain import LOOK_COLUMNS, colour_of, describe_images, image_look

    path = tmp_path / "f.dcm"
    write_dicom(path, mg_dataset(mammogram(0, "L", "MLO"), patient="P", study="1.2", series="1.2.1", sop="1.2.1.1",
                                 side="L", view="MLO"))
    image = featbus.io.read_image(path)
    record = ImageRecord(image, None, str(path), {})
    look, row = image_look(record), describe_images([record])
    assert look.shape == (len(LOOK_COLUMNS),) and look[:2].tolist() == list(image.shape[:2])
    np.testing.assert_array_equal(look[3:], row["statistics"][0])
    assert look[2] == row["colour"][0] == 0.0

    def no_second_decoding(*args, **kwargs):
        raise AssertionError("the DICOM was decoded again for its colour")

    monkeypatch.setattr(featbus.io, "read_image", no_second_decoding)
    assert colour_of(record) == 0.0
