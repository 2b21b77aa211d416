"""Run in each worker of the local cluster ``featbus extract --dask local:N`` starts (Dask's ``preload``): the
worker's standard error goes nowhere, so that its shutdown (a task cancelled by a Ctrl-C, the worker killed when
it outlives the cluster's close) prints no log line or traceback under the command's own words. What a worker
computes, or fails to, reaches the command through the cluster and is said there."""

from __future__ import annotations

import os
import sys


def dask_setup(worker) -> None:
    """Send this worker process's standard error (Python's and file descriptor 2) to the null device."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 -- the process's stderr until it ends
