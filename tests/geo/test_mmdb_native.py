"""The C search-tree walk and record decoder (``native.SearchTree``) against maxminddb.

``enrich.lookup`` finds each address's record in C and decodes each distinct
record once (``enrich.Records``). These tests hold that to the reference reader
on real files written by mmdb_writer: trees of every record width (24, 28 and
32 bits), IPv4 and IPv6 trees, records of every type a report reads, names in
other languages, and damaged files.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from pathlib import Path
from typing import Any

import maxminddb
import mmdb_writer
import netaddr  # type: ignore[import-untyped]  # netaddr ships no type information
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loganalyzer import schema as S
from loganalyzer.anonymity import maxmind as anonymizers
from loganalyzer.anonymity import networks
from loganalyzer.errors import ExitCode
from loganalyzer.geo.databases import GeoDatabases
from loganalyzer.geo.enrich import _ASN_PATHS, _CITY_PATHS, Records, lookup
from loganalyzer.ingest import native
from tests.helpers import load_records, make_mmdb, run_cli

pytestmark = pytest.mark.skipif(not native.AVAILABLE, reason="the native module was not built")

_MAPPED = 0xFFFF << 32


# --- addresses as keys ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "version", "key"),
    [
        ("1.2.3.4", 4, _MAPPED | 0x01020304),
        ("0.0.0.0", 4, _MAPPED),
        ("255.255.255.255", 4, _MAPPED | 0xFFFFFFFF),
        ("::1", 6, 1),
        ("::", 6, 0),
        ("::ffff:1.2.3.4", 6, _MAPPED | 0x01020304),  # the same key as 1.2.3.4
        ("2001:DB8::1", 6, 0x20010DB8 << 96 | 1),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 6, (1 << 128) - 1),
        # Left to the ipaddress path: leading zeros, decorations, junk.
        ("01.2.3.4", 0, None),
        ("1.2.3.256", 0, None),
        ("1.2.3", 0, None),
        (" 1.2.3.4", 0, None),
        ("[::1]", 0, None),
        ("fe80::1%eth0", 0, None),
        ("1:2:3:4:5:6:7:8:9", 0, None),
        ("", 0, None),
        (None, 0, None),
        ("x" * 100, 0, None),
        # Read over the whole name: a NUL ends no address early (as inet_pton's C string).
        ("1.2.3.4\x00x", 0, None),
        ("::1\x00", 0, None),
        ("1.2.3.4.", 0, None),
        ("1..3.4", 0, None),
        ("1.2.3.4.5", 0, None),
        ("00.1.2.3", 0, None),
        ("1.2.3.-4", 0, None),
        ("１.2.3.4", 0, None),  # a full-width digit
        # IPv6 at the edges of its grammar, read without inet_pton.
        ("1:2:3:4:5:6:1.2.3.4", 6, 0x0001_0002_0003_0004_0005_0006_0102_0304),
        ("1:2:3:4:5:6:7:1.2.3.4", 0, None),  # no room for the quad
        ("1:2:3:4:5:6:7:8:", 0, None),
        ("1::2:", 0, None),
        ("1:2:3:4:5:6:7:8::", 0, None),  # "::" must stand for a group
        ("1::2::3", 0, None),
        ("::12345", 0, None),
    ],
)
def test_address_keys_table(text: str | None, version: int, key: int | None) -> None:
    keys = native.address_keys(pl.Series([text, "9.9.9.9"], dtype=pl.String))
    assert keys.versions.tolist() == [version, 4]
    assert keys.keys().to_list() == [key, _MAPPED | 0x09090909]


def test_address_keys_with_a_newline_reads_nothing() -> None:
    keys = native.address_keys(pl.Series(["1.2.3.4", "1.2.3.4\n5.6.7.8"]))
    assert keys.versions.tolist() == [0, 0]


def _inet_pton(text: str | None) -> tuple[int, int | None]:
    """The version and key Python's socket.inet_pton gives a name (0, None: refused)."""
    for family, version in ((socket.AF_INET6, 6), (socket.AF_INET, 4)):
        if text is None or (family == socket.AF_INET6) != (":" in text):
            continue
        try:
            packed = socket.inet_pton(family, text)
        except (OSError, ValueError):  # ValueError: an embedded NUL
            return 0, None
        return version, int.from_bytes(packed, "big") | (_MAPPED if version == 4 else 0)
    return 0, None


def _v6_forms(parts: tuple[ipaddress.IPv6Address, ipaddress.IPv4Address, int]) -> str:
    """An IPv6 address written one of the ways inet_pton reads: exploded, upper
    case, compressed, or with its last two groups as a dotted quad."""
    v6, v4, form = parts
    groups = v6.exploded.split(":")
    return [
        v6.exploded,
        str(v6).upper(),
        ":".join(groups[:6]) + f":{v4}",
        str(ipaddress.IPv6Address(int(v6) & ~0xFFFFFFFF))[:-1] + f"{v4}",
        ":".join(g.lstrip("0") or "0" for g in groups),
    ][form]


def _damaged(parts: tuple[str, int, int, str]) -> str:
    """A text with one character put in, taken out or replaced."""
    text, at, how, char = parts
    at = at % (len(text) + 1)
    return [
        text[:at] + char + text[at:],
        text[:at] + text[at + 1 :],
        text[:at] + char + text[at + 1 :],
    ][how]


_V6_TEXTS = st.tuples(st.ip_addresses(v=6), st.ip_addresses(v=4), st.integers(0, 4)).map(_v6_forms)


@settings(max_examples=800, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.ip_addresses().map(str),
            _V6_TEXTS,
            st.tuples(
                _V6_TEXTS | st.ip_addresses(v=4).map(str),
                st.integers(0, 60),
                st.integers(0, 2),
                st.sampled_from(list(":.0aF5g")),
            ).map(_damaged),
            st.text(alphabet="0123456789.:abcdefABCDEF\x00 x/%", max_size=20),
            st.text(alphabet="0123:.", max_size=45),
            st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,4}){2,4}", fullmatch=True),
            st.text(max_size=12).filter(lambda t: "\n" not in t),
            st.none(),
        ),
        max_size=30,
    )
)
def test_address_keys_read_what_inet_pton_reads(texts: list[str | None]) -> None:
    keys = native.address_keys(pl.Series(texts, dtype=pl.String))
    expected = [_inet_pton(t) for t in texts]
    assert keys.versions.tolist() == [v for v, _ in expected]
    assert keys.keys().to_list() == [k for _, k in expected]


_ADDRESS_TEXTS = st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda a: a.exploded.upper()),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    st.ip_addresses(v=4).map(lambda a: ".".join(f"{int(p):03d}" for p in str(a).split("."))),
    st.text(alphabet="0123456789abcdefABCDEF:.% []", max_size=45),
    st.none(),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ADDRESS_TEXTS, max_size=20))
def test_anonymizer_keys_are_those_of_the_python_path(texts: list[str | None]) -> None:
    ips = pl.Series(texts, dtype=pl.String)
    assert networks.address_keys(ips).to_list() == networks._address_keys(ips).to_list()


# --- the search tree -----------------------------------------------------------------------


def _dig(record: Any, path: tuple[str | int, ...]) -> Any:
    value = record
    for step in path:
        if isinstance(step, str) and isinstance(value, dict):
            value = value.get(step)
        elif isinstance(step, int) and isinstance(value, list) and step < len(value):
            value = value[step]
        else:
            return None
    return None if isinstance(value, (dict, list)) else value


def _paths(table: dict[str, tuple[list[str | int], pl.DataType]]) -> list[tuple[str | int, ...]]:
    out = []
    for path, _ in table.values():
        for lang in ("en", "zh-CN", "ja", "xx") if "{lang}" in path else ("en",):
            out.append(tuple(lang if p == "{lang}" else p for p in path))
    return [*out, ("subdivisions", 5, "iso_code"), ("location",), ("nope", "nope"), ("city", 0)]


def _probe_addresses(records: dict[str, dict], ip_version: int) -> list[str]:
    """Each network's edges and their neighbours, mapped IPv4, and some outside all."""
    out = ["0.0.0.0", "255.255.255.255", "8.8.8.8", "::", "::1", "2001:db8::1", "ffff::1"]
    for cidr in records:
        net = netaddr.IPNetwork(cidr)
        top = 1 << (32 if net.version == 4 else 128)
        for addr in (net.first - 1, net.first, net.first + 1, net.last - 1, net.last, net.last + 1):
            if 0 <= addr < top:
                ip = netaddr.IPAddress(addr, net.version)
                out.append(str(ip))
                if net.version == 4:
                    out.append(f"::ffff:{ip}")
    if ip_version == 4:
        out = [a for a in out if ":" not in a] + ["::1", "2408:8200::1"]
    return out


