"""Item metadata as sparse feature rows, and their low-rank embeddings (spec B.10).

Everything is vectorised: a whole column of strings is tokenised by one regular-expression
pass over the column joined with a separator character, so no Python loop runs per item.

* :func:`tfidf` — text: lowercase ``\\w+`` words (plus optional word bigrams), sublinear tf
  ``1 + ln(count)``, smooth idf ``ln((1 + n) / (1 + df)) + 1``, each row l2-normalised.
  Terms found in fewer than ``min_df`` items are dropped: a term only one item has cannot
  make two items similar, it only dilutes that item's other terms.
* :func:`one_hot` — categorical strings; a value may hold several categories separated by
  ``|`` (compared lowercased, surrounding blanks stripped).
* :func:`truncated_svd_embeddings` — a seeded randomised SVD (Halko et al., 2011): the same
  matrix always gives the same embedding, which ``scipy.sparse.linalg.svds`` only does with
  a fixed start vector and which fails for ranks close to the matrix size.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

__all__ = [
    "metadata_features",
    "one_hot",
    "tfidf",
    "truncated_svd_embeddings",
]

# Row separator in the joined text; the character is replaced by a blank inside values.
_SEP = "\x1f"
WORD = r"\w+"
# Most TF-IDF terms kept: 65,536 terms x (dim + oversampling) floats stay ~60 MB in the SVD.
MAX_TERMS = 1 << 16
_CHUNK_ROWS = 4096  # strings tokenised per regular-expression pass


def _tokens(values: np.ndarray, pattern: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every match of ``pattern`` in each (lowercased) string: (row, term id, vocabulary).

    Term ids index the vocabulary, which lists distinct tokens in first-seen order, so the
    result depends only on the input. Rows are non-decreasing; tokens keep their order.
    Strings are read ``_CHUNK_ROWS`` at a time, which bounds the Python token objects alive.
    """
    values = np.asarray(values, dtype=str)
    regex = re.compile(f"{pattern}|{_SEP}")
    index = {_SEP: 0}
    rows, ids = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for start in range(0, len(values), _CHUNK_ROWS):
        chunk = np.char.replace(values[start:start + _CHUNK_ROWS], _SEP, " ")
        found = regex.findall(_SEP.join(chunk.tolist()).lower())
        new = [t for t in dict.fromkeys(found) if t not in index]
        index.update(zip(new, range(len(index), len(index) + len(new)), strict=True))
        chunk_ids = np.fromiter(map(index.__getitem__, found), dtype=np.int64, count=len(found))
        marker = chunk_ids == 0
        rows.append(start + np.cumsum(marker)[~marker])
        ids.append(chunk_ids[~marker])
    used, terms = np.unique(np.concatenate(ids), return_inverse=True)
    names = list(index)
    return np.concatenate(rows), terms.astype(np.int64), [names[i] for i in used.tolist()]


def _count_matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    data = np.ones(rows.size, dtype=np.float64)
    m = sp.csr_matrix((data, (rows, cols)), shape=shape)
    m.sum_duplicates()
    return m


