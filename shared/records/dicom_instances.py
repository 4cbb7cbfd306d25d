"""One DICOM instance per filed item: VL Photographic Image for a photo, Video Photographic Image for a video.

Built with pydicom. highdicom (preferred where it fits) has no builder for
these two IODs (its image classes cover SC, SEG, SR, PM, ANN, KO…), so the
modules are filled in here, attribute by attribute, per PS3.3 A.32.4 and
A.32.7, and checked by dciodvfy in the tests.

Where things go (see the README's DICOM section):
- Patient: PatientID = the identifier's value, IssuerOfPatientID with its
  ISO OID in IssuerOfPatientIDQualifiersSequence; PatientName split into
  family^given (the last word is the family name); PatientBirthDate.
- Study: one per encounter (StudyInstanceUID derived from its id),
  AccessionNumber and StudyID = the request's reference, StudyDescription
  and the series' RequestAttributesSequence RequestedProcedureDescription =
  the clinician's request (cut to 64 bytes), ReferringPhysicianName = the
  reviewing clinician.
- Series: one per kind (photos, videos), Modality XC (external-camera
  photography), OperatorsName = the reviewing clinician. When the free-text
  body site names one region DICOM codes (CID 4031), AnatomicRegionSequence
  holds its SNOMED CT code, BodyPartExamined its Annex L term and
  ImageLaterality the side; otherwise the sequence is empty (unknown).
- Image: AcquisitionDateTime, ContentDate/Time = when it was taken (UTC,
  TimezoneOffsetFromUTC +0000); ImageComments holds the full request, body
  site and the patient's note, which have no coded home.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import UID, JPEGBaseline8Bit

from shared.config.records import RecordSettings
from shared.records.document import RecordDocument, RecordItem
from shared.records.h264 import AvcTrack
from shared.records.jpeg_frames import JpegFrame

VL_PHOTOGRAPHIC_IMAGE = UID("1.2.840.10008.5.1.4.1.1.77.1.4")
VIDEO_PHOTOGRAPHIC_IMAGE = UID("1.2.840.10008.5.1.4.1.1.77.1.4.1")
AVC_HIGH_41 = UID("1.2.840.10008.1.2.4.102")  # MPEG-4 AVC/H.264 High Profile / Level 4.1
AVC_HIGH_42_2D = UID("1.2.840.10008.1.2.4.104")  # MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video
IMPLEMENTATION_CLASS_UID = UID("2.25.145460848553287962466451287340385338571")  # MIA's, fixed
IMPLEMENTATION_VERSION = "MIA-1"
SERIES_NUMBERS = {"photo": 1, "video": 2}
SERIES_DESCRIPTIONS = {"photo": "Photographs", "video": "Videos"}
# Words of the free-text body site → (CID 4031 region, PS3.16 Annex L Body Part Examined term), for the
# regions patients photograph most; anything else stays free text in ImageComments.
_REGIONS = {
    ("abdomen", "abdominal", "tummy", "belly"): ("Abdomen", "ABDOMEN"),
    ("ankle", "ankles"): ("AnkleJoint", "ANKLE"),
    ("arm", "arms"): ("UpperLimb", "ARM"),
    ("forearm", "forearms"): ("Forearm", "ARM"),
    ("chest",): ("Chest", "CHEST"),
    ("elbow", "elbows"): ("ElbowJoint", "ELBOW"),
    ("eye", "eyes"): ("Eye", "EYE"),
    ("finger", "fingers"): ("Finger", "FINGER"),
    ("foot", "feet"): ("Foot", "FOOT"),
    ("hand", "hands", "palm"): ("Hand", "HAND"),
    ("head",): ("Head", "HEAD"),
    ("hip", "hips"): ("Hip", "HIP"),
    ("knee", "knees"): ("Knee", "KNEE"),
    ("leg", "legs"): ("LowerLimb", "LEG"),
    ("shin", "shins", "calf", "calves"): ("LowerLeg", "LEG"),
    ("neck",): ("Neck", "NECK"),
    ("shoulder", "shoulders"): ("Shoulder", "SHOULDER"),
    ("thigh", "thighs"): ("Thigh", "THIGH"),
    ("thumb", "thumbs"): ("Thumb", "THUMB"),
    ("toe", "toes"): ("Toe", "TOE"),
    ("wrist", "wrists"): ("WristJoint", "WRIST"),
}
UNSPECIFIED_REGION = Code("123037004", "SCT", "Body structure")
BODY_REGIONS = {word: region for words, region in _REGIONS.items() for word in words}
_NARROWER = {("upper", "UpperLimb"): ("UpperArm", "ARM"), ("lower", "LowerLimb"): ("LowerLeg", "LEG")}
_LATERALITY = {"left": "L", "right": "R"}
_PN_FORBIDDEN = re.compile(r"[\\^=\x00-\x1f]")
LO_LIMIT = 64


def photo_instance(
    document: RecordDocument, item: RecordItem, jpeg: bytes, frame: JpegFrame, settings: RecordSettings
) -> Dataset:
    """The display JPEG, encapsulated as it is (JPEG Baseline), with the document's attributes."""
    ds = _common(document, item, settings, VL_PHOTOGRAPHIC_IMAGE, JPEGBaseline8Bit)
    _pixels(ds, frame.width, frame.height, len(frame.components), frame.photometric_interpretation)
    uncompressed = frame.width * frame.height * len(frame.components)
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = _decimal(uncompressed / len(jpeg))
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    ds.PixelData = encapsulate([jpeg])
    _encapsulated(ds)
    return ds


