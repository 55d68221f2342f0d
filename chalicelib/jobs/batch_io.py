"""The S3 side of batch inference and batch segment jobs (spec H.1, H.4, I.6).

The input path names one object or a folder (every object under it). Each object is read
in blocks of ``READ_BYTES`` on a reader thread (S3 reads overlap the scoring) and cut
into JSON lines; the caller turns chunks of lines into output lines, which go to
``<output folder>/<name>.out`` through an S3 multipart upload of ``PART_BYTES`` parts.
So memory holds a block, a chunk and a part, whatever the size of the input. Blank lines
are not records: they get no output line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.jobs.csv_blocks import prefetched
from chalicelib.jobs.lifecycle import JobFailed, begin
from chalicelib.protocol import bounds
from chalicelib.runtime import models
from chalicelib.runtime.artifacts import Artifact
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import Status
from chalicelib.state.s3 import caller_s3, split_s3_url
from chalicelib.state.store import Resource

log = logging.getLogger(__name__)
READ_BYTES = 8 << 20
PART_BYTES = 8 << 20  # S3 multipart parts must be at least 5 MiB, but the last
MAX_LINE_BYTES = 64 << 20
OUT_SUFFIX = ".out"
BOM = b"\xef\xbb\xbf"
MAX_FILTER_VALUES = 25
_MISSING = ("NoSuchKey", "NoSuchBucket", "404", "NotFound")

# A chunk of (line number, line) -> its output lines and how many of them are errors.
Handler = Callable[[list[tuple[int, bytes]]], tuple[list[bytes], int]]


def start(ctx: Context, res: Resource) -> Artifact:
    """A batch job begins: CREATE IN_PROGRESS, and the model of its solution version, which
    must still be ACTIVE."""
    begin(ctx, res)
    arn = res.attrs["solutionVersionArn"]
    version = ctx.store.get(arn)
    if version is None or version.status != Status.ACTIVE:
        raise JobFailed(f"Solution version {arn} is no longer ACTIVE; create the job again "
                        "with an ACTIVE version.")
    return models.load(ctx, arn)


class BadLine(Exception):
    """What is wrong with one input line: it becomes the line's ``error``."""


@dataclass(frozen=True)
class InputFile:
    bucket: str
    key: str
    size: int
    name: str  # relative to the input folder; the output object is <name>.out

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass
class Totals:
    lines: int = 0
    errors: int = 0
    first_error: str = ""
    outputs: int = 0


def _s3_failure(exc: Exception, url: str, which: str = "input") -> JobFailed:
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
    if code in _MISSING:
        return JobFailed(f"Invalid S3 {which} path: {url} does not exist ({code}).")
    if code in ("AccessDenied", "403"):
        return JobFailed(f"Insufficient privileges for accessing {url} in Amazon S3 ({code}).")
    return JobFailed(f"Could not {'read' if which == 'input' else 'write'} {url}: {exc}")


def folder(url: str) -> tuple[str, str]:
    """An output path -> (bucket, key prefix ending with / unless empty)."""
    bucket, prefix = split_s3_url(url)
    return bucket, prefix if not prefix or prefix.endswith("/") else prefix + "/"


def input_files(path: str, output_path: str, max_files: int, max_bytes: int,
                ) -> list[InputFile]:
    """The objects an input path names: the object itself, else every object under the
    folder (a folder may be named without its trailing /). ``.out`` files the job's own
    output folder holds are left out when input and output are the same folder."""
    try:
        bucket, key = split_s3_url(path)
    except ValueError:
        raise JobFailed(f"Invalid S3 input path: {path} is not an s3://bucket/key URL.") from None
    s3 = caller_s3()
    try:
        if key and not key.endswith("/"):
            try:
                head = s3.head_object(Bucket=bucket, Key=key)
                return [InputFile(bucket, key, head["ContentLength"], key.rsplit("/", 1)[-1])]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code", "") not in _MISSING:
                    raise
            key += "/"
        own = folder(output_path) == (bucket, key)
        files = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(key):]
                if name and not name.endswith("/") and not (own and name.endswith(OUT_SUFFIX)):
                    files.append(InputFile(bucket, obj["Key"], obj["Size"], name))
    except (ClientError, BotoCoreError) as exc:
        raise _s3_failure(exc, path) from None
    if not files:
        raise JobFailed(f"Invalid S3 input path: {path} is neither an object nor a folder "
                        "holding objects.")
    if len(files) > max_files:
        raise JobFailed(f"{path} holds {len(files)} files; a batch job reads at most "
                        f"{max_files} (quota batch_input_files).")
    total = sum(f.size for f in files)
    if total > max_bytes:
        raise JobFailed(f"{path} holds {total} bytes; a batch job reads at most {max_bytes} "
                        "(quota batch_input_bytes).")
    return sorted(files, key=lambda f: f.key)


