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
    """The artifact of a trained solution version."""
    return load_key(ctx, artifact_key(version_arn))


def load_key(ctx: Context, key: str) -> Artifact:
    """The artifact stored at ``key`` (never rewritten: a new model gets a new key, so it
    is cached by key)."""
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    artifact = Artifact.from_bytes(ctx.blobs.get(key))
    with _lock:
        _cache[key] = artifact
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return artifact


def active_campaign(ctx: Context, arn: str) -> Resource:
    campaign = ctx.store.get_shared(arn)
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


def recommender_model(ctx: Context, arn: str) -> tuple[Resource, Artifact, catalogue.Recipe]:
    """An ACTIVE recommender, its model, and the custom recipe that model serves as."""
    recommender = ctx.store.get_shared(arn)
    if recommender is None or recommender.kind != "recommender":
        raise ResourceNotFoundException(f"Recommender {arn} does not exist.")
    if recommender.status != Status.ACTIVE:
        raise InvalidInputException(
            f"Recommender {arn} is {recommender.status}, not active: it serves only when "
            "ACTIVE (StartRecommender starts an INACTIVE one).")
    artifact = load_key(ctx, recommender.attrs["_artifact"])
    recipe = catalogue.recipe_by_name(artifact.recipe)
    if recipe is None:
        raise InvalidInputException(
            f"Recommender {arn} serves an unknown recipe {artifact.recipe}.")
    return recommender, artifact, recipe
