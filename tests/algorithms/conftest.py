"""Fixtures shared by the algorithm tests."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from .synthetic import Events, checkerboard, planted_events


@pytest.fixture(scope="session")
def checker() -> sp.csr_matrix:
    """50 x 50 checkerboard with the diagonal withheld."""
    return checkerboard(50)


@pytest.fixture(scope="session")
def planted() -> Events:
    """~600 users x 300 items, 8 taste clusters plus power-law popularity noise."""
    return planted_events()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def planted_matrix(planted: Events) -> sp.csr_matrix:
    """All planted events as a user x item count matrix."""
    return planted.matrix()
