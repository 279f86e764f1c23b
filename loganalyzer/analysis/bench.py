"""The benchmark: the main report end to end, against a bare Polars floor.

Speed claims are only worth what their measurement is worth, so this measures
the way a user runs the tool (a fresh process, start to exit, output written)
and in the same run measures the floor: a bare Polars scan of the same file
that only counts distinct first fields. Machines are shared and noisy; the
ratio to the floor travels between machines better than seconds do.

Nothing here is timed by the test suite: tests check that the numbers are
produced and consistent, never that they are small.
"""

from __future__ import annotations

import gzip
import itertools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import polars as pl

# The floor the speed targets are stated against: a bare Polars scan that only
# counts distinct first fields. It is self-contained, so the benchmark needs no
# file outside the package.
FLOOR_CODE = """
import sys, polars as pl
lf = pl.scan_csv(sys.argv[1], has_header=False, separator="\\x1f", quote_char=None,
                 new_columns=["line"], schema_overrides={"line": pl.Utf8},
                 encoding="utf8-lossy")
print(lf.select(pl.col("line").str.split_exact(" ", 1).struct.field("field_0")
      .n_unique()).collect().item())
"""

# The loop most analysts write by hand: re + geoip2, one lookup per distinct address
# (a dict cache), requests counted per (country, subdivision).
NAIVE_CODE = """
import collections, re, sys
import geoip2.database, geoip2.errors
LINE = re.compile(r'^(\\S+) \\S+ \\S+ \\[([^\\]]+)\\] "((?:[^"\\\\]|\\\\.)*)" (\\d{3}) (\\S+)')
reader = geoip2.database.Reader(sys.argv[1])
cache, counts, bad = {}, collections.Counter(), 0
for line in open(sys.argv[2], encoding="utf-8", errors="replace"):
    m = LINE.match(line)
    if not m:
        bad += 1
        continue
    ip = m.group(1)
    key = cache.get(ip)
    if key is None:
        try:
            r = reader.city(ip)
            key = (r.country.iso_code, r.subdivisions.most_specific.iso_code)
        except (geoip2.errors.AddressNotFoundError, ValueError):
            key = (None, None)
        cache[ip] = key
    counts[key] += 1
print(len(counts), bad)
"""

_PATHS = (
    "/",
    "/index.html",
    "/login",
    "/api/v1/items?page=2",
    "/static/app.js",
    "/static/style.css",
    "/wp-login.php",
    "/.env",
    "/admin/config.php",
    "/favicon.ico",
    "/search?q=%E4%B8%AD%E6%96%87",
    "/cgi-bin/luci/;stok=/locale",
)
_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/128.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Mozilla/5.0 zgrab/0.x",
    "Go-http-client/1.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15",
)
_REFERERS = ("-", "https://example.org/", "https://www.google.com/", "-")
_METHODS = ("GET", "GET", "GET", "POST", "HEAD")
_STATUSES = (200, 200, 200, 200, 304, 301, 404, 404, 403, 500)
_OFFSETS = ("+0000", "+0100", "+0200", "+0800", "-0500", "+0900")
_MALFORMED = (
    "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xfc\\x03\\x03",
    "GET / HTTP/1.1",
    "- - - [not a time] garbage",
    "",
)


COMMANDS = ("enrich", "ips", "compare", "lookup", "links", "plot", "brief")
"""The commands ``bench --commands`` times against the report, in this order."""


@dataclass
class Run:
    """One measured process: wall seconds and peak resident memory."""

    seconds: float
    peak_rss_mb: float
    returncode: int


