"""ListRecipes, DescribeRecipe, DescribeAlgorithm, DescribeFeatureTransformation."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import ResourceNotFoundException
from chalicelib.protocol.pagination import paginate
from chalicelib.resources import catalogue
from chalicelib.state.context import Context


def list_recipes(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    recipes = catalogue.list_recipes(params.get("domain"))
    page, token = paginate("ListRecipes", params, recipes)
    out: dict[str, Any] = {"recipes": [catalogue.recipe_wire(r, summary=True) for r in page]}
    if token:
        out["nextToken"] = token
    return out


def describe_recipe(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    recipe = catalogue.recipe_from_arn(params["recipeArn"])
    if recipe is None:
        raise ResourceNotFoundException(
            f"Recipe {params['recipeArn']} does not exist; ListRecipes shows the recipe ARNs.")
    return {"recipe": catalogue.recipe_wire(recipe)}


def describe_algorithm(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = catalogue.algorithm_from_arn(params["algorithmArn"])
    if name is None:
        raise ResourceNotFoundException(f"Algorithm {params['algorithmArn']} does not exist.")
    return {"algorithm": catalogue.algorithm_wire(name)}


def describe_feature_transformation(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    arn = params["featureTransformationArn"]
    name = catalogue.feature_transformation_from_arn(arn)
    if name is None:
        raise ResourceNotFoundException(f"Feature transformation {arn} does not exist.")
    return {"featureTransformation": catalogue.feature_transformation_wire(name)}
