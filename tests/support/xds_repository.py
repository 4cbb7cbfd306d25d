"""An XDS.b document repository (with its registry) on loopback, taking ITI-41 as IHE specifies it.

What it checks, in the order a real repository and registry do:

- HTTP: POST to its endpoint, MTOM/XOP only (`multipart/related;
  type="application/xop+xml"; start-info="application/soap+xml"`), else a
  SOAP 1.2 Sender fault (HTTP 400);
- SOAP 1.2 envelope with WS-Addressing: Action
  urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b (else the
  wsa:ActionNotSupported fault) and a MessageID;
- XOP: every xop:Include names a MIME part by Content-ID and is replaced by
  the part's bytes (base64) before anything else reads the body;
- the ProvideAndRegisterDocumentSetRequest is validated with lxml against
  the IHE XDS.b and OASIS ebRS 3.0 rim/rs/lcm/query schemas
  (tests/support/schemas/), then each required DocumentEntry and
  SubmissionSet attribute, slot, classification and external identifier
  of ITI TF-3 4.2 (XDSRegistryMetadataError naming what is missing), the
  HasMember associations, one Document per DocumentEntry and back
  (XDSMissingDocument / XDSMissingDocumentMetadata), hash and size against
  the bytes (XDSRepositoryMetadataError), the patient ids agreeing
  (XDSPatientIdDoesNotMatch) and in a known domain (XDSUnknownPatientId),
  and the registry's uniqueness rules (XDSDuplicateUniqueIdInRegistry for
  a SubmissionSet it holds, XDSNonIdenticalHash for a known document with
  other bytes). A failed submission stores nothing.

It answers a RegistryResponse (Success or Failure with RegistryErrors) in an
MTOM envelope as repositories do, with WS-Addressing. A test can make the
next POSTs answer an HTTP 500/503, a SOAP fault, a chosen RegistryError,
answer slowly, or close the connection.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import re
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from lxml import etree

from shared.config.records import NHS_NUMBER_OID
from tests.support.loopback_http import LoopbackServer

SCHEMA = Path(__file__).parent / "schemas" / "IHE" / "XDS.b_DocumentRepository.xsd"
PATH = "/xds/iti41"
SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
XDSB = "urn:ihe:iti:xds-b:2007"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
XOP = "http://www.w3.org/2004/08/xop/include"
NS = {"soap": SOAP, "wsa": WSA, "xdsb": XDSB, "rim": RIM, "rs": RS, "lcm": LCM, "xop": XOP}
ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
STABLE_DOCUMENT = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c1-b20ed1ce7b3e"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
# ITI TF-3 Table 4.2.5-1: what a DocumentEntry and a SubmissionSet must carry in an ITI-41 request.
DOCUMENT_CLASSIFICATIONS = {
    "classCode": "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a",
    "confidentialityCode": "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f",
    "formatCode": "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d",
    "healthcareFacilityTypeCode": "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1",
    "practiceSettingCode": "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead",
    "typeCode": "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983",
}
DOCUMENT_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DOCUMENT_IDENTIFIERS = {
    "patientId": "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427",
    "uniqueId": "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",
}
DOCUMENT_SLOTS = ("creationTime", "languageCode", "sourcePatientId")
SUBMISSION_CLASSIFICATIONS = {"contentTypeCode": "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"}
SUBMISSION_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SUBMISSION_IDENTIFIERS = {
    "uniqueId": "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8",
    "sourceId": "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832",
    "patientId": "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",
}
_CX = re.compile(r"(?P<value>[^^&]+)\^\^\^&(?P<oid>[0-2](\.(0|[1-9][0-9]*))+)&ISO")
_DTM = re.compile(r"\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2})?)?)?)?)?")
_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")


class SubmissionFailed(Exception):
    """The registry or repository refuses the submission with these RegistryErrors (code, context)."""

    def __init__(self, *errors: tuple[str, str]) -> None:
        super().__init__(errors[0][1])
        self.errors = errors


class SoapFault(Exception):
    def __init__(self, code: str, reason: str, subcode: str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.subcode = subcode


@dataclass
class Fault:
    """What the next POST does instead of answering normally."""

    status: int | None = None  # an HTTP error with no SOAP body (a proxy's 502/503, a crashed server's 500)
    soap_fault: tuple[str, str] | None = None  # (Sender or Receiver, reason)
    registry_error: tuple[str, str] | None = None  # (errorCode, codeContext) in a Failure RegistryResponse
    delay_seconds: float = 0.0  # process, then wait before answering
    close: bool = False


@dataclass
class StoredDocument:
    unique_id: str
    mime_type: str
    data: bytes
    hash: str
    patient_id: str
    entry: bytes  # the ExtrinsicObject as received


@dataclass
class Submission:
    unique_id: str
    source_id: str
    patient_id: str
    document_ids: list[str]
    envelope: bytes  # the SOAP envelope with the XOP includes resolved


@dataclass
class Registry:
    documents: dict[str, StoredDocument] = field(default_factory=dict)
    submissions: dict[str, Submission] = field(default_factory=dict)


class XdsRepository(LoopbackServer[Fault]):
    """The server: start/stop, what it holds, and the faults a test switches on."""

    def __init__(self, patient_domains: tuple[str, ...] = (NHS_NUMBER_OID,)) -> None:
        self.patient_domains = patient_domains
        self.registry = Registry()
        self.received: list[bytes] = []  # every request body as sent
        self.schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
        super().__init__(_handler_for(self), "xds-loopback")

    @property
    def url(self) -> str:
        return f"{self.origin}{PATH}"

    def provide_and_register(self, content_type: str, body: bytes) -> tuple[str | None, bytes]:
        """Check and store one ITI-41 request; (the request's MessageID, the RegistryResponse element)."""
        envelope, parts = _unpack(content_type, body)
        message_id = _addressing(envelope)
        request = envelope.find("soap:Body/xdsb:ProvideAndRegisterDocumentSetRequest", NS)
        if request is None:
            raise SoapFault("Sender", "The Body holds no ProvideAndRegisterDocumentSetRequest")
        try:
            attachments = _resolve_xop(request, parts)
            if not self.schema.validate(request):
                error = self.schema.error_log.last_error
                raise SubmissionFailed(("XDSRepositoryMetadataError", f"Schema: line {error.line}: {error.message}"))
            with self.lock:
                self._register(request, attachments, etree.tostring(envelope))
        except SubmissionFailed as failed:
            return message_id, _registry_response(FAILURE, failed.errors)
        return message_id, _registry_response(SUCCESS, ())

    def _register(self, request: etree._Element, attachments: dict[str, bytes], envelope: bytes) -> None:
        objects = request.find("lcm:SubmitObjectsRequest/rim:RegistryObjectList", NS)
        package = _submission_set(objects)
        entries = objects.findall("rim:ExtrinsicObject", NS)
        errors: list[tuple[str, str]] = []
        submission_patient = _external_id(package, SUBMISSION_IDENTIFIERS["patientId"], "XDSSubmissionSet", errors)
        submission_unique = _external_id(package, SUBMISSION_IDENTIFIERS["uniqueId"], "XDSSubmissionSet", errors)
        source_id = _external_id(package, SUBMISSION_IDENTIFIERS["sourceId"], "XDSSubmissionSet", errors)
        _check_submission_set(package, errors)
        members = {
            association.get("targetObject")
            for association in objects.findall("rim:Association", NS)
            if association.get("associationType") == HAS_MEMBER and association.get("sourceObject") == package.get("id")
            and _slot_values(association, "SubmissionSetStatus") == ["Original"]
        }  # fmt: skip
        documents: list[StoredDocument] = []
        for entry in entries:
            documents.append(self._check_entry(entry, attachments, members, submission_patient, errors))
        for missing in set(attachments) - {entry.get("id") for entry in entries}:
            errors.append(("XDSMissingDocumentMetadata", f"Document {missing} has no DocumentEntry"))
        if errors:
            raise SubmissionFailed(*errors)
        for patient_id in {submission_patient, *(document.patient_id for document in documents)}:
            match = _CX.fullmatch(patient_id or "")
            if match is None or match["oid"] not in self.patient_domains:
                raise SubmissionFailed(("XDSUnknownPatientId", f"Patient id {patient_id} is not of a known domain"))
        if submission_unique in self.registry.submissions:
            raise SubmissionFailed(
                ("XDSDuplicateUniqueIdInRegistry", f"SubmissionSet uniqueId {submission_unique} is already registered")
            )
        for document in documents:
            known = self.registry.documents.get(document.unique_id)
            if known is not None and known.hash != document.hash:
                raise SubmissionFailed(
                    ("XDSNonIdenticalHash", f"Document {document.unique_id} is registered with other content")
                )
        for document in documents:
            self.registry.documents.setdefault(document.unique_id, document)
        self.registry.submissions[submission_unique] = Submission(
            submission_unique, source_id, submission_patient, [document.unique_id for document in documents], envelope
        )

    def _check_entry(
        self,
        entry: etree._Element,
        attachments: dict[str, bytes],
        members: set[str | None],
        submission_patient: str,
        errors: list[tuple[str, str]],
    ) -> StoredDocument:
        entry_id = entry.get("id") or ""
        where = f"XDSDocumentEntry {entry_id}"
        if entry.get("objectType") != STABLE_DOCUMENT:
            errors.append(("XDSRegistryMetadataError", f"{where}: objectType is not the stable DocumentEntry type"))
        if not entry.get("mimeType"):
            errors.append(("XDSRegistryMetadataError", f"{where}: mimeType missing"))
        for slot in DOCUMENT_SLOTS:
            if len(_slot_values(entry, slot)) != 1:
                errors.append(("XDSRegistryMetadataError", f"{where}: slot {slot} missing"))
        creation = (_slot_values(entry, "creationTime") or [""])[0]
        if creation and not _DTM.fullmatch(creation):
            errors.append(("XDSRegistryMetadataError", f"{where}: creationTime {creation} is not an HL7 DTM"))
        for name, scheme in DOCUMENT_CLASSIFICATIONS.items():
            _check_code(entry, scheme, f"{where}.{name}", errors)
        _check_author(entry, DOCUMENT_AUTHOR, where, errors)
        patient_id = _external_id(entry, DOCUMENT_IDENTIFIERS["patientId"], where, errors)
        unique_id = _external_id(entry, DOCUMENT_IDENTIFIERS["uniqueId"], where, errors)
        if unique_id and (not _OID.fullmatch(unique_id) or len(unique_id) > 64):
            errors.append(("XDSRegistryMetadataError", f"{where}: uniqueId {unique_id} is not an OID of up to 64"))
        source_patient = (_slot_values(entry, "sourcePatientId") or [""])[0]
        if source_patient and not _CX.fullmatch(source_patient):
            errors.append(("XDSRegistryMetadataError", f"{where}: sourcePatientId {source_patient} is not a CX"))
        if patient_id and submission_patient and patient_id != submission_patient:
            errors.append(("XDSPatientIdDoesNotMatch", f"{where}: patientId differs from the SubmissionSet's"))
        if entry_id not in members:
            errors.append(("XDSRegistryMetadataError", f"{where}: no HasMember association from the SubmissionSet"))
        data = attachments.get(entry_id)
        if data is None:
            errors.append(("XDSMissingDocument", f"{where} has no Document"))
            data = b""
        digest = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        if _slot_values(entry, "hash") not in ([], [digest]):
            errors.append(("XDSRepositoryMetadataError", f"{where}: hash does not match the document"))
        if _slot_values(entry, "size") not in ([], [str(len(data))]):
            errors.append(("XDSRepositoryMetadataError", f"{where}: size does not match the document"))
        return StoredDocument(unique_id, entry.get("mimeType") or "", data, digest, patient_id, etree.tostring(entry))


def _unpack(content_type: str, body: bytes) -> tuple[etree._Element, dict[str, bytes]]:
    """The SOAP envelope (the XOP root) and the other MIME parts by Content-ID."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body
    )
    if (
        message.get_content_type() != "multipart/related"
        or message.get_param("type") != "application/xop+xml"
        or message.get_param("start-info") != "application/soap+xml"
    ):
        raise SoapFault("Sender", "ITI-41 requires MTOM/XOP: multipart/related; type=application/xop+xml")
    parts = list(message.iter_parts())
    start = message.get_param("start")
    root = next((part for part in parts if part.get("Content-ID") == start), parts[0] if parts else None)
    if root is None or root.get_content_type() != "application/xop+xml":
        raise SoapFault("Sender", "The XOP root part is missing or not application/xop+xml")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        envelope = etree.fromstring(root.get_payload(decode=True), parser)
    except etree.XMLSyntaxError as exc:
        raise SoapFault("Sender", f"The SOAP envelope is not well-formed XML: {exc}") from exc
    if envelope.tag != f"{{{SOAP}}}Envelope":
        raise SoapFault("VersionMismatch", "Expected a SOAP 1.2 envelope")
    others = {
        str(part.get("Content-ID", "")).strip("<>"): part.get_payload(decode=True) for part in parts if part is not root
    }
    return envelope, others


def _addressing(envelope: etree._Element) -> str | None:
    action = envelope.findtext("soap:Header/wsa:Action", namespaces=NS)
    if action != ACTION:
        raise SoapFault("Sender", f"The endpoint does not support the action {action!r}", "wsa:ActionNotSupported")
    message_id = envelope.findtext("soap:Header/wsa:MessageID", namespaces=NS)
    if not message_id:
        raise SoapFault("Sender", "A required header representing a Message Addressing Property is not present",
                        "wsa:MessageAddressingHeaderRequired")  # fmt: skip
    return message_id


def _resolve_xop(request: etree._Element, parts: dict[str, bytes]) -> dict[str, bytes]:
    """Replace each xop:Include by its part's bytes (the XOP infoset); the documents by DocumentEntry id."""
    documents: dict[str, bytes] = {}
    for document in request.findall("xdsb:Document", NS):
        include = document.find("xop:Include", NS)
        if include is None:
            data = base64.b64decode(document.text or "")
        else:
            href = include.get("href") or ""
            if not href.startswith("cid:") or href[4:] not in parts:
                raise SubmissionFailed(("XDSMissingDocument", f"xop:Include {href} names no MIME part"))
            data = parts[href[4:]]
            document.remove(include)
            document.text = base64.b64encode(data).decode("ascii")
        documents[document.get("id") or ""] = data
    return documents


def _submission_set(objects: etree._Element) -> etree._Element:
    classified = {
        node.get("classifiedObject")
        for node in objects.findall("rim:Classification", NS)
        if node.get("classificationNode") == SUBMISSION_SET_NODE
    }
    packages = [package for package in objects.findall("rim:RegistryPackage", NS) if package.get("id") in classified]
    if len(packages) != 1:
        raise SubmissionFailed(("XDSRegistryMetadataError", f"Expected one SubmissionSet, found {len(packages)}"))
    return packages[0]


def _check_submission_set(package: etree._Element, errors: list[tuple[str, str]]) -> None:
    submitted = _slot_values(package, "submissionTime")
    if len(submitted) != 1 or not _DTM.fullmatch(submitted[0]):
        errors.append(("XDSRegistryMetadataError", "XDSSubmissionSet: slot submissionTime missing or not a DTM"))
    for name, scheme in SUBMISSION_CLASSIFICATIONS.items():
        _check_code(package, scheme, f"XDSSubmissionSet.{name}", errors)
    _check_author(package, SUBMISSION_AUTHOR, "XDSSubmissionSet", errors)


def _slot_values(element: etree._Element, name: str) -> list[str]:
    return [value.text or "" for value in element.findall(f"rim:Slot[@name='{name}']/rim:ValueList/rim:Value", NS)]


def _classifications(element: etree._Element, scheme: str) -> list[etree._Element]:
    return [node for node in element.findall("rim:Classification", NS) if node.get("classificationScheme") == scheme]


def _check_code(element: etree._Element, scheme: str, where: str, errors: list[tuple[str, str]]) -> None:
    nodes = _classifications(element, scheme)
    if len(nodes) != 1:
        errors.append(("XDSRegistryMetadataError", f"{where}: expected one, found {len(nodes)}"))
        return
    node = nodes[0]
    if not node.get("nodeRepresentation") or len(_slot_values(node, "codingScheme")) != 1:
        errors.append(("XDSRegistryMetadataError", f"{where}: code or codingScheme missing"))
    if node.get("classifiedObject") != element.get("id"):
        errors.append(("XDSRegistryMetadataError", f"{where}: classifies another object"))


def _check_author(element: etree._Element, scheme: str, where: str, errors: list[tuple[str, str]]) -> None:
    for node in _classifications(element, scheme):
        if node.get("nodeRepresentation") != "":
            errors.append(("XDSRegistryMetadataError", f"{where}.author: nodeRepresentation must be empty"))
        if not (_slot_values(node, "authorPerson") or _slot_values(node, "authorInstitution")):
            errors.append(("XDSRegistryMetadataError", f"{where}.author: neither authorPerson nor authorInstitution"))


def _external_id(element: etree._Element, scheme: str, where: str, errors: list[tuple[str, str]]) -> str:
    found = [
        identifier
        for identifier in element.findall("rim:ExternalIdentifier", NS)
        if identifier.get("identificationScheme") == scheme
    ]
    if len(found) != 1 or not found[0].get("value") or found[0].get("registryObject") != element.get("id"):
        errors.append(("XDSRegistryMetadataError", f"{where}: external identifier {scheme} missing or wrong"))
        return ""
    return found[0].get("value") or ""


def _registry_response(status: str, errors: tuple[tuple[str, str], ...]) -> bytes:
    response = etree.Element(f"{{{RS}}}RegistryResponse", status=status, nsmap={"rs": RS})
    if errors:
        error_list = etree.SubElement(response, f"{{{RS}}}RegistryErrorList")
        for code, context in errors:
            etree.SubElement(
                error_list, f"{{{RS}}}RegistryError", errorCode=code, codeContext=context, severity=ERROR, location=""
            )
    return etree.tostring(response)


def _envelope(body: bytes, relates_to: str | None, action: str) -> bytes:
    relates = f"<wsa:RelatesTo>{relates_to}</wsa:RelatesTo>" if relates_to else ""
    return (
        (
            f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP}" xmlns:wsa="{WSA}"><soap:Header>'
            f"<wsa:Action>{action}</wsa:Action>{relates}</soap:Header><soap:Body>"
        ).encode()
        + body
        + b"</soap:Body></soap:Envelope>"
    )


