# The public names of featbus.datasets and their modules, read by lazy_loader.attach_stub
# (see featbus/__init__.pyi): importing featbus.datasets imports none of them (a command that reads
# DATA through the release reader, featbus.datasets.release, does not load every data set's loader).
# ruff: noqa: F401 (a stub's imports are its exports)
from ._common import IMAGE_EXTENSIONS, PER_IMAGE_FIELDS, _check_label_spellings, subset
from ._home import get_data_home  # the data folder (FEATBUS_DATA)
from ._release_scan import unwrap_download_folder
from .breast_lesions_usg import load_breast_lesions_usg
from .bus_bra import is_bus_bra_folder, load_bus_bra
from .busi import BUSI_CLASSES, load_busi
from .export import load_export
from .folders import load_image_folder, load_manifest
from .load import load_data
from .mias import MIAS_CLASSES, MIAS_TASKS, is_mias_folder, load_mias, mias_files, mias_folder, parse_mias_info
from .patches import lesion_patches
from .phantoms import PHANTOM_CLASSES, make_phantoms
from .release import (
           MANIFEST_COLUMNS,
           Release,
           ReleaseError,
           ReleaseSummary,
           manifest_images,
           read_release,
)
from .sample import SAMPLE_DIR, load_sample
from .site_tables import SITE_TABLES, SiteTable, load_site_table_folder, site_table_of

