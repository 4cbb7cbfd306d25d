"""Everything a process needs, built once at start-up from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from shared.config.keys import KeyMaterial, load_keys
from shared.config.settings import Settings, load_settings
from shared.crypto.fields import BlindIndex, FieldCipher
from shared.db.engine import make_engine
from shared.notifications.outbox import Notifier
from shared.storage import open_store
from shared.storage.base import ObjectStore


@dataclass
class AppContext:
    settings: Settings
    keys: KeyMaterial
    engine: Engine
    cipher: FieldCipher
    blind_index: BlindIndex
    store: ObjectStore
    notifier: Notifier

    def close(self) -> None:
        self.engine.dispose()


def build_context(settings: Settings | None = None, engine: Engine | None = None) -> AppContext:
    settings = settings or load_settings()
    keys = load_keys(settings)
    cipher = FieldCipher(keys.encryption)
    return AppContext(
        settings=settings,
        keys=keys,
        engine=engine or make_engine(settings.database_url),
        cipher=cipher,
        blind_index=BlindIndex(keys.blind_index),
        store=open_store(settings, keys.url_signing),
        notifier=Notifier(cipher),
    )
