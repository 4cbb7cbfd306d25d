"""The portal process's context, built once per configuration and shared by every session."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from shared.client_address import client_address
from shared.clock import utcnow
from shared.config.settings import ConfigError, Settings, load_settings
from shared.context import Actor, AppContext, build_context
from shared.db.migrations import is_up_to_date
from shared.logging.json_lines import configure_logging
from shared.staff.authentication import StaffUser


class PortalUnavailable(RuntimeError):
    """The portal cannot start (message is one line for the operator)."""


@st.cache_resource(show_spinner=False)
def _context_for(_settings: Settings, fingerprint: str) -> AppContext:
    """One context per distinct configuration (the fingerprint is the cache key)."""
    configure_logging(_settings.log_level, service="portal", cookie_names=[_settings.portal_cookie_name])
    ctx = build_context(_settings)
    if not is_up_to_date(ctx.engine):
        ctx.close()
        raise PortalUnavailable("the database schema is not up to date; run: python manage.py migrate")
    return ctx


def portal_context() -> AppContext:
    """The AppContext for this process; stops the page with one line when configuration is wrong."""
    try:
        settings = load_settings()
        return _context_for(settings, repr(settings))
    except (ConfigError, PortalUnavailable) as exc:
        st.error(f"The portal cannot start: {exc}")
        st.stop()
        raise  # st.stop() raises; this keeps type checkers right


def remote_addr() -> str | None:
    """The client's address for the audit log: behind the load balancer, the address it forwarded."""
    peer = getattr(st.context, "ip_address", None)
    headers = getattr(st.context, "headers", None) or {}
    return client_address(
        peer if isinstance(peer, str) else None,
        headers.get("X-Forwarded-For"),
        trust_proxy=portal_context().settings.trust_proxy_headers,
    )


def actor(user: StaffUser) -> Actor:
    """The signed-in person as the audit log records them: their id and this request's address."""
    return Actor(user.id, remote_addr())


def now() -> dt.datetime:
    return utcnow()
