"""The filter expression grammar (spec F.2-F.4, F.7): every construct, precedence, the
schema checks of CreateFilter, filterValues, and the errors with where and why."""

from __future__ import annotations

import pytest

from chalicelib.errors import InvalidInputException, LimitExceededException
from chalicelib.resources import filter_grammar as g
from chalicelib.resources import filter_values as fv
from chalicelib.resources.schema_rules import DatasetSchema, Field


def where(text: str) -> g.Node:
    (expression,) = g.parse(text).expressions
    return expression.where


def cond(text: str) -> g.Condition:
    node = where(f"INCLUDE ItemID WHERE {text}")
    assert isinstance(node, g.Condition)
    return node


def error(text: str) -> str:
    with pytest.raises(g.FilterSyntaxError) as exc:
        g.parse(text)
    assert isinstance(exc.value, InvalidInputException)
    return exc.value.message


def test_include_exclude_and_targets() -> None:
    for action in ("INCLUDE", "EXCLUDE", "include", "Exclude"):
        (e,) = g.parse(f'{action} ItemID WHERE Items.GENRE IN ("drama")').expressions
        assert e.action == action.upper() and e.target == "ItemID"
    assert g.parse('EXCLUDE ActionID WHERE Actions.CHANNEL IN ("sms")').target == "ActionID"
    assert g.parse('INCLUDE userid WHERE Users.TIER IN ("premium")').target == "UserID"


@pytest.mark.parametrize("op", ["IN", "NOT IN", "in", "not  in"])
def test_set_operators(op: str) -> None:
    c = cond(f'Items.GENRE {op} ("drama", "comedy")')
    assert c.op == " ".join(op.upper().split())
    assert c.values == (g.Value("drama", "string"), g.Value("comedy", "string"))
    assert (c.dataset, c.column, c.placeholder) == ("Items", "GENRE", None)


@pytest.mark.parametrize("op", ["=", "<", "<=", ">", ">="])
def test_comparisons(op: str) -> None:
    c = cond(f"Items.PRICE {op} 25.5")
    assert c.op == op and c.values == (g.Value("25.5", "number"),)
    assert cond(f"Items.PRICE {op} -3").values[0].number == -3.0
    assert cond(f"Items.PRICE {op} $MAX").placeholder == "MAX"


def test_values_numbers_strings_escapes_and_placeholders() -> None:
    c = cond(r'Items.TITLE IN ("say \"hi\"", "a\\b", 7, 1e3)')
    assert [v.text for v in c.values] == ['say "hi"', "a\\b", "7", "1e3"]
    assert [v.kind for v in c.values] == ["string", "string", "number", "number"]
    p = cond("Items.GENRE IN ($GENRES_2)")
    assert p.placeholder == "GENRES_2" and p.values == ()


def test_every_dataset_and_case_rules() -> None:
    assert cond('items.GENRE IN ("a")').dataset == "Items"
    assert cond('INTERACTIONS.EVENT_TYPE IN ("click")').dataset == "Interactions"
    assert g.parse('EXCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ("TAKEN")'
                   ).expressions[0].dataset == "Action_Interactions"
    assert cond('Items.genre IN ("a")').column == "genre"  # columns are case-sensitive


def test_star_means_any_event_type() -> None:
    for text in ('Interactions.EVENT_TYPE IN ("*")', "Interactions.EVENT_TYPE IN (*)"):
        assert cond(text).values == (g.Value("*", "star"),)
    assert cond('Items.GENRE IN ("*")').values == (g.Value("*", "string"),)


def test_and_binds_tighter_than_or() -> None:
    node = where('INCLUDE ItemID WHERE Items.A IN ("1") OR Items.B IN ("2") AND Items.C > 3 '
                 'OR Items.D < 4')
    assert isinstance(node, g.Any_) and len(node.parts) == 3
    a, bc, d = node.parts
    assert isinstance(a, g.Condition) and a.column == "A"
    assert isinstance(bc, g.All) and [c.column for c in g.conditions(bc)] == ["B", "C"]
    assert isinstance(d, g.Condition) and d.column == "D"
    chain = where('INCLUDE ItemID WHERE Items.A IN ("1") AND Items.B IN ("2") AND Items.C > 1')
    assert isinstance(chain, g.All) and len(chain.parts) == 3


