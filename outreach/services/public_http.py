"""HTTP requests on behalf of users (calendar feeds) that reach public addresses only.

Staff type a feed's address; without a check they could make the server fetch
its own admin ports, the cloud's metadata service or anything on the private
network. Every connection (the first and each redirect's) resolves the host
name itself and connects only when every address it resolves to is public:
no loopback, private, link-local (cloud metadata), shared, multicast,
reserved or unspecified address. The connection then goes to the address that
was checked, so a name that resolves differently a moment later (DNS
rebinding) changes nothing.

Hosts named in `allowed_private_hosts` (the FEED_ALLOWED_PRIVATE_HOSTS setting,
e.g. an on-premises calendar server) are exempt, by the name written in the URL.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError
from urllib3.util.connection import create_connection


class NotPublicAddress(NewConnectionError):
    """The host resolves to an address inside a network, which the server does not fetch from."""

    def __init__(self, conn, why: str) -> None:
        super().__init__(conn, why)
        self.why = why


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 address may carry its interface
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local
                                 or ip.is_private or ip.is_unspecified)


def public_addresses(host: str, port: int) -> list[tuple]:
    """getaddrinfo's answers for `host`, all of them public; raises ValueError naming a private one."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in found:
        if not is_public_address(sockaddr[0]):
            where = host if host == sockaddr[0] else f"{host} ({sockaddr[0]})"
            raise ValueError(f"{where} is an address inside a network, not a public one")
    return found


def _normalised(hosts: Collection[str]) -> frozenset[str]:
    return frozenset(host.strip().lower().strip("[]") for host in hosts if host.strip())


class _PublicOnly:
    """Mixed into urllib3's connections: connect only to checked public addresses."""

    allowed_private_hosts: frozenset[str] = frozenset()

    def _new_conn(self) -> socket.socket:
        if self.host.lower().strip("[]") in self.allowed_private_hosts:
            return super()._new_conn()
        try:
            addresses = public_addresses(self._dns_host, self.port)
        except ValueError as exc:
            raise NotPublicAddress(self, str(exc)) from None
        except socket.gaierror as exc:
            raise NewConnectionError(self, f"{self.host} could not be found ({exc})") from exc
        last_error: OSError | None = None
        for *_, sockaddr in addresses:
            try:
                return create_connection(sockaddr[:2], self.timeout, source_address=self.source_address,
                                         socket_options=self.socket_options)
            except OSError as exc:
                last_error = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {last_error}")


def public_session(allowed_private_hosts: Collection[str] = ()) -> requests.Session:
    """A requests session whose every connection goes to a public address (or an allowed host)."""
    allowed = _normalised(allowed_private_hosts)
    connection_classes = {
        scheme: type(f"Public{base.__name__}", (_PublicOnly, base), {"allowed_private_hosts": allowed})
        for scheme, base in (("http", HTTPConnection), ("https", HTTPSConnection))
    }
    pool_classes = {
        scheme: type(f"Public{pool.__name__}", (pool,), {"ConnectionCls": connection_classes[scheme]})
        for scheme, pool in (("http", HTTPConnectionPool), ("https", HTTPSConnectionPool))
    }
    session = requests.Session()
    session.trust_env = False  # a proxy from the environment would connect for us, unchecked
    for scheme in ("http", "https"):
        adapter = HTTPAdapter()
        adapter.poolmanager.pool_classes_by_scheme = pool_classes
        session.mount(f"{scheme}://", adapter)
    return session


def refusal(exc: requests.RequestException) -> str | None:
    """Why the request was refused, when `exc` is a refused private address; None for any other failure."""
    cause = getattr(exc.args[0], "reason", None) if exc.args else None
    return cause.why if isinstance(cause, NotPublicAddress) else None
