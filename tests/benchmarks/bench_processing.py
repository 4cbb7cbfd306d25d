"""Processing figures (`make bench`): remux vs transcode, HEVC 1080p speed, runner and launch overhead, JPEG sizing.

Prints each figure; asserts nothing (timings belong here, not in tests).
Inputs are generated with the bundled ffmpeg and Pillow into a temp dir.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PIL import Image

from processors.ffmpeg_binary import ffmpeg_path
from processors.ffmpeg_runner import NICENESS, confined_command, run_ffmpeg
from processors.images import displayed_size, open_untrusted
from processors.probe import probe
from processors.video import VideoLimits, conversion_args, process_video
from shared.media_types.sniff import JPEG, MOV
from tests.support import media_samples

SECONDS = 10
REPEATS = 3


def best_of(repeats: int, action: Callable[[], object]) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def remux_vs_transcode(work: Path) -> None:
    source = media_samples.h264_mov(work, size="1920x1080", seconds=SECONDS)
    info, _ = probe(ffmpeg_path(), source, "mov", work_dir=work)
    target = work / "out.mp4"

    def convert(copy_video: bool) -> None:
        run_ffmpeg(
            ffmpeg_path(), conversion_args(info, source, MOV, target, copy_video=copy_video), timeout=600, cwd=work
        )

    remux = best_of(REPEATS, lambda: convert(True))
    transcode = best_of(1, lambda: convert(False))
    print(f"H.264 1080p MOV, {SECONDS} s: remux {remux:.3f} s, full transcode {transcode:.2f} s")
    print(f"  remux is {transcode / remux:.0f}× faster than transcoding the same file (ratio {remux / transcode:.4f})")


def hevc_speed_and_overhead(work: Path) -> None:
    source = media_samples.hevc_mov(work, size="1920x1080", seconds=SECONDS)
    info, _ = probe(ffmpeg_path(), source, "mov", work_dir=work)
    target = work / "hevc.mp4"
    args = conversion_args(info, source, MOV, target, copy_video=False)
    by_hand = [ffmpeg_path(), "-hide_banner", "-nostdin", *args]
    niced = ["nice", "-n", str(NICENESS), *by_hand]  # the runner's priority, for a like-for-like figure
    timings: dict[str, list[float]] = {"runner": [], "by hand": [], "by hand, niced": []}
    for _ in range(3):  # interleaved, so load from other processes falls on all three alike
        timings["by hand"].append(best_of(1, lambda: subprocess.run(by_hand, check=True, capture_output=True)))
        timings["by hand, niced"].append(best_of(1, lambda: subprocess.run(niced, check=True, capture_output=True)))
        timings["runner"].append(best_of(1, lambda: run_ffmpeg(ffmpeg_path(), args, timeout=600, cwd=work)))
    out = work / "pipeline"
    out.mkdir()
    pipeline = best_of(2, lambda: process_video(ffmpeg_path(), source, MOV, out, VideoLimits(600)))
    runner, plain, plain_niced = (min(timings[name]) for name in ("runner", "by hand", "by hand, niced"))
    print(
        f"HEVC 1080p30 MOV, {SECONDS} s → H.264 MP4, transcode step: {runner:.2f} s = {SECONDS / runner:.2f}× real time"
    )
    print(
        f"  whole pipeline (probe, transcode, verify, poster): {pipeline:.2f} s = {SECONDS / pipeline:.2f}× real time"
    )
    print(f"  identical command by hand: {plain:.2f} s (niced {plain_niced:.2f} s)")
    print(f"  overhead ratio runner / by hand = {runner / plain:.3f}")
    print(f"  overhead ratio runner / by hand at the same nice = {runner / plain_niced:.3f}")


def launch_overhead(work: Path) -> None:
    """What starting ffmpeg through the confining trampoline (`python -I -S`, limits, then exec) costs per run."""
    direct = [ffmpeg_path(), "-hide_banner", "-nostdin", "-version"]
    confined = confined_command(ffmpeg_path(), direct[1:], cpu_seconds=60)
    timings: dict[str, list[float]] = {"direct": [], "confined": []}
    for _ in range(20):  # interleaved, so load from other processes falls on both alike
        for name, command in (("direct", direct), ("confined", confined)):
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, cwd=work)
            timings[name].append(time.perf_counter() - started)
    plain, through = (statistics.median(timings[name]) for name in ("direct", "confined"))
    print(f"ffmpeg -version started directly: {plain * 1000:.1f} ms; through the trampoline: {through * 1000:.1f} ms")
    print(f"  launch cost of the trampoline per ffmpeg run: {(through - plain) * 1000:.1f} ms (median of 20)")


def jpeg_sizing(work: Path) -> None:
    path = work / "48mp.jpg"
    Image.effect_noise((1000, 750), 60).convert("RGB").resize((8000, 6000), Image.Resampling.BICUBIC).save(
        path, "JPEG", quality=90
    )

    def size_only() -> tuple[int, int]:
        with open_untrusted(path, JPEG) as image:
            return displayed_size(image)

    def full_decode() -> None:
        with open_untrusted(path, JPEG) as image:
            image.load()

    assert size_only() == (8000, 6000)
    sizing = statistics.median(best_of(1, size_only) for _ in range(20))
    decoding = statistics.median(best_of(1, full_decode) for _ in range(REPEATS))
    megabytes = path.stat().st_size / 1e6
    print(f"48-megapixel JPEG ({megabytes:.1f} MB): size from the header {sizing * 1000:.2f} ms")
    print(f"  full decode {decoding * 1000:.0f} ms; sizing is {decoding / sizing:.0f}× faster")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mia-bench-") as scratch:
        work = Path(scratch)
        for bench in (remux_vs_transcode, hevc_speed_and_overhead, launch_overhead, jpeg_sizing):
            folder = work / bench.__name__
            folder.mkdir()
            bench(folder)


if __name__ == "__main__":
    main()
