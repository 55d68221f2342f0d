"""Import jobs (issue #4): CSV dialect, schema matching, row checks, FULL and INCREMENTAL.

Most tests drive the running Tailor with boto3. The last ones run the import job in
this process on a fresh data dir (still reading the test moto S3) with tiny blocks and
segments, to look at what was stored through ``chalicelib.jobs.data.dataset_columns``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests import synthetic
from tests.conftest import ROLE, Tailor, create_interactions_dataset, unique, wait

ITEMS_SCHEMA = json.dumps({
    "type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "ITEM_ID", "type": "string"},
               {"name": "GENRES", "type": ["null", "string"], "categorical": True},
               {"name": "PRICE", "type": ["null", "double"]},
               {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
               {"name": "IN_STOCK", "type": ["null", "boolean"]},
               {"name": "CREATION_TIMESTAMP", "type": "long"}],
    "version": "1.0"})
ITEMS_HEADER = "ITEM_ID,GENRES,PRICE,DESCRIPTION,IN_STOCK,CREATION_TIMESTAMP"
T0 = 1_700_000_000


def interactions(n: int, start: int = 0, header: str = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE",
                 ) -> str:
    rows = "".join(f"u{i % 97},i{i % 31},{T0 + i},click\n" for i in range(start, start + n))
    return f"{header}\n{rows}"


def import_csv(personalize: Any, s3: Any, bucket: str, dataset: str, body: str | bytes,
               mode: str = "FULL", key: str | None = None) -> dict[str, Any]:
    key = key or f"{unique('imp')}/data.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)
    return run_import(personalize, dataset, f"s3://{bucket}/{key}", mode)


def run_import(personalize: Any, dataset: str, location: str,
               mode: str = "FULL") -> dict[str, Any]:
    job = personalize.create_dataset_import_job(
        jobName=unique("imp"), datasetArn=dataset, dataSource={"dataLocation": location},
        roleArn=ROLE, importMode=mode)["datasetImportJobArn"]
    return wait(lambda: personalize.describe_dataset_import_job(
        datasetImportJobArn=job)["datasetImportJob"])


def create_items_dataset(personalize: Any) -> str:
    group = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("s"), schema=ITEMS_SCHEMA)["schemaArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    dataset = personalize.create_dataset(name=unique("d"), datasetGroupArn=group,
                                         datasetType="Items", schemaArn=schema)["datasetArn"]
    wait(lambda: personalize.describe_dataset(datasetArn=dataset)["dataset"])
    return dataset


@pytest.fixture(scope="module")
def events_dataset(personalize: Any) -> str:
    return create_interactions_dataset(personalize)[1]


@pytest.fixture(scope="module")
def items_dataset(personalize: Any) -> str:
    return create_items_dataset(personalize)


# -- through the API ------------------------------------------------------------------

def test_import__header_in_any_order_and_case_with_bom_and_crlf(
        personalize: Any, s3: Any, bucket: str, events_dataset: str) -> None:
    rows = "".join(f"{T0 + n},i{n % 31},u{n % 97},click\r\n" for n in range(1200))
    data = b"\xef\xbb\xbf" + f"timestamp,Item_Id,user_id,event_type\r\n{rows}".encode()
    job = import_csv(personalize, s3, bucket, events_dataset, data)
    assert job["status"] == "ACTIVE", job


def test_import__quoted_fields_nulls_and_long_text(personalize: Any, s3: Any, bucket: str,
                                                   items_dataset: str) -> None:
    body = (f"{ITEMS_HEADER.lower()}\n"
            f'i1,"drama|comedy",9.5,"Line one, with a comma\nline two ""quoted""",true,{T0}\n'
            f"i2,,,,,{T0}\n"  # every nullable field empty
            f'i3,horror,1e2,"{"x" * 25_000}",false,{T0}\n'  # textual: truncated, not rejected
            f"i4,Ünïcödé|日本,0.5,café,,{T0}\n")
    job = import_csv(personalize, s3, bucket, items_dataset, body)
    assert job["status"] == "ACTIVE", job