@pytest.mark.parametrize("split", [False, True], ids=["one-thread", "two-threads"])
@pytest.mark.parametrize("record_size", [24, 28, 32])
@pytest.mark.parametrize("ip_version", [4, 6])
@pytest.mark.parametrize("kind", ["city", "asn"])
def test_walk_and_decode_agree_with_maxminddb(
    tmp_path: Path,
    record_size: int,
    ip_version: int,
    kind: str,
    split: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A walk of many addresses is split in two halves, one on another thread.
    monkeypatch.setattr(native, "_SPLIT_WALK", 2 if split else 1 << 62)
    records = load_records(kind)
    if ip_version == 4:
        records = {c: r for c, r in records.items() if ":" not in c}
    db = make_mmdb(
        tmp_path / f"{kind}.mmdb",
        "GeoLite2-City" if kind == "city" else "GeoLite2-ASN",
        records,
        ip_version=ip_version,
        record_size=record_size,
    )
    with maxminddb.open_database(str(db)) as reader:
        assert reader.metadata().record_size == record_size
        assert reader.metadata().ip_version == ip_version
        addresses = _probe_addresses(records, ip_version)
        expected, lengths = [], []
        for ip in addresses:
            try:
                record, length = reader.get_with_prefix_len(ip)
            except ValueError:  # IPv6 in an IPv4 tree
                record, length = None, 0
            expected.append(record)
            lengths.append(length)
    tree = native.SearchTree(db)
    try:
        found, prefixes = tree.find(native.address_keys(pl.Series(addresses)))
        assert [f is not None for f in found.to_list()] == [e is not None for e in expected]
        assert prefixes.tolist() == lengths
        assert any(e is not None for e in expected)
        assert any(e is None for e in expected)
        paths = _paths(_CITY_PATHS if kind == "city" else _ASN_PATHS)
        hits = [i for i, f in enumerate(found.to_list()) if f is not None]
        values = tree.decode(found.gather(hits), paths)
        for j, path in enumerate(paths):
            want = [_dig(expected[i], path) for i in hits]
            assert values[j] == want, path
            assert [type(v) for v in values[j]] == [type(v) for v in want], path
        # Equal records, equal data: one number per distinct record.
        by_record: dict[int, Any] = {}
        for i in hits:
            assert by_record.setdefault(found[i], expected[i]) == expected[i]
    finally:
        tree.close()


_VALUES: st.SearchStrategy[Any] = st.one_of(
    st.text(max_size=12),
    st.floats(allow_nan=False),
    st.floats(width=32, allow_nan=False).map(mmdb_writer.MmdbF32),
    st.integers(0, 2**16 - 1).map(mmdb_writer.MmdbU16),
    st.integers(0, 2**32 - 1).map(mmdb_writer.MmdbU32),
    st.integers(0, 2**64 - 1).map(mmdb_writer.MmdbU64),
    st.integers(-(2**31), 2**31 - 1).map(mmdb_writer.MmdbI32),
    st.booleans(),
)
_RECORDS = st.recursive(
    _VALUES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=25,
)


def _all_paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += [*_all_paths(v, (*prefix, k)), (*prefix, k + "?")]
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _all_paths(v, (*prefix, i))
        out.append((*prefix, len(value)))
    return out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.dictionaries(st.text(max_size=6), _RECORDS, max_size=6), min_size=1, max_size=4))
def test_decode_any_record_as_maxminddb(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    writer = mmdb_writer.MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="Test")
    nets = [f"10.{i}.0.0/16" for i in range(len(records))]
    for net, record in zip(nets, records, strict=True):
        writer.insert_network(netaddr.IPSet([net]), record)
    db = tmp_path / "any.mmdb"
    writer.to_db_file(str(db))
    addresses = [n.replace("0/16", "1") for n in nets]
    tree = native.SearchTree(db)
    with maxminddb.open_database(str(db)) as reader:
        try:
            found = tree.records(native.address_keys(pl.Series(addresses)))
            for ip, record in zip(addresses, found.to_list(), strict=True):
                data = reader.get(ip)
                paths = [(), *_all_paths(data), ("x",)]
                values = tree.decode(pl.Series([record]), paths)
                for path, value in zip(paths, values, strict=True):
                    if path == ():
                        want = len(data) if isinstance(data, dict) else None
                    else:
                        want = _dig(data, path)
                    assert value == [want], path
                    assert type(value[0]) is type(want), path
        finally:
            tree.close()


