"""CreateSchema, DescribeSchema, ListSchemas, DeleteSchema (schemas have no status)."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import ResourceInUseException
from chalicelib.resources import common, quotas
from chalicelib.resources.schema_rules import parse_schema
from chalicelib.state import arns
from chalicelib.state.context import Context

KIND = common.Kind("schema", "schemaArn", summary_keys=("domain",))


def create_schema(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name, domain = params["name"], params.get("domain")
    parse_schema(params["schema"], domain)
    with ctx.store.transaction():
        common.check_name_free(ctx, KIND, name)
        quotas.check("schemas", len(ctx.store.find(KIND.name)),
                     f"Cannot create schema {name}: too many schemas")
        attrs = common.drop_none({"schema": params["schema"], "domain": domain})
        res = common.create(ctx, KIND, arns.arn(KIND.name, name), name, None, attrs,
                            job=None, status=None)
    return {"schemaArn": res.arn}


def describe_schema(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return {"schema": common.to_wire(KIND, common.require(ctx, KIND, params["schemaArn"]))}


def list_schemas(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return common.list_resources(ctx, params, "ListSchemas", KIND, "schemas")


def delete_schema(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        res = common.require(ctx, KIND, params["schemaArn"])
        users = [d for d in ctx.store.find("dataset") if d.attrs.get("schemaArn") == res.arn]
        if users:
            raise ResourceInUseException(
                f"Schema {res.arn} is used by dataset {users[0].arn}; delete the dataset "
                "(or move it to another schema with UpdateDataset) first.")
        ctx.store.remove(res.arn)
    return {}
