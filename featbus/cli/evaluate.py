"""``featbus evaluate DATA``: cross-validate classifier x balance pipelines on the same
duplicate-grouped folds; a table with intervals and an HTML report."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .._registry import reads_masks
from .._version import __version__
from ..datasets import subset
from ..evaluation.sanity import strict_status
from ..pipelines.make import (
    extract_features,
    family_blocks,
    make_classification_pipeline,
    make_classifier,
    make_features,
    make_sampler,
    param_grid,
)
from ..pipelines.settings import SETTINGS_SUFFIX
from ._common import (
    CLIError,
    _check_writable,
    _log_data,
    _one_line,
    _progress,
    _refuse_existing,
    _refuse_input,
    _refuse_input_in,
    _split,
)
from ._data import (
    _DATA_HELP,
    _check_n_splits,
    _data_paths,
    _label_conflicts,
    _load_sites,
    _load_study,
    _manifest_split,
    _mask_note,
    _preprocessing_steps,
)
from ._options import (
    _CLASSIFIER_NAMES,
    _EVALUATE_FEATURES,
    _SAMPLER_NAMES,
    _apply_settings,
    _apply_weights,
    _check_features,
    _features_of,
    _write_settings,
    add_n_bootstrap,
    add_n_splits,
    add_overwrite,
    add_positive,
    add_report,
    add_search,
    add_strict,
    add_test_fraction,
)

__all__ = ["add_parser", "run"]

log = logging.getLogger("featbus")


def add_parser(sub, parents) -> None:
    p = sub.add_parser("evaluate", parents=[parents.jobs, parents.quiet, parents.seed, parents.on_error,
                                            parents.dicom, parents.base,
                                            parents.features(f"default {_EVALUATE_FEATURES}"),
                                            parents.weights, parents.study],
                       help="cross-validate classifiers (with/without balancing) and write a report",
                       description="Extract features once, then cross-validate every classifier x balance "
                                   "combination on the same duplicate-grouped folds; print a table with "
                                   "bootstrap 95% intervals and write an HTML report with plots.")
    p.add_argument("data_dir", metavar="DATA", nargs="+",
                   help=_DATA_HELP + "; several: one site each, united (classes by name, groups per site), and "
                        "a leave-one-site-out figure; or one feature table featbus extract wrote (.parquet, .csv, "
                        ".npz: its labels and groups)")
    p.add_argument("--classifiers", "--classifier", "-c", dest="classifier", default="svm", metavar="LIST",
                   help=f"a comma-separated LIST of classifiers to compare (e.g. -c svm,rf,knn): {_CLASSIFIER_NAMES} "
                        "(default svm). featbus train -c takes one name")
    p.add_argument("--balances", "--balance", "-b", dest="balance", default="none", metavar="LIST",
                   help=f"a comma-separated LIST of samplers to compare: none, {_SAMPLER_NAMES} (default none); "
                        "'none,smote' compares both. featbus train -b takes one name")
    p.add_argument("--cv", choices=["duplicate-grouped", "stratified", "both"], default="duplicate-grouped",
                   help="fold scheme: near-duplicates kept in one fold (default), plain stratified "
                        "(leaky on BUSI), or both side by side")
    add_n_splits(p, 5, "number of folds (default 5)")
    add_n_bootstrap(p)
    add_search(p, "tune each pipeline with featbus.pipelines.param_grid in the training folds (nested CV)")
    add_positive(p, None, "class whose one-vs-rest AUC gets its own column (default: malignant, or abnormal, "
                          "when the data have it)")
    add_report(p, "write report.html (with the other CV scheme's and the test set's pages, summary.csv and "
                  "features.settings.json) into DIR; a DIR that already holds files is refused unless --overwrite. "
                  "The page embeds thumbnails of the misclassified images (patients' images; --no-images leaves "
                  "them out); paths are shown relative to DATA_DIR")
    p.add_argument("--no-images", dest="report_images", action="store_false",
                   default=os.environ.get("FEATBUS_REPORT_IMAGES", "1").strip() != "0",
                   help="--report without image thumbnails (default from the environment variable "
                        "FEATBUS_REPORT_IMAGES: 0 leaves them out)")
    add_overwrite(p, "DIR", help="write --report into a folder that already holds files: the files an earlier report "
                                 "wrote there (report.html, test.html, the CV pages, summary.csv, "
                                 "features.settings.json, report_files/) are deleted first, so none of its figures or "
                                 "tables stay beside the new ones; any other file is left where it is (and named)")
    p.add_argument("--test", metavar="TEST_DATA", default=None,
                   help="external test set (same classes, any DATA layout): every pipeline is fitted on DATA and "
                        "scored once on it, with group-bootstrap intervals")
    add_test_fraction(p, "hold out about F of DATA's near-duplicate groups as the test set instead")
    add_strict(p, "the best pipeline, on the folds and on the test set when there is one (everything is printed "
                  "and written first)")
    p.set_defaults(func=run)
    from ._table import image_options

    # a feature table takes the pipelines' options; the others read images (or are not yet for a table)
    _TABLE_REFUSES.update(image_options(p, {"classifier", "balance", "cv", "n_splits", "search", "positive",
                                            "report", "test", "test_fraction", "report_images"}))


#: ``{dest: (flag, default)}`` of the options a feature table refuses (filled by add_parser).
_TABLE_REFUSES: dict = {}


#: what ``featbus evaluate --report`` writes beside its page (featbus.evaluation.report.write_study_report), and
#: ``report_files/``, the figure folder of earlier featbus versions: the files --overwrite may delete
_REPORT_FILES = ("report.html", "test.html", "duplicate-grouped.html", "stratified.html", "summary.csv",
                 "features.settings.json")
_REPORT_FOLDERS = ("report_files",)


def _report_parts(report: Path) -> tuple[Path, list[Path], list[Path]]:
    """The folder of a --report target, the old report files in it, and its other entries."""
    page = report.suffix.lower() in (".html", ".htm")
    folder = report.parent if page else report
    if not folder.is_dir():
        return folder, [], []
    own = set(_REPORT_FILES) | set(_REPORT_FOLDERS) | ({report.name} if page else set())
    entries = sorted(folder.iterdir())
    return folder, [e for e in entries if e.name in own], [e for e in entries if e.name not in own]


def _check_report_target(report: Path, overwrite: bool) -> None:
    """--report into a folder that holds files (or onto a page that exists) needs --overwrite:
    an earlier report's figures and tables must not stay beside the new ones unnoticed."""
    folder, old, other = _report_parts(report)
    page = report.suffix.lower() in (".html", ".htm")
    clash = old if page else old + other
    if clash:
        what = ", ".join(e.name for e in clash[:4]) + (" ..." if len(clash) > 4 else "")
        _refuse_existing(folder, overwrite, f"--report {str(report)!r}:", taken=[f"files ({what})"],
                         replace="the earlier report's files (other files are left as they are), or give a new folder")


