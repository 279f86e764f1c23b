"""Enrichment: address normalisation, classification, geo/ASN lookups, databases.

Expected geo values are read from fixtures/geo/*.json (the same records the test
databases are built from), so fixtures and tests cannot drift apart.
"""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path
from typing import Any

import maxminddb
import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from loganalyzer import schema as S
from loganalyzer.errors import ExitCode, GeoDatabaseError, UsageError, WrongDatabaseTypeError
from loganalyzer.geo.databases import ENV_GEOIP_DIR, GeoDatabases
from loganalyzer.geo.enrich import Records, enrich, lookup
from loganalyzer.ingest.detect import parse

CITY_EXPECTED = "a City or Country database (GeoLite2-City, GeoIP2-City, DB-IP City Lite, ...)"
ASN_EXPECTED = "an ASN database (GeoLite2-ASN, GeoIP2-ISP, DB-IP ASN Lite)"
FIXTURE_BUILD_EPOCH = 1788220800  # fixtures/mmdb_builder.py GEO_BUILD_EPOCH, 2026-09-01Z


# --- helpers: the expected record for an address, straight from the JSON ----------------


def _containing(records: dict[str, dict], ip: str) -> dict | None:
    addr = ipaddress.ip_address(ip)
    for cidr, record in records.items():
        net = ipaddress.ip_network(cidr)
        if addr.version == net.version and addr in net:
            return record
    return None


def _name(node: dict | None, lang: str = "en") -> str | None:
    if not node or "names" not in node:
        return None
    names = node["names"]
    return names.get(lang, names.get("en"))


def expected_geo(
    city_records: dict[str, dict], asn_records: dict[str, dict], ip: str, lang: str = "en"
) -> dict[str, Any]:
    """The enrichment columns a lookup of ``ip`` must give, from the JSON records."""
    rec = _containing(city_records, ip) or {}
    asn = _containing(asn_records, ip) or {}
    country = rec.get("country", {})
    subs = rec.get("subdivisions", [])
    loc = rec.get("location", {})
    cc = country.get("iso_code")

    def sub(i: int) -> tuple[str | None, str | None]:
        if len(subs) <= i:
            return None, None
        return f"{cc}-{subs[i]['iso_code']}", _name(subs[i], lang)

    region_iso, region = sub(0)
    subregion_iso, subregion = sub(1)
    return {
        S.CONTINENT: rec.get("continent", {}).get("code"),
        S.COUNTRY_ISO: cc,
        S.COUNTRY: _name(country, lang),
        S.REGISTERED_COUNTRY_ISO: rec.get("registered_country", {}).get("iso_code"),
        S.REGISTERED_COUNTRY: _name(rec.get("registered_country"), lang),
        S.REGION_ISO: region_iso,
        S.REGION: region,
        S.SUBREGION_ISO: subregion_iso,
        S.SUBREGION: subregion,
        S.CITY: _name(rec.get("city"), lang),
        S.LATITUDE: loc.get("latitude"),
        S.LONGITUDE: loc.get("longitude"),
        S.ACCURACY_RADIUS: loc.get("accuracy_radius"),
        S.TIME_ZONE: loc.get("time_zone"),
        S.ASN: asn.get("autonomous_system_number"),
        S.AS_ORG: asn.get("autonomous_system_organization"),
    }


def one(table: pl.DataFrame, client: str) -> dict[str, Any]:
    rows = table.filter(pl.col(S.CLIENT) == client).to_dicts()
    assert len(rows) == 1, f"{client!r}: {len(rows)} rows"
    return rows[0]


@pytest.fixture(scope="module")
def dbs(city_db: Path, asn_db: Path) -> GeoDatabases:
    return GeoDatabases.open(city=city_db, asn=asn_db, search=False)


# --- lookups of public addresses -----------------------------------------------------------

