"""DPoP values on the wire (RFC 9449): the `htu` of a request and the `ath` of a token."""

from __future__ import annotations

import pytest
from discretion_wire import access_token_hash, normalize_htu, request_htu, same_htu


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("https://H.Test", "https://h.test/"),
        ("HTTP://h.test:80/a?b#c", "http://h.test/a"),
        ("https://h.test:8443/a", "https://h.test:8443/a"),
        ("https://h.test/a/%7e%2fb", "https://h.test/a/~%2Fb"),
        ("https://h.test/a/b/../../../c/./d", "https://h.test/c/d"),
        ("https://[::1]:8080/a", "https://[::1]:8080/a"),
    ],
)
def test_htu_normalization(url: str, normal: str) -> None:
    assert normalize_htu(url) == normal


@pytest.mark.parametrize(
    "url", ["ftp://h.test/a", "/a", "https:///a", "https://h.test:99999/a", "https://user:pw@h.test/a"]
)
def test_htu_normalization_refuses_what_is_not_an_http_url(url: str) -> None:
    with pytest.raises(ValueError, match=r"http|host|[Pp]ort|userinfo"):
        normalize_htu(url)


# Where the broker's and the SDK's normalizations used to differ: the broker lowercased the scheme
# and authority only, the SDK normalized as RFC 3986 section 6.2 says but ignored userinfo.
@pytest.mark.parametrize(
    ("htu", "url", "same"),
    [
        ("https://broker.test:443/oauth2/token", "https://broker.test/oauth2/token", True),
        ("http://broker.test:80/t", "http://broker.test/t", True),
        ("https://broker.test/oauth2/%74oken", "https://broker.test/oauth2/token", True),
        ("https://broker.test/a%2fb", "https://broker.test/a%2Fb", True),
        ("https://broker.test/x/../oauth2/./token", "https://broker.test/oauth2/token", True),
        ("https://user@broker.test/oauth2/token", "https://broker.test/oauth2/token", False),
        ("https://attacker.test@broker.test/t", "https://attacker.test@broker.test/t", False),
        ("ftp://broker.test/t", "ftp://broker.test/t", False),
        # Both agree here, and still do.
        ("HTTPS://Broker.Test/t?x=1#f", "https://broker.test/t", True),
        ("https://broker.test", "https://broker.test/", True),
        ("https://broker.test/T", "https://broker.test/t", False),
        ("https://broker.test:8443/t", "https://broker.test/t", False),
        ("http://broker.test/t", "https://broker.test/t", False),
        ("https://broker.test/a%2Fb", "https://broker.test/a/b", False),
    ],
)
def test_htu_matches_after_rfc_3986_normalization_only(htu: str, url: str, same: bool) -> None:
    assert same_htu(htu, url) is same
    assert same_htu(url, htu) is same


@pytest.mark.parametrize(
    ("url", "htu"),
    [
        ("https://broker.test/oauth2/token?x=1#f", "https://broker.test/oauth2/token"),
        # A password must never travel inside a signed proof.
        ("https://agent:secret@broker.test/t", "https://broker.test/t"),
        ("HTTPS://Broker.test:8443/a/b", "https://Broker.test:8443/a/b"),
    ],
)
def test_a_client_htu_has_no_query_fragment_or_userinfo(url: str, htu: str) -> None:
    assert request_htu(url) == htu
    assert same_htu(request_htu(url), htu)


@pytest.mark.parametrize("url", ["/oauth2/token", "ftp://broker.test/t", "https://", "broker.test/t"])
def test_a_client_htu_must_be_an_absolute_http_url(url: str) -> None:
    with pytest.raises(ValueError, match="absolute"):
        request_htu(url)


def test_ath_matches_rfc_9449_section_7_1() -> None:
    token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
    assert access_token_hash(token) == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"


def test_ath_of_a_token_that_is_not_ascii_is_refused() -> None:
    with pytest.raises(UnicodeEncodeError):
        access_token_hash("t\u00f6ken")
