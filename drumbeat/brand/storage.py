"""Where the media library's bytes live: a folder (DRUMBEAT_HOME/media by default) or an
S3-compatible bucket, as DRUMBEAT_MEDIA_URL says, and the public URL emails load them from
(DRUMBEAT_MEDIA_PUBLIC_URL, by default Drumbeat's own /media/ route).

    DRUMBEAT_MEDIA_URL=                      -> DRUMBEAT_HOME/media
    DRUMBEAT_MEDIA_URL=/srv/drumbeat-media   -> that folder (also file:///srv/drumbeat-media)
    DRUMBEAT_MEDIA_URL=s3://bucket/prefix?endpoint=https://s3.example.net&region=eu-west-1

S3 credentials come from the usual AWS environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN, AWS profiles…), as boto3 reads them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.conf import settings

CACHE_CONTROL = "public, max-age=31536000, immutable"
# Names are made by media.py: a hex digest and the format's extension; nothing else is served.
NAME_RE = re.compile(r"^[0-9a-f]{16,64}\.(png|jpg|gif|webp)\Z")


class StorageConfigError(ValueError):
    """DRUMBEAT_MEDIA_URL cannot be understood."""


class MissingFile(Exception):
    """No stored bytes under that name."""


@dataclass(frozen=True)
class LocalStore:
    root: Path

    def describe(self) -> str:
        return f"folder {self.root}"

    def _path(self, name: str) -> Path:
        if not NAME_RE.match(name):
            raise MissingFile(name)
        return self.root / name

    def save(self, name: str, data: bytes, content_type: str) -> None:
        path = self._path(name)
        self.root.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size == len(data):
            return  # content-addressed: same name, same bytes
        temporary = path.with_suffix(path.suffix + ".part")
        temporary.write_bytes(data)
        temporary.replace(path)

    def read(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            raise MissingFile(name)

    def path(self, name: str) -> Path:
        path = self._path(name)
        if not path.is_file():
            raise MissingFile(name)
        return path

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)


@dataclass(frozen=True)
class S3Store:
    bucket: str
    prefix: str
    endpoint: str | None
    region: str | None

    def describe(self) -> str:
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"bucket s3://{self.bucket}/{self.prefix}{where}"

    @functools.cached_property
    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region)

    def _key(self, name: str) -> str:
        if not NAME_RE.match(name):
            raise MissingFile(name)
        return f"{self.prefix}{name}"

    def save(self, name: str, data: bytes, content_type: str) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._key(name),
            Body=data,
            ContentType=content_type,
            CacheControl=CACHE_CONTROL,
        )

    def _get(self, name: str) -> dict:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                raise MissingFile(name)
            raise

    def read(self, name: str) -> bytes:
        return self._get(name)["Body"].read()

    def stream(self, name: str) -> tuple[Iterator[bytes], int]:
        """The object's bytes in chunks, and its length (for serving without holding it)."""
        response = self._get(name)
        return response["Body"].iter_chunks(64 * 1024), int(response["ContentLength"])

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(name))


Store = LocalStore | S3Store


def parse_storage_url(value: str, home: Path) -> Store:
    """The store DRUMBEAT_MEDIA_URL describes; StorageConfigError says what is wrong."""
    value = value.strip()
    if not value:
        return LocalStore(home / "media")
    if value.startswith("s3://"):
        parts = urlsplit(value)
        bucket = parts.netloc
        if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", bucket or ""):
            raise StorageConfigError(
                f"{bucket!r} is not an S3 bucket name (3-63 lowercase letters, digits, . and -)"
            )
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(query) - {"endpoint", "region"})
        if unknown:
            raise StorageConfigError(
                f"unknown option {unknown[0]!r} (s3:// URLs take endpoint and region)"
            )
        endpoint = (query.get("endpoint") or [""])[-1].strip() or None
        if endpoint and not re.match(r"^https?://[^/\s]+", endpoint):
            raise StorageConfigError(
                f"endpoint must be an http:// or https:// URL, got {endpoint!r}"
            )
        region = (query.get("region") or [""])[-1].strip() or None
        prefix = unquote(parts.path).strip("/")
        return S3Store(bucket, f"{prefix}/" if prefix else "", endpoint, region)
    if value.startswith("file://"):
        value = unquote(urlsplit(value).path)
    elif "://" in value:
        raise StorageConfigError(
            f"expected a folder path, file:///path or s3://bucket/prefix, got {value.split(':')[0]}://"
        )
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise StorageConfigError(f"a folder must be an absolute path, got {value!r}")
    return LocalStore(path)


@functools.lru_cache(maxsize=8)
def _store_for(value: str, home: str) -> Store:
    return parse_storage_url(value, Path(home))


def get_store() -> Store:
    """The configured store (one per setting value, so tests may change the setting)."""
    return _store_for(settings.MEDIA_STORAGE_URL, str(settings.HOME))


def public_url(name: str) -> str:
    """The URL an email loads the file `name` from."""
    base = settings.MEDIA_PUBLIC_URL
    return f"{base}{'' if base.endswith('/') else '/'}{name}"
