"""Reading what a command is given: a data set (class folders, mini-MIAS, a CSV manifest), a
list of images, lesion patches, a manifest's split, the preprocessing named on the command line.
"""

from __future__ import annotations

import os
import re
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._common import CLIError, _one_line
from ._options import export_columns

_DATA_HELP = ("class folders (one sub-folder per class, its images in it or in images/ with masks/ beside, as "
              "downloads come; a folder of copies of every image such as All/ is left out, said), a hospital's "
              "export (images/ or original/ with masks/ or GT/ beside a CSV or Excel table), a mini-MIAS "
              "folder (Info.txt + mdbNNN images) or a CSV manifest (image,label[,mask,group,split])")


def _load_folder(path: str, on_error: str = "raise", task: str = "severity", min_classes: int = 2,
                 command: str | None = None, columns: dict | None = None, needs_masks: str | None = None,
                 n_jobs: int | None = None):
    """Read a data set (class folders, a CSV manifest or a mini-MIAS folder), turning every
    problem into a one-line message; a classifier needs ``min_classes`` classes (a segmenter 1;
    0: labels optional, so a flat folder or a manifest without labels reads as unlabelled).
    ``command`` words what needs them (:data:`_NEEDS_CLASSES`; a classifier when not given);
    ``columns``: an export table's columns (:func:`featbus.cli._options.export_columns`); ``n_jobs``: the
    workers that read the images (``--n-jobs``).

    A mask that does not fit its image (another size) is dropped by the readers, the image kept:
    said here in one line naming it where no mask is needed (``needs_masks`` None); where masks
    are needed (``needs_masks`` words what needs them: "the mask-region features"...) it is an
    error naming the file and both sizes, or with ``--on-error skip`` the image is skipped and named."""
    from ..datasets import is_mias_folder, load_data, unwrap_download_folder
    from ..datasets.sources._refs import is_release_file

    p = Path(path)
    if not p.exists():
        raise CLIError(f"data {str(p)!r} does not exist")
    if p.is_file() and p.suffix.lower() != ".csv" and not is_release_file(p):
        raise CLIError(f"{str(p)!r} is a file; give a folder with one sub-folder per class, a mini-MIAS folder "
                       "(Info.txt + mdbNNN images), a zip or tar archive of one, an .npz of arrays or a CSV manifest "
                       "(columns image,label[,mask,group,split])")
    if p.is_dir() and not is_mias_folder(p):
        p = unwrap_download_folder(p)  # messages below name the folder read
    try:
        with warnings.catch_warnings():  # the skipped images are listed below, one per line
            warnings.filterwarnings("ignore", message=r"skipped \d+ unreadable", category=UserWarning)
            warnings.filterwarnings("ignore", message=r"dropped \d+ mask", category=UserWarning)  # said below
            # which column labels the images, and the other candidates: the reading paragraph says it
            warnings.filterwarnings("ignore", message=r"labels from the '.*' column of ", category=UserWarning)
            # a mini-MIAS subset: the references Info.txt lists but the folder lacks are expected
            warnings.filterwarnings("ignore", message=r".*listed in Info.txt are absent", category=UserWarning)
            data = load_data(p, task=task, on_error=on_error, require_labels=min_classes > 0, n_jobs=n_jobs,
                             **(columns or {}))
    except (ValueError, OSError) as exc:
        raise CLIError(_read_error(p, exc, on_error)) from exc
    summary = getattr(data, "release_summary", None)
    if summary is not None:  # what was read, said once, before any model loads
        print(summary.text(), file=sys.stderr)
    skipped = list(getattr(data, "skipped", []) or [])
    data, unfit = _unfit_masks(data, on_error, needs_masks)
    skipped += unfit
    if on_error == "skip" and "features" not in data:  # described as read: an unusable image is already out
        data, unusable = _drop_unusable(data)
        skipped += unusable
    data.skipped = skipped  # every layout's Bunch has it (a mini-MIAS one has none of its own)
    if skipped:
        print(f"skipped {len(skipped)} unreadable or unusable image(s):", file=sys.stderr)
        for path_, reason in skipped:
            print(f"  {path_}: {_one_line(reason)}", file=sys.stderr)
    if len(data.target) == 0:
        raise CLIError(f"no images found in {str(p)!r}")
    if min_classes and len(np.unique(data.target)) < min_classes:
        present = [str(data.target_names[i]) for i in np.unique(data.target)]  # 'benign', not np.str_('benign')
        what = _NEEDS_CLASSES.get(command, _NEEDS_CLASSES[None])
        raise CLIError(f"{str(p)!r} holds a single class ({', '.join(map(repr, present))}); {what} needs at least "
                       "two classes (a sub-folder or manifest label each)")
    return data


