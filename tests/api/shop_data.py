"""A small shop for the filter, promotion and metadata tests: interactions with event types,
an Items dataset with every kind of column, a Users dataset, an event tracker, and one
campaign per serving recipe type. Built once per test session (both test modules use it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import (
    Tailor,
    create_dataset,
    create_interactions_dataset,
    import_csv,
    schema_json,
    train,
    unique,
    wait,
)
from tests.synthetic import Interactions, planted_interactions

GENRES = ("drama", "comedy", "horror", "scifi")
BRANDS = ("acme", "globex", "")  # "" = no brand (null)
T0 = 1_700_000_000
ITEMS_SCHEMA = schema_json(
    "Items", {"name": "ITEM_ID", "type": "string"},
    {"name": "GENRE", "type": ["null", "string"], "categorical": True},
    {"name": "PRICE", "type": "float"},
    {"name": "YEAR", "type": ["null", "int"]},
    {"name": "BRAND", "type": ["null", "string"]},
    {"name": "PLOT", "type": ["null", "string"], "textual": True},
    {"name": "ON_SALE", "type": ["null", "boolean"]},
    {"name": "CREATION_TIMESTAMP", "type": "long"})
USERS_SCHEMA = schema_json(
    "Users", {"name": "USER_ID", "type": "string"}, {"name": "AGE", "type": "int"},
    {"name": "TIER", "type": "string", "categorical": True})


def genre(i: int) -> str:
    """Every tenth item is both drama and comedy."""
    return "drama|comedy" if i % 10 == 0 else GENRES[i % 4]


def price(i: int) -> float:
    return float(i % 50) + 0.5


def year(i: int) -> int:
    return 1990 + i % 30


def brand(i: int) -> str:
    return BRANDS[i % 3]


def age(u: int) -> int:
    return 10 + u % 50


def tier(u: int) -> str:
    return "premium" if u % 4 == 0 else "basic"


def items_csv(n_items: int) -> str:
    rows = ["ITEM_ID,GENRE,PRICE,YEAR,BRAND,PLOT,ON_SALE,CREATION_TIMESTAMP"]
    rows += [f"i{i},{genre(i)},{price(i)},{year(i)},{brand(i)},\"A story, number {i}\","
             f"{'true' if i % 2 else 'false'},{T0 - 86400 * 400}" for i in range(n_items)]
    return "\n".join(rows) + "\n"


def users_csv(n_users: int) -> str:
    return "USER_ID,AGE,TIER\n" + "".join(f"u{u},{age(u)},{tier(u)}\n" for u in range(n_users))


def with_event_types(data: Interactions) -> Interactions:
    """Every fourth event a purchase (spelled "Purchase": types match case-insensitively)."""
    data.event_types = ["Purchase" if k % 4 == 3 else "click" for k in range(len(data.users))]
    return data


@dataclass
class Shop:
    group: str
    items_dataset: str
    users_dataset: str
    tracking_id: str
    data: Interactions
    campaigns: dict[str, str] = field(default_factory=dict)

    def events_of(self, user: str, event_type: str | None = None) -> set[str]:
        return {i for u, i, t in zip(self.data.users, self.data.items, self.data.event_types,
                                     strict=True)
                if u == user and (event_type is None or t.lower() == event_type)}


_built: dict[str, Shop] = {}
N_ITEMS, N_USERS = 240, 400


def shop(tailor: Tailor, personalize: Any, s3: Any, bucket: str) -> Shop:
    """The session's shop (built on first use)."""
    key = tailor.env["AWS_ENDPOINT_URL_PERSONALIZE"]
    if key not in _built:
        _built[key] = _build(personalize, s3, bucket)
    return _built[key]


def _build(personalize: Any, s3: Any, bucket: str) -> Shop:
    data = with_event_types(planted_interactions(N_USERS, N_ITEMS, seed=21))
    group, interactions = create_interactions_dataset(personalize)
    import_csv(personalize, s3, bucket, interactions, data.to_csv())
    items = create_dataset(personalize, group, "Items", ITEMS_SCHEMA)
    import_csv(personalize, s3, bucket, items, items_csv(N_ITEMS))
    users = create_dataset(personalize, group, "Users", USERS_SCHEMA)
    import_csv(personalize, s3, bucket, users, users_csv(N_USERS))
    tracker = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=group)
    wait(lambda: personalize.describe_event_tracker(
        eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])
    built = Shop(group, items, users, tracker["trackingId"], data)
    for recipe, config in (
            ("aws-user-personalization", {"enableMetadataWithRecommendations": True,
                                          "itemExplorationConfig": {"explorationWeight": "0"}}),
            ("aws-personalized-ranking", {"enableMetadataWithRecommendations": True}),
            ("aws-popularity-count", {}), ("aws-sims", {})):
        _, version = train(personalize, group, recipe)
        built.campaigns[recipe] = campaign(personalize, version, **config)
    return built


def campaign(personalize: Any, version: str, **config: Any) -> str:
    arn = personalize.create_campaign(name=unique("c"), solutionVersionArn=version,
                                      campaignConfig=config)["campaignArn"]
    res = wait(lambda: personalize.describe_campaign(campaignArn=arn)["campaign"])
    assert res["status"] == "ACTIVE", res
    return arn


def make_filter(personalize: Any, group: str, expression: str) -> str:
    """An ACTIVE filter of ``group``."""
    arn = personalize.create_filter(name=unique("f"), datasetGroupArn=group,
                                    filterExpression=expression)["filterArn"]
    res = wait(lambda: personalize.describe_filter(filterArn=arn)["filter"])
    assert res["status"] == "ACTIVE", res
    return arn


def props(**values: Any) -> str:
    return json.dumps(values)



def filter_maker(personalize: Any, group: str) -> Iterator[Callable[..., str]]:
    """For a fixture: makes ACTIVE filters (in ``group`` by default) and deletes them after
    the test, since a group holds at most 10."""
    made: list[str] = []

    def make(expression: str, in_group: str | None = None) -> str:
        made.append(make_filter(personalize, in_group or group, expression))
        return made[-1]
    yield make
    for arn in made:
        personalize.delete_filter(filterArn=arn)
