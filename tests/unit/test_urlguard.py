"""The SSRF guard: which URLs from feed content may be fetched."""

from __future__ import annotations

import ipaddress

import pytest

from digest.errors import DigestError
from digest.urlguard import BlockedURLError, UnresolvableHostError, check_url, is_public_address

NON_PUBLIC = [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
    "169.254.0.1", "100.64.0.1", "100.127.255.254", "0.0.0.0", "224.0.0.1", "239.1.1.1",
    "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "fec0::1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
]  # fmt: skip
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_non_public_addresses(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


class FixedResolver:
    """A resolver over a fixed table that records its calls."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.table:
            raise OSError("no such host")
        return self.table[host]


async def test_public_name_passes() -> None:
    resolver = FixedResolver({"news.example.com": ["93.184.216.34", "2606:2800:220:1::1"]})
    await check_url("https://news.example.com:8443/a?b=c", allow_private=False, resolver=resolver)
    assert resolver.calls == [("news.example.com", 8443)]


@pytest.mark.parametrize("address", ["127.0.0.1", "169.254.169.254", "10.0.0.7", "::1"])
async def test_name_resolving_to_private_is_blocked(address: str) -> None:
    resolver = FixedResolver({"evil.example.com": [address]})
    with pytest.raises(BlockedURLError, match="non-public"):
        await check_url("http://evil.example.com/", allow_private=False, resolver=resolver)


async def test_one_private_address_among_public_ones_blocks() -> None:
    resolver = FixedResolver({"mixed.example.com": ["93.184.216.34", "192.168.0.10"]})
    with pytest.raises(BlockedURLError):
        await check_url("http://mixed.example.com/", allow_private=False, resolver=resolver)


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]:8080/",
     "http://127.0.0.1/", "http://[fe80::1]/", "http://100.64.1.1/"],
)  # fmt: skip
async def test_ip_literals_are_checked_without_dns(url: str) -> None:
    resolver = FixedResolver({})
    with pytest.raises(BlockedURLError):
        await check_url(url, allow_private=False, resolver=resolver)
    assert resolver.calls == []


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.com/", "gopher://example.com/", "javascript:alert(1)",
     "http://user:secret@example.com/", "http://@example.com/", "http:///nohost", "http://x:99999/"],
)  # fmt: skip
@pytest.mark.parametrize("allow_private", [False, True])
async def test_unsafe_forms_are_blocked_even_when_private_is_allowed(
    url: str, allow_private: bool
) -> None:
    with pytest.raises(BlockedURLError):
        await check_url(url, allow_private=allow_private, resolver=FixedResolver({}))


async def test_allow_private_skips_address_checks() -> None:
    resolver = FixedResolver({})
    await check_url("http://10.0.0.1/", allow_private=True, resolver=resolver)
    await check_url("http://intranet/", allow_private=True, resolver=resolver)
    assert resolver.calls == []


async def test_unresolvable_host() -> None:
    with pytest.raises(UnresolvableHostError) as info:
        await check_url("http://nowhere.invalid/", allow_private=False, resolver=FixedResolver({}))
    assert isinstance(info.value, DigestError)


async def test_default_resolver_blocks_localhost() -> None:
    """The real event-loop getaddrinfo path; localhost resolves from /etc/hosts, no network."""
    with pytest.raises(BlockedURLError):
        await check_url("http://localhost:8080/admin", allow_private=False)
