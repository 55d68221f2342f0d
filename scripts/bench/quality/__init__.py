"""Offline quality benchmark of Tailor's recommenders against tuned baselines.

Run ``python -m scripts.bench.quality [--datasets ml100k synthetic] [--quick]`` from the
repository root; docs/quality.md has the protocol, the figures and how to read them.
"""

# chalicelib limits BLAS to one thread, but only if it is imported before numpy: do it
# here, before any module of the benchmark imports numpy (fit times are then Tailor's own).
import chalicelib  # noqa: F401