def _unfit_masks(data, on_error: str, needs_masks: str | None):
    """The masks a reader dropped (``Bunch.dropped_masks``: they do not fit their image). No mask
    needed: one line naming them, the images kept. Needed: an error naming the first file and
    both sizes, or (``--on-error skip``) those images left out, returned as ``(path, reason)``."""
    from ..io import dropped_masks_note

    dropped = list(getattr(data, "dropped_masks", None) or [])
    if not dropped:
        return data, []
    if needs_masks is None:
        print(dropped_masks_note(dropped) + " (no mask is needed here)", file=sys.stderr)
        return data, []
    first = dropped[0]
    if on_error != "skip":
        more = f" (and {len(dropped) - 1} more)" if len(dropped) > 1 else ""
        raise CLIError(f"{_one_line(first[1])}{more}: {needs_masks} need each image's mask at its size; fix or "
                       "remove the mask (--on-error skip leaves such images out)")
    bad = {os.path.abspath(str(d[2])) for d in dropped if len(d) > 2}
    keep = [i for i, p in enumerate(data.paths) if os.path.abspath(str(p)) not in bad]
    unfit = [(str(d[2]) if len(d) > 2 else str(d[0]), f"{_one_line(d[1])} ({needs_masks} need it)") for d in dropped]
    for key in ("images", "masks", "paths", "data"):
        data[key] = [data[key][i] for i in keep]
    for key in ("target", "groups", "split"):
        if key in data and data[key] is not None:
            data[key] = np.asarray(data[key])[keep]
    data.dropped_masks = []
    return data, unfit


#: what needs two classes, per command (``featbus COMMAND: error:`` names the command too)
_NEEDS_CLASSES = {None: "a classifier", "evaluate": "evaluation"}


def _read_error(p: Path, exc: Exception, on_error: str) -> str:
    """One line for a data set that cannot be read: each path said once, and ``--on-error skip``
    suggested only where it helps (an image that cannot be read, not the layout or the table)."""
    from .._records import ImageError
    from ..datasets.given import holds_folders

    message = _one_line(exc)
    if isinstance(exc, ImageError) and exc.path:
        # a manifest's row names its file as written ('row 2 of m.csv: image a.png not found') and the
        # error its resolved path too: say the resolved path once, where the row names it
        base = p.parent if p.is_file() else p
        for written in re.findall(r"'([^']+)'", exc.reason):
            if os.path.abspath(os.path.join(base, written)) == os.path.abspath(exc.path):
                message = _one_line(exc.reason.replace(repr(written), repr(str(exc.path)), 1))
                break
    if repr(str(p)) not in message:
        message = f"cannot read the data set in {str(p)!r}: {message}"
    if isinstance(exc, ImageError):
        if on_error == "raise":
            message += " (--on-error skip leaves unreadable images out)"
    elif p.is_dir() and not holds_folders(p):
        message += ("; put each class's images in a sub-folder named after the class, or list them with their "
                    "labels in a CSV manifest (image,label)")
    return message


def _drop_unusable(data):
    """Leave out images that read but that no extractor takes (too small, NaN...): the same
    checks every featbus transformer runs, done once here so that --on-error skip covers them."""
    from .._records import ImageError
    from ..io import load_item

    keep, unusable = [], []
    for i, rec in enumerate(data.data):
        try:
            load_item(rec, i)
        except ImageError as exc:
            unusable.append((rec.path or f"image {i}", exc.reason))
        else:
            keep.append(i)
    if not unusable:
        return data, []
    for key in ("images", "masks", "paths", "data"):
        data[key] = [data[key][i] for i in keep]
    for key in ("target", "groups", "split"):
        if key in data:
            data[key] = np.asarray(data[key])[keep]
    return data, unusable


def _may_be_masks(names) -> bool:
    """Whether any name holds a mask word (:data:`featbus.vocabulary.MASK_WORDS`): only then are the
    reader's mask rules imported, so image files given one by one stay light."""
    from ..vocabulary import MASK_WORDS

    return any(word in str(name).casefold() for name in names for word in MASK_WORDS)