def l2_rows(x: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit l2 norm (all-zero rows stay zero)."""
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale) @ x)


def tfidf(docs: np.ndarray, bigrams: bool = True, min_df: int = 2,
          max_features: int = MAX_TERMS) -> sp.csr_matrix:
    """TF-IDF rows of ``docs`` (see the module docstring).

    Parameters
    ----------
    docs : numpy.ndarray
        ``(n,)`` strings; "" for an item without text.
    bigrams : bool, default True
        Also count pairs of consecutive words as terms.
    min_df : int, default 2
        Keep terms found in at least this many documents.
    max_features : int, default MAX_TERMS
        Keep at most this many terms, those found in most documents (ties: first seen),
        which bounds the memory of the SVD that follows.

    Returns
    -------
    scipy.sparse.csr_matrix
        float32 ``(n, n_terms)``, rows l2-normalised.
    """
    n = len(docs)
    rows, terms, vocabulary = _tokens(docs, WORD)
    if bigrams and rows.size > 1:
        same = rows[1:] == rows[:-1]
        codes = terms[:-1][same] * len(vocabulary) + terms[1:][same]
        _, pairs = np.unique(codes, return_inverse=True)
        rows = np.concatenate([rows, rows[1:][same]])
        terms = np.concatenate([terms, len(vocabulary) + pairs.astype(np.int64)])
    counts = _count_matrix(rows, terms, (n, int(terms.max()) + 1 if terms.size else 0))
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    ranked = np.lexsort((np.arange(df.size), -df))[:max_features]
    kept = np.sort(ranked[df[ranked] >= min_df])
    counts, df = counts[:, kept], df[kept]
    counts.data = 1.0 + np.log(counts.data)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    return l2_rows(counts @ sp.diags(idf)).astype(np.float32)


def one_hot(values: np.ndarray, separator: str = "|") -> sp.csr_matrix:
    """Binary ``(n, n_categories)`` matrix of the categories in each value.

    Categories are lowercased and stripped; blank ones are ignored, so "" means none.
    """
    rows, terms, vocabulary = _tokens(values, f"[^{re.escape(separator)}{_SEP}]+")
    names, canonical = np.unique(np.char.strip(np.array(vocabulary, dtype=str)),
                                 return_inverse=True)
    cols = canonical.astype(np.int64)[terms]
    keep = names[cols] != "" if names.size else np.zeros(0, dtype=bool)
    m = _count_matrix(rows[keep], cols[keep], (len(values), len(names)))
    m.data[:] = 1.0
    return m.astype(np.float32)


def metadata_features(categorical: Mapping[str, np.ndarray] | None = None,
                      textual: Mapping[str, np.ndarray] | None = None,
                      ) -> sp.csr_matrix | None:
    """One feature block per field, side by side, each block's rows l2-normalised so that
    every field an item has counts equally, whatever its number of categories or words.

    Parameters
    ----------
    categorical, textual : mapping of field name -> ``(n,)`` str array
        Columns aligned with the item catalogue ("" for missing values), one-hot and
        TF-IDF respectively. Fields are taken in sorted name order, so the result does not
        depend on mapping order.

    Returns
    -------
    scipy.sparse.csr_matrix or None
        float32 ``(n, n_features)``, or None when no field yields any feature.
    """
    blocks = [one_hot(v) for _, v in sorted((categorical or {}).items())]
    blocks += [tfidf(v) for _, v in sorted((textual or {}).items())]
    blocks = [l2_rows(b) for b in blocks if b.shape[1] > 0]
    if not blocks:
        return None
    return sp.hstack(blocks, format="csr", dtype=np.float32)


def truncated_svd_embeddings(x: sp.csr_matrix, dim: int, seed: int = 0, n_iter: int = 4,
                             oversample: int = 10) -> np.ndarray:
    """Rows of ``x`` projected on its top ``dim`` singular directions, l2-normalised.

    Parameters
    ----------
    x : scipy.sparse.csr_matrix
        ``(n, f)`` feature rows.
    dim : int
        Embedding size; clipped to ``min(n, f)``, the most the data allows.
    seed, n_iter, oversample : int
        Randomised SVD: seed of the Gaussian test matrix, power iterations (which sharpen
        the spectrum), and extra columns sampled beyond ``dim``.

    Returns
    -------
    numpy.ndarray
        float32 ``(n, k)`` with ``k = min(dim, n, f)``: ``U_k S_k`` rows scaled to unit norm
        (rows of ``x`` without features stay zero), so dot products are cosines.
    """
    x = sp.csr_matrix(x, dtype=np.float64)
    k = max(0, min(int(dim), *x.shape))
    if k == 0:
        return np.zeros((x.shape[0], 0), dtype=np.float32)
    width = min(k + oversample, *x.shape)
    omega = np.random.default_rng(seed).standard_normal((x.shape[1], width))
    q, _ = np.linalg.qr(x @ omega)
    for _ in range(n_iter):
        p, _ = np.linalg.qr(x.T @ q)
        q, _ = np.linalg.qr(x @ p)
    u, s, _ = np.linalg.svd(np.asarray((x.T @ q).T), full_matrices=False)
    emb = (q @ u[:, :k]) * s[:k]
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    # float64 keeps the rounding noise that the basis leaves in rows without (or nearly
    # without) a projection far below the cut-off: those rows get no embedding.
    size = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)))
    valid = (size > 0) & (norms > 1e-6 * size)
    emb = np.divide(emb, norms, out=np.zeros_like(emb), where=valid)
    return emb.astype(np.float32)