def _blocks(file: InputFile, block_bytes: int) -> Iterator[bytes]:
    try:
        body = caller_s3().get_object(Bucket=file.bucket, Key=file.key)["Body"]
        while block := body.read(block_bytes):
            yield block
    except (ClientError, BotoCoreError) as exc:
        raise _s3_failure(exc, file.url) from None


def read_lines(file: InputFile, block_bytes: int = READ_BYTES,
               ) -> Iterator[tuple[int, bytes]]:
    """(line number, line) for each non-blank line of the object, streamed (a UTF-8
    byte-order mark and CR line ends are dropped)."""
    carry, number = b"", 0
    for block in prefetched(_blocks(file, block_bytes)):
        parts = (carry + block).split(b"\n")
        carry = parts.pop()
        if len(carry) > MAX_LINE_BYTES:
            raise JobFailed(f"{file.url} line {number + len(parts) + 1} is longer than "
                            f"{MAX_LINE_BYTES >> 20} MB.")
        for line in parts:
            number += 1
            if number == 1:
                line = line.removeprefix(BOM)
            if line.strip():
                yield number, line.rstrip(b"\r")
    if number == 0:
        carry = carry.removeprefix(BOM)
    if carry.strip():
        yield number + 1, carry.rstrip(b"\r")


class OutputObject:
    """One output object, written as parts of a multipart upload (a single PutObject when
    it is small); ``abort`` drops what was uploaded."""

    def __init__(self, bucket: str, key: str, part_bytes: int = PART_BYTES) -> None:
        self.bucket, self.key, self.part_bytes = bucket, key, part_bytes
        self._buf: list[bytes] = []
        self._size = 0
        self._upload: str | None = None
        self._parts: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def write(self, data: bytes) -> None:
        self._buf.append(data)
        self._size += len(data)
        if self._size >= self.part_bytes:
            self._flush()

    def _flush(self) -> None:
        s3 = caller_s3()
        try:
            if self._upload is None:
                self._upload = s3.create_multipart_upload(Bucket=self.bucket,
                                                          Key=self.key)["UploadId"]
            number = len(self._parts) + 1
            etag = s3.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self._upload,
                                  PartNumber=number, Body=b"".join(self._buf))["ETag"]
        except (ClientError, BotoCoreError) as exc:
            raise _s3_failure(exc, self.url, "output") from None
        self._parts.append({"ETag": etag, "PartNumber": number})
        self._buf, self._size = [], 0

    def close(self) -> None:
        s3 = caller_s3()
        try:
            if self._upload is None:
                s3.put_object(Bucket=self.bucket, Key=self.key, Body=b"".join(self._buf))
                return
            if self._buf:
                self._flush()
            s3.complete_multipart_upload(Bucket=self.bucket, Key=self.key,
                                         UploadId=self._upload,
                                         MultipartUpload={"Parts": self._parts})
        except (ClientError, BotoCoreError) as exc:
            raise _s3_failure(exc, self.url, "output") from None

    def abort(self) -> None:
        if self._upload is not None:
            try:
                caller_s3().abort_multipart_upload(Bucket=self.bucket, Key=self.key,
                                                   UploadId=self._upload)
            except (ClientError, BotoCoreError):
                log.warning("could not abort the upload of %s", self.url)


def record(echo: dict[str, Any], output: Any, error: str | None) -> bytes:
    """One output line: the echo members, then ``output`` and ``error`` (spec H.1)."""
    return (json.dumps({**echo, "output": output, "error": error}, ensure_ascii=False)
            + "\n").encode()


