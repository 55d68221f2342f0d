"""Benchmarks: the getting-started workflow and runtime latency on MovieLens-100K.

Run ``python -m scripts.bench.workflow`` from the repository root; docs/benchmarks.md
has the figures and how to read them.
"""
