"""Tests for the static recipe/algorithm/feature-transformation catalogue."""
from __future__ import annotations

import datetime
import json
import re
from typing import Any

import botocore.session
import pytest
from botocore.parsers import JSONParser

from chalicelib.resources import catalogue as cat

MODEL = botocore.session.get_session().get_service_model("personalize")


def check_shape(value: Any, shape: Any, path: str = "$") -> None:
    """Assert `value` (a JSON-wire value) conforms to botocore `shape`, recursively."""
    t = shape.type_name
    if t == "structure":
        assert isinstance(value, dict), f"{path}: expected object, got {value!r}"
        for key, member_value in value.items():
            assert key in shape.members, f"{path}: {key!r} is not a member of {shape.name}"
            assert member_value is not None, f"{path}.{key}: None must be omitted"
            check_shape(member_value, shape.members[key], f"{path}.{key}")
        for key in shape.required_members:
            assert key in value, f"{path}: required member {key!r} missing"
    elif t == "list":
        assert isinstance(value, list), f"{path}: expected list"
        assert len(value) <= shape.metadata.get("max", len(value)), f"{path}: too long"
        for i, item in enumerate(value):
            check_shape(item, shape.member, f"{path}[{i}]")
    elif t == "map":
        assert isinstance(value, dict), f"{path}: expected map"
        for k, v in value.items():
            check_shape(k, shape.key, f"{path}<key>")
            check_shape(v, shape.value, f"{path}[{k!r}]")
    elif t == "string":
        assert isinstance(value, str), f"{path}: expected string, got {value!r}"
        meta = shape.metadata
        assert meta.get("min", 0) <= len(value) <= meta.get("max", len(value)), path
        if "pattern" in meta:
            assert re.match(meta["pattern"], value), f"{path}: {value!r} !~ {meta['pattern']}"
        if shape.enum:
            assert value in shape.enum, f"{path}: {value!r} not in {shape.enum}"
    elif t == "integer" or t == "long":
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: int expected"
    elif t in ("double", "float"):
        assert isinstance(value, (int, float)) and not isinstance(value, bool), path
    elif t == "boolean":
        assert isinstance(value, bool), f"{path}: bool expected"
    elif t == "timestamp":
        assert isinstance(value, float), f"{path}: epoch float expected"
    else:  # pragma: no cover
        pytest.fail(f"{path}: unhandled shape type {t}")