# (client as written in a log, canonical address, IP version)
PUBLIC_CASES = [
    pytest.param("175.167.1.2", "175.167.1.2", 4, id="cn-ln-shenyang-v4"),
    pytest.param("2408:8200::1", "2408:8200::1", 6, id="cn-ln-dalian-v6"),
    pytest.param("2.136.4.5", "2.136.4.5", 4, id="es-ct-barcelona-two-levels"),
    pytest.param("::ffff:2.136.4.5", "2.136.4.5", 4, id="ipv4-mapped-v6"),
    pytest.param("::FFFF:2.137.9.9", "2.137.9.9", 4, id="ipv4-mapped-upper-case"),
    pytest.param("2.137.9.9", "2.137.9.9", 4, id="es-md-madrid"),
    pytest.param("[2a02:9000::5]:443", "2a02:9000::5", 6, id="bracketed-v6-with-port"),
    pytest.param("81.2.69.160:8080", "81.2.69.160", 4, id="v4-with-port"),
    pytest.param("2408:8200::1%eth0", "2408:8200::1", 6, id="v6-zone-id"),
    pytest.param("[2408:8200::7%eth0]:443", "2408:8200::7", 6, id="bracketed-v6-zone-id-port"),
    pytest.param("216.160.83.57", "216.160.83.57", 4, id="us-wa"),
    pytest.param("175.45.176.1", "175.45.176.1", 4, id="kp-01"),
    pytest.param("2001:218::1", "2001:218::1", 6, id="jp-13-v6"),
    pytest.param("89.160.20.115", "89.160.20.115", 4, id="se-country-only-no-asn"),
    pytest.param("67.43.156.1", "67.43.156.1", 4, id="bt-registered-jp"),
    pytest.param("185.220.101.7", "185.220.101.7", 4, id="de-be-tor-like"),
]


@pytest.mark.parametrize(("client", "canonical", "version"), PUBLIC_CASES)
def test_lookup_public_address(dbs, city_records, asn_records, client, canonical, version):
    row = one(lookup([client], dbs), client)

    assert row[S.CLIENT_IP] == canonical
    assert row[S.IP_VERSION] == version
    assert row[S.IP_CLASS] == "public"
    assert row[S.GEO_STATUS] == "ok"
    expected = expected_geo(city_records, asn_records, canonical)
    assert {k: row[k] for k in expected} == expected


def test_public_cases_cover_every_fixture_network(city_records, asn_records):
    canon = [p.values[1] for p in PUBLIC_CASES]
    for records in (city_records, asn_records):
        for cidr in records:
            net = ipaddress.ip_network(cidr)
            assert any(
                ipaddress.ip_address(ip).version == net.version and ipaddress.ip_address(ip) in net
                for ip in canon
            ), f"no lookup case for {cidr}"


@pytest.mark.parametrize(
    ("client", "region_iso", "subregion_iso"),
    [
        pytest.param("175.167.1.2", "CN-LN", None, id="liaoning"),
        pytest.param("2408:8200::1", "CN-LN", None, id="liaoning-v6"),
        pytest.param("2.136.4.5", "ES-CT", "ES-B", id="catalonia-barcelona"),
        pytest.param("2a02:9000::5", "ES-AN", "ES-SE", id="andalusia-seville"),
        pytest.param("175.45.176.1", "KP-01", None, id="numeric-subdivision"),
        pytest.param("89.160.20.115", None, None, id="country-only"),
    ],
)
def test_subdivision_codes_are_iso_3166_2_with_country_prefix(
    dbs, client, region_iso, subregion_iso
):
    row = one(lookup([client], dbs), client)
    assert (row[S.REGION_ISO], row[S.SUBREGION_ISO]) == (region_iso, subregion_iso)


def test_registered_country_can_differ_from_country(dbs, city_records):
    row = one(lookup(["67.43.156.1"], dbs), "67.43.156.1")
    rec = city_records["67.43.156.0/24"]
    assert (row[S.COUNTRY_ISO], row[S.REGISTERED_COUNTRY_ISO]) == ("BT", "JP")
    assert row[S.REGISTERED_COUNTRY] == rec["registered_country"]["names"]["en"]


def test_country_only_network_is_found_without_region(dbs):
    row = one(lookup(["89.160.20.115"], dbs), "89.160.20.115")
    assert row[S.GEO_STATUS] == "ok"
    assert row[S.COUNTRY_ISO] == "SE"
    assert row[S.REGION_ISO] is None
    assert row[S.REGION] is None
    assert row[S.CITY] is None


