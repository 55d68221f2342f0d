"""Offline quality benchmark of Tailor's recommenders against tuned baselines.

Run ``python -m scripts.bench.quality [--datasets ml100k synthetic] [--quick]`` from the
repository root; docs/quality.md has the protocol, the figures and how to read them.
"""
