"""IHE ITI-41 destination: Provide and Register Document Set-b to an XDS.b document repository.

One SOAP 1.2 message per encounter with WS-Addressing, sent as MTOM/XOP
(multipart/related): the ebRS SubmitObjectsRequest holds one SubmissionSet
and one DocumentEntry per item, with the Association that makes each a
member; each item's bytes travel as their own MIME part, referenced by
xop:Include (ITI TF-2b 3.41, ITI TF-3 4.2). The XML is built with the
standard library.

Identifiers are derived, not drawn: each DocumentEntry's uniqueId is the
item's (the FHIR masterIdentifier too), and the SubmissionSet's uniqueId
follows from the encounter and its items. A retry of a submission the
registry already took is answered XDSDuplicateUniqueIdInRegistry, which
counts as filed; the objects' own ids are symbolic, so the registry gives
them UUIDs once. The RegistryResponse decides the outcome: Success is
acknowledged; busy/out-of-resources errors and a SOAP Receiver fault are
"try later" (SOAP 1.2 Part 1 5.4.6: it may succeed if resent); any other
Failure or fault is refused with its code and context.
"""

from __future__ import annotations

import email.parser
import email.policy
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from shared.config.records import RecordSettings
from shared.records import coding
from shared.records.document import ItemContent, PatientIdentifier, RecordDocument, RecordItem, derived_oid
from shared.records.errors import DestinationRefused, DestinationUnavailable
from shared.records.filer import FilingOutcome
from shared.records.reach import reaching

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
XDSB = "urn:ihe:iti:xds-b:2007"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
XOP = "http://www.w3.org/2004/08/xop/include"
for _prefix, _namespace in (("soap", SOAP), ("wsa", WSA), ("xdsb", XDSB), ("lcm", LCM), ("rim", RIM), ("rs", RS)):
    ET.register_namespace(_prefix, _namespace)
ET.register_namespace("xop", XOP)

ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
STABLE_DOCUMENT = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"  # DocumentEntry objectType (stable)
SUBMISSION_SET = "urn:uuid:a54d6aa5-d40d-43f9-88c1-b20ed1ce7b3e"
CLASSIFICATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
EXTERNAL_IDENTIFIER = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
# Classification schemes and identification schemes (ITI TF-3 Table 4.2.5-1)
DOCUMENT_SCHEMES = {
    "author": "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d",
    "classCode": "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a",
    "confidentialityCode": "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f",
    "formatCode": "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d",
    "healthcareFacilityTypeCode": "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1",
    "practiceSettingCode": "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead",
    "typeCode": "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983",
    "patientId": "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427",
    "uniqueId": "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",
}
SUBMISSION_SCHEMES = {
    "author": "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d",
    "contentTypeCode": "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500",
    "uniqueId": "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8",
    "sourceId": "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832",
    "patientId": "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",
}
# formatCode: the MIME type says all there is to know (IHE FormatCode vocabulary, ITI TF-3 Table 5.1-1).
MIME_TYPE_SUFFICIENT = coding.Code(
    "urn:ihe:iti:xds:2017:mimeTypeSufficient", "mimeType Sufficient", system="", scheme_oid="1.3.6.1.4.1.19376.1.2.3"
)
LANGUAGE = "en-GB"
# RegistryError codes that mean "the registry or repository cannot take it now" (ITI TF-3 Table 4.2.4.1-2).
TRANSIENT_ERRORS = {
    "XDSRegistryBusy",
    "XDSRepositoryBusy",
    "XDSRegistryOutOfResources",
    "XDSRepositoryOutOfResources",
}
ALREADY_FILED = "XDSDuplicateUniqueIdInRegistry"
_FREE_TEXT = 1024  # rim:FreeFormText
_HL7_DELIMITERS = str.maketrans({character: " " for character in "^|&~\\"})
_TITLES = {"dr", "mr", "mrs", "ms", "miss", "mx", "prof", "professor", "sister", "nurse"}


