"""FHIR filing against a loopback server that implements transaction semantics (tests/support/fhir_server.py)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fhir.resources.R4B.bundle import Bundle

from shared.config.records import NHS_NUMBER_SYSTEM, RecordSettings
from shared.records.errors import DestinationRefused, DestinationUnavailable, RecordsError
from shared.records.fhir import CONSENT_EXTENSION, UK_CORE_DOCUMENT_REFERENCE, fhir_bundle, file_fhir
from tests.support.fhir_server import TOKEN, Fault, FhirServer, Stored
from tests.support.record_documents import TEST_NHS_NUMBER, content_of, photo_and_video, record_document


@pytest.fixture(scope="module")
def contents() -> dict[str, tuple[str, bytes]]:
    return photo_and_video()


@pytest.fixture
def server() -> Iterator[FhirServer]:
    with FhirServer() as running:
        yield running


def settings_for(server: FhirServer, **overrides: Any) -> RecordSettings:
    settings = RecordSettings(fhir_base_url=server.base_url, fhir_token=TOKEN, timeout_seconds=5)
    return dataclasses.replace(settings, **overrides)


def test_the_bundle_is_a_valid_transaction_of_one_uk_core_document_reference_per_item(contents) -> None:
    document = record_document(contents)
    bundle = fhir_bundle(document, content_of(contents), RecordSettings())

    Bundle.model_validate(bundle)  # raises when not valid R4(B)
    assert bundle["type"] == "transaction"
    assert len(bundle["entry"]) == 3
    for entry, (kind, data) in zip(bundle["entry"], contents.values(), strict=True):
        resource = entry["resource"]
        attachment = resource["content"][0]["attachment"]
        assert resource["meta"]["profile"] == [UK_CORE_DOCUMENT_REFERENCE]
        assert resource["status"] == "current"
        assert resource["subject"] == {"identifier": {"system": NHS_NUMBER_SYSTEM, "value": TEST_NHS_NUMBER}}
        assert resource["author"][0]["display"] == "Dr Jo Jones"
        assert resource["type"]["coding"][0]["code"] == ("371576000" if kind == "video" else "169283005")
        assert base64.b64decode(attachment["data"]) == data
        assert attachment["size"] == len(data)
        assert attachment["hash"] == base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode()
        assert attachment["contentType"] == ("video/mp4" if kind == "video" else "image/jpeg")
        consent = {part["url"]: part for part in resource["extension"][0]["extension"]}
        assert resource["extension"][0]["url"] == CONSENT_EXTENSION
        assert consent["keepInRecord"]["valueBoolean"] is True and consent["useForTeaching"]["valueBoolean"] is False
        assert "did not agree to use for teaching" in resource["description"]
        assert resource["context"]["related"][0]["identifier"]["value"] == document.reference
        master = resource["masterIdentifier"]["value"]
        assert entry["request"]["method"] == "PUT"
        assert entry["request"]["url"].startswith("DocumentReference?identifier=")
        assert master.replace(":", "%3A") in entry["request"]["url"]
        assert entry["fullUrl"].startswith("urn:uuid:")


def test_the_bundle_is_the_same_each_time_it_is_made(contents) -> None:
    document = record_document(contents)
    first = fhir_bundle(document, content_of(contents), RecordSettings())
    assert json.dumps(first) == json.dumps(fhir_bundle(document, content_of(contents), RecordSettings()))


def test_an_encounter_without_items_has_no_bundle() -> None:
    with pytest.raises(RecordsError, match="nothing to file"):
        fhir_bundle(record_document({}), content_of({}), RecordSettings())


def test_the_server_accepts_the_transaction_and_holds_every_item(server: FhirServer, contents) -> None:
    outcome = file_fhir(record_document(contents), content_of(contents), settings_for(server))

    assert outcome.acknowledged
    assert "3 DocumentReferences" in outcome.detail and "3 created, 0 updated" in outcome.detail
    stored = server.documents()
    assert sorted(base64.b64decode(doc["content"][0]["attachment"]["data"]) for doc in stored) == sorted(
        data for _, data in contents.values()
    )
    assert {doc["meta"]["versionId"] for doc in stored} == {"1"}


def test_refiling_updates_the_same_resources_without_duplicates(server: FhirServer, contents) -> None:
    document = record_document(contents)
    file_fhir(document, content_of(contents), settings_for(server))
    first_ids = sorted(doc["id"] for doc in server.documents())

    again = file_fhir(document, content_of(contents), settings_for(server))

    assert again.acknowledged and "0 created, 3 updated" in again.detail
    assert sorted(doc["id"] for doc in server.documents()) == first_ids
    assert {doc["meta"]["versionId"] for doc in server.documents()} == {"2"}


def test_the_answer_does_not_echo_the_documents_back(server: FhirServer, contents) -> None:
    bundle = fhir_bundle(record_document(contents), content_of(contents), RecordSettings())
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"}
    requests.post(server.base_url, json=bundle, headers=headers, timeout=10).raise_for_status()
    assert b'"data"' in server.answered[-1]  # a server's default: the stored resources come back

    file_fhir(record_document(contents), content_of(contents), settings_for(server))

    assert b'"data"' not in server.answered[-1] and len(server.answered[-1]) < 5000


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_server_error_or_rate_limit_is_unavailable(server: FhirServer, contents, status: int) -> None:
    server.fail_next(Fault(status=status))
    with pytest.raises(DestinationUnavailable, match=f"answered {status}"):
        file_fhir(record_document(contents), content_of(contents), settings_for(server))
    assert server.documents() == []


def test_a_slow_server_times_out_as_unavailable(server: FhirServer, contents) -> None:
    server.fail_next(Fault(delay_seconds=3))
    with pytest.raises(DestinationUnavailable, match="did not answer within 1 s"):
        file_fhir(record_document(contents), content_of(contents), settings_for(server, timeout_seconds=1))


def test_a_dropped_connection_is_unavailable(server: FhirServer, contents) -> None:
    server.fail_next(Fault(close=True))
    with pytest.raises(DestinationUnavailable, match="could not be reached"):
        file_fhir(record_document(contents), content_of(contents), settings_for(server))


def test_a_server_that_is_down_is_unavailable(contents) -> None:
    server = FhirServer()
    with server:
        settings = settings_for(server)
    with pytest.raises(DestinationUnavailable, match="could not be reached"):
        file_fhir(record_document(contents), content_of(contents), settings)


def test_a_wrong_token_is_refused_and_names_the_setting(server: FhirServer, contents) -> None:
    with pytest.raises(DestinationRefused, match="MIA_FHIR_TOKEN") as refused:
        file_fhir(record_document(contents), content_of(contents), settings_for(server, fhir_token="not-the-token"))
    assert "not-the-token" not in refused.value.reason


def test_a_refused_transaction_changes_nothing_and_says_why(server: FhirServer, contents) -> None:
    document = record_document(contents)
    bundle = fhir_bundle(document, content_of(contents), RecordSettings())
    clash = bundle["entry"][1]["resource"]  # the record already holds this document twice
    server.store.of_type("DocumentReference").update({"900": Stored(dict(clash), 1), "901": Stored(dict(clash), 1)})

    with pytest.raises(DestinationRefused, match=r"\(412\): Bundle.entry\[1\]: the condition matches 2"):
        file_fhir(document, content_of(contents), settings_for(server))
    assert len(server.documents()) == 2  # entries 0 and 2 were not stored: all or nothing


def test_the_server_rejects_an_attachment_whose_hash_does_not_match(server: FhirServer, contents) -> None:
    bundle = fhir_bundle(record_document(contents), content_of(contents), RecordSettings())
    bundle["entry"][0]["resource"]["content"][0]["attachment"]["hash"] = base64.b64encode(b"\0" * 20).decode()
    response = requests.post(
        server.base_url,
        json=bundle,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"},
        timeout=10,
    )
    assert response.status_code == 422
    assert "SHA-1" in response.json()["issue"][0]["diagnostics"]
    assert server.documents() == []


def test_the_server_rejects_a_bundle_that_is_not_valid_fhir(server: FhirServer, contents) -> None:
    bundle = fhir_bundle(record_document(contents), content_of(contents), RecordSettings())
    bundle["entry"][0]["resource"]["colour"] = "blue"
    response = requests.post(
        server.base_url,
        json=bundle,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"},
        timeout=10,
    )
    assert response.status_code == 400
    assert "colour" in response.json()["issue"][0]["diagnostics"]