def test_import__only_required_columns(personalize: Any, s3: Any, bucket: str,
                                       items_dataset: str) -> None:
    job = import_csv(personalize, s3, bucket, items_dataset,
                     f"creation_timestamp,item_id\n{T0},i9\n")
    assert job["status"] == "ACTIVE", job


def test_import__columns_not_in_the_schema_are_ignored(
        personalize: Any, tailor: Tailor, s3: Any, bucket: str) -> None:
    """pandas' ``df.to_csv(path)`` writes an unnamed index column first; it and any other
    column the schema does not name are ignored (their names logged, cut to ~1 KB)."""
    from tests.api.test_data_jobs import export

    dataset = create_items_dataset(personalize)
    extra = ",".join(f"EXTRA_COLUMN_{n:03}" for n in range(300))
    body = (f",ITEM_ID,colour,CREATION_TIMESTAMP,GENRES,{extra}\n"
            f"0,i1,red,{T0},a|b,{',' * 299}\n1,i2,,{T0 + 1},,{'x,' * 299}x\n")
    job = import_csv(personalize, s3, bucket, dataset, body)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    _, rows = export(personalize, s3, bucket, dataset, ingestionMode="BULK")
    assert {tuple(r) for r in rows} == {tuple(ITEMS_HEADER.split(","))}
    assert sorted((r["ITEM_ID"], r["GENRES"], r["CREATION_TIMESTAMP"]) for r in rows) == [
        ("i1", "a|b", str(T0)), ("i2", "", str(T0 + 1))]
    logged = [line for line in tailor.log.read_text().splitlines()
              if "the schema does not name" in line]
    assert logged and all(len(line) < 1400 for line in logged), logged


def test_import__prefix_reads_every_csv(personalize: Any, s3: Any, bucket: str,
                                        events_dataset: str) -> None:
    prefix = unique("prefix")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/a.csv", Body=interactions(600).encode())
    # Each file has its own header: b.csv lists the columns the other way round.
    rows = [",".join(reversed(line.split(",")))
            for line in interactions(600, start=600).splitlines()[1:]]
    s3.put_object(Bucket=bucket, Key=f"{prefix}/b.csv",
                  Body=("EVENT_TYPE,TIMESTAMP,ITEM_ID,USER_ID\n" + "\n".join(rows)).encode())
    s3.put_object(Bucket=bucket, Key=f"{prefix}/notes.txt", Body=b"not a csv")
    job = run_import(personalize, events_dataset, f"s3://{bucket}/{prefix}/")
    assert job["status"] == "ACTIVE", job  # 600 + 600 rows: only together >= 1000


def test_import__incremental_after_full(personalize: Any, s3: Any, bucket: str) -> None:
    dataset = create_items_dataset(personalize)
    first = import_csv(personalize, s3, bucket, dataset,
                       f"{ITEMS_HEADER}\ni1,a,1,old,true,{T0}\ni2,b,2,,false,{T0}\n")
    again = import_csv(personalize, s3, bucket, dataset,
                       f"{ITEMS_HEADER}\ni1,c,3,new,false,{T0 + 1}\n", mode="INCREMENTAL")
    assert (first["status"], again["status"]) == ("ACTIVE", "ACTIVE"), (first, again)
    assert again["importMode"] == "INCREMENTAL"
    jobs = personalize.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"]
    assert sorted(j["importMode"] for j in jobs) == ["FULL", "INCREMENTAL"]