@dataclass
class BenchResult:
    """What ``loganalyzer bench`` prints (``--json`` gives this as an object)."""

    log: str
    lines: int
    size_bytes: int
    command: list[str]
    floor: Run
    report: Run
    gzip: Run | None = None
    files: Run | None = None
    file_count: int = 0
    longer: Run | None = None
    longer_log: str | None = None
    longer_lines: int = 0
    peers: dict[str, Run] = field(default_factory=dict)
    parse: Run | None = None
    sources: Run | None = None
    sources_first: Run | None = None  # the first run with sources, parsing the lists
    sources_dir: str | None = None
    distinct_clients: int = 0
    # Other presets: the same requests in that format, its floor and its report.
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Other commands on the same log (COMMANDS).
    commands: dict[str, Run] = field(default_factory=dict)
    repeat: int = 1
    machine: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """End-to-end report time over the floor's time."""
        return self.report.seconds / self.floor.seconds

    @property
    def lines_per_second(self) -> float:
        """Lines of log per second, end to end."""
        return self.lines / self.report.seconds

    def as_dict(self) -> dict[str, Any]:
        """JSON form: every measurement plus the derived figures."""
        out = asdict(self)
        out["ratio_to_floor"] = round(self.ratio, 3)
        out["lines_per_second"] = round(self.lines_per_second)
        if self.gzip is not None:
            out["gzip_ratio_to_plain"] = round(self.gzip.seconds / self.report.seconds, 3)
        if self.files is not None:
            out["files_ratio_to_one"] = round(self.files.seconds / self.report.seconds, 3)
        if self.longer is not None:
            out["longer_lines_ratio"] = round(self.longer_lines / self.lines, 3)
            out["longer_time_ratio"] = round(self.longer.seconds / self.report.seconds, 3)
            out["longer_memory_ratio"] = round(self.longer.peak_rss_mb / self.report.peak_rss_mb, 3)
        if self.parse is not None:
            out["enrichment_over_parse"] = round(self.report.seconds / self.parse.seconds - 1, 3)
        if self.parse is not None and self.sources is not None:
            out["sources_over_parse"] = round(self.sources.seconds / self.parse.seconds - 1, 3)
        for name, each in out["presets"].items():
            each["ratio_to_floor"] = round(
                self.presets[name]["report"].seconds / self.presets[name]["floor"].seconds, 3
            )
        out["commands_ratio_to_report"] = {
            name: round(run.seconds / self.report.seconds, 3) for name, run in self.commands.items()
        }
        if self.parse is not None and self.sources_first is not None:
            first = self.sources_first.seconds / self.parse.seconds - 1
            out["sources_first_over_parse"] = round(first, 3)
        return out


def _sample_clients(city_db: str | Path | None, n: int, seed: int) -> list[str]:
    """Distinct client addresses: about two thirds IPv4, one third IPv6.

    With a database, only addresses it knows are kept, so that lookups find
    them as they do for real traffic; without one, any public-looking address.
    """
    import ipaddress

    import numpy as np

    rng = np.random.default_rng(seed)
    reader = None
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    if city_db is not None:
        import maxminddb

        reader = maxminddb.open_database(str(city_db))
        # A small database is walked whole; a real one (millions of networks)
        # is sampled instead, which takes a second rather than minutes.
        if reader.metadata().node_count < 100_000:
            nets = [net for net, _ in reader if not net.is_private]
            reader.close()
            reader = None
    v4 = [x for x in nets if x.version == 4]
    v6 = [x for x in nets if x.version == 6]
    # IPv6 clients come from the big regional allocations (APNIC, ARIN, RIPE...).
    v6_bases = (0x2400, 0x2600, 0x2A00, 0x2800, 0x2C00, 0x2001)
    out: set[str] = set()
    tries = 0
    while len(out) < n and tries < 50 * n:
        tries += 1
        is_v6 = rng.random() < 0.33
        pool = v6 if is_v6 else v4
        if pool:
            net = pool[int(rng.integers(len(pool)))]
            offset = int(rng.integers(min(net.num_addresses, 2**62)))
            out.add(str(net.network_address + offset))
            continue
        addr: ipaddress.IPv4Address | ipaddress.IPv6Address
        if is_v6 or (nets and not v4):
            base = v6_bases[int(rng.integers(len(v6_bases)))]
            low = (int(rng.integers(2**20)) << 92) | int(rng.integers(2**62))
            addr = ipaddress.IPv6Address((base << 112) | low)
        else:
            addr = ipaddress.IPv4Address(int(rng.integers(16_777_216, 3_758_096_384)))
        if reader is None or reader.get(addr) is not None:
            out.add(str(addr))
    if reader is not None:
        reader.close()
    return sorted(out)


