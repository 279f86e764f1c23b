"""`compare`: two periods of logs, checked against two independent `analyze` runs."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from loganalyzer import schema as S
from loganalyzer.analysis.compare import COMPARE_STATS, compare, rank_changes
from loganalyzer.analysis.pipeline import analyze, sample_paths
from loganalyzer.errors import UsageError
from loganalyzer.outputs.comparison import render_comparison
from tests.helpers import log_line, run_cli

CUT = datetime(2026, 9, 15, tzinfo=UTC)
BEFORE = CUT - timedelta(hours=12)
AFTER = CUT + timedelta(hours=3)
# Baseline: Liaoning, Catalonia, England. Current: Liaoning again, Madrid and
# Washington new, England gone.
BASELINE = [("175.167.1.2", "/a")] * 4 + [("2.136.4.5", "/b")] * 2 + [("81.2.69.160", "/c")] * 2
CURRENT = (
    [("175.167.1.2", "/a")] * 2
    + [("175.167.9.9", "/a")] * 2
    + [("2.137.0.9", "/new\x1b[2J")] * 3
    + [("216.160.83.57", "/b")] * 5
)


def _lines(pairs, start):
    return [
        log_line(ip=ip, ts=start + timedelta(minutes=i), request=f"GET {path} HTTP/1.1")
        for i, (ip, path) in enumerate(pairs)
    ]


@pytest.fixture
def logs(tmp_path):
    base = tmp_path / "baseline.log"
    cur = tmp_path / "current.log"
    both = tmp_path / "both.log"
    base.write_text("\n".join(_lines(BASELINE, BEFORE)) + "\n")
    cur.write_text("\n".join(_lines(CURRENT, AFTER)) + "\n")
    both.write_text(base.read_text() + "garbage line\n" + cur.read_text())
    return {"baseline": base, "current": cur, "both": both}


def _oracle(paths_b, paths_c, by, city_db, asn_db, **kw):
    """Per-key requests and clients of each period from two plain reports."""
    out = {}
    for label, paths, extra in (
        ("baseline", paths_b, kw.get("b", {})),
        ("current", paths_c, kw.get("c", {})),
    ):
        a = analyze(paths, by=by, city_db=city_db, asn_db=asn_db, **extra)
        keys = a.meta["keys"]
        for r in a.rows.iter_rows(named=True):
            k = tuple(r[c] for c in keys)
            out.setdefault(k, {"baseline": (0, 0), "current": (0, 0)})
            out[k][label] = (r[S.REQUESTS], r[S.UNIQUE_IPS])
    return out


def _got(rows: pl.DataFrame, keys):
    return {
        tuple(r[c] for c in keys): {
            "baseline": (r["requests_baseline"], r["unique_ips_baseline"]),
            "current": (r["requests_current"], r["unique_ips_current"]),
        }
        for r in rows.iter_rows(named=True)
    }


@pytest.mark.parametrize("by", [["region"], ["asn"], ["country", "asn"], ["path"], ["ip"]])
def test_split_by_time_matches_two_reports(logs, city_db, asn_db, by):
    c = compare([logs["both"]], baseline_until=CUT, by=by, city_db=city_db, asn_db=asn_db)
    expected = _oracle(
        [logs["both"]], [logs["both"]], by, city_db, asn_db, b={"until": CUT}, c={"since": CUT}
    )
    assert _got(c.rows, c.meta["keys"]) == expected
    assert c.meta["periods"]["baseline"]["requests"] == len(BASELINE)
    assert c.meta["periods"]["current"]["requests"] == len(CURRENT)
    assert c.meta["lines"]["total"] == len(BASELINE) + len(CURRENT) + 1


@pytest.mark.parametrize("by", [["region"], ["asn"]])
def test_two_log_sets_match_the_split(logs, city_db, asn_db, by):
    files = compare(
        baseline=[logs["baseline"]], current=[logs["current"]], by=by, city_db=city_db,
        asn_db=asn_db,
    )  # fmt: skip
    split = compare([logs["both"]], baseline_until=CUT, by=by, city_db=city_db, asn_db=asn_db)
    assert files.rows.equals(split.rows)
    assert files.meta["periods"]["baseline"]["files"] == [str(logs["baseline"])]


def test_changes_and_ranking(logs, city_db, asn_db):
    c = compare(
        [logs["both"]], baseline_until=CUT, by=["region"], watch=["ES-MD", "FR"],
        city_db=city_db, asn_db=asn_db,
    )  # fmt: skip
    got = c.rows.select(S.REGION_ISO, S.COUNTRY_ISO, "change", S.WATCHED).rows()
    assert got == [
        ("ES-MD", "ES", "new", True),  # new and watched: first, though Washington is busier
        ("US-WA", "US", "new", False),  # then by the size of the change: +5
        ("ES-CT", "ES", "gone", False),  # -2, and a tie broken by the key
        ("GB-ENG", "GB", "gone", False),  # -2
        ("CN-LN", "CN", "same", False),  # 4 requests, then 4: same, though its share fell
        (None, "FR", "none", True),
    ]
    cn = c.rows.row(4, named=True)
    assert cn["requests_change"] == 0
    assert cn["requests_change_pct"] == 0.0
    assert cn["unique_ips_change"] == 1
    assert cn["share_baseline"] == pytest.approx(4 / 8)
    assert cn["share_current"] == pytest.approx(4 / 12)
    assert cn["share_change"] == pytest.approx(100 * (4 / 12 - 4 / 8))
    new = c.rows.row(0, named=True)
    assert new["requests_change_pct"] is None
    assert list(c.rows.columns) == [*c.meta["keys"], *COMPARE_STATS, S.WATCHED]


# Each row: (change, watched, requests_baseline, requests_current) in input order,
# and the order expected.
RANKING = [
    # New or gone watched places first, however small.
    ([("up", False, 1, 9), ("new", False, 0, 9), ("new", True, 0, 1)], [2, 1, 0]),
    ([("gone", True, 3, 0), ("up", False, 10, 50), ("gone", False, 60, 0)], [0, 2, 1]),
    # Then the size of the change either way; seen-in-neither watched places last.
    ([("none", True, 0, 0), ("down", False, 5, 1), ("same", False, 3, 3)], [1, 2, 0]),
    # Ties go to the busier row now.
    ([("new", False, 0, 2), ("up", False, 6, 8), ("down", False, 9, 7)], [1, 2, 0]),
]


@pytest.mark.parametrize(("rows", "order"), RANKING)
def test_rank_changes(rows, order):
    frame = pl.DataFrame(
        [
            {"key": i, "change": ch, "watched": w, "requests_baseline": rb,
             "requests_current": rc}
            for i, (ch, w, rb, rc) in enumerate(rows)
        ]
    )  # fmt: skip
    assert rank_changes(frame, ["key"])["key"].to_list() == order


@pytest.mark.parametrize(
    ("before", "after", "change"),
    [(223, 170, "down"), (170, 223, "up"), (5, 5, "same"), (0, 3, "new"), (3, 0, "gone")],
)
def test_the_word_agrees_with_the_sign_of_the_difference(
    tmp_path, city_db, asn_db, before, after, change
):
    log = tmp_path / "a.log"
    # The current period is a quarter as long, so shares and counts disagree.
    lines = _lines([("175.167.1.2", "/")] * before, BEFORE)
    lines += _lines([("175.167.1.2", "/")] * after + [("2.136.4.5", "/")] * 9, AFTER)
    log.write_text("\n".join(lines) + "\n")
    c = compare([log], baseline_until=CUT, by=["region"], city_db=city_db, asn_db=asn_db)
    row = c.rows.filter(pl.col(S.REGION_ISO) == "CN-LN").row(0, named=True)
    assert row["change"] == change
    assert row["requests_change"] == after - before


def test_shares_are_printed_to_a_precision_that_shows_the_difference():
    from loganalyzer.outputs.comparison import _shares

    assert _shares(0.25, 0.5) == ("25.0%", "50.0%")
    assert _shares(0.12341, 0.12349) == ("12.34%", "12.35%")
    assert _shares(0.1234001, 0.1234009) == ("12.3400%", "12.3401%")
    assert _shares(0.1, 0.1) == ("10.0%", "10.0%")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give LOGS with --baseline-until, or --baseline LOG... --current LOG..."),
        ({"baseline": ["a"]}, "--baseline and --current both need logs"),
        ({"paths": ["a"]}, "give LOGS with --baseline-until, or --baseline LOG... --current"),
        (
            {"paths": ["a"], "baseline_until": CUT, "baseline": ["b"], "current": ["c"]},
            "give LOGS with --baseline-until",
        ),
    ],
)
def test_periods_must_be_given_one_way(kwargs, message):
    with pytest.raises(UsageError, match=message.replace(".", r"\.")):
        compare(**kwargs)


def test_renderers_escape_log_text(logs, city_db, asn_db):
    c = compare([logs["both"]], baseline_until=CUT, by=["path"], city_db=city_db, asn_db=asn_db)
    table = render_comparison(c, "table")
    md = render_comparison(c, "markdown")
    assert isinstance(table, str)
    assert isinstance(md, str)
    assert "\x1b" not in table + md
    assert "/new\\x1b[2J" in table
    assert "/new\\x1b\\[2J" in md  # Markdown escapes the bracket too
    assert md.startswith("# Changes by path\n")
    assert c.meta["caveat"] in md
    parquet = render_comparison(c, "parquet")
    assert isinstance(parquet, bytes)
    assert pl.read_parquet(io.BytesIO(parquet)).equals(c.rows)


# --- the command --------------------------------------------------------------------------


def _cli(tmp_path, *args):
    (tmp_path / "no-geoip").mkdir(exist_ok=True)
    return run_cli(*args, cwd=tmp_path, env={"LOGANALYZER_GEOIP_DIR": str(tmp_path / "no-geoip")})


def test_cli_sample_json_matches_the_library(tmp_path):
    s = sample_paths()
    r = _cli(tmp_path, "-q", "compare", "--sample", "--baseline-until", "2026-09-16", "-O", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    lib = compare([s.log], baseline_until=datetime(2026, 9, 16), city_db=s.city_db, asn_db=s.asn_db)
    assert [
        (x["region_iso"], x["requests_baseline"], x["requests_current"], x["change"])
        for x in doc["rows"]
    ] == lib.rows.select("region_iso", "requests_baseline", "requests_current", "change").rows()
    assert doc["meta"]["periods"]["baseline"]["until"] == "2026-09-16T00:00:00Z"
    total = (
        doc["meta"]["periods"]["baseline"]["requests"]
        + doc["meta"]["periods"]["current"]["requests"]
    )
    assert total == doc["meta"]["lines"]["parsed"]


def test_cli_files_csv_and_table(tmp_path, logs, city_db, asn_db):
    args = ["compare", "--baseline", str(logs["baseline"]), "--current", str(logs["current"])]
    args += ["--city-db", str(city_db), "--asn-db", str(asn_db), "--by", "asn"]
    r = _cli(tmp_path, *args, "-o", "out.csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert [(x["asn"], x["change"]) for x in rows] == [
        ("209", "new"),  # +5
        ("20712", "gone"),  # -2
        ("3352", "up"),  # 2 requests, then 3 (its share of all fell: 2 of 8, 3 of 12)
        ("4837", "same"),  # 4, then 4
    ]
    t = _cli(tmp_path, *args, "--width", "120")
    assert t.returncode == 0, t.stderr
    out = t.stdout.decode()
    assert "Changes by asn: baseline 8 requests" in out
    assert "CenturyLink Communications, LLC" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compare", "--sample"], "--sample needs --baseline-until"),
        (["compare", "x.log"], "give LOGS with --baseline-until"),
        (["compare", "--sample", "--baseline-until", "soon"], "--baseline-until: cannot read"),
        (["compare", "--baseline", "a.log"], "--baseline and --current both need logs"),
    ],
)
def test_cli_usage_errors(tmp_path, args, message):
    r = _cli(tmp_path, *args)
    assert r.returncode == 2
    assert message in r.stderr.decode()


def test_new_anonymizer_providers(tmp_path, city_db, asn_db):
    from pathlib import Path

    from loganalyzer.anonymity.sources import AnonymizerSources

    tor_list = Path(__file__).resolve().parents[2] / "fixtures" / "anon" / "torbulkexitlist"
    tor_ip = tor_list.read_text().split()[0]
    sources = AnonymizerSources.load(tor_exits=[tor_list])
    log = tmp_path / "a.log"
    pairs_b = [("175.167.1.2", "/")] * 3
    pairs_c = [("175.167.1.2", "/")] * 2 + [(tor_ip, "/")] * 4
    log.write_text("\n".join(_lines(pairs_b, BEFORE) + _lines(pairs_c, AFTER)) + "\n")
    c = compare(
        [log], baseline_until=CUT, by=["anonymizer"], city_db=city_db, asn_db=asn_db,
        sources=sources,
    )  # fmt: skip
    assert c.rows.select(S.ANONYMIZER, "change", "requests_current").rows() == [
        ("tor_exit", "new", 4),
        ("none_known", "down", 2),
    ]
    assert [x["path"] for x in c.meta["sources"]] == [str(tor_list)]
    with pytest.raises(UsageError, match="anonymizer columns need sources"):
        compare([log], baseline_until=CUT, by=["provider"], city_db=city_db)