def test_if_current_user_and_chained_expressions() -> None:
    f = g.parse('EXCLUDE ItemID WHERE Items.ADULT IN ("yes") IF CurrentUser.AGE < 18 AND '
                'CURRENTUSER.TIER IN ($T) | INCLUDE ItemID WHERE Items.GENRE IN ($G) | '
                'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")')
    first, second, third = f.expressions
    assert [(c.dataset, c.column, c.op) for c in first.if_clause] == [
        ("CurrentUser", "AGE", "<"), ("CurrentUser", "TIER", "IN")]
    assert second.action == "INCLUDE" and third.on_events and not first.on_events
    assert f.placeholders == {"T", "G"}
    assert f.fields == {("Items", "ADULT"), ("Users", "AGE"), ("Users", "TIER"),
                        ("Items", "GENRE"), ("Interactions", "EVENT_TYPE")}
    assert f.uses("CurrentUser") and f.uses("Interactions") and not f.uses("Actions")


@pytest.mark.parametrize(("text", "why", "at"), [
    ("INCLUDE", "expected ItemID, UserID or ActionID after INCLUDE", "the end"),
    ("KEEP ItemID WHERE Items.A IN (\"x\")", "starts with INCLUDE or EXCLUDE", "position 1"),
    ("INCLUDE Items WHERE Items.A IN (\"x\")", "expected ItemID, UserID or ActionID",
     "position 9"),
    ("INCLUDE ItemID Items.A IN (\"x\")", "expected WHERE", "position 16"),
    ("INCLUDE ItemID WHERE", "expected a condition", "the end"),
    ("EXCLUDE ItemID WHERE Items.GENRE = ", "expected a number or a $placeholder after =",
     "the end"),
    ("INCLUDE ItemID WHERE Items.GENRE IN ($A, $B)", "placeholder must be alone",
     "position 40"),
    ("INCLUDE ItemID WHERE Items.GENRE IN (\"a\", $B)", "placeholder must be alone",
     "position 43"),
    ("INCLUDE ItemID WHERE Items.GENRE IN (\"a\"", "expected , or )", "the end"),
    ("INCLUDE ItemID WHERE Items.GENRE IN (\"a)", "string is not closed", "position 38"),
    ("INCLUDE ItemID WHERE Items.GENRE IN ()", "value list is empty", "position 38"),
    ("INCLUDE ItemID WHERE Items.GENRE IN (drama)", "double-quoted strings or numbers",
     "position 38"),
    ("INCLUDE ItemID WHERE Items.GENRE LIKE (\"a\")", "expected IN, NOT IN", "position 34"),
    ("INCLUDE ItemID WHERE Items.GENRE NOT (\"a\")", "expected IN after NOT", "position 38"),
    ("INCLUDE ItemID WHERE Items.PRICE != 3", "use NOT IN", "position 34"),
    ("INCLUDE ItemID WHERE Items.PRICE == 3", "use =", "position 34"),
    ("INCLUDE ItemID WHERE Items.GENRE = \"drama\"", "compares numbers", "position 36"),
    ("INCLUDE ItemID WHERE Items.GENRE ~ 3", "unexpected character '~'", "position 34"),
    ("INCLUDE ItemID WHERE Items GENRE IN (\"a\")", "expected . and a column name",
     "position 28"),
    ("INCLUDE ItemID WHERE Items.(\"a\")", "expected a column name", "position 28"),
    ("INCLUDE ItemID WHERE Movies.GENRE IN (\"a\")", "unknown dataset", "position 22"),
    ("INCLUDE ItemID WHERE CurrentUser.AGE > 3", "only be used in the IF clause",
     "position 22"),
    ("INCLUDE ItemID WHERE Items.A IN (\"x\") IF Items.B IN (\"y\")",
     "use CurrentUser.<column>", "position 42"),
    ("INCLUDE ItemID WHERE Items.A IN (\"x\") IF CurrentUser.A > 1 OR CurrentUser.B > 2",
     "IF clause can only be joined with AND", "position 60"),
    ("INCLUDE ItemID WHERE Items.A IN (\"x\") AND", "expected a condition", "the end"),
    ("INCLUDE ItemID WHERE Items.A IN (\"x\") Items.B IN (\"y\")",
     "expected AND, OR, IF, | or the end", "position 39"),
    ("INCLUDE ItemID WHERE Items.A IN (\"x\") |", "starts with INCLUDE or EXCLUDE",
     "the end"),
    ("INCLUDE ItemID WHERE Items.A IN ($)", "placeholder needs a name", "position 34"),
    ("INCLUDE ItemID WHERE Items.A IN ($" + "X" * 51 + ")", "at most 50 characters",
     "position 34"),
    ("INCLUDE ItemID WHERE Items.A IN (\"x\") AND Interactions.EVENT_TYPE IN (\"c\")",
     "must all use the same dataset (Items)", "position 43"),
    ("INCLUDE ItemID WHERE Users.TIER IN (\"x\")",
     "ItemID expressions filter by Items or Interactions, not Users", "position 22"),
    ("INCLUDE UserID WHERE Items.A IN (\"x\")",
     "UserID expressions filter by Users or Interactions", "position 22"),
    ("INCLUDE ActionID WHERE Interactions.EVENT_TYPE IN (\"x\")",
     "ActionID expressions filter by Actions or Action_Interactions", "position 24"),
    ("INCLUDE ItemID WHERE Items.A IN (\"x\") | EXCLUDE UserID WHERE Users.B IN (\"y\")",
     "must target the same kind", "position 41"),
    ("INCLUDE UserID WHERE Users.A IN (\"x\") IF CurrentUser.B > 1",
     "UserID expressions have no requesting user", "position 42"),
    ("INCLUDE ItemID WHERE Items.GENRE IN (*)", "only allowed with Interactions.EVENT_TYPE",
     "position 22"),
    ("INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (\"*\", \"click\")",
     "must be alone in an IN list", "position 22"),
    ("INCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN (\"*\")",
     "must be alone in an IN list", "position 22"),
])
def test_bad_expressions_say_where_and_why(text: str, why: str, at: str) -> None:
    message = error(text)
    assert message.startswith("Invalid filter expression: ")
    assert why in message and at in message, message


