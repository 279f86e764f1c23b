"""End to end: each fixture log through the real CLI, its format detected per file."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from tests.helpers import run_cli

LOGS = Path(__file__).resolve().parents[2] / "fixtures" / "logs"

# file -> (detected format, match rate, lines, parsed, rejected, the clients it reports).
# The rate is over the lines tried: not blank, not comments, not Caddy's start-up record.
FILES = {
    "combined.log": ("combined", 0.9524, 21, 20, 1, None),
    "haproxy.log": ("haproxy", 0.8333, 6, 5, 1, {"175.167.3.4": 2, "2408:8200::1": 1,
                                                 "2.136.4.5": 1, "81.2.69.160": 1}),
    "iis.log": ("w3c", 0.8, 11, 4, 7, {"175.167.3.4": 1, "2408:8200::1": 1, "2.136.4.5": 1,
                                       "81.2.69.160": 1}),
    "caddy.log": ("caddy", 0.6667, 4, 2, 2, {"175.167.3.4": 1, "2a02:9000::5": 1}),
    "nginx_main.log": ("nginx_main", 0.8, 5, 4, 1, {"10.0.0.2": 3, "81.2.69.160": 1}),
}  # fmt: skip


def _report(*args: str, city_db: Path) -> dict:
    r = run_cli("report", *args, "--city-db", str(city_db), "--by", "ip", "-O", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("name", list(FILES))
def test_fixture_log_is_detected_and_parsed(name: str, city_db: Path) -> None:
    fmt, rate, total, parsed, rejected, clients = FILES[name]
    out = _report(str(LOGS / name), city_db=city_db)
    (info,) = out["meta"]["files"]
    assert (info["format"], info["format_match_rate"], info["lines"]) == (
        fmt,
        rate,
        {"total": total, "parsed": parsed, "rejected": rejected},
    )
    if clients is not None:
        assert {r["client_ip"]: r["requests"] for r in out["rows"]} == clients


def test_one_run_detects_each_file_on_its_own(city_db: Path) -> None:
    out = _report(*(str(LOGS / n) for n in FILES), city_db=city_db)
    formats = [(Path(f["path"]).name, f["format"]) for f in out["meta"]["files"]]
    assert formats == [(n, FILES[n][0]) for n in FILES]
    assert out["meta"]["lines"]["parsed"] == sum(f[3] for f in FILES.values())


@pytest.mark.parametrize(
    ("args", "clients"),
    [
        pytest.param([], {"10.0.0.2": 3, "81.2.69.160": 1}, id="conn"),
        pytest.param(
            ["--client-ip", "xff-first"],
            {"175.167.3.4": 1, "1.2.3.4": 1, "10.0.0.2": 1, "81.2.69.160": 1},
            id="xff-first-is-spoofable",
        ),
        pytest.param(
            ["--client-ip", "xff", "--trusted-proxy", "10.0.0.0/8"],
            {"175.167.3.4": 1, "2.136.4.5": 1, "10.0.0.2": 1, "81.2.69.160": 1},
            id="xff-right-most-untrusted",
        ),
    ],
)
def test_client_ip_options(args: list[str], clients: dict, city_db: Path) -> None:
    out = _report(str(LOGS / "nginx_main.log"), *args, city_db=city_db)
    assert {r["client_ip"]: r["requests"] for r in out["rows"]} == clients


def test_assume_tz_moves_zone_less_times(city_db: Path) -> None:
    utc = _report(str(LOGS / "haproxy.log"), city_db=city_db)
    cst = _report(str(LOGS / "haproxy.log"), "--assume-tz", "Asia/Shanghai", city_db=city_db)
    assert utc["meta"]["time_range"] == {
        "first": "2026-09-14T08:00:01Z",
        "last": "2026-09-14T08:00:06Z",
    }
    assert cst["meta"]["time_range"] == {
        "first": "2026-09-14T00:00:01Z",
        "last": "2026-09-14T00:00:06Z",
    }


def test_a_named_format_skips_detection(city_db: Path) -> None:
    out = _report(str(LOGS / "combined.log"), "--log-format", "common", city_db=city_db)
    (info,) = out["meta"]["files"]
    assert info["format"] == "common"
    assert "format_match_rate" not in info


def test_nginx_log_format_on_the_command_line(city_db: Path) -> None:
    fmt = 'nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent'
    out = _report(str(LOGS / "common.log"), "--log-format", fmt, city_db=city_db)
    assert out["meta"]["files"][0]["format"] == "custom"
    assert out["meta"]["lines"]["parsed"] == 9


def test_json_field_mapping(tmp_path: Path, city_db: Path) -> None:
    log = tmp_path / "app.jsonl"
    log.write_text(
        '{"peer":"175.167.3.4","at":"2026-09-14T08:00:01+08:00","code":200}\n'
        '{"peer":"2.136.4.5","at":"2026-09-14T08:00:02+08:00","code":404}\n',
        encoding="utf-8",
    )
    out = _report(str(log), "--json-field", "client_ip=peer,ts=at", "--json-field", "status=code",
                  city_db=city_db)  # fmt: skip
    assert out["meta"]["files"][0]["format"] == "json"
    assert sorted(r["client_ip"] for r in out["rows"]) == ["175.167.3.4", "2.136.4.5"]
    assert out["meta"]["time_range"]["first"] == "2026-09-14T00:00:01Z"


def test_unknown_format_file_is_exit_3_naming_it(tmp_path: Path, city_db: Path) -> None:
    log = tmp_path / "weird.log"
    log.write_text("hello\nworld\n", encoding="utf-8")
    r = run_cli("report", str(log), "--city-db", str(city_db))
    assert r.returncode == 3
    assert r.stdout == b""
    assert r.stderr.decode() == (
        f"Error: {log}: no known log format fits its first 2 lines (no preset reads any of "
        "them); pass --log-format with a preset, 'apache:<LogFormat>' or 'nginx:<log_format>'\n"
    )


def test_enrich_writes_every_format_into_one_parquet(tmp_path: Path, city_db: Path) -> None:
    out = tmp_path / "all.parquet"
    logs = [str(LOGS / n) for n in ("haproxy.log", "iis.log", "caddy.log")]
    r = run_cli("enrich", *logs, "--city-db", str(city_db), "-o", str(out))
    assert r.returncode == 0, r.stderr
    frame = pl.read_parquet(out)
    assert frame.height == 5 + 4 + 2
    # Extra columns of each format are kept, null for the others.
    assert frame.filter(pl.col("frontend").is_not_null()).height == 4
    assert frame.filter(pl.col("remote_ip").is_not_null())["remote_ip"].to_list() == [
        "10.0.0.9",
        "2a02:9000::5",
    ]


def test_formats_lists_an_example_for_every_preset() -> None:
    r = run_cli("formats")
    assert r.returncode == 0
    from loganalyzer.ingest.presets import PRESETS

    assert r.stdout.decode().count("\n  example:  ") == len(PRESETS)
