"""Fixtures of the brand tests: real images made with Pillow, a media folder of the test's own,
and a real S3-compatible server (moto's server mode on a loopback port)."""

from __future__ import annotations

import io
import socket

import pytest
from PIL import Image


def image_bytes(kind: str, size: tuple[int, int] = (40, 20), color=(67, 56, 202)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=kind)
    return buffer.getvalue()


@pytest.fixture
def media_home(settings, tmp_path):
    """Media kept in a folder of this test, served at http://testserver/media/."""
    settings.HOME = tmp_path
    settings.MEDIA_STORAGE_URL = ""
    settings.MEDIA_PUBLIC_URL = "http://testserver/media/"
    settings.MEDIA_MAX_BYTES = 5 * 1024 * 1024
    return tmp_path / "media"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    """A moto S3 server on loopback (a real HTTP server speaking the S3 protocol)."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint, settings, monkeypatch, tmp_path):
    """A fresh bucket; the media settings point at it."""
    import uuid

    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = f"media-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="eu-west-1")
    client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    settings.HOME = tmp_path
    settings.MEDIA_STORAGE_URL = f"s3://{bucket}/emails?endpoint={s3_endpoint}&region=eu-west-1"
    settings.MEDIA_PUBLIC_URL = "http://testserver/media/"
    return client, bucket