def test_error_names_the_token() -> None:
    assert '("garbage")' in error('INCLUDE ItemID WHERE Items.A IN ("x") garbage')
    assert "('\"drama\"')" in error('INCLUDE ItemID WHERE Items.GENRE < "drama"')


SCHEMAS = {
    "Items": DatasetSchema("Items", (
        Field("ITEM_ID", "string", False), Field("GENRE", "string", True, categorical=True),
        Field("PRICE", "float", False), Field("YEAR", "int", True),
        Field("ON_SALE", "boolean", True), Field("PLOT", "string", True, textual=True))),
    "Interactions": DatasetSchema("Interactions", (
        Field("USER_ID", "string", False), Field("ITEM_ID", "string", False),
        Field("TIMESTAMP", "long", False), Field("EVENT_TYPE", "string", False))),
    "Users": DatasetSchema("Users", (Field("USER_ID", "string", False),
                                     Field("AGE", "int", False))),
}


def check(text: str, schemas: dict[str, DatasetSchema] | None = None, limit: int = 5) -> None:
    g.check_fields(g.parse(text), SCHEMAS if schemas is None else schemas, limit)


def test_check_fields__valid() -> None:
    check('INCLUDE ItemID WHERE Items.GENRE IN ($G) AND Items.PRICE <= $P AND '
          'Items.YEAR IN (1999, "2000") | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN '
          '("*") IF CurrentUser.AGE < 18')
    no_types = {**SCHEMAS, "Interactions": DatasetSchema("Interactions", SCHEMAS[
        "Interactions"].fields[:3])}
    check('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")', no_types)


