"""Deployed models, loaded once per process and kept in memory (no per-request load)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from chalicelib.errors import InvalidInputException, ResourceNotFoundException
from chalicelib.resources import catalogue
from chalicelib.runtime.artifacts import Artifact
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import Status
from chalicelib.state.store import Resource

CACHE_SIZE = 8
_cache: OrderedDict[str, Artifact] = OrderedDict()
_lock = threading.Lock()


def artifact_key(version_arn: str) -> str:
    return f"models/{version_arn.rsplit(':', 1)[1]}.npz"


def load(ctx: Context, version_arn: str) -> Artifact:
    """The artifact of a trained solution version (immutable, so cached by ARN)."""
    with _lock:
        found = _cache.get(version_arn)
        if found is not None:
            _cache.move_to_end(version_arn)
            return found
    artifact = Artifact.from_bytes(ctx.blobs.get(artifact_key(version_arn)))
    with _lock:
        _cache[version_arn] = artifact
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return artifact


def active_campaign(ctx: Context, arn: str) -> Resource:
    campaign = ctx.store.get(arn)
    if campaign is None or campaign.kind != "campaign":
        raise ResourceNotFoundException(f"Campaign {arn} does not exist.")
    if campaign.status != Status.ACTIVE:
        raise ResourceNotFoundException(
            f"Campaign {arn} is {campaign.status}, not ACTIVE; poll DescribeCampaign until it "
            "is ACTIVE.")
    return campaign


def campaign_model(ctx: Context, arn: str) -> tuple[Resource, Artifact, catalogue.Recipe]:
    campaign = active_campaign(ctx, arn)
    artifact = load(ctx, campaign.attrs["solutionVersionArn"])
    recipe = catalogue.recipe_by_name(artifact.recipe)
    if recipe is None:
        raise InvalidInputException(f"Campaign {arn} serves an unknown recipe {artifact.recipe}.")
    return campaign, artifact, recipe
