"""Column names and dtypes that every pipeline stage agrees on.

Stages refer to these constants rather than to string literals, so a renamed
column is one edit and a typo is a NameError rather than a silent null column.
"""

from __future__ import annotations

import polars as pl

# --- read: one row per input line -------------------------------------------------
SOURCE = "source"  # the input file as the user named it ("-" for stdin)
LINE_NO = "line_no"  # 1-based line number within SOURCE
LINE = "line"  # the raw line, invalid UTF-8 shown as \xNN escapes

# --- parse: one row per well-formed request -----------------------------------------
CLIENT = "client"  # the client address as written (may carry a port or brackets)
CLIENT_CONN = "client_conn"  # the connection's address (CLIENT unless --client-ip xff)
XFF = "xff"  # the X-Forwarded-For header as written, when the format has it
IDENT = "ident"
USER = "user"
TS = "ts"  # request time as a UTC datetime
UTC_OFFSET = "utc_offset"  # the offset the server wrote, e.g. "+0800"
METHOD = "method"
PATH = "path"
PROTOCOL = "protocol"
REQUEST = "request"  # the whole request line, kept for bogus requests
STATUS = "status"
BYTES = "bytes_sent"  # null when the server wrote "-" (no body), never 0
REFERER = "referer"
USER_AGENT = "user_agent"
VHOST = "vhost"
PORT = "port"

# --- rejects -----------------------------------------------------------------------
REASON = "reason"

# --- enrich: one row per distinct client address ------------------------------------
CLIENT_IP = "client_ip"  # the canonical address (IPv4-mapped IPv6 unwrapped)
IP_VERSION = "ip_version"
GEO_STATUS = "geo_status"  # ok | not_found | not_public | invalid_ip
IP_CLASS = "ip_class"  # public | private | loopback | link_local | cgnat | ...
CONTINENT = "continent"
COUNTRY_ISO = "country_iso"
COUNTRY = "country"
REGISTERED_COUNTRY_ISO = "registered_country_iso"
REGISTERED_COUNTRY = "registered_country"
REGION_ISO = "region_iso"  # first-level ISO 3166-2 subdivision, e.g. CN-LN
REGION = "region"
SUBREGION_ISO = "subregion_iso"  # second level, e.g. ES-B (Spain has both)
SUBREGION = "subregion"
CITY = "city"
LATITUDE = "latitude"
LONGITUDE = "longitude"
ACCURACY_RADIUS = "accuracy_radius"
TIME_ZONE = "time_zone"
ASN = "asn"
AS_ORG = "as_org"

# --- anonymizers: one verdict per distinct client (see loganalyzer.anonymity.sources) -------
ANONYMIZER = "anonymizer"  # one of ANON_CATEGORIES | none_known | null (not an address)
ANONYMIZER_CONFIDENCE = "anonymizer_confidence"  # confirmed | suspected | null
ANONYMIZER_PROVIDER = "anonymizer_provider"  # NordVPN, AWS, iCloud Private Relay, Tor, ...
ANONYMIZER_EVIDENCE = "anonymizer_evidence"  # every source's claim, strongest first
ACTOR_TYPE = "actor_type"  # one of ACTOR_TYPES | none_known | null (not an address)
ACTOR_TYPES = ("scanner", "crawler")
"""Who a client is, apart from how it connects: a second verdict beside ``anonymizer``.

A Shodan scanner on AWS is ``hosting`` and ``scanner``; ``scanner`` outranks
``crawler`` when lists disagree.
"""
ANON_CATEGORIES = (
    "tor_exit",
    "privacy_relay",
    "vpn",
    "public_proxy",
    "residential_proxy",
    "hosting",
)
"""Verdict categories, strongest first (issue 4's precedence)."""
ANON_CATEGORY_ALIASES = {"tor": "tor_exit", "relay": "privacy_relay", "proxy": "public_proxy"}
"""Shorter category names accepted as input (``--ip-list relay=FILE``, ``--where``)."""
NONE_KNOWN = "none_known"
"""The verdict of an address no loaded source lists: not known, which is not "clean"."""