@pytest.mark.parametrize(("text", "why"), [
    ('INCLUDE ItemID WHERE Items.COLOR IN ("red")', "Items has no column COLOR"),
    ('INCLUDE ItemID WHERE Items.genre IN ("red")', "case-sensitive: GENRE"),
    ('INCLUDE ItemID WHERE Items.PLOT IN ("red")', "textual column"),
    ('INCLUDE ItemID WHERE Items.ON_SALE IN ("true")', "boolean"),
    ("INCLUDE ItemID WHERE Items.GENRE > 3", "> compares numbers but Items.GENRE is a string"),
    ('INCLUDE ItemID WHERE Items.PRICE IN ("cheap")',
     "numeric (float); its values must be numbers"),
    ('EXCLUDE ActionID WHERE Actions.CHANNEL IN ("sms")', "no Actions dataset"),
    ('EXCLUDE ItemID WHERE Items.GENRE IN ("x") IF CurrentUser.TIER IN ("a")',
     "Users has no column TIER"),
])
def test_check_fields__bad(text: str, why: str) -> None:
    with pytest.raises(InvalidInputException, match="Invalid filter expression") as exc:
        check(text)
    assert why in exc.value.message and "position" in exc.value.message


def test_check_fields__distinct_field_limit() -> None:
    text = ('INCLUDE ItemID WHERE Items.GENRE IN ("a") AND Items.PRICE > 1 AND Items.YEAR > 1 '
            '| EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("x") IF CurrentUser.AGE < 3')
    check(text, limit=5)
    with pytest.raises(LimitExceededException, match="at most 4 distinct dataset fields"):
        check(text, limit=4)
    check('INCLUDE ItemID WHERE Items.GENRE IN ("a") OR Items.GENRE IN ("b")', limit=1)


def test_parse_values() -> None:
    assert fv.parse_values("G", '"comedy"') == (g.Value("comedy", "string"),)
    assert fv.parse_values("G", ' "a" , "b\\"c",3.5') == (
        g.Value("a", "string"), g.Value('b"c', "string"), g.Value("3.5", "number"))
    assert fv.parse_values("P", "25") == (g.Value("25", "number"),)
    assert fv.parse_values("T", '"*"') == (g.Value("*", "star"),)


@pytest.mark.parametrize(("text", "why"), [
    ("comedy", "must be in double quotes"),
    ('"a",', "an empty value"),
    ("", "an empty value"),
    ('"a"x', "cannot read"),
    ('"a', "cannot read"),
    (",".join(['"x"'] * 6), "has 6 values; a placeholder takes at most 5"),
])
def test_parse_values__bad(text: str, why: str) -> None:
    with pytest.raises(InvalidInputException, match="filterValues.G") as exc:
        fv.parse_values("G", text)
    assert why in exc.value.message


def test_bind__include_needs_every_placeholder_exclude_drops_conditions() -> None:
    f = g.parse("INCLUDE ItemID WHERE Items.GENRE IN ($G) | EXCLUDE ItemID WHERE "
                "Items.PRICE > $P OR Items.YEAR < $Y IF CurrentUser.AGE < $AGE")
    with pytest.raises(InvalidInputException, match="must give G"):
        fv.bind(f, {"P": "3"})
    values, kept = fv.bind(f, {"G": '"drama"', "P": "3"})
    assert values["G"] == (g.Value("drama", "string"),)
    _, exclude = kept
    assert isinstance(exclude.where, g.Condition) and exclude.where.column == "PRICE"
    assert exclude.if_clause == ()  # its placeholder was left out
    _, only_include = fv.bind(f, {"G": '"drama"'})
    assert [e.action for e in only_include] == ["INCLUDE"]
    with pytest.raises(InvalidInputException, match="no such placeholder"):
        fv.bind(f, {"G": '"x"', "NOPE": '"y"'})


def test_parse_is_cached() -> None:
    text = 'INCLUDE ItemID WHERE Items.GENRE IN ("cached")'
    assert g.parse(text) is g.parse(text)