def video_instance(
    document: RecordDocument,
    item: RecordItem,
    stream: bytes,
    track: AvcTrack,
    transfer_syntax: UID,
    settings: RecordSettings,
) -> Dataset:
    """The H.264 elementary stream in one fragment (PS3.5 §8.2.8), with the frame count and timing."""
    ds = _common(document, item, settings, VIDEO_PHOTOGRAPHIC_IMAGE, transfer_syntax)
    _pixels(ds, track.width, track.height, 3, "YBR_PARTIAL_420")
    ds.NumberOfFrames = track.frame_count
    ds.FrameIncrementPointer = 0x00181063  # Frame Time
    ds.FrameTime = _decimal(track.frame_time_ms)
    ds.CineRate = max(1, round(track.frame_rate))
    ds.RecommendedDisplayFrameRate = ds.CineRate
    ds.ActualFrameDuration = max(1, round(track.frame_time_ms))
    ds.PreferredPlaybackSequencing = 0  # looping
    ds.StartTrim = 1
    ds.StopTrim = track.frame_count
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_14496_10"
    ds.PixelData = encapsulate([stream], has_bot=False)
    _encapsulated(ds)
    return ds


def avc_transfer_syntax(track: AvcTrack) -> UID | None:
    """PS3.5 §8.2.8: the H.264 transfer syntax whose profile, level, size and rate bounds the stream meets.

    A stream that needs turning to display upright fits none: an elementary
    stream has no display matrix, so PACS would show it sideways.
    """
    sps = track.sps
    long_edge, short_edge = max(track.width, track.height), min(track.width, track.height)
    if track.rotation or not sps.high_profile_decodable or not sps.progressive:
        return None
    if long_edge > 1920 or short_edge > 1080:
        return None
    high_definition = track.width * track.height > 1280 * 720
    rate = track.frame_rate
    if sps.level_idc <= 41 and rate <= (30.0 if high_definition else 60.0) + 0.01:
        return AVC_HIGH_41
    if sps.level_idc <= 42 and rate <= 60.0 + 0.01:
        return AVC_HIGH_42_2D
    return None


def person_name(name: str) -> str:
    """DICOM PN from a name as the record holds it: "Ada King Lovelace" → "Lovelace^Ada King"."""
    words = _PN_FORBIDDEN.sub(" ", name).split()
    if len(words) < 2:
        return _clip(" ".join(words), LO_LIMIT)
    return f"{_clip(words[-1], LO_LIMIT)}^{_clip(' '.join(words[:-1]), LO_LIMIT)}"


@dataclass(frozen=True)
class BodyRegion:
    code: Code  # CID 4031 Common Anatomic Region
    body_part_examined: str
    laterality: str | None  # ImageLaterality: L or R where the text says which side


def body_region(body_site: str | None) -> BodyRegion | None:
    """The coded region when the free text names exactly one that DICOM has a code and a term for."""
    words = re.findall(r"[a-z]+", (body_site or "").lower())
    regions = {BODY_REGIONS[word] for word in words if word in BODY_REGIONS}
    if len(regions) != 1:
        return None
    keyword, term = regions.pop()
    for qualifier in words:
        keyword, term = _NARROWER.get((qualifier, keyword), (keyword, term))
    sides = {_LATERALITY[word] for word in words if word in _LATERALITY}
    return BodyRegion(getattr(codes.CID4031, keyword), term, sides.pop() if len(sides) == 1 else None)


def image_comments(document: RecordDocument, item: RecordItem) -> str | None:
    lines = [
        f"Request: {document.request_note}" if document.request_note else None,
        f"Body site: {document.body_site}" if document.body_site else None,
        f"Patient's note: {item.note}" if item.note else None,
    ]
    text = "\n".join(line for line in lines if line)
    return text or None


