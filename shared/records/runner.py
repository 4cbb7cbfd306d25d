"""The records runner (`manage.py file-records`, the `records` service): files what is queued, one at a time.

Each cycle first queues the encounters reviewed in teams that file on
review (once: an encounter with a row for a destination is left alone, so a
failed or withdrawn filing is not queued again behind the clinician's back),
then claims due filings under a lease (`claims`) and hands each to its
destination's filer with the document read fresh from the database. A filer
raises DestinationUnavailable (tried again with backoff, failed after
`max_attempts`) or DestinationRefused (failed at once); each filer bounds
its own calls by `timeout_seconds`, and the lease is at least three times
that, so a filing in flight never outlives its lease.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import and_, exists, select
from sqlalchemy.exc import SQLAlchemyError

from shared.clock import utcnow
from shared.context import AppContext
from shared.db.leases import new_owner_id
from shared.db.statuses import EncounterStatus
from shared.db.tables import encounters, record_filings, teams
from shared.records import claims
from shared.records.errors import DestinationRefused, DestinationUnavailable, RecordsError
from shared.records.filer import Filer
from shared.records.filings import SETTING, FilingState, request_filing
from shared.records.gather import load_document, store_content

log = logging.getLogger("mia.records.runner")

MAX_IDLE_BACKOFF_SECONDS = 60
# Filing on review looks this far back: a team switching it on does not file its whole history.
ON_REVIEW_WINDOW = dt.timedelta(days=7)
# Why a filing MIA itself could not prepare is tried again: the exception goes to the log, not to the clinician.
PREPARE_FAULT = "MIA could not prepare the documents (see the records service log)."
# A filing taken again after its runner died each time (out of memory on a large video, say) must not loop for ever.
STOPPED_MIDWAY = (
    "The records service stopped part-way through filing this {times} times (restarted, or out of memory on a large "
    "video?); see its log, then press retry."
)


def gave_up(label: str, attempts: int, reason: str) -> str:
    """Why a filing that kept finding its destination unavailable was given up, in an operator's words."""
    return f"The {label} could not be reached after {attempts} tries: {reason} Press retry once it is back."


@dataclass
class CycleReport:
    queued_on_review: int = 0
    filed: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.filed + self.retried + self.failed


