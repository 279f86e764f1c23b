"""Anonymizers: which clients are Tor exits, VPN, proxy, relay or hosting addresses.

Every source is a file the user supplies and is read offline: MaxMind's Anonymous
IP / Anonymous Plus / Residential Proxy MMDB, Tor exit lists (bulk list,
TorDNSEL ``exit-addresses``, Onionoo details JSON), address and CIDR lists (plain
text or MISP warninglist JSON), cloud provider range files (AWS, Google, Azure,
Oracle), RFC 8805 geofeeds such as Apple's iCloud Private Relay egress list, and
an ``ASN,category,note`` list applied through the ASN database.

Each network source becomes a table of sorted, non-overlapping integer ranges
(IPv4 as IPv4-mapped IPv6, so one 128-bit key space holds both), where the most
specific network wins; the distinct client addresses are matched against it with
one ``join_asof``. Tor lists are exact addresses with a time window, matched by
an equi-join and an overlap test against the client's first and last request.

The verdict for a client is the strongest category any source claims, in the
order of :data:`~loganalyzer.anonymity.categories.CATEGORIES`; the evidence keeps
every claim, disagreements included. An address no source lists is *not listed*:
that is not proof that a person connected directly.

The modules, from the bottom up:

- ``categories``: the categories, their order, and how hits become a verdict.
- ``networks``: addresses and networks as 128-bit keys; nested networks as disjoint ranges.
- ``files``: reading a source file; ``SourceInfo``, the provenance of a loaded source.
- ``cache``: parsed lists kept as Parquet, keyed by the file's content.
- ``maxmind``, ``tor``, ``ip_lists``, ``cloud``, ``asn_list``: one loader per source kind.
- ``folder``: which file of a ``--sources-dir`` folder is which kind.
- ``sources``: ``AnonymizerSources``, the sources a run uses, and their merged verdicts.
- ``verdict``: ``classify``, each client's verdict.
- ``update``: downloading the public lists (``loganalyzer sources update``).
"""
