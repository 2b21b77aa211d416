"""Running feature extraction over many images.

* :mod:`featbus.compute.extraction`: rows, their keys and the cache (:func:`extract_rows`).
* :mod:`featbus.compute.scaling`: per-family scaling and the union that pools images once.
* :mod:`featbus.compute.distributed`: the same extraction on a Dask cluster, resumable.
"""