def _fault(code: str, reason: str, subcode: str | None) -> bytes:
    sub = f"<soap:Subcode><soap:Value>{subcode}</soap:Value></soap:Subcode>" if subcode else ""
    text = reason.replace("&", "&amp;").replace("<", "&lt;")
    return (
        f"<soap:Fault><soap:Code><soap:Value>soap:{code}</soap:Value>{sub}</soap:Code>"
        f'<soap:Reason><soap:Text xml:lang="en">{text}</soap:Text></soap:Reason></soap:Fault>'
    ).encode()


def _handler_for(repository: XdsRepository) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return None

        def _answer(self, status: int, envelope: bytes) -> None:
            """An MTOM answer, as repositories send it (the envelope alone as the XOP root)."""
            boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
            body = (
                (
                    f'--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n'
                    f"Content-Transfer-Encoding: binary\r\nContent-ID: <root.response@loopback>\r\n\r\n"
                ).encode()
                + envelope
                + f"\r\n--{boundary}--\r\n".encode()
            )
            self.send_response(status)
            self.send_header(
                "Content-Type",
                f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; '
                'start="<root.response@loopback>"; start-info="application/soap+xml"',
            )
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _plain(self, status: int) -> None:
            payload = f"{status} error".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            repository.received.append(body)
            fault = repository.next_fault()
            if fault and fault.close:
                self.close_connection = True
                self.connection.close()
                return
            if fault and fault.status:
                self._plain(fault.status)
                return
            if fault and fault.soap_fault:
                code, reason = fault.soap_fault
                self._answer(
                    500 if code == "Receiver" else 400, _envelope(_fault(code, reason, None), None, f"{WSA}/fault")
                )
                return
            if self.path != PATH:
                self._plain(404)
                return
            if fault and fault.registry_error:  # refused before anything is stored
                response = _registry_response(FAILURE, (fault.registry_error,))
                self._answer(200, _envelope(response, None, f"{ACTION}Response"))
                return
            try:
                message_id, response = repository.provide_and_register(self.headers.get("Content-Type", ""), body)
            except SoapFault as soap_fault:
                status = 500 if soap_fault.code == "Receiver" else 400
                self._answer(status, _envelope(_fault(soap_fault.code, soap_fault.reason, soap_fault.subcode), None,
                                               f"{WSA}/fault"))  # fmt: skip
                return
            if fault and fault.delay_seconds:
                time.sleep(fault.delay_seconds)
            self._answer(200, _envelope(response, message_id, f"{ACTION}Response"))

    return Handler
