"""The portal behind the load balancer: the audit log records the address the balancer forwarded.

With MIA_TRUST_PROXY_HEADERS=true (terraform/ sets it), the portal's TCP peer
is the balancer; the client is the last X-Forwarded-For hop. Chromium sends
the header on every request, the websocket Streamlit runs the app over too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from shared import audit
from shared.config.settings import load_settings
from shared.context import build_context
from shared.db.migrations import migrate
from tests.support.portal_browser import WAIT_MS, enter_code, enter_password
from tests.support.portal_server import PortalServer
from tests.support.staff import make_staff

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FORWARDED_FOR = "203.0.113.9, 198.51.100.7"  # what the client claimed, then the hop the balancer appended


# Direct: the forged header is ignored; Streamlit reports no address for a browser on localhost.
@pytest.fixture(params=[("true", "198.51.100.7"), ("false", None)], ids=["behind-balancer", "direct"])
def trust_and_expected(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    return request.param


@pytest.fixture
def environment(tmp_path: Path, trust_and_expected: tuple[str, str | None]) -> Iterator[dict[str, str]]:
    yield {"MIA_DATA_DIR": str(tmp_path), "MIA_TRUST_PROXY_HEADERS": trust_and_expected[0], "MIA_LOG_LEVEL": "WARNING"}


def test_sign_in_is_audited_with_the_address_the_balancer_saw(
    environment: dict[str, str], trust_and_expected: tuple[str, str | None], browser: Browser
) -> None:
    """Behind the balancer its hop is the client; without it the header is anyone's word and ignored."""
    ctx = build_context(load_settings(environment))
    migrate(ctx.engine)
    clinician = make_staff(ctx, "drproxy", display_name="Dr Proxy")
    server = PortalServer.start(environment, ctx.settings.data_dir / "portal.log")
    context = browser.new_context(extra_http_headers={"X-Forwarded-For": FORWARDED_FOR})
    try:
        page = context.new_page()
        page.goto(server.url)
        enter_password(page, clinician)
        enter_code(page, clinician.code())
        expect(page.get_by_role("heading", name="Encounters")).to_be_visible(timeout=WAIT_MS)
        with ctx.engine.connect() as conn:
            signed_in = audit.search(conn, actor_id=clinician.user_id, action="auth.signed_in")
        assert [event["remote_addr"] for event in signed_in] == [trust_and_expected[1]]
    finally:
        context.close()
        server.stop()
        ctx.close()