def test_network_absent_from_asn_db_keeps_geo_status_ok(dbs):
    row = one(lookup(["89.160.20.115"], dbs), "89.160.20.115")
    assert (row[S.ASN], row[S.AS_ORG]) == (None, None)
    assert row[S.GEO_STATUS] == "ok"


def test_public_address_in_no_network_is_not_found(dbs):
    row = one(lookup(["8.8.8.8"], dbs), "8.8.8.8")
    assert row[S.CLIENT_IP] == "8.8.8.8"
    assert row[S.IP_CLASS] == "public"
    assert row[S.GEO_STATUS] == "not_found"
    assert all(row[c] is None for c in (S.COUNTRY_ISO, S.REGION_ISO, S.CITY, S.ASN))


def test_asn_db_alone_decides_found(asn_db):
    only_asn = GeoDatabases.open(asn=asn_db, search=False)
    table = lookup(["175.167.1.2", "89.160.20.115"], only_asn)
    assert one(table, "175.167.1.2")[S.GEO_STATUS] == "ok"
    assert one(table, "175.167.1.2")[S.ASN] == 4837
    assert one(table, "89.160.20.115")[S.GEO_STATUS] == "not_found"
    assert table[S.COUNTRY_ISO].null_count() == table.height


# --- addresses that are never looked up ---------------------------------------------------


@pytest.mark.parametrize(
    ("client", "canonical", "ip_class"),
    [
        pytest.param("10.0.0.7", "10.0.0.7", "private", id="rfc1918-10"),
        pytest.param("172.16.5.4", "172.16.5.4", "private", id="rfc1918-172"),
        pytest.param("192.168.1.20", "192.168.1.20", "private", id="rfc1918-192"),
        pytest.param("::ffff:10.0.0.7", "10.0.0.7", "private", id="mapped-private"),
        pytest.param("fd00::1", "fd00::1", "private", id="v6-ula"),
        pytest.param("127.0.0.1", "127.0.0.1", "loopback", id="loopback-v4"),
        pytest.param("::1", "::1", "loopback", id="loopback-v6"),
        pytest.param("[::1]:8080", "::1", "loopback", id="loopback-v6-bracketed"),
        pytest.param("100.64.1.1", "100.64.1.1", "cgnat", id="cgnat"),
        pytest.param("169.254.1.1", "169.254.1.1", "link_local", id="link-local-v4"),
        pytest.param("fe80::1%eth0", "fe80::1", "link_local", id="link-local-v6-zone"),
        pytest.param("192.0.2.1", "192.0.2.1", "documentation", id="test-net-1"),
        pytest.param("198.51.100.7", "198.51.100.7", "documentation", id="test-net-2"),
        pytest.param("203.0.113.9", "203.0.113.9", "documentation", id="test-net-3"),
        pytest.param("2001:db8::1", "2001:db8::1", "documentation", id="v6-documentation"),
        pytest.param("224.0.0.1", "224.0.0.1", "multicast", id="multicast"),
        pytest.param("0.0.0.0", "0.0.0.0", "unspecified", id="unspecified-v4"),
        pytest.param("::", "::", "unspecified", id="unspecified-v6"),
    ],
)
def test_non_public_addresses_are_not_looked_up(dbs, client, canonical, ip_class):
    row = one(lookup([client], dbs), client)
    assert row[S.CLIENT_IP] == canonical
    assert row[S.IP_CLASS] == ip_class
    assert row[S.GEO_STATUS] == "not_public"
    assert all(row[c] is None for c in (S.COUNTRY_ISO, S.REGION_ISO, S.CITY, S.ASN))


