"""Everything a process needs, built once at start-up from the settings; and who a request comes from."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from shared.config.keys import KeyMaterial, load_keys
from shared.config.settings import Settings, load_settings
from shared.crypto.fields import BlindIndex, FieldCipher
from shared.db.engine import make_engine
from shared.storage import open_store
from shared.storage.base import ObjectStore


@dataclass
class AppContext:
    """Infrastructure only: settings, keys, the database, field crypto, the object store."""

    settings: Settings
    keys: KeyMaterial
    engine: Engine
    cipher: FieldCipher
    blind_index: BlindIndex
    store: ObjectStore

    def close(self) -> None:
        self.engine.dispose()


@dataclass(frozen=True)
class Actor:
    """A member of staff acting, as the audit log records them: who, and from which address.

    Services that change something take one, so the audit event they write
    names the person; the portal builds it from the signed-in user and the
    request, the operator's commands from the account they act for.
    """

    user_id: str
    remote_addr: str | None = None


def build_context(settings: Settings | None = None, engine: Engine | None = None) -> AppContext:
    settings = settings or load_settings()
    keys = load_keys(settings)
    return AppContext(
        settings=settings,
        keys=keys,
        engine=engine or make_engine(settings.database_url),
        cipher=FieldCipher(keys.encryption),
        blind_index=BlindIndex(keys.blind_index),
        store=open_store(settings, keys.url_signing),
    )
