"""The guard against server-side request forgery: where an endpoint may point.

Checked when an endpoint is created and again before every delivery (its DNS can change to
a private address after it was accepted).
"""

import ipaddress
import socket
from urllib.parse import urlsplit

# Cloud metadata services that are not in a private or link-local range.
_METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


class UnsafeUrl(ValueError):
    """Raised when a URL is not http(s) or points at a loopback, private, link-local or
    metadata address."""


def check_scheme(url: str) -> str:
    """The URL's host; UnsafeUrl unless it is an http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("must be an http or https URL with a host")
    if parts.username or parts.password:
        raise UnsafeUrl("must not carry credentials")
    try:
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError:
        raise UnsafeUrl("its port is not valid") from None
    return parts.hostname


def check_url(url: str, allow_private: bool) -> None:
    """UnsafeUrl unless ``url`` is http(s) and (unless allowed) resolves to public addresses
    only."""
    host = check_scheme(url)
    if allow_private:
        return
    if host.lower().rstrip(".") in _METADATA_HOSTS:
        raise UnsafeUrl("points at a metadata service")
    for address in _addresses(host, urlsplit(url).port):
        if not _is_public(address):
            raise UnsafeUrl("points at a loopback, private, link-local or reserved address")


def _addresses(host: str, port: int | None) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return {ipaddress.ip_address(host)}
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise UnsafeUrl("its host does not resolve") from None
    return {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast
