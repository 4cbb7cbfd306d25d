"""The address a request came from, as the audit log records it (upload service and portal alike).

Behind our load balancer (MIA_TRUST_PROXY_HEADERS=true) the TCP peer is the
balancer itself; the client is the last X-Forwarded-For entry, the one the
balancer appended (earlier entries are whatever the client claimed). Without
the setting the header is ignored, because anyone can write it.
"""

from __future__ import annotations

import ipaddress


def client_address(peer: str | None, forwarded_for: str | None, *, trust_proxy: bool) -> str | None:
    """A valid IP address, or None when there is none to record."""
    if trust_proxy:
        hops = [part.strip() for part in (forwarded_for or "").split(",") if part.strip()]
        if hops:
            return _ip(hops[-1])
    return _ip(peer)


def _ip(text: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((text or "").strip()))
    except ValueError:
        return None
