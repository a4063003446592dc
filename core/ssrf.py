"""Outbound HTTP to user-configured URLs without Server-Side Request Forgery.

A URL a staff member or partner typed (a channel's webhook endpoint) must not
reach our own network: loopback, private ranges, link-local (cloud metadata at
169.254.169.254), CGNAT, unspecified, multicast/reserved, and IPv6 forms that
wrap them (IPv4-mapped, 6to4, NAT64...). It is checked twice:

* when the URL is saved (`url_validate_public`, a Django validator), and
* when we connect (`public_post`): the host is resolved once, every address is
  checked, and the request goes to that *checked* address (Host header and TLS
  SNI keep the name), so a DNS answer that changes in between (DNS rebinding)
  cannot redirect us. Redirects are never followed.

A destination listed in OUTBOUND_ALLOW_HOSTS (`host:port`, or a bare `host` for any
port) may be loopback or private: the local LSP sandbox under `make run`, an LSP in the
operator's own network. Nothing else is, whatever DEBUG says; link-local (cloud
metadata), unspecified and multicast addresses are refused even when listed.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError

_CGNAT = ipaddress.ip_network("100.64.0.0/10")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeDestination(httpx.HTTPError):
    """The URL is, or resolves to, an address we refuse to connect to."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def allow_entry(entry: str) -> tuple[str, int | None]:
    """(host, port or None for any port) of one OUTBOUND_ALLOW_HOSTS entry; ValueError if malformed.

    `127.0.0.1:8700`, `lsp.internal`, `[::1]:8700` and `http://127.0.0.1:8700/` all parse.
    """
    text = entry.strip()
    try:
        parts = urlsplit(text if "://" in text else f"//{text}")
        port = parts.port
    except ValueError:
        port = -1
    if port == -1 or not parts.hostname or parts.path not in ("", "/") or parts.username:
        raise ValueError(f"{entry!r} is not host:port")
    return parts.hostname.lower().rstrip("."), port


def listed_destination(host: str, port: int) -> bool:
    """Whether OUTBOUND_ALLOW_HOSTS names this host (and port)."""
    host = host.lower().rstrip(".")
    for entry in getattr(settings, "OUTBOUND_ALLOW_HOSTS", ()):
        try:
            listed_host, listed_port = allow_entry(entry)
        except ValueError:
            continue  # core.checks reports it; a bad entry allows nothing
        if listed_host == host and listed_port in (None, port):
            return True
    return False


def address_refusal(ip: IPAddress, *, allow_internal: bool = False) -> str | None:
    """Why `ip` is refused as an outbound destination, or None if it may be used.

    `allow_internal` (a destination listed in OUTBOUND_ALLOW_HOSTS) lets loopback and
    private addresses through, never link-local, unspecified or multicast ones.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            reason = address_refusal(embedded, allow_internal=allow_internal)
            return f"{reason} (inside {ip})" if reason else None
        if ip in ipaddress.ip_network("64:ff9b::/96"):  # NAT64 of an IPv4 address
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
            reason = address_refusal(inner, allow_internal=allow_internal)
            return f"{reason} (inside {ip})" if reason else None
    if ip.is_loopback:
        return None if allow_internal else f"{ip} is a loopback address"
    if ip.is_unspecified:
        return f"{ip} is the unspecified address"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return f"{ip} is a carrier-grade NAT (shared) address"
    if ip.is_private:
        return None if allow_internal else f"{ip} is a private address"
    if ip.is_multicast or ip.is_reserved or not ip.is_global:
        return f"{ip} is not a public address"
    return None


def _split(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeDestination("Only http and https URLs are allowed.")
    if not parts.hostname:
        raise UnsafeDestination("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeDestination("URLs with credentials are not allowed.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeDestination("The URL has an invalid port.") from None
    return parts.scheme, parts.hostname, port


def resolve_public(url: str) -> list[IPAddress]:
    """The checked addresses `url`'s host resolves to; raises UnsafeDestination if any is refused.

    Every address must pass, not just one: otherwise a host with one public and one
    private record could be steered to the private one.
    """
    _scheme, host, port = _split(url)
    allow = listed_destination(host, port)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeDestination(f"The host {host!r} does not resolve: {exc}") from None
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        reason = address_refusal(ip, allow_internal=allow)
        if reason:
            raise UnsafeDestination(f"Refused destination {host!r}: {reason}.")
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise UnsafeDestination(f"The host {host!r} has no address.")
    return addresses


def url_validate_public(url: str) -> None:
    """Django validator: the URL must be http(s) and resolve only to public addresses."""
    if not url:
        return
    try:
        resolve_public(url)
    except UnsafeDestination as exc:
        raise ValidationError(str(exc), code="unsafe_url") from None


def public_post(
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    timeout: float,
) -> httpx.Response:
    """POST to `url` at an address checked at connect time; redirects are not followed.

    Raises UnsafeDestination (an httpx.HTTPError) for a refused destination, and
    httpx's own errors for network failures.
    """
    scheme, host, port = _split(url)
    ip = resolve_public(url)[0]
    parts = urlsplit(url)
    ip_host = f"[{ip}]" if ip.version == 6 else str(ip)
    pinned = parts._replace(netloc=f"{ip_host}:{port}").geturl()
    default_port = 443 if scheme == "https" else 80
    request_headers = {**headers, "Host": host if port == default_port else f"{host}:{port}"}
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        return client.post(
            pinned,
            content=content,
            headers=request_headers,
            # TLS: SNI and certificate verification against the name, not the IP.
            extensions={"sni_hostname": host} if scheme == "https" else None,
        )


def public_request(
    method: str,
    url: str,
    *,
    params: dict[str, str] | None = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float,
) -> httpx.Response:
    """Any method to `url` at an address checked at connect time, like `public_post`
    (channel APIs read and update: GET, PUT, POST). Redirects are not followed.

    Raises UnsafeDestination (an httpx.HTTPError) for a refused destination, and
    httpx's own errors for network failures.
    """
    scheme, host, port = _split(url)
    ip = resolve_public(url)[0]
    parts = urlsplit(url)
    ip_host = f"[{ip}]" if ip.version == 6 else str(ip)
    pinned = parts._replace(netloc=f"{ip_host}:{port}").geturl()
    default_port = 443 if scheme == "https" else 80
    request_headers = {
        **(headers or {}),
        "Host": host if port == default_port else f"{host}:{port}",
    }
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        return client.request(
            method,
            pinned,
            params=params,
            content=content,
            headers=request_headers,
            auth=auth,
            extensions={"sni_hostname": host} if scheme == "https" else None,
        )
