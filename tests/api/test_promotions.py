"""Promotions, metadataColumns, context and reason in the runtime API (spec E.1, E.2, L.7)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api import shop_data
from tests.api.shop_data import Shop, brand, campaign, genre, price, year
from tests.conftest import Tailor, train, wait

UP, PR = "aws-user-personalization", "aws-personalized-ranking"
POP, SIMS = "aws-popularity-count", "aws-sims"


@pytest.fixture(scope="module")
def shop(tailor: Tailor, personalize: Any, s3: Any, bucket: str) -> Shop:
    return shop_data.shop(tailor, personalize, s3, bucket)


@pytest.fixture
def new_filter(personalize: Any, shop: Shop) -> Iterator[Callable[..., str]]:
    yield from shop_data.filter_maker(personalize, shop.group)


def get(runtime: Any, shop: Shop, recipe: str = UP, user: str | None = "u5",
        **params: Any) -> list[dict[str, Any]]:
    if user is not None:
        params["userId"] = user
    return runtime.get_recommendations(campaignArn=shop.campaigns[recipe],
                                       **params)["itemList"]


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["itemId"] for i in items]


def promotion(filter_arn: str, percent: int, name: str = "house-brand",
              **values: str) -> list[dict[str, Any]]:
    found: dict[str, Any] = {"name": name, "percentPromotedItems": percent,
                             "filterArn": filter_arn}
    if values:
        found["filterValues"] = values
    return [found]


def error_of(call: Callable[..., Any], **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def acme(item: str) -> bool:
    return brand(int(item[1:])) == "acme"


# -- promotions ----------------------------------------------------------------------------

def test_promotion_share_names_and_order(runtime: Any, shop: Shop,
                                         new_filter: Callable[..., str]) -> None:
    house = new_filter('INCLUDE ItemID WHERE Items.BRAND IN ("acme")')
    others = new_filter('EXCLUDE ItemID WHERE Items.BRAND IN ("acme")')
    items = get(runtime, shop, numResults=10, filterArn=others,
                promotions=promotion(house, 30))
    promoted = [i for i in items if "promotionName" in i]
    rest = [i for i in items if "promotionName" not in i]
    assert len(items) == 10 and len(set(ids(items))) == 10
    assert len(promoted) == 3 and {i["promotionName"] for i in promoted} == {"house-brand"}
    # The promotion filter chooses the promoted items, the request filter the others; each
    # part keeps the model's order.
    assert ids(promoted) == ids(get(runtime, shop, numResults=3, filterArn=house))
    assert ids(rest) == ids(get(runtime, shop, numResults=7, filterArn=others))
    assert all("score" in i for i in items)
    again = get(runtime, shop, numResults=10, filterArn=others, promotions=promotion(house, 30))
    assert again == items  # seeded: the same request gives the same list


def test_a_repeated_promotion_follows_its_filter_values(runtime: Any, shop: Shop,
                                                       new_filter: Callable[..., str]) -> None:
    """A user's answers are remembered with their scores; the promotion's own filter
    values must still choose the promoted items on every call."""
    chooser = new_filter("INCLUDE ItemID WHERE Items.BRAND IN ($BRAND)")
    answers = {}
    for name in ("acme", "globex", "acme"):
        items = get(runtime, shop, numResults=10,
                    promotions=promotion(chooser, 30, BRAND=f'"{name}"'))
        promoted = [i["itemId"] for i in items if "promotionName" in i]
        assert len(promoted) == 3 and all(brand(int(i[1:])) == name for i in promoted)
        answers.setdefault(name, items)
        assert answers[name] == items  # the same request, the same list


def test_promotion_without_request_filter_and_rounding(runtime: Any, shop: Shop,
                                                       new_filter: Callable[..., str]) -> None:
    house = new_filter('INCLUDE ItemID WHERE Items.BRAND IN ("acme")')
    items = get(runtime, shop, numResults=25, promotions=promotion(house, 10))
    promoted = [i["itemId"] for i in items if "promotionName" in i]
    assert len(promoted) == 3 and all(acme(i) for i in promoted)  # 2.5 rounds up
    plain = ids(get(runtime, shop, numResults=25))
    assert [i["itemId"] for i in items if "promotionName" not in i] == \
        [i for i in plain if i not in promoted][:22]
    assert len(set(ids(items))) == 25
    everything = get(runtime, shop, numResults=10, promotions=promotion(house, 100))
    assert all(i.get("promotionName") == "house-brand" for i in everything)
    none = get(runtime, shop, numResults=5, promotions=promotion(house, 1))
    assert not [i for i in none if "promotionName" in i]  # 0.05 of a slot rounds to 0


def test_promotion_with_few_promotable_items(runtime: Any, shop: Shop,
                                             new_filter: Callable[..., str]) -> None:
    rare = new_filter("INCLUDE ItemID WHERE Items.PRICE = $P")
    items = get(runtime, shop, numResults=12, promotions=promotion(rare, 100, P="3.5"))
    promoted = [i["itemId"] for i in items if "promotionName" in i]
    catalogue = ids(get(runtime, shop, numResults=500))
    expected = {i for i in catalogue if price(int(i[1:])) == 3.5}
    assert set(promoted) == expected and 0 < len(promoted) < 12
    assert len(items) == 12 and len(set(ids(items))) == 12


def test_promotions_on_popular_and_related_items(runtime: Any, shop: Shop,
                                                 new_filter: Callable[..., str]) -> None:
    horror = new_filter('INCLUDE ItemID WHERE Items.GENRE IN ("horror")')
    popular = get(runtime, shop, POP, None, numResults=10,
                  promotions=promotion(horror, 50, "scary"))
    promoted = [i for i in popular if i.get("promotionName") == "scary"]
    assert len(promoted) == 5 and all(genre(int(i["itemId"][1:])) == "horror" for i in promoted)
    assert all("score" not in i for i in popular)
    related = get(runtime, shop, SIMS, None, itemId="i8", numResults=8,
                  promotions=promotion(horror, 25, "scary"))
    assert len([i for i in related if "promotionName" in i]) == 2
    assert "i8" not in ids(related) and len(set(ids(related))) == 8


def test_promotion_errors(personalize: Any, runtime: Any, shop: Shop,
                          new_filter: Callable[..., str]) -> None:
    house = new_filter('INCLUDE ItemID WHERE Items.BRAND IN ($B)')

    def fails(promotions: list[dict[str, Any]]) -> tuple[str, str]:
        return error_of(runtime.get_recommendations, campaignArn=shop.campaigns[UP],
                        userId="u5", promotions=promotions)

    code, message = fails([{"name": "p", "percentPromotedItems": 10}])
    assert code == "InvalidInputException" and "needs filterArn" in message
    code, message = fails([{"name": "p", "filterArn": house}])
    assert code == "InvalidInputException" and "percentPromotedItems" in message
    code, message = fails(promotion(house, 10))
    assert code == "InvalidInputException" and "must give B" in message
    code, message = fails(promotion(house, 10, B="acme"))
    assert code == "InvalidInputException" and "double quotes" in message
    code, message = fails(promotion(house, 10, B='"acme"') * 2)
    assert code == "InvalidInputException" and "promotions" in message
    code, message = fails(promotion(house, 101, B='"acme"'))
    assert code == "InvalidInputException" and "percentPromotedItems" in message
    code, message = fails(promotion(house, 10, name="bad name!", B='"acme"'))
    assert code == "InvalidInputException" and "name" in message
    code, message = fails(promotion(house.rsplit("/", 1)[0] + "/nope", 10))
    assert code == "ResourceNotFoundException" and "promotions.1.filterArn" in message
    segment = new_filter('INCLUDE UserID WHERE Users.TIER IN ("premium")')
    code, message = fails(promotion(segment, 10))
    assert code == "InvalidInputException" and "selects UserIDs" in message


# -- metadataColumns -------------------------------------------------------------------------

COLUMNS = ["GENRE", "PRICE", "YEAR", "BRAND", "ON_SALE", "PLOT"]


def expected_metadata(item: str) -> dict[str, str]:
    n = int(item[1:])
    found = {"GENRE": genre(n), "PRICE": repr(price(n)), "YEAR": str(year(n)),
             "ON_SALE": "true" if n % 2 else "false", "PLOT": f"A story, number {n}"}
    if brand(n):
        found["BRAND"] = brand(n)
    return found


def test_metadata_columns__values(runtime: Any, shop: Shop,
                                  new_filter: Callable[..., str]) -> None:
    items = get(runtime, shop, numResults=50, metadataColumns={"ITEMS": COLUMNS})
    assert len(items) == 50
    for item in items:
        assert item["metadata"] == expected_metadata(item["itemId"])
    assert any("|" in i["metadata"]["GENRE"] for i in items)  # multi-valued, kept joined
    assert any("BRAND" not in i["metadata"] for i in items)  # null values are left out
    house = new_filter('INCLUDE ItemID WHERE Items.BRAND IN ("acme")')
    mixed = get(runtime, shop, numResults=10, metadataColumns={"ITEMS": ["BRAND", "GENRE"]},
                promotions=promotion(house, 50))
    assert all(set(i["metadata"]) <= {"BRAND", "GENRE"} for i in mixed)
    assert all(i["metadata"]["BRAND"] == "acme" for i in mixed if "promotionName" in i)
    plain = get(runtime, shop, numResults=5)
    assert all("metadata" not in i for i in plain)


def test_metadata_columns__errors(runtime: Any, shop: Shop) -> None:
    def fails(recipe: str = UP, **params: Any) -> tuple[str, str]:
        return error_of(runtime.get_recommendations, campaignArn=shop.campaigns[recipe],
                        userId="u5", **params)

    code, message = fails(POP, metadataColumns={"ITEMS": ["GENRE"]})
    assert code == "InvalidInputException" and "enableMetadataWithRecommendations" in message
    code, message = fails(numResults=51, metadataColumns={"ITEMS": ["GENRE"]})
    assert code == "InvalidInputException" and "at most 50" in message
    code, message = fails(metadataColumns={"ITEMS": [f"C{k}" for k in range(11)]})
    assert code == "InvalidInputException" and "at most 10 columns" in message
    code, message = fails(metadataColumns={"ITEMS": ["GENRE", "COLOR"]})
    assert code == "InvalidInputException" and "no column COLOR" in message
    code, message = fails(metadataColumns={"USERS": ["AGE"]})
    assert code == "InvalidInputException" and "ITEMS" in message
    code, message = fails(metadataColumns={"ITEMS": []})
    assert code == "InvalidInputException" and "lists no column" in message
    code, message = fails(metadataColumns={"ITEMS": ["GENRE"], "USERS": ["AGE"]})
    assert code == "InvalidInputException"


def test_metadata_in_personalized_ranking(runtime: Any, shop: Shop) -> None:
    inputs = ["i4", "i7", "i10", "unknown-item"]
    ranked = runtime.get_personalized_ranking(
        campaignArn=shop.campaigns[PR], userId="u5", inputList=inputs,
        metadataColumns={"ITEMS": ["GENRE", "PRICE"]})["personalizedRanking"]
    assert [i["itemId"] for i in ranked][-1] == "unknown-item"
    for item in ranked[:-1]:
        n = int(item["itemId"][1:])
        assert item["metadata"] == {"GENRE": genre(n), "PRICE": repr(price(n))}
    assert ranked[-1]["metadata"] == {}
    code, message = error_of(runtime.get_personalized_ranking, campaignArn=shop.campaigns[PR],
                             userId="u5", inputList=[f"i{k}" for k in range(51)],
                             metadataColumns={"ITEMS": ["GENRE"]})
    assert code == "InvalidInputException" and "inputList may be at most 50" in message


def test_create_and_update_campaign_store_enable_metadata(personalize: Any, runtime: Any,
                                                          shop: Shop) -> None:
    described = personalize.describe_campaign(campaignArn=shop.campaigns[UP])["campaign"]
    assert described["campaignConfig"]["enableMetadataWithRecommendations"] is True
    version = personalize.describe_campaign(
        campaignArn=shop.campaigns[POP])["campaign"]["solutionVersionArn"]
    arn = campaign(personalize, version)
    code, _ = error_of(runtime.get_recommendations, campaignArn=arn,
                       metadataColumns={"ITEMS": ["GENRE"]})
    assert code == "InvalidInputException"
    personalize.update_campaign(campaignArn=arn,
                                campaignConfig={"enableMetadataWithRecommendations": True})
    wait(lambda: personalize.describe_campaign(campaignArn=arn)["campaign"][
        "latestCampaignUpdate"])
    described = personalize.describe_campaign(campaignArn=arn)["campaign"]
    assert described["campaignConfig"]["enableMetadataWithRecommendations"] is True
    items = runtime.get_recommendations(campaignArn=arn, numResults=3,
                                        metadataColumns={"ITEMS": ["GENRE"]})["itemList"]
    assert [i["metadata"] for i in items] == [{"GENRE": genre(int(i["itemId"][1:]))}
                                              for i in items]
    personalize.delete_campaign(campaignArn=arn)


# -- context and reason ----------------------------------------------------------------------

def test_context_is_accepted_and_validated(runtime: Any, shop: Shop) -> None:
    plain = get(runtime, shop, numResults=10)
    assert get(runtime, shop, numResults=10, context={"DEVICE": "mobile", "UNKNOWN": "x"}) \
        == plain  # Tailor's models do not use context: it never changes scores
    ranked = runtime.get_personalized_ranking(
        campaignArn=shop.campaigns[PR], userId="u5", inputList=["i1", "i2"],
        context={"DEVICE": "mobile"})["personalizedRanking"]
    assert len(ranked) == 2
    code, message = error_of(runtime.get_recommendations, campaignArn=shop.campaigns[UP],
                             userId="u5", context={"bad key": "x"})
    assert code == "InvalidInputException" and "context" in message
    code, message = error_of(runtime.get_recommendations, campaignArn=shop.campaigns[UP],
                             userId="u5", context={f"K{k}": "v" for k in range(151)})
    assert code == "InvalidInputException" and "context" in message
    code, message = error_of(runtime.get_recommendations, campaignArn=shop.campaigns[UP],
                             userId="u5", context={"DEVICE": "x" * 1001})
    assert code == "InvalidInputException" and "context" in message


def test_reason_only_for_user_personalization_v2(personalize: Any, runtime: Any,
                                                 shop: Shop,
                                                 new_filter: Callable[..., str]) -> None:
    house = new_filter('INCLUDE ItemID WHERE Items.BRAND IN ("acme")')
    _, version = train(personalize, shop.group, "aws-user-personalization-v2")
    v2 = campaign(personalize, version,
                  itemExplorationConfig={"explorationWeight": "0"})
    try:
        items = runtime.get_recommendations(campaignArn=v2, userId="u5", numResults=10,
                                            promotions=promotion(house, 20))["itemList"]
        assert [i.get("reason") for i in items if "promotionName" in i] == \
            [["Promoted item"]] * 2
        assert all("reason" not in i for i in items if "promotionName" not in i)
    finally:
        personalize.delete_campaign(campaignArn=v2)
    v1 = get(runtime, shop, numResults=10, promotions=promotion(house, 20))
    assert all("reason" not in i for i in v1)
