"""GetRecommendations by recommenderArn: the request members each use case needs, and
the items it removes on its own (spec C.2, E.1 "Automatic filtering in recommenders":
items the user purchased, for recommended-for-you and customers-who-viewed-x; videos
the user watched, for top-picks, because-you-watched-x and more-like-x)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chalicelib.errors import InvalidInputException
from chalicelib.resources import catalogue
from chalicelib.resources.use_cases import UseCase, use_case
from chalicelib.runtime.artifacts import Artifact
from chalicelib.state.context import Context
from chalicelib.state.store import Resource

# The user's newest events of the excluded type streamed since training that are read
# (spec I.5: filters consider 100 interactions per user and event type).
LIVE_EXCLUDED = 100


def use_case_of(recommender: Resource) -> UseCase:
    recipe = catalogue.recipe_from_arn(recommender.attrs["recipeArn"])
    found = use_case(recipe.name) if recipe is not None else None
    if found is None:
        raise InvalidInputException(
            f"Recommender {recommender.arn} has no use case Tailor serves "
            f"({recommender.attrs['recipeArn']}).")
    return found


def use_case_request(ctx: Context, recommender: Resource, artifact: Artifact,
                     params: dict[str, Any]) -> frozenset[str]:
    """Check the request against the recommender's use case; the item ids to remove from
    its answer."""
    case = use_case_of(recommender)
    for member, needed in (("userId", case.needs_user), ("itemId", case.needs_item)):
        if needed and not params.get(member):
            raise InvalidInputException(
                f"{member} is required for recommenders of {case.recipe} (recommender "
                f"{recommender.arn}).")
    user_id = params.get("userId")
    if case.excluded_event is None or not user_id:
        return frozenset()
    return frozenset(_trained_exclusions(artifact, user_id)) | \
        _live_exclusions(ctx, artifact, user_id, case.excluded_event)


def _trained_exclusions(artifact: Artifact, user_id: str) -> list[str]:
    users = artifact.extras.get("excluded_users")
    if users is None:
        return []
    index = artifact.derived.get("excluded_index")
    if not isinstance(index, dict):
        index = artifact.derived["excluded_index"] = {u: i for i, u in enumerate(users.tolist())}
    row = index.get(user_id)
    if row is None:
        return []
    indptr = artifact.extras["excluded_indptr"]
    items: np.ndarray = artifact.extras["excluded_items"][indptr[row]:indptr[row + 1]]
    return artifact.item_ids[items].tolist()


def _live_exclusions(ctx: Context, artifact: Artifact, user_id: str,
                     event_type: str) -> frozenset[str]:
    """Items the user has ``event_type`` events for through PutEvents since training
    (event types match case-insensitively, as in training)."""
    rows = ctx.store.db.execute(
        "SELECT record_id FROM put_rows WHERE dataset_arn = ? AND user_id = ? AND id > ? "
        "AND lower(json_extract(fields, '$.EVENT_TYPE')) = ? ORDER BY id DESC LIMIT ?",
        [artifact.live_source[0], user_id, artifact.live_source[1], event_type.lower(),
         LIVE_EXCLUDED]).fetchall()
    return frozenset(r[0] for r in rows)
