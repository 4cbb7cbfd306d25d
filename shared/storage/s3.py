"""Object store on S3 (or any S3-compatible endpoint) through boto3.

Resumable uploads use S3 multipart upload. Every part but the last must be at
least 5 MiB, while tus chunks may be any size, so bytes that do not yet fill
a part are kept between appends as their own object, the *tail*, named
`<key>.tail.<N>` where N is the part number it will become. The offset is
always (sum of uploaded parts) + (size of tail N = parts + 1); a tail whose
number no longer matches is stale and ignored, which makes every step safe
to interrupt.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from shared.storage.base import (
    PROBE_BYTES,
    STREAM_CHUNK,
    Appender,
    Listing,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    OffsetMismatch,
    StorageError,
    validate_key,
)
from shared.storage.signed_urls import content_disposition

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10_000
# Tails carry this tag so that a bucket lifecycle rule can expire abandoned
# ones (terraform/storage.tf): lifecycle filters match prefixes and tags, not
# key suffixes, and originals share the tails' prefix.
TAIL_TAGGING = "mia-object=resumable-tail"
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


def make_s3_client(endpoint_url: str | None, region: str) -> Any:
    config = Config(
        signature_version="s3v4",
        retries={"mode": "standard", "max_attempts": 5},
        s3={"addressing_style": "path"} if endpoint_url else {},
        max_pool_connections=50,
    )
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class _MultipartAppender(Appender):
    def __init__(self, store: S3Store, key: str, upload_id: str, parts: int, committed: int, tail: bytes) -> None:
        self._store = store
        self._key = key
        self._upload_id = upload_id
        self._opened_tail_part = parts + 1
        self._had_tail = bool(tail)
        self._next_part = parts + 1
        self._buffer = bytearray(tail)
        self._offset = committed + len(tail)

    @property
    def offset(self) -> int:
        return self._offset

    def write(self, data: bytes) -> None:
        self._buffer += data
        self._offset += len(data)
        part_size = self._store.part_size
        while len(self._buffer) >= part_size:
            self._store._upload_part(self._key, self._upload_id, self._next_part, bytes(self._buffer[:part_size]))
            del self._buffer[:part_size]
            self._next_part += 1

    def abandon(self) -> None:
        self._buffer = bytearray()  # the parts already uploaded stay; the old tail, if still current, stays valid

    def commit(self) -> int:
        if self._buffer:
            tail_key = self._store._tail_key(self._key, self._next_part)
            self._store._put_raw(tail_key, bytes(self._buffer), tagging=TAIL_TAGGING)
        if self._had_tail and (self._next_part != self._opened_tail_part or not self._buffer):
            self._store._delete_raw(self._store._tail_key(self._key, self._opened_tail_part))
        return self._offset


class S3Store(ObjectStore):
    def __init__(self, client: Any, bucket: str, prefix: str = "", part_size: int = 8 * 1024 * 1024) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError("S3 parts must be at least 5 MiB")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_size = part_size

    # -- key mapping -------------------------------------------------------
    def _full(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _strip(self, full_key: str) -> str:
        return full_key[len(self.prefix) + 1 :] if self.prefix else full_key

    @staticmethod
    def _tail_key(key: str, part_number: int) -> str:
        return f"{key}.tail.{part_number}"

    # -- raw helpers (keys already relative to the prefix) ------------------
    def _put_raw(self, key: str, body: bytes, tagging: str | None = None) -> None:
        extra = {"Tagging": tagging} if tagging else {}
        self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=body, **extra)

    def _delete_raw(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._full(key))

    def _get_optional(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"].read()
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                return b""
            raise

    def _upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> None:
        if number > MAX_PARTS:
            raise StorageError(f"upload {key!r} would need more than {MAX_PARTS} parts")
        self.client.upload_part(
            Bucket=self.bucket, Key=self._full(key), UploadId=upload_id, PartNumber=number, Body=body
        )

    def _parts(self, key: str, upload_id: str) -> list[dict]:
        parts: list[dict] = []
        kwargs = {"Bucket": self.bucket, "Key": self._full(key), "UploadId": upload_id}
        try:
            while True:
                page = self.client.list_parts(**kwargs)
                parts.extend(page.get("Parts", []))
                if not page.get("IsTruncated"):
                    break
                kwargs["PartNumberMarker"] = page["NextPartNumberMarker"]
        except ClientError as exc:
            if _error_code(exc) == "NoSuchUpload":
                raise ObjectNotFound(key) from None
            raise
        parts.sort(key=lambda part: part["PartNumber"])
        if [part["PartNumber"] for part in parts] != list(range(1, len(parts) + 1)):
            raise StorageError(f"upload {key!r} has non-contiguous parts")
        return parts

    def _delete_tails(self, key: str) -> None:
        for info in self.list(f"{key}.tail.").objects:
            self._delete_raw(info.key)

    # -- whole objects -----------------------------------------------------
    def put(self, key: str, data: bytes | BinaryIO, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        if isinstance(data, bytes | bytearray | memoryview):
            self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=bytes(data), **extra)
        else:
            self.client.upload_fileobj(data, self.bucket, self._full(key), ExtraArgs=extra or None)

    def iter_chunks(self, key: str, chunk_size: int = STREAM_CHUNK) -> Iterator[bytes]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"]
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                raise ObjectNotFound(key) from None
            raise
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def download_file(self, key: str, path: Path) -> None:
        try:
            self.client.download_file(self.bucket, self._full(key), str(path))
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                raise ObjectNotFound(key) from None
            raise

    def upload_file(self, path: Path, key: str, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else None
        self.client.upload_file(str(path), self.bucket, self._full(key), ExtraArgs=extra)

    def delete(self, key: str) -> None:
        self._delete_raw(key)

    def size(self, key: str) -> int:
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self._full(key))["ContentLength"])
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                raise ObjectNotFound(key) from None
            raise

    def list(self, prefix: str = "") -> Listing:
        full_prefix = f"{self.prefix}/{prefix}" if self.prefix else prefix
        objects = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
            for item in page.get("Contents", []):
                modified = item["LastModified"].replace(tzinfo=None)
                objects.append(ObjectInfo(self._strip(item["Key"]), int(item["Size"]), modified))
        return Listing(objects, sum(info.size for info in objects))

    def url(self, key: str, expires_in: int, download_name: str | None = None, content_type: str | None = None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full(key)}
        if download_name:
            params["ResponseContentDisposition"] = content_disposition(download_name)
        if content_type:
            params["ResponseContentType"] = content_type
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)

    # -- resumable uploads -------------------------------------------------
    def create_resumable(self, key: str) -> str:
        response = self.client.create_multipart_upload(Bucket=self.bucket, Key=self._full(key))
        return str(response["UploadId"])

    def _state(self, key: str, ref: str) -> tuple[list[dict], bytes]:
        parts = self._parts(key, ref)
        tail = self._get_optional(self._tail_key(key, len(parts) + 1))
        return parts, tail

    def resumable_offset(self, key: str, ref: str) -> int:
        parts, tail = self._state(key, ref)
        return sum(int(part["Size"]) for part in parts) + len(tail)

    def open_appender(self, key: str, ref: str, offset: int) -> Appender:
        parts, tail = self._state(key, ref)
        committed = sum(int(part["Size"]) for part in parts)
        if offset != committed + len(tail):
            raise OffsetMismatch(committed + len(tail), offset)
        return _MultipartAppender(self, key, ref, len(parts), committed, tail)

    def finish_resumable(self, key: str, ref: str) -> None:
        try:
            parts, tail = self._state(key, ref)
        except ObjectNotFound:
            if self.exists(key):
                return  # completed by an earlier call
            raise
        if not parts and not tail:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._full(key), UploadId=ref)
            self._put_raw(key, b"")
        else:
            if tail:
                self._upload_part(key, ref, len(parts) + 1, tail)
                parts = self._parts(key, ref)
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self._full(key),
                UploadId=ref,
                MultipartUpload={"Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]},
            )
        self._delete_tails(key)

    def probe_write(self, key: str) -> None:
        """A multipart upload with one small part, then aborted: the bytes go through the same permissions
        and encryption as an upload's, and a versioned bucket keeps no object, version or delete marker."""
        ref = self.create_resumable(key)
        try:
            self._upload_part(key, ref, 1, PROBE_BYTES)
        finally:
            self.abort_resumable(key, ref)

    def abort_resumable(self, key: str, ref: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._full(key), UploadId=ref)
        except ClientError as exc:
            if _error_code(exc) not in ("NoSuchUpload", *_NOT_FOUND):
                raise
        self._delete_tails(key)
