#!/usr/bin/env python3
"""Upload throughput and memory of the patient upload service (`make bench`).

For each backend (filesystem store; S3 through a moto server over HTTP) the
real service process (`python -m patient_upload`, SQLite) receives:
  * one 1 GiB file, and
  * 20 concurrent 64 MiB files,
sent with tus in 32 MiB PATCHes (what the browser page uses with the default
8 MiB S3 part size). Throughput is compared with `cp` of the same bytes on
the same disk (followed by fsync, as the store does; median of three runs). Peak RSS (VmHWM) of a
fresh service process is read after a 256 MiB and after a 1 GiB upload: the
service streams, so it must not grow with the file size.
MB/s here means 10^6 bytes per second.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import aiohttp
import boto3
import requests

from shared.config.settings import GIB, MIB, load_settings
from shared.context import build_context
from shared.db.migrations import migrate
from tests.support.factories import PATIENT, make_clinician, make_encounter
from tests.support.patient_client import metadata
from tests.support.sync_patient import SyncPatient
from tests.support.upload_payloads import write_video_payload
from tests.support.upload_process import UploadProcess, free_port

CHUNK = 32 * MIB
READ_BLOCK = 1 * MIB
CONCURRENT = 20
SMALL, LARGE, EACH = 256 * MIB, 1 * GIB, 64 * MIB


def mb_per_s(size: int, seconds: float) -> float:
    return size / seconds / 1e6


@dataclass
class Uploader:
    """A minimal streaming tus client (aiohttp), so the client is never the bottleneck."""

    base_url: str
    cookie: str
    csrf: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Tus-Resumable": "1.0.0", "X-CSRF-Token": self.csrf, "Cookie": self.cookie, **extra}

    async def upload(self, session: aiohttp.ClientSession, path: Path, name: str) -> None:
        size = path.stat().st_size
        created = await session.post(
            f"{self.base_url}/files/",
            headers=self.headers(**{"Upload-Length": str(size), "Upload-Metadata": metadata(filename=name)}),
        )
        assert created.status == 201, await created.text()
        url = f"{self.base_url}{created.headers['Location']}"
        offset = 0
        while offset < size:
            length = min(CHUNK, size - offset)
            response = await session.patch(
                url,
                headers=self.headers(
                    **{
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                        "Content-Length": str(length),
                    }
                ),
                data=self._read(path, offset, length),
            )
            assert response.status == 204, await response.text()
            offset = int(response.headers["Upload-Offset"])

    @staticmethod
    async def _read(path: Path, offset: int, length: int) -> AsyncIterator[bytes]:
        with open(path, "rb") as handle:
            handle.seek(offset)
            while length > 0:
                block = handle.read(min(READ_BLOCK, length))
                length -= len(block)
                yield block


class Backend:
    def __init__(self, name: str, root: Path, extra_env: dict[str, str]) -> None:
        self.name = name
        self.root = root
        self.env = {"MIA_DATA_DIR": str(root / "var"), "MIA_LOG_LEVEL": "WARNING", **extra_env}
        settings = load_settings(self.env)
        self.ctx = build_context(settings)
        migrate(self.ctx.engine)
        self.clinician = make_clinician(self.ctx, username=f"bench-{name}")

    def service(self) -> UploadProcess:
        return UploadProcess(self.env, self.root / f"{self.name}-service.log").start()

    def patient(self, service: UploadProcess) -> Uploader:
        invite = make_encounter(self.ctx, self.clinician)
        phone = SyncPatient(service.base_url, invite.token, PATIENT.date_of_birth.isoformat()).ready()
        return Uploader(service.base_url, phone.cookie_header(), phone.csrf)


async def timed_uploads(uploader: Uploader, paths: list[Path]) -> float:
    connector = aiohttp.TCPConnector(limit=len(paths))
    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(uploader.upload(session, path, f"bench-{i}.mp4") for i, path in enumerate(paths)))
        return time.perf_counter() - started


def upload_and_measure(backend: Backend, paths: list[Path]) -> tuple[float, int]:
    """Seconds for the uploads and the fresh service process's peak RSS."""
    service = backend.service()
    try:
        seconds = asyncio.run(timed_uploads(backend.patient(service), paths))
        return seconds, service.peak_rss_bytes()
    finally:
        service.stop()


