"""The FHIRPath parser: precedence, literals, invocations and error positions."""

from __future__ import annotations

import pytest

from transforms.sql_on_fhir.fhirpath import (
    Binary,
    Constant,
    EmptyLiteral,
    FHIRPathSyntaxError,
    FunctionCall,
    Indexer,
    Literal,
    Member,
    TypeOperation,
    Unary,
    Variable,
    parse,
)


def test_navigation_chain():
    assert parse("name.given") == Member(Member(None, "name"), "given")


def test_function_on_focus_and_on_path():
    assert parse("where(use = 'official')") == FunctionCall(
        None, "where", (Binary("=", Member(None, "use"), Literal("official", "String")),)
    )
    assert parse("name.first()") == FunctionCall(Member(None, "name"), "first", ())


def test_precedence_and_binds_tighter_than_or():
    tree = parse("a or b and c")
    assert tree == Binary(
        "or", Member(None, "a"), Binary("and", Member(None, "b"), Member(None, "c"))
    )


def test_precedence_multiplication_over_addition_and_comparison_over_and():
    tree = parse("a + b * 2 > 3 and c")
    assert tree == Binary(
        "and",
        Binary(
            ">",
            Binary("+", Member(None, "a"), Binary("*", Member(None, "b"), Literal(2, "Integer"))),
            Literal(3, "Integer"),
        ),
        Member(None, "c"),
    )


def test_literals():
    assert parse("1.50") == Literal("1.50", "Decimal")  # text kept: its precision matters
    assert parse("true") == Literal(True, "Boolean")
    assert parse("@2020-01-02") == Literal("2020-01-02", "Date")
    assert parse("@2020-01-02T10:00:00Z") == Literal("2020-01-02T10:00:00Z", "DateTime")
    assert parse("@T12:30") == Literal("12:30", "Time")
    assert parse("{}") == EmptyLiteral()
    assert parse(r"'it\'s \u00e9'") == Literal("it's é", "String")
    assert parse("5 'mg'") == Literal(5.0, "Quantity", "mg")


def test_constants_variables_indexer_unary_and_types():
    assert parse("%rowIndex") == Constant("rowIndex")
    assert parse("$this") == Variable("this")
    assert parse("name[%i]") == Indexer(Member(None, "name"), Constant("i"))
    assert parse("-value") == Unary("-", Member(None, "value"))
    assert parse("value is Quantity") == TypeOperation("is", Member(None, "value"), "Quantity")
    assert parse("`div`.x") == Member(Member(None, "div"), "x")


@pytest.mark.parametrize(
    ("text", "position"),
    [("@@", 0), ("name.", 5), ("name[0", 6), ("where(a,", 8), ("a +", 3), ("", 0), ("name)", 4)],
)
def test_syntax_errors_give_the_position(text, position):
    with pytest.raises(FHIRPathSyntaxError) as info:
        parse(text)
    assert info.value.position == position
    assert f"at character {position}" in str(info.value)