@pytest.mark.parametrize(
    "client",
    ["junk", "-", "", "1.2.3", "256.1.1.1", "1.2.3.4.5", "example.org", "::ffff:zz", "[::1"],
    ids=[
        "word",
        "dash",
        "empty",
        "three-octets",
        "octet-256",
        "five-octets",
        "hostname",
        "bad-mapped",
        "unclosed-bracket",
    ],
)
def test_junk_is_invalid_ip(dbs, client):
    row = one(lookup([client], dbs), client)
    assert row[S.CLIENT_IP] is None
    assert row[S.IP_VERSION] is None
    assert row[S.IP_CLASS] == "invalid"
    assert row[S.GEO_STATUS] == "invalid_ip"


@settings(max_examples=150, deadline=None)
@given(st.ip_addresses(v=4))
@example(ipaddress.IPv4Address("198.18.0.1"))
@example(ipaddress.IPv4Address("192.0.0.9"))
@example(ipaddress.IPv4Address("192.88.99.1"))
@example(ipaddress.IPv4Address("255.255.255.255"))
@example(ipaddress.IPv4Address("0.1.2.3"))
@example(ipaddress.IPv4Address("175.167.1.2"))
def test_ipv4_mapped_form_is_treated_like_dotted_form(dbs, ip):
    dotted, mapped = str(ip), f"::ffff:{ip}"
    table = lookup([dotted, mapped], dbs)
    cols = [S.CLIENT_IP, S.IP_VERSION, S.IP_CLASS, S.GEO_STATUS, S.COUNTRY_ISO, S.ASN]
    a, b = one(table, dotted), one(table, mapped)
    assert {c: b[c] for c in cols} == {c: a[c] for c in cols}


def test_each_distinct_client_is_one_row_with_the_geo_schema(dbs):
    table = lookup(pl.Series(["175.167.1.2", "175.167.1.2", None, "10.0.0.7"]), dbs)
    assert table.schema == pl.Schema(S.GEO_SCHEMA)
    assert sorted(table[S.CLIENT].to_list()) == ["10.0.0.7", "175.167.1.2"]


def test_empty_input_keeps_the_schema(dbs):
    table = lookup([], dbs)
    assert table.height == 0
    assert table.schema == pl.Schema(S.GEO_SCHEMA)


# --- fields= and lang= -----------------------------------------------------------------------

ALWAYS = {S.CLIENT, S.CLIENT_IP, S.IP_VERSION, S.GEO_STATUS, S.IP_CLASS}
# With a City/Country database these are always decoded: they tell found from not found.
FOUND_KEYS = {S.COUNTRY_ISO, S.REGISTERED_COUNTRY_ISO, S.CONTINENT}
CLIENTS = ["175.167.1.2", "2.136.4.5", "89.160.20.115", "8.8.8.8", "10.0.0.7", "junk"]


@pytest.mark.parametrize(
    ("fields", "filled"),
    [
        pytest.param([S.ASN], {S.ASN}, id="asn-only"),
        pytest.param([S.COUNTRY_ISO], {S.COUNTRY_ISO}, id="country-code"),
        pytest.param([S.REGION_ISO], {S.REGION_ISO}, id="region-code"),
        pytest.param([S.SUBREGION_ISO], {S.SUBREGION_ISO}, id="subregion-code"),
        pytest.param([S.CITY, S.AS_ORG], {S.CITY, S.AS_ORG}, id="city-and-org"),
        pytest.param([S.LATITUDE, S.TIME_ZONE], {S.LATITUDE, S.TIME_ZONE}, id="location"),
        pytest.param([], set(), id="nothing"),
    ],
)
def test_fields_restricts_the_decoded_columns(dbs, fields, filled):
    full = lookup(CLIENTS, dbs).sort(S.CLIENT)
    part = lookup(CLIENTS, dbs, fields=fields).sort(S.CLIENT)

    assert part.schema == full.schema
    for col in part.columns:
        if col in ALWAYS | FOUND_KEYS | filled:
            assert part[col].to_list() == full[col].to_list(), col
        else:
            assert part[col].null_count() == part.height, f"{col} should be null"
    assert part[S.GEO_STATUS].to_list() == full[S.GEO_STATUS].to_list()


def test_fields_rejects_unknown_columns(dbs):
    with pytest.raises(UsageError) as info:
        lookup(CLIENTS, dbs, fields=["nope", S.CITY, "bogus"])
    assert type(info.value) is UsageError
    assert str(info.value) == "unknown enrichment column(s): bogus, nope"


