"""The command line end to end: the real CLI in a subprocess, as a user runs it.

Every run gets LOGANALYZER_GEOIP_DIR pointing at an empty folder, so databases
installed on the machine running the tests are never picked up.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import stat
import zlib
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import polars as pl
import pytest

from loganalyzer import schema as S
from loganalyzer.analysis.meta import NO_ANON_SOURCES
from loganalyzer.analysis.pipeline import analyze, sample_paths
from loganalyzer.ingest.presets import PRESETS
from loganalyzer.outputs.render import render_csv, safe_text
from tests.helpers import log_line, run_cli

T0 = datetime(2026, 9, 14, 8, 0, 0, tzinfo=UTC)
GOOD = [
    log_line(ip="175.167.1.2", ts=T0, request="GET /a HTTP/1.1"),
    log_line(ip="2408:8200::1", ts=T0 + timedelta(minutes=1), status=404, size="-"),
    log_line(ip="2.136.4.5", ts=T0 + timedelta(minutes=2), offset_hours=2),
    log_line(ip="81.2.69.160", ts=T0 + timedelta(minutes=3), status=500),
    log_line(ip="10.0.0.7", ts=T0 + timedelta(minutes=4)),
    log_line(ip="8.8.8.8", ts=T0 + timedelta(minutes=5), status=301),
]
# Line 3 is junk and line 5 is blank: 8 lines, 6 parsed, 2 rejected.
LINES = [GOOD[0], GOOD[1], "garbage without any structure", GOOD[2], "", *GOOD[3:]]
LOG_TEXT = "".join(line + "\n" for line in LINES)


@pytest.fixture
def work(tmp_path) -> Path:
    """A folder with access.log (and an empty GeoIP folder)."""
    (tmp_path / "access.log").write_text(LOG_TEXT, encoding="utf-8")
    (tmp_path / "no-geoip").mkdir()
    return tmp_path


def cli(work: Path, *args: str, stdin: bytes | None = None):
    return run_cli(
        *args, stdin=stdin, cwd=work, env={"LOGANALYZER_GEOIP_DIR": str(work / "no-geoip")}
    )


def text(data: bytes) -> str:
    return data.decode("utf-8")


# --- help, version, formats ---------------------------------------------------------------


def test_top_level_help(work):
    r = cli(work, "--help")
    assert r.returncode == 0
    assert r.stderr == b""
    out = text(r.stdout)
    assert out.startswith("Usage: loganalyzer [OPTIONS] COMMAND [ARGS]...")
    assert "loganalyzer report --sample" in out
    for command in ("report", "enrich", "db", "formats"):
        assert re.search(rf"(?m)^  {command}\s+\S", out), command
    assert "Exit codes: 0 ok" in out


@pytest.mark.parametrize(
    "command",
    [
        ["report"],
        ["enrich"],
        ["db", "info"],
        ["formats"],
        ["lookup"],
        ["compare"],
        ["config", "show"],
    ],
    ids=["report", "enrich", "db-info", "formats", "lookup", "compare", "config-show"],
)
def test_command_help_shows_examples(work, command):
    r = cli(work, *command, "--help")
    assert r.returncode == 0
    assert r.stderr == b""
    out = text(r.stdout)
    assert out.startswith(f"Usage: loganalyzer {' '.join(command)} [OPTIONS]")
    assert re.search(r"(?m)^  Examples?:$", out)
    examples = re.split(r"(?m)^  Examples?:$", out, maxsplit=1)[1]
    assert re.search(rf"(?m)^\s+loganalyzer {' '.join(command)}\b", examples)


def test_version(work):
    r = cli(work, "--version")
    assert r.returncode == 0
    assert r.stderr == b""
    assert text(r.stdout) == (
        f"loganalyzer, version {version('loganalyzer')}\n"
        "city database: none found\nasn database: none found\n"
    )


def test_formats_lists_every_preset(work):
    r = cli(work, "formats")
    assert r.returncode == 0
    assert r.stderr == b""
    out = text(r.stdout)
    for fmt in PRESETS.values():
        assert re.search(rf"(?m)^{re.escape(fmt.name)}$", out), fmt.name
        definition = "regex" if fmt.syntax == "regex" else fmt.syntax
        assert f"  {definition}: {safe_text(fmt.template)}\n" in out
        assert f"  example:  {safe_text(fmt.example)}\n" in out


# --- report ---------------------------------------------------------------------------------


def sample_notes() -> list[str]:
    s = sample_paths()
    return [
        "Using the bundled sample log and its invented sample databases (not real geolocation).",
        f"Rejected 3 of 400 lines (in {s.log}): 1 blank line, 2 does not match the log format; "
        "see them with --rejects FILE",
        f"Database: {s.city_db} (GeoLite2-City, built 2026-09-01)",
        f"Database: {s.asn_db} (GeoLite2-ASN, built 2026-09-01)",
        f"Note: {NO_ANON_SOURCES}",
    ]


def test_report_sample_table_on_stdout_notes_on_stderr(work):
    r = cli(work, "report", "--sample")
    assert r.returncode == 0
    assert text(r.stderr).splitlines() == sample_notes()
    out = text(r.stdout)
    assert "Requests by region: 397 requests" in out
    assert re.search(r"(?m)^\s*CN\s+China\s+CN-LN\s+Liaoning\s+187\s", out)
    assert "400 lines read, 397 parsed, 3 rejected" in out
    assert "\x1b" not in out  # not a terminal: no colour
    assert "Using the bundled sample" not in out
    assert max(len(line) for line in out.splitlines()) <= 120


def test_report_json(work):
    r = cli(work, "report", "--sample", "-O", "json", "--by", "country")
    assert r.returncode == 0
    assert text(r.stderr).splitlines() == sample_notes()
    doc = json.loads(r.stdout)
    lines = doc["meta"]["lines"]
    assert lines["total"] == lines["parsed"] + lines["rejected"] == 400
    assert lines["matched"] == sum(row["requests"] for row in doc["rows"]) == 397
    assert doc["meta"]["group_by"] == ["country"]
    assert [row["country_iso"] for row in doc["rows"][:2]] == ["CN", "ES"]


@pytest.mark.parametrize(
    ("name", "kind"), [("out.csv", "csv"), ("report.json", "json")], ids=["csv", "json"]
)
def test_report_to_file_is_atomic_and_infers_the_format(work, city_db, name, kind):
    r = cli(work, "report", "access.log", "--city-db", str(city_db), "-o", name)
    assert r.returncode == 0
    assert r.stdout == b""
    assert text(r.stderr).splitlines()[-1] == f"Wrote {kind} report to {name}"
    assert sorted(p.name for p in work.iterdir()) == sorted(["access.log", "no-geoip", name])
    body = (work / name).read_text(encoding="utf-8")
    if kind == "csv":
        expected = render_csv(analyze([work / "access.log"], city_db=city_db).rows)
        assert body == expected
    else:
        assert json.loads(body)["meta"]["lines"]["parsed"] == 6
    # Written like any other file: the umask decides, not the temporary file's 0600.
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((work / name).stat().st_mode) == 0o666 & ~umask


def test_report_refuses_to_overwrite_an_input(work, city_db):
    # -O table: a .log suffix names no output format, which is refused first (exit 2).
    r = cli(
        work, "report", "access.log", "--city-db", str(city_db), "-O", "table", "-o", "access.log"
    )
    assert r.returncode == 5
    assert r.stdout == b""
    assert text(r.stderr).splitlines()[-1] == (
        "Error: access.log: refusing to overwrite an input file"
    )
    assert (work / "access.log").read_text(encoding="utf-8") == LOG_TEXT
    assert sorted(p.name for p in work.iterdir()) == ["access.log", "no-geoip"]


@pytest.mark.parametrize("target", ["out.xls", "access.log", "report"])
def test_an_output_file_whose_suffix_names_no_format_is_refused(work, city_db, target):
    r = cli(work, "report", "access.log", "--city-db", str(city_db), "-o", target)
    assert r.returncode == 2
    assert "cannot tell the output format from" in text(r.stderr)
    assert "give it with -O" in text(r.stderr)
    assert (work / "access.log").read_text(encoding="utf-8") == LOG_TEXT
    assert sorted(p.name for p in work.iterdir()) == ["access.log", "no-geoip"]


def test_an_xlsx_file_is_a_real_workbook(work, city_db):
    import openpyxl

    r = cli(work, "report", "access.log", "--city-db", str(city_db), "-o", "report.xlsx")
    assert r.returncode == 0, text(r.stderr)
    book = openpyxl.load_workbook(work / "report.xlsx")
    assert book.sheetnames == ["rows", "provenance"]
    header = [c.value for c in next(book["rows"].iter_rows())]
    assert "requests" in header


# --- exit codes: one case per failure -------------------------------------------------------

USAGE_BOGUS = (
    "Usage: loganalyzer report [OPTIONS] [LOGS]...\n"
    "Try 'loganalyzer report --help' for help.\n\n"
    "Error: No such option '--qqqqqqqq'.\n"
)


@pytest.mark.parametrize(
    ("args", "code", "stderr"),
    [
        pytest.param(
            ["report", "access.log", "--qqqqqqqq"], 2, USAGE_BOGUS, id="usage-unknown-option"
        ),
        pytest.param(
            ["report", "access.log", "--city-db", "{city}", "--by", "nope"],
            2,
            "Error: cannot group by 'nope'; use country, region, subregion, city, asn, ip, "
            "anonymizer, provider, actor_type, or a column such as path, status, day, hour\n",
            id="usage-bad-by",
        ),
        pytest.param(
            ["report", "access.log", "--city-db", "{city}", "--where", "foo=1"],
            2,
            "Error: --where: unknown column 'foo'\n",
            id="usage-bad-where",
        ),
        pytest.param(
            ["report"],
            2,
            "Error: no log files given; pass LOG... (or - for stdin), or --sample\n",
            id="usage-no-logs",
        ),
        pytest.param(
            ["report", "missing.log", "--city-db", "{city}"],
            3,
            "Error: missing.log: no such file\n",
            id="input-missing-file",
        ),
        pytest.param(
            ["report", "junk.log", "--city-db", "{city}", "--log-format", "combined"],
            3,
            "Error: 2 of 2 lines did not match log format 'combined' (first at junk.log:1); "
            "check --log-format, or raise --max-bad-lines\n",
            id="input-pure-junk",
        ),
        pytest.param(
            ["report", "junk.log", "--city-db", "{city}"],
            3,
            "Error: junk.log: no known log format fits its first 2 lines (no preset reads any "
            "of them); pass --log-format with a preset, 'apache:<LogFormat>' or "
            "'nginx:<log_format>'\n",
            id="input-pure-junk-detected",
        ),
        pytest.param(
            ["report", "access.log", "--city-db", "nope.mmdb"],
            4,
            "Error: nope.mmdb: no such database file\n",
            id="db-missing",
        ),
        pytest.param(
            ["report", "access.log", "--city-db", "{city}", "--asn-db", "{city}"],
            4,
            "Error: {city}: is a 'GeoLite2-City' database, but --asn-db needs an ASN database "
            "(GeoLite2-ASN, GeoIP2-ISP, DB-IP ASN Lite)\n",
            id="db-wrong-type",
        ),
        pytest.param(
            ["report", "access.log"],
            4,
            "Error: no City or Country database found (looked in {geoip}); pass --city-db FILE "
            "or --geoip-dir DIR, or set LOGANALYZER_GEOIP_DIR\n",
            id="db-none-found",
        ),
    ],
)
def test_exit_codes(work, city_db, args, code, stderr):
    (work / "junk.log").write_text("junk\nmore junk\n", encoding="utf-8")
    fill = {"city": str(city_db), "geoip": str(work / "no-geoip")}
    r = cli(work, *[a.format(**fill) for a in args])
    assert r.returncode == code
    assert r.stdout == b""
    assert text(r.stderr) == stderr.format(**fill)
    assert "Traceback" not in text(r.stderr)


def test_traceback_flag_shows_the_traceback(work, city_db):
    r = cli(work, "--traceback", "report", "missing.log", "--city-db", str(city_db))
    assert r.returncode != 0
    assert r.stdout == b""
    err = text(r.stderr)
    assert "Traceback (most recent call last):" in err
    assert err.endswith("loganalyzer.errors.InputFileError: missing.log: no such file\n")


# --- truncated compressed input ---------------------------------------------------------------


def _big_log() -> bytes:
    ips = ["175.167.{}.{}", "2.136.{}.{}", "81.2.69.{}", "10.0.{}.{}"]
    lines = [
        log_line(
            ip=ips[i % 4].format(i % 250, (i * 7) % 250),
            ts=T0 + timedelta(seconds=37 * i),
            request=f"GET /item/{i * 7919 % 100003}?q={i * 31337 % 9973} HTTP/1.1",
            size=i * 13 % 5000,
        )
        for i in range(3000)
    ]
    return "".join(line + "\n" for line in lines).encode()


@pytest.fixture
def truncated(work) -> tuple[str, int]:
    whole = gzip.compress(_big_log())
    cut = whole[: len(whole) // 2]
    (work / "old.log.gz").write_bytes(cut)
    readable = zlib.decompressobj(wbits=31).decompress(cut)
    return "old.log.gz", readable.count(b"\n")


@pytest.mark.parametrize(("keep_going", "code"), [(False, 3), (True, 7)], ids=["default", "keep"])
def test_truncated_gzip(work, city_db, truncated, keep_going, code):
    name, complete = truncated
    args = ["report", name, "--city-db", str(city_db), "-O", "json"]
    r = cli(work, *args, *(["--keep-going"] if keep_going else []))
    assert r.returncode == code
    err = text(r.stderr).splitlines()
    warnings = [e for e in err if e.startswith("Warning: ")]
    errors = [e for e in err if e.startswith("Error: ")]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"Warning: {name}: compressed data is truncated or corrupt")
    if keep_going:
        assert errors == []
        assert err[-1] == (
            "Partial: 1 cut short of 1 inputs (see the warnings above); the output covers the rest"
        )
    else:
        assert len(errors) == 1
        assert errors[0].startswith(f"Error: {name}: compressed data is truncated or corrupt")
        assert errors[0].endswith(
            "; the lines before it were analysed (--keep-going analyses the other files too)"
        )
    # The report is still written, and counts what was readable before the break.
    doc = json.loads(r.stdout)
    lines = doc["meta"]["lines"]
    assert complete > 1000
    assert complete <= lines["total"] <= complete + 1
    assert lines["parsed"] >= complete
    assert sum(row["requests"] for row in doc["rows"]) == lines["matched"] == lines["parsed"]
    assert "truncated" in doc["meta"]["files"][0]["error"]


# --- rejects, stdin ------------------------------------------------------------------------------


def test_rejects_in_several_files_are_not_pinned_on_the_first(work, city_db):
    for name in ("b.log", "c.log"):
        (work / name).write_text(LOG_TEXT, encoding="utf-8")
    r = cli(work, "report", "access.log", "b.log", "c.log", "--city-db", str(city_db))
    assert r.returncode == 0
    assert text(r.stderr).splitlines()[0] == (
        "Rejected 6 of 24 lines (in access.log and 2 other files): 3 blank line, "
        "3 does not match the log format; see them with --rejects FILE"
    )


def test_rejects_file(work, city_db):
    r = cli(
        work,
        "report",
        "access.log",
        "--city-db",
        str(city_db),
        "--rejects",
        "rej.jsonl",
        "-O",
        "csv",
    )
    assert r.returncode == 0
    assert text(r.stderr).splitlines()[0] == (
        "Rejected 2 of 8 lines (in access.log): 1 blank line, 1 does not match the log format; "
        "written to rej.jsonl"
    )
    records = [json.loads(line) for line in (work / "rej.jsonl").read_text().splitlines()]
    assert records == [
        {
            "source": "access.log",
            "line_no": 3,
            "reason": "does not match the log format",
            "line": "garbage without any structure",
        },
        {"source": "access.log", "line_no": 5, "reason": "blank line", "line": ""},
    ]
    assert text(r.stdout).startswith(f"{S.GEO_STATUS},")


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_stdin(work, city_db, compress):
    data = LOG_TEXT.encode()
    r = cli(
        work,
        "report",
        "-",
        "--city-db",
        str(city_db),
        "--by",
        "country",
        "-O",
        "csv",
        stdin=gzip.compress(data) if compress else data,
    )
    assert r.returncode == 0
    expected = analyze([work / "access.log"], city_db=city_db, by=["country"])
    assert text(r.stdout) == render_csv(expected.rows)
    assert text(r.stderr).splitlines()[0].startswith("Rejected 2 of 8 lines (in -): ")


# --- enrich ---------------------------------------------------------------------------------------


def test_enrich_writes_parquet(work, city_db, asn_db):
    r = cli(
        work,
        "enrich",
        "access.log",
        "--city-db",
        str(city_db),
        "--asn-db",
        str(asn_db),
        "-o",
        "requests.parquet",
    )
    assert r.returncode == 0
    assert r.stdout == b""
    assert text(r.stderr).splitlines()[-1] == "Wrote 6 requests to requests.parquet"
    assert sorted(p.name for p in work.iterdir()) == ["access.log", "no-geoip", "requests.parquet"]
    frame = pl.read_parquet(work / "requests.parquet")
    geo = {k: v for k, v in S.GEO_SCHEMA.items() if k != S.CLIENT}
    assert frame.schema == pl.Schema({**S.PARSED_SCHEMA, **geo})
    assert frame.height == len(GOOD)
    assert frame[S.LINE_NO].to_list() == [1, 2, 4, 6, 7, 8]
    assert frame[S.REGION_ISO].to_list() == ["CN-LN", "CN-LN", "ES-CT", "GB-ENG", None, None]
    assert frame[S.GEO_STATUS].to_list() == ["ok", "ok", "ok", "ok", "not_public", "not_found"]
    assert frame[S.ASN].to_list()[:2] == [4837, 4837]


# --- db info ----------------------------------------------------------------------------------


def test_db_info(work, city_db, asn_db):
    r = cli(work, "db", "info", "--city-db", str(city_db), "--asn-db", str(asn_db))
    assert r.returncode == 0
    assert r.stderr == b""
    lines = text(r.stdout).splitlines()
    assert len(lines) == 2
    assert re.fullmatch(
        rf"city  {re.escape(str(city_db))}  GeoLite2-City  built 2026-09-01 \(\d+ days ago\)",
        lines[0],
    )
    assert re.fullmatch(
        rf"asn   {re.escape(str(asn_db))}  GeoLite2-ASN  built 2026-09-01 \(\d+ days ago\)",
        lines[1],
    )


def test_db_info_json_from_geoip_dir(work, geo_dbs):
    folder = geo_dbs["city"].parent
    r = cli(work, "db", "info", "--geoip-dir", str(folder), "--json")
    assert r.returncode == 0
    assert r.stderr == b""
    doc = json.loads(r.stdout)
    assert doc["searched"] == [str(folder)]
    age = (datetime.now(UTC) - datetime(2026, 9, 1, tzinfo=UTC)).days
    expected = [
        {"role": "city", "path": str(geo_dbs["city"]), "type": "GeoLite2-City"},
        {"role": "asn", "path": str(geo_dbs["asn"]), "type": "GeoLite2-ASN"},
    ]
    for got, want in zip(doc["databases"], expected, strict=True):
        assert {k: got[k] for k in want} == want
        assert (got["build_date"], got["build_epoch"]) == ("2026-09-01", 1788220800)
        assert got["age_days"] in (age, age - 1)


# --- one option group, one object ---------------------------------------------------------

READ_PARAMS = {
    "logs",
    "log_format",
    "json_field",
    "client_ip",
    "trusted_proxy",
    "assume_tz",
    "since",
    "until",
    "where",
    "rejects",
    "max_bad_lines",
    "keep_going",
    "sample",
}
GEO_PARAMS = {"city_db", "asn_db", "geoip_dir", "lang"}
SOURCE_PARAMS = {
    "anon_db",
    "tor_exits",
    "ip_list",
    "cloud_ranges",
    "asn_list",
    "sources_dir",
    "tor_window",
    "stale_after",
}


def test_every_command_that_reads_logs_gets_every_read_option():
    # The groups are declared once: a command that reads logs cannot miss one of them.
    from loganalyzer.cli import cli

    readers = {
        name
        for name, command in cli.commands.items()
        if any(p.name == "logs" for p in command.params)
    }
    assert readers == {"brief", "compare", "enrich", "ips", "links", "plot", "report"}
    for name in readers:
        params = {p.name for p in cli.commands[name].params}
        assert params >= READ_PARAMS | GEO_PARAMS | SOURCE_PARAMS, name


def test_a_command_receives_one_frozen_object_per_group():
    import dataclasses

    import click
    from click.testing import CliRunner

    from loganalyzer.cli.options import read_options, source_options

    got = {}

    @click.command()
    @read_options
    @source_options
    def probe(**objects):
        got.update(objects)

    r = CliRunner().invoke(
        probe,
        ["a.log", "--client-ip", "xff", "--trusted-proxy", "10.0.0.0/8", "--since", "2026-09-14"],
    )
    assert r.exit_code == 0, r.output
    assert sorted(got) == ["filters", "read", "sources"]
    read, filters = got["read"], got["filters"]
    assert read.logs == ("a.log",)
    assert (read.parse.client_ip, read.parse.trusted_proxies) == ("xff", ("10.0.0.0/8",))
    assert filters.since == "2026-09-14"
    with pytest.raises(dataclasses.FrozenInstanceError):
        read.logs = ()
