"""A FHIR R4 server on loopback that implements transaction semantics, for the FHIR filing tests.

It follows the FHIR R4 RESTful API (http.html) as far as MIA uses it:

- every request carries `Authorization: Bearer <token>` when the server has
  one, else 401 with `WWW-Authenticate: Bearer` and an OperationOutcome;
- `POST [base]` with a Bundle of type `transaction` (application/fhir+json,
  else 415): the Bundle is validated with `fhir.resources.R4B` (400 with the
  error when it fails); entries are processed in the specified order (DELETE,
  POST, PUT, GET) with conditional create (`ifNoneExist`), update by id and
  conditional update (`PUT Type?identifier=…`: no match creates, one match
  updates, several is 412); two entries resolving to one resource fail the
  transaction; references to an entry's fullUrl are rewritten to the
  resource's new id; DocumentReference business rules (status code, at least
  one content, the attachment's size and SHA-1 hash matching its data) fail
  with 422. All or nothing: any failure leaves the store as it was and
  answers an OperationOutcome with the failing entry's status; success
  answers a `transaction-response` Bundle (201 or 200 per entry, with
  location, etag and lastUpdated);
  (each created or updated resource echoed in its entry unless `Prefer:
  return=minimal`);
- `GET [base]/Type/id`, `GET [base]/Type?identifier=system|value` (a
  searchset Bundle) and `GET [base]/metadata`.

A test can make the next POSTs answer 500/503/429, answer slowly (after
processing: the caller timed out but the server has the documents, as a
real one might), or close the connection without answering.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from tests.support.loopback_http import LoopbackServer

BASE_PATH = "/fhir"
TOKEN = "loopback-fhir-token-0001"
METHOD_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "GET": 3}
DOCUMENT_STATUSES = {"current", "superseded", "entered-in-error"}
REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    412: "Precondition Failed",
}


class EntryFailed(Exception):
    """One transaction entry failed: the whole transaction does (http.html#trules)."""

    def __init__(self, status: int, code: str, diagnostics: str) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics


@dataclass
class Fault:
    """What the next POST does instead of answering normally."""

    status: int | None = None  # answer this (500, 503, 429) without processing
    delay_seconds: float = 0.0  # process, then wait this long before answering
    close: bool = False  # close the connection without a word


@dataclass
class Stored:
    resource: dict[str, Any]
    version: int


@dataclass
class FhirStore:
    """Resources by type and id, current version only (with its version number)."""

    resources: dict[str, dict[str, Stored]] = field(default_factory=dict)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def of_type(self, resource_type: str) -> dict[str, Stored]:
        return self.resources.setdefault(resource_type, {})

    def search_identifier(self, resource_type: str, token: str) -> list[str]:
        """Ids matching `identifier=[system]|[value]` (DocumentReference: masterIdentifier or identifier)."""
        system, bar, value = token.partition("|")
        if not bar:
            system, value = "", token
        matches = []
        for resource_id, stored in self.of_type(resource_type).items():
            identifiers = list(stored.resource.get("identifier") or [])
            if resource_type == "DocumentReference" and stored.resource.get("masterIdentifier"):
                identifiers.append(stored.resource["masterIdentifier"])
            for identifier in identifiers:
                system_ok = not bar or not system or identifier.get("system") == system
                if bar and not system and identifier.get("system"):
                    system_ok = False  # "|value": the identifier has no system
                if system_ok and (not value or identifier.get("value") == value):
                    matches.append(resource_id)
                    break
        return matches


class FhirServer(LoopbackServer[Fault]):
    """The server: start/stop, what it holds, and the faults a test switches on."""

    def __init__(self, token: str | None = TOKEN) -> None:
        self.token = token
        self.store = FhirStore()
        self.transactions: list[dict[str, Any]] = []  # every transaction Bundle received, as parsed
        self.answered: list[bytes] = []  # every answer's body, as sent
        super().__init__(_handler_for(self), "fhir-loopback")

    @property
    def base_url(self) -> str:
        return f"{self.origin}{BASE_PATH}"

    def documents(self) -> list[dict[str, Any]]:
        with self.lock:
            return [stored.resource for stored in self.store.of_type("DocumentReference").values()]

    def transact(self, bundle: dict[str, Any], *, minimal: bool = False) -> tuple[int, dict[str, object]]:
        """Process one transaction atomically: on any failure the store is left as it was.

        Each created or updated resource comes back in its entry unless the client asked `Prefer: return=minimal`.
        """
        with self.lock:
            working = copy.deepcopy(self.store.resources)
            try:
                entries = _transaction(self.store, working, bundle, representation=not minimal)
            except EntryFailed as failure:
                return failure.status, outcome(failure.code, failure.diagnostics)
            self.store.resources = working
            self.transactions.append(bundle)
            return 200, {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}


def outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, object]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def _transaction(
    store: FhirStore, working: dict[str, dict[str, Stored]], bundle: dict[str, Any], *, representation: bool
) -> list[dict]:
    entries: list[dict[str, Any]] = bundle.get("entry") or []
    full_urls = [entry.get("fullUrl") for entry in entries if entry.get("fullUrl")]
    if len(full_urls) != len(set(full_urls)):
        raise EntryFailed(400, "invalid", "Two entries of the transaction have the same fullUrl")
    for index, entry in enumerate(entries):
        if not (entry.get("request") or {}).get("method") or not entry["request"].get("url"):
            raise EntryFailed(
                400, "required", f"Bundle.entry[{index}].request: a transaction entry needs method and url"
            )
    order = sorted(range(len(entries)), key=lambda index: METHOD_ORDER.get(entries[index]["request"]["method"], 9))
    view = FhirStore(resources=working, ids=store.ids)
    plans: dict[int, tuple[str, str, int]] = {}  # entry index → (type, id, status)
    touched: set[tuple[str, str]] = set()
    for index in order:
        plan = _plan(view, entries[index], index)
        if plan[:2] in touched:
            raise EntryFailed(400, "processing", f"Bundle.entry[{index}] resolves to a resource another entry changes")
        touched.add(plan[:2])
        plans[index] = plan
    new_ids = {entries[i]["fullUrl"]: f"{t}/{rid}" for i, (t, rid, _) in plans.items() if entries[i].get("fullUrl")}
    answers: dict[int, dict[str, object]] = {}
    for index in order:
        resource_type, resource_id, status = plans[index]
        method = entries[index]["request"]["method"]
        if method == "DELETE":
            working.get(resource_type, {}).pop(resource_id, None)
            answers[index] = {"response": {"status": "204 No Content"}}
            continue
        if method == "GET":
            answers[index] = {
                "resource": working[resource_type][resource_id].resource,
                "response": {"status": "200 OK"},
            }
            continue
        if status == 200 and method == "POST":  # conditional create matched: nothing changes
            answers[index] = {"response": {"status": "200 OK", "location": f"{resource_type}/{resource_id}"}}
            continue
        resource = _rewrite_references(copy.deepcopy(entries[index]["resource"]), new_ids)
        _check_business_rules(resource, index)
        previous = working.setdefault(resource_type, {}).get(resource_id)
        version = previous.version + 1 if previous else 1
        updated = _now()
        meta = dict(resource.get("meta") or {})
        meta.update(versionId=str(version), lastUpdated=updated)
        resource.update(id=resource_id, meta=meta)
        working[resource_type][resource_id] = Stored(resource, version)
        answers[index] = {
            "response": {
                "status": f"{status} {REASONS[status]}",
                "location": f"{resource_type}/{resource_id}/_history/{version}",
                "etag": f'W/"{version}"',
                "lastModified": updated,
            }
        }
        if representation:
            answers[index]["resource"] = copy.deepcopy(resource)
    return [answers[index] for index in range(len(entries))]


