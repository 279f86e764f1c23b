"""Every command honours every parse option, on one machine and on a cluster.

``--client-ip``, ``--trusted-proxy``, ``--assume-tz``, ``--log-format`` and
``--json-field`` reach every command that reads logs through one option group;
this table checks, through the installed CLI, that each command's result
changes as the option says. ``enrich`` once dropped three of them on one machine
while its cluster branch kept them.

The logs are tiny and written here, the databases are the bundled samples. What
each command shows is reduced to the same observation, the places and the
earliest request (UTC, to the minute), so one table of expectations serves
tables, JSON, Parquet, a chart and a briefing. One run per command serves the
three options it can check at once (a log of each kind, each with its own
client); the two options that change how every file is read get a run each.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from loganalyzer.analysis.pipeline import sample_paths
from tests.helpers import run_cli

# Behind a proxy (10.0.0.2, private) X-Forwarded-For names the Liaoning client
# 175.167.3.4, then a Spanish hop 2.136.4.5: with --client-ip xff the right-most
# hop is the client, unless --trusted-proxy 2.136.0.0/16 skips it.
XFF_LINE = (
    '10.0.0.2 - - [14/Sep/2026:{t} +0000] "GET /a HTTP/1.1" 200 100 "-" "curl/8.5.0" '
    '"175.167.3.4, 2.136.4.5"'
)
# HAProxy writes its times without a zone: --assume-tz +08:00 moves them 8 hours back.
HAPROXY_LINE = (
    "81.2.69.160:51001 [14/Sep/2026:{t}.120] www~ app/web1 0/0/1/10/11 200 5120 - - "
    '---- 4/4/0/0/0 0/0 "GET / HTTP/1.1"'
)
# Fields in an order no preset reads: only --log-format reads these.
CUSTOM_LINE = '"GET /a HTTP/1.1" 175.167.3.4 [14/Sep/2026:{t} +0000] 200 100'
CUSTOM_FORMAT = 'apache:"%r" %h %t %>s %b'
# JSON with keys no preset knows: only --json-field reads these.
JSON_LINE = '{{"addr": "175.167.3.4", "when": "2026-09-14T{t}Z", "uri": "/a", "code": 200}}'
JSON_FIELDS = ("--json-field", "client_ip=addr", "--json-field", "ts=when")
TIMES = ("00:10:01", "08:10:01", "16:10:01")

PROXY_ARGS = ("--client-ip", "xff", "--trusted-proxy", "2.136.0.0/16", "--assume-tz", "+08:00")

# Splits every log's requests into two periods, with or without --assume-tz.
BASELINE_UNTIL = "2026-09-14T04:00:00Z"


@dataclass(frozen=True)
class Seen:
    """What a command showed: the region codes (``-`` for none) and the first request."""

    places: frozenset[str]
    first: str


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("logs")
    written = {}
    for name, line in (
        ("xff.log", XFF_LINE),
        ("haproxy.log", HAPROXY_LINE),
        ("custom.log", CUSTOM_LINE),
        ("fields.log", JSON_LINE),
    ):
        path = folder / name
        path.write_text("".join(line.format(t=t) + "\n" for t in TIMES), encoding="utf-8")
        written[name] = path
    return written


def _databases() -> tuple[str, ...]:
    s = sample_paths()
    return ("--city-db", str(s.city_db), "--asn-db", str(s.asn_db))


def _minute(iso: str) -> str:
    return iso.replace("T", " ")[:16]


def _ok(r) -> None:
    assert r.returncode == 0, r.stderr.decode()


def _from_json(r) -> Seen:
    _ok(r)
    doc = json.loads(r.stdout)
    places = frozenset(row["region_iso"] or "-" for row in doc["rows"])
    return Seen(places, _minute(doc["meta"]["time_range"]["first"]))


def _from_parquet(frame: pl.DataFrame) -> Seen:
    places = frozenset(p or "-" for p in frame["region_iso"].to_list())
    first = frame["ts"].min()
    assert isinstance(first, datetime)
    return Seen(places, _minute(first.isoformat()))


def _from_text(text: str) -> Seen:
    # Charts and briefings name a place "Liaoning, China (CN-LN)" and give the
    # time range as "2026-09-14 00:10 UTC to ...".
    places = frozenset(re.findall(r"\(([A-Z]{2}-[A-Z0-9]+)\)", text))
    first = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d) UTC to ", text)
    assert first, text[:2000]
    return Seen(places, first.group(1))


def observe(command: str, inputs: list[Path], args: tuple[str, ...], out: Path) -> Seen:
    """Run one command on ``inputs`` with ``args`` and reduce what it showed to a Seen."""
    base = (*map(str, inputs), *_databases(), *args)
    if command in ("report", "report --scheduler"):
        return _from_json(run_cli("report", *base, "--by", "region", "-O", "json"))
    if command == "ips":
        return _from_json(run_cli("ips", *base, "-O", "json"))
    if command == "compare":
        split = ("--baseline-until", BASELINE_UNTIL, "--by", "region", "-O", "json")
        return _from_json(run_cli("compare", *base, *split))
    if command in ("enrich", "enrich --scheduler"):
        target = out / "requests.parquet"
        if command != "enrich":
            target = out / "dataset"
            base = (*base, "--partitioned")
        _ok(run_cli("enrich", *base, "-o", str(target)))
        files = sorted(target.rglob("*.parquet")) if target.is_dir() else [target]
        return _from_parquet(pl.concat([pl.read_parquet(f) for f in files], how="diagonal"))
    if command == "plot":
        target = out / "regions.svg"
        _ok(run_cli("plot", *base, "--kind", "regions", "-o", str(target)))
        return _from_text(target.read_text(encoding="utf-8"))
    if command == "brief":
        target = out / "briefing.md"
        _ok(run_cli("brief", *base, "-o", str(target)))
        return _from_text(target.read_text(encoding="utf-8"))
    raise AssertionError(command)


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    yield cluster.scheduler_address
    cluster.close()


# The runs: which logs, with which options. One run serves several rows.
RUNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "proxy and zone": (("xff.log", "haproxy.log"), PROXY_ARGS),
    "log format": (("custom.log",), ("--log-format", CUSTOM_FORMAT)),
    "json fields": (("fields.log",), JSON_FIELDS),
}

# (option, run, what the result must be); the comment says what it is without the option.
ROWS = [
    # conn: the proxy's private address, under "-" (no region)
    ("--client-ip", "proxy and zone", lambda s: "-" not in s.places),
    # xff alone: the Spanish hop, ES-CT
    ("--trusted-proxy", "proxy and zone", lambda s: s.places == {"CN-LN", "GB-ENG"}),
    # UTC: the first request at 2026-09-14 00:10
    ("--assume-tz", "proxy and zone", lambda s: s.first == "2026-09-13 16:10"),
    # auto: no preset reads the file (exit 3)
    ("--log-format", "log format", lambda s: s == Seen(frozenset({"CN-LN"}), "2026-09-14 00:10")),
    # auto: no preset reads the file (exit 3)
    ("--json-field", "json fields", lambda s: s == Seen(frozenset({"CN-LN"}), "2026-09-14 00:10")),
]
COMMANDS = ["report", "ips", "enrich", "compare", "plot", "brief"]
ON_A_CLUSTER = ["report --scheduler", "enrich --scheduler"]


@pytest.fixture(scope="module")
def seen(logs, tmp_path_factory, request):
    """What each (command, run) showed, run once for all the rows that read it."""

    @functools.cache
    def run(command: str, name: str) -> Seen:
        files, args = RUNS[name]
        if command.endswith("--scheduler"):
            address = request.getfixturevalue("scheduler")
            args = (*args, "--scheduler", address)
        out = tmp_path_factory.mktemp(re.sub(r"\W+", "-", f"{command}-{name}"))
        return observe(command, [logs[f] for f in files], args, out)

    return run


@pytest.mark.parametrize(
    ("command", "option", "run", "holds"),
    [
        pytest.param(command, option, run, holds, id=f"{command}:{option}")
        for command in [*COMMANDS, *ON_A_CLUSTER]
        for option, run, holds in ROWS
    ],
)
def test_each_command_honours_each_parse_option(seen, command, option, run, holds):
    got = seen(command, run)
    files, args = RUNS[run]
    assert holds(got), f"{command} {shlex.join(args)} on {', '.join(files)}: {got}"


def test_without_the_options_the_answers_differ(logs):
    # The rows above expect what only the options give: here is the contrast.
    plain = observe("report", [logs["xff.log"], logs["haproxy.log"]], (), Path())
    assert plain == Seen(frozenset({"-", "GB-ENG"}), "2026-09-14 00:10")
    xff_only = observe("report", [logs["xff.log"]], ("--client-ip", "xff"), Path())
    assert xff_only.places == {"ES-CT"}
    for name in ("custom.log", "fields.log"):
        r = run_cli("report", str(logs[name]), *_databases())
        assert r.returncode == 3, r.stderr.decode()
        assert b"no known log format fits" in r.stderr


def test_lookup_from_log_honours_log_format(logs):
    # lookup's only parse option: --from-log reads with --log-format (combined by default).
    args = ("lookup", "--from-log", str(logs["custom.log"]), *_databases(), "-O", "json")
    r = run_cli(*args, "--log-format", CUSTOM_FORMAT)
    _ok(r)
    assert [row["input"] for row in json.loads(r.stdout)["rows"]] == ["175.167.3.4"]
    assert run_cli(*args).returncode == 3
