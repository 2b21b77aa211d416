"""Where featbus looks for the data sets it never downloads: :func:`get_data_home`."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["get_data_home"]


def _default_homes() -> list[Path]:
    """The default data folders, steps 3 and 4 of :func:`get_data_home` (a source checkout: the folder
    above the package holds ``pyproject.toml``)."""
    homes = [Path.cwd().parent / "shared" / "data"]
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file() and (repo / "featbus" / "__init__.py").is_file():
        homes.append(repo.parent / "shared" / "data")
    return homes


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """The folder that holds featbus's data sets (``busi/``, ``bus-bra/``, ``mini-mias/``...).

    Like :func:`sklearn.datasets.get_data_home`, the one place featbus (its loaders, tests,
    benchmarks and examples) learns where the data are:

    1. ``data_home``, when given;
    2. else the folder the environment variable ``FEATBUS_DATA`` names (an empty value counts
       as unset);
    3. else ``../shared/data`` from the working directory, when that folder exists (a checkout
       run from its root, with the shared data beside it);
    4. else, when featbus runs from a source checkout, the ``shared/data`` beside that checkout
       (``<checkout>/../shared/data``), when it exists, whatever the working directory;
    5. else ``../shared/data`` from the working directory, which does not exist.

    featbus never downloads: the folder is not created, and it may not exist. The site loaders
    such as :func:`~featbus.load_busi` look for their own subfolder (``busi/``...) in this folder,
    and, when ``FEATBUS_DATA`` lacks it, in the default folders of steps 3 and 4.

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        The folder to use; ``None`` for ``FEATBUS_DATA``, else the default ``../shared/data``
        (steps 3 to 5 above).

    Returns
    -------
    pathlib.Path
        The data folder (``~`` expanded), which may not exist.

    Examples
    --------
    >>> from featbus import get_data_home
    >>> get_data_home("/data/featbus").as_posix()
    '/data/featbus'
    >>> get_data_home("~/images") == get_data_home("~/images").home() / "images"
    True

    Without an argument, ``FEATBUS_DATA`` decides (saved and put back here, not to clobber yours):

    >>> import os
    >>> saved = os.environ.get("FEATBUS_DATA")
    >>> os.environ["FEATBUS_DATA"] = "/srv/images"
    >>> get_data_home().as_posix()
    '/srv/images'
    >>> if saved is None:
    ...     del os.environ["FEATBUS_DATA"]
    ... else:
    ...     os.environ["FEATBUS_DATA"] = saved
    >>> busi = get_data_home() / "busi"  # where load_busi() looks first
    """
    if data_home is None:
        data_home = os.environ.get("FEATBUS_DATA") or None
    if data_home is None:
        homes = _default_homes()
        data_home = next((home for home in homes if home.is_dir()), homes[0])
    return Path(data_home).expanduser()
