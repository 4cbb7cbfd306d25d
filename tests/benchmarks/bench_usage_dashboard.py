"""Figure for issue 6: time to run the usage page's queries with 10,000 encounters
and 100,000 media rows, on SQLite and on MariaDB.

Seeds each database once (bulk inserts; patient fields encrypted as in real
rows), then times `build_usage_report` — exactly what the page runs on a cache
miss — for a 90-day range, per day and per week, several times, and prints
the median and the worst.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import Engine, insert

from shared.context import AppContext, build_context
from shared.db.statuses import EncounterStatus, MediaStatus
from shared.db.tables import encounters, media
from shared.ids import new_id
from shared.reporting.activity import DateRange
from shared.reporting.usage_report import build_usage_report
from tests.conftest import make_settings
from tests.support.databases import MySqlTestDatabase, make_sqlite_engine
from tests.support.factories import make_clinician

ENCOUNTERS = 10_000
MEDIA = 100_000
RUNS = 5
TODAY = dt.datetime(2026, 11, 21)
STAGES = ["opened_at", "verified_at", "consented_at", "submitted_at", "reviewed_at"]
CONTENT = [
    ("image", "image/jpeg"),
    ("image", "image/heic"),
    ("image", "image/png"),
    ("video", "video/quicktime"),
    ("video", "video/mp4"),
]


def seed(ctx: AppContext) -> None:
    rng = random.Random(6)
    clinicians = [make_clinician(ctx, f"clinician{n:02d}", team=f"Team {n % 4}") for n in range(20)]
    encounter_rows, media_rows = [], []
    for _ in range(ENCOUNTERS):
        encounter_id = new_id()
        created = TODAY - dt.timedelta(days=rng.uniform(0, 180))
        row = {
            "id": encounter_id,
            "clinician_id": rng.choice(clinicians),
            "status": EncounterStatus.INVITED,
            "patient_name": ctx.cipher.encrypt("encounters", "patient_name", encounter_id, "Bench Patient"),
            "date_of_birth": ctx.cipher.encrypt("encounters", "date_of_birth", encounter_id, "1970-01-01"),
            "created_at": created,
            "invited_at": created,
            "updated_at": created,
            **{stage: None for stage in STAGES},
        }
        stamp = created
        for stage in STAGES:
            if rng.random() > 0.85:
                break
            stamp += dt.timedelta(minutes=rng.uniform(1, 3000))
            row[stage] = stamp
            row["status"] = stage.removesuffix("_at")
        encounter_rows.append(row)
    for _ in range(MEDIA):
        owner = rng.choice(encounter_rows)
        kind, content_type = rng.choice(CONTENT)
        media_id = new_id()
        failed = rng.random() < 0.03
        media_rows.append(
            {
                "id": media_id,
                "encounter_id": owner["id"],
                "kind": kind,
                "content_type": content_type,
                "status": MediaStatus.FAILED if failed else MediaStatus.READY,
                "failure_reason": rng.choice(["The video could not be read.", "The file is not a valid image."])
                if failed
                else None,
                "original_key": f"uploads/{owner['id']}/{media_id}/original",
                "original_size": int(rng.lognormvariate(15 if kind == "image" else 18, 1.2)),
                "display_size": None if failed else rng.randint(100_000, 5_000_000),
                "display_key": None if failed else f"derived/{owner['id']}/{media_id}/display.jpg",
                "thumbnail_size": None if failed else rng.randint(20_000, 80_000),
                "thumbnail_key": None if failed else f"derived/{owner['id']}/{media_id}/thumb.jpg",
                "created_at": owner["created_at"] + dt.timedelta(minutes=rng.uniform(0, 600)),
            }
        )
    with ctx.engine.begin() as conn:
        for start in range(0, len(encounter_rows), 2000):
            conn.execute(insert(encounters), encounter_rows[start : start + 2000])
        for start in range(0, len(media_rows), 5000):
            conn.execute(insert(media), media_rows[start : start + 5000])


def measure(name: str, ctx: AppContext) -> None:
    started = time.perf_counter()
    seed(ctx)
    print(f"{name}: seeded {ENCOUNTERS:,} encounters and {MEDIA:,} media in {time.perf_counter() - started:.1f} s")
    last_90_days = DateRange.inclusive((TODAY - dt.timedelta(days=89)).date(), TODAY.date())
    for period in ("day", "week"):
        timings = []
        for _ in range(RUNS):
            started = time.perf_counter()
            report = build_usage_report(ctx, last_90_days, period)
            timings.append(time.perf_counter() - started)
        assert report.funnel[0]["encounters"] > 0
        print(
            f"{name}: usage page queries, 90 days per {period}: "
            f"median {statistics.median(timings) * 1000:.0f} ms, worst {max(timings) * 1000:.0f} ms ({RUNS} runs)"
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp) / "var")
        engine: Engine = make_sqlite_engine(settings.database_url)
        measure("SQLite", build_context(settings, engine=engine))
        engine.dispose()
        mysql = MySqlTestDatabase.create(
            os.environ.get("MIA_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
        )
        try:
            measure("MariaDB", build_context(settings, engine=mysql.engine))
        finally:
            mysql.drop()


if __name__ == "__main__":
    main()
