"""Where featbus looks for the data sets it never downloads: :func:`get_data_home`."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["get_data_home"]

#: The environment variable that names the data folder (scikit-learn's ``SCIKIT_LEARN_DATA``).
DATA_ENV = "FEATBUS_DATA"


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """The folder that holds featbus's data sets (``busi/``, ``bus-bra/``, ``mini-mias/``...).

    Like :func:`sklearn.datasets.get_data_home`: ``data_home`` when given, else the folder the
    environment variable ``FEATBUS_DATA`` names, else ``../shared/data`` from the working
    directory (a checkout beside the shared data, the folder the site loaders such as
    :func:`~featbus.load_busi` fall back to). featbus never downloads: the folder is not created,
    and it may not exist.

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        The folder to use; ``None`` for ``FEATBUS_DATA``, else ``../shared/data``.

    Returns
    -------
    pathlib.Path
        The data folder (``~`` expanded), which may not exist.

    Examples
    --------
    >>> import os
    >>> from featbus import get_data_home
    >>> get_data_home("/data/featbus").as_posix()
    '/data/featbus'
    >>> os.environ["FEATBUS_DATA"] = "/srv/images"
    >>> get_data_home().as_posix()
    '/srv/images'
    >>> del os.environ["FEATBUS_DATA"]
    >>> get_data_home() == get_data_home().cwd().parent / "shared" / "data"
    True
    """
    if data_home is None:
        data_home = os.environ.get(DATA_ENV) or Path.cwd().parent / "shared" / "data"
    return Path(data_home).expanduser()
