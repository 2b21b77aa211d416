"""Sphinx configuration of the featbus documentation.

Build (offline, warnings are errors), from the repository root::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Needs the ``docs`` requirements: sphinx, sphinx-gallery and (optional) pydata-sphinx-theme.
The gallery examples run during the build, on synthetic data and on ``../shared/data`` when
it is present. Nothing is downloaded: no intersphinx, no remote images, no version switcher.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(REPO))  # document the checkout, whether or not it is pip-installed

# the gallery and autodoc import TensorFlow-using modules: keep them quiet and single-threaded
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg")

import featbus  # noqa: E402

project = "featbus"
author = "featbus developers"
copyright = "featbus developers"
release = featbus.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = ["_build", "**.ipynb_checkpoints", "guide/three_sites_table.rst",  # included by breast_us.rst
                    "guide/segmentation_sites_table.rst",  # included by breast_us_segmenter.rst
                    "guide/breast_us_classifier_table.rst", "guide/breast_us_classifier_card.rst",  # by its page
                    "guide/site_alignment_table.rst", "guide/site_calibration_table.rst"]  # by breast_us_classifier.rst
templates_path = ["_templates"]
nitpicky = False
# numpydoc "References" sections list papers as footnotes that the text need not cite
suppress_warnings = ["ref.footnote"]

# --- autodoc / napoleon (numpydoc style docstrings)
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc "Parameters" sections already say the types
autodoc_default_options = {}  # no "Bases: object" lines; members are listed per class in api.rst
autoclass_content = "class"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True
napoleon_preprocess_types = False

# --- autosummary: api.rst lists the public objects by section; each gets its own page under
# generated/ (docs/_templates/autosummary: a class page lists its methods, without
# scikit-learn's metadata-routing setters; a function page ends with the gallery examples using it)
autosummary_generate = True
autosummary_generate_overwrite = True

# --- no network at build time: intersphinx is deliberately not enabled. (A browser showing a page
# with maths loads MathJax itself; the build never does.)

# --- sphinx-gallery: one set of examples (the repository's examples/ folder). The plot_* ones
# run during the build and their figures are shown; the others (minutes to hours on BUSI) are
# shown with their code and the command that runs them.
sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(_paper_common|__init__)\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "min_reported_time": 1,
    "write_computation_times": False,
    "show_memory": False,
    "reset_modules": ("matplotlib",),
    "capture_repr": (),  # show what examples print, not the repr of their last expression
    # "Examples using X" on each API page (the minigallery of docs/_templates/autosummary)
    "doc_module": ("featbus",),
    "backreferences_dir": "generated/backreferences",
}

# --- HTML
try:
    import pydata_sphinx_theme  # noqa: F401

    html_theme = "pydata_sphinx_theme"
    html_theme_options = {
        "navigation_with_keys": False,
        "show_toc_level": 2,
        "navbar_align": "left",
        "footer_start": ["copyright"],
        "footer_end": [],
        "secondary_sidebar_items": ["page-toc"],
    }
except ImportError:  # alabaster ships with Sphinx
    html_theme = "alabaster"
    html_theme_options = {}
html_title = f"featbus {release}"
html_static_path = ["_static"]  # the gallery's static thumbnails (examples not run at build time), featbus.css
html_css_files = ["featbus.css"]  # long words in table cells break (the breast-us card fits the page)
html_show_sourcelink = False
# the API index is its own table of contents, and each object's page is reached from it (and
# back by the breadcrumbs): no left column listing all 230 pages
html_sidebars = {"api": [], "generated/*": []}