def left_out_lines(summary, shown: int = 20) -> list[str]:
    """The lines naming what a release's reading left out (the first ``shown``, then how many more), under
    its paragraph: as ``featbus read`` prints them, so every command names the same files."""
    lines = [f"  left out {r.item}: {r.text()}" for r in summary.left_out[:shown]]
    if len(summary.left_out) > shown:
        lines.append(f"  ... and {len(summary.left_out) - shown} more left out")
    return lines


#: The last suffixes of a file that may be a whole release (:func:`featbus.datasets.sources._refs.is_release_file`).
_RELEASE_FILE_SUFFIXES = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".tbz2", ".txz", ".npz")


def _is_release_file(p: Path) -> bool:
    """A zip or tar archive or an ``.npz`` (checked by content only for those suffixes, so an image stays light)."""
    if p.suffix.lower() not in _RELEASE_FILE_SUFFIXES:
        return False
    from ..datasets.sources._refs import is_release_file

    return is_release_file(p)


def _expand_images(inputs: Sequence[str], said: list[str] | None = None, *,
                   mask_pattern: str | None = None, pixel_sizes: dict[str, dict] | None = None) -> list[str]:
    """The images of IMAGE arguments that need no labels (predict, segment predict, adapt --unlabelled):
    a file as given; a folder or a CSV manifest read by the release reader, as every command reads DATA
    (:func:`featbus.datasets.given.read_given`: its listing, masks and left-out files, its paragraph, appended
    to ``said`` or printed at once when ``said`` is None, and its pixel sizes). ``pixel_sizes``, when given,
    receives the physical pixel size the data gives an image (a table's column, a DICOM header), by its
    absolute path.

    Light: image files given one by one are taken as they are, without the reader, so that ``featbus predict``
    on a file imports what the model's own parts need and nothing else (tests/test_predict_startup.py); the
    reader (:mod:`featbus.datasets`, a lazy package) loads no data-set loader either."""
    told = said if said is not None else _Printed()
    paths = []
    for item in inputs:
        p = Path(item)
        if not p.exists():
            raise CLIError(f"image {item!r} does not exist")
        if not p.is_dir() and not (p.is_file() and (p.suffix.lower() == ".csv" or _is_release_file(p))):
            paths.append(str(p))
            continue
        from ..datasets.given import read_given

        try:
            rel = read_given(p, mask_pattern=mask_pattern if p.is_dir() else None)
        except (ValueError, OSError) as exc:  # a manifest's missing file worded as train's (its row and path)
            from .._records import ImageError

            raise CLIError(_read_error(p, exc, "skip") if isinstance(exc, ImageError) else _one_line(exc)) from exc
        for line in [rel.summary.text(), *left_out_lines(rel.summary)]:
            told.append(line)  # printed at once when nothing collects them (_Printed)
        if mask_pattern is not None and p.is_dir() and not rel.summary.n_masks_paired:
            raise CLIError(f"--mask-pattern {mask_pattern!r} pairs no file of {item!r} with an image")
        if not rel.images:
            raise CLIError(f"{item!r} holds no image to read (the paragraph above says what it holds)")
        paths += [str(img) if isinstance(img, Path) else img for img in rel.images]  # a reference kept as one
        if pixel_sizes is not None and rel.pixel_sizes:
            pixel_sizes.update({os.path.abspath(img): size for img, size in zip(rel.images, rel.pixel_sizes)
                                if size is not None})
    return paths


class _Printed(list):
    """A list whose lines go straight to stderr (where no caller holds them back)."""

    def append(self, line: str) -> None:
        print(line, file=sys.stderr)


#: Folds of a cross-validation when --n-splits is not given (train lowers it for a small class).
DEFAULT_N_SPLITS = 5


def _smallest_class(data, grouped: bool) -> tuple[str, int, str]:
    """(name, how many, what) of the class fewest folds can hold: its images, or with
    ``grouped`` its groups (near-duplicates, a patient's images, a manifest's group column),
    since a duplicate-grouped fold takes a whole group."""
    target = np.asarray(data.target)
    groups = np.asarray(data.groups) if grouped and getattr(data, "groups", None) is not None else None
    smallest = None
    for i, name in enumerate(data.target_names):
        members = target == i
        n_images = int(np.sum(members))
        n = n_images if groups is None else int(np.unique(groups[members]).size)
        what = (f"{n} image{'s' if n != 1 else ''}" if n == n_images else
                f"{n} group{'s' if n != 1 else ''} of images kept together (near-duplicates, one patient's) "
                f"among its {n_images} images")
        if smallest is None or n < smallest[1]:
            smallest = (str(name), n, what)
    return smallest


