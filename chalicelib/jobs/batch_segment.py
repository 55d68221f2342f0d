"""Batch segment jobs: item queries in S3 -> the users most likely to interact (spec H.3).

Item-Affinity lines name an item (``{"itemId": "105"}``); Item-Attribute-Affinity lines an
attribute query (``{"itemAttributes": "ITEMS.GENRE = \\"comedy\\""}``), matched against the
Items columns the artifact keeps (``attr.<FIELD>``, ``attr_known``). Users come best first
from :class:`~chalicelib.algorithms.ItemAffinity`; items a user already interacted with are
left out of their segments when users rarely repeat items, as in training's metrics.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms import ItemAffinity, match_items
from chalicelib.errors import PersonalizeError
from chalicelib.jobs import batch_io
from chalicelib.jobs.lifecycle import JobFailed
from chalicelib.jobs.train_segments import ATTRIBUTE_KNOWN, ATTRIBUTE_PREFIX
from chalicelib.runtime import batch
from chalicelib.runtime.artifacts import Artifact
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import Status
from chalicelib.state.store import Resource

log = logging.getLogger(__name__)
ATTRIBUTES = "aws-item-attribute-affinity"
# Segment cells (queries x users) computed at once.
BLOCK_CELLS = 1 << 22
CHUNK_LINES = 100
MAX_QUERY_LENGTH = 10_000


class Segments:
    """Answers segment lines of one job: the model, the users per segment, the filter."""

    def __init__(self, ctx: Context, artifact: Artifact, n: int, filter_arn: str | None,
                 gone: np.ndarray | None = None) -> None:
        model = artifact.model
        if not isinstance(model, ItemAffinity):
            raise JobFailed(f"The version's model ({artifact.recipe}) makes no segments.")
        self.ctx, self.artifact, self.model, self.filter_arn = ctx, artifact, model, filter_arn
        self.attributes = artifact.recipe == ATTRIBUTES
        self.n = min(n, model.n_users)
        ui = artifact.user_items[:, :model.n_items]
        self.exclude: sp.csr_matrix | None = ui if artifact.avoid_repeats else None
        self.columns = {k[len(ATTRIBUTE_PREFIX):]: v for k, v in artifact.extras.items()
                        if k.startswith(ATTRIBUTE_PREFIX)}
        self._masks: dict[tuple[tuple[str, str], ...], np.ndarray | None] = {}
        # Users a data deletion job removed after the model was trained (spec A.15).
        self.gone = gone

    @property
    def member(self) -> str:
        return "itemAttributes" if self.attributes else "itemId"

    def parse(self, obj: dict[str, Any]) -> tuple[str, dict[str, str]]:
        """(the query, filterValues) of a line; BadLine says what is wrong."""
        unknown = sorted(set(obj) - {self.member, "filterValues"})
        if unknown:
            raise batch_io.BadLine(f"Unknown field(s) {unknown}: a line for {self.artifact.recipe} "
                             f"has {self.member} (and may have filterValues).")
        query = obj.get(self.member)
        limit = MAX_QUERY_LENGTH if self.attributes else 256
        if not isinstance(query, str) or not 0 < len(query) <= limit:
            raise batch_io.BadLine(f"{self.member} must be a string of 1 to {limit} characters, "
                             f"got {query!r}.")
        return query, batch_io.filter_values(obj.get("filterValues"))

    def _top(self, scores_for: Any, keep: np.ndarray | None) -> list[str]:
        """Users best first from ``scores_for(n) -> (users, scores)``, filtered by ``keep``."""
        if keep is None:
            users, _ = scores_for(self.n)
        else:  # rank everyone, then drop the users the filter removes
            users, _ = scores_for(self.model.n_users)
            users = users[(users >= 0) & keep[np.maximum(users, 0)]][:self.n]
        return self.artifact.user_ids[users[users >= 0]].tolist()

    def keep(self, values: dict[str, str]) -> np.ndarray | None:
        """The users the job's filter lets through for these filterValues (cached per
        chunk: lines usually share them)."""
        key = tuple(sorted(values.items()))
        if key not in self._masks:
            keep = batch.user_filter(self.ctx, self.artifact, self.filter_arn, values)
            if self.gone is not None:
                keep = ~self.gone if keep is None else keep & ~self.gone
            self._masks[key] = keep
        return self._masks[key]

    def attribute_users(self, query: str, keep: np.ndarray | None) -> list[str]:
        mask = match_items(query, self.columns, self.artifact.extras[ATTRIBUTE_KNOWN])
        return self._top(lambda n: self.model.users_for_mask(mask[:self.model.n_items], n),
                         keep)

    def item_users(self, items: list[str], masks: list[np.ndarray | None],
                   ) -> list[list[str] | str]:
        """Segments of many items, scored in blocks of items (one model call each)."""
        index, out = self.artifact.item_index, []
        known = [index.get(i, -1) for i in items]
        known = [k if k < self.model.n_items else -1 for k in known]
        width = self.n if all(m is None for m in masks) else self.model.n_users
        step = max(1, BLOCK_CELLS // max(width, 1))
        found: dict[int, np.ndarray] = {}
        rows = [k for k in dict.fromkeys(known) if k >= 0]
        for start in range(0, len(rows), step):
            block = np.array(rows[start:start + step], dtype=np.int64)
            users, _ = self.model.users_for_items(block, width, exclude=self.exclude)
            found.update(zip(block.tolist(), users, strict=True))
        for item, k, keep in zip(items, known, masks, strict=True):
            if k < 0:
                out.append(f"Item {item} is not in the training data of this model, so it "
                           "has no segment.")
                continue
            users = found[k]
            users = users[users >= 0]
            if keep is not None:
                users = users[keep[users]]
            out.append(self.artifact.user_ids[users[:self.n]].tolist())
        return out

    def _answer(self, obj: dict[str, Any], queries: list[tuple[int, str, Any]],
                at: int) -> list[str] | str | None:
        """A line's segment or error; None when queued in ``queries`` (Item-Affinity
        lines are scored together)."""
        try:
            query, values = self.parse(obj)
            keep = self.keep(values)
        except (batch_io.BadLine, PersonalizeError) as exc:
            return str(exc)
        if not self.attributes:
            queries.append((at, query, keep))
            return None
        try:
            return self.attribute_users(query, keep)
        except ValueError as exc:
            return f"Invalid itemAttributes: {exc}."

    def handle(self, chunk: list[tuple[int, bytes]]) -> tuple[list[bytes], int]:
        echoes: list[dict[str, Any]] = []
        results: list[list[str] | str | None] = []
        queries: list[tuple[int, str, Any]] = []
        self._masks = {}
        for _, raw in chunk:
            obj, problem = batch_io.parse_json(raw)
            if obj is None:
                echoes.append(batch_io.echo_raw(raw))
                results.append(problem)
                continue
            echoes.append({"input": obj})
            results.append(self._answer(obj, queries, len(results)))
        if queries:
            segments = self.item_users([q for _, q, _ in queries], [k for *_, k in queries])
            for (at, _, _), segment in zip(queries, segments, strict=True):
                results[at] = segment
        lines, errors = [], 0
        for echo, result in zip(echoes, results, strict=True):
            if isinstance(result, str) or result is None:
                errors += 1
                lines.append(batch_io.record(echo, None, result or "No answer."))
            else:
                # AWS's user-segmentation sample reads x['output']['usersList'].
                lines.append(batch_io.record(echo, {"usersList": result}, None))
        return lines, errors


def deleted_users(ctx: Context, artifact: Artifact, version: Resource) -> np.ndarray | None:
    """bool per user of ``artifact``: removed by a data deletion job since ``version`` was
    created (None: nobody)."""
    rows = ctx.store.db.execute(
        "SELECT user_id FROM deleted_users WHERE group_arn = ? AND deleted >= ?",
        [version.attrs["datasetGroupArn"], version.created]).fetchall()
    index = artifact.user_index
    found = [index[user] for (user,) in rows if user in index]
    if not found:
        return None
    gone = np.zeros(len(artifact.user_ids), dtype=bool)
    gone[found] = True
    return gone


def run(ctx: Context, res: Resource) -> None:
    artifact = batch_io.start(ctx, res)
    gone = deleted_users(ctx, artifact, ctx.store.one(res.attrs["solutionVersionArn"]))
    segments = Segments(ctx, artifact, res.attrs["numResults"], res.attrs.get("filterArn"),
                        gone)
    limits = res.attrs["_limits"]
    quota = "item_attribute_affinity_queries" if segments.attributes else \
        "item_affinity_queries"
    source = res.attrs["jobInput"]["s3DataSource"]["path"]
    output = res.attrs["jobOutput"]["s3DataDestination"]["path"]
    files = batch_io.input_files(source, output, limits["batch_input_files"],
                                 limits["batch_input_bytes"])
    log.info("%s: %s, %d input files, %d users per segment", res.arn, artifact.recipe,
             len(files), segments.n)
    totals = batch_io.run_files(
        res.arn, files, output, CHUNK_LINES, segments.handle, limits[quota],
        f"a {artifact.recipe} segment job takes at most that many queries per file (quota "
        f"{quota})")
    batch_io.check_some_succeeded(totals, files, output)
    ctx.store.set_status(res.arn, Status.ACTIVE)
    log.info("%s: wrote %d .out files, %d segments (%d with an error)", res.arn,
             totals.outputs, totals.lines, totals.errors)
