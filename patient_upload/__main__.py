"""`python -m patient_upload`: the patient upload service on MIA_UPLOAD_HOST:MIA_UPLOAD_PORT."""

from __future__ import annotations

import sys

from aiohttp import web

from patient_upload.app import create_app
from patient_upload.assets import MissingAssets
from shared.config.settings import ConfigError, load_settings
from shared.context import build_context
from shared.db.migrations import is_up_to_date
from shared.logging.json_lines import configure_logging, get_logger

log = get_logger("mia.upload")


def main() -> int:
    try:
        settings = load_settings()
        configure_logging(settings.log_level, service="upload", cookie_names=[settings.portal_cookie_name])
        ctx = build_context(settings)
        if not is_up_to_date(ctx.engine):
            raise ConfigError("the database schema is not up to date; run: python manage.py migrate")
        app = create_app(ctx)
    except (ConfigError, MissingAssets) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    app.on_cleanup.append(lambda _app: _close(ctx))
    log.info("upload service starting", extra={"host": settings.upload_host, "port": settings.upload_port})
    web.run_app(app, host=settings.upload_host, port=settings.upload_port, access_log=None, print=None)
    return 0


async def _close(ctx) -> None:  # type: ignore[no-untyped-def]
    ctx.close()


if __name__ == "__main__":
    sys.exit(main())
