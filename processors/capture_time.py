"""When a photo or video was taken, from the original's own metadata, as naive UTC (shared.clock's form).

The display copies drop every tag (location leaks), so this is read from the
original while the processors have it open, and kept in `media.acquired_at`
for the record (DICOM AcquisitionDateTime, FHIR and XDS creation times).

Photos: EXIF DateTimeOriginal with OffsetTimeOriginal (or the Digitized
pair). A time without an offset is the camera's wall clock: read as UK
time, where MIA's patients are. Videos: iPhone's
`com.apple.quicktime.creationdate` (local time with offset) or the
container's `creation_time` (UTC). Camera clocks that were never set
(before 2000, or in the future) give no time at all rather than a wrong one.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.clock import utcnow

try:
    CAMERA_ZONE: dt.tzinfo = ZoneInfo("Europe/London")
except ZoneInfoNotFoundError:  # a minimal image without tzdata
    CAMERA_ZONE = dt.UTC
EXIF_IFD = 0x8769
EXIF_PAIRS = ((0x9003, 0x9011), (0x9004, 0x9012))  # DateTimeOriginal/OffsetTimeOriginal, Digitized
EARLIEST = dt.datetime(2000, 1, 1)
FUTURE_SLACK = dt.timedelta(days=1)
# ffmpeg's names for the metadata that carry it, best first
CONTAINER_KEYS = ("com.apple.quicktime.creationdate", "creation_time")


def exif_taken_at(exif_ifd: dict[int, object]) -> dt.datetime | None:
    """From the EXIF sub-IFD's tags (Pillow: `image.getexif().get_ifd(0x8769)`)."""
    for time_tag, offset_tag in EXIF_PAIRS:
        text, offset = exif_ifd.get(time_tag), exif_ifd.get(offset_tag)
        if not isinstance(text, str):
            continue
        try:
            moment = dt.datetime.strptime(text.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            continue
        if isinstance(offset, str) and (zone := _offset(offset.strip("\x00 "))) is not None:
            return plausible(moment.replace(tzinfo=zone))
        return plausible(moment.replace(tzinfo=CAMERA_ZONE))
    return None


def container_taken_at(metadata: dict[str, str]) -> dt.datetime | None:
    """From a video's metadata values as ffmpeg prints them (first value of each key)."""
    for key in CONTAINER_KEYS:
        text = metadata.get(key)
        if not text:
            continue
        try:
            moment = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            continue
        return plausible(moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC))
    return None


def plausible(moment: dt.datetime) -> dt.datetime | None:
    """Naive UTC, or None for a clock that was never set."""
    utc = moment.astimezone(dt.UTC).replace(tzinfo=None)
    if utc < EARLIEST or utc > utcnow() + FUTURE_SLACK:
        return None
    return utc


def _offset(text: str) -> dt.tzinfo | None:
    """EXIF's "+01:00" form."""
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":" or not (text[1:3] + text[4:]).isdigit():
        return None
    minutes = int(text[1:3]) * 60 + int(text[4:])
    if minutes > 14 * 60:
        return None
    return dt.timezone(dt.timedelta(minutes=minutes if text[0] == "+" else -minutes))
