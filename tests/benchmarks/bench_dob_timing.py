#!/usr/bin/env python3
"""Does a wrong date of birth on a live link answer as fast as an unknown link? (`make bench`)

A holder of an old link must not learn from the response time whether it
still works. The real service process (`python -m patient_upload`) gets,
interleaved in random order, a wrong date on a live link and the same date
on an unknown token, each after a GET of the form for a fresh form token (as
a browser does). The POST and the GET are both timed: the GET can be
repeated without limit, so it must not tell either. Each live link takes at
most four wrong dates, so none locks; all links are made (and opened once,
as an old link was) before the service starts, so nothing else writes to
the database while it is measured.

For each, the medians must differ by less than 0.05 ms: the script prints
PASS or FAIL (and exits 0 either way: the machine is shared, so a FAIL is a
figure to look at, not a reason to stop the other benchmarks). The median of
the per-pair differences is printed beside it: load that changes during the
run moves it less.

Those figures move by a few hundredths of a millisecond from run to run on
a loaded machine, more than a single statement costs. So each statement of
a refusal is then also timed in process (`verify_date_of_birth`, the
driver's time per statement, and the whole call with its commit), live link
against unknown token, interleaved: the median of the paired differences
says which statement still differs, in microseconds.

Runs on SQLite (the embedded default) and, when the MariaDB named by
MIA_TEST_MYSQL_URL answers, on MariaDB.
"""

from __future__ import annotations

import datetime as dt
import http.client
import os
import random
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from shared.config.settings import load_settings
from shared.context import AppContext, build_context
from shared.db.migrations import migrate
from shared.encounters import verification
from shared.ids import new_secret_token
from tests.support.databases import MySqlTestDatabase
from tests.support.factories import make_clinician, make_encounter
from tests.support.upload_process import UploadProcess