@dataclass(frozen=True)
class Iti41Message:
    """An MTOM/XOP ITI-41 request: the HTTP body, its Content-Type and the SOAP envelope alone (to inspect)."""

    body: bytes
    content_type: str
    envelope: bytes


def iti41_message(
    document: RecordDocument, content: ItemContent, settings: RecordSettings, *, to: str | None = None
) -> Iti41Message:
    """The Provide and Register Document Set-b request for every item of the encounter."""
    documents = [(item, content(item)) for item in document.items]
    envelope = ET.Element(f"{{{SOAP}}}Envelope")
    header = ET.SubElement(envelope, f"{{{SOAP}}}Header")
    _text(header, f"{{{WSA}}}Action", ACTION).set(f"{{{SOAP}}}mustUnderstand", "true")
    _text(header, f"{{{WSA}}}MessageID", f"urn:uuid:{uuid.uuid4()}")
    _text(ET.SubElement(header, f"{{{WSA}}}ReplyTo"), f"{{{WSA}}}Address", ANONYMOUS)
    if to:
        _text(header, f"{{{WSA}}}To", to).set(f"{{{SOAP}}}mustUnderstand", "true")
    request = ET.SubElement(
        ET.SubElement(envelope, f"{{{SOAP}}}Body"), f"{{{XDSB}}}ProvideAndRegisterDocumentSetRequest"
    )
    objects = ET.SubElement(ET.SubElement(request, f"{{{LCM}}}SubmitObjectsRequest"), f"{{{RIM}}}RegistryObjectList")
    for number, (item, data) in enumerate(documents, start=1):
        _document_entry(objects, document, item, data, f"Document{number:02d}", settings)
    _submission_set(objects, document, submission_set_unique_id(document, documents), settings)
    for number in range(1, len(documents) + 1):
        association = ET.SubElement(
            objects,
            f"{{{RIM}}}Association",
            id=f"Association{number:02d}",
            associationType=HAS_MEMBER,
            sourceObject="SubmissionSet01",
            targetObject=f"Document{number:02d}",
        )
        _slot(association, "SubmissionSetStatus", "Original")
    for number in range(1, len(documents) + 1):
        attachment = ET.SubElement(request, f"{{{XDSB}}}Document", id=f"Document{number:02d}")
        ET.SubElement(attachment, f"{{{XOP}}}Include", href=f"cid:document{number}@mia")
    xml = ET.tostring(envelope, encoding="utf-8", xml_declaration=True)
    return _mtom(xml, [data for _, data in documents], [item.content_type for item, _ in documents])


def file_xds(document: RecordDocument, content: ItemContent, settings: RecordSettings) -> FilingOutcome:
    """POST the ITI-41 request to MIA_XDS_REPOSITORY_URL and read the RegistryResponse."""
    if not settings.xds_repository_url:
        raise DestinationRefused("XDS filing is off: MIA_XDS_REPOSITORY_URL is not set.")
    if not document.items:
        raise DestinationRefused("There is nothing to file: the encounter has no photos or videos.")
    message = iti41_message(document, content, settings, to=settings.xds_repository_url)
    host = urlsplit(settings.xds_repository_url).netloc
    with reaching("The XDS repository", host, settings.timeout_seconds):
        response = requests.post(
            settings.xds_repository_url,
            data=message.body,
            headers={"Content-Type": message.content_type, "MIME-Version": "1.0"},
            timeout=settings.timeout_seconds,
        )
    return _outcome(response, host, len(document.items))


