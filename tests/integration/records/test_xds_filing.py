"""ITI-41 filing against a loopback XDS.b repository that validates the schemas and the metadata."""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from shared.config.records import NHS_NUMBER_OID, RecordSettings
from shared.records import coding
from shared.records.document import PatientIdentifier
from shared.records.errors import DestinationRefused, DestinationUnavailable
from shared.records.xds import DOCUMENT_SCHEMES, SUBMISSION_SCHEMES, file_xds, iti41_message
from tests.support.record_documents import TEST_NHS_NUMBER, content_of, photo_and_video, record_document
from tests.support.xds_repository import Fault, XdsRepository

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
NS = {"rim": RIM, "soap": "http://www.w3.org/2003/05/soap-envelope", "wsa": "http://www.w3.org/2005/08/addressing"}
SOURCE_ID = "1.2.826.0.1.999999.1"
PATIENT_CX = f"{TEST_NHS_NUMBER}^^^&{NHS_NUMBER_OID}&ISO"


@pytest.fixture(scope="module")
def contents() -> dict[str, tuple[str, bytes]]:
    return photo_and_video()


@pytest.fixture
def repository() -> Iterator[XdsRepository]:
    with XdsRepository() as running:
        yield running


def settings_for(repository: XdsRepository, **overrides: Any) -> RecordSettings:
    settings = RecordSettings(xds_repository_url=repository.url, xds_source_id=SOURCE_ID, timeout_seconds=5)
    return dataclasses.replace(settings, **overrides)


def slot(element: ET.Element, name: str) -> list[str]:
    return [value.text or "" for value in element.findall(f"rim:Slot[@name='{name}']/rim:ValueList/rim:Value", NS)]


def classified(element: ET.Element, scheme: str) -> list[ET.Element]:
    return [node for node in element.findall("rim:Classification", NS) if node.get("classificationScheme") == scheme]


def external(element: ET.Element, scheme: str) -> str | None:
    for identifier in element.findall("rim:ExternalIdentifier", NS):
        if identifier.get("identificationScheme") == scheme:
            return identifier.get("value")
    return None


def test_the_message_is_mtom_with_every_required_element(contents) -> None:
    document = record_document(contents)
    message = iti41_message(document, content_of(contents), settings_for_source())

    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {message.content_type}\r\n\r\n".encode() + message.body
    )
    assert parsed.get_content_type() == "multipart/related"
    assert parsed.get_param("type") == "application/xop+xml"
    assert parsed.get_param("start-info") == "application/soap+xml"
    parts = list(parsed.iter_parts())
    assert [part.get_payload(decode=True) for part in parts[1:]] == [data for _, data in contents.values()]

    envelope = ET.fromstring(message.envelope)  # noqa: S314 - our own message
    assert (
        envelope.findtext("soap:Header/wsa:Action", namespaces=NS) == "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
    )
    assert envelope.findtext("soap:Header/wsa:MessageID", namespaces=NS).startswith("urn:uuid:")
    objects = envelope.find(".//rim:RegistryObjectList", NS)
    entries = objects.findall("rim:ExtrinsicObject", NS)
    assert len(entries) == 3
    for entry, item, (kind, data) in zip(entries, document.items, contents.values(), strict=True):
        assert entry.get("objectType") == "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
        assert entry.get("mimeType") == ("video/mp4" if kind == "video" else "image/jpeg")
        for name in ("classCode", "confidentialityCode", "formatCode", "healthcareFacilityTypeCode",
                     "practiceSettingCode", "typeCode"):  # fmt: skip
            (node,) = classified(entry, DOCUMENT_SCHEMES[name])
            assert node.get("nodeRepresentation") and slot(node, "codingScheme"), name
        (type_code,) = classified(entry, DOCUMENT_SCHEMES["typeCode"])
        assert type_code.get("nodeRepresentation") == ("371576000" if kind == "video" else "169283005")
        (author,) = classified(entry, DOCUMENT_SCHEMES["author"])
        assert slot(author, "authorPerson") == [f"drjones^Jones^Jo^^^Dr^^^&{SOURCE_ID}&ISO"]
        assert slot(author, "authorInstitution") == ["Riverside NHS Foundation Trust"]
        assert external(entry, DOCUMENT_SCHEMES["patientId"]) == PATIENT_CX
        assert external(entry, DOCUMENT_SCHEMES["uniqueId"]) == coding.document_unique_id(document, item)
        assert slot(entry, "sourcePatientId") == [PATIENT_CX]
        assert slot(entry, "hash") == [hashlib.sha1(data, usedforsecurity=False).hexdigest()]
        assert slot(entry, "size") == [str(len(data))]
        assert slot(entry, "creationTime") == [item.acquired_at.strftime("%Y%m%d%H%M%S")]
        assert slot(entry, "languageCode") == ["en-GB"]
        assert "keep in health record yes" in entry.find("rim:Description/rim:LocalizedString", NS).get("value")
    (package,) = objects.findall("rim:RegistryPackage", NS)
    assert slot(package, "submissionTime") == ["20261130140500"]
    assert external(package, SUBMISSION_SCHEMES["sourceId"]) == SOURCE_ID
    assert external(package, SUBMISSION_SCHEMES["patientId"]) == PATIENT_CX
    assert external(package, SUBMISSION_SCHEMES["uniqueId"]).startswith("2.25.")
    assert classified(package, SUBMISSION_SCHEMES["contentTypeCode"])
    members = [
        a.get("targetObject")
        for a in objects.findall("rim:Association", NS)
        if a.get("sourceObject") == package.get("id")
    ]
    assert members == [entry.get("id") for entry in entries]


