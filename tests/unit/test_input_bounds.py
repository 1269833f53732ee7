"""Bounds on input before and while it is parsed: hostile JSON is refused naming where, and real bodies still parse."""

import json
import pickle
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from connectors.models.common import CODE_CHARS, TEXT_CHARS
from connectors.models.constructiononline import MAX_MONEY_DIGITS, MAX_VALUE_CHARS, ChangeOrderUpdateCommand, CoInfo
from connectors.models.errors import invalid_input_from
from connectors.models.exact_json import (
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_MEMBERS,
    MAX_NUMBER_DIGITS,
    MAX_STRING_CHARS,
    JsonInputError,
    dumps_exact,
    loads_exact,
)
from connectors.models.prime import MAX_AMOUNT_DIGITS, MAX_BATCH_ITEMS, SovBatchCommand, SovItems
from connectors.models.procore import MAX_COMMAND_UPDATES, PcoSyncBody, PcoSyncCommand

EVENTS = Path(__file__).resolve().parents[2] / "events"
HOSTILE_DEPTH = 200_000


def refused(text: str | bytes) -> JsonInputError:
    with pytest.raises(JsonInputError) as caught:
        loads_exact(text)
    return caught.value


def problems(model: Any, data: Any) -> dict[str, str]:
    """Field -> message, as the invalid-input failure names them."""
    adapter = model if isinstance(model, TypeAdapter) else TypeAdapter(model)
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(data)
    return {p.field: p.message for p in invalid_input_from(caught.value, "input").problems}