@pytest.mark.parametrize("lang", ["zh-CN", "es"])
@pytest.mark.parametrize(
    "ip",
    ["175.167.1.2", "2.136.4.5", "2a02:9000::5", "216.160.83.57", "67.43.156.1"],
    ids=["shenyang", "barcelona", "seville", "milton-no-zh-city", "bhutan"],
)
def test_lang_names_fall_back_to_english(dbs, city_records, asn_records, lang, ip):
    row = one(lookup([ip], dbs, lang=lang), ip)
    expected = expected_geo(city_records, asn_records, ip, lang=lang)
    names = (S.COUNTRY, S.REGISTERED_COUNTRY, S.REGION, S.SUBREGION, S.CITY)
    assert {k: row[k] for k in names} == {k: expected[k] for k in names}


def test_lang_zh_cn_literal_names(dbs):
    table = lookup(["175.167.1.2", "2.136.4.5"], dbs, lang="zh-CN")
    ln = one(table, "175.167.1.2")
    assert (ln[S.COUNTRY], ln[S.REGION], ln[S.CITY]) == ("中国", "辽宁省", "沈阳")
    ct = one(table, "2.136.4.5")
    # Catalonia has no zh-CN name in the fixture: English, not null.
    assert (ct[S.COUNTRY], ct[S.REGION], ct[S.CITY]) == ("西班牙", "Catalonia", "巴塞罗那")


def test_country_db_works_as_city_db(country_db, city_records, asn_records):
    dbs = GeoDatabases.open(city=country_db, search=False)
    assert dbs.city is not None
    assert dbs.city.database_type == "GeoLite2-Country"
    table = lookup(["175.167.1.2", "67.43.156.1", "8.8.8.8"], dbs)
    row = one(table, "175.167.1.2")
    expected = expected_geo(city_records, asn_records, "175.167.1.2")
    country_cols = (S.CONTINENT, S.COUNTRY_ISO, S.COUNTRY, S.REGISTERED_COUNTRY_ISO)
    assert {k: row[k] for k in country_cols} == {k: expected[k] for k in country_cols}
    assert row[S.GEO_STATUS] == "ok"
    assert (row[S.REGION_ISO], row[S.CITY], row[S.ASN]) == (None, None, None)
    assert one(table, "67.43.156.1")[S.REGISTERED_COUNTRY_ISO] == "JP"
    assert one(table, "8.8.8.8")[S.GEO_STATUS] == "not_found"


def test_enrich_joins_the_lookup_onto_requests_in_order(dbs):
    line = '{ip} - - [14/Sep/2026:08:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "-"'
    ips = ["2.136.4.5", "10.0.0.7", "175.167.1.2", "2.136.4.5", "::ffff:2.136.4.5"]
    lines = pl.LazyFrame(
        {S.SOURCE: "t", S.LINE_NO: list(range(1, 6)), S.LINE: [line.format(ip=i) for i in ips]}
    )
    out = enrich(parse(lines).rows, dbs).collect()
    assert out[S.LINE_NO].to_list() == [1, 2, 3, 4, 5]
    assert out[S.CLIENT].to_list() == ips
    assert out[S.REGION_ISO].to_list() == ["ES-CT", None, "CN-LN", "ES-CT", "ES-CT"]
    assert out[S.CLIENT_IP].to_list() == [
        "2.136.4.5",
        "10.0.0.7",
        "175.167.1.2",
        "2.136.4.5",
        "2.136.4.5",
    ]
    assert set(S.GEO_COLUMNS) <= set(out.columns)


# --- opening databases ------------------------------------------------------------------------


