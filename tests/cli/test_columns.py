"""``--columns``: the user chooses which columns follow the keys, in every format."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import polars as pl
import pytest

from tests.helpers import run_cli

REPORT_KEYS = ["geo_status", "country_iso", "country", "region_iso", "region"]


def _columns_of(fmt: str, r, tmp_path) -> list[str]:
    """The column names an output carries, read back as a user's tool would."""
    if fmt == "csv":
        return next(csv.reader(io.StringIO(r.stdout.decode())))
    if fmt == "json":
        return list(json.loads(r.stdout)["rows"][0])
    if fmt == "parquet":
        return pl.read_parquet(tmp_path / "out.parquet").columns
    if fmt == "xlsx":
        sheet = openpyxl.load_workbook(tmp_path / "out.xlsx")["rows"]
        return [c.value for c in next(sheet.iter_rows(max_row=1))]
    if fmt == "markdown":
        header = next(h for h in r.stdout.decode().splitlines() if h.startswith("|"))
        return [c.strip().replace(r"\_", "_") for c in header.strip("|").split("|")]
    raise AssertionError(fmt)


@pytest.mark.parametrize(
    ("command", "args", "keys"),
    [
        ("report", [], REPORT_KEYS),
        ("ips", [], ["ip"]),
        ("compare", ["--baseline-until", "2026-09-15T16:00:00Z"], REPORT_KEYS),
    ],
)
@pytest.mark.parametrize("fmt", ["csv", "json", "parquet", "xlsx", "markdown"])
def test_keys_then_the_columns_asked_for_in_their_order(tmp_path, command, args, keys, fmt):
    wanted = ["last_seen", "requests"] if command != "compare" else ["change", "share_current"]
    to_file = ["-o", str(tmp_path / f"out.{fmt}")] if fmt in ("parquet", "xlsx") else ["-O", fmt]
    r = run_cli(command, "--sample", *args, "--columns", ",".join(wanted), *to_file)
    assert r.returncode == 0, r.stderr
    columns = _columns_of(fmt, r, tmp_path)
    if fmt == "json":  # JSON objects are written with their keys sorted
        assert sorted(columns) == sorted([*keys, *wanted])
    else:
        assert columns == [*keys, *wanted]


def test_the_table_shows_exactly_the_columns_asked_for():
    r = run_cli("report", "--sample", "--columns", "status_4xx,requests", "--top", "2")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    header = next(line for line in lines if "status_4xx" in line).split()
    # The keys, then the columns in the order asked; geo_status is for machines.
    assert header == ["country_iso", "country", "region_iso", "region", "status_4xx", "requests"]
    liaoning = next(line for line in lines if "CN-LN" in line).split()
    assert liaoning[-2:] == ["25", "187"]


def test_an_unknown_column_is_a_usage_error_that_lists_the_columns():
    r = run_cli("report", "--sample", "--columns", "requests,reqs")
    assert r.returncode == 2
    message = r.stderr.decode().strip().splitlines()[-1]
    assert message.startswith("Error: --columns: no column 'reqs'; this output has ")
    assert "requests" in message
    assert "status_4xx" in message