# --- aggregate ------------------------------------------------------------------------
REQUESTS = "requests"
UNIQUE_IPS = "unique_ips"
SHARE = "share"
FIRST_SEEN = "first_seen"
LAST_SEEN = "last_seen"
WATCHED = "watched"
# Only when anonymizer sources were loaded: requests (and clients) some source lists,
# the rest (direct: not listed, which is not proof of a direct user), and one count
# per category.
REQUESTS_DIRECT = "requests_direct"
REQUESTS_ANONYMIZED = "requests_anonymized"
UNIQUE_IPS_ANONYMIZED = "unique_ips_anonymized"
CATEGORY_REQUESTS = {c: f"requests_{c}" for c in ANON_CATEGORIES}
"""Per-category request counts of a report row, keyed by category."""
REQUESTS_SCANNER = "requests_scanner"
REQUESTS_CRAWLER = "requests_crawler"
ACTOR_REQUESTS = {"scanner": REQUESTS_SCANNER, "crawler": REQUESTS_CRAWLER}
"""Per-actor-type request counts of a report row (``requests_scanner``, ``requests_crawler``)."""
ANON_COUNT_COLUMNS = (
    REQUESTS_DIRECT,
    REQUESTS_ANONYMIZED,
    UNIQUE_IPS_ANONYMIZED,
    *CATEGORY_REQUESTS.values(),
    *ACTOR_REQUESTS.values(),
)
"""Every count column a report row gains with anonymizer sources, in output order."""
STATUS_CLASSES = ("status_2xx", "status_3xx", "status_4xx", "status_5xx", "status_other")

DATETIME = pl.Datetime("us", "UTC")

GEO_SCHEMA: dict[str, pl.DataType] = {
    CLIENT: pl.String(),
    CLIENT_IP: pl.String(),
    IP_VERSION: pl.Int8(),
    GEO_STATUS: pl.String(),
    IP_CLASS: pl.String(),
    CONTINENT: pl.String(),
    COUNTRY_ISO: pl.String(),
    COUNTRY: pl.String(),
    REGISTERED_COUNTRY_ISO: pl.String(),
    REGISTERED_COUNTRY: pl.String(),
    REGION_ISO: pl.String(),
    REGION: pl.String(),
    SUBREGION_ISO: pl.String(),
    SUBREGION: pl.String(),
    CITY: pl.String(),
    LATITUDE: pl.Float64(),
    LONGITUDE: pl.Float64(),
    ACCURACY_RADIUS: pl.Int32(),
    TIME_ZONE: pl.String(),
    ASN: pl.Int64(),
    AS_ORG: pl.String(),
}
"""The lookup table :func:`loganalyzer.geo.enrich.lookup` returns, keyed by CLIENT."""

GEO_COLUMNS = tuple(c for c in GEO_SCHEMA if c != CLIENT)

ANON_SCHEMA: dict[str, pl.DataType] = {
    ANONYMIZER: pl.String(),
    ANONYMIZER_CONFIDENCE: pl.String(),
    ANONYMIZER_PROVIDER: pl.String(),
    ACTOR_TYPE: pl.String(),
    ANONYMIZER_EVIDENCE: pl.List(pl.String()),
}
"""The verdict columns :func:`loganalyzer.anonymity.verdict.classify` adds per client."""

ANON_KEY_COLUMNS = (ANONYMIZER, ANONYMIZER_CONFIDENCE, ANONYMIZER_PROVIDER, ACTOR_TYPE)
"""Verdict columns a report can group or filter by (the evidence list cannot)."""

PARSED_SCHEMA: dict[str, pl.DataType] = {
    SOURCE: pl.String(),
    LINE_NO: pl.Int64(),
    CLIENT: pl.String(),
    CLIENT_CONN: pl.String(),
    XFF: pl.String(),
    IDENT: pl.String(),
    USER: pl.String(),
    TS: DATETIME,
    UTC_OFFSET: pl.String(),
    REQUEST: pl.String(),
    METHOD: pl.String(),
    PATH: pl.String(),
    PROTOCOL: pl.String(),
    STATUS: pl.Int32(),
    BYTES: pl.Int64(),
    REFERER: pl.String(),
    USER_AGENT: pl.String(),
    VHOST: pl.String(),
    PORT: pl.Int32(),
}
"""Columns every parsed frame has, whatever the format (absent fields are null)."""

REJECT_SCHEMA: dict[str, pl.DataType] = {
    SOURCE: pl.String(),
    LINE_NO: pl.Int64(),
    REASON: pl.String(),
    LINE: pl.String(),
}
