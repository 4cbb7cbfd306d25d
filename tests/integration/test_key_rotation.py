from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from shared.config.keys import add_file_key, load_keys, retire_file_keys
from shared.context import AppContext
from shared.crypto.fields import FieldCipher
from shared.crypto.rotation import key_ids_in_use, reencrypt_all
from shared.db.tables import encounters, notifications
from shared.encounters.requests import decrypt_patient
from tests.support.factories import PATIENT, make_clinician, make_encounter


def test_rotation_reencrypts_every_field_and_old_key_can_go(ctx: AppContext, tmp_path: Path) -> None:
    clinician = make_clinician(ctx)
    for _ in range(3):
        make_encounter(ctx, clinician)
    old_key = ctx.cipher.current_key_id
    new_key = add_file_key(ctx.settings)
    cipher = FieldCipher(load_keys(ctx.settings, env={}).encryption)

    counts = reencrypt_all(ctx.engine, cipher)
    assert counts["encounters"] == 3 * 6  # name, dob, nhs number, phone, email, request note
    assert counts["notifications"] == 3 * 2 * 2  # sms + email, recipient + body
    assert key_ids_in_use(ctx.engine, cipher) == {new_key}
    assert reencrypt_all(ctx.engine, cipher)["encounters"] == 0  # idempotent

    assert retire_file_keys(ctx.settings, {new_key}) == [old_key]
    only_new = FieldCipher(load_keys(ctx.settings, env={}).encryption)
    with ctx.engine.connect() as conn:
        for row in conn.execute(select(encounters)):
            assert decrypt_patient(only_new, row) == PATIENT
        assert all(only_new.key_id_of(row.body) == new_key for row in conn.execute(select(notifications)))