def parse_json(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(the line's JSON object, None) or (None, why it is not one)."""
    try:
        value = bounds.loads(raw)
    except UnicodeDecodeError:
        return None, "The line is not valid UTF-8."
    except ValueError as exc:
        return None, f"The line is not valid JSON: {exc}."
    if not isinstance(value, dict):
        return None, f"Each line must be a JSON object, got {type(value).__name__}."
    return value, None


def filter_values(value: Any) -> dict[str, str]:
    """A line's ``filterValues``: placeholder name -> value string (spec F.4)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_FILTER_VALUES or \
            not all(isinstance(v, str) for v in value.values()):
        raise BadLine(f"filterValues must be an object of at most {MAX_FILTER_VALUES} "
                      'string values, e.g. {"GENRES": "\\"comedy\\",\\"drama\\""}.')
    return value


def echo_raw(raw: bytes) -> dict[str, Any]:
    """The echo of a line that is not a JSON object: its text."""
    return {"input": raw.decode("utf-8", "replace")}


def _delete(objects: list[tuple[str, str]]) -> None:
    for bucket, key in objects:
        try:
            caller_s3().delete_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError):
            log.warning("could not delete s3://%s/%s", bucket, key)


def run_files(label: str, files: list[InputFile], output_path: str, chunk_lines: int,
              handle: Handler, max_lines: int, too_many: str) -> Totals:
    """Stream every input file through ``handle`` in chunks of ``chunk_lines`` lines into
    its ``.out`` object, logging progress every 10 % of the input bytes.

    A file with more than ``max_lines`` lines fails the job (``too_many`` says which
    limit). When the job fails, the objects it wrote are deleted.
    """
    bucket, prefix = folder(output_path)
    total_bytes = max(sum(f.size for f in files), 1)
    totals, done_bytes, next_log = Totals(), 0, 10
    written: list[tuple[str, str]] = []
    out: OutputObject | None = None
    try:
        for file in files:
            out = OutputObject(bucket, f"{prefix}{file.name}{OUT_SUFFIX}")
            chunk: list[tuple[int, bytes]] = []
            for count, (number, line) in enumerate(read_lines(file), start=1):
                if count > max_lines:
                    raise JobFailed(f"{file.url} has more than {max_lines} lines; {too_many}.")
                chunk.append((number, line))
                done_bytes += len(line) + 1
                if len(chunk) >= chunk_lines:
                    _write(out, handle, chunk, totals)
                    chunk = []
                    percent = min(99, 100 * done_bytes // total_bytes)
                    if percent >= next_log:
                        log.info("%s: %d%% of the input read, %d lines, %d errors", label,
                                 percent, totals.lines, totals.errors)
                        next_log = percent // 10 * 10 + 10
            if chunk:
                _write(out, handle, chunk, totals)
            out.close()
            written.append((out.bucket, out.key))
            totals.outputs += 1
            out = None
        log.info("%s: 100%%, %d lines in %d files, %d errors", label, totals.lines,
                 len(files), totals.errors)
    except BaseException:
        if out is not None:
            out.abort()
        _delete(written)
        raise
    return totals


def _write(out: OutputObject, handle: Handler, chunk: list[tuple[int, bytes]],
           totals: Totals) -> None:
    lines, errors = handle(chunk)
    if errors and not totals.first_error:
        for (number, _), line in zip(chunk, lines, strict=True):
            error = json.loads(line).get("error")
            if error:
                totals.first_error = f"line {number}: {error}"
                break
    totals.lines += len(lines)
    totals.errors += errors
    out.write(b"".join(lines))


def check_some_succeeded(totals: Totals, files: list[InputFile], output_path: str) -> None:
    """A job with no record, or whose every line failed (wrong format for the recipe
    everywhere), fails: its outputs are deleted."""
    if totals.lines == 0:
        raise JobFailed(f"The input ({', '.join(f.url for f in files[:3])}"
                        f"{', ...' if len(files) > 3 else ''}) holds no JSON lines.")
    if totals.errors == totals.lines:
        bucket, prefix = folder(output_path)
        _delete([(bucket, f"{prefix}{f.name}{OUT_SUFFIX}") for f in files])
        raise JobFailed(f"No line of the input could be processed ({totals.lines} lines); "
                        f"the first error: {totals.first_error}")
