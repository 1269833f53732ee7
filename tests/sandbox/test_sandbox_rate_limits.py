"""Procore rate limits: hourly and spike windows per client, headers on every attributed response, 429."""

import time

RATE_LIMITED_TEXT = "You have surpassed the max number of requests for an hour. Please wait until your limit resets."


def rate_headers(response) -> tuple[int, int, int]:
    return (
        int(response.headers["X-Rate-Limit-Limit"]),
        int(response.headers["X-Rate-Limit-Remaining"]),
        int(response.headers["X-Rate-Limit-Reset"]),
    )


def test_hourly_limit_counts_down_then_answers_429_text(procore) -> None:
    procore.configure(hourly_limit=3)
    token = procore.token()
    started = time.time()

    responses = [procore.sync([], token=token) for _ in range(4)]

    assert [response.status_code for response in responses] == [200, 200, 200, 429]
    assert [rate_headers(response)[:2] for response in responses] == [(3, 2), (3, 1), (3, 0), (3, 0)]
    reset = rate_headers(responses[0])[2]
    assert started + 3600 <= reset <= time.time() + 3601
    assert all(rate_headers(response)[2] == reset for response in responses)
    limited = responses[3]
    assert limited.headers["content-type"].startswith("text/plain")
    assert limited.text == RATE_LIMITED_TEXT
    assert "retry-after" not in limited.headers


def test_429_is_not_applied(procore) -> None:
    procore.configure(hourly_limit=1)
    token = procore.token()
    procore.sync([], token=token)

    assert procore.sync([{"origin_id": "late"}], token=token).status_code == 429
    assert procore.pcos() == []


def test_retry_after_on_429_when_configured(procore) -> None:
    procore.configure(spike_limit=1, retry_after_on_429=True)
    token = procore.token()
    procore.sync([], token=token)

    limited = procore.sync([], token=token)

    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 10


def test_headers_report_the_window_nearest_to_exhaustion(procore) -> None:
    procore.configure(hourly_limit=50, spike_limit=5)
    token = procore.token()

    first = procore.sync([], token=token)
    assert rate_headers(first)[:2] == (5, 4)  # spike: 4 left of 5, hourly 49 of 50
    assert rate_headers(first)[2] <= time.time() + 11

    procore.configure(hourly_limit=3)
    assert rate_headers(procore.sync([], token=token))[:2] == (3, 1)  # now the hourly window is nearer


def test_failed_requests_count_too(procore) -> None:
    procore.configure(hourly_limit=10)
    token = procore.token()

    missing_company = procore.sync([], token=token, company=None)
    missing_query = procore.sync([], token=token, project=None)

    assert missing_company.status_code == 400
    assert rate_headers(missing_company)[1] == 9
    assert missing_query.status_code == 400
    assert rate_headers(missing_query)[1] == 8


def test_expired_tokens_are_attributed_and_counted(procore) -> None:
    procore.configure(hourly_limit=10)
    token = procore.token()
    procore.http.post("/_sandbox/procore/expire-tokens")

    expired = procore.sync([], token=token)

    assert expired.status_code == 401
    assert rate_headers(expired)[1] == 9


def test_limits_are_per_client(procore) -> None:
    procore.configure(hourly_limit=1)
    procore.http.post("/_sandbox/procore/clients", json={"client_id": "other", "client_secret": "s"})
    procore.sync([], token=procore.token())

    assert procore.sync([], token=procore.token()).status_code == 429
    assert procore.sync([], token=procore.token("other", "s")).status_code == 200


def test_spike_window_reopens_after_its_length(procore) -> None:
    procore.configure(spike_limit=1, spike_window_seconds=1)
    token = procore.token()
    first = procore.sync([], token=token)
    assert procore.sync([], token=token).status_code == 429

    time.sleep(max(0.0, rate_headers(first)[2] - time.time()) + 0.05)

    assert procore.sync([], token=token).status_code == 200
