"""The one rule every platform's `is_transient` delegates to: which failed actions may pass
when decided again from live state."""

from __future__ import annotations

from platforge.provider._kit.client import (
    BadRequest,
    DnsError,
    RateLimited,
    ServerError,
    TlsError,
    TransportError,
    worth_deciding_again,
)


def test_tls_and_dns_failures_fail_the_same_way_again():
    assert not worth_deciding_again(TlsError("certificate verify failed"))
    assert not worth_deciding_again(DnsError("no such host"))


def test_throttles_and_lost_connections_may_pass():
    assert worth_deciding_again(RateLimited("slow down", status=429))
    assert worth_deciding_again(TransportError("connection reset"))


def test_server_errors_pass_only_in_the_statuses_a_platform_names():
    assert worth_deciding_again(ServerError("bad gateway", status=502))
    assert worth_deciding_again(ServerError("bug", status=500))  # no statuses named: every 5xx
    assert worth_deciding_again(ServerError("bad gateway", status=502), {502, 503, 504})
    assert not worth_deciding_again(ServerError("validation", status=500), {502, 503, 504})


def test_refusals_are_permanent():
    assert not worth_deciding_again(BadRequest("invalid", status=400))
    assert not worth_deciding_again(ValueError("a bug"))
