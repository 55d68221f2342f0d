"""recommendationId: which campaign or recommender answered, without a write per request.

An id looks like AWS's, ``RID-`` and a UUID-shaped 36 characters (40 in all, the most
PutEvents accepts), but its first 12 hex digits are a tag of the ARN that served it and
only the other 20 are random. Metric attribution (jobs/attribution_reports) maps tags
back to ARNs through the ``recommendation_sources`` table, which it fills with every
campaign and recommender it sees, so serving stays free of sqlite writes.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from functools import lru_cache

_ID = re.compile(r"RID-([0-9a-f]{8})-([0-9a-f]{4})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@lru_cache(maxsize=4096)
def tag_of_arn(arn: str) -> str:
    """The 12 hex digits that stand for ``arn`` in its recommendation ids."""
    return hashlib.sha256(arn.encode()).hexdigest()[:12]


def new_id(arn: str) -> str:
    tag, rand = tag_of_arn(arn), uuid.uuid4().hex
    return f"RID-{tag[:8]}-{tag[8:]}-{rand[:4]}-{rand[4:8]}-{rand[8:20]}"


def tag_of_id(recommendation_id: str) -> str | None:
    """The ARN tag inside a recommendation id Tailor issued, or None for any other id."""
    found = _ID.fullmatch(recommendation_id)
    return found.group(1) + found.group(2) if found else None
