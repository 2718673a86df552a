"""Client address and scheme: forwarding headers count only from trusted proxies."""

from hypothesis import given, settings
from hypothesis import strategies as st

from erp_professional.web import TrustedProxies
from erp_professional.web._headers import AsgiRequestHeaders


def headers(**values: str) -> AsgiRequestHeaders:
    return AsgiRequestHeaders(
        [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in values.items()]
    )


def test_untrusted_peer_forwarding_headers_are_ignored() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    assert proxies.client("203.0.113.9", headers(x_forwarded_for="1.2.3.4")) == "203.0.113.9"
    assert proxies.scheme("203.0.113.9", headers(x_forwarded_proto="https"), "http") == "http"


def test_no_trusted_proxies_means_the_peer() -> None:
    assert TrustedProxies().client("10.0.0.1", headers(x_forwarded_for="1.2.3.4")) == "10.0.0.1"


def test_rightmost_untrusted_hop_is_the_client() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    forwarded = headers(x_forwarded_for="6.6.6.6, 1.2.3.4, 10.0.0.7")
    # 6.6.6.6 could be forged by the client; 1.2.3.4 is what our proxy saw.
    assert proxies.client("10.0.0.1", forwarded) == "1.2.3.4"


def test_rfc7239_forwarded_header_with_ipv6_and_ports() -> None:
    proxies = TrustedProxies(["127.0.0.1/32"])
    value = 'for="[2001:db8::1]:4711";proto=https, for=127.0.0.1'
    h = headers(forwarded=value)
    assert proxies.client("127.0.0.1", h) == "2001:db8::1"
    assert proxies.scheme("127.0.0.1", h, "http") == "https"


def test_forwarded_proto_from_trusted_proxy() -> None:
    proxies = TrustedProxies(["127.0.0.1"])
    assert proxies.scheme("127.0.0.1", headers(x_forwarded_proto="HTTPS"), "http") == "https"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.text(max_size=200))
def test_garbage_forwarding_headers_never_raise(xff: str, fwd: str) -> None:
    proxies = TrustedProxies(["0.0.0.0/0", "::/0"])
    raw = [
        (b"x-forwarded-for", xff.encode("utf-8", "replace")),
        (b"forwarded", fwd.encode("utf-8", "replace")),
    ]
    client = proxies.client("127.0.0.1", AsgiRequestHeaders(raw))
    assert client is None or isinstance(client, str)
    assert isinstance(proxies.scheme("127.0.0.1", AsgiRequestHeaders(raw), "http"), str)