def test_bytes_and_uint128_are_not_decoded(tmp_path: Path) -> None:
    writer = mmdb_writer.MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="Test")
    writer.insert_network(
        netaddr.IPSet(["10.0.0.0/8"]),
        {"b": b"\x00\x01", "u": mmdb_writer.MmdbU128(2**100), "s": "kept"},
    )
    db = tmp_path / "odd.mmdb"
    writer.to_db_file(str(db))
    tree = native.SearchTree(db)
    try:
        found = tree.records(native.address_keys(pl.Series(["10.1.2.3"])))
        assert tree.decode(found, [("b",), ("u",), ("s",)]) == [[None], [None], ["kept"]]
    finally:
        tree.close()


# --- lookup(): the record path against maxminddb-polars's ------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh-CN", "ja"])
def test_lookup_by_record_is_the_per_address_lookup(
    city_db: Path, asn_db: Path, city_records: dict, lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients = [
        *_probe_addresses(city_records, 6),
        "175.167.3.4:8080",
        "[2408:8200::1]:443",
        "10.0.0.1",
        "-",
        "not an address",
        "2A02:9000::5",
    ]
    dbs = GeoDatabases.open(city=city_db, asn=asn_db, search=False)
    # Twice through one Records: the second call finds every record decoded.
    with Records() as records:
        native_rows = [lookup(clients, dbs, lang=lang, records=records) for _ in range(2)]
    monkeypatch.setenv("LOGANALYZER_NATIVE", "0")
    reference = lookup(clients, dbs, lang=lang)
    for rows in native_rows:
        assert rows.sort(S.CLIENT).equals(reference.sort(S.CLIENT), null_equal=True)
    assert (reference[S.GEO_STATUS] == "ok").sum() > 10
    assert (reference[S.GEO_STATUS] == "not_found").sum() > 0


def test_a_damaged_database_is_a_database_error(tmp_path: Path, city_db: Path) -> None:
    raw = city_db.read_bytes()
    with maxminddb.open_database(str(city_db)) as reader:
        meta = reader.metadata()
    start = meta.node_count * meta.record_size // 4 + 16
    end = raw.rfind(b"\xab\xcd\xefMaxMind.com")
    # Every data byte a pointer to the end of the file: no record can be read.
    damaged = tmp_path / "damaged.mmdb"
    damaged.write_bytes(raw[:start] + b"\x3f" * (end - start) + raw[end:])
    log = tmp_path / "access.log"
    log.write_text(
        '175.167.3.4 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 2326\n', "ascii"
    )
    for native_on in ("1", "0"):
        out = run_cli(
            "report", "--by", "region", str(log), "--city-db", str(damaged),
            env={"LOGANALYZER_NATIVE": native_on},
        )  # fmt: skip
        assert out.returncode == ExitCode.GEO_DB, out.stderr
        assert b"damaged.mmdb: is damaged" in out.stderr
        assert b"Traceback" not in out.stderr
    tree = native.SearchTree(damaged)
    try:
        found = tree.records(native.address_keys(pl.Series(["175.167.3.4"])))
        with pytest.raises(ValueError, match="damaged"):
            tree.decode(found, [("country", "iso_code")])
    finally:
        tree.close()


def test_a_tree_larger_than_its_file_is_refused(tmp_path: Path) -> None:
    from loganalyzer import _clf

    keys = native.address_keys(pl.Series(["1.2.3.4"]))
    args = (keys.versions.tobytes(), keys.hi.tobytes(), keys.lo.tobytes())
    with pytest.raises(ValueError, match="wrong size"):
        _clf.mmdb_records(b"\x00" * 11, 2, 24, 6, *args)
    with pytest.raises(ValueError, match="wrong size"):
        _clf.mmdb_records(b"\x00" * 12, 2, 20, 6, *args)
    # Two nodes of 24-bit records, both pointing at node 1 then at "no data" (2).
    tree = struct.pack(">6B", 0, 0, 1, 0, 0, 1) + struct.pack(">6B", 0, 0, 2, 0, 0, 2)
    assert struct.unpack("<q", _clf.mmdb_records(tree, 2, 24, 6, *args)[0]) == (-1,)


def _node(size: int, left: int, right: int) -> bytes:
    """One search tree node as the MaxMind DB spec lays it out."""
    if size == 24:
        return left.to_bytes(3, "big") + right.to_bytes(3, "big")
    if size == 28:
        middle = (left >> 24) << 4 | right >> 24
        return (
            (left & 0xFFFFFF).to_bytes(3, "big")
            + bytes([middle])
            + (right & 0xFFFFFF).to_bytes(3, "big")
        )
    return left.to_bytes(4, "big") + right.to_bytes(4, "big")


@pytest.mark.parametrize(
    ("size", "values"),
    [
        (24, (0xABCDEF, 0x123456, 0xFEDCBA)),
        (28, (0xABCDEF1, 0x1234567, 0xFEDCBA9)),
        (32, (0xABCDEF12, 0x12345678, 0xFEDCBA98)),
    ],
)
def test_records_of_every_width_read_whole(size: int, values: tuple[int, int, int]) -> None:
    """Record numbers with their top bits set, which small test databases never have."""
    from loganalyzer import _clf

    right_of_root, left_of_1, right_of_1 = values
    tree = _node(size, 1, right_of_root) + _node(size, left_of_1, right_of_1)
    keys = native.address_keys(pl.Series(["1.0.0.0", "64.0.0.0", "128.0.0.0", "::1"]))
    raw, prefixes = _clf.mmdb_records(tree, 2, size, 4, keys.versions.tobytes(), keys.hi.tobytes(),
                            keys.lo.tobytes())  # fmt: skip
    assert struct.unpack("<4q", raw) == (left_of_1, right_of_1, right_of_root, -1)
    assert list(prefixes) == [2, 2, 1, 0]


@pytest.mark.parametrize("name", ["anonymous-ip", "anonymous-plus", "residential-proxy"])
def test_anonymous_ip_verdicts_are_the_readers(
    anon_dbs: dict[str, Path], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    addresses = _probe_addresses(load_records(name, "anon"), 6)
    keyed = pl.DataFrame(
        {"_rid": pl.int_range(len(addresses), eager=True, dtype=pl.UInt32), S.CLIENT_IP: addresses}
    )
    found = anonymizers._mmdb_hits(anonymizers.load_mmdb(anon_dbs[name]), keyed)
    monkeypatch.setenv("LOGANALYZER_NATIVE", "0")
    reference = anonymizers._mmdb_hits(anonymizers.load_mmdb(anon_dbs[name]), keyed)

    assert sorted(found.rows()) == sorted(reference.rows())
    assert found.schema == reference.schema
    assert reference["_rid"].n_unique() > 5


def test_an_empty_record_claims_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A residential proxy database claims every network with a record, but not an empty one."""
    db = make_mmdb(
        tmp_path / "GeoIP-Residential-Proxy.mmdb",
        "GeoIP-Residential-Proxy",
        {"10.0.0.0/8": {}, "11.0.0.0/8": {"provider_name": "someproxy"}},
    )
    keyed = pl.DataFrame(
        {
            "_rid": pl.Series([0, 1, 2], dtype=pl.UInt32),
            S.CLIENT_IP: ["10.1.1.1", "11.1.1.1", "::1"],
        }
    )
    for native_on in ("1", "0"):
        monkeypatch.setenv("LOGANALYZER_NATIVE", native_on)
        hits = anonymizers._mmdb_hits(anonymizers.load_mmdb(db), keyed)
        assert hits.select("_rid", "category", "provider").rows() == [
            (1, "residential_proxy", "someproxy")
        ]


def test_an_address_c_does_not_read_has_no_record_either_way(city_db: Path) -> None:
    """What inet_pton refuses, maxminddb-polars refuses too: no record on either path."""
    from loganalyzer.geo.enrich import _CITY_PATHS, _lookup_by_record, _path_exprs

    dbs = GeoDatabases.open(city=city_db, search=False)
    assert dbs.city is not None
    cols = {S.COUNTRY_ISO: _CITY_PATHS[S.COUNTRY_ISO], S.CITY: _CITY_PATHS[S.CITY]}
    base = pl.DataFrame(
        {
            S.CLIENT: ["a", "b", "c"],
            S.CLIENT_IP: ["175.167.3.4", "175.167.03.4", "2408:8200::1"],
            S.IP_CLASS: ["public", "public", "public"],
        }
    )
    assert native.address_keys(base[S.CLIENT_IP]).versions.tolist() == [4, 0, 6]
    with Records() as records:
        out = _lookup_by_record(base, [(dbs.city, cols)], records, "en")
    reference = base.with_columns(_path_exprs(dbs.city, cols, "en"))
    assert out.equals(reference, null_equal=True)
    assert out[S.COUNTRY_ISO].to_list() == ["CN", None, "CN"]
