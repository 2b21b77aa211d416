"""The HTML report's page (issue 45 "Reports", issue 46 TP/TN/FP/FN): a table of contents with
anchors, figures stored once (inline), file-name captions in the gallery, paired-test headers in
words, the counts per class, and a layout that uses the width."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from featbus.datasets import make_phantoms
from featbus.evaluation.report import compare, evaluate, write_study_report
from featbus.evaluation.reporting import PAIRED_TEST_HEADERS, gallery_html, write_html


@pytest.fixture(scope="module")
def study():
    data = make_phantoms(36, image_size=32, random_state=0)
    data.paths = [f"/very/long/absolute/folder/of/the/study/{data.target_names[t]}/case_{i:03d}.png"
                  for i, t in enumerate(data.target)]
    X = np.array([[im.mean(), im.std(), np.percentile(im, 10)] for im in data.images], dtype=float)
    kw = dict(cv="stratified", n_splits=3, n_bootstrap=20, random_state=0, target_names=data.target_names)
    reports = [evaluate(LogisticRegression(max_iter=500), X, data.target, name="lr", **kw),
               evaluate(DummyClassifier(), X, data.target, name="dummy", **kw)]
    return data, reports


@pytest.fixture(scope="module")
def page(study, tmp_path_factory):
    data, reports = study
    folder = tmp_path_factory.mktemp("report")
    path = write_study_report({"stratified": reports}, data, folder / "report.html", feature_label="stats",
                              n_features=3, header={"featbus": "test"}, source="phantoms")
    return folder, path.read_text()


def test_table_of_contents_links_every_section(page):
    _, text = page
    ids = re.findall(r'<h2 id="([^"]+)"', text)
    assert len(re.findall(r"<h2\b", text)) == len(ids) >= 6  # every section has an anchor
    assert len(set(ids)) == len(ids)
    toc = re.search(r'<nav class="toc"[^>]*>(.*?)</nav>', text, re.S)
    assert toc and text.index("<nav") < text.index("Verdict:")  # at the top, above the verdicts
    assert re.findall(r'href="#([^"]+)"', toc.group(1)) == ids
    for heading in ("Comparison", "Paired tests", "How this report was made", "Misclassified images",
                    "Intensity per class", "lr", "dummy"):
        assert f">{heading}" in toc.group(1)


def test_every_figure_stored_once_inline(page):
    folder, text = page
    assert sorted(p.name for p in folder.iterdir()) == ["report.html", "summary.csv"]  # no report_files/
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', text)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    # comparison (2) + intensity (1) + per report ROC, confusion, per class (2 x 3); the rest are thumbnails
    figures = re.findall(r'<div class="figs">(.*?)</div>', text, re.S)
    assert sum(f.count("<img") for f in figures) == 2 + 1 + 6


def test_gallery_captions_are_file_names_with_the_path_on_hover(study, page):
    data, reports = study
    _, text = page
    gallery = text[text.index("<h2 id=\"s-misclassified"):text.index("<h2 id=\"s-intensity")]
    wrong = np.flatnonzero(reports[0].y_true != reports[0].y_pred)
    assert len(wrong)
    for i in wrong:
        full, name = data.paths[i], data.paths[i].rsplit("/", 1)[1]
        assert f'title="{full}"' in gallery and f"<code>{name}</code>" in gallery
    assert "/very/long/absolute/folder/of/the/study</code>" in gallery  # the common folder, said once
    assert not re.search(r"<code>[^<]*/very/long[^<]*\.png</code>", gallery)
    assert "word-break" not in gallery


def test_gallery_without_paths_names_the_index():
    data = make_phantoms(6, image_size=16, random_state=0)
    X = np.zeros((6, 1))
    rep = evaluate(DummyClassifier(), X, data.target, cv="stratified", n_splits=2, n_bootstrap=0)
    assert "<code>#" in gallery_html(rep, data.images)


def test_paired_test_headers_in_words(study, tmp_path):
    _, reports = study
    table = compare(reports, n_bootstrap=20)
    assert set(table.columns) <= set(PAIRED_TEST_HEADERS)
    text = write_html(reports, tmp_path / "r.html", comparison=table).read_text()
    section = text[text.index("<h2 id=\"s-paired-tests"):]
    for shown in PAIRED_TEST_HEADERS.values():
        assert f"<th>{shown}</th>" in section
    for raw in ("a_value", "b_value", "p_corrected_t", "p_bootstrap", "p_mcnemar", "diff_low"):
        assert raw not in text
    assert PAIRED_TEST_HEADERS["p_corrected_t"] == "p (corrected t-test)"
    assert PAIRED_TEST_HEADERS["a_value"] == "score A"


def test_counts_per_class_on_the_page(study, tmp_path):
    _, reports = study
    text = write_html(reports[:1], tmp_path / "r.html").read_text()
    counts = reports[0].confusion_counts()
    assert "<th>TP</th><th>FN</th><th>FP</th><th>TN</th>" in text
    for name, (tp, fn, fp, tn) in zip(counts.index, counts.to_numpy()):
        assert f"<tr><td><b>{name}</b></td><td>{tp}</td><td>{fn}</td><td>{fp}</td><td>{tn}</td></tr>" in text


def test_layout_uses_the_width(study, tmp_path):
    _, reports = study
    text = write_html(reports[:1], tmp_path / "r.html").read_text()
    css = text[text.index("<style>"):text.index("</style>")]
    assert "max-width:1400px" in css and "grid-template-columns" in css and "max-width:90ch" in css
    assert 'name="viewport"' in text
    assert text.count("<h2") == 1 and "<nav" not in text  # a single section needs no contents


def test_app_boxplot_legend_below_the_boxes():
    """The app's intensity boxplots (issue 45): the legend sits below the axes, covering no box."""
    from types import SimpleNamespace

    from featbus.deploy.app import _intensity_figure

    rng = np.random.RandomState(0)
    stats = {c: {k: {"values": rng.uniform(0.2, 0.8, 30).tolist()} for k in ("mean", "std")}
             for c in ("benign", "malignant", "normal")}
    fig = _intensity_figure(SimpleNamespace(manifest={"intensity": stats}), rng.uniform(size=(16, 16)))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert len(fig.legends) == 1 and not any(ax.get_legend() for ax in fig.axes)
    legend = fig.legends[0].get_window_extent(renderer)
    for ax in fig.axes:
        box = ax.get_tightbbox(renderer)  # the axes with their tick labels and x label
        assert legend.y1 <= box.y0 + 1  # wholly below
    assert legend.y0 >= 0  # and on the figure


def test_a_long_roc_title_wraps_inside_the_figure(study):
    """A patient-grouped export's protocol ("... from the 'Patient ID' column of Image_Labels.csv") made
    the ROC title run off both sides of the report's figure."""
    import matplotlib.pyplot as plt

    from featbus.evaluation.reporting import plot_roc

    long = "ROC, patient-grouped 5-fold (from the 'Patient ID' column of Image_Labels.csv)"
    fig, ax = plt.subplots()
    try:
        plot_roc(study[1][0], ax=ax, title=long)
        assert all(len(line) <= 48 for line in ax.get_title().splitlines())
        assert ax.get_title().replace("\n", " ") == long
    finally:
        plt.close(fig)
