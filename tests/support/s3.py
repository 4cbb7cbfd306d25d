"""A moto S3 server on a real local port, talked to over HTTP by boto3.

Moto keeps S3's real 5 MiB minimum part size; tests must not lower it, since
that would hide the tail-handling bugs the S3 store exists to avoid.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from moto.server import ThreadedMotoServer

from shared.storage.s3 import S3Store, make_s3_client

REGION = "eu-west-2"


@dataclass
class MotoS3:
    server: ThreadedMotoServer
    endpoint_url: str

    @classmethod
    def start(cls) -> MotoS3:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        return cls(server, f"http://{host}:{port}")

    def stop(self) -> None:
        self.server.stop()

    def client(self) -> Any:
        return make_s3_client(self.endpoint_url, REGION)

    def new_bucket(self) -> str:
        name = f"mia-test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        return name

    def new_store(self, prefix: str = "media", part_size: int = 5 * 1024 * 1024) -> S3Store:
        return S3Store(self.client(), self.new_bucket(), prefix, part_size)