def _check_n_splits(data, n_splits: int | None, *, grouped: bool = False) -> int:
    """The number of cross-validation folds. Given (``--n-splits K``): refused in one line when
    the smallest class cannot be in every fold. Not given (``None``): the default, lowered to the
    most folds the smallest class allows (at least 2), said in one line. ``grouped``: the folds
    keep groups whole (train's duplicate-grouped folds), so a class counts its groups."""
    name, smallest, what = _smallest_class(data, grouped)
    if n_splits is not None and n_splits < 2:
        raise CLIError(f"--n-splits {n_splits}: cross-validation needs at least 2 folds")
    if smallest < 2:
        raise CLIError(f"the smallest class {name!r} has {what}: cross-validation needs at least 2 per class, "
                       "one for each of 2 folds; add images of that class or leave it out")
    if n_splits is None:
        if smallest >= DEFAULT_N_SPLITS:
            return DEFAULT_N_SPLITS
        print(f"using {smallest} folds, not {DEFAULT_N_SPLITS}: the smallest class {name!r} has {what} and "
              "every fold needs each class (--n-splits sets it)", file=sys.stderr)
        return smallest
    if n_splits > smallest:
        raise CLIError(f"--n-splits {n_splits} is more than the {what} of class {name!r} (the smallest): every "
                       f"fold needs each class; use --n-splits {smallest} or fewer")
    return n_splits


def _preprocessing_steps(spec: str | None) -> list:
    """The --preprocess steps (checked before any image is read)."""
    from ..pipelines.make import make_preprocessing

    if spec and "roi" in [x.strip().lower() for x in spec.split(",")]:
        # cropping to the ground-truth lesion is not a step a new image can take
        raise CLIError("--preprocess roi: crop to the lesion with --region bbox|mask (ground-truth masks, "
                       "evaluation) or train --segmenter FILE|NAME|unet (a model that finds the lesion itself)")
    try:
        return make_preprocessing(spec)
    except ValueError as exc:
        raise CLIError(f"--preprocess: {exc}") from exc


