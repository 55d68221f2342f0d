"""Developer scripts (benchmarks); not part of the installed package."""
