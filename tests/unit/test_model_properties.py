"""Property tests (hypothesis) on the command models and the wire formats they feed."""

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from connectors.failures import ConnectorError
from connectors.models.constructiononline import CoInfo
from connectors.models.exact_json import dumps_exact, loads_exact
from connectors.models.prime import COST_FIELDS, ChangeOrderSov
from connectors.models.procore import PcoStatus, PcoUpdate
from constructiononline_change_order_update.client import MAX_QUERY_LENGTH, update_url

money = st.decimals(min_value=Decimal("-1e15"), max_value=Decimal("1e15"), places=6, allow_nan=False)
text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)


@given(st.dictionaries(st.sampled_from(COST_FIELDS), money, max_size=8), money)
def test_prime_money_survives_parse_and_wire_digit_for_digit(costs, quantity):
    sov = {"changeOrderLineItemId": 1, "name": "n", "sovType": "UNIT_PRICE", "quantity": quantity}
    sov["changeOrderSovCost"] = costs
    wire = dumps_exact(ChangeOrderSov.model_validate(loads_exact(dumps_exact(sov))).wire())
    back = loads_exact(wire)
    assert {k: Decimal(v) for k, v in back["changeOrderSovCost"].items()} == costs
    assert Decimal(back["quantity"]) == quantity


@given(
    st.dictionaries(st.sampled_from(["DETAILS", "NOTES", "REASONING", "SUBTITLE", "URL", "NUMBER"]), text, min_size=1)
)
def test_any_coinfo_text_reaches_the_vendor_exactly_or_is_refused_for_length(values):
    info = CoInfo.model_validate(values)
    try:
        url = update_url("https://api.constructiononline.com", 7, info)
    except ConnectorError as error:  # only an over-long query may be refused
        refused: ConnectorError | None = error
    else:
        refused = None
    if refused is not None:
        assert f"at most {MAX_QUERY_LENGTH}" in refused.message
        return
    assert json.loads(parse_qs(urlsplit(url).query, strict_parsing=True, keep_blank_values=True)["coInfo"][0]) == values


@given(
    st.text(min_size=1, max_size=40),
    st.sampled_from(list(PcoStatus)),
    st.integers(min_value=1, max_value=2**63 - 1),
    st.dates(),
)
def test_a_procore_update_revalidates_to_itself_from_its_wire_form(origin_id, status, event_id, paid):
    update = PcoUpdate(origin_id=origin_id, status=status, prime_change_event_id=event_id, paid_date=paid)
    wire = update.wire()
    assert wire["prime_change_event_id"] == event_id  # 64-bit ids exact
    assert PcoUpdate.model_validate(json.loads(json.dumps(wire))) == update


@given(st.dictionaries(st.text(max_size=20), st.integers() | text, max_size=5))
def test_unknown_coinfo_keys_are_always_refused_by_name(extra):
    unknown = {k: v for k, v in extra.items() if k not in CoInfo.model_fields}
    try:
        CoInfo.model_validate({"NOTES": "x", **unknown})
    except ValidationError as error:
        refused = {".".join(map(str, e["loc"])) for e in error.errors() if e["type"] == "extra_forbidden"}
    else:
        refused = set()
    assert refused == set(unknown)