def parse_output(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """Round-trip through botocore's JSON parser, as a boto3 client would."""
    shape = MODEL.operation_model(operation).output_shape
    response = {"status_code": 200, "headers": {}, "body": json.dumps(body).encode()}
    return JSONParser().parse(response, shape)


# ------------------------------------------------------------------ catalogue
def test_recipe_counts_and_unique_names() -> None:
    names = [r.name for r in cat.RECIPES]
    assert len(names) == len(set(names)) == 25
    assert sum(1 for r in cat.RECIPES if r.domain is None) == 15
    assert sum(1 for r in cat.RECIPES if r.is_use_case) == 10


def test_recipe_types() -> None:
    types = {r.name: r.recipe_type for r in cat.RECIPES}
    assert types["aws-popularity-count"] == "USER_PERSONALIZATION"
    assert cat.recipe_by_name("aws-popularity-count").serving_type == "POPULAR_ITEMS"
    assert types["aws-trending-now"] == "POPULAR_ITEMS"
    assert types["aws-item-affinity"] == "USER_SEGMENTATION"
    assert types["aws-next-best-action"] == "PERSONALIZED_ACTIONS"
    assert types["aws-ecomm-recommended-for-you"] == "USER_PERSONALIZATION"
    assert types["aws-vod-more-like-x"] == "RELATED_ITEMS"
    assert types["aws-vod-trending-now"] == "POPULAR_ITEMS"
    assert {r.name for r in cat.RECIPES if r.is_legacy} == set(cat.LEGACY_RECIPES)


@pytest.mark.parametrize("recipe", cat.RECIPES, ids=lambda r: r.name)
def test_every_arn_resolves(recipe: cat.Recipe) -> None:
    assert cat.recipe_from_arn(f"arn:aws:personalize:::recipe/{recipe.name}") is recipe
    assert cat.recipe_by_name(recipe.name) is recipe
    if recipe.is_use_case:
        assert recipe.algorithm is None and recipe.feature_transformation is None
        assert recipe.hyperparameters == ()
    else:
        assert cat.algorithm_from_arn(recipe.algorithm_arn) == recipe.algorithm
        assert recipe.hyperparameters == cat.HYPERPARAMETERS[recipe.algorithm]
    if recipe.feature_transformation is not None:
        ft_arn = recipe.feature_transformation_arn
        assert cat.feature_transformation_from_arn(ft_arn) == recipe.feature_transformation


def test_unknown_arns() -> None:
    assert cat.recipe_from_arn("arn:aws:personalize:::recipe/nope") is None
    assert cat.recipe_from_arn("arn:aws:personalize:::algorithm/aws-sims") is None
    assert cat.recipe_by_name("nope") is None
    assert cat.algorithm_from_arn("arn:aws:personalize:::algorithm/nope") is None
    assert cat.algorithm_from_arn("arn:aws:personalize:::recipe/aws-sims") is None
    missing = "arn:aws:personalize:::feature-transformation/x"
    assert cat.feature_transformation_from_arn(missing) is None
    with pytest.raises(KeyError):
        cat.algorithm_wire("nope")
    with pytest.raises(KeyError):
        cat.feature_transformation_wire("nope")


def test_list_recipes() -> None:
    assert cat.list_recipes() == list(cat.RECIPES)
    assert cat.list_recipes(None) == list(cat.RECIPES)
    assert sorted(r.name for r in cat.list_recipes(domain="VIDEO_ON_DEMAND")) == sorted([
        "aws-vod-because-you-watched-x", "aws-vod-more-like-x", "aws-vod-most-popular",
        "aws-vod-trending-now", "aws-vod-top-picks"])
    ecomm = cat.list_recipes("ECOMMERCE")
    assert len(ecomm) == 5 and all(r.name.startswith("aws-ecomm-") for r in ecomm)
    with pytest.raises(ValueError, match="RETAIL"):
        cat.list_recipes("RETAIL")


# ------------------------------------------------------------------ wire shapes
@pytest.mark.parametrize("recipe", cat.RECIPES, ids=lambda r: r.name)
def test_recipe_wire_shapes(recipe: cat.Recipe) -> None:
    full = cat.recipe_wire(recipe)
    check_shape(full, MODEL.shape_for("Recipe"))
    assert full["recipeArn"] == recipe.arn and full["status"] == "ACTIVE"
    assert full["creationDateTime"] == cat.CATALOGUE_EPOCH
    assert ("algorithmArn" in full) == (recipe.algorithm is not None)
    assert ("featureTransformationArn" in full) == (recipe.feature_transformation is not None)
    summary = cat.recipe_wire(recipe, summary=True)
    check_shape(summary, MODEL.shape_for("RecipeSummary"))
    assert summary.get("domain") == recipe.domain
    parsed = parse_output("DescribeRecipe", {"recipe": full})
    assert isinstance(parsed["recipe"]["creationDateTime"], datetime.datetime)
    assert parsed["recipe"]["creationDateTime"].year == 2018


def test_list_recipes_response_parses() -> None:
    body = {"recipes": [cat.recipe_wire(r, summary=True) for r in cat.list_recipes()]}
    check_shape(body, MODEL.operation_model("ListRecipes").output_shape)
    assert len(parse_output("ListRecipes", body)["recipes"]) == 25


@pytest.mark.parametrize("name", cat.ALGORITHMS)
def test_algorithm_wire_shapes(name: str) -> None:
    wire = cat.algorithm_wire(name)
    check_shape(wire, MODEL.shape_for("Algorithm"))
    check_shape({"algorithm": wire}, MODEL.operation_model("DescribeAlgorithm").output_shape)
    assert wire["algorithmImage"]["dockerURI"] == f"tailor://{name}"
    assert wire["defaultResourceConfig"] == {"maxNumberOfTrainingJobs": "20",
                                             "maxParallelTrainingJobs": "5"}
    assert cat.algorithm_from_arn(wire["algorithmArn"]) == name
    parse_output("DescribeAlgorithm", {"algorithm": wire})


def test_algorithm_wire_sims_matches_spec_example() -> None:
    wire = cat.algorithm_wire("aws-sims")
    assert wire["defaultHyperParameterRanges"] == {
        "integerHyperParameterRanges": [{"name": "min_cointeraction_count", "minValue": 0,
                                         "maxValue": 10, "isTunable": True}],
        "continuousHyperParameterRanges": [{"name": "popularity_discount_factor",
                                            "minValue": 0.0, "maxValue": 1.0,
                                            "isTunable": True}],
        "categoricalHyperParameterRanges": []}
    assert wire["defaultHyperParameters"] == {"min_cointeraction_count": "3",
                                              "popularity_discount_factor": "0.5"}


def test_algorithm_wire_details() -> None:
    hrnn = cat.algorithm_wire("aws-hrnn")
    assert hrnn["defaultHyperParameters"] == {"hidden_dimension": "43", "bptt": "32",
                                              "recency_mask": "true"}
    v2 = cat.algorithm_wire("aws-user-personalization-v2")
    assert v2["defaultHyperParameters"]["apply_recency_bias"] == "true"
    cats = v2["defaultHyperParameterRanges"]["categoricalHyperParameterRanges"]
    assert {"name": "recency_mask", "values": ["true", "false"], "isTunable": True} in cats
    affinity = cat.algorithm_wire("aws-item-affinity")["defaultHyperParameterRanges"]
    assert affinity["integerHyperParameterRanges"] == [
        {"name": "hidden_dimension", "minValue": 32, "maxValue": 256, "isTunable": False}]
    assert cat.algorithm_wire("aws-popularity-count")["defaultHyperParameters"] == {}


@pytest.mark.parametrize("name", list(cat.FEATURE_TRANSFORMATIONS))
def test_feature_transformation_wire_shapes(name: str) -> None:
    wire = cat.feature_transformation_wire(name)
    check_shape(wire, MODEL.shape_for("FeatureTransformation"))
    assert wire["status"] == "ACTIVE"
    parse_output("DescribeFeatureTransformation", {"featureTransformation": wire})


def test_feature_transformation_defaults() -> None:
    ft = cat.FEATURE_TRANSFORMATIONS
    assert set(ft) == {"JSON-percentile-filtering", "featurize_metadata", "featurize_coldstart",
                       "sims", "item-affinity", "item-attribute-affinity"}
    assert dict(ft["JSON-percentile-filtering"]) == {
        "min_user_history_length_percentile": "0.0",
        "max_user_history_length_percentile": "0.99"}
    assert ft["sims"]["max_item_interaction_count_percentile"] == "0.9"
    assert ft["featurize_coldstart"]["cold_start_relative_from"] == "latestItem"
    assert ft["featurize_coldstart"]["cold_start_max_interactions"] == "15"


def test_shape_checker_rejects_foreign_members() -> None:
    with pytest.raises(AssertionError):
        check_shape({"name": "x", "domain": "ECOMMERCE"}, MODEL.shape_for("Recipe"))
    with pytest.raises(AssertionError):
        check_shape({"creationDateTime": "2018"}, MODEL.shape_for("RecipeSummary"))


# ------------------------------------------------------------------ validation
def test_validate_defaults() -> None:
    eff = cat.validate_hyperparameters("aws-user-personalization", {})
    assert eff == {"hidden_dimension": "149", "bptt": "32", "recency_mask": "true",
                   "min_user_history_length_percentile": "0.0",
                   "max_user_history_length_percentile": "0.99"}
    assert cat.validate_hyperparameters("aws-popularity-count", {}) == {}
    trending = cat.validate_hyperparameters("aws-trending-now-custom", {})
    assert trending == {"trend_discovery_frequency": "30 minutes"}


def test_validate_override() -> None:
    eff = cat.validate_hyperparameters(
        "arn:aws:personalize:::algorithm/aws-sims",
        {"min_cointeraction_count": "10", "popularity_discount_factor": "0",
         "max_item_interaction_count_percentile": "0.8"})
    assert eff["min_cointeraction_count"] == "10"
    assert eff["popularity_discount_factor"] == "0"
    assert eff["max_item_interaction_count_percentile"] == "0.8"
    assert eff["min_user_history_length_percentile"] == "0.005"
    assert cat.validate_hyperparameters(
        "aws-hrnn", {"recency_mask": "FALSE"})["recency_mask"] == "false"
    assert cat.validate_hyperparameters(
        "aws-trending-now-custom",
        {"trend_discovery_frequency": "1 day"})["trend_discovery_frequency"] == "1 day"
    cold = cat.validate_hyperparameters(
        "aws-hrnn-coldstart", {"cold_start_relative_from": "currentTime",
                               "cold_start_max_duration": "2.5"})
    assert cold["cold_start_relative_from"] == "currentTime"
    assert cold["cold_start_max_interactions"] == "15"


def test_validate_unknown_key() -> None:
    with pytest.raises(ValueError) as err:
        cat.validate_hyperparameters("aws-sims", {"hidden_dimension": "64"})
    msg = str(err.value)
    assert "'hidden_dimension'" in msg and "'64'" in msg
    assert "min_cointeraction_count" in msg and "popularity_discount_factor" in msg
    with pytest.raises(ValueError, match="takes no hyperparameters"):
        cat.validate_hyperparameters("aws-popularity-count", {"x": "1"})
    with pytest.raises(ValueError, match="Unknown algorithm"):
        cat.validate_hyperparameters("aws-nope", {})


def test_validate_out_of_range() -> None:
    with pytest.raises(ValueError) as err:
        cat.validate_hyperparameters("aws-user-personalization", {"hidden_dimension": "512"})
    msg = str(err.value)
    assert "'hidden_dimension'" in msg and "'512'" in msg and "[32, 256]" in msg
    with pytest.raises(ValueError, match=r"\[0.0, 1.0\]"):
        cat.validate_hyperparameters("aws-sims", {"popularity_discount_factor": "1.5"})
    with pytest.raises(ValueError, match="cold_start_max_duration"):
        cat.validate_hyperparameters("aws-hrnn-coldstart", {"cold_start_max_duration": "0"})
    with pytest.raises(ValueError, match="'1 week'"):
        cat.validate_hyperparameters("aws-trending-now-custom",
                                     {"trend_discovery_frequency": "1 week"})


@pytest.mark.parametrize("key,value,expected", [
    ("hidden_dimension", "abc", "integer"),
    ("hidden_dimension", "64.5", "integer"),
    ("hidden_dimension", 64, "string"),
    ("max_user_history_length_percentile", "high", "number"),
    ("max_user_history_length_percentile", "nan", "number"),
    ("recency_mask", "yes", "boolean"),
])
def test_validate_bad_type(key: str, value: Any, expected: str) -> None:
    with pytest.raises(ValueError) as err:
        cat.validate_hyperparameters("aws-user-personalization", {key: value})
    assert key in str(err.value) and expected in str(err.value)


def test_validate_hpo_only() -> None:
    with pytest.raises(ValueError, match="performHPO"):
        cat.validate_hyperparameters("aws-similar-items", {"item_id_hidden_dim": "50"})
    eff = cat.validate_hyperparameters("aws-similar-items", {"item_id_hidden_dim": "50"},
                                       allow_hpo_only=True)
    assert eff == {"item_id_hidden_dim": "50", "item_metadata_hidden_dim": "100"}


def test_defaults_are_self_consistent() -> None:
    for algorithm, params in cat.HYPERPARAMETERS.items():
        defaults = {p.name: p.default for p in params}
        assert len(defaults) == len(params), algorithm
        assert cat.validate_hyperparameters(algorithm, defaults,
                                            allow_hpo_only=True) == defaults


def test_every_custom_recipe_has_a_trainer() -> None:
    """ListRecipes' custom recipes all train (domain use cases serve through recommenders)."""
    from chalicelib.jobs.train import trainer_of

    missing = [r.name for r in cat.list_recipes() if not r.is_use_case
               and trainer_of(r.name) is None]
    assert missing == []