def generate_log(
    path: str | Path,
    *,
    lines: int,
    seed: int = 7,
    city_db: str | Path | None = None,
    malformed_share: float = 0.002,
) -> Path:
    """Write a realistic Apache combined log for benchmarking.

    Heavy-hitter clients (a Zipf law over the client pool), a third of them
    IPv6, several time-zone offsets, scanners' paths and agents, and a small
    share of malformed lines (TLS handshakes on a plain port, bare requests).

    Args:
        path: where to write the log (``.gz`` compresses it).
        lines: how many lines.
        seed: the random seed: the same seed gives the same file.
        city_db: draw clients from this database's networks.
        malformed_share: the share of lines that are not log lines.

    Returns:
        The path written.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    clients = _sample_clients(city_db, max(10, lines // 40), seed)
    # Zipf ranks give a few clients most of the traffic, as scanners and crawlers do.
    ranks = (rng.zipf(1.25, lines) - 1) % len(clients)
    order = rng.permutation(len(clients))
    start = datetime(2026, 9, 1, tzinfo=UTC).timestamp()
    seconds = np.sort(rng.integers(0, 30 * 86400, lines)) + int(start)
    which = rng.integers(0, len(_OFFSETS), lines)
    offsets = np.array(_OFFSETS)[which]
    # Local wall-clock time is what the server writes, beside its offset.
    shift = np.array([(-1 if o[0] == "-" else 1) * int(o[1:3]) * 3600 for o in _OFFSETS])
    local = seconds + shift[which]
    frame = pl.DataFrame(
        {
            "client": np.array(clients)[order[ranks]],
            "local": local,
            "offset": offsets,
            "method": np.array(_METHODS)[rng.integers(0, len(_METHODS), lines)],
            "path": np.array(_PATHS)[rng.integers(0, len(_PATHS), lines)],
            "status": np.array(_STATUSES)[rng.integers(0, len(_STATUSES), lines)],
            "bytes": rng.integers(0, 200_000, lines),
            "referer": np.array(_REFERERS)[rng.integers(0, len(_REFERERS), lines)],
            "agent": np.array(_AGENTS)[rng.integers(0, len(_AGENTS), lines)],
            "bad": rng.random(lines) < malformed_share,
            "junk": np.array(_MALFORMED)[rng.integers(0, len(_MALFORMED), lines)],
        }
    )
    when = pl.from_epoch(pl.col("local"), time_unit="s").dt.strftime("%d/%b/%Y:%H:%M:%S")
    line = pl.concat_str(
        [
            pl.col("client"),
            pl.lit(" - - ["),
            when,
            pl.lit(" "),
            pl.col("offset"),
            pl.lit('] "'),
            pl.col("method"),
            pl.lit(" "),
            pl.col("path"),
            pl.lit(' HTTP/1.1" '),
            pl.col("status").cast(pl.String),
            pl.lit(" "),
            pl.col("bytes").cast(pl.String),
            pl.lit(' "'),
            pl.col("referer"),
            pl.lit('" "'),
            pl.col("agent"),
            pl.lit('"'),
        ]
    )
    out = frame.select(pl.when(pl.col("bad")).then(pl.col("junk")).otherwise(line).alias("l"))
    target = Path(path)
    if target.suffix == ".gz":
        with gzip.open(target, "wb", compresslevel=6) as fh:
            out.write_csv(cast(IO[bytes], fh), include_header=False, quote_style="never")
    else:
        out.write_csv(target, include_header=False, quote_style="never")
    return target


def _first_fields(path: str | Path) -> pl.LazyFrame:
    """Each line's first field (its client), read as the floor reads it, as ``ip``."""
    lf = pl.scan_csv(
        path, has_header=False, separator="\x1f", quote_char=None, new_columns=["line"],
        schema_overrides={"line": pl.Utf8}, encoding="utf8-lossy",
    )  # fmt: skip
    return lf.select(pl.col("line").str.split_exact(" ", 1).struct.field("field_0").alias("ip"))