def _plan(view: FhirStore, entry: dict, index: int) -> tuple[str, str, int]:
    """Which resource an entry acts on and the status it will answer (resolving conditional URLs)."""
    method = entry["request"]["method"]
    parts = urlsplit(entry["request"]["url"])
    path = parts.path.strip("/")
    resource_type, _, resource_id = path.partition("/")
    resource = entry.get("resource") or {}
    if method in ("POST", "PUT") and resource.get("resourceType") != resource_type:
        raise EntryFailed(400, "invalid", f"Bundle.entry[{index}]: the resource is not a {resource_type}")
    if method == "POST":
        if_none_exist = entry["request"].get("ifNoneExist")
        if if_none_exist:
            matches = _matches(view, resource_type, parse_qs(if_none_exist), index)
            if len(matches) > 1:
                raise EntryFailed(412, "duplicate", f"Bundle.entry[{index}]: ifNoneExist matches {len(matches)}")
            if matches:
                return resource_type, matches[0], 200
        return resource_type, str(next(view.ids)), 201
    if method == "PUT":
        if resource_id:
            if resource.get("id") != resource_id:
                raise EntryFailed(400, "invalid", f"Bundle.entry[{index}]: resource id does not match the URL")
            return resource_type, resource_id, 200 if resource_id in view.of_type(resource_type) else 201
        matches = _matches(view, resource_type, parse_qs(parts.query), index)
        if len(matches) > 1:
            raise EntryFailed(412, "multiple-matches", f"Bundle.entry[{index}]: the condition matches {len(matches)}")
        if matches:
            return resource_type, matches[0], 200
        return resource_type, str(next(view.ids)), 201
    if method in ("GET", "DELETE"):
        if resource_id not in view.of_type(resource_type) and method == "GET":
            raise EntryFailed(404, "not-found", f"Bundle.entry[{index}]: {resource_type}/{resource_id} not found")
        return resource_type, resource_id, 200
    raise EntryFailed(400, "not-supported", f"Bundle.entry[{index}]: method {method} is not supported")


def _matches(view: FhirStore, resource_type: str, query: dict[str, list[str]], index: int) -> list[str]:
    if set(query) != {"identifier"} or len(query["identifier"]) != 1:
        raise EntryFailed(400, "not-supported", f"Bundle.entry[{index}]: only identifier= conditions are supported")
    return view.search_identifier(resource_type, query["identifier"][0])


