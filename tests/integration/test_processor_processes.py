"""The CLI and the worker as real processes: JSON out, exit codes, graceful SIGTERM, kill -9 and scratch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from processors import failures
from processors.ffmpeg_binary import ffmpeg_path
from shared.config.settings import PROJECT_ROOT
from shared.context import AppContext
from shared.db.statuses import JobStatus, MediaStatus
from shared.db.tables import jobs
from tests.support import media_samples
from tests.support.media_rows import add_upload, media_row, new_encounter
from tests.support.processes import is_running, wait_for, wait_for_child


def run_cli(*args: str, cwd: Path = PROJECT_ROOT) -> tuple[int, dict]:
    completed = subprocess.run(
        [sys.executable, "-m", "processors.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MIA_DATA_DIR": str(cwd / Path(args[-1]).parent / "var"), "PYTHONPATH": str(PROJECT_ROOT)},
    )
    lines = completed.stdout.strip().splitlines()
    assert len(lines) == 1, completed.stdout + completed.stderr
    return completed.returncode, json.loads(lines[0])


def test_cli_prints_one_json_object_for_a_video(tmp_path: Path) -> None:
    source = media_samples.h264_mov(tmp_path)
    status, payload = run_cli(str(source), "--out", str(tmp_path / "out"))
    assert status == 0
    assert payload["status"] == "ready" and payload["kind"] == "video" and payload["method"] == "remux"
    assert (payload["width"], payload["height"]) == (360, 640)
    assert payload["video_codec"] == "h264" and payload["audio_codec"] == "aac"
    assert abs(payload["duration_seconds"] - 2.0) < 0.1
    assert Path(payload["outputs"]["display"]["path"]).is_file()
    assert payload["outputs"]["thumbnail"]["content_type"] == "image/jpeg"


def test_cli_reports_the_reason_for_a_refused_file(tmp_path: Path) -> None:
    source = media_samples.dressed_as(tmp_path, "photo.jpg", media_samples.SVG)
    status, payload = run_cli(str(source), "--out", str(tmp_path / "out"))
    assert status == 1
    assert payload == {"error": failures.UNSUPPORTED, "file": str(source), "status": "failed"}


def test_cli_takes_paths_relative_to_where_it_is_run(tmp_path: Path) -> None:
    media_samples.h264_mov(tmp_path)  # IMG_0002.MOV
    media_samples.portrait_jpeg(tmp_path)  # IMG_0004.JPG
    for name, out, kind in (("IMG_0002.MOV", "video-out", "video"), ("IMG_0004.JPG", "photo-out", "image")):
        status, payload = run_cli(name, "--out", out, cwd=tmp_path)
        assert (status, payload["status"]) == (0, "ready"), payload
        assert payload["kind"] == kind
        for output in payload["outputs"].values():
            assert Path(output["path"]).parent == tmp_path / out and Path(output["path"]).stat().st_size > 0


def test_cli_usage_errors(tmp_path: Path) -> None:
    status, payload = run_cli(str(tmp_path / "missing.jpg"), "--out", str(tmp_path / "out"))
    assert status == 2 and payload["status"] == "error"


def start_worker(sqlite_ctx: AppContext, scratch: Path, **settings: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "MIA_SCRATCH_DIR": str(scratch),  # where the worker keeps its local copies
        "MIA_DATA_DIR": str(sqlite_ctx.settings.data_dir),
        "MIA_WORKER_POLL_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
        **settings,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "processors.worker"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_worker_process_handles_jobs_and_stops_on_sigterm(sqlite_ctx: AppContext, tmp_path: Path) -> None:
    encounter = new_encounter(sqlite_ctx)
    bad = add_upload(sqlite_ctx, sqlite_ctx.store, encounter, media_samples.corrupt_heic(tmp_path))
    good = add_upload(sqlite_ctx, sqlite_ctx.store, encounter, media_samples.portrait_jpeg(tmp_path))
    worker = start_worker(sqlite_ctx, tmp_path / "scratch")
    try:
        assert wait_for(lambda: media_row(sqlite_ctx.engine, good.media_id).status == MediaStatus.READY)
        assert media_row(sqlite_ctx.engine, bad.media_id).status == MediaStatus.FAILED
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    messages = [event["message"] for event in events]
    assert "worker started" in messages and "stop requested" in messages and messages[-1] == "worker stopped"
    assert all(event["service"] == "worker" for event in events)


def test_sigterm_in_the_middle_of_a_video_hands_the_job_back(sqlite_ctx: AppContext, tmp_path: Path) -> None:
    long_video = media_samples.mjpeg_mov(tmp_path, size="1280x720", seconds=40)
    upload = add_upload(sqlite_ctx, sqlite_ctx.store, new_encounter(sqlite_ctx), long_video)
    scratch = tmp_path / "scratch"
    worker = start_worker(sqlite_ctx, scratch)

    def job():  # type: ignore[no-untyped-def]
        with sqlite_ctx.engine.connect() as conn:
            return conn.execute(select(jobs).where(jobs.c.media_id == upload.media_id)).one()

    try:
        assert wait_for(lambda: media_row(sqlite_ctx.engine, upload.media_id).status == MediaStatus.PROCESSING)
        time.sleep(1.0)  # ffmpeg is converting now
        stopped_at = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
        stop_seconds = time.monotonic() - stopped_at
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0 and stop_seconds < 15
    handed_back = job()
    assert handed_back.status == JobStatus.QUEUED and handed_back.last_error == "the worker stopped before finishing"
    assert media_row(sqlite_ctx.engine, upload.media_id).status == MediaStatus.PROCESSING
    assert list(scratch.iterdir()) == []  # the local copy of the patient's video was removed


def modes_under(root: Path) -> dict[str, int]:
    """Permission bits of everything under `root` (itself included), by path relative to it."""
    found = {".": root.stat().st_mode & 0o777}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = path.stat().st_mode & 0o777
    return found


def test_a_killed_worker_takes_its_ffmpeg_along_and_the_next_cleans_up(sqlite_ctx: AppContext, tmp_path: Path) -> None:
    video = media_samples.mjpeg_mov(tmp_path, size="1280x720", seconds=20)  # transcoded: a few seconds of x264
    upload = add_upload(sqlite_ctx, sqlite_ctx.store, new_encounter(sqlite_ctx), video)
    scratch = tmp_path / "scratch"
    lease = {"MIA_WORKER_LEASE_SECONDS": "3"}  # the killed worker's job is free again 3 s after its last heartbeat
    first = start_worker(sqlite_ctx, scratch, **lease)
    second = None
    try:
        ffmpeg = wait_for_child(first.pid, ffmpeg_path(), "libx264")
        assert ffmpeg is not None, "the worker never started transcoding"
        assert wait_for(lambda: any(scratch.rglob("video.mp4")), seconds=10, every=0.05)
        modes = modes_under(scratch)
        (dead_scratch,) = scratch.iterdir()
        assert {mode for name, mode in modes.items() if (scratch / name).is_dir()} == {0o700}, modes
        assert {mode for name, mode in modes.items() if (scratch / name).is_file()} == {0o600}, modes

        first.kill()
        first.communicate(timeout=10)
        assert wait_for(lambda: not is_running(ffmpeg), seconds=3, every=0.05), "ffmpeg outlived its killed worker"
        assert any(dead_scratch.rglob("original"))  # the dead worker left the patient's video behind

        second = start_worker(sqlite_ctx, scratch, **lease)
        assert wait_for(lambda: not dead_scratch.exists(), seconds=30), "the dead worker's scratch stayed"
        assert wait_for(lambda: media_row(sqlite_ctx.engine, upload.media_id).status == MediaStatus.READY, 120)
        (live_scratch,) = scratch.iterdir()
        assert wait_for(lambda: [entry.name for entry in live_scratch.iterdir()] == [".owner.lock"], 10)
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=30)
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.kill()
                worker.wait()
    assert second.returncode == 0
    assert list(scratch.iterdir()) == []  # nothing of the patient's is left on disk
