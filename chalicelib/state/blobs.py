"""Where model artifacts and imported data segments live: a local folder or an S3 prefix."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Protocol

import numpy as np


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...


class LocalBlobs:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a crash leaves the old file or the new one

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)


class S3Blobs:
    def __init__(self, url: str) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        self.bucket, self.prefix = bucket, prefix.strip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        from chalicelib.state.s3 import s3_client
        s3_client().put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes:
        from chalicelib.state.s3 import s3_client
        return s3_client().get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def delete(self, key: str) -> None:
        from chalicelib.state.s3 import s3_client
        s3_client().delete_object(Bucket=self.bucket, Key=self._key(key))


def open_blobs(root: str) -> BlobStore:
    return S3Blobs(root) if root.startswith("s3://") else LocalBlobs(root)


def put_arrays(blobs: BlobStore, key: str, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    blobs.put(key, buf.getvalue())


def get_arrays(blobs: BlobStore, key: str) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blobs.get(key)), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}
