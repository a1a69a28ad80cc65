"""Outbound HTTP to hosts that users name (webhook steps, providers at a configured address).

A user who can name a URL could otherwise make Herald's servers call what only they can reach:
the cloud's metadata service, a database's admin port, the machine itself. So every such request
goes through `outbound_client()`:

- Only http and https URLs, and no proxy from the environment.
- Every address a host name resolves to is checked when the connection is made, not only when
  the URL was saved: DNS can change in between (a rebinding attack answers a public address to the
  check and a private one to the connection). The connection goes to the address that was checked,
  and TLS still verifies the certificate against the host name. An address that is not public
  (loopback, private, link-local such as 169.254.169.254, shared, multicast, reserved, IPv4 inside
  IPv6 included) refuses the request: `DestinationRefused`.
- Redirects are not followed (a public URL could send the request on to a private one).
- A timeout on every request.

Tests that run a receiver on loopback allow its network explicitly: `allow_networks()` in the
test process, or HERALD_OUTBOUND_ALLOW (CIDRs, comma-separated) for worker processes, which is
honoured only when HERALD_ENV=test.

Webhook deliveries are signed: `Herald-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<body>" with the organization's signing secret>` (docs/flows.md shows how to verify).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from herald.settings import ConfigurationError, get_settings

DEFAULT_TIMEOUT = 10.0
SIGNATURE_HEADER = "Herald-Signature"
# How old a signed delivery may be when its receiver checks it (the receiver's choice; this is
# what `verify_signature` uses and what the docs recommend).
SIGNATURE_TOLERANCE = 300

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class DestinationRefused(Exception):
    """The URL may not be called; the message says why, in words a user can act on."""


_allowed_lock = threading.Lock()
_allowed_in_process: list[Network] = []


@contextmanager
def allow_networks(*cidrs: str) -> Iterator[None]:
    """Let this process reach these networks despite the rules (tests' loopback receivers)."""
    networks = [ipaddress.ip_network(cidr) for cidr in cidrs]
    with _allowed_lock:
        _allowed_in_process.extend(networks)
    try:
        yield
    finally:
        with _allowed_lock:
            for network in networks:
                _allowed_in_process.remove(network)


def _allowed_networks() -> list[Network]:
    settings = get_settings()
    configured: list[Network] = []
    if settings.outbound_allow.strip():
        if settings.env != "test":
            raise ConfigurationError("HERALD_OUTBOUND_ALLOW is for tests only (HERALD_ENV=test)")
        configured = [
            ipaddress.ip_network(cidr.strip())
            for cidr in settings.outbound_allow.split(",")
            if cidr.strip()
        ]
    with _allowed_lock:
        return [*_allowed_in_process, *configured]


def refusal(address: Address) -> str | None:
    """Why Herald will not connect to this address, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in _allowed_networks()):
        return None
    if address.is_loopback:
        return "it is a loopback address"
    if address.is_unspecified:
        return "it is the unspecified address (this machine)"
    if address.is_multicast:
        return "it is a multicast address"
    if address.is_link_local:
        return "it is a link-local address (cloud metadata services live there)"
    if address.is_private:
        return "it is a private network address"
    if not address.is_global:
        return "it is not a public internet address"
    return None


def resolve(host: str, port: int) -> list[Address]:
    """Every address the host resolves to (a literal address is its own)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DestinationRefused(f"the host {host!r} could not be resolved ({exc})") from None
    addresses: list[Address] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # IPv6 socket addresses may carry a zone ("fe80::1%eth0"); the address is before it.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def checked_addresses(host: str, port: int) -> list[Address]:
    """The host's addresses, or DestinationRefused when any of them may not be reached."""
    addresses = resolve(host, port)
    if not addresses:
        raise DestinationRefused(f"the host {host!r} has no address")
    for address in addresses:
        reason = refusal(address)
        if reason is not None:
            raise DestinationRefused(f"{host} resolves to {address}: {reason}")
    return addresses


def check_url(url: str) -> None:
    """Refuse, with DestinationRefused, a URL that outbound requests would refuse now: not
    http(s), no host, or a host that resolves to an address that is not public. Used when a URL
    is saved; the connection checks again."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise DestinationRefused("only http:// and https:// URLs can be called")
    if not parts.hostname:
        raise DestinationRefused("the URL names no host")
    if parts.username or parts.password:
        raise DestinationRefused("credentials in the URL are not sent; use a header")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DestinationRefused("the URL's port is not a number from 1 to 65535") from None
    checked_addresses(parts.hostname, port)


class _CheckedBackend(httpcore.SyncBackend):
    """Connects only to addresses that pass `refusal`, at the moment of connecting."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = checked_addresses(host, port)
        except DestinationRefused as exc:
            # Raised from inside httpx, it would become a generic connection error.
            raise _Refused(str(exc)) from None
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


class _Refused(httpcore.ConnectError):
    """A refusal carried through httpx's exception mapping (which maps it to ConnectError)."""


class _CheckedTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__(trust_env=False)
        # httpx offers no way to choose how its pool connects: the same pool, with the backend
        # that checks each address.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=_CheckedBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):
            raise DestinationRefused("only http:// and https:// URLs can be called")
        try:
            return super().handle_request(request)
        except httpx.ConnectError as exc:
            cause: BaseException | None = exc
            while cause is not None and not isinstance(cause, _Refused):
                cause = cause.__cause__ or cause.__context__
            if isinstance(cause, _Refused):
                raise DestinationRefused(str(cause)) from None
            raise


def outbound_client(timeout: float = DEFAULT_TIMEOUT) -> httpx.Client:
    """An httpx client for user-named hosts: checked addresses, no redirects, no environment
    proxies, `timeout` seconds for each phase of a request."""
    return httpx.Client(
        transport=_CheckedTransport(),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(timeout),
    )


# --- Signatures ----------------------------------------------------------------------------------


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The `Herald-Signature` header value for a delivery of `body`."""
    when = int(time.time()) if timestamp is None else timestamp
    return f"t={when},v1={_digest(secret, when, body)}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance: int = SIGNATURE_TOLERANCE,
    now: float | None = None,
) -> bool:
    """What a receiver does: the header's timestamp is recent and one of its v1 signatures is
    the HMAC of "<timestamp>.<body>" (several v1 values are accepted, for secret rotation)."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = _digest(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))
