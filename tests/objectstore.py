"""An S3 API server on loopback for the suite (moto's), as ``tests/cluster.py`` is a Spark cluster: real requests
through Hadoop's ``s3a`` connector, real objects, no network beyond this machine."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.cluster import LOOPBACK, free_port

#: What the server takes as credentials (any); given to every client through the environment, never the config.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "swapvec-test", "AWS_SECRET_ACCESS_KEY": "swapvec-test-secret"}
REGION = "us-east-1"


@dataclass(frozen=True)
class S3:
    endpoint: str  # http://127.0.0.1:PORT
    bucket: str

    def uri(self, key: str, scheme: str = "s3a") -> str:
        return f"{scheme}://{self.bucket}/{key}"

    def env(self) -> dict[str, str]:
        """The environment a client reaches the server with (AWS's own variables, which S3A reads too)."""
        return {**CREDENTIALS, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": self.endpoint}

    def spark_settings(self) -> list[str]:
        """``--set`` settings that point a local session's S3A connector at the server."""
        conf = {
            "fs.s3a.endpoint": self.endpoint,
            "fs.s3a.endpoint.region": REGION,
            "fs.s3a.path.style.access": "true",
            "fs.s3a.connection.ssl.enabled": "false",
        }
        return [f"spark.conf.spark.hadoop.{k}={v}" for k, v in conf.items()]

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, **_boto(CREDENTIALS))

    def put(self, key: str, path: Path) -> str:
        self.client().upload_file(str(path), self.bucket, key)
        return self.uri(key)

    def keys(self, prefix: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def read_text(self, key: str) -> str:
        return self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()

    def arrow_fs(self):
        from pyarrow import fs

        host = self.endpoint.removeprefix("http://")
        return fs.S3FileSystem(
            access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            endpoint_override=host,
            scheme="http",
            region=REGION,
        )

    def delta_options(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
        }


def _boto(credentials: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": credentials["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": credentials["AWS_SECRET_ACCESS_KEY"],
    }


@contextlib.contextmanager
def s3_server(root: Path, bucket: str = "swapvec") -> Iterator[S3]:
    """moto's S3 server on a free loopback port, with one bucket; stopped by its process group."""
    port = free_port()
    with open(root / "moto.log", "wb") as log:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", LOOPBACK, "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as probe:
                if probe.connect_ex((LOOPBACK, port)) == 0:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the S3 server did not start:\n{(root / 'moto.log').read_text()[-2000:]}")
            time.sleep(0.2)
        s3 = S3(endpoint=f"http://{LOOPBACK}:{port}", bucket=bucket)
        s3.client().create_bucket(Bucket=bucket)
        yield s3
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
