"""Aggregation, watch/top and --where filters, on logs built line by line.

Counts are stated literally; place names come from fixtures/geo/city.json.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from loganalyzer import schema as S
from loganalyzer.analysis.aggregate import (
    aggregate,
    mark_watched,
    merge_partials,
    partials,
    resolve_grouping,
    summarize,
    top,
)
from loganalyzer.analysis.pipeline import analyze
from loganalyzer.errors import UsageError
from loganalyzer.geo.databases import GeoDatabases
from loganalyzer.geo.enrich import enrich, lookup
from loganalyzer.ingest.detect import parse
from tests.helpers import log_line

T0 = datetime(2026, 9, 14, 8, 0, 0, tzinfo=UTC)
STATS = (S.REQUESTS, S.UNIQUE_IPS, S.BYTES, *S.STATUS_CLASSES)


@pytest.fixture(scope="module")
def dbs(city_db: Path, asn_db: Path) -> GeoDatabases:
    return GeoDatabases.open(city=city_db, asn=asn_db, search=False)


def write_log(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def names(city_records: dict, cidr: str) -> dict[str, str | None]:
    rec = city_records[cidr]
    cc = rec["country"]["iso_code"]
    subs = rec.get("subdivisions", [])
    return {
        S.COUNTRY_ISO: cc,
        S.COUNTRY: rec["country"]["names"]["en"],
        S.REGION_ISO: f"{cc}-{subs[0]['iso_code']}" if subs else None,
        S.REGION: subs[0]["names"]["en"] if subs else None,
    }


# --- resolve_grouping ----------------------------------------------------------------------

GEO = S.GEO_STATUS
CC, COUNTRY, RG, REGION = S.COUNTRY_ISO, S.COUNTRY, S.REGION_ISO, S.REGION


@pytest.mark.parametrize(
    ("by", "keys", "row_keys"),
    [
        pytest.param(["country"], (GEO, CC, COUNTRY), (), id="country"),
        pytest.param(["region"], (GEO, CC, COUNTRY, RG, REGION), (), id="region"),
        pytest.param(["province"], (GEO, CC, COUNTRY, RG, REGION), (), id="province-alias"),
        pytest.param([], (GEO, CC, COUNTRY, RG, REGION), (), id="default-region"),
        pytest.param(
            ["subregion"],
            (GEO, CC, COUNTRY, RG, REGION, S.SUBREGION_ISO, S.SUBREGION),
            (),
            id="subregion",
        ),
        pytest.param(["city"], (GEO, CC, COUNTRY, RG, REGION, S.CITY), (), id="city"),
        pytest.param(["asn"], (GEO, S.ASN, S.AS_ORG), (), id="asn"),
        pytest.param(["network"], (GEO, S.ASN, S.AS_ORG), (), id="network-alias"),
        pytest.param(["ip"], (S.CLIENT_IP,), (), id="ip"),
        pytest.param(["client_ip"], (S.CLIENT_IP,), (), id="client-ip-alias"),
        pytest.param(["path"], (S.PATH,), (S.PATH,), id="path"),
        pytest.param(["status"], (S.STATUS,), (S.STATUS,), id="status"),
        pytest.param(["day"], ("day",), ("day",), id="day"),
        pytest.param(["hour"], ("hour",), ("hour",), id="hour"),
        pytest.param(["agent"], (S.USER_AGENT,), (S.USER_AGENT,), id="agent-alias"),
        pytest.param(["region_iso"], (GEO, RG), (), id="geo-column"),
        pytest.param(
            ["region", "asn"], (GEO, CC, COUNTRY, RG, REGION, S.ASN, S.AS_ORG), (), id="region+asn"
        ),
        pytest.param(["country", "region"], (GEO, CC, COUNTRY, RG, REGION), (), id="no-duplicates"),
        pytest.param(["asn", "path"], (GEO, S.ASN, S.AS_ORG, S.PATH), (S.PATH,), id="asn+path"),
        pytest.param(["ip", "day"], (S.CLIENT_IP, "day"), ("day",), id="ip+day"),
        pytest.param(["path", "country"], (GEO, S.PATH, CC, COUNTRY), (S.PATH,), id="path+country"),
    ],
)
def test_resolve_grouping(by, keys, row_keys):
    g = resolve_grouping(by)
    assert g.keys == keys
    assert g.row_keys == row_keys
    assert g.geo_keys == tuple(k for k in keys if k not in row_keys)


@pytest.mark.parametrize(
    ("by", "needs_geo"),
    [(["ip"], False), (["path", "day"], False), (["country"], True), (["asn"], True)],
    ids=["ip", "path+day", "country", "asn"],
)
def test_needs_geo(by, needs_geo):
    assert resolve_grouping(by).needs_geo is needs_geo


@pytest.mark.parametrize("name", ["nope", "Region", "continent_name", "line", ""], ids=repr)
def test_resolve_grouping_unknown_name(name):
    with pytest.raises(UsageError) as info:
        resolve_grouping(["region", name])
    assert type(info.value) is UsageError
    assert str(info.value) == (
        f"cannot group by {name!r}; use country, region, subregion, city, asn, ip, anonymizer, "
        "provider, actor_type, or a column such as path, status, day, hour"
    )


# --- exact counts per region ------------------------------------------------------------------

# ip, minutes after T0, status, bytes ("-" = none), the server's UTC offset in hours
ROWS = [
    ("175.167.1.2", 0, 200, 100, 8),
    ("175.167.1.2", 60, 404, 50, 0),
    ("::ffff:175.167.1.2", 120, 200, "-", 0),  # the same client, IPv4-mapped
    ("2408:8200::1", 30, 301, 10, -7),
    ("175.167.9.9", 90, 503, 1000, 8),
    ("2.136.4.5", 10, 200, 300, 2),
    ("2.136.4.5:5555", 15, 206, 20, 2),  # the same client, with a port
    ("2.136.4.6", 20, 101, "-", 2),
    ("2.137.0.1", 200, 500, "-", 0),
    ("89.160.20.115", 5, 200, 7, 0),
    ("10.0.0.7", 40, 200, 1, 0),
    ("127.0.0.1", 50, 304, 2, 0),
    ("::1", 55, 200, 3, 0),
    ("8.8.8.8", 300, 404, 9, 0),
    ("unknown-host", 400, 200, 4, 0),
]


def rows_log(tmp_path: Path) -> Path:
    lines = [
        log_line(ip=ip, ts=T0 + timedelta(minutes=m), status=st, size=size, offset_hours=off)
        for ip, m, st, size, off in ROWS
    ]
    return write_log(tmp_path / "access.log", lines)


def t(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stats(requests, unique, nbytes, first, last, s2=0, s3=0, s4=0, s5=0, other=0):
    return {
        S.REQUESTS: requests,
        S.UNIQUE_IPS: unique,
        S.BYTES: nbytes,
        S.SHARE: requests / len(ROWS),
        S.FIRST_SEEN: t(first),
        S.LAST_SEEN: t(last),
        "status_2xx": s2,
        "status_3xx": s3,
        "status_4xx": s4,
        "status_5xx": s5,
        "status_other": other,
    }


def bucket(status: str) -> dict[str, str | None]:
    return {GEO: status, CC: None, COUNTRY: None, RG: None, REGION: None}


def expected_by_region(city_records: dict) -> list[dict]:
    ok = {GEO: "ok"}
    return [  # in report order: requests descending, then keys (geo_status first)
        {
            **ok,
            **names(city_records, "175.167.0.0/16"),
            **stats(5, 3, 1160, 0, 120, s2=2, s3=1, s4=1, s5=1),
        },
        {**bucket("not_public"), **stats(3, 3, 6, 40, 55, s2=2, s3=1)},
        {**ok, **names(city_records, "2.136.0.0/16"), **stats(3, 2, 320, 10, 20, s2=2, other=1)},
        {**bucket("invalid_ip"), **stats(1, 1, 4, 400, 400, s2=1)},
        {**bucket("not_found"), **stats(1, 1, 9, 300, 300, s4=1)},
        {**ok, **names(city_records, "2.137.0.0/16"), **stats(1, 1, 0, 200, 200, s5=1)},
        {**ok, **names(city_records, "89.160.20.112/28"), **stats(1, 1, 7, 5, 5, s2=1)},
    ]


def test_by_region_exact_counts(tmp_path, dbs, city_records):
    analysis = analyze([rows_log(tmp_path)], dbs=dbs)
    got = analysis.rows.to_dicts()
    assert got == expected_by_region(city_records)
    assert analysis.meta["lines"]["matched"] == len(ROWS)
    assert analysis.meta["time_range"] == {
        "first": "2026-09-14T08:00:00Z",
        "last": "2026-09-14T14:40:00Z",
    }


def test_region_codes_in_order(tmp_path, dbs):
    rows = analyze([rows_log(tmp_path)], dbs=dbs).rows
    assert rows.select(GEO, RG).rows() == [
        ("ok", "CN-LN"),
        ("not_public", None),
        ("ok", "ES-CT"),
        ("invalid_ip", None),
        ("not_found", None),
        ("ok", "ES-MD"),
        ("ok", None),
    ]


def test_unique_ips_count_the_canonical_address_once(tmp_path, dbs):
    rows = analyze([rows_log(tmp_path)], dbs=dbs, by=["ip"]).rows
    by_ip = {r[S.CLIENT_IP]: (r[S.REQUESTS], r[S.UNIQUE_IPS]) for r in rows.to_dicts()}
    assert by_ip["175.167.1.2"] == (3, 1)  # written as x and as ::ffff:x
    assert by_ip["2.136.4.5"] == (2, 1)  # written with and without a port
    assert "::ffff:175.167.1.2" not in by_ip
    assert rows[S.UNIQUE_IPS].sum() == rows.height


def test_country_grouping_sums_regions(tmp_path, dbs):
    rows = analyze([rows_log(tmp_path)], dbs=dbs, by=["country"]).rows
    es = rows.filter(pl.col(CC) == "ES").to_dicts()
    assert len(es) == 1
    assert (es[0][S.REQUESTS], es[0][S.UNIQUE_IPS], es[0][S.BYTES]) == (4, 3, 320)


def test_by_asn_uses_the_asn_records(tmp_path, dbs, asn_records):
    rows = analyze([rows_log(tmp_path)], dbs=dbs, by=["asn"]).rows
    tef = asn_records["2.136.0.0/15"]
    got = rows.filter(pl.col(S.ASN) == tef["autonomous_system_number"]).to_dicts()
    assert len(got) == 1
    assert got[0][S.AS_ORG] == tef["autonomous_system_organization"]
    assert (got[0][S.REQUESTS], got[0][S.UNIQUE_IPS]) == (4, 3)  # ES-CT and ES-MD, one AS
    # SE is located but absent from the ASN database: ok, with a null ASN.
    se = rows.filter((pl.col(GEO) == "ok") & pl.col(S.ASN).is_null()).to_dicts()
    assert [(r[S.REQUESTS], r[S.UNIQUE_IPS]) for r in se] == [(1, 1)]


# --- partials merge exactly -------------------------------------------------------------------

POOL = [
    "175.167.1.2",
    "::ffff:175.167.1.2",
    "2408:8200::1",
    "2.136.4.5",
    "2.136.4.5:5555",
    "2.137.0.1",
    "89.160.20.115",
    "67.43.156.1",
    "10.0.0.7",
    "8.8.8.8",
    "junk-host",
]
GROUPINGS = [
    ("region",),
    ("country",),
    ("asn",),
    ("ip",),
    ("path",),
    ("status",),
    ("day",),
    ("hour",),
    ("region", "path"),
    ("asn", "day"),
    ("city",),
]

request_rows = st.lists(
    st.tuples(
        st.sampled_from(POOL),
        st.integers(0, 4 * 24 * 60),
        st.sampled_from([200, 204, 301, 404, 500, 101]),
        st.sampled_from([0, 1, 512, "-"]),
        st.sampled_from([-7, 0, 2, 8]),
        st.sampled_from(["/", "/a", "/admin"]),
    ),
    min_size=1,
    max_size=40,
)


def to_lines(rows: list[tuple]) -> list[str]:
    return [
        log_line(
            ip=ip,
            ts=t(m),
            status=status,
            size=size,
            offset_hours=off,
            request=f"GET {path} HTTP/1.1",
        )
        for ip, m, status, size, off, path in rows
    ]


def parsed(lines: list[str]) -> pl.DataFrame:
    frame = pl.LazyFrame(
        {S.SOURCE: "t", S.LINE_NO: list(range(1, len(lines) + 1)), S.LINE: lines},
        schema={S.SOURCE: pl.String, S.LINE_NO: pl.Int64, S.LINE: pl.String},
    )
    return parse(frame).rows.collect()


def _sorted(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return frame.sort(keys, nulls_last=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=request_rows,
    by=st.sampled_from(GROUPINGS),
    cuts=st.lists(st.floats(0, 1), min_size=1, max_size=2),
)
def test_partials_of_any_split_merge_to_the_one_pass_result(dbs, rows, by, cuts):
    frame = parsed(to_lines(rows))
    assert frame.height == len(rows)
    g = resolve_grouping(by)
    keys = [S.CLIENT, *g.row_keys]
    # Two or three chunks, any of them possibly empty.
    bounds = [0, *sorted(round(c * frame.height) for c in cuts), frame.height]
    chunks = [frame[a:b] for a, b in itertools.pairwise(bounds)]
    assert len(chunks) == len(cuts) + 1

    whole = partials(frame.lazy(), g).collect()
    merged = merge_partials([partials(c.lazy(), g).collect() for c in chunks], keys).collect()
    assert_frame_equal(_sorted(merged, keys), _sorted(whole, keys), check_column_order=False)

    table = lookup(merged[S.CLIENT], dbs)
    report = summarize(merged.lazy().join(table.lazy(), on=S.CLIENT), g)
    one_pass = aggregate(enrich(frame.lazy(), dbs), by=by)
    assert_frame_equal(report, one_pass)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rows=request_rows)
def test_rows_add_up_to_matched_lines(tmp_path_factory, dbs, rows):
    log = write_log(tmp_path_factory.mktemp("prop") / "a.log", to_lines(rows))
    sizes = sum(r[3] for r in rows if r[3] != "-")
    for by in GROUPINGS:
        a = analyze([log], dbs=dbs, by=by)
        assert a.meta["lines"]["matched"] == a.meta["lines"]["parsed"] == len(rows), by
        assert a.rows[S.REQUESTS].sum() == len(rows), by
        assert a.rows[S.BYTES].sum() == sizes, by
        per_row = a.rows.select(pl.sum_horizontal(S.STATUS_CLASSES)).to_series()
        assert per_row.to_list() == a.rows[S.REQUESTS].to_list(), by
        assert a.rows[S.SHARE].sum() == pytest.approx(1.0), by


# --- watch and top ---------------------------------------------------------------------------


@pytest.fixture
def region_rows(tmp_path, dbs) -> pl.DataFrame:
    return analyze([rows_log(tmp_path)], dbs=dbs).rows


def test_mark_watched_without_codes_marks_nothing(region_rows):
    out = mark_watched(region_rows, [])
    assert out.height == region_rows.height
    assert out[S.WATCHED].to_list() == [False] * region_rows.height
    assert_frame_equal(out.drop(S.WATCHED), region_rows)


def test_mark_watched_marks_and_adds_zero_rows(region_rows):
    out = mark_watched(region_rows, ["CN-LN", "es", " FR "])
    assert_frame_equal(out.head(region_rows.height).drop(S.WATCHED), region_rows)
    watched = out.filter(pl.col(S.WATCHED)).select(CC, RG, S.REQUESTS).rows()
    assert watched == [("CN", "CN-LN", 5), ("ES", "ES-CT", 3), ("ES", "ES-MD", 1), ("FR", None, 0)]
    zero = out.row(-1, named=True)
    # A watched place nobody reached from is named, so the row reads on its own.
    assert zero == {
        GEO: "ok",
        CC: "FR",
        COUNTRY: "France",
        RG: None,
        REGION: None,
        S.REQUESTS: 0,
        S.UNIQUE_IPS: 0,
        S.BYTES: 0,
        S.SHARE: 0.0,
        S.FIRST_SEEN: None,
        S.LAST_SEEN: None,
        **dict.fromkeys(S.STATUS_CLASSES, 0),
        S.WATCHED: True,
    }
    assert out.height == region_rows.height + 1


def test_mark_watched_absent_province_gets_a_zero_row(region_rows):
    out = mark_watched(region_rows, ["KP-01"])
    zero = out.row(-1, named=True)
    assert (zero[CC], zero[RG], zero[S.REQUESTS], zero[S.WATCHED]) == ("KP", "KP-01", 0, True)
    assert out[S.WATCHED].sum() == 1


def test_absent_watched_places_are_named_when_the_report_names_their_country(region_rows):
    # Spain has rows (other provinces), so ES-GR's zero row says Spain as the
    # database names it; FR has none, so its ISO name is used.
    assert "ES" in region_rows[CC].to_list()
    assert "FR" not in region_rows[CC].to_list()
    out = mark_watched(region_rows, ["ES-GR", "FR"]).filter(pl.col(S.REQUESTS) == 0)
    rows = {r[CC]: (r[S.COUNTRY], r[REGION]) for r in out.iter_rows(named=True) if r[S.WATCHED]}
    assert rows == {"ES": ("Spain", "Granada"), "FR": ("France", None)}


@pytest.mark.parametrize(
    ("by", "code", "message"),
    [
        pytest.param(
            ["country"],
            "CN-LN",
            "--watch CN-LN names a province; group with --by region (or subregion, city)",
            id="province-by-country",
        ),
        pytest.param(
            ["asn"],
            "ES",
            "--watch ES names a country; group with --by country or region",
            id="country-by-asn",
        ),
        pytest.param(
            ["path"],
            "es-b",
            "--watch ES-B names a province; group with --by region (or subregion, city)",
            id="province-by-path",
        ),
    ],
)
def test_watch_needs_a_matching_column(tmp_path, dbs, by, code, message):
    with pytest.raises(UsageError) as info:
        analyze([rows_log(tmp_path)], dbs=dbs, by=by, watch=[code])
    assert type(info.value) is UsageError
    assert str(info.value) == message


def test_watch_subregion_code_matches_second_level(tmp_path, dbs):
    rows = analyze([rows_log(tmp_path)], dbs=dbs, by=["subregion"], watch=["ES-B"]).rows
    assert rows.filter(pl.col(S.WATCHED)).select(RG, S.SUBREGION_ISO).rows() == [("ES-CT", "ES-B")]


def test_top_keeps_watched_rows_wherever_they_rank(tmp_path, dbs):
    a = analyze([rows_log(tmp_path)], dbs=dbs, top_n=1, watch=["ES-MD", "FR"])
    assert a.rows.select(GEO, CC, RG, S.REQUESTS, S.WATCHED).rows() == [
        ("ok", "CN", "CN-LN", 5, False),
        ("ok", "ES", "ES-MD", 1, True),
        ("ok", "FR", None, 0, True),
    ]
    assert a.meta["rows_total"] == 7
    assert a.meta["top"] == 1


@pytest.mark.parametrize("n", [None, 7, 100], ids=["none", "exact", "more"])
def test_top_without_cut(region_rows, n):
    assert_frame_equal(top(region_rows, n), region_rows)


def test_top_cuts_in_order(region_rows):
    assert_frame_equal(top(region_rows, 2), region_rows.head(2))


# --- filters ----------------------------------------------------------------------------------

# ip, path, status, minutes after T0
FILTER_ROWS = [
    ("175.167.1.2", "/index", 200, 0),
    ("175.167.1.3", "/admin/login", 403, 60),
    ("2408:8200::1", "/admin", 404, 120),
    ("2.136.4.5", "/", 200, 180),
    ("2.137.0.1", "/api", 500, 240),
    ("10.0.0.7", "/admin", 200, 300),
    ("8.8.8.8", "/x", 301, 360),
    ("81.2.69.160", "/", 200, 420),
]
ALL_IPS = {r[0] for r in FILTER_ROWS}
LN = {"175.167.1.2", "175.167.1.3", "2408:8200::1"}
LATE = {"2.136.4.5", "2.137.0.1", "10.0.0.7", "8.8.8.8", "81.2.69.160"}  # at or after 11:00Z


@pytest.fixture
def filter_log(tmp_path) -> Path:
    lines = [
        log_line(ip=ip, request=f"GET {path} HTTP/1.1", status=status, ts=t(m))
        for ip, path, status, m in FILTER_ROWS
    ]
    return write_log(tmp_path / "f.log", lines)


@pytest.mark.parametrize(
    ("where", "ips"),
    [
        pytest.param(["region_iso=CN-LN"], LN, id="region-iso"),
        pytest.param(["region=cn-ln"], LN, id="region-alias-lower-case"),
        pytest.param(["asn=4837"], LN, id="asn"),
        pytest.param(["asn=AS4837"], LN, id="asn-with-AS"),
        pytest.param(["client_ip=175.167.0.0/16"], {"175.167.1.2", "175.167.1.3"}, id="cidr"),
        pytest.param(["ip=175.167.1.3"], {"175.167.1.3"}, id="single-address"),
        pytest.param(["client_ip=2408:8200::/24"], {"2408:8200::1"}, id="v6-cidr"),
        pytest.param(
            ["client_ip!=175.167.0.0/16"], ALL_IPS - {"175.167.1.2", "175.167.1.3"}, id="not-cidr"
        ),
        pytest.param(["status>=400"], {"175.167.1.3", "2408:8200::1", "2.137.0.1"}, id="status-ge"),
        pytest.param(
            ["status<300"], {"175.167.1.2", "2.136.4.5", "10.0.0.7", "81.2.69.160"}, id="status-lt"
        ),
        pytest.param(["status=301,500"], {"8.8.8.8", "2.137.0.1"}, id="status-list"),
        pytest.param(["path~^/admin"], {"175.167.1.3", "2408:8200::1", "10.0.0.7"}, id="regex"),
        pytest.param(["path=/"], {"2.136.4.5", "81.2.69.160"}, id="path-equals"),
        pytest.param(["country!=CN"], ALL_IPS - LN, id="not-equal-keeps-unlocated"),
        pytest.param(["country=ES,GB"], {"2.136.4.5", "2.137.0.1", "81.2.69.160"}, id="list"),
        pytest.param(["subregion=ES-B"], {"2.136.4.5"}, id="subregion"),
        pytest.param(
            ["region_iso=CN-LN", "status>=400"], {"175.167.1.3", "2408:8200::1"}, id="and"
        ),
        pytest.param(["region_iso=FR-IDF"], set(), id="no-match"),
    ],
)
def test_where(filter_log, dbs, where, ips):
    a = analyze([filter_log], dbs=dbs, by=["ip"], where=where)
    assert set(a.rows[S.CLIENT_IP].to_list()) == ips
    assert a.meta["lines"]["matched"] == len(ips)
    assert a.meta["lines"]["parsed"] == len(FILTER_ROWS)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        pytest.param(
            "nope",
            "cannot read --where 'nope'; write COLUMN=VALUE, e.g. region_iso=CN-LN "
            "(operators: != >= <= = ~ > <)",
            id="no-operator",
        ),
        pytest.param("=CN", None, id="no-column"),
        pytest.param("foo=1", "--where: unknown column 'foo'", id="unknown-column"),
        pytest.param("status>=abc", "--where status needs a whole number, got 'abc'", id="not-int"),
        pytest.param("asn=ASX", "--where asn needs a whole number, got 'ASX'", id="bad-asn"),
        pytest.param(
            "client_ip=1.2.3.4/40",
            "--where client_ip: '1.2.3.4/40' does not appear to be an IPv4 or IPv6 network",
            id="bad-cidr",
        ),
        pytest.param("path~(", "regex", id="bad-regex"),
        pytest.param("path~^/(?!admin)", "regex", id="look-ahead-polars-cannot-run"),
        pytest.param("path~(a)\\1", "regex", id="backreference-polars-cannot-run"),
    ],
)
def test_bad_where_is_a_usage_error(filter_log, dbs, where, message):
    with pytest.raises(UsageError) as info:
        analyze([filter_log], dbs=dbs, where=[where])
    assert type(info.value) is UsageError
    text = str(info.value)
    if message is None:
        assert text.startswith(f"cannot read --where {where!r}")
    elif message == "regex":
        # The detail comes from the regex engine; the frame is ours.
        assert re.fullmatch(r"--where path~: bad regular expression \(.+\)", text), text
    else:
        assert text == message


@pytest.mark.parametrize(
    ("since", "until", "ips"),
    [
        pytest.param(t(60), None, ALL_IPS - {"175.167.1.2"}, id="since-inclusive"),
        pytest.param(None, t(60), {"175.167.1.2"}, id="until-exclusive"),
        pytest.param(t(60), t(180), {"175.167.1.3", "2408:8200::1"}, id="window"),
        pytest.param(
            datetime(2026, 9, 14, 11, 0),
            None,
            LATE,
            id="naive-is-utc",
        ),
        pytest.param(
            datetime(2026, 9, 14, 19, 0, tzinfo=timezone(timedelta(hours=8))),
            None,
            LATE,
            id="aware-offset",
        ),
        pytest.param(t(1000), None, set(), id="after-everything"),
    ],
)
def test_since_until(filter_log, dbs, since, until, ips):
    a = analyze([filter_log], dbs=dbs, by=["ip"], since=since, until=until)
    assert set(a.rows[S.CLIENT_IP].to_list()) == ips
    assert a.meta["lines"]["matched"] == len(ips)


@pytest.mark.parametrize("compact_rows", [1, 3, 10**9])
def test_compaction_while_reducing_changes_nothing(monkeypatch, compact_rows):
    from loganalyzer import sample_paths
    from loganalyzer.analysis import reduce as reduce_module
    from loganalyzer.ingest.detect import parse
    from loganalyzer.ingest.presets import get_format

    rows = parse(
        pl.read_csv(
            sample_paths().log,
            has_header=False,
            separator="\x1f",
            quote_char=None,
            new_columns=["line"],
        )
        .with_row_index("line_no", offset=1)
        .with_columns(pl.lit("s.log").alias("source"), pl.col("line_no").cast(pl.Int64)),
        fmt="combined",
    ).rows.collect()
    plan = reduce_module.ScanPlan.make(
        get_format("combined"), resolve_grouping(["ip", "day"]), [], None, None
    )
    whole = reduce_module.reduce_batches([rows], plan)
    monkeypatch.setattr(reduce_module, "_COMPACT_ROWS", compact_rows)
    pieces = [rows.slice(i, 37) for i in range(0, rows.height, 37)]
    merged = reduce_module.reduce_batches(pieces, plan)
    keys = plan.part_keys
    assert_frame_equal(merged.sort(keys), whole.sort(keys).select(merged.columns))


# --- client_ip CIDR filters: vectorised keys against ipaddress -------------------


def _near(base: int, bits: int) -> st.SearchStrategy[int]:
    # Addresses around a network's edges, where off-by-one mistakes live.
    return st.one_of(
        st.integers(0, 2**bits - 1), st.integers(-300, 300).map(lambda d: (base + d) % 2**bits)
    )


@st.composite
def _nets_and_ips(draw: st.DrawFn) -> tuple[list, list]:
    import ipaddress

    nets = []
    for _ in range(draw(st.integers(1, 3))):
        v6 = draw(st.booleans())
        bits = 128 if v6 else 32
        addr = draw(st.integers(0, 2**bits - 1))
        cls = ipaddress.IPv6Network if v6 else ipaddress.IPv4Network
        nets.append(cls((addr, draw(st.integers(0, bits))), strict=False))
    ips: list[str | None] = []
    for _ in range(draw(st.integers(1, 40))):
        net = draw(st.sampled_from(nets))
        v6 = draw(st.booleans())
        bits = 128 if v6 else 32
        value = draw(_near(int(net.network_address) % 2**bits, bits))
        ips.append(str(ipaddress.ip_address(value) if not v6 else ipaddress.IPv6Address(value)))
    ips.append(None)
    return nets, ips


@given(_nets_and_ips())
@settings(max_examples=200, deadline=None)
def test_cidr_membership_matches_ipaddress(case) -> None:
    import ipaddress

    from loganalyzer.analysis.filters import in_networks

    nets, ips = case
    got = in_networks(pl.Series(ips, dtype=pl.String), nets).to_list()
    want = [
        ip is not None
        and any(
            ipaddress.ip_address(ip).version == n.version and ipaddress.ip_address(ip) in n
            for n in nets
        )
        for ip in ips
    ]
    assert got == want