def settings_for_source() -> RecordSettings:
    return RecordSettings(xds_source_id=SOURCE_ID)


def test_the_repository_validates_and_registers_every_document(repository: XdsRepository, contents) -> None:
    document = record_document(contents)
    outcome = file_xds(document, content_of(contents), settings_for(repository))

    assert outcome.acknowledged and outcome.detail.startswith("3 documents registered")
    stored = repository.registry.documents
    assert sorted(doc.data for doc in stored.values()) == sorted(data for _, data in contents.values())
    assert set(stored) == {coding.document_unique_id(document, item) for item in document.items}
    (submission,) = repository.registry.submissions.values()
    assert submission.source_id == SOURCE_ID and submission.patient_id == PATIENT_CX


def test_refiling_registers_nothing_twice_and_counts_as_filed(repository: XdsRepository, contents) -> None:
    document = record_document(contents)
    file_xds(document, content_of(contents), settings_for(repository))

    again = file_xds(document, content_of(contents), settings_for(repository))

    assert again.acknowledged and "already registered" in again.detail
    assert len(repository.registry.documents) == 3 and len(repository.registry.submissions) == 1


def test_a_changed_document_is_refused_as_non_identical(repository: XdsRepository, contents) -> None:
    document = record_document(contents)
    file_xds(document, content_of(contents), settings_for(repository))
    changed = dict(contents)
    first = next(iter(changed))
    changed[first] = ("photo", contents[first][1] + b"\0")

    with pytest.raises(DestinationRefused, match="XDSNonIdenticalHash"):
        file_xds(record_document(changed), content_of(changed), settings_for(repository))


def test_a_patient_of_an_unknown_domain_is_refused_with_the_code(repository: XdsRepository, contents) -> None:
    local = PatientIdentifier(value="ENC-42", issuer="MIA", oid="2.25.1", system="urn:oid:2.25.1", is_nhs_number=False)
    with pytest.raises(DestinationRefused, match=r"\(XDSUnknownPatientId\): Patient id ENC-42\^\^\^&2.25.1&ISO"):
        file_xds(record_document(contents, identifier=local), content_of(contents), settings_for(repository))
    assert repository.registry.documents == {}


def test_a_failure_response_is_refused_with_its_code_and_context(repository: XdsRepository, contents) -> None:
    repository.fail_next(Fault(registry_error=("XDSRegistryError", "Registry rejected the submission")))
    with pytest.raises(DestinationRefused, match=r"\(XDSRegistryError\): Registry rejected the submission"):
        file_xds(record_document(contents), content_of(contents), settings_for(repository))


def test_a_busy_repository_is_unavailable(repository: XdsRepository, contents) -> None:
    repository.fail_next(Fault(registry_error=("XDSRepositoryBusy", "Try again later")))
    with pytest.raises(DestinationUnavailable, match="XDSRepositoryBusy"):
        file_xds(record_document(contents), content_of(contents), settings_for(repository))


