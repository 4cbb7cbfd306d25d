"""Resumable-upload tails on S3 are tagged so the bucket lifecycle can expire abandoned ones.

terraform/storage.tf expires objects under uploads/ that carry the tail tag;
an untagged tail would live forever, and a tagged original would be deleted.
"""

from __future__ import annotations

import os

import pytest

from shared.storage.s3 import MIN_PART_SIZE, TAIL_TAGGING, S3Store

pytestmark = pytest.mark.s3


def _tags(store: S3Store, key: str) -> dict[str, str]:
    response = store.client.get_object_tagging(Bucket=store.bucket, Key=store._full(key))
    return {tag["Key"]: tag["Value"] for tag in response["TagSet"]}


def test_tails_carry_the_lifecycle_tag_and_originals_do_not(s3_store: S3Store) -> None:
    key = "uploads/e1/u1/original"
    ref = s3_store.create_resumable(key)
    s3_store.append(key, ref, 0, [os.urandom(MIN_PART_SIZE + 1234)])  # one part, then a tail

    tails = [info.key for info in s3_store.list("uploads/").objects]
    assert tails == [f"{key}.tail.2"]
    tag_key, tag_value = TAIL_TAGGING.split("=")
    assert _tags(s3_store, tails[0]) == {tag_key: tag_value}

    s3_store.finish_resumable(key, ref)
    assert [info.key for info in s3_store.list("uploads/").objects] == [key]
    assert _tags(s3_store, key) == {}


def test_empty_upload_original_is_untagged(s3_store: S3Store) -> None:
    key = "uploads/e1/u2/original"
    ref = s3_store.create_resumable(key)
    s3_store.finish_resumable(key, ref)
    assert _tags(s3_store, key) == {}
