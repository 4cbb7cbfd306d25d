"""The STOW-RS exchange as a PACS other than Orthanc sees it: batching, bearer auth, duplicates, answers without a body.

A loopback HTTP server keeps each request (headers and the multipart parts)
and answers as told, the way PACSs that report duplicates (FailureReason
0x0111) or answer without a JSON body do; Orthanc (test_dicom_filing) does
neither.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pydicom
import pytest

from shared.config.records import RecordSettings
from shared.records.dicom import file_dicom
from shared.records.errors import DestinationRefused
from tests.support.record_documents import content_of, photo_and_video, record_document

TOKEN = "test-bearer-token-123"
Answer = Callable[[list[pydicom.Dataset]], tuple[int, dict[str, object] | None]]


@dataclass
class StowServer:
    answer: Answer
    requests: list[tuple[dict[str, str], list[pydicom.Dataset]]] = field(default_factory=list)
    url: str = ""


def stored(datasets: list[pydicom.Dataset]) -> tuple[int, dict[str, object] | None]:
    items = [{"00081155": {"vr": "UI", "Value": [str(ds.SOPInstanceUID)]}} for ds in datasets]
    return 200, {"00081199": {"vr": "SQ", "Value": items}}


@pytest.fixture
def server() -> Iterator[StowServer]:
    state = StowServer(answer=stored)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            message = message_from_bytes(
                f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body, policy=policy.HTTP
            )
            datasets = [pydicom.dcmread(io.BytesIO(part.get_payload(decode=True))) for part in message.iter_parts()]
            state.requests.append((dict(self.headers), datasets))
            status, answer = state.answer(datasets)
            payload = json.dumps(answer).encode() if answer is not None else b""
            self.send_response(status)
            if answer is not None:
                self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/dicom-web"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def contents() -> dict[str, tuple[str, bytes]]:
    return photo_and_video()


def settings_for(server: StowServer) -> RecordSettings:
    return RecordSettings(dicomweb_url=server.url, dicomweb_token=TOKEN, timeout_seconds=30)


def test_photos_go_together_each_video_alone_with_the_bearer_token(
    server: StowServer, contents: dict[str, tuple[str, bytes]]
) -> None:
    document = record_document(contents)

    outcome = file_dicom(document, content_of(contents), settings_for(server))

    assert outcome.acknowledged
    assert [[ds.Modality for ds in datasets] for _, datasets in server.requests] == [["XC", "XC"], ["XC"]]
    assert [len(datasets) for _, datasets in server.requests] == [2, 1]
    assert server.requests[1][1][0].SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.4.1"
    for headers, _ in server.requests:
        assert headers["Authorization"] == f"Bearer {TOKEN}"
        assert headers["Content-Type"].startswith('multipart/related; type="application/dicom"; boundary=')
        assert headers["Accept"] == "application/dicom+json"


def test_instances_the_pacs_already_holds_count_as_filed(
    server: StowServer, contents: dict[str, tuple[str, bytes]]
) -> None:
    def all_duplicates(datasets: list[pydicom.Dataset]) -> tuple[int, dict[str, object]]:
        failed = [
            {"00081155": {"vr": "UI", "Value": [str(ds.SOPInstanceUID)]}, "00081197": {"vr": "US", "Value": [0x0111]}}
            for ds in datasets
        ]
        return 409, {"00081198": {"vr": "SQ", "Value": failed}}

    server.answer = all_duplicates

    outcome = file_dicom(record_document(contents), content_of(contents), settings_for(server))

    assert outcome.acknowledged
    assert "(3 already held)" in outcome.detail


def test_an_answer_without_a_body_is_sent_not_acknowledged(
    server: StowServer, contents: dict[str, tuple[str, bytes]]
) -> None:
    server.answer = lambda datasets: (200, None)

    outcome = file_dicom(record_document(contents), content_of(contents), settings_for(server))

    assert not outcome.acknowledged


def test_a_refused_sop_class_fails_with_its_meaning(server: StowServer, contents: dict[str, tuple[str, bytes]]) -> None:
    def refuse_videos(datasets: list[pydicom.Dataset]) -> tuple[int, dict[str, object]]:
        if datasets[0].SOPClassUID.endswith(".1.4.1"):
            uid = str(datasets[0].SOPInstanceUID)
            item = {"00081155": {"vr": "UI", "Value": [uid]}, "00081197": {"vr": "US", "Value": [0x0122]}}
            return 409, {"00081198": {"vr": "SQ", "Value": [item]}}
        return stored(datasets)

    server.answer = refuse_videos

    with pytest.raises(DestinationRefused, match=r"refused 1 of 1 instance\(s\): SOP class not supported \(0x0122\)"):
        file_dicom(record_document(contents), content_of(contents), settings_for(server))
