"""DICOM filing: each reviewed photo and video as a DICOM instance, stored in the PACS by DICOMweb STOW-RS.

Photos go as they are: the display JPEG, baseline, encapsulated without
re-encoding (a progressive one, made before display copies were baseline,
goes through `fit_photo`: a lossless jpegtran rewrite). Videos go as their
H.264 elementary stream, under the transfer syntax its profile, level, size
and frame rate fit (PS3.5 §8.2.8). Only a stream that fits none (too big,
too fast, 10-bit, interlaced, or stored turned with a display matrix) goes
through `fit_video`, which transcodes a copy for this purpose; the display
copy itself is never changed.

Instances go in batches (photos together up to BATCH_BYTES, each video on
its own), so a large video never shares memory with other instances. The
UIDs are derived from the encounter and media ids: a refiling sends the same
instances, and a PACS that already holds one answers "duplicate" (or, like
Orthanc, stores it again under the same UID), which counts as filed. A
filing that fails half-way is simply sent again whole.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import requests
from pydicom.dataset import Dataset

from shared.config.records import RecordSettings
from shared.records.dicom_instances import avc_transfer_syntax, photo_instance, video_instance
from shared.records.document import ItemContent, RecordDocument, RecordItem
from shared.records.errors import DestinationRefused
from shared.records.filer import FilingOutcome
from shared.records.h264 import AvcTrack, NotAnAvcVideo, read_avc_track
from shared.records.jpeg_frames import JpegFrame, NotAJpeg, jpeg_frame
from shared.records.stow import StowAnswer, read_stow_answer, stow_request

log = logging.getLogger("mia.records.dicom")

BATCH_BYTES = 32 * 1024 * 1024

FitVideo = Callable[[bytes], bytes]  # an MP4 whose H.264 fits no transfer syntax → one that fits .102
FitPhoto = Callable[[bytes], bytes]  # a progressive JPEG → the same coefficients as a baseline JPEG (lossless)


@dataclass(frozen=True)
class EncodedInstance:
    sop_instance_uid: str
    data: bytes  # the Part 10 file


@dataclass
class _Tally:
    stored: int = 0
    duplicates: int = 0
    unconfirmed: int = 0
    rewritten: list[str] = field(default_factory=list)  # items whose copy had to be made to fit

    def add(self, answer: StowAnswer) -> None:
        self.stored += answer.stored
        self.duplicates += answer.duplicates
        self.unconfirmed += answer.unconfirmed


def file_dicom(
    document: RecordDocument,
    content: ItemContent,
    settings: RecordSettings,
    *,
    fit_video: FitVideo | None = None,
    fit_photo: FitPhoto | None = None,
) -> FilingOutcome:
    """Send every item of `document` to the PACS; raises DestinationUnavailable or DestinationRefused."""
    if not settings.dicomweb_url:
        raise DestinationRefused("DICOM filing is off: MIA_DICOMWEB_URL is not set")
    tally = _Tally()
    with requests.Session() as session:
        for batch in _batches(document, content, settings, (fit_video, fit_photo), tally):
            response = stow_request(session, settings, [instance.data for instance in batch])
            tally.add(read_stow_answer(response, [instance.sop_instance_uid for instance in batch]))
    total = len(document.items)
    detail = f"{total} instance{'s' if total != 1 else ''} in study {document.study_uid}"
    if tally.duplicates:
        detail += f" ({tally.duplicates} already held)"
    if tally.rewritten:
        detail += f"; rewritten for DICOM: {', '.join(tally.rewritten)}"
    log.info(
        "filed to DICOM",
        extra={"encounter_id": document.encounter_id, "stored": tally.stored, "duplicates": tally.duplicates},
    )
    return FilingOutcome(acknowledged=tally.unconfirmed == 0, detail=detail)


def encode_item(
    document: RecordDocument,
    item: RecordItem,
    data: bytes,
    settings: RecordSettings,
    fit_video: FitVideo | None = None,
    fit_photo: FitPhoto | None = None,
) -> tuple[Dataset, bool]:
    """The item's DICOM dataset, and whether it had to be rewritten to fit a transfer syntax."""
    if item.is_video:
        return _video_dataset(document, item, data, settings, fit_video)
    frame = _jpeg(item, data)
    rewritten = False
    if not frame.is_baseline and fit_photo is not None:
        # display copies made before they were baseline are progressive: same coefficients, re-ordered
        data, rewritten = fit_photo(data), True
        frame = _jpeg(item, data)
    if not frame.is_baseline:
        raise DestinationRefused(
            f"{item.title}: its display copy is not a baseline 8-bit JPEG (it was made before DICOM filing "
            "existed); process the photo again to file it"
        )
    return photo_instance(document, item, data, frame, settings), rewritten


def _jpeg(item: RecordItem, data: bytes) -> JpegFrame:
    try:
        return jpeg_frame(data)
    except NotAJpeg as exc:
        raise DestinationRefused(f"{item.title}: its display copy is not a readable JPEG ({exc})") from None


def _video_dataset(
    document: RecordDocument, item: RecordItem, mp4: bytes, settings: RecordSettings, fit_video: FitVideo | None
) -> tuple[Dataset, bool]:
    track = _track(item, mp4)
    syntax = avc_transfer_syntax(track)
    transcoded = False
    if syntax is None:
        if fit_video is None:
            raise DestinationRefused(
                f"{item.title}: its H.264 stream fits no DICOM transfer syntax and no transcoder is configured"
            )
        mp4 = fit_video(mp4)
        track = _track(item, mp4)
        syntax = avc_transfer_syntax(track)
        transcoded = True
        if syntax is None:
            raise DestinationRefused(f"{item.title}: even transcoded, the video fits no DICOM transfer syntax")
    stream = track.annex_b(mp4)
    del mp4
    return video_instance(document, item, stream, track, syntax, settings), transcoded


def _track(item: RecordItem, mp4: bytes) -> AvcTrack:
    try:
        return read_avc_track(mp4)
    except (NotAnAvcVideo, IndexError, ValueError) as exc:
        raise DestinationRefused(f"{item.title}: its display copy is not a readable H.264 MP4 ({exc})") from None


def part10(dataset: Dataset) -> bytes:
    """The dataset as a DICOM file (preamble, file meta, body): what STOW-RS carries."""
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _batches(
    document: RecordDocument,
    content: ItemContent,
    settings: RecordSettings,
    fits: tuple[FitVideo | None, FitPhoto | None],
    tally: _Tally,
) -> Iterator[list[EncodedInstance]]:
    batch: list[EncodedInstance] = []
    size = 0
    for item in document.items:
        dataset, rewritten = encode_item(document, item, content(item), settings, *fits)
        if rewritten:
            tally.rewritten.append(item.title)
        instance = EncodedInstance(document.instance_uid(item), part10(dataset))
        del dataset
        if item.is_video or size + len(instance.data) > BATCH_BYTES:
            if batch:
                yield batch
            batch, size = [], 0
        if item.is_video:
            yield [instance]
            continue
        batch.append(instance)
        size += len(instance.data)
    if batch:
        yield batch
