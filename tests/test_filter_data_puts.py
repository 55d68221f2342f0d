"""Filter tables parse a records dataset's PutItems / PutUsers rows once, as they come."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chalicelib.config import Settings
from chalicelib.runtime.filter_data import State, _appended_rows
from chalicelib.state.context import Context, build

ARN = "arn:aws:personalize:us-east-1:123456789012:dataset/g/ITEMS"


def _put(ctx: Context, *items: str) -> int:
    with ctx.store.transaction() as db:
        for item in items:
            db.execute("INSERT INTO put_rows (dataset_arn, record_id, fields, created) "
                       "VALUES (?, ?, ?, 0)", [ARN, item, json.dumps({"ITEM_ID": item})])
    return int(ctx.store.db.execute("SELECT max(id) FROM put_rows").fetchone()[0])


def _ids(rows: Sequence[Any]) -> list[str]:
    return [r["ITEM_ID"] for r in rows]


def test_rows_are_read_up_to_each_state_and_a_deletion_starts_afresh(tmp_path: Path) -> None:
    ctx = build(Settings(data_dir=tmp_path))
    three = _put(ctx, "a", "b", "c")
    assert _ids(_appended_rows(ctx, State(ARN, 1.0, (), three))) == ["a", "b", "c"]
    five = _put(ctx, "d", "e")
    assert _ids(_appended_rows(ctx, State(ARN, 1.0, (), five))) == ["a", "b", "c", "d", "e"]
    # An older state (another thread still reads it): its own prefix.
    assert _ids(_appended_rows(ctx, State(ARN, 1.0, (), three))) == ["a", "b", "c"]
    # A data deletion removed a row in the middle and counted itself: read again.
    with ctx.store.transaction() as db:
        db.execute("DELETE FROM put_rows WHERE record_id = 'b'")
    assert _ids(_appended_rows(ctx, State(ARN, 1.0, (), five, deletions=1))) == \
        ["a", "c", "d", "e"]
    # The dataset deleted and created again under the same ARN: its own rows only.
    with ctx.store.transaction() as db:
        db.execute("DELETE FROM put_rows")
    six = _put(ctx, "z")
    assert _ids(_appended_rows(ctx, State(ARN, 2.0, (), six))) == ["z"]