def distinct_clients(path: str | Path) -> int:
    """How many distinct first fields (clients) the log has, as the floor counts them."""
    return int(_first_fields(path).select(pl.col("ip").drop_nulls().n_unique()).collect().item())


def generate_sources(
    folder: str | Path,
    log: str | Path,
    *,
    seed: int = 7,
    vpn_networks: int = 20_000,
    cloud_networks: int = 8_000,
    tor_exits: int = 1_500,
) -> Path:
    """Write a sources folder (``--sources-dir``) of the sizes real lists have, for ``log``.

    Real lists are not ours to ship, so these are drawn with a seed: a VPN list
    of ``vpn_networks`` networks (IPv4 /24s, a tenth IPv6 /48s), an AWS-shaped
    ``ip-ranges.json`` of ``cloud_networks`` EC2 networks nested in AMAZON
    /16s (real cloud lists nest), and a Tor bulk exit list. About a third of
    each holds one of the log's clients, the rest covers other addresses, so
    that verdicts are found as in real traffic: some clients listed, most not.

    Returns:
        ``folder``, laid out as ``--sources-dir`` reads it.
    """
    import ipaddress
    import json

    import numpy as np

    rng = np.random.default_rng(seed)
    first = _first_fields(log).select(pl.col("ip").unique(maintain_order=True))
    clients = first.collect().to_series().to_list()
    v4: list[int] = []
    v6: list[int] = []
    for text in clients:
        try:
            addr = ipaddress.ip_address(text)
        except (ValueError, TypeError):
            continue
        (v4 if addr.version == 4 else v6).append(int(addr))

    def pick(pool: list[int], n: int) -> list[int]:
        if not pool or n <= 0:
            return []
        return [pool[int(i)] for i in rng.integers(len(pool), size=n)]

    def random_v4(n: int) -> list[int]:
        return [int(x) for x in rng.integers(16_777_216, 3_758_096_384, size=n)]

    out = Path(folder)
    (out / "lists" / "vpn").mkdir(parents=True, exist_ok=True)
    v6_count = vpn_networks // 10
    v4_count = vpn_networks - v6_count
    vpn24 = {x >> 8 for x in pick(v4, v4_count // 3) + random_v4(v4_count)}
    vpn48 = {x >> 80 for x in pick(v6, v6_count // 3)}
    while len(vpn48) < v6_count:
        vpn48.add((0x2A00 << 32) | int(rng.integers(2**32)))
    vpn = [f"{ipaddress.IPv4Address(n << 8)}/24" for n in sorted(vpn24)[:v4_count]]
    vpn += [f"{ipaddress.IPv6Address(n << 80)}/48" for n in sorted(vpn48)[:v6_count]]
    lines = [f"# synthetic VPN list for the benchmark, {len(vpn):,} networks (seed {seed})"]
    (out / "lists" / "vpn" / "vpn.txt").write_text("\n".join(lines + vpn) + "\n", "ascii")
    exits = pick(v4, tor_exits // 3) + random_v4(tor_exits - tor_exits // 3)
    tor_text = "\n".join(str(ipaddress.IPv4Address(x)) for x in sorted(set(exits))) + "\n"
    (out / "torbulkexitlist").write_text(tor_text, "ascii")
    ec2 = {x >> 12 for x in pick(v4, cloud_networks // 3) + random_v4(cloud_networks)}
    prefixes = [
        {"ip_prefix": f"{ipaddress.IPv4Address(n << 12)}/20", "region": "us-east-1",
         "service": "EC2", "network_border_group": "us-east-1"}
        for n in sorted(ec2)[:cloud_networks]
    ]  # fmt: skip
    amazon = sorted({int(ipaddress.ip_network(p["ip_prefix"]).network_address) >> 16
                     for p in prefixes[::4]})  # fmt: skip
    prefixes += [
        {"ip_prefix": f"{ipaddress.IPv4Address(n << 16)}/16", "region": "GLOBAL",
         "service": "AMAZON", "network_border_group": "GLOBAL"}
        for n in amazon
    ]  # fmt: skip
    doc = {"syncToken": str(seed), "createDate": "2026-09-10-12-00-00", "prefixes": prefixes,
           "ipv6_prefixes": []}  # fmt: skip
    (out / "ip-ranges.json").write_text(json.dumps(doc), "ascii")
    return out


# A process's peak memory as the kernel records it (ru_maxrss) starts from its
# parent's at fork, so a measured command is started by this small launcher, not
# by the benchmark's own process (which holds Polars and its data).
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, flush=True)
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
"""


def _measure(
    cmd: Sequence[str], env: dict[str, str] | None = None, stdin: Path | None = None
) -> Run:
    """Run one process to completion: its wall time and its own peak RSS."""
    start = time.perf_counter()
    with open(stdin or os.devnull, "rb") as given:
        proc = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _LAUNCHER, *cmd],
            stdin=given,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            check=False,
            env=env,
        )
    seconds = time.perf_counter() - start
    try:
        peak_kb = int(proc.stdout.split()[-1])
    except (IndexError, ValueError):
        peak_kb = 0
    return Run(round(seconds, 3), round(peak_kb / 1024, 1), proc.returncode)


def _count_lines(path: Path) -> int:
    n = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 24):
            n += chunk.count(b"\n")
    return n


def machine() -> dict[str, Any]:
    """The facts needed to compare figures: cores, memory, Python, Polars, the scanner."""
    import platform

    from loganalyzer.ingest import native

    mem = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            mem = round(int(fh.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gb": mem,
        "python": platform.python_version(),
        "polars": pl.__version__,
        # The report's subprocess inherits the environment, LOGANALYZER_NATIVE too.
        "native_scanner": native.enabled(),
        "platform": platform.platform(),
    }


def run_benchmark(
    log: str | Path,
    *,
    report_args: Sequence[str] = ("--by", "region"),
    repeat: int = 3,
    with_gzip: bool = False,
    workdir: str | Path | None = None,
    peers_city_db: str | Path | None = None,
    split: int = 0,
    longer: str | Path | None = None,
    sources_dir: str | Path | None = None,
    presets: Sequence[str] = (),
    commands: bool = False,
) -> BenchResult:
    """Time ``loganalyzer report`` on ``log`` against the floor, in one run.

    Every variant asked for (floor, report, and gzip, files, longer log and
    sources when asked) runs once per round, ``repeat`` rounds, and the fastest
    of each counts, the usual way to read through other load on a shared
    machine. Peak memory is the largest seen.

    Args:
        log: a plain-text log.
        report_args: arguments after ``report LOG`` (databases, ``--by``...).
        repeat: how many rounds (runs of each variant).
        with_gzip: also time the report on a gzip copy of the log.
        workdir: where the gzip copy goes (default beside the log).
        peers_city_db: also time, once each, the hand-written ``re`` + geoip2
            loop and GoAccess (when installed) with this City database.
        split: also time the report on the log cut into this many gzip files,
            the way rotated logs come (detection and reading per file).
        longer: also time the report on this longer log (the issue's "four
            times longer" check: how time and peak memory grow with length).
        sources_dir: also time the report with these anonymizer sources
            (``--sources-dir``), and ``report --by ip`` with no databases or
            sources, parsing and counting alone, which both are compared with
            (the issue's "sources and enrichment add at most 15%").
        presets: also time the report on the log's requests written in each of
            these presets' formats, each against the floor of its own file.
        commands: also time ``enrich``, ``ips``, ``compare``, ``lookup``, ``links``,
            ``plot`` and ``brief`` (:data:`COMMANDS`)
            (see :func:`~loganalyzer.analysis.bench_formats.extra_plan`).

    Returns:
        The measurements.
    """
    path = Path(log)
    work = Path(workdir or path.parent)
    base = [sys.executable, "-m", "loganalyzer", "-q", "report"]
    # Each round runs every variant once, in the same order, and the fastest of
    # each counts: a slow minute of a shared machine then hits all variants
    # alike instead of whichever happened to run in it, and every ratio compares
    # runs of the same invocation and the same rounds.
    plan: dict[str, tuple[list[str], dict[str, str] | None]] = {
        "floor": ([sys.executable, "-c", FLOOR_CODE, str(path)], None),
        "report": ([*base, str(path), *report_args], None),
    }
    # The command keeps parsed lists in a cache (anonymizers.default_cache_dir):
    # here two of the benchmark's own, so that the user's is left alone: one
    # filled before the rounds (a user asking again), one emptied before each
    # first run (a user's first run with these lists).
    cache = work / "loganalyzer-bench-cache"
    cold_cache = work / "loganalyzer-bench-cache-cold"
    if sources_dir is not None:
        sources_cmd = [*base, str(path), *report_args, "--sources-dir", str(sources_dir)]
        plan["parse"] = ([*base, str(path), "--by", "ip", "-O", "csv"], None)
        plan["sources"] = (sources_cmd, {**os.environ, "LOGANALYZER_CACHE_DIR": str(cache)})
        # The first run with sources, in every round with its cache emptied
        # before; it comes after "report", which compiles the package's changed
        # modules once a run, as a user's first run does not.
        plan["cold"] = (sources_cmd, {**os.environ, "LOGANALYZER_CACHE_DIR": str(cold_cache)})
    made: list[Path] = []
    runs: dict[str, list[Run]] = {}
    try:
        if with_gzip:
            gz = work / (path.name + ".bench.gz")
            made.append(gz)
            with path.open("rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
                shutil.copyfileobj(src, dst, 1 << 22)
            plan["gzip"] = ([*base, str(gz), *report_args], None)
        if split > 1:
            parts = split_log(path, work / (path.name + ".bench-parts"), split)
            made.append(parts[0].parent)
            plan["files"] = ([*base, *map(str, parts), *report_args], None)
        if longer is not None:
            plan["longer"] = ([*base, str(longer), *report_args], None)
        stdin: dict[str, Path | None] = {}
        sizes: dict[str, dict[str, int]] = {}
        if presets or commands:
            from loganalyzer.analysis.bench_formats import extra_plan

            more, more_made, sizes = extra_plan(
                path, work, base[:-1], list(report_args), FLOOR_CODE, tuple(presets), commands
            )
            made += more_made
            for name, (cmd, given) in more.items():
                plan[name] = (cmd, None)
                stdin[name] = given
        shutil.rmtree(cache, ignore_errors=True)
        if "sources" in plan:
            # "sources" is the steady state of a user who asks again: two runs
            # fill its cache first (the parsed lists, then their merged verdicts).
            for _ in range(2):
                _measure(*plan["sources"])
        for _ in range(max(1, repeat)):
            for name, (cmd, env) in plan.items():
                if name == "cold":
                    shutil.rmtree(cold_cache, ignore_errors=True)
                runs.setdefault(name, []).append(_measure(cmd, env, stdin.get(name)))
    finally:
        for made_path in [*made, cache, cold_cache]:
            if made_path.is_dir():
                shutil.rmtree(made_path, ignore_errors=True)
            else:
                made_path.unlink(missing_ok=True)
    best = {name: _best(each) for name, each in runs.items()}
    peers: dict[str, Run] = {}
    if peers_city_db is not None:
        peers["python re + geoip2 loop"] = _measure(
            [sys.executable, "-c", NAIVE_CODE, str(peers_city_db), str(path)]
        )
        goaccess = shutil.which("goaccess")
        if goaccess:
            out = Path(workdir or path.parent) / "goaccess-bench.json"
            cmd = [
                goaccess,
                str(path),
                "--log-format=COMBINED",
                "--no-progress",
                f"--geoip-database={peers_city_db}",
                "-o",
                str(out),
            ]
            try:
                peers["GoAccess " + _goaccess_version(goaccess)] = _measure(cmd)
            finally:
                out.unlink(missing_ok=True)
    return BenchResult(
        log=str(path),
        lines=_count_lines(path),
        size_bytes=path.stat().st_size,
        command=["loganalyzer", "report", str(path), *report_args],
        floor=best["floor"],
        report=best["report"],
        gzip=best.get("gzip"),
        files=best.get("files"),
        file_count=split if split > 1 else 0,
        longer=best.get("longer"),
        longer_log=str(longer) if longer is not None else None,
        longer_lines=_count_lines(Path(longer)) if longer is not None else 0,
        peers=peers,
        parse=best.get("parse"),
        sources=best.get("sources"),
        sources_first=best.get("cold"),
        sources_dir=str(sources_dir) if sources_dir is not None else None,
        distinct_clients=distinct_clients(path) if sources_dir is not None else 0,
        presets={
            name: {**sizes[name], "floor": best[f"floor {name}"], "report": best[f"report {name}"]}
            for name in presets
        },
        commands={n: best[n] for n in COMMANDS if n in best},
        repeat=max(1, repeat),
        machine=machine(),
    )


def split_log(path: str | Path, folder: str | Path, parts: int) -> list[Path]:
    """Cut a log into ``parts`` gzip files of consecutive lines, in order.

    Named like logrotate's (``access.log.001.gz``...), compressed at gzip's
    default level as logrotate does.
    """
    src = Path(path)
    total = _count_lines(src)
    per = max(1, -(-total // parts))
    out_dir = Path(folder)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [out_dir / f"{src.name}.{i:03d}.gz" for i in range(parts)]
    with src.open("rb") as f:
        for name in names:
            with gzip.open(name, "wb", compresslevel=6) as out:
                out.writelines(itertools.islice(f, per))
    return names


def _goaccess_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    words = out.stdout.split()
    return words[2].rstrip(".") if len(words) > 2 and words[0] == "GoAccess" else ""


def _best(runs: Sequence[Run]) -> Run:
    failed = [r for r in runs if r.returncode != 0]
    if failed:
        return failed[0]
    fastest = min(runs, key=lambda r: r.seconds)
    return Run(fastest.seconds, max(r.peak_rss_mb for r in runs), 0)


@dataclass(frozen=True)
class FormatSpeed:
    """Parse throughput of one preset, in lines per second."""

    name: str
    report_columns: float
    all_columns: float


def format_throughput(lines: int = 200_000, repeat: int = 3) -> list[FormatSpeed]:
    """Parse each preset's example line, repeated, and time it in this process.

    Two figures per preset: parsing only what ``report --by region`` uses
    (client, time, status, bytes) and parsing every column (``enrich``). The
    fastest of ``repeat`` runs counts. Reading and inflating are left out: this
    is the parser alone, so presets compare with one another.
    """
    from loganalyzer import schema as S
    from loganalyzer.ingest.parse import ParseState, parse_lines
    from loganalyzer.ingest.presets import PRESETS

    report_cols = {S.CLIENT, S.TS, S.STATUS, S.BYTES}
    out = []
    for name, fmt in PRESETS.items():
        frame = pl.DataFrame(
            {
                S.SOURCE: pl.repeat("bench", lines, eager=True),
                S.LINE_NO: pl.int_range(1, lines + 1, eager=True),
                S.LINE: pl.repeat(fmt.example, lines, eager=True),
            }
        )
        best: dict[str, float] = {}
        for label, cols in (("report", report_cols), ("all", None)):
            for _ in range(max(1, repeat)):
                start = time.perf_counter()
                parsed = parse_lines(frame.lazy(), fmt, columns=cols, state=ParseState()).collect()
                took = time.perf_counter() - start
                if parsed[S.REASON].null_count() != lines:
                    raise RuntimeError(f"{name}: its example line does not parse")
                best[label] = min(best.get(label, took), took)
        out.append(FormatSpeed(name, lines / best["report"], lines / best["all"]))
    return out


__all__ = [
    "FLOOR_CODE",
    "BenchResult",
    "FormatSpeed",
    "Run",
    "distinct_clients",
    "format_throughput",
    "generate_log",
    "generate_sources",
    "machine",
    "run_benchmark",
]