def test_open_describes_the_databases(city_db, asn_db):
    dbs = GeoDatabases.open(city=city_db, asn=asn_db, search=False)
    assert dbs.city is not None
    assert dbs.asn is not None
    assert dbs.city.as_dict() == {
        "role": "city",
        "path": str(city_db),
        "type": "GeoLite2-City",
        "build_date": "2026-09-01",
        "build_epoch": FIXTURE_BUILD_EPOCH,
    }
    assert (dbs.asn.role, dbs.asn.database_type, dbs.asn.path) == (
        "asn",
        "GeoLite2-ASN",
        str(asn_db),
    )
    assert dbs.infos == [dbs.city, dbs.asn]
    assert dbs.searched == []


def _junk_file(tmp_path: Path) -> Path:
    path = tmp_path / "GeoLite2-City.mmdb"
    path.write_bytes(b"this is not a MaxMind database\n" * 20)
    return path


def _maxminddb_message(path: Path) -> str:
    with pytest.raises(maxminddb.InvalidDatabaseError) as info:
        maxminddb.open_database(str(path))
    return str(info.value)


def test_open_missing_file(tmp_path):
    path = tmp_path / "nope.mmdb"
    with pytest.raises(GeoDatabaseError) as info:
        GeoDatabases.open(city=path, search=False)
    err = info.value
    assert type(err) is GeoDatabaseError
    assert (err.path, err.problem) == (str(path), "no such database file")
    assert str(err) == f"{path}: no such database file"
    assert err.exit_code == ExitCode.GEO_DB


def test_open_directory(tmp_path):
    with pytest.raises(GeoDatabaseError) as info:
        GeoDatabases.open(asn=tmp_path, search=False)
    err = info.value
    assert type(err) is GeoDatabaseError
    assert err.path == str(tmp_path)
    assert str(err) == (f"{tmp_path}: is a directory; use --geoip-dir for a folder of databases")


@pytest.mark.parametrize(("role", "expected"), [("city", CITY_EXPECTED), ("asn", ASN_EXPECTED)])
def test_open_file_that_is_not_an_mmdb(tmp_path, role, expected):
    path = _junk_file(tmp_path)
    with pytest.raises(GeoDatabaseError) as info:
        GeoDatabases.open(**{role: path}, search=False)
    err = info.value
    assert type(err) is GeoDatabaseError
    problem = f"is not a readable MaxMind DB file ({_maxminddb_message(path)}); expected {expected}"
    assert (err.path, err.problem) == (str(path), problem)
    assert str(err) == f"{path}: {problem}"


@pytest.mark.parametrize(
    ("role", "db_fixture", "actual", "expected"),
    [
        pytest.param("asn", "city_db", "GeoLite2-City", ASN_EXPECTED, id="city-as-asn"),
        pytest.param("asn", "country_db", "GeoLite2-Country", ASN_EXPECTED, id="country-as-asn"),
        pytest.param("city", "asn_db", "GeoLite2-ASN", CITY_EXPECTED, id="asn-as-city"),
    ],
)
def test_open_wrong_database_type(request, role, db_fixture, actual, expected):
    path = request.getfixturevalue(db_fixture)
    with pytest.raises(WrongDatabaseTypeError) as info:
        GeoDatabases.open(**{role: path}, search=False)
    err = info.value
    assert isinstance(err, GeoDatabaseError)
    assert (err.path, err.role, err.expected, err.actual) == (
        str(path),
        f"--{role}-db",
        expected,
        actual,
    )
    assert str(err) == f"{path}: is a {actual!r} database, but --{role}-db needs {expected}"
    assert err.exit_code == ExitCode.GEO_DB


def test_wrong_type_message_for_city_as_asn_literal(city_db):
    with pytest.raises(WrongDatabaseTypeError) as info:
        GeoDatabases.open(asn=city_db, search=False)
    assert str(info.value) == (
        f"{city_db}: is a 'GeoLite2-City' database, but --asn-db needs an ASN database "
        "(GeoLite2-ASN, GeoIP2-ISP, DB-IP ASN Lite)"
    )


def test_geoip_dir_finds_databases_by_file_name(geo_dbs):
    folder = geo_dbs["city"].parent
    dbs = GeoDatabases.open(geoip_dir=folder)
    assert dbs.city is not None
    assert dbs.asn is not None
    # GeoLite2-City is preferred over GeoLite2-Country in the same folder.
    assert Path(dbs.city.path) == geo_dbs["city"]
    assert Path(dbs.asn.path) == geo_dbs["asn"]
    assert dbs.searched == [str(folder)]