SAMPLES = 400
STATEMENT_SAMPLES = 1000
WARM_UP = 40
TRIES_PER_LINK = 4  # one fewer than locks a link
THRESHOLD_MS = 0.05
WRONG_DATE = {"day": "15", "month": "7", "year": "1961"}  # the factory's patient was born on 14 July 1961
MYSQL_URL = os.environ.get("MIA_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


@dataclass
class Phone:
    """One keep-alive connection and its cookies: a browser tab that asks for the form, then answers it."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def _request(self, method: str, token: str, body: str | None = None) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, f"/p/{token}", body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode("utf-8")
        for cookie in response.msg.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value
        return response.status, text

    def attempt(self, token: str) -> tuple[float, float]:
        """(GET ms, POST ms) of one wrong answer."""
        started = time.perf_counter()
        status, page = self._request("GET", token)
        got_form = time.perf_counter()
        assert status == 200, page[:300]
        match = re.search(r'name="form_token" value="([^"]+)"', page)
        assert match, "no form token on the page"
        body = urlencode({"form_token": match.group(1), **WRONG_DATE})
        posting = time.perf_counter()
        status, page = self._request("POST", token, body)
        answered = time.perf_counter()
        assert status == 400 and "We could not confirm your details" in page, (status, page[:300])
        return (got_form - started) * 1000, (answered - posting) * 1000


@dataclass
class Timings:
    get_ms: list[float] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)


def live_tokens(ctx: AppContext, name: str, samples: int = WARM_UP + SAMPLES) -> list[str]:
    """Enough live links for `samples`, each tried at most TRIES_PER_LINK times.

    Each is opened once first, through the domain function: an old link's
    holder opened it before (the very first opening also moves the status).
    """
    clinician = make_clinician(ctx, username=f"bench-{name}")
    links = -(-samples // TRIES_PER_LINK)
    tokens = [make_encounter(ctx, clinician).token for _ in range(links)]
    for token in tokens:
        verification.open_link(ctx, token, "127.0.0.1")
    return [token for token in tokens for _ in range(TRIES_PER_LINK)]


def measure(name: str, ctx: AppContext, env: dict[str, str], root: Path) -> list[str]:
    live_links = live_tokens(ctx, name)
    unknown_link = new_secret_token()  # the same length as a real token
    service = UploadProcess(env, root / f"{name}-service.log").start()
    try:
        phones = {"live": Phone(service.port), "unknown": Phone(service.port)}
        timings = {"live": Timings(), "unknown": Timings()}
        for sample in range(WARM_UP + SAMPLES):
            tokens = {"live": live_links[sample], "unknown": unknown_link}
            kinds = ["live", "unknown"]
            random.shuffle(kinds)
            for kind in kinds:
                get_ms, post_ms = phones[kind].attempt(tokens[kind])
                if sample >= WARM_UP:
                    timings[kind].get_ms.append(get_ms)
                    timings[kind].post_ms.append(post_ms)
        for phone in phones.values():
            phone.connection.close()
    finally:
        service.stop()
    return report(name, timings) + statement_times(name, ctx)


def statement_label(statement: str) -> str:
    words = statement.split()
    if words[0].upper() == "SELECT":
        return "counting SELECT" if "count(" in statement.lower() else "look-up SELECT"
    return " ".join(words[:2])


def statement_times(name: str, ctx: AppContext) -> list[str]:
    """Microseconds of each statement of a refusal, live link vs unknown token (see the module docstring)."""
    live_links = live_tokens(ctx, f"{name}-statements", STATEMENT_SAMPLES)
    unknown_link = new_secret_token()
    wrong = dt.date(1961, 7, 15)
    times: dict[str, list[dict[str, float]]] = {"live": [], "unknown": []}
    sent: dict[str, float] = {}
    started: list[float] = []

    def before(*_: object) -> None:
        started.append(time.perf_counter())

    def after(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent[statement_label(statement)] = (time.perf_counter() - started.pop()) * 1e6

    event.listen(ctx.engine, "before_cursor_execute", before)
    event.listen(ctx.engine, "after_cursor_execute", after)
    try:
        for sample in range(STATEMENT_SAMPLES):
            kinds = ["live", "unknown"]
            random.shuffle(kinds)
            for kind in kinds:
                sent.clear()
                begun = time.perf_counter()
                verification.verify_date_of_birth(
                    ctx, live_links[sample] if kind == "live" else unknown_link, wrong, None
                )
                times[kind].append({**sent, "whole call, with its commit": (time.perf_counter() - begun) * 1e6})
    finally:
        event.remove(ctx.engine, "before_cursor_execute", before)
        event.remove(ctx.engine, "after_cursor_execute", after)
    lines = []
    for label in times["live"][0]:
        live = [sample[label] for sample in times["live"][WARM_UP:]]
        unknown = [sample[label] for sample in times["unknown"][WARM_UP:]]
        paired = statistics.median(a - b for a, b in zip(live, unknown, strict=True))
        lines.append(
            f"[{name}] in process, {label}: live link median {statistics.median(live):.1f} µs, unknown token "
            f"{statistics.median(unknown):.1f} µs, median of paired differences {paired:+.1f} µs"
        )
    for line in lines:
        print(line, flush=True)
    return lines


def report(name: str, timings: dict[str, Timings]) -> list[str]:
    lines = []
    for label, attribute in (("GET of the form", "get_ms"), ("POST of a wrong date", "post_ms")):
        live_ms, unknown_ms = getattr(timings["live"], attribute), getattr(timings["unknown"], attribute)
        live, unknown = statistics.median(live_ms), statistics.median(unknown_ms)
        paired = statistics.median(a - b for a, b in zip(live_ms, unknown_ms, strict=True))
        difference = live - unknown
        verdict = "PASS" if abs(difference) < THRESHOLD_MS else "FAIL"
        lines.append(
            f"[{name}] {label}: live link median {live:.3f} ms, unknown token median {unknown:.3f} ms, "
            f"difference {difference:+.3f} ms (median of paired differences {paired:+.3f} ms; "
            f"{SAMPLES} interleaved samples each)"
        )
        lines.append(f"[{name}] {label}: {verdict} (|{difference:+.3f}| ms against {THRESHOLD_MS} ms)")
    for line in lines:
        print(line, flush=True)
    return lines


def sqlite_run(root: Path) -> list[str]:
    env = {"MIA_DATA_DIR": str(root / "sqlite"), "MIA_LOG_LEVEL": "WARNING"}
    ctx = build_context(load_settings(env))
    migrate(ctx.engine)
    try:
        return measure("sqlite", ctx, env, root)
    finally:
        ctx.close()


def mysql_run(root: Path) -> list[str]:
    try:
        database = MySqlTestDatabase.create(MYSQL_URL)
    except OperationalError as exc:
        line = f"[mariadb] skipped: no server at {MYSQL_URL.split('@')[-1]} ({str(exc.orig).splitlines()[0]})"
        print(line, flush=True)
        return [line]
    try:
        url = database.engine.url.render_as_string(hide_password=False)
        env = {"MIA_DATA_DIR": str(root / "mysql"), "MIA_DATABASE_URL": url, "MIA_LOG_LEVEL": "WARNING"}
        ctx = build_context(load_settings(env), engine=database.engine)
        return measure("mariadb", ctx, env, root)
    finally:
        database.drop()


def main() -> None:
    for name in [name for name in os.environ if name.startswith("MIA_") and not name.startswith("MIA_TEST_")]:
        del os.environ[name]
    with tempfile.TemporaryDirectory(prefix="mia-bench-dob-") as tmp:
        root = Path(tmp)
        results = sqlite_run(root) + mysql_run(root)
    print("\n== date-of-birth timing summary")
    for line in results:
        print(line)


if __name__ == "__main__":
    main()