def _rewrite_references(value: Any, new_ids: dict[str, str]) -> Any:
    """References to an entry's fullUrl become the resource's new Type/id (http.html#trules)."""
    if isinstance(value, dict):
        return {
            key: new_ids.get(item, item)
            if key == "reference" and isinstance(item, str)
            else _rewrite_references(item, new_ids)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_rewrite_references(item, new_ids) for item in value]
    return value


def _check_business_rules(resource: dict, index: int) -> None:
    """DocumentReference rules fhir.resources leaves out, as 422 (http.html: "violated … business rules")."""
    if resource.get("resourceType") != "DocumentReference":
        return
    where = f"Bundle.entry[{index}].resource"
    if resource.get("status") not in DOCUMENT_STATUSES:
        raise EntryFailed(422, "code-invalid", f"{where}.status: {resource.get('status')!r} is not in the value set")
    if not resource.get("content"):
        raise EntryFailed(422, "required", f"{where}.content: at least one is required")
    for position, content in enumerate(resource["content"]):
        attachment = content.get("attachment") or {}
        if "data" not in attachment:
            if not attachment.get("url"):
                raise EntryFailed(422, "required", f"{where}.content[{position}].attachment: data or url is required")
            continue
        data = base64.b64decode(attachment["data"])
        if "size" in attachment and attachment["size"] != len(data):
            raise EntryFailed(422, "value", f"{where}.content[{position}].attachment.size does not match the data")
        expected = base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode("ascii")
        if "hash" in attachment and attachment["hash"] != expected:
            raise EntryFailed(422, "value", f"{where}.content[{position}].attachment.hash is not the data's SHA-1")
        if not attachment.get("contentType"):
            raise EntryFailed(422, "required", f"{where}.content[{position}].attachment.contentType is required")


def _handler_for(server: FhirServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return None

        def _answer(self, status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(body).encode("utf-8")
            server.answered.append(payload)
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _authorised(self) -> bool:
            if server.token is None or self.headers.get("Authorization") == f"Bearer {server.token}":
                return True
            self._answer(401, outcome("login", "Authentication required"), {"WWW-Authenticate": 'Bearer realm="fhir"'})
            return False

        def do_GET(self) -> None:
            if not self._authorised():
                return
            parts = urlsplit(self.path)
            path = parts.path.removeprefix(BASE_PATH).strip("/")
            if path == "metadata":
                self._answer(200, {"resourceType": "CapabilityStatement", "status": "active", "fhirVersion": "4.0.1",
                                   "kind": "instance", "format": ["json"], "date": _now()})  # fmt: skip
                return
            resource_type, _, resource_id = path.partition("/")
            with server.lock:
                if resource_id:
                    stored = server.store.of_type(resource_type).get(resource_id)
                    if stored is None:
                        self._answer(404, outcome("not-found", f"{resource_type}/{resource_id} is not known"))
                    else:
                        self._answer(200, stored.resource, {"ETag": f'W/"{stored.version}"'})
                    return
                query = parse_qs(parts.query)
                ids = (
                    server.store.search_identifier(resource_type, query["identifier"][0])
                    if "identifier" in query
                    else list(server.store.of_type(resource_type))
                )
                entries = [{"resource": server.store.of_type(resource_type)[i].resource} for i in ids]
            self._answer(200, {"resourceType": "Bundle", "type": "searchset", "total": len(ids), "entry": entries})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            fault = server.next_fault()
            if fault and fault.close:
                self.close_connection = True
                self.connection.close()
                return
            if fault and fault.status:
                headers = {"Retry-After": "1"} if fault.status in (429, 503) else {}
                self._answer(fault.status, outcome("transient", "Service temporarily unavailable"), headers)
                return
            if not self._authorised():
                return
            if self.path.rstrip("/") != BASE_PATH:
                self._answer(404, outcome("not-supported", "Transactions are posted to the base URL"))
                return
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if content_type not in ("application/fhir+json", "application/json"):
                self._answer(415, outcome("not-supported", f"Unsupported content type {content_type!r}"))
                return
            status, body = self._transaction(raw)
            if fault and fault.delay_seconds:
                time.sleep(fault.delay_seconds)
            self._answer(status, body)

        def _transaction(self, raw: bytes) -> tuple[int, dict[str, object]]:
            try:
                data = json.loads(raw)
            except ValueError as exc:
                return 400, outcome("structure", f"The body is not JSON: {exc}")
            if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
                return 400, outcome("invalid", "Expected a Bundle")
            if data.get("type") != "transaction":
                return 400, outcome(
                    "not-supported", f"Bundle.type {data.get('type')!r}: this server takes transactions"
                )
            try:
                Bundle.model_validate(data)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"])
                return 400, outcome("structure", f"Bundle.{where}: {first['msg']}")
            minimal = "return=minimal" in (self.headers.get("Prefer") or "")
            return server.transact(data, minimal=minimal)

    return Handler
