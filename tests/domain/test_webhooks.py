"""Outbound webhooks' pure rules: the v1 signature (CircleCI's own test vectors), URLs, events, retries, ids."""

from __future__ import annotations

import uuid

import pytest

from rondo.domain.webhooks import (
    WebhookError,
    check_events,
    check_url,
    event_id,
    retry_delay_s,
    safe_url,
    signature,
    verify_signature,
)

# From CircleCI's outbound webhooks docs ("Validate outbound webhooks").
VECTORS = [
    (b"hello world", "secret", "734cc62f32841568f45715aeb9f4d7891324e6d948e4c6c60c0621cdac48623a"),
    (b"lalala", "another-secret", "daa220016c8f29a8b214fbfc3671aeec2145cfb1e6790184ffb38b6d0425fa00"),
    (b"an-important-request-payload", "hunter123", "9be2242094a9a8c00c64306f382a7f9d691de910b4a266f67bd314ef18ac49fa"),
    (b"foo", "secret", "773ba44693c7553d6ee20f61ea5d2757a9a4f4a44d2841ae4e95b52e4cd62db4"),
]


@pytest.mark.parametrize(("body", "secret", "hexdigest"), VECTORS)
def test_signature_matches_circleci_test_vectors(body: bytes, secret: str, hexdigest: str) -> None:
    assert signature(body, secret) == f"v1={hexdigest}"
    assert verify_signature(body, secret, f"v1={hexdigest}")
    assert verify_signature(body, secret, f"v1={hexdigest},v2=whatever")  # later versions are ignored
    assert not verify_signature(body, secret, "v1=not-a-valid-signature")
    assert not verify_signature(body, secret + "x", f"v1={hexdigest}")
    assert not verify_signature(body, secret, f"v2={hexdigest}")  # no v1: not valid


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/circleci", "http://127.0.0.1:8000/in?token=a", "HTTPS://h.example:443/"]
)
def test_http_and_https_urls_are_taken(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/x", "has ftp:"),
        ("hooks.example.com/x", "has no scheme"),
        ("file:///etc/passwd", "has file:"),
        ("https:///path", "names no host"),
        ("http://h.example:0/", "names port 0"),
        ("http://h.example:http/", "not a valid address"),
        ("https://h .example/", "without spaces"),
        ("https://h.example/\n", "without spaces"),
        ("https://" + "a" * 2000 + ".example/", "at most 2000 characters"),
        ("", "http:// or https://"),
    ],
)
def test_other_urls_are_refused_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(WebhookError, match=message):
        check_url(url)


def test_events_are_checked_kept_once_and_in_circleci_order() -> None:
    assert check_events(["job-completed", "workflow-completed", "job-completed"]) == [
        "workflow-completed",
        "job-completed",
    ]
    with pytest.raises(WebhookError, match="'build-finished'; the events are workflow-completed, job-completed"):
        check_events(["job-completed", "build-finished"])
    with pytest.raises(WebhookError, match="at least one"):
        check_events([])


def test_retries_wait_four_times_longer_each_time() -> None:
    assert [retry_delay_s(n, 10.0) for n in range(1, 6)] == [10.0, 40.0, 160.0, 640.0, 2560.0]


def test_event_ids_are_stable_per_event_and_webhook() -> None:
    job, hook, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert event_id("job-completed", job, hook) == event_id("job-completed", job, hook)
    assert len({event_id("job-completed", job, hook), event_id("job-completed", job, other)}) == 2
    assert event_id("job-completed", job, hook) != event_id("workflow-completed", job, hook)


def test_safe_url_drops_credentials_query_and_fragment() -> None:
    assert safe_url("https://user:pw@hooks.example.com:8443/in?token=t#x") == "https://hooks.example.com:8443/in"
