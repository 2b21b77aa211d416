"""Data sets as :class:`sklearn.utils.Bunch`: synthetic phantoms, image folders, BUSI, BUS-BRA, mini-MIAS.

Any release as its publisher ships it is read by :func:`read_release` (the layout worked out from the
files, said in one paragraph); :func:`load_data` reads its pixels into the Bunch below.

Every loader returns a Bunch with the same fields, so code written for one data set runs on the
others:

``images``
    list of 2-D arrays (gray, dtype as stored: ``uint8`` or ``uint16``);
``masks``
    list of ``bool`` arrays of the images' shapes; all ``False`` when no lesion is drawn;
``target``, ``target_names``
    int labels and their names (``target_names[target[i]]`` is the class of image ``i``);
``paths``
    list of ``str``, where each image came from (a name for synthetic images);
``groups``
    int array, images of one group must stay on the same side of a split (near-duplicates, or
    the images of one woman);
``data``
    list of :class:`featbus.ImageRecord` ``(image, mask, path, meta)``: what a
    :class:`~sklearn.pipeline.Pipeline` takes as ``X`` when masks should travel with the images;
``DESCR``
    a short description.
"""

import lazy_loader as _lazy

__getattr__, __dir__, _ = _lazy.attach_stub(__name__, __file__)

__all__ = ["make_phantoms", "load_image_folder", "load_busi", "load_bus_bra", "load_breast_lesions_usg",
           "load_site_table_folder", "SITE_TABLES", "SiteTable", "site_table_of", "unwrap_download_folder",
           "load_mias", "load_manifest", "load_data", "is_mias_folder", "is_bus_bra_folder", "mias_files",
           "mias_folder", "lesion_patches", "manifest_images", "load_sample", "subset", "PER_IMAGE_FIELDS",
           "load_export", "get_data_home", "read_release", "Release", "ReleaseSummary", "ReleaseError"]