@pytest.mark.parametrize("status", [500, 502, 503])
def test_an_http_server_error_is_unavailable(repository: XdsRepository, contents, status: int) -> None:
    repository.fail_next(Fault(status=status))
    with pytest.raises(DestinationUnavailable, match=f"answered {status}"):
        file_xds(record_document(contents), content_of(contents), settings_for(repository))


def test_a_sender_soap_fault_is_refused_with_its_reason(repository: XdsRepository, contents) -> None:
    repository.fail_next(Fault(soap_fault=("Sender", "Policy violation: unsigned message")))
    with pytest.raises(DestinationRefused, match=r"SOAP fault Sender\): Policy violation: unsigned message"):
        file_xds(record_document(contents), content_of(contents), settings_for(repository))


def test_a_receiver_soap_fault_is_unavailable(repository: XdsRepository, contents) -> None:
    repository.fail_next(Fault(soap_fault=("Receiver", "Database connection lost")))
    with pytest.raises(DestinationUnavailable, match="Database connection lost"):
        file_xds(record_document(contents), content_of(contents), settings_for(repository))


def test_a_slow_repository_times_out_as_unavailable(repository: XdsRepository, contents) -> None:
    repository.fail_next(Fault(delay_seconds=3))
    with pytest.raises(DestinationUnavailable, match="did not answer within 1 s"):
        file_xds(record_document(contents), content_of(contents), settings_for(repository, timeout_seconds=1))


def test_a_dropped_connection_is_unavailable(repository: XdsRepository, contents) -> None:
    repository.fail_next(Fault(close=True))
    with pytest.raises(DestinationUnavailable, match="could not be reached"):
        file_xds(record_document(contents), content_of(contents), settings_for(repository))


def test_a_repository_that_is_down_is_unavailable(contents) -> None:
    repository = XdsRepository()
    with repository:
        settings = settings_for(repository)
    with pytest.raises(DestinationUnavailable, match="could not be reached"):
        file_xds(record_document(contents), content_of(contents), settings)


def post(repository: XdsRepository, content_type: str, body: bytes) -> str:
    response = requests.post(repository.url, data=body, headers={"Content-Type": content_type}, timeout=10)
    return response.text


def tampered(contents, old: bytes, new: bytes) -> tuple[str, bytes]:
    message = iti41_message(record_document(contents), content_of(contents), settings_for_source())
    assert old in message.envelope
    return message.content_type, message.body.replace(message.envelope, message.envelope.replace(old, new, 1))


def test_the_repository_names_a_missing_classification(repository: XdsRepository, contents) -> None:
    scheme = DOCUMENT_SCHEMES["practiceSettingCode"].encode()
    answer = post(repository, *tampered(contents, scheme, b"urn:uuid:00000000-0000-0000-0000-000000000000"))
    assert "ResponseStatusType:Failure" in answer
    assert "XDSDocumentEntry Document01.practiceSettingCode: expected one, found 0" in answer
    assert repository.registry.documents == {}


def test_the_repository_checks_the_schema(repository: XdsRepository, contents) -> None:
    answer = post(
        repository, *tampered(contents, b'<rim:Name><rim:LocalizedString value="Photo 1 of 3"', b"<rim:Name><rim:Bogus")
    )
    assert "XDSRepositoryMetadataError" in answer and "Schema" in answer


def test_the_repository_checks_the_hash_against_the_document(repository: XdsRepository, contents) -> None:
    first = next(iter(contents.values()))[1]
    digest = hashlib.sha1(first, usedforsecurity=False).hexdigest().encode()
    answer = post(repository, *tampered(contents, digest, b"0" * 40))
    assert "XDSRepositoryMetadataError" in answer and "hash does not match" in answer


def test_the_repository_requires_mtom(repository: XdsRepository, contents) -> None:
    message = iti41_message(record_document(contents), content_of(contents), settings_for_source())
    response = requests.post(
        repository.url, data=message.envelope, headers={"Content-Type": "application/soap+xml"}, timeout=10
    )
    assert response.status_code == 400 and "MTOM" in response.text
