"""The committed sample databases must still say what their JSON sources say."""

from __future__ import annotations

import ipaddress

import maxminddb
import pytest

from loganalyzer import sample_paths
from tests.helpers import load_records


def _probe(cidr: str) -> str:
    net = ipaddress.ip_network(cidr)
    return str(net.network_address + 1)


@pytest.mark.parametrize(("db_attr", "records_name"), [("city_db", "city"), ("asn_db", "asn")])
def test_sample_db_matches_json(db_attr: str, records_name: str) -> None:
    records = load_records(records_name)
    path = getattr(sample_paths(), db_attr)
    with maxminddb.open_database(str(path)) as reader:
        for cidr, expected in records.items():
            assert reader.get(_probe(cidr)) == expected, cidr
        assert reader.get("8.8.8.8") is None


def test_sample_db_metadata() -> None:
    s = sample_paths()
    with maxminddb.open_database(str(s.city_db)) as reader:
        meta = reader.metadata()
        assert meta.database_type == "GeoLite2-City"
        assert "invented" in meta.description["en"]
    with maxminddb.open_database(str(s.asn_db)) as reader:
        assert reader.metadata().database_type == "GeoLite2-ASN"