def test_geoip_dir_finds_renamed_databases_by_metadata_type(tmp_path, city_db, asn_db):
    _junk_file(tmp_path).rename(tmp_path / "a-broken.mmdb")  # skipped, not fatal
    shutil.copyfile(asn_db, tmp_path / "b-my-networks.mmdb")
    shutil.copyfile(city_db, tmp_path / "c-my-places.mmdb")
    (tmp_path / "notes.txt").write_text("not a database")

    dbs = GeoDatabases.open(geoip_dir=tmp_path)

    assert dbs.city is not None
    assert dbs.asn is not None
    assert Path(dbs.city.path) == tmp_path / "c-my-places.mmdb"
    assert dbs.city.database_type == "GeoLite2-City"
    assert Path(dbs.asn.path) == tmp_path / "b-my-networks.mmdb"
    assert dbs.asn.database_type == "GeoLite2-ASN"


def test_geoip_dir_with_only_a_country_db(tmp_path, country_db):
    shutil.copyfile(country_db, tmp_path / "GeoLite2-Country.mmdb")
    dbs = GeoDatabases.open(geoip_dir=tmp_path)
    assert dbs.city is not None
    assert dbs.city.database_type == "GeoLite2-Country"
    assert dbs.asn is None


def test_explicit_path_wins_over_geoip_dir(tmp_path, geo_dbs):
    shutil.copyfile(geo_dbs["country"], tmp_path / "other.mmdb")
    dbs = GeoDatabases.open(city=tmp_path / "other.mmdb", geoip_dir=geo_dbs["city"].parent)
    assert dbs.city is not None
    assert dbs.city.path == str(tmp_path / "other.mmdb")
    assert dbs.asn is not None
    assert Path(dbs.asn.path) == geo_dbs["asn"]


def test_geoip_dir_that_does_not_exist(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(GeoDatabaseError) as info:
        GeoDatabases.open(geoip_dir=missing)
    assert type(info.value) is GeoDatabaseError
    assert info.value.path == str(missing)
    assert str(info.value) == f"{missing}: GeoIP directory does not exist"


def test_env_var_names_the_geoip_dir(monkeypatch, geo_dbs):
    folder = geo_dbs["city"].parent
    monkeypatch.setenv(ENV_GEOIP_DIR, str(folder))
    assert ENV_GEOIP_DIR == "LOGANALYZER_GEOIP_DIR"
    dbs = GeoDatabases.open()
    assert dbs.city is not None
    assert Path(dbs.city.path) == geo_dbs["city"]
    assert dbs.searched == [str(folder)]


def test_require_city_explains_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_GEOIP_DIR, str(tmp_path))
    dbs = GeoDatabases.open()
    assert (dbs.city, dbs.asn) == (None, None)
    with pytest.raises(GeoDatabaseError) as info:
        dbs.require_city()
    err = info.value
    assert type(err) is GeoDatabaseError
    assert err.path is None
    assert str(err) == (
        f"no City or Country database found (looked in {tmp_path}); "
        "pass --city-db FILE or --geoip-dir DIR, or set LOGANALYZER_GEOIP_DIR"
    )


def test_require_city_without_search(monkeypatch):
    monkeypatch.delenv(ENV_GEOIP_DIR, raising=False)
    dbs = GeoDatabases.open(search=False)
    with pytest.raises(GeoDatabaseError) as info:
        dbs.require_city()
    assert str(info.value) == (
        "no City or Country database found (looked in nowhere); "
        "pass --city-db FILE or --geoip-dir DIR, or set LOGANALYZER_GEOIP_DIR"
    )


def test_require_city_returns_the_city_db(dbs, city_db):
    assert dbs.require_city().path == str(city_db)