class FilingRunner:
    def __init__(
        self,
        ctx: AppContext,
        filers: Mapping[str, Filer],
        *,
        owner: str | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.ctx = ctx
        self.filers = dict(filers)
        self.owner = owner or new_owner_id()
        self.clock = clock
        self.settings = ctx.settings.records
        self.lease = dt.timedelta(seconds=self.settings.lease_seconds)

    # -- the loop --------------------------------------------------------------
    def run_forever(self, stop: threading.Event) -> None:
        log.info("records runner started", extra={"owner": self.owner, "files_to": ",".join(sorted(self.filers))})
        if not self.filers:
            log.warning("no record destination is configured: nothing will be filed")
        poll = float(self.settings.poll_seconds)
        idle_backoff = poll
        while not stop.is_set():
            try:
                report = self.run_cycle(stop)
            except SQLAlchemyError:
                log.exception("database unavailable; waiting", extra={"wait_seconds": idle_backoff})
                stop.wait(idle_backoff)
                idle_backoff = min(MAX_IDLE_BACKOFF_SECONDS, idle_backoff * 2)
                continue
            idle_backoff = poll
            if report.handled or report.queued_on_review:
                log.info("records cycle done", extra=vars(report))
            stop.wait(poll)
        log.info("records runner stopped", extra={"owner": self.owner})

    def run_cycle(self, stop: threading.Event | None = None) -> CycleReport:
        """Queue what teams file on review, then file everything due now."""
        report = CycleReport(queued_on_review=self.queue_on_review())
        return self.file_due(report, stop=stop)

    def file_due(
        self, report: CycleReport | None = None, *, encounter_id: str | None = None, stop: threading.Event | None = None
    ) -> CycleReport:
        """Claim and file until nothing (of this encounter, if given) is due, or a stop is asked for."""
        report = report or CycleReport()
        while stop is None or not stop.is_set():
            filing = claims.claim_next(self.ctx.engine, self.owner, self.lease, self.clock(), encounter_id)
            if filing is None:
                break
            self.file(filing, report)
        return report

    # -- filing on review --------------------------------------------------------
    def queue_on_review(self) -> int:
        """Queue each configured destination for encounters reviewed lately in teams that file on review."""
        destinations = [name for name in self.settings.destinations if name in self.filers]
        queued = 0
        for destination in destinations:
            for encounter_id in self._reviewed_unqueued(destination):
                queued += self._queue_reviewed(encounter_id, destination)
        return queued

    def _reviewed_unqueued(self, destination: str) -> list[str]:
        filed = exists().where(
            record_filings.c.encounter_id == encounters.c.id, record_filings.c.destination == destination
        )
        query = (
            select(encounters.c.id)
            .join(teams, and_(teams.c.name == encounters.c.team, teams.c.file_on_review.is_(True)))
            .where(
                encounters.c.status == EncounterStatus.REVIEWED,
                encounters.c.deleted_at.is_(None),
                encounters.c.reviewed_at >= self.clock() - ON_REVIEW_WINDOW,
                ~filed,
            )
            .order_by(encounters.c.reviewed_at)
        )
        with self.ctx.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def _queue_reviewed(self, encounter_id: str, destination: str) -> int:
        """Queue one; one that cannot be filed (no NHS number, say) is recorded failed, so the clinician sees why."""
        now = self.clock()
        try:
            request_filing(self.ctx, encounter_id, actor=None, now=now, destinations=[destination])
        except RecordsError as refusal:
            recorded = claims.record_refused(self.ctx.engine, encounter_id, destination, str(refusal), now)
            return 1 if recorded else 0
        return 1

    # -- one filing ------------------------------------------------------------
    def file(self, filing: FilingState, report: CycleReport) -> None:
        """Send one claimed filing and record the outcome."""
        if filing.attempts > self.settings.max_attempts:  # claimed again after its lease ran out, too often
            self._fail(filing, STOPPED_MIDWAY.format(times=filing.attempts - 1), report)
            return
        filer = self.filers.get(filing.destination)
        if filer is None:
            setting = SETTING[filing.destination]
            reason = f"The {filing.label} is not configured any more (set {setting}), so it was not filed."
            self._fail(filing, reason, report)
            return
        try:
            document = load_document(self.ctx, filing.encounter_id)
        except RecordsError as refusal:
            self._fail(filing, str(refusal), report)
            return
        except SQLAlchemyError:
            raise  # the database is down: run_forever waits, and the lease brings the filing back
        except Exception:  # a field that cannot be decrypted, say: tried again, then failed, never left sending
            log.exception("reading the document raised", extra=self._log_fields(filing))
            self._retry(filing, PREPARE_FAULT, report)
            return
        try:
            outcome = filer(document, store_content(self.ctx), self.settings)
        except DestinationRefused as refusal:
            self._fail(filing, refusal.reason, report)
        except DestinationUnavailable as unavailable:
            self._retry(filing, unavailable.reason, report)
        except Exception:  # a fault in a filer: tried again, then failed, never lost
            log.exception("filer raised", extra=self._log_fields(filing))
            self._retry(filing, PREPARE_FAULT, report)
        else:
            if claims.mark_filed(self.ctx.engine, filing, self.owner, outcome, self.clock()):
                report.filed += 1
                log.info("filed", extra={**self._log_fields(filing), "acknowledged": outcome.acknowledged})

    def _retry(self, filing: FilingState, reason: str, report: CycleReport) -> None:
        if filing.attempts >= self.settings.max_attempts:
            self._fail(filing, gave_up(filing.label, filing.attempts, reason), report)
            return
        due = claims.schedule_retry(self.ctx.engine, filing, self.owner, reason, self.clock())
        if due is not None:
            report.retried += 1
            log.warning("filing will be tried again", extra={**self._log_fields(filing), "due": due.isoformat()})

    def _fail(self, filing: FilingState, reason: str, report: CycleReport) -> None:
        if claims.mark_failed(self.ctx.engine, filing, self.owner, reason, self.clock()):
            report.failed += 1
            log.warning("filing failed", extra=self._log_fields(filing))

    @staticmethod
    def _log_fields(filing: FilingState) -> dict[str, object]:
        return {
            "filing_id": filing.id,
            "encounter_id": filing.encounter_id,
            "destination": filing.destination,
            "attempts": filing.attempts,
        }
