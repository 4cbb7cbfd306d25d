# ruff: noqa: E501, W291 - ffmpeg output is quoted verbatim (long lines, trailing spaces)
"""Reading ffmpeg's description of an input (text captured from the pinned ffmpeg 9 and from ffmpeg 6)."""

from __future__ import annotations

from processors.probe import parse_ffmpeg_header

IPHONE_HEVC_FFMPEG9 = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/tmp/mia-x/original':
  Metadata:
    major_brand     : qt  
    minor_version   : 0
    compatible_brands: qt  
    creation_time   : 2026-03-01T10:00:00.000000Z
    com.apple.quicktime.location.accuracy.horizontal: 4.766546
    com.apple.quicktime.location.ISO6709: +51.5072-000.1276+010.000/
    com.apple.quicktime.make: Apple
    com.apple.quicktime.model: iPhone 15
  Duration: 00:01:02.53, start: 0.000000, bitrate: 8012 kb/s
  Stream group #0:0[0x5]: Track Reference:
    Stream #0:0[0x1](und): Video: hevc (Main 10) (hvc1 / 0x31637668), yuv420p10le(tv, bt2020nc/bt2020/arib-std-b67), 1920x1080, 7830 kb/s, 29.98 fps, 30 tbr, 600 tbn (default)
      Metadata:
        creation_time   : 2026-03-01T10:00:00.000000Z
        handler_name    : Core Media Video
      Side data:
        DOVI configuration record: version: 1.0, profile: 8, level: 4, rpu flag: 1, el flag: 0, bl flag: 1, compatibility id: 4
        Display Matrix: rotation of -90.00 degrees
    Stream #0:3[0x4](und): Data: none (mebx / 0x7862656D), 0 kb/s (default)
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 173 kb/s (default)
    Metadata:
      handler_name    : Core Media Audio
  Stream #0:2[0x3](und): Data: none (mebx / 0x7862656D), 0 kb/s (default)
At least one output file must be specified
"""

ANDROID_H264_FFMPEG6 = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'clip.mp4':
  Metadata:
    major_brand     : isom
    com.android.version: 14
  Duration: 00:00:10.01, start: 0.000000, bitrate: 17245 kb/s
  Stream #0:0[0x1](eng): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), 1920x1080, 17000 kb/s, SAR 1:1 DAR 16:9, 30 fps, 30 tbr, 90k tbn (default)
    Metadata:
      rotate          : 90
    Side data:
      displaymatrix: rotation of -90.00 degrees
  Stream #0:1[0x2](eng): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 256 kb/s (default)
"""

MOTION_JPEG_PCM = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/tmp/x.mov':
  Duration: 00:00:02.00, start: 0.000000, bitrate: 3466 kb/s
  Stream #0:0[0x1]: Video: mjpeg (Baseline) (jpeg / 0x6765706A), yuvj422p(pc, bt470bg/unknown/unknown), 640x480, 2757 kb/s, 25 fps, 25 tbr, 12800 tbn (default)
  Stream #0:1[0x2]: Audio: pcm_s16le (sowt / 0x74776F73), 44100 Hz, mono, s16, 705 kb/s (default)
"""

AUDIO_ONLY = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/tmp/voice.m4a':
  Duration: 00:00:05.00, start: 0.000000, bitrate: 130 kb/s
  Stream #0:0[0x1](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, mono, fltp, 128 kb/s (default)
"""

NOT_A_VIDEO = """\
[in#0 @ 0x5566] moov atom not found
[in#0 @ 0x5566] Error opening input: Invalid data found when processing input
Error opening input file /tmp/x.
"""


def test_iphone_hevc_with_rotation_hdr_and_data_tracks() -> None:
    info = parse_ffmpeg_header(IPHONE_HEVC_FFMPEG9)
    assert info.duration_seconds == 62.53
    video = info.video
    assert video is not None
    assert (video.codec, video.profile, video.pix_fmt) == ("hevc", "Main 10", "yuv420p10le")
    assert video.color_transfer == "arib-std-b67" and video.is_hdr
    assert (video.width, video.height, video.rotation) == (1920, 1080, 270)
    assert video.display_size == (1080, 1920)
    assert video.fps == 29.98
    assert info.audio is not None and info.audio.codec == "aac"
    assert info.stream_kinds == ("video", "data", "audio", "data")
    assert "com.apple.quicktime.location.iso6709" in info.metadata_keys


def test_older_ffmpeg_wording_and_fields() -> None:
    info = parse_ffmpeg_header(ANDROID_H264_FFMPEG6)
    assert info.video is not None
    assert (info.video.codec, info.video.pix_fmt, info.video.color_transfer) == ("h264", "yuv420p", "bt709")
    assert info.video.display_size == (1080, 1920) and not info.video.is_hdr
    assert info.duration_seconds == 10.01


def test_motion_jpeg_with_pcm_sound() -> None:
    info = parse_ffmpeg_header(MOTION_JPEG_PCM)
    assert info.video is not None and info.video.codec == "mjpeg" and info.video.pix_fmt == "yuvj422p"
    assert info.video.rotation == 0 and info.video.display_size == (640, 480)
    assert info.audio is not None and info.audio.codec == "pcm_s16le"


def test_audio_only_has_no_video() -> None:
    info = parse_ffmpeg_header(AUDIO_ONLY)
    assert info.video is None and info.audio is not None and info.stream_kinds == ("audio",)


def test_unreadable_input_describes_nothing() -> None:
    info = parse_ffmpeg_header(NOT_A_VIDEO)
    assert info.video is None and info.audio is None and info.duration_seconds is None and not info.stream_kinds
