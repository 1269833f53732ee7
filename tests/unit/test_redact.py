"""The redaction step: learnt secret values and credential shapes out of replies and log lines."""

import json
import threading

import pytest

from connectors.failures import FieldProblem, invalid_input, vendor_rejected
from connectors.models.errors import ErrorResponse
from connectors.observability import logger
from connectors.redact import MARKER, Redactor, redact, remember
from tests.log_capture import captured_log_records


@pytest.fixture
def redactor():
    return Redactor()


def test_a_remembered_value_is_taken_out_wherever_it_stands(redactor):
    redactor.remember("s3cret-Value")
    assert redactor.redact("said: bad key s3cret-Value, try again") == f"said: bad key {MARKER}, try again"
    assert redactor.redact("xs3cret-Valuex") == f"x{MARKER}x"


@pytest.mark.parametrize(
    "echoed",
    [
        'p"ss\\w0rd-ü',  # as is
        'p\\"ss\\\\w0rd-\\u00fc',  # JSON-escaped (ASCII only)
        'p\\"ss\\\\w0rd-ü',  # JSON-escaped (UTF-8 kept)
        "p%22ss%5Cw0rd-%C3%BC",  # percent-encoded
    ],
)
def test_the_forms_a_vendor_could_echo_a_value_in_are_taken_out_too(redactor, echoed):
    redactor.remember('p"ss\\w0rd-ü')
    assert redactor.redact(f"[{echoed}]") == f"[{MARKER}]"


def test_a_form_encoded_value_with_spaces_is_taken_out(redactor):
    redactor.remember("two words here")
    assert redactor.redact("body was two+words+here&x=1") == f"body was {MARKER}&x=1"


def test_a_header_value_is_taken_out_with_or_without_its_scheme(redactor):
    redactor.remember("Bearer abcdefghijklmnop")
    assert MARKER in redactor.redact("token abcdefghijklmnop expired")
    assert "abcdefghijklmnop" not in redactor.redact("Authorization: Bearer abcdefghijklmnop")


def test_values_too_short_to_be_credentials_are_not_remembered(redactor):
    redactor.remember("abc", "")
    assert redactor.redact("abc 1 abc") == "abc 1 abc"


def test_a_value_containing_another_is_taken_out_whole(redactor):
    redactor.remember("secret-one", "secret-one-and-more")
    assert redactor.redact("got secret-one-and-more") == f"got {MARKER}"


