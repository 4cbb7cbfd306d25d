"""Refused page openings: the portal decides which pages a role may open, this records each refusal.

A refusal is an audit event (`page.refused`) naming the person, the page and
their role, so an administrator can see someone trying pages beyond their
role, whether by an old link or by typing an address.
"""

from __future__ import annotations

from shared import audit
from shared.context import Actor, AppContext


def record_page_refused(ctx: AppContext, actor: Actor, *, page: str, role: str) -> None:
    with ctx.engine.begin() as conn:
        audit.record(
            conn,
            "page.refused",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            remote_addr=actor.remote_addr,
            detail={"page": page, "role": role},
        )
