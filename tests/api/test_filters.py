"""Filters through boto3 (spec A.11, F, L.4): the filter resource, CreateFilter's checks
and quotas, and every kind of filter on GetRecommendations, GetPersonalizedRanking and
GetActionRecommendations, including events and records sent after training."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from chalicelib.config import Settings
from chalicelib.errors import InvalidInputException
from chalicelib.runtime import filter_data, filters
from chalicelib.runtime.models import load
from chalicelib.state.context import build
from tests.api import shop_data
from tests.api.shop_data import Shop, brand, genre, make_filter, price, props, year
from tests.conftest import (
    Tailor,
    build_group,
    create_dataset,
    deploy,
    import_csv,
    schema_json,
    train,
    unique,
    wait,
)
from tests.synthetic import planted_interactions

UP, PR = "aws-user-personalization", "aws-personalized-ranking"
POP, SIMS = "aws-popularity-count", "aws-sims"


@pytest.fixture(scope="module")
def shop(tailor: Tailor, personalize: Any, s3: Any, bucket: str) -> Shop:
    return shop_data.shop(tailor, personalize, s3, bucket)


@pytest.fixture
def new_filter(personalize: Any, shop: Shop) -> Iterator[Callable[..., str]]:
    yield from shop_data.filter_maker(personalize, shop.group)


def recs(runtime: Any, shop: Shop, user: str | None = "u5", recipe: str = UP, n: int = 500,
         **params: Any) -> list[str]:
    if user is not None:
        params["userId"] = user
    return [i["itemId"] for i in runtime.get_recommendations(
        campaignArn=shop.campaigns[recipe], numResults=n, **params)["itemList"]]


def item_no(item: str) -> int:
    return int(item[1:])


def error_of(call: Callable[..., Any], **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


# -- the resource ---------------------------------------------------------------------------

def test_filter_lifecycle__create_describe_list_delete(personalize: Any, shop: Shop) -> None:
    name = unique("genre")
    expression = 'INCLUDE ItemID WHERE Items.GENRE IN ($G)'
    arn = personalize.create_filter(name=name, datasetGroupArn=shop.group,
                                    filterExpression=expression,
                                    tags=[{"tagKey": "team", "tagValue": "ml"}])["filterArn"]
    assert arn.endswith(f":filter/{name}")
    first = personalize.describe_filter(filterArn=arn)["filter"]
    assert first["status"] in ("CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE")
    described = wait(lambda: personalize.describe_filter(filterArn=arn)["filter"])
    assert described["status"] == "ACTIVE"
    assert (described["name"], described["datasetGroupArn"], described["filterExpression"]) \
        == (name, shop.group, expression)
    assert described["creationDateTime"] <= described["lastUpdatedDateTime"]
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"tagKey": "team", "tagValue": "ml"}]
    other = make_filter(personalize, shop.group, 'EXCLUDE ItemID WHERE Items.YEAR < 2000')
    listed = personalize.list_filters(datasetGroupArn=shop.group)["Filters"]
    mine = {f["filterArn"]: f for f in listed}
    assert {arn, other} <= set(mine) and "filterExpression" not in mine[arn]
    assert mine[arn]["status"] == "ACTIVE" and mine[arn]["datasetGroupArn"] == shop.group
    pages = personalize.get_paginator("list_filters").paginate(
        datasetGroupArn=shop.group, PaginationConfig={"PageSize": 1})
    assert {f["filterArn"] for page in pages for f in page["Filters"]} == set(mine)
    code, _ = error_of(personalize.create_filter, name=name, datasetGroupArn=shop.group,
                       filterExpression=expression)
    assert code == "ResourceAlreadyExistsException"
    for gone in (arn, other):
        personalize.delete_filter(filterArn=gone)
    code, _ = error_of(personalize.delete_filter, filterArn=arn)  # deleting, or gone
    assert code in ("ResourceInUseException", "ResourceNotFoundException")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            personalize.describe_filter(filterArn=arn)
        except personalize.exceptions.ResourceNotFoundException:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the filter was not removed")


def test_create_filter__unknown_group_and_not_found(personalize: Any, shop: Shop) -> None:
    missing = shop.group.rsplit("/", 1)[0] + "/no-such-group"
    code, _ = error_of(personalize.create_filter, name=unique("f"), datasetGroupArn=missing,
                       filterExpression='INCLUDE ItemID WHERE Items.GENRE IN ("x")')
    assert code == "ResourceNotFoundException"
    code, _ = error_of(personalize.describe_filter,
                       filterArn=shop.group.replace("dataset-group/", "filter/") + "-none")
    assert code == "ResourceNotFoundException"


@pytest.mark.parametrize(("expression", "why"), [
    ('EXCLUDE ItemID WHERE Items.GENRE = ',
     "expected a number or a $placeholder after = at the end"),
    ('INCLUDE ItemID WHERE Items.GENRE IN ("drama" "comedy")', "position 46"),
    ('INCLUDE ItemID WHERE Items.COLOR IN ("red")', "Items has no column COLOR"),
    ('INCLUDE ItemID WHERE Items.PLOT IN ("x")', "textual column"),
    ('INCLUDE ItemID WHERE Items.ON_SALE IN ("true")', "boolean"),
    ('INCLUDE ItemID WHERE Items.BRAND < 3', "< compares numbers but Items.BRAND is a string"),
    ('INCLUDE ItemID WHERE Items.PRICE IN ("cheap")', "values must be numbers"),
    ('INCLUDE ItemID WHERE Users.TIER IN ("basic")',
     "ItemID expressions filter by Items or Interactions"),
    ('EXCLUDE ActionID WHERE Actions.CHANNEL IN ("sms")', "no Actions dataset"),
    ('INCLUDE ItemID WHERE Interactions.DEVICE IN ("web")', "Interactions has no column DEVICE"),
])
def test_create_filter__invalid_expression(personalize: Any, shop: Shop, expression: str,
                                           why: str) -> None:
    code, message = error_of(personalize.create_filter, name=unique("f"),
                             datasetGroupArn=shop.group, filterExpression=expression)
    assert code == "InvalidInputException"
    assert message.startswith("Invalid filter expression") and why in message, message


def test_create_filter__quotas(personalize: Any) -> None:
    group = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    columns = [f"C{k}" for k in range(12)]
    create_dataset(personalize, group, "Items", schema_json(
        "Items", {"name": "ITEM_ID", "type": "string"},
        *({"name": c, "type": "string", "categorical": True} for c in columns)))

    def create(expression: str) -> str:
        return personalize.create_filter(name=unique("f"), datasetGroupArn=group,
                                         filterExpression=expression)["filterArn"]

    def all_of(names: list[str]) -> str:
        return "INCLUDE ItemID WHERE " + " AND ".join(f'Items.{c} IN ("x")' for c in names)

    code, message = error_of(personalize.create_filter, name=unique("f"),
                             datasetGroupArn=group, filterExpression=all_of(columns[:6]))
    assert code == "LimitExceededException" and "at most 5 distinct dataset fields" in message
    made = [create(all_of(columns[:5]))]
    made.append(create(f'INCLUDE ItemID WHERE Items.{columns[5]} IN ("x")'))
    made += [create(f'INCLUDE ItemID WHERE Items.{c} IN ("x")') for c in columns[6:10]]
    code, message = error_of(personalize.create_filter, name=unique("f"),
                             datasetGroupArn=group,
                             filterExpression=f'INCLUDE ItemID WHERE Items.{columns[10]} IN ("x")')
    assert code == "LimitExceededException" and "at most 10 distinct dataset fields" in message
    made += [create(f'EXCLUDE ItemID WHERE Items.{columns[0]} IN ("{k}")') for k in range(4)]
    assert len(made) == 10
    code, message = error_of(personalize.create_filter, name=unique("f"),
                             datasetGroupArn=group,
                             filterExpression=f'INCLUDE ItemID WHERE Items.{columns[0]} IN ("z")')
    assert code == "LimitExceededException" and "10 filters" in message
    code, _ = error_of(personalize.delete_dataset_group, datasetGroupArn=group)
    assert code == "ResourceInUseException"


# -- item filters on GetRecommendations ------------------------------------------------------

def test_items_in__literal_and_multi_valued(runtime: Any, shop: Shop,
                                            new_filter: Callable[..., str]) -> None:
    everything = recs(runtime, shop)
    arn = new_filter('INCLUDE ItemID WHERE Items.GENRE IN ("comedy")')
    got = recs(runtime, shop, filterArn=arn)
    assert got == [i for i in everything if "comedy" in genre(item_no(i)).split("|")]
    assert any(item_no(i) % 10 == 0 for i in got)  # "drama|comedy" items match too
    top = recs(runtime, shop, n=10, filterArn=arn)
    assert top == got[:10]


def test_placeholders__several_values_and_missing_ones(runtime: Any, shop: Shop,
                                                       new_filter: Callable[..., str]) -> None:
    everything = recs(runtime, shop)
    include = new_filter('INCLUDE ItemID WHERE Items.GENRE IN ($G)')
    got = recs(runtime, shop, filterArn=include, filterValues={"G": '"horror","scifi"'})
    assert got == [i for i in everything if genre(item_no(i)) in ("horror", "scifi")]
    code, message = error_of(runtime.get_recommendations, campaignArn=shop.campaigns[UP],
                             userId="u5", filterArn=include)
    assert code == "InvalidInputException" and "must give G" in message
    exclude = new_filter('EXCLUDE ItemID WHERE Items.GENRE IN ($G) AND Items.PRICE < $P')
    assert recs(runtime, shop, filterArn=exclude) == everything  # nothing given: no filter
    got = recs(runtime, shop, filterArn=exclude, filterValues={"G": '"drama"'})
    assert got == [i for i in everything if "drama" not in genre(item_no(i))]
    got = recs(runtime, shop, filterArn=exclude, filterValues={"G": '"drama"', "P": "10"})
    assert got == [i for i in everything
                   if not ("drama" in genre(item_no(i)) and price(item_no(i)) < 10)]


@pytest.mark.parametrize(("op", "value", "test"), [
    ("<=", "10.5", lambda i: price(i) <= 10.5), ("<", "10.5", lambda i: price(i) < 10.5),
    (">", "40", lambda i: price(i) > 40), (">=", "40.5", lambda i: price(i) >= 40.5),
    ("=", "3.5", lambda i: price(i) == 3.5),
])
def test_numeric_comparisons(runtime: Any, shop: Shop, new_filter: Callable[..., str],
                             op: str, value: str, test: Callable[[int], bool]) -> None:
    everything = recs(runtime, shop)
    arn = new_filter(f"INCLUDE ItemID WHERE Items.PRICE {op} $P")
    got = recs(runtime, shop, filterArn=arn, filterValues={"P": value})
    assert got == [i for i in everything if test(item_no(i))] and got


def test_numeric_literals_in_and_not_in(runtime: Any, shop: Shop,
                                        new_filter: Callable[..., str]) -> None:
    everything = recs(runtime, shop)
    arn = new_filter("INCLUDE ItemID WHERE Items.YEAR IN (1990, 1991) OR Items.YEAR >= 2018")
    assert recs(runtime, shop, filterArn=arn) == [
        i for i in everything if year(item_no(i)) in (1990, 1991) or year(item_no(i)) >= 2018]
    arn = new_filter("EXCLUDE ItemID WHERE Items.YEAR NOT IN ($Y)")
    got = recs(runtime, shop, filterArn=arn, filterValues={"Y": '2000,"2001"'})
    assert got == [i for i in everything if year(item_no(i)) in (2000, 2001)]


def test_not_in_keeps_items_without_a_value(runtime: Any, shop: Shop,
                                            new_filter: Callable[..., str]) -> None:
    everything = recs(runtime, shop)
    not_acme = new_filter('INCLUDE ItemID WHERE Items.BRAND NOT IN ("acme")')
    assert recs(runtime, shop, filterArn=not_acme) == [
        i for i in everything if brand(item_no(i)) != "acme"]
    branded = new_filter('INCLUDE ItemID WHERE Items.BRAND IN ("acme", "globex")')
    assert recs(runtime, shop, filterArn=branded) == [
        i for i in everything if brand(item_no(i))]


def test_and_binds_tighter_than_or_and_chained_expressions(
        runtime: Any, shop: Shop, new_filter: Callable[..., str]) -> None:
    everything = recs(runtime, shop)
    arn = new_filter('INCLUDE ItemID WHERE Items.GENRE IN ("horror") OR Items.GENRE IN '
                     '("scifi") AND Items.PRICE < 10')
    assert recs(runtime, shop, filterArn=arn) == [
        i for i in everything if genre(item_no(i)) == "horror"
        or (genre(item_no(i)) == "scifi" and price(item_no(i)) < 10)]
    chained = new_filter('INCLUDE ItemID WHERE Items.GENRE IN ("drama") | INCLUDE ItemID '
                         'WHERE Items.BRAND IN ("acme") | EXCLUDE ItemID WHERE Items.PRICE > 25')
    assert recs(runtime, shop, filterArn=chained) == [
        i for i in everything if ("drama" in genre(item_no(i)) or brand(item_no(i)) == "acme")
        and price(item_no(i)) <= 25]


# -- interactions, live events and CurrentUser --------------------------------------------

def test_interactions__event_types(runtime: Any, shop: Shop,
                                   new_filter: Callable[..., str]) -> None:
    user = "u7"
    everything = recs(runtime, shop, user)
    bought = shop.events_of(user, "purchase")
    assert bought and shop.events_of(user) - bought
    no_purchases = new_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    assert recs(runtime, shop, user, filterArn=no_purchases) == [
        i for i in everything if i not in bought]
    purchases = new_filter('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($T)')
    got = recs(runtime, shop, user, filterArn=purchases, filterValues={"T": '"PURCHASE"'})
    assert set(got) == bought & set(everything) and got
    seen = new_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")')
    assert recs(runtime, shop, user, filterArn=seen) == [
        i for i in everything if i not in shop.events_of(user)]
    not_clicks = new_filter('INCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("click")')
    assert set(recs(runtime, shop, user, filterArn=not_clicks)) == set(got)
    assert recs(runtime, shop, "nobody-at-all", filterArn=purchases,
                filterValues={"T": '"purchase"'}) == []


def test_live_events_change_an_interactions_filter_at_once(
        tailor: Tailor, runtime: Any, shop: Shop, new_filter: Callable[..., str]) -> None:
    user = "u11"
    no_purchases = new_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    purchases = new_filter('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    before = recs(runtime, shop, user, n=5, filterArn=no_purchases)
    bought_before = set(recs(runtime, shop, user, filterArn=purchases))
    events = tailor.client("personalize-events")
    events.put_events(trackingId=shop.tracking_id, userId=user, sessionId="s-11", eventList=[
        {"eventType": "PURCHASE", "itemId": before[0], "sentAt": time.time()},
        {"eventType": "click", "itemId": before[1], "sentAt": time.time()}])
    after = recs(runtime, shop, user, n=5, filterArn=no_purchases)
    assert before[0] not in after and before[0] not in bought_before
    assert set(recs(runtime, shop, user, filterArn=purchases)) == bought_before | {before[0]}
    # Another user is not affected.
    assert before[0] not in shop.events_of("u12", "purchase")
    assert before[0] not in recs(runtime, shop, "u12", filterArn=purchases)


def test_current_user_if_clause(tailor: Tailor, runtime: Any, shop: Shop,
                                new_filter: Callable[..., str]) -> None:
    arn = new_filter('EXCLUDE ItemID WHERE Items.GENRE IN ("horror") IF CurrentUser.AGE < 18')
    minor, adult = "u3", "u33"  # ages 13 and 43
    assert not [i for i in recs(runtime, shop, minor, filterArn=arn)
                if genre(item_no(i)) == "horror"]
    assert recs(runtime, shop, adult, filterArn=arn) == recs(runtime, shop, adult)
    assert recs(runtime, shop, "stranger", filterArn=arn) == recs(runtime, shop, "stranger")
    tiered = new_filter('INCLUDE ItemID WHERE Items.PRICE < 5 IF CurrentUser.TIER IN ($T)')
    premium, basic = "u4", "u5"
    cheap = recs(runtime, shop, premium, filterArn=tiered, filterValues={"T": '"premium"'})
    assert cheap and all(price(item_no(i)) < 5 for i in cheap)
    assert recs(runtime, shop, basic, filterArn=tiered, filterValues={"T": '"premium"'}) == \
        recs(runtime, shop, basic)
    # The Users dataset as it is now: PutUsers makes the adult a minor at once.
    events = tailor.client("personalize-events")
    events.put_users(datasetArn=shop.users_dataset, users=[
        {"userId": adult, "properties": props(age=12, tier="basic")}])
    try:
        assert not [i for i in recs(runtime, shop, adult, filterArn=arn)
                    if genre(item_no(i)) == "horror"]
    finally:
        events.put_users(datasetArn=shop.users_dataset, users=[
            {"userId": adult, "properties": props(age=43, tier="basic")}])


def test_put_items_changes_item_filters_at_once(tailor: Tailor, runtime: Any, shop: Shop,
                                                new_filter: Callable[..., str]) -> None:
    arn = new_filter('INCLUDE ItemID WHERE Items.GENRE IN ("horror")')
    everything = recs(runtime, shop)
    moved = next(i for i in everything if genre(item_no(i)) == "scifi")
    assert moved not in recs(runtime, shop, filterArn=arn)
    events = tailor.client("personalize-events")
    events.put_items(datasetArn=shop.items_dataset, items=[
        {"itemId": moved, "properties": props(genre="horror|scifi", price=1.5,
                                              creationTimestamp=shop_data.T0)}])
    try:
        assert moved in recs(runtime, shop, filterArn=arn)
    finally:
        n = item_no(moved)
        events.put_items(datasetArn=shop.items_dataset, items=[
            {"itemId": moved, "properties": props(
                genre=genre(n), price=price(n), year=year(n), brand=brand(n) or None,
                plot=f"A story, number {n}", onSale=bool(n % 2),
                creationTimestamp=shop_data.T0 - 86400 * 400)}])
    assert moved not in recs(runtime, shop, filterArn=arn)


# -- the other recipe types ----------------------------------------------------------------

def test_filters_on_popular_and_related_items(runtime: Any, shop: Shop,
                                              new_filter: Callable[..., str]) -> None:
    dramas = new_filter('INCLUDE ItemID WHERE Items.GENRE IN ("drama")')
    popular = recs(runtime, shop, None, POP)
    got = recs(runtime, shop, None, POP, n=25, filterArn=dramas)
    assert got == [i for i in popular if "drama" in genre(item_no(i))][:25]
    related = recs(runtime, shop, None, SIMS, n=500, itemId="i3")
    got = recs(runtime, shop, None, SIMS, n=10, itemId="i3", filterArn=dramas)
    assert got == [i for i in related if "drama" in genre(item_no(i))][:10] and "i3" not in got
    seen = new_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")')
    code, message = error_of(runtime.get_recommendations, campaignArn=shop.campaigns[POP],
                             filterArn=seen)
    assert code == "InvalidInputException" and "give userId" in message
    assert recs(runtime, shop, "u7", POP, filterArn=seen) == [
        i for i in popular if i not in shop.events_of("u7")]


def test_personalized_ranking_with_filters(runtime: Any, shop: Shop,
                                           new_filter: Callable[..., str]) -> None:
    user = "u7"
    inputs = [f"i{k}" for k in range(12)] + ["not-an-item"]

    def ranked(**params: Any) -> list[str]:
        return [i["itemId"] for i in runtime.get_personalized_ranking(
            campaignArn=shop.campaigns[PR], userId=user, inputList=inputs,
            **params)["personalizedRanking"]]
    everything = ranked()
    assert everything[-1] == "not-an-item"
    no_drama = new_filter('EXCLUDE ItemID WHERE Items.GENRE IN ("drama")')
    assert ranked(filterArn=no_drama) == [
        i for i in everything if i == "not-an-item" or "drama" not in genre(item_no(i))]
    cheap = new_filter("INCLUDE ItemID WHERE Items.PRICE < $P")
    assert ranked(filterArn=cheap, filterValues={"P": "6"}) == [
        i for i in everything if i != "not-an-item" and price(item_no(i)) < 6]
    no_purchases = new_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    got = ranked(filterArn=no_purchases)
    assert got == [i for i in everything if i not in shop.events_of(user, "purchase")]
    assert len(got) < len(everything)


# -- runtime errors --------------------------------------------------------------------------

def test_runtime_filter_errors(personalize: Any, runtime: Any, shop: Shop,
                               new_filter: Callable[..., str]) -> None:
    up = shop.campaigns[UP]
    genres = new_filter('INCLUDE ItemID WHERE Items.GENRE IN ($G) AND Items.PRICE < $P')

    def fails(**params: Any) -> tuple[str, str]:
        return error_of(runtime.get_recommendations, campaignArn=up, userId="u5", **params)

    code, _ = fails(filterArn=genres.rsplit("/", 1)[0] + "/no-such-filter")
    assert code == "ResourceNotFoundException"
    for values, why in (
            ({"G": ",".join(['"x"'] * 6), "P": "1"}, "at most 5"),
            ({"G": "drama", "P": "1"}, "must be in double quotes"),
            ({"G": '"drama', "P": "1"}, "cannot read"),
            ({"G": '"drama"', "P": '"cheap"'}, "is not a number"),
            ({"G": '"drama"', "P": "1,2"}, "compares with one number"),
            ({"G": '"drama"', "P": "1", "Q": '"x"'}, "no such placeholder"),
            ({"G": '"drama"'}, "must give P")):
        code, message = fails(filterArn=genres, filterValues=values)
        assert code == "InvalidInputException" and why in message, (values, message)
    code, message = fails(filterValues={"G": '"drama"'})
    assert code == "InvalidInputException" and "only used with filterArn" in message
    group = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    users = create_dataset(personalize, group, "Users", shop_data.USERS_SCHEMA)
    elsewhere = make_filter(personalize, group, 'INCLUDE UserID WHERE Users.TIER IN ("basic")')
    code, message = fails(filterArn=elsewhere)
    assert code == "InvalidInputException" and "belongs to dataset group" in message
    segment = new_filter('INCLUDE UserID WHERE Users.TIER IN ("premium")')
    code, message = fails(filterArn=segment)
    assert code == "InvalidInputException" and "selects UserIDs" in message
    personalize.delete_filter(filterArn=elsewhere)
    assert users


def test_user_filter_for_segments(tailor: Tailor, personalize: Any, shop: Shop,
                                  new_filter: Callable[..., str]) -> None:
    """``apply_user_filter`` (batch segment jobs) on the shop's state, in this process."""
    ctx = build(Settings(data_dir=tailor.data_dir))
    version = personalize.describe_campaign(
        campaignArn=shop.campaigns[UP])["campaign"]["solutionVersionArn"]
    artifact = load(ctx, version)
    users = artifact.user_ids.tolist()
    premium = new_filter('INCLUDE UserID WHERE Users.TIER IN ($T)')
    mask = filters.apply_user_filter(ctx, artifact, premium, {"T": '"premium"'})
    assert mask.tolist() == [int(u[1:]) % 4 == 0 for u in users]
    buyers = new_filter('EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    mask = filters.apply_user_filter(ctx, artifact, buyers)
    assert mask.tolist() == [not shop.events_of(u, "purchase") for u in users]
    assert not mask.all()
    # Prepared once for a batch job, then asked per input line.
    prepared = filters.PreparedFilter(ctx, premium, filters.USERS, group_arn=shop.group)
    assert prepared.users(artifact, {"T": '"basic"'}).tolist() == \
        [int(u[1:]) % 4 != 0 for u in users]
    cheap = new_filter("INCLUDE ItemID WHERE Items.PRICE < $P")
    per_line = filters.PreparedFilter(ctx, cheap, group_arn=shop.group)
    for limit in (5, 20):
        assert per_line.items(artifact, {"P": str(limit)}, None).tolist() == \
            [price(item_no(i)) < limit for i in artifact.item_ids.tolist()]
    with pytest.raises(InvalidInputException, match="selects ItemIDs"):
        filters.PreparedFilter(ctx, cheap, filters.USERS)


# -- actions ---------------------------------------------------------------------------------

N_ACTIONS = 12
ACTIONS_SCHEMA = schema_json(
    "Actions", {"name": "ACTION_ID", "type": "string"}, {"name": "VALUE", "type": "float"},
    {"name": "CHANNEL", "type": ["null", "string"], "categorical": True})
ACTION_INTERACTIONS_SCHEMA = schema_json(
    "Action_Interactions", {"name": "USER_ID", "type": "string"},
    {"name": "ACTION_ID", "type": "string"}, {"name": "TIMESTAMP", "type": "long"},
    {"name": "EVENT_TYPE", "type": "string"})


def channel(a: int) -> str:
    return "sms" if a % 2 else "email"


@pytest.fixture(scope="module")
def nba(personalize: Any, s3: Any, bucket: str) -> tuple[str, str, str, dict[str, set[str]]]:
    """(group, campaign, trackingId, actions each user TOOK) of a next-best-action model."""
    group = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    actions = create_dataset(personalize, group, "Actions", ACTIONS_SCHEMA)
    taken_data = create_dataset(personalize, group, "Action_Interactions",
                                ACTION_INTERACTIONS_SCHEMA)
    import_csv(personalize, s3, bucket, actions, "ACTION_ID,VALUE,CHANNEL\n" + "".join(
        f"a{a},{a},{channel(a)}\n" for a in range(N_ACTIONS)))
    rng = np.random.default_rng(3)
    rows, taken = [], {}
    for u in range(100):
        for k, a in enumerate(rng.choice(N_ACTIONS, 11, replace=False).tolist()):
            kind = "TAKEN" if rng.random() < (0.7 if a % 3 == u % 3 else 0.1) else "NOT_TAKEN"
            rows.append(f"u{u},a{a},{1_600_000_000 + u * 100 + k},{kind}\n")
            if kind == "TAKEN":
                taken.setdefault(f"u{u}", set()).add(f"a{a}")
    import_csv(personalize, s3, bucket, taken_data,
               "USER_ID,ACTION_ID,TIMESTAMP,EVENT_TYPE\n" + "".join(rows))
    _, version = train(personalize, group, "aws-next-best-action")
    tracking = personalize.describe_dataset(datasetArn=taken_data)["dataset"]["trackingId"]
    return group, deploy(personalize, version), tracking, taken


def test_action_filters(tailor: Tailor, personalize: Any, runtime: Any,
                        nba: tuple[str, str, str, dict[str, set[str]]]) -> None:
    group, campaign, tracking, taken = nba

    def actions(user: str, **params: Any) -> list[str]:
        return [a["actionId"] for a in runtime.get_action_recommendations(
            campaignArn=campaign, userId=user, numResults=100, **params)["actionList"]]
    everything = actions("u1")
    sms = make_filter(personalize, group, 'INCLUDE ActionID WHERE Actions.CHANNEL IN ($C)')
    assert actions("u1", filterArn=sms, filterValues={"C": '"sms"'}) == [
        a for a in everything if channel(int(a[1:])) == "sms"]
    valuable = make_filter(personalize, group, "EXCLUDE ActionID WHERE Actions.VALUE < 6")
    assert actions("u1", filterArn=valuable) == [a for a in everything if int(a[1:]) >= 6]
    not_taken = make_filter(personalize, group, 'EXCLUDE ActionID WHERE '
                            'Action_Interactions.EVENT_TYPE IN ("taken")')
    got = actions("u1", filterArn=not_taken)
    assert got == [a for a in everything if a not in taken["u1"]] and taken["u1"]
    tailor.client("personalize-events").put_action_interactions(
        trackingId=tracking, actionInteractions=[
            {"actionId": got[0], "userId": "u1", "sessionId": "s1",
             "timestamp": time.time() - 60, "eventType": "Taken"}])
    assert got[0] not in actions("u1", filterArn=not_taken)
    item_filter = make_filter(personalize, group, 'EXCLUDE ActionID WHERE Actions.CHANNEL IN '
                              '("email")')
    code, message = error_of(runtime.get_action_recommendations, campaignArn=campaign,
                             userId="u1", filterArn=item_filter, filterValues={"X": '"y"'})
    assert code == "InvalidInputException" and "no such placeholder" in message


def test_newest_per_type__a_filter_reads_100_events_per_user_and_type() -> None:
    users = np.repeat([0, 1], [150, 3])
    types = np.concatenate([np.arange(150) % 2, [0, 0, 1]])
    stamps = np.concatenate([np.arange(150), [5, 6, 7]])
    kept = filter_data.newest_per_type(users, types, stamps, limit=60)
    assert sorted(kept.tolist()) == list(range(30, 150)) + [150, 151, 152]


def test_a_session_given_its_user_reaches_an_interactions_filter(
        tailor: Tailor, personalize: Any, runtime: Any, s3: Any, bucket: str) -> None:
    """Anonymous events of a session belong to the user once a call names both; a filter
    table built while they were anonymous must see them then (it is built again)."""
    flow = build_group(personalize, s3, bucket, planted_interactions(n_users=120, seed=8))
    campaign = deploy(personalize, train(personalize, flow.group_arn,
                                         "aws-popularity-count")[1])
    tracker = personalize.create_event_tracker(name=unique("t"),
                                               datasetGroupArn=flow.group_arn)
    tracking_id = wait(lambda: personalize.describe_event_tracker(
        eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])["trackingId"]
    bought = make_filter(personalize, flow.group_arn,
                         'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    user, events = "u7", tailor.client("personalize-events")

    def top(**params: str) -> list[str]:
        return [i["itemId"] for i in runtime.get_recommendations(
            campaignArn=campaign, userId=user, numResults=10, **params)["itemList"]]

    first = top()[0]  # no filter yet: its table is built after the anonymous event
    events.put_events(trackingId=tracking_id, sessionId="s-anon", eventList=[
        {"eventType": "purchase", "itemId": first, "sentAt": time.time()}])
    assert top(filterArn=bought)[0] == first  # still anonymous: not this user's purchase
    events.put_events(trackingId=tracking_id, userId=user, sessionId="s-anon", eventList=[
        {"eventType": "click", "itemId": first, "sentAt": time.time()}])
    assert first not in top(filterArn=bought)