@pytest.mark.parametrize("body, reason", [
    (",item_id,colour\n0,i1,red\n",
     "Input CSV is missing the following columns: ['CREATION_TIMESTAMP']"),
    ("item_id,genres\ni1,a\n",
     "Input CSV is missing the following columns: ['CREATION_TIMESTAMP']"),
    (f"ITEM_ID,ITEM_ID,CREATION_TIMESTAMP\ni1,i1,{T0}\n", "more than once"),
    (f"{ITEMS_HEADER}\ni1,a,1,,True,{T0}\n",
     "line 2, row 1: IN_STOCK must be true or false (lowercase), got 'True'"),
    (f"{ITEMS_HEADER}\ni1,a,1,,true,{T0 * 1000}\n",
     f"line 2, row 1: CREATION_TIMESTAMP {T0 * 1000} looks like milliseconds"),
    (f"{ITEMS_HEADER}\ni1,a,1,,true,{T0}.5\n",
     f"CREATION_TIMESTAMP must be an integer, got '{T0}.5'"),
    (f"{ITEMS_HEADER}\ni1,a,cheap,,true,{T0}\n", "PRICE must be a number, got 'cheap'"),
    (f"{ITEMS_HEADER}\n{'i' * 257},a,1,,true,{T0}\n",
     "ITEM_ID is longer than 256 characters (257"),
    (f"{ITEMS_HEADER}\ni1,ok|{'g' * 1001},1,,true,{T0}\n",
     "GENRES has a value longer than 1000 characters"),
    (f"{ITEMS_HEADER}\n,a,1,,true,{T0}\n",
     "line 2, row 1: ITEM_ID is empty but the schema does not allow null"),
    (f"{ITEMS_HEADER}\ni1,a,1,,true,{T0},extra\n",
     "line 2, row 1: 7 values for 6 header columns"),
    (f'{ITEMS_HEADER}\ni1,"a\nb",1,,true,\n',
     "line 2, row 1: CREATION_TIMESTAMP is empty"),
    (f'{ITEMS_HEADER}\ni1,"a,b",1,,true,{T0},x\n',  # quoted, irregular: the csv module
     "line 2, row 1: 7 values for 6 header columns"),
    (f'{ITEMS_HEADER}\n\ni1,"a\nb",1,,yes,{T0}\ni2,a,1,,no,{T0}\n',
     "2 invalid row(s)"),
    (f'{ITEMS_HEADER}\n\ni1,"a\nb",1,,yes,{T0}\ni2,a,1,,no,{T0}\n',
     "line 5, row 2: IN_STOCK must be true or false (lowercase), got 'no'"),
    (f'{ITEMS_HEADER}\ni1,a"b,1,,true,{T0}\ni2,c,1,,nope,{T0}\n',  # a stray quote
     "1 invalid row(s)"),
    (f'{ITEMS_HEADER}\ni1,a"b,1,,true,{T0}\ni2,c,1,,nope,{T0}\n',
     "line 3, row 2: IN_STOCK must be true or false (lowercase), got 'nope'"),
    (f"{ITEMS_HEADER}\ri1,a,1,,true,{T0}\ri2,a,1,,maybe,{T0}\r",  # old Mac line ends
     "line 3, row 2: IN_STOCK must be true or false (lowercase), got 'maybe'"),
    (b"ITEM_ID,CREATION_TIMESTAMP\ncaf\xe9,1\n", "is not UTF-8 text (near line 2)"),
    ("", "is empty; the first line must be a header row"),
])
def test_import__bad_data_fails_with_a_reason(personalize: Any, s3: Any, bucket: str,
                                              items_dataset: str, body: str | bytes,
                                              reason: str) -> None:
    job = import_csv(personalize, s3, bucket, items_dataset, body)
    assert job["status"] == "CREATE FAILED"
    assert reason in job["failureReason"], job["failureReason"]


def test_import__bad_rows_are_counted_and_located(personalize: Any, s3: Any, bucket: str,
                                                  events_dataset: str) -> None:
    rows = interactions(1500).splitlines()
    rows[3] = f'u1,i1,{T0},"two\nlines"'  # a quoted newline: physical lines run ahead
    rows[10] = f"u1,i1,{T0 * 1000},click"  # data row 10, physical line 12
    rows[700] = "u1,,17,click"  # row 700, line 702
    rows[1499] = "u1,i1,soon,click"  # row 1499, line 1501
    key = f"{unique('bad')}/x.csv"
    job = import_csv(personalize, s3, bucket, events_dataset, "\n".join(rows) + "\n", key=key)
    reason = job["failureReason"]
    assert job["status"] == "CREATE FAILED"
    assert reason.startswith(f"3 invalid row(s) in s3://{bucket}/{key}; nothing was imported.")
    where = f"s3://{bucket}/{key} line"
    found = [reason.index(f"{where} {n}, row {r}: {f}") for n, r, f in (
        (12, 10, "TIMESTAMP"), (702, 700, "ITEM_ID"), (1501, 1499, "TIMESTAMP"))]
    assert found == sorted(found)  # first errors in file order