def _clear_old_report(report: Path) -> None:
    """--overwrite: delete the files an earlier report wrote into the --report folder (only
    those: _REPORT_FILES, _REPORT_FOLDERS), and say which other files stay."""
    folder, old, other = _report_parts(report)
    for entry in old:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    if old:
        log.info("--overwrite: deleted the earlier report's %s in %s", ", ".join(e.name for e in old), folder)
    if other and report.suffix.lower() not in (".html", ".htm"):
        names = ", ".join(e.name for e in other[:6]) + (" ..." if len(other) > 6 else "")
        print(f"--report {folder}: kept {len(other)} file(s) featbus did not write ({names})", file=sys.stderr)


def _evaluate_all(data, X, names, *, feature_label, classifiers, balances, cvs, n_splits, n_bootstrap,
                  search, random_state, n_jobs, progress):
    """Reports of every classifier x balance, on the same folds, for each cv."""
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

    from ..evaluation.report import evaluate
    from ..model_selection import grouping_name, resolve_groups

    reports: dict[str, list] = {}
    groups = resolve_groups(data.data, data.groups)  # featbus's one grouping policy
    blocks = family_blocks(names)
    groups_from = getattr(data, "groups_from", None) if data.groups is not None else None
    for cv in cvs:
        # the table, the verdict line and the page name the folds as they are: an export's
        # 'Patient ID' column makes them patient-grouped, not merely duplicate-grouped
        label = grouping_name(groups_from).split(" (")[0] if cv == "duplicate-grouped" else cv
        reports[label] = []
        for clf in classifiers:
            for bal in balances:
                # the matrix holds one block per extractor: join them as the library's pipelines
                # do (every family the same total variance), not as one flat block
                pipe = make_classification_pipeline(None, balance=bal, classifier=clf, blocks=blocks,
                                                    random_state=random_state)
                est = pipe
                if search:
                    grid = param_grid(pipe)
                    if grid:  # inner folds grouped too: duplicates never straddle them
                        est = GridSearchCV(pipe, grid, scoring="accuracy", n_jobs=n_jobs,
                                           cv=StratifiedGroupKFold(3, shuffle=True, random_state=random_state))
                name = f"{feature_label} | {clf} | {bal or 'none'}" + (" | grid" if search else "")
                t0 = time.perf_counter()
                try:
                    rep = evaluate(est, X, data.target, cv=cv, n_splits=n_splits, groups=groups,
                                   n_bootstrap=n_bootstrap, random_state=random_state,
                                   n_jobs=None if search else n_jobs, name=name,
                                   target_names=data.target_names,
                                   groups_from=groups_from)
                except ValueError as exc:  # e.g. fewer duplicate groups than folds
                    raise CLIError(f"{label} cross-validation of {name!r}: {_one_line(exc)}") from exc
                reports[label].append(rep)
                if progress:
                    from ..evaluation.render import report_line

                    print(f"  [{label}] {report_line(rep)} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return reports


def _table_text(reports_by_cv: dict, positive: str | None) -> str:
    """Side-by-side table: one row per pipeline (:func:`featbus.evaluation.render.reports_table`)."""
    from ..evaluation.render import reports_table

    return reports_table(reports_by_cv, positive)


def _positive_class(args, data) -> str | None:
    """The class of --positive (refused, naming the classes, when the data lack it); by default
    'malignant' or 'abnormal' when the data have it, else none."""
    names = data.target_names.tolist()
    if args.positive is not None:
        if args.positive not in names:
            raise CLIError(f"--positive {args.positive!r} is not a class of {args.data_dir!r}; its classes are {names}")
        return args.positive
    return next((c for c in ("malignant", "abnormal") if c in names), None)


def run(args) -> int:
    from ._table import given_table

    if given_table(args, "evaluate"):
        return _run_table(args)
    paths = _data_paths(args)
    _apply_settings(args, _EVALUATE_FEATURES)
    _check_features(args.features, args.debug)
    _apply_weights(args)
    if args.test and args.test_fraction:
        raise CLIError("give --test (an external folder) or --test-fraction (held-out groups), not both")
    _preprocessing_steps(args.preprocess)
    if args.report:
        report = Path(args.report)
        inputs = [*paths, *([args.test] if args.test else [])]
        page = report.suffix.lower() in (".html", ".htm")
        if page:
            _refuse_input(report, inputs, "--report")
        # what is written, or cleared by --overwrite, in the report's folder: never one of the data's files
        _refuse_input_in(report.parent if page else report, [*_REPORT_FILES, *_REPORT_FOLDERS], inputs, "--report")
        _check_writable(report, "--report", folder=report.suffix.lower() not in (".html", ".htm"))
        _check_report_target(report, args.overwrite)
    data = _load_study(args) if len(paths) == 1 else _load_sites(paths, lambda p: _load_study(args, p), "evaluating")
    data = _label_conflicts(data, "the cross-validation", source=paths[0] if len(paths) == 1 else None)
    _log_data(data, ", ".join(paths))
    data, test_data, test_label = _test_set(data, args)
    _positive_class(args, data)  # a misspelt class fails now, before the extraction
    progress = _progress(args)
    classifiers, balances = _split(args.classifier), [None if b.lower() == "none" else b for b in _split(args.balance)]
    cvs = ["duplicate-grouped", "stratified"] if args.cv == "both" else [args.cv]
    if not classifiers:
        raise CLIError("--classifier is empty")
    # fail fast on typos, before the long feature extraction

    _check_n_splits(data, args.n_splits)
    _check_pipelines(classifiers, balances)
    counts = {str(n): int(np.sum(data.target == i)) for i, n in enumerate(data.target_names)}
    print(f"{len(data.target)} images, classes {counts}; features {args.features}", file=sys.stderr)
    X, names = extract_features(data, _features_of(args), region=args.region, n_jobs=args.n_jobs,
                                cache=args.cache, progress=_progress(args))
    log.info("extracted %d x %d features (%s); cross-validating %s x balance %s", X.shape[0], X.shape[1],
             args.features, ",".join(classifiers), ",".join(str(b).lower() for b in balances))
    reports = _evaluate_all(data, X, names, feature_label=args.features, classifiers=classifiers,
                            balances=balances, cvs=cvs, n_splits=args.n_splits, n_bootstrap=args.n_bootstrap,
                            search=args.search, random_state=args.random_state, n_jobs=args.n_jobs,
                            progress=progress)
    _warn_never_predicted(reports[list(reports)[0]])
    external = []
    if test_data is not None:
        X_test, _ = extract_features(test_data, _features_of(args), region=args.region, n_jobs=args.n_jobs,
                                     cache=args.cache, progress=progress)
        external = _evaluate_test(data, X, names, test_data, X_test, classifiers, balances, args, test_label)
        _warn_never_predicted(external)
    return _say_reports(args, reports, data, X.shape[1], external, test_data, test_label, X=X, names=names,
                        classifiers=classifiers, balances=balances)


def _say_reports(args, reports: dict, data, n_features: int, external: list, test_data, test_label, *, X=None,
                 names=None, classifiers=(), balances=(), table_leak: dict | None = None, table=None,
                 feature_label: str | None = None) -> int:
    """The table of every pipeline, the verdicts, the best one, the notes, leave-one-site-out, the test set and
    the report: the end of every evaluation (images or a feature table)."""
    cvs = list(reports)  # as the folds are named: "patient-grouped" where a table gave the patients
    positive = _positive_class(args, data)
    print(f"\n{n_features} features; {args.n_splits}-fold CV; values with bootstrap 95% CI; "
          f"macro averages (accuracy: overall)")
    # evaluate judges pipelines, which store no operating point: say which decisions its figures are
    # of, since featbus train judges the same pipeline at the point it stores and can answer otherwise
    print("decisions: each image's most probable class (no operating point; featbus train chooses one and "
          "judges the decisions made there, so its accuracy and verdict can differ from these)")
    print(_table_text(reports, positive))
    main_cv = cvs[0]
    if len(reports[main_cv]) > 1:
        print(f"\nverdicts ({main_cv}):")
        for rep in reports[main_cv]:
            print(f"  {rep.name}: {rep.sanity.line()}")
    best = max(reports[main_cv], key=lambda r: r.value("accuracy"))
    optimistic = (" -- chosen on the same folds that score it, so its score is OPTIMISTIC"
                  + ("; its test-set score below is not" if external else
                     "; --test DIR or --test-fraction F gives an unbiased one") if len(reports[main_cv]) > 1 else "")
    print(f"\nbest ({main_cv}): {best.name}{optimistic}")
    print(best.summary())
    note = (_mask_note(_split(args.features), args.region, real_data=True) if table_leak is None else
            (f"{len(table_leak['columns'])} columns (first {table_leak['columns'][0]!r}, "
             + ("marked 'label_leak' by featbus extract" if table_leak.get("recorded", True) else
                "of a family that reads a lesion mask")
             + f"): {table_leak.get('why') or 'they come from the ground-truth lesion masks'}"
             if table_leak.get("columns") else None))
    if note:
        print(f"\n{note}")
    sites = _sites_of(data) if table_leak is None else []
    if len(set(sites)) >= 2:
        i = reports[main_cv].index(best)
        print("\n" + _leave_one_site_out(data, X, names, sites, best.name, classifiers[i // len(balances)],
                                         balances[i % len(balances)], positive, args,
                                         extractors=make_features(_features_of(args), region=args.region)))
    if external:
        print(f"\n{test_label}: {len(test_data.target)} images never used for fitting or choosing; "
              "group-bootstrap 95% CI")
        print(_table_text({"test": external}, positive))
        best_test = next(r for r in external if r.name == best.name)
        print(best_test.sanity.summary(prefix=f"verdict on the {test_label} ({best.name})"))
    if args.report:
        _write_report(args, reports, data, n_features, test_data, test_label, external, table=table,
                      feature_label=feature_label)
    judged = {f"{best.name} ({main_cv})": best.sanity}
    if external:
        judged[f"{best.name} ({test_label})"] = best_test.sanity
    return strict_status(judged, args.strict, "evaluate")


def _run_table(args) -> int:
    """``featbus evaluate TABLE``: the pipelines cross-validated on a feature table's rows (featbus extract's,
    perhaps from a cluster), on folds that keep its groups whole, printed as for images."""
    from ._table import as_data, read_table, refuse_image_options, table_lines

    refuse_image_options(args, _TABLE_REFUSES, "evaluate")
    if args.test:
        raise CLIError("--test is a folder of images, and DATA a feature table: extract the test images to a table of "
                       "their own and score a model trained on this one on it (featbus train TABLE, then featbus "
                       "validate MODEL TEST_TABLE), or hold out groups of this table with --test-fraction F")
    if args.report:
        report = Path(args.report)
        page = report.suffix.lower() in (".html", ".htm")
        if page:
            _refuse_input(report, args.data_dir, "--report")
        _refuse_input_in(report.parent if page else report, [*_REPORT_FILES, *_REPORT_FOLDERS], args.data_dir,
                         "--report")
        _check_writable(report, "--report", folder=not page)
        _check_report_target(report, args.overwrite)
    classifiers, balances = _split(args.classifier), [None if b.lower() == "none" else b for b in _split(args.balance)]
    if not classifiers:
        raise CLIError("--classifier is empty")
    _check_pipelines(classifiers, balances)
    table = read_table(args.data_dir[0])
    for line in table_lines(table):
        print(line, file=sys.stderr)
    data = as_data(table)
    test_data, test_label = None, ""
    if args.test_fraction:  # whole groups of the table's rows held out, as of a data set's images
        from ..model_selection import holdout_split

        try:
            train, test = holdout_split(data.target, data.groups, args.test_fraction, args.random_state)
        except ValueError as exc:
            raise CLIError(_one_line(exc)) from exc
        data, test_data = subset(data, train), subset(data, test)
        test_label = f"held-out test set ({args.test_fraction:g} of the groups)"
    _positive_class(args, data)
    _check_n_splits(data, args.n_splits)
    cvs = ["duplicate-grouped", "stratified"] if args.cv == "both" else [args.cv]
    label = ",".join((table.recipe["settings"].get("features") or {}) if table.recipe else ["table"])
    reports = _evaluate_all(data, data.data, table.feature_names, feature_label=label, classifiers=classifiers,
                            balances=balances, cvs=cvs, n_splits=args.n_splits, n_bootstrap=args.n_bootstrap,
                            search=args.search, random_state=args.random_state, n_jobs=args.n_jobs,
                            progress=_progress(args))
    _warn_never_predicted(reports[list(reports)[0]])
    external = []
    if test_data is not None:
        external = _evaluate_test(data, data.data, table.feature_names, test_data, test_data.data, classifiers,
                                  balances, args, test_label, feature_label=label)
        _warn_never_predicted(external)
    return _say_reports(args, reports, data, table.X.shape[1], external, test_data, test_label, table_leak=table.leak,
                        table=table, feature_label=label)


def _check_pipelines(classifiers: list[str], balances: list) -> None:
    """Refuse an unknown classifier or balance name (before the long feature extraction)."""
    for c in classifiers:
        try:
            make_classifier(c)
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
    for b in balances:
        try:
            make_sampler(b)
        except ValueError as exc:
            raise CLIError(str(exc)) from exc


def _write_report(args, reports: dict, data, n_features: int, test_data, test_label: str, external: list, *,
                  table=None, feature_label: str | None = None) -> None:
    """Write the study's HTML report (--report) and the settings file of its features beside it (a feature
    table's rows: its recipe's settings, where it records them; no gallery or intensities, whose pixels
    stayed where the table was made)."""
    from ..evaluation.report import write_study_report
    from ..io import written_whole

    out = Path(args.report)
    page = out.suffix.lower() in (".html", ".htm")
    folder = out.parent if page else out
    # written beside, then moved in: the report whole, or nothing of it (an error, Ctrl-C, SIGTERM)
    with written_whole(folder) as tmp:
        html_path = tmp / (out.name if page else "report.html")
        settings = None if table is None else (table.recipe or {}).get("settings")
        path = write_study_report(
            reports, data, html_path, feature_label=feature_label or args.features, n_features=n_features,
            region=args.region if table is None else (settings or {}).get("region"),
            preprocessing=([n for n, _ in _preprocessing_steps(args.preprocess)] if args.preprocess else None)
            if table is None else ((settings or {}).get("preprocess") or None),
            masks_used=reads_masks(_split(args.features), args.region) if table is None else bool(
                table.leak.get("columns")),
            header=_report_header(args, data, test_data, test_label, table=table),
            source=args.data_dir if table is None else str(table.path),
            external=external or None, test_data=test_data, test_label=test_label,
            images=args.report_images and table is None)
        # the settings of the features every pipeline was scored on, as a settings file
        if table is None:
            _write_settings(args, make_features(_features_of(args), region=args.region),
                            html_path.with_name("features" + SETTINGS_SUFFIX), data)
        elif settings is not None:
            from ..io import write_file

            write_file(html_path.with_name("features" + SETTINGS_SUFFIX), json.dumps(settings, indent=2) + "\n")
        if args.overwrite:  # the earlier report's files, cleared only once the new one is ready to move in
            _clear_old_report(out)
    print(f"\nreport: {(folder / Path(path).relative_to(tmp)).resolve()}")


def _sites_of(data) -> list[str]:
    """Each image's site (``meta['site']``, as :func:`featbus.evaluation.sites.combine_sites` sets it);
    empty when the data set is one site."""
    if getattr(data, "sites", None) is None:
        return []
    return [str((rec.meta or {}).get("site", "")) for rec in data.data]


def _leave_one_site_out(data, X, names, sites, label, classifier, balance, positive, args, extractors=None) -> str:
    """The lines of the leave-one-site-out figure: the pipeline ``label`` trained on the other
    sites and tested on each (:func:`featbus.evaluation.sites.leave_one_site_out`, the one path that
    ``featbus train`` stores in a model file too), intervals over each site's groups. A held-out
    site whose images trained a shipped part of ``extractors`` (the breast-us backbone) is no
    unseen site: its line says so and it is left out of any verdict, as in ``featbus train``
    (:func:`featbus.evaluation.sites.mark_seen_sites`)."""
    from ..evaluation.sites import leave_one_site_out

    pipe = make_classification_pipeline(None, balance=balance, classifier=classifier, blocks=family_blocks(names),
                                        random_state=args.random_state)
    try:
        result = leave_one_site_out(pipe, X, data.target, np.asarray(sites), groups=data.groups, positive=positive,
                                    n_bootstrap=args.n_bootstrap, random_state=args.random_state,
                                    n_jobs=args.n_jobs, name=label, target_names=data.target_names)
    except ValueError as exc:
        raise CLIError(f"leave-one-site-out of {label!r}: {_one_line(exc)}") from exc
    _mark_seen_sites(result, extractors, data, sites, {
        "features": args.features, "classifier": str(classifier), "region": args.region, "balance": balance,
        "preprocessing": [n for n, _ in _preprocessing_steps(args.preprocess)] if args.preprocess else None,
        "site_balance": False, "segmenter": None})
    return result.summary()


def _mark_seen_sites(result, extractors, data, sites, recipe) -> None:
    """Mark the held-out sites a trained part of ``extractors`` saw (the shipped backbones' cards,
    a backbone file's card; :func:`featbus.model.provenance.trained_on`), decided per image by
    fingerprint; the images are fingerprinted only when some part lists its training images."""
    from ..evaluation.sites import mark_seen_sites
    from ..model.provenance import fingerprints, trained_on

    if extractors is None:
        return
    sources = [(who, prints) for who, prints in trained_on(extractors) if who.startswith("the backbone")]
    if sources:
        mark_seen_sites(result, sources, fingerprints(data.data), sites, recipe)


def _test_set(data, args):
    """(training data, test data or None, label) from --test / --test-fraction, or the ``test``
    rows of a CSV manifest's ``split`` column."""
    fixed = _manifest_split(data, args, "--test / --test-fraction")
    if fixed is not None:
        train, test = fixed
        return subset(data, train), subset(data, test), f"test rows of the manifest ({test.size} images)"
    if args.test:
        test = _load_study(args, args.test)
        unknown = sorted(set(test.target_names.tolist()) - set(data.target_names.tolist()))
        if unknown:
            raise CLIError(f"--test {args.test!r} has class folder(s) {unknown} that {args.data_dir!r} lacks "
                           f"(training classes: {data.target_names.tolist()})")
        return data, test, f"external test set {args.test}"
    if args.test_fraction:
        from ..model_selection import holdout_split

        try:
            train, test = holdout_split(data.target, data.groups, args.test_fraction, args.random_state)
        except ValueError as exc:
            raise CLIError(_one_line(exc)) from exc
        return subset(data, train), subset(data, test), f"held-out test set ({args.test_fraction:g} of the groups)"
    return data, None, ""


def _warn_never_predicted(reports) -> None:
    from ..evaluation.report import never_predicted

    for rep in reports:
        missing = never_predicted(rep)
        if missing:
            warnings.warn(f"{rep.name} ({rep.cv}) never predicts class(es) {missing}: its accuracy hides that "
                          "these classes are always wrong", UserWarning, stacklevel=2)


def _evaluate_test(data, X, names, test, X_test, classifiers, balances, args, label, feature_label=None):
    """Each pipeline fitted on all training images, scored once on the test set (``feature_label``: the
    features as the cross-validation named them, where they are not ``--features``: a table's recipe)."""
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

    from ..evaluation.report import evaluate_external

    index = {n: i for i, n in enumerate(data.target_names.tolist())}
    y_test = np.array([index[test.target_names[t]] for t in test.target])
    out = []
    for clf in classifiers:
        for bal in balances:
            pipe = make_classification_pipeline(None, balance=bal, classifier=clf, blocks=family_blocks(names),
                                                random_state=args.random_state)
            name = (f"{feature_label or args.features} | {clf} | {bal or 'none'}"
                    + (" | grid" if args.search else ""))
            grid = param_grid(pipe) if args.search else {}
            if grid:
                est = GridSearchCV(pipe, grid, scoring="accuracy", n_jobs=args.n_jobs,
                                   cv=StratifiedGroupKFold(3, shuffle=True, random_state=args.random_state))
                est.fit(X, data.target, groups=data.groups)
            else:
                est = pipe.fit(X, data.target)
            out.append(evaluate_external(est, X_test, y_test, groups=test.groups, n_bootstrap=args.n_bootstrap,
                                         random_state=args.random_state, name=name,
                                         target_names=data.target_names))
    return out


def _fold_names(cv: str, data) -> str:
    """``--cv`` as the folds are: "patient-grouped" where the data's table named the patients."""
    from ..model_selection import grouping_name

    grouped = grouping_name(getattr(data, "groups_from", None) if data.groups is not None else None).split(" (")[0]
    return {"duplicate-grouped": grouped, "both": f"{grouped} and stratified"}.get(cv, cv)


def _report_header(args, data, test, test_label, table=None) -> dict:
    """Version, command, seed, date, data and every extractor setting (a feature table's: as its recipe
    records them, or its columns), for the report's header."""
    settings = {}
    if table is None:
        union = make_features(_features_of(args), region=args.region)
        for name, est in union.transformer_list:
            params = {k: v for k, v in est.get_params(deep=False).items() if k not in ("n_jobs", "progress", "cache")}
            settings[name] = f"{type(est).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in params.items()) + ")"
    elif table.recipe is not None:
        for name, entry in (table.recipe["settings"].get("features") or {}).items():
            settings[name] = json.dumps(entry, sort_keys=True)
    else:
        settings["table"] = f"{len(table.feature_names)} columns of {table.path.name} (no recipe: {table.no_recipe})"
    counts = {str(n): int(np.sum(data.target == i)) for i, n in enumerate(data.target_names)}
    info = {"featbus": __version__,
            "command": "featbus " + " ".join(sys.argv[1:] if args.argv is None else args.argv),
            "seed (--random-state)": args.random_state,
            "date (UTC)": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
            "training data": f"{args.data_dir}: {len(data.target)} images {counts}, "
                             f"{np.unique(data.groups).size} groups ("
                             + (str(data.groups_from) if getattr(data, "groups_from", None) else
                                "near-duplicates, or one woman's or patient's images")
                             + ": each group stays in one fold)",
            "cross-validation": f"{_fold_names(args.cv, data)}, {args.n_splits} folds, "
                                f"{args.n_bootstrap} bootstrap resamples",
            "classifiers x balance": f"{args.classifier} x {args.balance}"
                                     + (" (nested grid search)" if args.search else ""),
            "extractors": settings}
    if getattr(args, "patches", None):
        info["lesion patches"] = f"{args.patches} x {args.patches} px around each lesion centre (breast centre if none)"
    if getattr(args, "preprocess", None):
        info["preprocessing"] = " -> ".join(n for n, _ in _preprocessing_steps(args.preprocess))
    if test is not None:
        info["test data"] = f"{test_label}: {len(test.target)} images"
    return info