def _document_entry(
    objects: ET.Element,
    document: RecordDocument,
    item: RecordItem,
    data: bytes,
    entry_id: str,
    settings: RecordSettings,
) -> None:
    patient = document.patient
    entry = ET.SubElement(
        objects, f"{{{RIM}}}ExtrinsicObject", id=entry_id, mimeType=item.content_type, objectType=STABLE_DOCUMENT
    )
    _slot(entry, "creationTime", coding.hl7_timestamp(item.acquired_at))
    _slot(entry, "hash", coding.sha1_hex(data))
    _slot(entry, "languageCode", LANGUAGE)
    _slot(entry, "serviceStartTime", coding.hl7_timestamp(item.acquired_at))
    _slot(entry, "size", str(len(data)))
    _slot(entry, "sourcePatientId", cx(patient.identifier))
    _slot(
        entry,
        "sourcePatientInfo",
        f"PID-3|{cx(patient.identifier)}",
        f"PID-5|{_xpn(patient.name)}",
        f"PID-7|{patient.date_of_birth:%Y%m%d}",
    )
    _slot(
        entry,
        "urn:ihe:iti:xds:2013:referenceIdList",
        f"{document.reference}^^^&{settings.xds_source_id}&ISO^urn:ihe:iti:xds:2013:accession",
    )
    _localized(entry, "Name", item.title)
    _localized(entry, "Description", _comments(document, item))
    _author(entry, DOCUMENT_SCHEMES["author"], entry_id, f"{entry_id}.author", document, settings)
    codes = (
        ("classCode", coding.IMAGING),
        ("confidentialityCode", coding.NORMAL),
        ("formatCode", MIME_TYPE_SUFFICIENT),
        ("healthcareFacilityTypeCode", coding.FACILITY_TYPE),
        ("practiceSettingCode", coding.PRACTICE_SETTING),
        ("typeCode", coding.item_type(item)),
    )
    for name, code in codes:
        _classification(entry, DOCUMENT_SCHEMES[name], entry_id, f"{entry_id}.{name}", code)
    _external_id(entry, DOCUMENT_SCHEMES["patientId"], entry_id, cx(patient.identifier), "XDSDocumentEntry.patientId")
    unique_id = coding.document_unique_id(document, item)
    _external_id(entry, DOCUMENT_SCHEMES["uniqueId"], entry_id, unique_id, "XDSDocumentEntry.uniqueId")


def _submission_set(objects: ET.Element, document: RecordDocument, unique_id: str, settings: RecordSettings) -> None:
    package = ET.SubElement(objects, f"{{{RIM}}}RegistryPackage", id="SubmissionSet01")
    _slot(package, "submissionTime", coding.hl7_timestamp(document.reviewed_at))
    _localized(package, "Name", f"Photos and videos for request {document.reference}")
    _author(package, SUBMISSION_SCHEMES["author"], "SubmissionSet01", "SubmissionSet01.author", document, settings)
    _classification(
        package, SUBMISSION_SCHEMES["contentTypeCode"], "SubmissionSet01", "SubmissionSet01.contentType", coding.IMAGING
    )
    identifiers = (
        ("uniqueId", unique_id, "XDSSubmissionSet.uniqueId"),
        ("sourceId", settings.xds_source_id, "XDSSubmissionSet.sourceId"),
        ("patientId", cx(document.patient.identifier), "XDSSubmissionSet.patientId"),
    )
    for scheme, value, name in identifiers:
        _external_id(package, SUBMISSION_SCHEMES[scheme], "SubmissionSet01", value, name)
    ET.SubElement(
        objects,
        f"{{{RIM}}}Classification",
        id="SubmissionSet01.node",
        classifiedObject="SubmissionSet01",
        classificationNode=SUBMISSION_SET,
        objectType=CLASSIFICATION,
    )


def submission_set_unique_id(document: RecordDocument, documents: list[tuple[RecordItem, bytes]]) -> str:
    """The same for the same encounter, items and bytes: a retry of what the registry took is a duplicate.

    Changed bytes (a display copy made again) make a new submission, which the registry refuses with
    XDSNonIdenticalHash rather than counting it as already filed.
    """
    members = sorted(f"{item.media_id}:{coding.sha1_hex(data)}" for item, data in documents)
    return derived_oid("xds-submission-set", document.encounter_id, *members)


def cx(identifier: PatientIdentifier) -> str:
    """HL7 v2 CX with an ISO assigning authority, as XDS patientId requires: value^^^&oid&ISO."""
    return f"{identifier.value}^^^&{identifier.oid}&ISO"


