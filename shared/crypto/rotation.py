"""Re-encrypt every encrypted field under the current key (`manage.py rotate-keys`)."""

from __future__ import annotations

from sqlalchemy import Engine, select, update

from shared.crypto.fields import FieldCipher
from shared.db.tables import encrypted_columns, metadata

BATCH = 500


def reencrypt_all(engine: Engine, cipher: FieldCipher) -> dict[str, int]:
    """Returns how many values were re-encrypted, by table. Safe to re-run after an interruption."""
    counts: dict[str, int] = {}
    for table_name, columns in encrypted_columns().items():
        table = metadata.tables[table_name]
        counts[table_name] = 0
        last_id = ""
        while True:
            with engine.begin() as conn:
                rows = conn.execute(
                    select(table.c.id, *(table.c[name] for name in columns))
                    .where(table.c.id > last_id)
                    .order_by(table.c.id)
                    .limit(BATCH)
                ).all()
                for row in rows:
                    changes = {}
                    for name in columns:
                        stored = getattr(row, name)
                        if stored is not None and cipher.key_id_of(stored) != cipher.current_key_id:
                            plaintext = cipher.decrypt(table_name, name, row.id, stored)
                            changes[name] = cipher.encrypt(table_name, name, row.id, plaintext)
                    if changes:
                        conn.execute(update(table).where(table.c.id == row.id).values(**changes))
                        counts[table_name] += len(changes)
            if len(rows) < BATCH:
                break
            last_id = rows[-1].id
    return counts


def key_ids_in_use(engine: Engine, cipher: FieldCipher) -> set[str]:
    used: set[str] = set()
    with engine.connect() as conn:
        for table_name, columns in encrypted_columns().items():
            table = metadata.tables[table_name]
            for name in columns:
                for (stored,) in conn.execute(select(table.c[name]).where(table.c[name].is_not(None))):
                    used.add(cipher.key_id_of(stored))
    return used