def typed(value: Any) -> Any:
    """``value`` with every scalar paired with its type and exact digits (``1 == Decimal("1.0")`` otherwise)."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return type(value).__name__, repr(value)


# --- the exception -------------------------------------------------------------------------------------------------


def test_the_error_names_field_and_reason_and_is_a_value_error():
    error = JsonInputError("items[3].changeOrderSovCost.total", "exponent 100000000 is out of range")
    assert isinstance(error, ValueError)
    assert (error.field, error.reason) == ("items[3].changeOrderSovCost.total", "exponent 100000000 is out of range")
    assert str(error) == "items[3].changeOrderSovCost.total: exponent 100000000 is out of range"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.field, copy.reason) == (error.field, error.reason)


def test_syntax_errors_stay_json_decode_errors():
    with pytest.raises(json.JSONDecodeError):
        loads_exact('{"a": }')


# --- depth ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hostile",
    [
        "[" * HOSTILE_DEPTH + "]" * HOSTILE_DEPTH,
        '{"a":' * HOSTILE_DEPTH + "1" + "}" * HOSTILE_DEPTH,
        '[{"a": "x"}, ' * HOSTILE_DEPTH,
        "[" * HOSTILE_DEPTH,
    ],
    ids=["arrays", "objects", "mixed-with-strings", "unclosed"],
)
def test_200000_levels_are_refused_fast_without_recursion(hostile):
    started = time.process_time()
    error = refused(hostile)
    assert time.process_time() - started < 1.0
    assert error.field == "(root)"
    assert error.reason == f"nested deeper than {MAX_DEPTH} levels"


def test_the_depth_limit_is_exact():
    assert loads_exact("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert refused("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)).field == "(root)"


def test_brackets_and_quotes_inside_strings_are_not_structure():
    tricky = 'opens [[{{ closes ]]}} quote " backslash \\ escaped \\" end'
    text = json.dumps({"a": [tricky * 50, {"b": "\\" * 7 + '"' + "[" * 100}]})
    assert loads_exact(text) == json.loads(text)


tricky_text = st.text(st.sampled_from('[]{}"\\ax'), max_size=12)


@given(
    st.lists(st.sampled_from(["array", "object"]), min_size=MAX_DEPTH - 8, max_size=MAX_DEPTH + 8),
    st.lists(tricky_text, min_size=1, max_size=4),
)
def test_the_depth_scan_agrees_with_the_real_nesting(kinds, strings):
    value: Any = strings
    for kind in kinds:
        value = [strings[0], value] if kind == "array" else {"s": strings[0], strings[-1] + "k": value}
    depth = len(kinds) + 1  # the innermost list of strings is a level too
    text = json.dumps(value)
    if depth > MAX_DEPTH:
        assert refused(text).reason == f"nested deeper than {MAX_DEPTH} levels"
    else:
        assert loads_exact(text) == value


# --- numbers -------------------------------------------------------------------------------------------------------


def test_a_huge_exponent_in_a_constructiononline_price_is_refused_naming_the_field():
    text = '{"connection": "default", "id": 7, "coInfo": {"NOTES": "n", "PRICE": 1e100000000}}'
    with pytest.raises(JsonInputError) as caught:
        ChangeOrderUpdateCommand.model_validate(loads_exact(text))
    assert caught.value.field == "coInfo.PRICE"
    assert caught.value.reason.startswith("exponent 100000000 is out of range")


def test_a_huge_exponent_in_a_prime_cost_is_refused_naming_the_field():
    item = '{"changeOrderLineItemId": 1, "name": "n", "sovType": "LUMP_SUM", "changeOrderSovCost": {"total": COST}}'
    text = '{"items": [' + item.replace("COST", "1.5") + ", " + item.replace("COST", "-2.5E+100000000") + "]}"
    with pytest.raises(JsonInputError) as caught:
        SovBatchCommand.model_validate(loads_exact(text))
    assert caught.value.field == "items[1].changeOrderSovCost.total"
    assert "exponent +100000000 is out of range" in caught.value.reason


def test_a_5000_digit_integer_is_refused_with_its_path_and_never_converted():
    text = '{"company_id": 1, "updates": [{"origin_id": "a"}, {"id": ' + "9" * 5000 + "}]}"
    error = refused(text)
    assert error.field == "updates[1].id"
    assert error.reason == f"a number with 5000 digits (at most {MAX_NUMBER_DIGITS})"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("1" * (MAX_NUMBER_DIGITS + 1), "digits"),
        ("-" + "1" * (MAX_NUMBER_DIGITS + 1), "digits"),
        ("0." + "1" * MAX_NUMBER_DIGITS, "digits"),
        (f"1e{MAX_EXPONENT + 1}", "exponent"),
        (f"1E-{MAX_EXPONENT + 1}", "exponent"),
        ("1e" + "7" * 5000, "exponent"),
        ("NaN", "not a JSON number"),
        ("-Infinity", "not a JSON number"),
    ],
)
def test_numbers_past_the_bounds_are_refused_with_their_path(number, reason):
    error = refused('{"a": [0, {"b": ' + number + "}]}")
    assert error.field == "a[1].b"
    assert reason in error.reason
    assert len(str(error)) < 200  # a long token is not echoed back whole


@pytest.mark.parametrize(
    ("number", "value"),
    [
        ("9" * MAX_NUMBER_DIGITS, int("9" * MAX_NUMBER_DIGITS)),
        ("-" + "9" * MAX_NUMBER_DIGITS, -int("9" * MAX_NUMBER_DIGITS)),
        (f"1.5e{MAX_EXPONENT}", Decimal(f"1.5e{MAX_EXPONENT}")),
        (f"1e-{MAX_EXPONENT}", Decimal(f"1e-{MAX_EXPONENT}")),
        ("1e" + "0" * 50 + "5", Decimal("1e5")),
    ],
)
def test_numbers_within_the_bounds_are_kept_exact(number, value):
    [parsed] = loads_exact(f"[{number}]")
    assert typed(parsed) == typed(value)


def test_the_models_refuse_a_huge_decimal_without_writing_it_out():
    # Built in Python, not parsed: the models' own bound must refuse it before format(value, "f") could run.
    huge = Decimal("1e100000000")
    sov = {"changeOrderLineItemId": 1, "name": "n", "sovType": "LUMP_SUM", "changeOrderSovCost": {"total": huge}}
    tracemalloc.start()
    try:
        found_co = problems(CoInfo, {"PRICE": huge, "NOTES": huge})
        found_prime = problems(SovBatchCommand, {"items": [sov]})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000  # written out, 1e100000000 alone is 100 MB
    assert found_co == {
        "PRICE": f"must have at most {MAX_MONEY_DIGITS} digits: ConstructionOnline holds amounts as .NET decimals",
        "NOTES": f"must be at most {MAX_VALUE_CHARS} characters written out",
    }
    too_many = f"Decimal input should have no more than {MAX_AMOUNT_DIGITS} digits in total"
    assert found_prime == {"items[0].changeOrderSovCost.total": too_many}


def test_a_5000_digit_id_string_is_refused_in_plain_words():
    found = problems(PcoSyncCommand, {"company_id": "9" * 5000, "project_id": 2, "contract_id": 3, "updates": []})
    assert found["company_id"] == "must be a 64-bit integer id (at most 9223372036854775807)"


def test_id_strings_keep_their_full_64_bit_range():
    command = PcoSyncCommand.model_validate(
        {"company_id": "0009223372036854775807", "project_id": 2, "contract_id": 3, "updates": [{"origin_id": "a"}]}
    )
    assert command.company_id == 2**63 - 1


# --- bytes ---------------------------------------------------------------------------------------------------------


def test_bytes_that_are_not_utf8_are_refused():
    error = refused(b'{"NOTES": "caf\xe9"}')
    assert error.field == "(root)"
    assert "not UTF-8" in error.reason


def test_utf8_bytes_and_a_byte_order_mark_parse():
    assert loads_exact('{"NOTES": "café", "PRICE": 1.50}'.encode()) == {"NOTES": "café", "PRICE": Decimal("1.50")}
    assert loads_exact(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


# --- strings and containers (the generic backstop) -----------------------------------------------------------------


def test_an_over_long_string_is_refused_with_its_path():
    error = refused(json.dumps({"items": [{"name": "x" * (MAX_STRING_CHARS + 1)}]}))
    assert error.field == "items[0].name"
    assert error.reason == f"a string of {MAX_STRING_CHARS + 1} characters (at most {MAX_STRING_CHARS})"


def test_an_over_long_member_name_is_refused_naming_its_object():
    error = refused(json.dumps({"coInfo": {"k" * (MAX_STRING_CHARS + 1): 1}}))
    assert error.field == "coInfo"
    assert "member name" in error.reason


def test_an_oversized_array_is_refused_with_its_path():
    error = refused(json.dumps({"updates": [0] * (MAX_MEMBERS + 1)}))
    assert error.field == "updates"
    assert error.reason == f"an array of {MAX_MEMBERS + 1} items (at most {MAX_MEMBERS})"


def test_a_scalar_document_is_checked_too():
    assert refused("1e999").field == "(root)"
    assert loads_exact("12.50") == Decimal("12.50")


# --- real bodies parse as before -----------------------------------------------------------------------------------


def sample_texts() -> list[tuple[str, str]]:
    """Every JSON text in the sample events: bodies, SQS message bodies and the coInfo query parameter."""
    found = []
    for path in sorted(EVENTS.glob("*/*.json")):
        event = json.loads(path.read_text())
        texts = [record["body"] for record in event.get("Records", [])]
        texts.append(event.get("body"))
        texts.append((event.get("queryStringParameters") or {}).get("coInfo"))
        found += [(f"{path.parent.name}/{path.name}", text) for text in texts if text]
    return found


@pytest.mark.parametrize(("name", "text"), sample_texts(), ids=[name for name, _ in sample_texts()])
def test_sample_bodies_parse_to_the_same_values_as_before(name, text):
    before = json.loads(text, parse_float=Decimal)  # what loads_exact was
    assert typed(loads_exact(text)) == typed(before)
    assert typed(loads_exact(text.encode())) == typed(before)


MODELS: dict[str, Any] = {
    "procore_pco_sync/api.json": PcoSyncBody,
    "procore_pco_sync/sqs.json": PcoSyncCommand,
    "prime_change_order_sov_batch/api.json": SovItems,
    "prime_change_order_sov_batch/sqs.json": SovBatchCommand,
    "constructiononline_change_order_update/api.json": CoInfo,
    "constructiononline_change_order_update/api-body.json": CoInfo,
    "constructiononline_change_order_update/sqs.json": ChangeOrderUpdateCommand,
}


@pytest.mark.parametrize(
    ("name", "text"),
    [(n, t) for n, t in sample_texts() if n in MODELS],
    ids=[n for n, _ in sample_texts() if n in MODELS],
)
def test_valid_sample_bodies_still_pass_their_model_unchanged(name, text):
    adapter: TypeAdapter[Any] = TypeAdapter(MODELS[name])
    assert adapter.validate_python(loads_exact(text)) == adapter.validate_python(json.loads(text, parse_float=Decimal))


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**MAX_NUMBER_DIGITS) + 1, max_value=10**MAX_NUMBER_DIGITS - 1)
    | st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-(10**20), max_value=10**20)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
)


@given(json_values)
def test_any_document_within_the_bounds_parses_as_before(value):
    text = dumps_exact(value)
    assert typed(loads_exact(text)) == typed(json.loads(text, parse_float=Decimal))


# --- the models' per-field bounds ----------------------------------------------------------------------------------

SOV = {"changeOrderLineItemId": 1, "name": "n", "sovType": "LUMP_SUM", "changeOrderSovCost": {"total": 1}}


def procore(**update: Any) -> dict[str, Any]:
    return {"company_id": 1, "project_id": 2, "contract_id": 3, "updates": [{"origin_id": "a", **update}]}


@pytest.mark.parametrize(
    ("field", "longest"),
    [
        ("origin_id", CODE_CHARS),
        ("number", CODE_CHARS),
        ("currency_exchange_rate", CODE_CHARS),
        ("origin_data", TEXT_CHARS),
        ("title", TEXT_CHARS),
        ("description", TEXT_CHARS),
    ],
)
def test_procore_strings_are_bounded_by_name(field, longest):
    fill = "1" if field == "currency_exchange_rate" else "x"
    assert PcoSyncCommand.model_validate(procore(**{field: fill * longest})).updates[0].wire()[field] == fill * longest
    found = problems(PcoSyncCommand, procore(**{field: fill * (longest + 1)}))
    assert found == {f"updates[0].{field}": f"String should have at most {longest} characters"}


def test_procore_updates_are_bounded():
    updates = [{"origin_id": f"o{n}"} for n in range(MAX_COMMAND_UPDATES + 1)]
    found = problems(PcoSyncBody, {"updates": updates})
    message = f"List should have at most {MAX_COMMAND_UPDATES} items after validation, not {MAX_COMMAND_UPDATES + 1}"
    assert found == {"updates": message}
    assert len(PcoSyncBody.model_validate({"updates": updates[:MAX_COMMAND_UPDATES]}).updates) == MAX_COMMAND_UPDATES


@pytest.mark.parametrize(
    ("field", "longest"),
    [
        ("abbreviation", CODE_CHARS),
        ("associatedAgreementCode", CODE_CHARS),
        ("changeOrderCode", CODE_CHARS),
        ("changeOrderLineItemCode", CODE_CHARS),
        ("itemCode", CODE_CHARS),
        ("parentChangeOrderSovCode", CODE_CHARS),
        ("projectCode", CODE_CHARS),
        ("unitsOfMeasureCode", CODE_CHARS),
        ("workspaceCode", CODE_CHARS),
        ("name", TEXT_CHARS),
        ("costCategoryName", TEXT_CHARS),
        ("description", TEXT_CHARS),
    ],
)
def test_prime_strings_are_bounded_by_name(field, longest):
    assert (
        SovBatchCommand.model_validate({"items": [{**SOV, field: "x" * longest}]}).items[0].wire()[field]
        == "x" * longest
    )
    found = problems(SovBatchCommand, {"items": [SOV, {**SOV, field: "x" * (longest + 1)}]})
    assert found == {f"items[1].{field}": f"String should have at most {longest} characters"}


def test_prime_items_are_bounded_in_the_command_and_the_api_body():
    items = [SOV] * (MAX_BATCH_ITEMS + 1)
    message = f"List should have at most {MAX_BATCH_ITEMS} items after validation, not {MAX_BATCH_ITEMS + 1}"
    assert problems(SovBatchCommand, {"items": items}) == {"items": message}
    assert problems(TypeAdapter(SovItems), items) == {"(root)": message}
    assert len(SovBatchCommand.model_validate({"items": items[:MAX_BATCH_ITEMS]}).items) == MAX_BATCH_ITEMS


def sov_with(field: str, amount: Decimal) -> dict[str, Any]:
    if field in ("quantity", "percentComplete"):
        return {**SOV, field: amount}
    return {**SOV, "changeOrderSovCost": {field: amount}}


@pytest.mark.parametrize("field", ["total", "unitPriceProject", "quantity", "percentComplete"])
def test_prime_amounts_keep_38_digits_and_refuse_more(field):
    widest = Decimal("1234567890123456789012345678901234567.8")  # 38 digits
    wire = SovBatchCommand.model_validate({"items": [sov_with(field, widest)]}).items[0].wire()
    assert dumps_exact(wire).count("1234567890123456789012345678901234567.8") == 1
    message = f"Decimal input should have no more than {MAX_AMOUNT_DIGITS} digits in total"
    for too_wide in ("12345678901234567890123456789012345678.9", "1e38", "1e-39", "1e100000000"):
        found = problems(SovBatchCommand, {"items": [sov_with(field, Decimal(too_wide))]})
        [(path, said)] = found.items()
        assert path.startswith("items[0].") and path.endswith(field) and said == message


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("9" * MAX_MONEY_DIGITS, "9" * MAX_MONEY_DIGITS),
        ("-0." + "0" * (MAX_MONEY_DIGITS - 1) + "1", "-0." + "0" * (MAX_MONEY_DIGITS - 1) + "1"),
        ("000" + "1" * MAX_MONEY_DIGITS, "000" + "1" * MAX_MONEY_DIGITS),
        (Decimal(f"1e{MAX_MONEY_DIGITS - 1}"), "1" + "0" * (MAX_MONEY_DIGITS - 1)),
        (10**MAX_MONEY_DIGITS - 1, "9" * MAX_MONEY_DIGITS),
    ],
)
def test_constructiononline_money_of_28_digits_is_sent_exactly(given, sent):
    assert CoInfo.model_validate({"PRICE": given}).wire() == {"PRICE": sent}


@pytest.mark.parametrize(
    "given",
    [
        "9" * (MAX_MONEY_DIGITS + 1),
        "1." + "0" * MAX_MONEY_DIGITS,
        Decimal(f"1e{MAX_MONEY_DIGITS}"),
        Decimal(f"1e-{MAX_MONEY_DIGITS + 1}"),
        10**MAX_MONEY_DIGITS,
        10**5000,
        "1" * MAX_STRING_CHARS,
    ],
    ids=["29-digits", "29-places", "1e28", "1e-29", "int-1e28", "int-5000-digits", "1MiB-of-digits"],
)
def test_constructiononline_money_past_28_digits_is_refused_by_name(given):
    message = f"must have at most {MAX_MONEY_DIGITS} digits: ConstructionOnline holds amounts as .NET decimals"
    assert problems(CoInfo, {"QTY": given}) == {"QTY": message}


@pytest.mark.parametrize("field", ["NOTES", "DETAILS", "URL", "USERIDS", "NUMBER"])
def test_constructiononline_values_are_bounded_by_what_a_query_string_can_carry(field):
    assert CoInfo.model_validate({field: "x" * MAX_VALUE_CHARS}).wire() == {field: "x" * MAX_VALUE_CHARS}
    found = problems(CoInfo, {field: "x" * (MAX_VALUE_CHARS + 1)})
    assert found == {field: f"String should have at most {MAX_VALUE_CHARS} characters"}
    assert problems(CoInfo, {field: 10**5000}) == {field: f"must be at most {MAX_VALUE_CHARS} characters written out"}


def test_every_bounded_field_is_reported_at_once():
    found = problems(
        ChangeOrderUpdateCommand, {"id": 1, "coInfo": {"NOTES": "x" * 5000, "PRICE": "1" * 40, "COST_MONEY": "1.5"}}
    )
    assert set(found) == {"coInfo.NOTES", "coInfo.PRICE"}