def _load_study(args, path: str | None = None):
    """DATA as a command sees it: read (class folders, CSV manifest or mini-MIAS folder), then
    the --preprocess steps applied. featbus's preprocessing steps learn nothing from the images,
    so applying them once before the cross-validation is what each fold would do."""
    command = getattr(args, "command", None)
    # a feature table needs no labels: extract reads unlabelled folders and manifests too
    data = _load_folder(path or args.data_dir, args.on_error, args.task, command=command,
                        min_classes=0 if command == "extract" else 2, columns=export_columns(args),
                        needs_masks=_mask_need(args), n_jobs=getattr(args, "n_jobs", None))
    data = _patches(data, args)
    steps = _preprocessing_steps(getattr(args, "preprocess", None))
    if steps:
        from sklearn.pipeline import Pipeline

        t0 = time.perf_counter()
        records = Pipeline(steps).fit_transform(list(data.data))
        data.data = records
        data.images = [r.image for r in records]
        data.masks = [r.mask for r in records]
        print(f"preprocessed {len(records)} images: {' -> '.join(n for n, _ in steps)} "
              f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return data


def _mask_need(args) -> str | None:
    """What reads the lesion masks in this command (words for a message), or None: the
    mask-region features (``--region mask|bbox``), a family that reads the mask (shape), the
    lesion-centred patches (``--patches``)."""
    from .._registry import reads_masks
    from ._options import _features_of

    if getattr(args, "patches", None):
        return "the lesion-centred patches (--patches)"
    region = getattr(args, "region", None)
    if region in ("mask", "bbox"):
        return f"the mask-region features (--region {region})"
    features = _features_of(args) if getattr(args, "features", None) or getattr(args, "feature_specs", None) else None
    if features and reads_masks(features, region):
        return "the features that read the lesion mask (shape)"
    return None


def _patches(data, args):
    """The --patches ROI protocol: lesion-centred patches instead of whole images."""
    if not getattr(args, "patches", None):
        return data
    from ..datasets import lesion_patches

    if getattr(data, "split", None) is not None:
        raise CLIError("--patches works on mini-MIAS folders, not on CSV manifests")
    if not all("lesions" in (r.meta or {}) for r in data.data):
        raise CLIError("--patches needs lesion centres: a mini-MIAS folder (Info.txt coordinates) gives them")
    try:
        patches = lesion_patches(data, size=args.patches)
    except ValueError as exc:
        raise CLIError(f"--patches {args.patches}: {_one_line(exc)}") from exc
    print(f"{len(patches.data)} lesion-centred patches of {args.patches} px from {len(data.data)} images"
          + (f"; {len(patches.dropped)} image(s) without a patch:" if patches.dropped else ""), file=sys.stderr)
    for path_, reason in patches.dropped:
        print(f"  {path_}: {reason}", file=sys.stderr)
    patches.skipped = data.skipped
    return patches


def _manifest_split(data, args, flags: str):
    """(training indices, test indices) from the publisher's test split (a release's ``test/`` folder,
    a manifest's or index's ``split=test`` rows), or None when it has none; refused beside the options
    (``flags``) that would make another test set."""
    split = getattr(data, "split", None)
    test = np.array([], int) if split is None else np.nonzero(np.asarray(split) == "test")[0]
    if not test.size:
        return None
    if getattr(args, "test", None) or args.test_fraction:
        raise CLIError(f"{args.data_dir!r} holds its publisher's test split already ({test.size} images, split=test): "
                       f"drop {flags}")
    return np.setdiff1d(np.arange(len(data.target)), test), test


def _mask_note(features: list[str], region: str, real_data: bool) -> str | None:
    """Why a score that reads ground-truth masks is optimistic (None when no mask is read): the
    library's one text (:meth:`featbus.evaluation.Report.summary` prints it too)."""
    from ..evaluation.report import ground_truth_mask_note

    return ground_truth_mask_note(features, region, empty_masks=real_data)


def _data_paths(args) -> list[str]:
    """The DATA arguments as a list (one or several), and ``args.data_dir`` as messages name
    them: the one path, or the paths joined by ``" + "``."""
    paths = [args.data_dir] if isinstance(args.data_dir, (str, os.PathLike)) else [str(p) for p in args.data_dir]
    args.data_dir = paths[0] if len(paths) == 1 else " + ".join(paths)
    return paths


def _load_sites(paths: Sequence[str], load, verb: str):
    """Several DATA: each read by ``load(path)`` (the one-DATA reader, with its checks), then
    united by :func:`featbus.evaluation.sites.combine_sites`; says the sites in one line."""
    from ..evaluation.sites import combine_sites, site_name

    seen: dict[str, str] = {}
    for path in paths:
        key = os.path.realpath(path)
        if key in seen:
            raise CLIError(f"data {path!r} is given twice" + (f" (as {seen[key]!r} too)" if seen[key] != path else "")
                           + ": give each data set once")
        seen[key] = path
    names = [site_name(p) for p in paths]
    names = [n if names.count(n) == 1 else p for n, p in zip(names, paths)]  # two 'data.csv': their paths
    datasets = [load(p) for p in paths]
    try:
        data = combine_sites(datasets, names)
    except ValueError as exc:
        raise CLIError(_one_line(exc)) from exc
    data.skipped = list(data.skipped)
    parts = []
    for site in data.site_names:
        have = data.site_classes[site]
        lacks = [str(c) for c in data.target_names if str(c) not in have]
        n = int(np.sum(data.sites == site))
        parts.append(f"{site} ({n} images, {len(have)} classes" + (f"; no {', '.join(lacks)}" if lacks else "") + ")")
    print(f"{verb} on {len(data.site_names)} sites: {', '.join(parts)}", file=sys.stderr)
    return data


#: ``--conflicting-labels``: what train does with the same image under two labels (the values of
#: :data:`featbus.datasets.conflicts.CONFLICT_RESOLUTIONS`, written here so that building the parser imports no
#: scikit-learn; tests/test_cli_startup.py checks they agree)
CONFLICT_CHOICES = ("refuse", "drop", "first", "keep")
#: The kinds of label conflict (:data:`featbus.datasets.conflicts.CONFLICT_KINDS`) train refuses by
#: default; the others are named and kept. Identical pixels only: BUSI as distributed holds 8 pairs of
#: one frame saved twice under two labels (hashes 0-2 bits apart) and smooth synthetic images of one
#: layout come that close too, so refusing "same frame" would refuse every BUSI training by default.
REFUSED_CONFLICTS = ("identical",)


def add_conflicting_labels(parser) -> None:
    """The ``--conflicting-labels`` option of a command that trains on DATA's labels."""
    parser.add_argument("--conflicting-labels", choices=CONFLICT_CHOICES, default="refuse", metavar="HOW",
                        help="the same image under two labels: refuse (default: identical images are an error "
                             "naming the files; the same frame saved twice, or near-duplicates, under two labels "
                             "are named and kept); drop every image of such a group; first: keep the label of the "
                             "group's first image (in reading order) and leave out the others; keep: train on them "
                             "as labelled, said in one line")


_KIND_WORDS = {"identical": "one image (identical pixels) under two labels",
               "same frame": "one frame saved twice (perceptual hashes within 2 bits) under two labels",
               "near-duplicates": "near-duplicates (perhaps one lesion, perhaps two alike) under two labels"}


def _cross_patient_duplicates(data, source: str | None) -> None:
    """Where DATA's groups are patients (a table's column, the file names), near-duplicate images of
    two patients are said in one warning line, never merged: the patients stay the groups (whole-image
    hashes, one per image: about 1 s per 1,000 images)."""
    from ..model_selection import duplicates_across_groups

    told = getattr(data, "groups_from", None)
    if not told or getattr(data, "near_duplicate_groups", False) or getattr(data, "groups", None) is None:
        return
    images = data.data if getattr(data, "data", None) is not None else data.images
    pairs = duplicates_across_groups(images, data.groups)
    if not pairs:
        return
    root = source if source and os.path.isdir(source) else None

    def name(i: int) -> str:
        path = str(data.paths[i]) if getattr(data, "paths", None) else f"image {i}"
        return repr(os.path.relpath(path, root) if root else path)

    shown = "; ".join(f"{name(i)} ~ {name(j)} ({bits} bits)" for i, j, bits in pairs[:3])
    more = f" and {len(pairs) - 3} more" if len(pairs) > 3 else ""
    warnings.warn(f"{len(pairs)} near-duplicate pair(s) lie across two patients ({told}): {shown}{more}; kept "
                  "apart, since the patients are the groups (if two are one patient, correct the table)", UserWarning,
                  stacklevel=3)


def _label_conflicts(data, what: str, how: str | None = None, source: str | None = None):
    """Images under two labels in DATA (identical, the same frame, near-duplicates), said or
    resolved; returns the data to use.

    ``how`` None (validate, evaluate: nothing is trained on the labels here) names them in one
    warning line. In train, the kinds of :data:`REFUSED_CONFLICTS` are refused by default
    (``"refuse"``: an error naming the files and the option that resolves them), the others named
    and kept; ``drop`` / ``first`` leave images of every kind out, each named; ``keep`` trains on
    them as labelled, said."""
    from ..datasets.conflicts import conflicts_text, label_conflicts, resolve_label_conflicts

    _cross_patient_duplicates(data, source)
    conflicts = label_conflicts(data)
    if not conflicts:
        return data
    root = source if source and os.path.isdir(source) else None
    said = []
    for kind, words in _KIND_WORDS.items():
        mine = [c for c in conflicts if c.kind == kind]
        if mine:
            said.append(f"{sum(len(c.indices) for c in mine)} images in {len(mine)} group(s) are {words}: "
                        f"{conflicts_text(data, mine, root=root)}")
    said = "; ".join(said)
    if how is None:
        warnings.warn(f"{said}; {what} scores each copy against its own label", UserWarning, stacklevel=2)
        return data
    if how == "refuse":
        if any(c.kind in REFUSED_CONFLICTS for c in conflicts):
            raise CLIError(f"{said}: featbus will not train on one image under two labels; correct the labels, or "
                           "say how to resolve them: --conflicting-labels drop (leave out every such image), first "
                           "(keep the label of each group's first image) or keep (train on them as labelled)")
        warnings.warn(f"{said}; kept as labelled (--conflicting-labels drop or first leaves them out)", UserWarning,
                      stacklevel=2)
        return data
    if how == "keep":
        print(f"{said}; kept as labelled (--conflicting-labels keep)", file=sys.stderr)
        return data
    kept, out = resolve_label_conflicts(data, conflicts, how)
    names = ", ".join(repr(os.path.relpath(data.paths[i], root) if root else data.paths[i]) for i in out[:5])
    print(f"{said}; left out {len(out)} image(s) (--conflicting-labels {how}): {names}"
          + (f" and {len(out) - 5} more" if len(out) > 5 else ""), file=sys.stderr)
    return kept