def _xpn(name: str) -> str:
    """HL7 v2 XPN (family^given) from the name as the record holds it ("Ada Lovelace")."""
    words = name.translate(_HL7_DELIMITERS).split()
    return f"{words[-1]}^{' '.join(words[:-1])}" if words else ""


def _xcn(username: str, display_name: str, authority: str) -> str:
    """HL7 v2 XCN: id^family^given^^^prefix^^^&oid&ISO, the clinician's MIA username under MIA's OID."""
    words = display_name.translate(_HL7_DELIMITERS).split()
    prefix = words.pop(0) if len(words) > 1 and words[0].lower().rstrip(".") in _TITLES else ""
    family = words[-1] if words else ""
    given = " ".join(words[:-1])
    return f"{username.translate(_HL7_DELIMITERS)}^{family}^{given}^^^{prefix}^^^&{authority}&ISO"


def _author(
    parent: ET.Element, scheme: str, classified: str, node_id: str, document: RecordDocument, settings: RecordSettings
) -> None:
    author = ET.SubElement(
        parent,
        f"{{{RIM}}}Classification",
        id=node_id,
        classificationScheme=scheme,
        classifiedObject=classified,
        nodeRepresentation="",
        objectType=CLASSIFICATION,
    )
    _slot(author, "authorPerson", _xcn(document.author.username, document.author.display_name, settings.xds_source_id))
    _slot(author, "authorInstitution", document.organisation_name.translate(_HL7_DELIMITERS))
    if document.author.team:
        _slot(author, "authorSpecialty", document.author.team.translate(_HL7_DELIMITERS))


def _classification(parent: ET.Element, scheme: str, classified: str, node_id: str, code: coding.Code) -> None:
    node = ET.SubElement(
        parent,
        f"{{{RIM}}}Classification",
        id=node_id,
        classificationScheme=scheme,
        classifiedObject=classified,
        nodeRepresentation=code.code,
        objectType=CLASSIFICATION,
    )
    _slot(node, "codingScheme", code.scheme_oid)
    _localized(node, "Name", code.display)


def _external_id(parent: ET.Element, scheme: str, registry_object: str, value: str, name: str) -> None:
    identifier = ET.SubElement(
        parent,
        f"{{{RIM}}}ExternalIdentifier",
        id=f"{registry_object}.{name.rsplit('.', 1)[-1]}",
        registryObject=registry_object,
        identificationScheme=scheme,
        value=value,
        objectType=EXTERNAL_IDENTIFIER,
    )
    _localized(identifier, "Name", name)


def _slot(parent: ET.Element, name: str, *values: str) -> None:
    value_list = ET.SubElement(ET.SubElement(parent, f"{{{RIM}}}Slot", name=name), f"{{{RIM}}}ValueList")
    for value in values:
        _text(value_list, f"{{{RIM}}}Value", value[:256])


def _localized(parent: ET.Element, element: str, value: str) -> None:
    wrapper = ET.SubElement(parent, f"{{{RIM}}}{element}")
    ET.SubElement(wrapper, f"{{{RIM}}}LocalizedString", value=value[:_FREE_TEXT])


