"""Playlists dressed as video: ffmpeg opens no other file and no network address.

Two detectors, each shown to work by an unhardened ffmpeg command (the
controls): a listening socket that counts connections, and a FIFO standing
in for a local file (opening a FIFO for reading is visible to its writer).
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from processors import failures
from processors.failures import MediaRejected
from processors.ffmpeg_binary import ffmpeg_path
from processors.process_file import process_file
from processors.video import VideoLimits, process_video
from shared.media_types.sniff import MOV, MP4
from tests.support import media_samples
from tests.support.media_samples import SECRET_MARKER

LIMITS = VideoLimits(timeout_cap_seconds=60)


class Listener:
    """A TCP socket on an ephemeral loopback port that records every connection."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


class FifoTrap:
    """A named pipe holding the secret: if anything opens it for reading, `opened` becomes True."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self.opened = False
        self._closing = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)  # blocks until a reader opens the pipe
        try:
            if not self._closing:
                self.opened = True
                os.write(fd, SECRET_MARKER.encode() * 64)
        finally:
            os.close(fd)

    def close(self) -> None:
        self._closing = True
        reader = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)  # releases the writer if nobody came
        self._thread.join(timeout=5)
        os.close(reader)


@pytest.fixture
def traps(tmp_path: Path) -> Iterator[tuple[Listener, FifoTrap]]:
    secrets = tmp_path / "elsewhere"
    secrets.mkdir()
    listener, fifo = Listener(), FifoTrap(secrets / "segment.ts")
    yield listener, fifo
    listener.close()
    fifo.close()


def playlists(directory: Path, port: int, secret: Path) -> dict[str, Path]:
    url = f"http://127.0.0.1:{port}/segment0.ts"
    hls = media_samples.hls_playlist([url, f"file:{secret}", str(secret)])
    concat = media_samples.concat_playlist([url, str(secret)])
    return {
        "hls.mov": media_samples.dressed_as(directory, "IMG_0007.MOV", hls),
        "concat.mp4": media_samples.dressed_as(directory, "IMG_0008.MP4", concat),
        # an ftyp box in front makes the sniffer say MOV, so these reach ffmpeg itself
        "ftyp+hls.mov": media_samples.dressed_as(directory, "IMG_0009.MOV", media_samples.FTYP_QT + hls.encode()),
        "ftyp+concat.mov": media_samples.dressed_as(directory, "IMG_0010.MOV", media_samples.FTYP_QT + concat.encode()),
    }


def outputs_contain_secret(directory: Path) -> bool:
    return any(SECRET_MARKER.encode() in path.read_bytes() for path in directory.rglob("*") if path.is_file())


def test_playlists_dressed_as_video_open_nothing_else(tmp_path: Path, traps: tuple[Listener, FifoTrap]) -> None:
    listener, fifo = traps
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    reasons = {}
    for name, path in playlists(inputs, listener.port, fifo.path).items():
        out = tmp_path / "out" / name
        with pytest.raises(MediaRejected) as refused:
            process_file(path, out, ffmpeg=ffmpeg_path(), video_limits=LIMITS)
        reasons[name] = refused.value.reason
        for forced in (MOV, MP4):  # even with the sniffer bypassed, ffmpeg only sees an invalid MOV
            forced_out = tmp_path / "forced" / name / forced.name
            forced_out.mkdir(parents=True)
            with pytest.raises(MediaRejected) as forced_refusal:
                process_video(ffmpeg_path(), path, forced, forced_out, LIMITS)
            assert forced_refusal.value.reason == failures.VIDEO_UNREADABLE
    assert reasons == {
        "hls.mov": failures.UNSUPPORTED,
        "concat.mp4": failures.UNSUPPORTED,
        "ftyp+hls.mov": failures.VIDEO_UNREADABLE,
        "ftyp+concat.mov": failures.VIDEO_UNREADABLE,
    }
    assert listener.connections == 0
    assert not fifo.opened
    assert not outputs_contain_secret(tmp_path / "out") and not outputs_contain_secret(tmp_path / "forced")


def test_control_unhardened_ffmpeg_reads_the_local_file(tmp_path: Path, traps: tuple[Listener, FifoTrap]) -> None:
    """Proves the FIFO detector works: plain `ffmpeg -i playlist.m3u8` opens the file the playlist names."""
    _, fifo = traps
    playlist = media_samples.dressed_as(tmp_path, "list.m3u8", media_samples.hls_playlist([str(fifo.path)]))
    subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-i", str(playlist), "-f", "null", "-"], capture_output=True, timeout=60
    )
    assert fifo.opened


def test_control_permissive_ffmpeg_connects_out(tmp_path: Path, traps: tuple[Listener, FifoTrap]) -> None:
    """Proves the socket detector works: with network protocols allowed, the playlist makes ffmpeg connect."""
    listener, _ = traps
    url = f"http://127.0.0.1:{listener.port}/segment0.ts"
    playlist = media_samples.dressed_as(tmp_path, "list.m3u8", media_samples.hls_playlist([url]))
    subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-protocol_whitelist", "file,http,tcp", "-i", str(playlist), "-f", "null", "-"],
        capture_output=True,
        timeout=60,
    )
    assert listener.connections >= 1