def _common(
    document: RecordDocument, item: RecordItem, settings: RecordSettings, sop_class: UID, transfer_syntax: UID
) -> Dataset:
    ds = Dataset()
    ds.file_meta = _file_meta(sop_class, document.instance_uid(item), transfer_syntax)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = document.instance_uid(item)
    _patient(ds, document)
    _study(ds, document)
    _series(ds, document, item)
    ds.Manufacturer = "MIA"
    ds.ManufacturerModelName = "MIA"
    ds.InstitutionName = settings.institution_name
    acquired = _utc(item.acquired_at)
    ds.AcquisitionDateTime = acquired.strftime("%Y%m%d%H%M%S.%f")
    ds.ContentDate = acquired.strftime("%Y%m%d")
    ds.ContentTime = acquired.strftime("%H%M%S")
    ds.TimezoneOffsetFromUTC = "+0000"
    ds.InstanceNumber = _position(document, item)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PatientOrientation = ""
    ds.AcquisitionContextSequence = []
    ds.BurnedInAnnotation = "NO"
    ds.RecognizableVisualFeatures = "YES"
    if comments := image_comments(document, item):
        ds.ImageComments = comments
    return ds


def _file_meta(sop_class: UID, instance_uid: str, transfer_syntax: UID) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = instance_uid
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    return meta


def _patient(ds: Dataset, document: RecordDocument) -> None:
    patient = document.patient
    ds.PatientName = person_name(patient.name)
    ds.PatientID = patient.identifier.value
    ds.IssuerOfPatientID = patient.identifier.issuer
    qualifiers = Dataset()
    qualifiers.UniversalEntityID = patient.identifier.oid
    qualifiers.UniversalEntityIDType = "ISO"
    ds.IssuerOfPatientIDQualifiersSequence = [qualifiers]
    ds.PatientBirthDate = patient.date_of_birth.strftime("%Y%m%d")
    ds.PatientSex = ""


def _study(ds: Dataset, document: RecordDocument) -> None:
    submitted = _utc(document.submitted_at)
    ds.StudyInstanceUID = document.study_uid
    ds.StudyDate = submitted.strftime("%Y%m%d")
    ds.StudyTime = submitted.strftime("%H%M%S")
    ds.StudyID = document.reference[:16]
    ds.AccessionNumber = document.reference[:16]
    ds.ReferringPhysicianName = person_name(document.author.display_name)
    ds.StudyDescription = _short(document.request_note or "Clinical photography")


def _series(ds: Dataset, document: RecordDocument, item: RecordItem) -> None:
    ds.Modality = "XC"
    ds.SeriesInstanceUID = document.series_uid(item.kind)
    ds.SeriesNumber = SERIES_NUMBERS.get(item.kind, 3)
    ds.SeriesDescription = SERIES_DESCRIPTIONS.get(item.kind, item.kind)
    ds.OperatorsName = person_name(document.author.display_name)
    if document.request_note:
        request = Dataset()  # Request Attributes: what the clinician asked for (not scheduled: no procedure ids)
        request.AccessionNumber = document.reference[:16]
        request.RequestedProcedureDescription = _short(document.request_note)
        ds.RequestAttributesSequence = [request]
    region = body_region(document.body_site)
    if region:
        ds.AnatomicRegionSequence = [_coded(region.code)]
        ds.BodyPartExamined = region.body_part_examined
    elif item.is_video:  # required for video (VL Image module): say "some body structure", not a guess
        ds.AnatomicRegionSequence = [_coded(UNSPECIFIED_REGION)]
    if region and region.laterality:
        ds.ImageLaterality = region.laterality
    else:
        ds.Laterality = ""  # type 2C: the side is not known


def _coded(code: Code) -> Dataset:
    item = Dataset()
    item.CodeValue = code.value
    item.CodingSchemeDesignator = code.scheme_designator
    item.CodeMeaning = code.meaning
    return item


def _pixels(ds: Dataset, width: int, height: int, samples: int, photometric: str) -> None:
    ds.Rows = height
    ds.Columns = width
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if samples > 1:
        ds.PlanarConfiguration = 0


def _encapsulated(ds: Dataset) -> None:
    element = ds["PixelData"]
    element.VR = "OB"
    element.is_undefined_length = True


def _position(document: RecordDocument, item: RecordItem) -> int:
    same_kind = [other.media_id for other in document.items if other.kind == item.kind]
    return same_kind.index(item.media_id) + 1


def _short(text: str) -> str:
    """One line within LO's 64 (counted in bytes of the UTF-8 character set, as validators count)."""
    flat = " ".join(text.replace("\\", "/").split())  # a backslash would split an LO into values
    return flat if len(flat.encode()) <= LO_LIMIT else _clip(flat, LO_LIMIT - len("…".encode())) + "…"


def _clip(text: str, limit: int) -> str:
    """The longest prefix of `text` whose UTF-8 form fits `limit` bytes."""
    return text.encode()[:limit].decode(errors="ignore")


def _utc(moment: dt.datetime) -> dt.datetime:
    """The database's naive datetimes are UTC (shared.clock); aware ones are converted."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _decimal(value: float) -> str:
    """A DS value: at most 16 characters."""
    return f"{value:.6g}"