def _text(parent: ET.Element, tag: str, value: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = value
    return element


def _comments(document: RecordDocument, item: RecordItem) -> str:
    """DocumentEntry.comments: the notes and the patient's consent, for registries that show only text."""
    parts = [f"{item.title} sent by the patient for request {document.reference}"]
    if document.body_site:
        parts.append(f"Body site: {document.body_site}")
    if item.note:
        parts.append(f"The patient's note: {item.note}")
    consent = coding.consent_sentence(document)
    text = ". ".join(parts) + ". "
    return text[: _FREE_TEXT - len(consent)] + consent


def _mtom(xml: bytes, attachments: list[bytes], content_types: list[str]) -> Iti41Message:
    """multipart/related with the SOAP envelope as the XOP root and one binary part per document."""
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    root_type = f'application/xop+xml; charset=UTF-8; type="application/soap+xml"; action="{ACTION}"'
    parts = [_part(root_type, "root.message@mia", xml)]
    for number, (data, content_type) in enumerate(zip(attachments, content_types, strict=True), start=1):
        parts.append(_part(content_type, f"document{number}@mia", data))
    delimiter = f"--{boundary}\r\n".encode("ascii")
    body = b"".join(delimiter + part + b"\r\n" for part in parts) + f"--{boundary}--\r\n".encode("ascii")
    content_type = (
        f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; start="<root.message@mia>"; '
        f'start-info="application/soap+xml"; action="{ACTION}"'
    )
    return Iti41Message(body=body, content_type=content_type, envelope=xml)


def _part(content_type: str, content_id: str, data: bytes) -> bytes:
    headers = f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{content_id}>\r\n\r\n"
    return headers.encode("ascii") + data


def _outcome(response: requests.Response, host: str, count: int) -> FilingOutcome:
    status = response.status_code
    envelope = _soap_envelope(response)
    fault = envelope.find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault") if envelope is not None else None
    if fault is not None:
        code = (fault.findtext(f"{{{SOAP}}}Code/{{{SOAP}}}Value") or "").split(":")[-1]
        reason = " ".join((fault.findtext(f"{{{SOAP}}}Reason/{{{SOAP}}}Text") or "no reason given").split())
        if code == "Receiver":
            raise DestinationUnavailable(f"The XDS repository at {host} could not process it now: {reason[:300]}")
        raise DestinationRefused(
            f"The XDS repository at {host} refused the message (SOAP fault {code}): {reason[:300]}"
        )
    if status == 429 or status >= 500:
        raise DestinationUnavailable(f"The XDS repository at {host} answered {status}.")
    if status >= 300:
        raise DestinationRefused(f"The XDS repository at {host} refused the message ({status}).")
    registry = envelope.find(f".//{{{RS}}}RegistryResponse") if envelope is not None else None
    if registry is None:
        raise DestinationRefused(f"The XDS repository at {host} answered {status} without a RegistryResponse.")
    if registry.get("status") == SUCCESS:
        return FilingOutcome(
            acknowledged=True, detail=f"{count} document{'s' if count != 1 else ''} registered via {host}"
        )
    errors = [
        (error.get("errorCode") or "", " ".join((error.get("codeContext") or "").split()))
        for error in registry.iter(f"{{{RS}}}RegistryError")
        if (error.get("severity") or "").endswith(":Error")
    ]
    if errors and all(code == ALREADY_FILED for code, _ in errors):
        return FilingOutcome(acknowledged=True, detail=f"{count} documents already registered via {host} (refiled)")
    if errors and all(code in TRANSIENT_ERRORS for code, _ in errors):
        raise DestinationUnavailable(f"The XDS repository at {host} is busy ({errors[0][0]}): {errors[0][1][:200]}")
    code, context = errors[0] if errors else ("no RegistryError", registry.get("status") or "")
    raise DestinationRefused(f"The XDS repository at {host} refused the submission ({code}): {context[:300]}")


def _soap_envelope(response: requests.Response) -> ET.Element | None:
    """The SOAP envelope of the answer, plain or as the root of an MTOM multipart; None when there is none."""
    raw = response.content
    content_type = response.headers.get("Content-Type", "")
    if content_type.lower().startswith("multipart/related"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + raw
        )
        parts = [part for part in message.iter_parts()] if message.is_multipart() else []
        start = message.get_param("start")
        root = next((part for part in parts if part.get("Content-ID") == start), parts[0] if parts else None)
        raw = root.get_payload(decode=True) if root is not None else b""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "<!DOCTYPE" in text.upper():  # no DTD, so no entity can expand or fetch anything
        return None
    try:
        envelope = ET.fromstring(text)  # noqa: S314 - UTF-8 without a DTD (checked above)
    except ET.ParseError:
        return None
    return envelope if envelope.tag == f"{{{SOAP}}}Envelope" else None