def cp_seconds(sources: list[Path], target_dir: Path, runs: int = 3) -> float:
    """The median of `runs` copies (the disk is shared and noisy)."""
    return statistics.median(_cp_once(sources, target_dir) for _ in range(runs))


def _cp_once(sources: list[Path], target_dir: Path) -> float:
    """`cp` of the same bytes on the same disk, then fsync (the store fsyncs too), in parallel like the uploads."""
    target_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    copies = [subprocess.Popen(["cp", str(source), str(target_dir / f"copy-{i}")]) for i, source in enumerate(sources)]
    for copy in copies:
        assert copy.wait() == 0
    subprocess.run(["sync", *[str(target_dir / f"copy-{i}") for i in range(len(sources))]], check=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(target_dir)
    return seconds


def start_moto(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = open(root / "moto.log", "wb")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(endpoint, timeout=1)
            return server, endpoint
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError("moto server did not start")


def main() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    for name in [name for name in os.environ if name.startswith("MIA_")]:
        del os.environ[name]
    root = Path(tempfile.mkdtemp(prefix="mia-bench-upload-"))
    moto, endpoint = start_moto(root)
    results: list[str] = []
    try:
        print(f"working in {root} (same disk for the store and for cp)", flush=True)
        sources = root / "sources"
        sources.mkdir()
        small = write_video_payload(sources / "256MiB.mp4", SMALL)
        large = write_video_payload(sources / "1GiB.mp4", LARGE)
        each = write_video_payload(sources / "64MiB.mp4", EACH)
        cp_large = cp_seconds([large], root / "cp")
        cp_many = cp_seconds([each] * CONCURRENT, root / "cp")
        print(
            f"cp baseline: 1 GiB {mb_per_s(LARGE, cp_large):.0f} MB/s; "
            f"{CONCURRENT} x 64 MiB {mb_per_s(CONCURRENT * EACH, cp_many):.0f} MB/s",
            flush=True,
        )

        boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-2").create_bucket(
            Bucket="mia-bench", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
        )
        backends = [
            Backend("filesystem", root / "fs", {}),
            Backend(
                "s3-moto",
                root / "s3",
                {"MIA_STORAGE_URL": "s3://mia-bench/media", "MIA_S3_ENDPOINT_URL": endpoint},
            ),
        ]
        for backend in backends:
            small_seconds, small_rss = upload_and_measure(backend, [small])
            large_seconds, large_rss = upload_and_measure(backend, [large])
            many_seconds, many_rss = upload_and_measure(backend, [each] * CONCURRENT)
            lines = [
                f"[{backend.name}] 1 GiB file: {mb_per_s(LARGE, large_seconds):.0f} MB/s "
                f"({large_seconds:.1f} s); cp {mb_per_s(LARGE, cp_large):.0f} MB/s; "
                f"ratio upload/cp {cp_large / large_seconds:.2f}",
                f"[{backend.name}] {CONCURRENT} x 64 MiB concurrent: "
                f"{mb_per_s(CONCURRENT * EACH, many_seconds):.0f} MB/s "
                f"({many_seconds:.1f} s); cp {mb_per_s(CONCURRENT * EACH, cp_many):.0f} MB/s; "
                f"ratio upload/cp {cp_many / many_seconds:.2f}",
                f"[{backend.name}] 256 MiB file: {mb_per_s(SMALL, small_seconds):.0f} MB/s ({small_seconds:.1f} s)",
                f"[{backend.name}] peak RSS of the service: {small_rss / MIB:.0f} MiB for 256 MiB, "
                f"{large_rss / MIB:.0f} MiB for 1 GiB (growth x{large_rss / small_rss:.2f}); "
                f"{many_rss / MIB:.0f} MiB for {CONCURRENT} concurrent 64 MiB",
            ]
            for line in lines:
                print(line, flush=True)
            results += lines
            shutil.rmtree(backend.root / "var" / "objects", ignore_errors=True)
    finally:
        moto.terminate()
        moto.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    print("\n== upload benchmark summary (MB/s = 10^6 bytes/s)")
    for line in results:
        print(line)


if __name__ == "__main__":
    main()