def test_import__too_few_interactions(personalize: Any, s3: Any, bucket: str,
                                      events_dataset: str) -> None:
    job = import_csv(personalize, s3, bucket, events_dataset, interactions(999))
    assert job["status"] == "CREATE FAILED"
    assert "at least 1000 rows" in job["failureReason"] and "has 999" in job["failureReason"]


# -- in this process: what was stored ----------------------------------------------------

@pytest.fixture
def local(tmp_path: Path, tailor: Tailor, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A Context on a fresh data dir whose jobs read the test moto S3; tiny blocks and
    segments so that a few KB of CSV cross many block and segment boundaries."""
    from chalicelib.config import Settings
    from chalicelib.jobs import dataset_import
    from chalicelib.state import arns
    from chalicelib.state import s3 as s3_state
    from chalicelib.state.context import build

    for key in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS", "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(key, tailor.env[key])
    monkeypatch.setattr(s3_state, "_local", threading.local())
    monkeypatch.setattr(dataset_import, "BLOCK_BYTES", 512)
    monkeypatch.setattr(dataset_import, "SEGMENT_BYTES", 4096)
    with arns.scoped(arns.Scope("us-east-1", "123456789012")):  # as a request would be
        yield build(Settings(data_dir=tmp_path / "data"))


def _in_process(ctx: Any, schema: str, dataset_type: str) -> str:
    from chalicelib.jobs import runner
    from chalicelib.resources import dataset_groups, datasets, schemas

    group = dataset_groups.create_dataset_group(ctx, {"name": unique("g")})["datasetGroupArn"]
    schema_arn = schemas.create_schema(ctx, {"name": unique("s"), "schema": schema})["schemaArn"]
    runner.drain(ctx)
    dataset = datasets.create_dataset(ctx, {
        "name": unique("d"), "datasetGroupArn": group, "datasetType": dataset_type,
        "schemaArn": schema_arn})["datasetArn"]
    runner.drain(ctx)
    return dataset


def _import_here(ctx: Any, s3: Any, bucket: str, dataset: str, body: str,
                 mode: str = "FULL") -> dict[str, Any]:
    from chalicelib.jobs import runner
    from chalicelib.resources import import_jobs

    key = f"{unique('local')}/data.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    arn = import_jobs.create_dataset_import_job(ctx, {
        "jobName": unique("imp"), "datasetArn": dataset, "importMode": mode,
        "dataSource": {"dataLocation": f"s3://{bucket}/{key}"}})["datasetImportJobArn"]
    runner.drain(ctx)
    return import_jobs.describe_dataset_import_job(
        ctx, {"datasetImportJobArn": arn})["datasetImportJob"]


def _segments(ctx: Any, dataset: str) -> int:
    return ctx.store.db.execute("SELECT COUNT(*) FROM segments WHERE dataset_arn = ?",
                                [dataset]).fetchone()[0]


def test_stored__items_incremental_keeps_the_newest_record(local: Any, s3: Any,
                                                           bucket: str) -> None:
    from chalicelib.jobs.data import dataset_columns
    from chalicelib.runtime import events

    dataset = _in_process(local, ITEMS_SCHEMA, "Items")
    rows = [f'i{n},"g{n % 3}|x",{n}.5,"text, {n}\nmore",true,{T0 + n}' for n in range(60)]
    rows[5] = f"i5,,,,,{T0 + 5}"
    rows[59] = f"i1,late,0.25,dup in file,false,{T0}"  # a later row of the same import wins
    full = _import_here(local, s3, bucket, dataset, f"{ITEMS_HEADER}\n" + "\n".join(rows))
    assert full["status"] == "ACTIVE", full
    assert _segments(local, dataset) > 3  # many blocks and segments

    cols = dataset_columns(local, dataset)
    assert cols is not None and len(cols["ITEM_ID"]) == 59
    by_id = {i: n for n, i in enumerate(cols["ITEM_ID"].tolist())}
    assert cols["GENRES"][by_id["i1"]] == "late" and cols["PRICE"][by_id["i1"]] == 0.25
    assert cols["DESCRIPTION"][by_id["i7"]] == "text, 7\nmore"
    assert cols["GENRES"][by_id["i5"]] == "" and np.isnan(cols["PRICE"][by_id["i5"]])
    assert not cols["IN_STOCK"][by_id["i5"]]

    incremental = _import_here(local, s3, bucket, dataset, (
        "description,item_id,creation_timestamp\n"  # GENRES etc. left out: null
        f"new,i2,{T0 + 100}\nnewer,i2,{T0 + 101}\nfresh,i99,{T0 + 102}\n"), "INCREMENTAL")
    assert incremental["status"] == "ACTIVE", incremental
    cols = dataset_columns(local, dataset)
    assert cols is not None and len(cols["ITEM_ID"]) == 60
    by_id = {i: n for n, i in enumerate(cols["ITEM_ID"].tolist())}
    assert cols["DESCRIPTION"][by_id["i2"]] == "newer" and cols["GENRES"][by_id["i2"]] == ""
    assert cols["CREATION_TIMESTAMP"][by_id["i99"]] == T0 + 102
    assert cols["DESCRIPTION"][by_id["i3"]] == "text, 3\nmore"  # untouched

    events.put_items(local, {"datasetArn": dataset, "items": [
        {"itemId": "i3", "properties": json.dumps({"creationTimestamp": T0 + 200,
                                                   "genres": "put"})}]})
    cols = dataset_columns(local, dataset)
    assert cols is not None and len(cols["ITEM_ID"]) == 60
    i3 = cols["ITEM_ID"].tolist().index("i3")
    assert cols["GENRES"][i3] == "put" and cols["CREATION_TIMESTAMP"][i3] == T0 + 200

    again = _import_here(local, s3, bucket, dataset, f"item_id,creation_timestamp\ni7,{T0}\n")
    assert again["status"] == "ACTIVE"
    bulk = dataset_columns(local, dataset, sources={"BULK"})
    assert bulk is not None and bulk["ITEM_ID"].tolist() == ["i7"]  # FULL replaced the rest
    cols = dataset_columns(local, dataset)
    assert cols is not None and sorted(cols["ITEM_ID"].tolist()) == ["i3", "i7"]


def test_stored__interactions_keep_every_row_in_file_order(local: Any, s3: Any,
                                                           bucket: str) -> None:
    from chalicelib.jobs.data import dataset_columns

    dataset = _in_process(local, synthetic.INTERACTIONS_SCHEMA, "Interactions")
    body = interactions(1200, header="event_type,TIMESTAMP,item_id,USER_ID")
    lines = body.splitlines()
    rows = [",".join(reversed(line.split(","))) for line in lines[1:]]
    rows[3] = rows[3].replace("click", '"cl""ick, x"')
    rows[400] = rows[400].replace("click", "clíck")  # non-ASCII in a quote-free block
    data = "\ufeff" + lines[0] + "\r\n" + "\r\n".join(rows) + "\r\n\r\n"
    job = _import_here(local, s3, bucket, dataset, data)
    assert job["status"] == "ACTIVE", job
    cols = dataset_columns(local, dataset)
    assert cols is not None
    assert cols["TIMESTAMP"].tolist() == list(range(T0, T0 + 1200))
    assert cols["USER_ID"].tolist()[:3] == ["u0", "u1", "u2"]
    assert cols["EVENT_TYPE"][3] == 'cl"ick, x' and cols["EVENT_TYPE"][400] == "clíck"
    assert cols["USER_ID"].dtype.kind == "U" and cols["TIMESTAMP"].dtype == np.int64

    again = _import_here(local, s3, bucket, dataset, interactions(1000), "INCREMENTAL")
    assert again["status"] == "ACTIVE"
    cols = dataset_columns(local, dataset)
    assert cols is not None and len(cols["USER_ID"]) == 2200  # interactions are all kept


def test_stored__a_failed_import_leaves_nothing_behind(local: Any, s3: Any,
                                                       bucket: str) -> None:
    from chalicelib.jobs.data import dataset_columns

    dataset = _in_process(local, synthetic.INTERACTIONS_SCHEMA, "Interactions")
    assert _import_here(local, s3, bucket, dataset, interactions(1100))["status"] == "ACTIVE"
    before = sorted(p.name for p in (local.settings.data_dir / "artifacts").rglob("*.npz"))
    bad = interactions(1100).replace(f"{T0 + 1050},", "later,")
    job = _import_here(local, s3, bucket, dataset, bad)
    assert job["status"] == "CREATE FAILED"
    assert "1 invalid row(s)" in job["failureReason"]
    assert "line 1052, row 1051: TIMESTAMP must be an integer, got 'later'" in \
        job["failureReason"]
    after = sorted(p.name for p in (local.settings.data_dir / "artifacts").rglob("*.npz"))
    assert after == before  # the blocks written before the bad row were deleted
    cols = dataset_columns(local, dataset)
    assert cols is not None and len(cols["USER_ID"]) == 1100


@pytest.mark.parametrize("quoting, newline", [
    ("minimal", "\n"), ("all", "\r\n"), ("minimal", "\r\n"), ("all", "\n")])
def test_stored__values_read_back_as_the_csv_module_reads_them(
        local: Any, s3: Any, bucket: str, quoting: str, newline: str) -> None:
    import csv
    import io

    from chalicelib.jobs.data import dataset_columns

    rng = np.random.default_rng(len(quoting) + len(newline))
    alphabet = list('ab ,"\n|éx日') + ['""', "", "z"]

    def text() -> str:
        return "".join(rng.choice(alphabet, size=int(rng.integers(0, 12))).tolist())

    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline,
                        quoting=csv.QUOTE_ALL if quoting == "all" else csv.QUOTE_MINIMAL)
    writer.writerow(["DESCRIPTION", "ITEM_ID", "GENRES", "CREATION_TIMESTAMP"])
    for n in range(300):
        writer.writerow([text(), f"i{n}{text()}", text(), T0 + n])
    body = out.getvalue()
    expected = list(csv.reader(io.StringIO(body, newline="")))[1:]

    dataset = _in_process(local, ITEMS_SCHEMA, "Items")
    assert _import_here(local, s3, bucket, dataset, body)["status"] == "ACTIVE"
    cols = dataset_columns(local, dataset)
    assert cols is not None
    got = list(zip(cols["DESCRIPTION"].tolist(), cols["ITEM_ID"].tolist(),
                   cols["GENRES"].tolist(), cols["CREATION_TIMESTAMP"].tolist(), strict=True))
    assert got == [(d, i, g, int(t)) for d, i, g, t in expected]


def test_stored__a_segment_without_a_later_field_reads_as_null(local: Any, s3: Any,
                                                               bucket: str) -> None:
    from chalicelib.jobs.data import dataset_columns
    from chalicelib.state.blobs import put_arrays

    dataset = _in_process(local, ITEMS_SCHEMA, "Items")
    assert _import_here(local, s3, bucket, dataset, (
        f"{ITEMS_HEADER}\ni1,a,1.5,new,true,{T0}\n"), "FULL")["status"] == "ACTIVE"
    # As if imported before UpdateDataset added PRICE and DESCRIPTION: older, and without.
    put_arrays(local.blobs, "segments/old.npz", {
        "ITEM_ID": np.array(["i1", "i0"]), "GENRES": np.array(["x", "y"]),
        "IN_STOCK": np.array([False, True]), "CREATION_TIMESTAMP": np.array([1, 2])})
    local.store.db["segments"].insert({"key": "segments/old.npz", "dataset_arn": dataset,
                                       "job_arn": "old", "source": "BULK", "rows": 2,
                                       "created": 0.0})
    cols = dataset_columns(local, dataset)
    assert cols is not None and {len(c) for c in cols.values()} == {2}
    assert cols["ITEM_ID"].tolist() == ["i0", "i1"]  # i1's newer record replaced the old
    assert cols["DESCRIPTION"].tolist() == ["", "new"]
    assert np.isnan(cols["PRICE"][0]) and cols["PRICE"][1] == 1.5