def test_remembering_while_other_threads_redact_loses_nothing(redactor):
    values = [f"concurrent-value-{i:03d}" for i in range(200)]

    def learn(chunk):
        for value in chunk:
            redactor.remember(value)
            assert value not in redactor.redact(f"echo {value}")

    threads = [threading.Thread(target=learn, args=(values[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    text = " ".join(values)
    assert redactor.redact(text) == " ".join([MARKER] * len(values))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer eyJhbGciOi.eyJzdWIi.Sfl-KxwR", f"Authorization: Bearer {MARKER}"),
        ("Authorization: Basic c2FuZGJveDpwYXNz", f"Authorization: Basic {MARKER}"),
        ("authorization=Zm9vYmFy0&next=1", f"authorization={MARKER}&next=1"),
        ("Proxy-Authorization: Digest-free-value", f"Proxy-Authorization: {MARKER}"),
        ("APIKey: sandbox-api-key", f"APIKey: {MARKER}"),
        ("x-api-key=k-123", f"x-api-key={MARKER}"),
        ("access_token=abc123&expires_in=3600", f"access_token={MARKER}&expires_in=3600"),
        (
            '{"access_token": "abc123", "token_type": "bearer"}',
            f'{{"access_token": "{MARKER}", "token_type": "bearer"}}',
        ),
        ('{"accessToken":"abc123"}', f'{{"accessToken":"{MARKER}"}}'),
        ('{\\"client_secret\\": \\"abc123\\"}', f'{{\\"client_secret\\": \\"{MARKER}\\"}}'),
        ("grant_type=client_credentials&client_secret=s3", f"grant_type=client_credentials&client_secret={MARKER}"),
        ("{'password': 'hunter2'}", f"{{'password': '{MARKER}'}}"),
        ("password=hunter2", f"password={MARKER}"),
        ("refresh_token: r-1", f"refresh_token: {MARKER}"),
        ("bearer wrong-credential-value", f"bearer {MARKER}"),
    ],
)
def test_anything_shaped_like_a_credential_is_taken_out(text, expected):
    assert Redactor().redact(text) == expected


@pytest.mark.parametrize(
    "prose",
    [
        "bearer token not accepted",
        "no credentials: send a Standard Webhooks signature or Authorization: Bearer",
        "send Authorization: Bearer.",
        "Basic credentials buy a token.",
        "secret change-order-connectors/procore/bad does not exist",
        "secret change-order-connectors/prime/x lacks or mistypes: password, username",
        "prime token endpoint answered 200 without access_token or accessToken",
        "the body must be JSON: send Content-Type: application/json",
        '{"token_type": "Bearer", "expires_in": 3600}',
    ],
)
def test_messages_about_credentials_keep_their_words(prose):
    assert Redactor().redact(prose) == prose


def test_redacting_twice_changes_nothing_more(redactor):
    redactor.remember("known-value")
    once = redactor.redact("known-value; Authorization: Bearer abc-123; password=x")
    assert redactor.redact(once) == once


def test_the_process_registry_is_what_redact_consults():
    remember("process-wide-secret-1f9c")
    assert redact("echo process-wide-secret-1f9c") == f"echo {MARKER}"


# ---------------------------------------------------------------------------------------------- replies


def test_an_error_reply_carries_no_remembered_secret_in_its_message_or_problems():
    remember("reply-secret-77aa")
    failure = invalid_input("bad: reply-secret-77aa", [FieldProblem("body.x", "echoes reply-secret-77aa")])
    body = ErrorResponse.of(failure).model_dump_json()
    assert "reply-secret-77aa" not in body
    assert json.loads(body)["error"]["problems"] == [{"field": "body.x", "message": f"echoes {MARKER}"}]


def test_an_error_reply_takes_out_a_credential_a_vendor_echoed():
    failure = vendor_rejected("procore answered 400: bad request (Authorization: Bearer tok-98765)", 400)
    assert "tok-98765" not in ErrorResponse.of(failure).error.message


# ---------------------------------------------------------------------------------------------- logs


@pytest.fixture
def lines():
    """What the shared logger writes, through the formatter it registered."""
    with captured_log_records() as records:
        yield records


def test_an_unexpected_exception_logged_with_its_traceback_shows_no_secret(lines):
    remember("traceback-secret-4c2e")

    def vendor_client():
        raise RuntimeError("connect failed for https://user:traceback-secret-4c2e@vendor.test/")

    try:
        vendor_client()
    except RuntimeError:
        logger.exception("unexpected failure")
    [line] = lines()
    assert "traceback-secret-4c2e" not in json.dumps(line)
    assert MARKER in line["exception"] and line["exception_name"] == "RuntimeError"
    assert line["stack_trace"]["value"].endswith(f"{MARKER}@vendor.test/")


def test_extra_fields_and_objects_in_them_are_redacted_and_the_line_stays_json(lines):
    remember('quote"and\\slash-secret')

    class Opaque:
        def __str__(self):
            return 'opaque holding quote"and\\slash-secret'

    logger.warning(
        "sent Authorization: Bearer abc-123-def",
        extra={"detail": {"echo": ['quote"and\\slash-secret']}, "thing": Opaque()},
    )
    [line] = lines()
    assert line["message"] == f"sent Authorization: Bearer {MARKER}"
    assert line["detail"] == {"echo": [MARKER]}
    assert line["thing"] == f"opaque holding {MARKER}"


def test_a_message_with_arguments_is_redacted_after_formatting(lines):
    remember("argument-secret-5d1a")
    logger.info("token %s refused", "argument-secret-5d1a")
    assert lines()[0]["message"] == f"token {MARKER} refused"
