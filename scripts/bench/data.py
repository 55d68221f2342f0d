"""MovieLens-100K for the benchmarks, fetched once into a cache outside the repository.

The interactions come from the ``recbole==1.2.1`` wheel on PyPI, which ships them as
``recbole/dataset_example/ml-100k/ml-100k.inter`` (tab separated, header
``user_id:token item_id:token rating:float timestamp:float``, 100,000 rows). The wheel is
fetched with ``pip download`` (so pip checks it against the index), only that one member is
extracted, and it is rewritten as the CSV an Interactions import expects:
``USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE`` with event type ``rating`` and the
1-5 star rating as the event value.

The data is GroupLens's (F. M. Harper, J. A. Konstan, "The MovieLens Datasets", ACM TiiS
2015); its licence forbids redistribution, so it is never copied into this repository.
The cache is ``$TAILOR_BENCH_CACHE`` or ``~/.cache/tailor-bench``.

``python -m scripts.bench.data`` prints the path of the CSV (fetching it if needed).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

RECBOLE = "recbole==1.2.1"
WHEEL = "recbole-1.2.1-py3-none-any.whl"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"
CSV_NAME = "ml-100k-interactions.csv"
HEADER = ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"]
EXPECTED_ROWS = 100_000

# The Interactions schema matching the CSV above.
SCHEMA = json.dumps({
    "type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
               {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"},
               {"name": "EVENT_VALUE", "type": "float"}],
    "version": "1.0"})


def _say(message: str) -> None:
    print(f"[bench.data] {message}", file=sys.stderr, flush=True)


def default_cache() -> Path:
    return Path(os.environ.get("TAILOR_BENCH_CACHE") or Path.home() / ".cache" / "tailor-bench")


def _wheel(cache: Path) -> Path:
    wheel = cache / WHEEL
    if wheel.exists():
        return wheel
    _say(f"downloading {RECBOLE} from PyPI (~2 MB, once) into {cache}")
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                    "--disable-pip-version-check", RECBOLE, "-d", str(cache)],
                   check=True, stdout=sys.stderr)
    if not wheel.exists():
        raise RuntimeError(f"pip download did not produce {wheel}")
    return wheel


def _convert(raw: bytes, out: Path) -> int:
    """The recbole .inter file (TSV with typed header) -> the Personalize CSV; returns rows."""
    lines = io.StringIO(raw.decode("utf-8"))
    header = next(lines).rstrip("\n").split("\t")
    want = ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]
    if header != want:
        raise RuntimeError(f"unexpected header in {MEMBER}: {header} (wanted {want})")
    rows = 0
    tmp = out.with_suffix(".tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        for line in lines:
            if not line.strip():
                continue
            user, item, rating, stamp = line.rstrip("\n").split("\t")
            writer.writerow([user, item, int(float(stamp)), "rating", rating])
            rows += 1
    if rows != EXPECTED_ROWS:
        tmp.unlink()
        raise RuntimeError(f"{MEMBER} has {rows} rows, expected {EXPECTED_ROWS}")
    tmp.replace(out)
    return rows


def movielens_100k(cache_dir: str | Path | None = None) -> Path:
    """Path of the ML-100K interactions CSV (header ``USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,
    EVENT_VALUE``), downloading and converting it on first use."""
    cache = Path(cache_dir) if cache_dir else default_cache()
    out = cache / CSV_NAME
    if out.exists():
        _say(f"using cached {out}")
        return out
    cache.mkdir(parents=True, exist_ok=True)
    wheel = _wheel(cache)
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(MEMBER)
    _say(f"extracted {MEMBER} ({len(raw):,} bytes, sha256 "
         f"{hashlib.sha256(raw).hexdigest()[:16]}...) from {wheel.name}")
    rows = _convert(raw, out)
    _say(f"wrote {rows:,} interactions to {out}")
    return out


if __name__ == "__main__":
    print(movielens_100k(sys.argv[1] if len(sys.argv) > 1 else None))
