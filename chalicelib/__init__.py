"""Tailor's core: everything but the routes.

BLAS thread pools are limited to one thread before numpy is first imported: the
serving threads and the training worker share 2 cores, and OpenBLAS threads
spinning against them made an EASE fit ~30x slower (docs/benchmarks.md).
Set OPENBLAS_NUM_THREADS (or OMP_/MKL_) yourself to override.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
