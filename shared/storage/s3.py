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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _ResumableUpload:
    """One resumable upload in S3: its multipart upload and its tail objects (`key` already carries the prefix)."""

    client: Any
    bucket: str
    key: str
    upload_id: str
    part_size: int

    def tail_key(self, part_number: int) -> str:
        return f"{self.key}.tail.{part_number}"

    def parts(self) -> list[dict]:
        """The uploaded parts in order (ObjectNotFound when the multipart upload is gone)."""
        parts: list[dict] = []
        kwargs = {"Bucket": self.bucket, "Key": self.key, "UploadId": self.upload_id}
        try:
            while True:
                page = self.client.list_parts(**kwargs)
                parts.extend(page.get("Parts", []))
                if not page.get("IsTruncated"):
                    break
                kwargs["PartNumberMarker"] = page["NextPartNumberMarker"]
        except ClientError as exc:
            if _error_code(exc) == "NoSuchUpload":
                raise ObjectNotFound(self.key) from None
            raise
        parts.sort(key=lambda part: part["PartNumber"])
        if [part["PartNumber"] for part in parts] != list(range(1, len(parts) + 1)):
            raise StorageError(f"upload {self.key!r} has non-contiguous parts")
        return parts

    def tail_size(self, part_number: int) -> int:
        """The tail's size from its metadata (HEAD): the offset needs no download."""
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self.tail_key(part_number))["ContentLength"])
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                return 0
            raise

    def tail_bytes(self, part_number: int) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.tail_key(part_number))["Body"].read()
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                return b""
            raise

    def put_tail(self, part_number: int, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.tail_key(part_number), Body=body, Tagging=TAIL_TAGGING)

    def delete_tail(self, part_number: int) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.tail_key(part_number))

    def upload_part(self, number: int, body: bytes) -> None:
        if number > MAX_PARTS:
            raise StorageError(f"upload {self.key!r} would need more than {MAX_PARTS} parts")
        self.client.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body)

    def state(self) -> tuple[list[dict], int]:
        """(parts, tail size): two metadata calls, no download."""
        parts = self.parts()
        return parts, self.tail_size(len(parts) + 1)


class _MultipartAppender(Appender):
    """Appends to a resumable upload: full parts go up as they fill, the rest becomes the tail on commit.

    The stored tail is downloaded only when it has to be joined to new bytes
    (to fill a part, or to write the longer tail): a PATCH that only reads
    the offset never fetches it.
    """

    def __init__(self, upload: _ResumableUpload, parts: int, committed: int, tail_size: int) -> None:
        self._upload = upload
        self._opened_tail_part = parts + 1
        self._stored_tail = tail_size  # bytes of the stored tail not yet in the buffer
        self._tail_loaded = False
        self._next_part = parts + 1
        self._buffer = bytearray()
        self._offset = committed + tail_size

    @property
    def offset(self) -> int:
        return self._offset

    def _load_tail(self) -> None:
        if self._stored_tail:
            self._buffer[0:0] = self._upload.tail_bytes(self._opened_tail_part)
            self._stored_tail = 0
            self._tail_loaded = True

    def write(self, data: bytes) -> None:
        self._buffer += data
        self._offset += len(data)
        part_size = self._upload.part_size
        if self._stored_tail + len(self._buffer) < part_size:
            return
        self._load_tail()
        while len(self._buffer) >= part_size:
            self._upload.upload_part(self._next_part, bytes(self._buffer[:part_size]))
            del self._buffer[:part_size]
            self._next_part += 1

    def abandon(self) -> None:
        self._buffer = bytearray()  # the parts already uploaded stay; the old tail, if still current, stays valid

    def commit(self) -> int:
        if self._buffer:
            self._load_tail()  # the new tail is the old one and what followed it
            self._upload.put_tail(self._next_part, bytes(self._buffer))
        if self._tail_loaded and (self._next_part != self._opened_tail_part or not self._buffer):
            self._upload.delete_tail(self._opened_tail_part)  # joined into a part: no longer the tail
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

    def _resumable(self, key: str, ref: str) -> _ResumableUpload:
        return _ResumableUpload(self.client, self.bucket, self._full(key), ref, self.part_size)

    def _delete_tails(self, key: str) -> None:
        for info in self.list(f"{key}.tail.").objects:
            self.delete(info.key)

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
        self.client.delete_object(Bucket=self.bucket, Key=self._full(key))

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

    def resumable_offset(self, key: str, ref: str) -> int:
        parts, tail_size = self._resumable(key, ref).state()
        return sum(int(part["Size"]) for part in parts) + tail_size

    def open_appender(self, key: str, ref: str, offset: int) -> Appender:
        upload = self._resumable(key, ref)
        parts, tail_size = upload.state()
        committed = sum(int(part["Size"]) for part in parts)
        if offset != committed + tail_size:
            raise OffsetMismatch(committed + tail_size, offset)
        return _MultipartAppender(upload, len(parts), committed, tail_size)

    def finish_resumable(self, key: str, ref: str) -> None:
        upload = self._resumable(key, ref)
        try:
            parts, tail_size = upload.state()
        except ObjectNotFound:
            if self.exists(key):
                return  # completed by an earlier call
            raise
        if not parts and not tail_size:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload.key, UploadId=ref)
            self.client.put_object(Bucket=self.bucket, Key=upload.key, Body=b"")
        else:
            if tail_size:
                upload.upload_part(len(parts) + 1, upload.tail_bytes(len(parts) + 1))
                parts = upload.parts()
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=upload.key,
                UploadId=ref,
                MultipartUpload={"Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]},
            )
        self._delete_tails(key)

    def probe_write(self, key: str) -> None:
        """A multipart upload with one small part, then aborted: the bytes go through the same permissions
        and encryption as an upload's, and a versioned bucket keeps no object, version or delete marker."""
        ref = self.create_resumable(key)
        try:
            self._resumable(key, ref).upload_part(1, PROBE_BYTES)
        finally:
            self.abort_resumable(key, ref)

    def abort_resumable(self, key: str, ref: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._full(key), UploadId=ref)
        except ClientError as exc:
            if _error_code(exc) not in ("NoSuchUpload", *_NOT_FOUND):
                raise
        self._delete_tails(key)
