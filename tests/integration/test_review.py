"""Reviewing an encounter: visibility of media, time-limited URLs, review note, deletion (both databases)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from shared import audit
from shared.clock import utcnow
from shared.context import Actor, AppContext
from shared.db.tables import media, notifications
from shared.encounters import review
from shared.encounters.encounter import Encounter, load_encounter
from shared.encounters.queries import Viewer
from shared.storage.base import ObjectStore
from shared.storage.signed_urls import UrlSigner
from tests.support.factories import make_clinician, make_encounter
from tests.support.processed_media import store_photo, store_unprocessed, store_video
from tests.support.submissions import give_consent, submit


def encounter_row(ctx: AppContext, encounter_id: str) -> Encounter:
    with ctx.engine.connect() as conn:
        row = load_encounter(conn, encounter_id)
    assert row is not None
    return row


def items_of(ctx: AppContext, encounter_id: str) -> list[review.MediaItem]:
    return review.media_for(ctx, encounter_row(ctx, encounter_id))


def test_media_stay_hidden_until_the_patient_presses_send(ctx: AppContext) -> None:
    clinician = make_clinician(ctx)
    encounter_id = make_encounter(ctx, clinician).encounter_id
    give_consent(ctx, encounter_id, teaching=False)
    store_photo(ctx, encounter_id, width=800, height=600, note="Left forearm")
    assert items_of(ctx, encounter_id) == []
    submit(ctx, encounter_id, clinician)
    (item,) = items_of(ctx, encounter_id)
    assert item.note == "Left forearm" and item.original_filename == "IMG_0001.JPG"
    assert (item.width, item.height, item.is_ready) == (800, 600, True)
    (consent,) = review.consents_for(ctx, encounter_id)
    assert consent.share_with_care_team and consent.keep_in_record and not consent.use_for_teaching
    assert consent.text_version


@pytest.mark.parametrize("backend", ["filesystem", pytest.param("s3", marks=pytest.mark.s3)])
def test_every_url_is_time_limited_and_its_issue_audited(
    ctx: AppContext, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "s3":
        store: ObjectStore = request.getfixturevalue("s3_store")
        ctx = dataclasses.replace(ctx, store=store)
    clinician = make_clinician(ctx)
    encounter_id = make_encounter(ctx, clinician).encounter_id
    photo = store_photo(ctx, encounter_id, width=640, height=480)
    video = store_video(ctx, encounter_id, seconds=1)
    store_unprocessed(ctx, encounter_id)
    submit(ctx, encounter_id, clinician)
    items = items_of(ctx, encounter_id)
    now = utcnow()
    urls = review.issue_view_urls(ctx, items, actor=Actor(clinician), now=now)
    download = review.issue_original_download(ctx, items[0], actor=Actor(clinician))
    assert set(urls) == {photo.media_id, video.media_id}  # nothing for the file still processing
    lifetime = ctx.settings.media_url_lifetime_seconds
    assert lifetime <= 300
    for url in [*(u.display for u in urls.values()), *(u.thumbnail for u in urls.values() if u.thumbnail), download]:
        query = parse_qs(urlsplit(url).query)
        if backend == "s3":
            assert int(query["X-Amz-Expires"][0]) == lifetime
        else:
            assert url.startswith(f"{ctx.settings.patient_base_url}/media/")
            assert int(query["expires"][0]) <= now.timestamp() + lifetime + 5
    if backend == "filesystem":
        signer = UrlSigner(ctx.keys.url_signing, ctx.settings.patient_base_url)
        key = photo.display_key or ""
        query = {k: v[0] for k, v in parse_qs(urlsplit(urls[photo.media_id].display).query).items()}
        assert signer.verify(key, query) is not None
        assert signer.verify(key, query, now=now.timestamp() + lifetime + 10) is None
    assert "attachment" in download or "dl=" in download
    assert items[0].download_name.startswith(f"mia-{encounter_id[:8]}-") and "IMG" not in items[0].download_name
    with ctx.engine.connect() as conn:
        viewed = audit.search(conn, action="media.viewed", encounter_id=encounter_id)
        downloaded = audit.search(conn, action="media.original_downloaded", media_id=photo.media_id)
    assert {e["media_id"] for e in viewed} == {photo.media_id, video.media_id}
    assert len(downloaded) == 1 and downloaded[0]["actor_id"] == clinician


def test_mark_reviewed_stores_the_note_encrypted_and_only_once(ctx: AppContext) -> None:
    clinician = make_clinician(ctx)
    encounter_id = make_encounter(ctx, clinician).encounter_id
    actor = Actor(clinician)
    now = utcnow()
    with pytest.raises(review.ReviewError, match="not sent"):
        review.mark_reviewed(ctx, encounter_id, actor=actor, note="Fine", now=now)
    submit(ctx, encounter_id, clinician)
    with pytest.raises(review.ReviewError, match="Enter the clinical note"):
        review.mark_reviewed(ctx, encounter_id, actor=actor, note="   ", now=now)
    note = "Eczema flare; start emollient, review in 2 weeks."
    review.mark_reviewed(ctx, encounter_id, actor=actor, note=note, now=now)
    row = encounter_row(ctx, encounter_id)
    assert row.status == "reviewed" and row.reviewed_by == clinician and note.encode() not in bytes(row.review_note)
    record = review.review_record(ctx, row)
    assert record is not None and record.note == note and record.reviewer_name == "Dr drjones"
    with pytest.raises(review.ReviewError, match="already"):
        review.mark_reviewed(ctx, encounter_id, actor=actor, note=note, now=now)


def test_deleting_a_file_or_an_encounter_is_soft_encrypted_and_audited(ctx: AppContext) -> None:
    clinician = make_clinician(ctx)
    invite = make_encounter(ctx, clinician)
    keep = store_photo(ctx, invite.encounter_id, width=400, height=300)
    drop = store_photo(ctx, invite.encounter_id, width=400, height=300, seed=2)
    submit(ctx, invite.encounter_id, clinician)
    actor = Actor(clinician)
    now = utcnow()
    review.delete_medium(
        ctx,
        encounter_id=invite.encounter_id,
        media_id=drop.media_id,
        actor=actor,
        reason="Wrong patient's photo",
        now=now,
    )
    assert [i.id for i in items_of(ctx, invite.encounter_id)] == [keep.media_id]
    with ctx.engine.connect() as conn:
        row = conn.execute(select(media).where(media.c.id == drop.media_id)).one()
    assert row.deleted_by == clinician
    assert ctx.cipher.decrypt("media", "delete_reason", drop.media_id, row.delete_reason) == "Wrong patient's photo"
    assert ctx.store.exists(drop.display_key or "")  # soft: the objects stay for the retention period
    with pytest.raises(review.ReviewError, match="already been deleted"):
        review.delete_medium(
            ctx, encounter_id=invite.encounter_id, media_id=drop.media_id, actor=actor, reason="again", now=now
        )
    review.delete_encounter(ctx, encounter_id=invite.encounter_id, actor=actor, reason="Registered twice", now=now)
    row = encounter_row(ctx, invite.encounter_id)
    assert row.deleted_at == now and row.invite_token_hash is None  # the patient link is dead
    assert ctx.cipher.decrypt("encounters", "delete_reason", row.id, row.delete_reason) == "Registered twice"
    with ctx.engine.connect() as conn:
        actions = {e["action"] for e in audit.search(conn, encounter_id=invite.encounter_id)}
    assert {"media.deleted", "encounter.deleted"} <= actions


def test_opening_an_encounter_reads_its_notices(ctx: AppContext) -> None:
    clinician = make_clinician(ctx)
    encounter_id = make_encounter(ctx, clinician).encounter_id
    submit(ctx, encounter_id, clinician)
    now = utcnow()
    assert review.record_view(ctx, encounter_id, actor=Actor(clinician, "198.51.100.4"), now=now) == 1
    with ctx.engine.connect() as conn:
        unread = conn.execute(
            select(notifications).where(notifications.c.user_id == clinician, notifications.c.read_at.is_(None))
        ).all()
        (viewed,) = audit.search(conn, action="encounter.viewed")
    assert unread == [] and viewed["remote_addr"] == "198.51.100.4"
    assert viewed["occurred_at"] <= utcnow() + dt.timedelta(seconds=1)


def test_opening_an_encounter_of_another_team_is_refused_and_audited(ctx: AppContext) -> None:
    mine = make_clinician(ctx, "drjones", team="Dermatology")
    theirs = make_clinician(ctx, "drbrown", team="Neurology")
    encounter_id = make_encounter(ctx, theirs).encounter_id
    jones = Actor(mine, "198.51.100.9")
    assert review.open_encounter(ctx, Viewer(mine, "Dermatology"), encounter_id, actor=jones) is None
    assert review.open_encounter(ctx, Viewer(theirs, "Neurology"), encounter_id, actor=Actor(theirs)) is not None
    assert review.open_encounter(ctx, Viewer(mine, "Dermatology"), "x" * 40, actor=jones) is None
    with ctx.engine.connect() as conn:
        refused = audit.search(conn, action="encounter.access_refused", actor_id=mine)
    assert sorted(e["encounter_id"] for e in refused) == sorted([encounter_id, "x" * 32])
    assert {e["remote_addr"] for e in refused} == {"198.51.100.9"}
