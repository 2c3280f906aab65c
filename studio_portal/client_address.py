"""Who is asking: the client's address as the request limits count it.

Behind a TLS terminator or load balancer every request arrives from the proxy's own address;
the client's is in ``X-Forwarded-For``, which anyone can also send. So the header is believed
only hop by hop from the right, and only while the hop that added an entry is one of
``CRADLE_TRUSTED_PROXIES`` (addresses or networks). The first address a trusted hop vouches for
that is not itself a proxy is the client. With no trusted proxies configured the header is
ignored and the connecting address is the client.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# One household or phone gets a whole IPv6 /64: limits count the /64, or a guesser could
# change address on every try.
IPV6_SUBJECT_PREFIX = 64


@lru_cache(maxsize=8)
def _trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"CRADLE_TRUSTED_PROXIES holds something that is not an address or network: {exc}"
        ) from exc


def _parse(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.9:51234"
        text = text.split(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def client_ip(request: HttpRequest) -> str:
    """The client's address, "unknown" when the connection gives none."""
    remote = _parse(request.META.get("REMOTE_ADDR", ""))
    if remote is None:
        return "unknown"
    networks = _trusted_networks(tuple(settings.CRADLE_TRUSTED_PROXIES))
    if not networks or not _trusted(remote, networks):
        return str(remote)
    client = remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for entry in reversed([part for part in forwarded.split(",") if part.strip()]):
        hop = _parse(entry)
        if hop is None:
            break  # a trusted proxy passed on something unreadable: go no further back
        client = hop
        if not _trusted(hop, networks):
            break
    return str(client)


def client_subject(request: HttpRequest) -> str:
    """What a per-address limit counts: the IPv4 address, or the client's IPv6 /64."""
    address = client_ip(request)
    parsed = _parse(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_SUBJECT_PREFIX}", strict=False))
    return address