@given(st.integers(min_value=0x2000 << 112, max_value=(0x4000 << 112) - 1), st.booleans())
@example(int(ipaddress.IPv6Address("2001:db8::1")), False)  # documentation: slow path
@example(int(ipaddress.IPv6Address("2002:c000:204::1")), True)  # 6to4
@example(int(ipaddress.IPv6Address("3fff::1")), False)
@example(int(ipaddress.IPv6Address("2001:4860:4860::8888")), True)
@example(int(ipaddress.IPv6Address("2001:1ff:ffff::1")), False)  # last of 2001::/23
@example(int(ipaddress.IPv6Address("2001:200::1")), False)  # first after it
@example(int(ipaddress.IPv6Address("2001:20::1")), False)  # ORCHIDv2 inside 2001::/23
@example(int(ipaddress.IPv6Address("2600:0:0:1::1")), False)  # one zero group: not "::"
@settings(max_examples=300, deadline=None)
def test_fast_ipv6_path_agrees_with_ipaddress(value, exploded):
    from loganalyzer.geo.addresses import classify_address, normalise_clients

    ip = ipaddress.IPv6Address(value)
    text = ip.exploded.upper() if exploded else str(ip)
    row = normalise_clients(pl.Series([text])).row(0, named=True)
    assert row["client_ip"] == str(ip)
    assert row["ip_class"] == classify_address(ip)
    assert row["ip_version"] == 6


_CLIENT_TEXTS = st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(v=4).map(lambda a: ".".join(f"{int(p):02d}" for p in str(a).split("."))),
    st.ip_addresses(v=4).map(lambda a: f"{a}:8080"),
    st.ip_addresses(v=6).map(lambda a: f"[{a.exploded.upper()}]:443"),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    st.sampled_from(["-", "", " 1.2.3.4", "1.2.3.256", "fe80::1%eth0", "localhost", "0.0.0.0"]),
    st.text(alphabet="0123456789abcdef:.[]% ", max_size=20),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_CLIENT_TEXTS, max_size=30))
def test_normalise_reads_ipv4_in_c_as_the_expressions_do(texts):
    from loganalyzer.geo.addresses import normalise_clients
    from loganalyzer.ingest import native

    if not native.AVAILABLE:
        pytest.skip("the native module was not built")
    clients = pl.Series(texts, dtype=pl.String)
    with pytest.MonkeyPatch.context() as mp:
        fast = normalise_clients(clients).sort(S.CLIENT)
        mp.setenv("LOGANALYZER_NATIVE", "0")
        reference = normalise_clients(clients).sort(S.CLIENT)
    assert fast.equals(reference, null_equal=True)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        _CLIENT_TEXTS
        | st.sampled_from(["175.167.1.2", "2.136.4.5", "89.160.20.115", "10.0.0.7", "8.8.8.8"]),
        max_size=30,
        unique=True,
    )
)
def test_distinct_clients_get_their_rows_in_their_order(dbs, texts):
    """A report's new clients (each once, no null) are looked up in their own order;
    the rows are those of the general lookup, client by client."""
    clients = pl.Series(S.CLIENT, texts, dtype=pl.String)
    records = Records()
    try:
        ordered = lookup(clients, dbs, distinct=True, records=records)
    finally:
        records.close()
    assert ordered[S.CLIENT].to_list() == texts
    general = lookup(clients, dbs)
    by_client = clients.to_frame().join(general, on=S.CLIENT, how="left", maintain_order="left")
    assert ordered.equals(by_client, null_equal=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(_CLIENT_TEXTS, max_size=30, unique=True))
def test_keys_read_while_normalising_are_those_of_client_ip(texts):
    """The lookup reads each address once: the keys normalising read on the way
    (plain addresses) and those it reads after (rewritten ones) are client_ip's."""
    from loganalyzer.geo.addresses import _normalised
    from loganalyzer.geo.enrich import _client_ip_keys
    from loganalyzer.ingest import native

    if not native.AVAILABLE:
        pytest.skip("the native module was not built")
    base = _normalised(pl.Series(S.CLIENT, texts, dtype=pl.String))
    got = _client_ip_keys(base)
    want = native.address_keys(base[S.CLIENT_IP])
    assert got.versions.tolist() == want.versions.tolist()
    assert got.keys().to_list() == want.keys().to_list()
