"""Running feature extraction over many images: rows, keys and the cache, chunked and parallel scaling, and the Dask cluster path."""
