"""The benchmark's requests written out in other presets' formats.

A format's speed is only comparable with the combined log's when the requests
are the same: the same clients, times, paths and agents, the same malformed
lines. :func:`convert_log` parses a combined log with the tool's own parser and
writes every request again the way Traefik, Caddy, Cloudflare, nginx
(``escape=json``), IIS, CloudFront, the AWS load balancers and S3 write theirs;
lines that do not parse are written as they were, so they stay rejects.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from loganalyzer import schema as S

CONVERTIBLE = (
    "traefik",
    "caddy",
    "cloudflare",
    "json",
    "w3c",
    "cloudfront",
    "aws_elb",
    "aws_alb",
    "aws_s3",
)
"""Presets :func:`convert_log` writes."""

_HOST = "www.example.org"


def _iso(ts: pl.Expr) -> pl.Expr:
    return ts.dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")


def _dash(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String).fill_null("-")


def _quoted(expr: pl.Expr) -> pl.Expr:
    # Apache's and AWS's escaping of a quote inside a quoted field.
    return pl.concat_str(
        [pl.lit('"'), expr.fill_null("-").str.replace_all('"', '\\"', literal=True), pl.lit('"')]
    )


def _line(name: str) -> pl.Expr:
    """One request in ``name``'s format, from the parsed columns."""
    c = pl.col
    ts, client, ua, ref = c(S.TS), c(S.CLIENT), c(S.USER_AGENT), c(S.REFERER)
    status, size, method, path, proto = (
        c(S.STATUS),
        c(S.BYTES),
        c(S.METHOD),
        c(S.PATH),
        c(S.PROTOCOL),
    )
    stem = path.str.split("?").list.first()
    query = path.str.splitn("?", 2).struct.field("field_1")
    if name == "traefik":
        return pl.struct(
            (client + ":51234").alias("ClientAddr"),
            client.alias("ClientHost"),
            pl.lit("-").alias("ClientUsername"),
            size.alias("DownstreamContentSize"),
            status.alias("DownstreamStatus"),
            pl.lit(_HOST).alias("RequestHost"),
            method.alias("RequestMethod"),
            path.alias("RequestPath"),
            proto.alias("RequestProtocol"),
            pl.lit("web@docker").alias("RouterName"),
            _iso(ts).alias("StartUTC"),
            ua.alias("request_User-Agent"),
            ref.alias("request_Referer"),
            pl.lit("info").alias("level"),
            pl.lit("").alias("msg"),
            ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("time"),
        ).struct.json_encode()
    if name == "caddy":
        headers = pl.struct(
            pl.concat_list(ua).alias("User-Agent"), pl.concat_list(ref).alias("Referer")
        )
        request = pl.struct(
            client.alias("remote_ip"),
            pl.lit("51234").alias("remote_port"),
            client.alias("client_ip"),
            proto.alias("proto"),
            method.alias("method"),
            pl.lit(_HOST).alias("host"),
            path.alias("uri"),
            headers.alias("headers"),
        )
        return pl.struct(
            pl.lit("info").alias("level"),
            (ts.dt.epoch("us") / 1e6).alias("ts"),
            pl.lit("http.log.access").alias("logger"),
            pl.lit("handled request").alias("msg"),
            request.alias("request"),
            pl.lit(0.001).alias("duration"),
            size.alias("size"),
            status.alias("status"),
        ).struct.json_encode()
    if name == "cloudflare":
        return pl.struct(
            client.alias("ClientIP"),
            pl.lit(_HOST).alias("ClientRequestHost"),
            method.alias("ClientRequestMethod"),
            path.alias("ClientRequestURI"),
            proto.alias("ClientRequestProtocol"),
            ua.alias("ClientRequestUserAgent"),
            ref.alias("ClientRequestReferer"),
            size.alias("EdgeResponseBytes"),
            status.alias("EdgeResponseStatus"),
            (ts.dt.epoch("us") * 1000).alias("EdgeStartTimestamp"),
            pl.lit("87a1b2c3d4e5f001").alias("RayID"),
        ).struct.json_encode()
    if name == "json":
        # nginx's log_format with escape=json writes every variable as a string.
        local = pl.concat_str(
            [
                (ts + pl.duration(minutes=_offset_minutes(c(S.UTC_OFFSET)))).dt.strftime(
                    "%Y-%m-%dT%H:%M:%S"
                ),
                c(S.UTC_OFFSET).str.slice(0, 3),
                pl.lit(":"),
                c(S.UTC_OFFSET).str.slice(3, 2),
            ]
        )
        return pl.struct(
            local.alias("time"),
            client.alias("remote_addr"),
            pl.lit("").alias("remote_user"),
            c(S.REQUEST).alias("request"),
            status.cast(pl.String).alias("status"),
            size.cast(pl.String).fill_null("0").alias("body_bytes_sent"),
            ref.fill_null("").alias("http_referer"),
            ua.fill_null("").alias("http_user_agent"),
        ).struct.json_encode()
    if name == "w3c":
        return pl.concat_str(
            [
                ts.dt.strftime("%Y-%m-%d %H:%M:%S"),
                pl.lit("10.0.0.1"),
                _dash(method),
                _dash(stem.str.replace_all(" ", "+", literal=True)),
                _dash(query.str.replace_all(" ", "+", literal=True)),
                pl.lit("443 -"),
                client,
                _dash(ua.str.replace_all(" ", "+", literal=True)),
                _dash(ref),
                _dash(status),
                pl.lit("0 0 15"),
            ],
            separator=" ",
        )
    if name == "cloudfront":
        return pl.concat_str(
            [
                ts.dt.strftime("%Y-%m-%d\t%H:%M:%S"),
                pl.lit("LAX1-C1"),
                _dash(size),
                client,
                _dash(method),
                pl.lit("d111111abcdef8.cloudfront.net"),
                _dash(stem.str.replace_all(" ", "%20", literal=True)),
                _dash(status),
                _dash(ref),
                _dash(ua.str.replace_all(" ", "%20", literal=True)),
                _dash(query.str.replace_all(" ", "%20", literal=True)),
                pl.lit(
                    "-\tHit\tSOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\t"
                    f"{_HOST}\thttps\t120\t0.001\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\tHit"
                ),
                _dash(proto),
                pl.lit("-\t-\t51234\t0.001\tHit\ttext/html"),
                _dash(size),
                pl.lit("-\t-"),
            ],
            separator="\t",
        )
    aws_request = pl.concat_str(
        [method, pl.lit(f" https://{_HOST}:443"), path, pl.lit(" "), proto.fill_null("HTTP/1.1")]
    )
    if name == "aws_elb":
        return pl.concat_str(
            [
                _iso(ts),
                pl.lit("my-elb"),
                client + ":51234",
                pl.lit("10.0.0.1:80 0.000073 0.001048 0.000057"),
                _dash(status),
                _dash(status),
                pl.lit("0"),
                _dash(size),
                _quoted(aws_request),
                _quoted(ua),
                pl.lit("ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2"),
            ],
            separator=" ",
        )
    if name == "aws_alb":
        return pl.concat_str(
            [
                pl.lit("https"),
                _iso(ts),
                pl.lit("app/my-alb/50dc6c495c0c9188"),
                client + ":51234",
                pl.lit("10.0.0.1:80 0.001 0.012 0.000"),
                _dash(status),
                _dash(status),
                pl.lit("310"),
                _dash(size),
                _quoted(aws_request),
                _quoted(ua),
                pl.lit(
                    "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:"
                    "123456789012:targetgroup/web/73e2d6bc24d8a067 "
                    f'"Root=1-58337262-36d228ad5d99923122bbe354" "{_HOST}" "-" 0'
                ),
                _iso(ts),
                pl.lit('"forward" "-" "-" "10.0.0.1:80" "200" "-" "-"'),
            ],
            separator=" ",
        )
    if name == "aws_s3":
        return pl.concat_str(
            [
                pl.lit("79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"),
                pl.lit("example-bucket"),
                ts.dt.strftime("[%d/%b/%Y:%H:%M:%S +0000]"),
                client,
                pl.lit("- 3E57427F33A59F07 REST.GET.OBJECT"),
                _dash(
                    pl.when(stem != "/").then(
                        stem.str.strip_prefix("/").str.replace_all(" ", "%20", literal=True)
                    )
                ),
                _quoted(c(S.REQUEST)),
                _dash(status),
                pl.lit("-"),
                _dash(size),
                _dash(size),
                pl.lit("70 10"),
                _quoted(ref),
                _quoted(ua),
                pl.lit(
                    "- s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3= SigV4 "
                    "ECDHE-RSA-AES128-GCM-SHA256 AuthHeader "
                    "example-bucket.s3.us-west-1.amazonaws.com TLSv1.2 - -"
                ),
            ],
            separator=" ",
        )
    raise ValueError(f"cannot write the {name} format; use one of {', '.join(CONVERTIBLE)}")


def _offset_minutes(offset: pl.Expr) -> pl.Expr:
    sign = pl.when(offset.str.starts_with("-")).then(-1).otherwise(1)
    hours = offset.str.slice(1, 2).cast(pl.Int64, strict=False).fill_null(0)
    minutes = offset.str.slice(3, 2).cast(pl.Int64, strict=False).fill_null(0)
    return sign * (hours * 60 + minutes)


_HEADERS = {
    "w3c": "#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n"
    "#Date: 2026-09-14 00:00:00\n#Fields: {fields}\n",
    "cloudfront": "#Version: 1.0\n#Fields: {fields}\n",
}


def convert_log(src: str | Path, name: str, dst: str | Path) -> Path:
    """Write the requests of combined log ``src`` to ``dst`` in preset ``name``'s format.

    Lines of ``src`` that do not parse are written unchanged, in their place.

    Raises:
        ValueError: for a preset not in :data:`CONVERTIBLE`.
    """
    from loganalyzer.ingest.formats import CLOUDFRONT_FIELDS, IIS_DEFAULT_FIELDS
    from loganalyzer.ingest.parse import parse_lines
    from loganalyzer.ingest.presets import COMBINED

    if name not in CONVERTIBLE:
        raise ValueError(f"cannot write the {name} format; use one of {', '.join(CONVERTIBLE)}")
    lines = pl.scan_lines(str(src), name=S.LINE, row_index_name=S.LINE_NO).with_columns(
        pl.lit("src").alias(S.SOURCE)
    )
    parsed = parse_lines(lines, COMBINED)
    out = parsed.select(
        pl.when(pl.col(S.REASON).is_null()).then(_line(name)).otherwise(pl.col(S.LINE)).alias("out")
    ).collect()
    target = Path(dst)
    with target.open("wb") as fh:
        header = _HEADERS.get(name)
        if header is not None:
            fields = IIS_DEFAULT_FIELDS if name == "w3c" else CLOUDFRONT_FIELDS
            fh.write(header.format(fields=fields).encode())
        out.write_csv(fh, include_header=False, quote_style="never")
    return target


def _geo_args(report_args: list[str]) -> list[str]:
    """The database options among the report's arguments."""
    out = []
    for i, arg in enumerate(report_args):
        if arg.endswith("-db") and i + 1 < len(report_args):
            out += [arg, report_args[i + 1]]
    return out


def _middle_day(log: Path) -> str:
    """A day in the middle of a combined log's span, for ``compare --baseline-until``."""
    from loganalyzer.ingest.parse import parse_lines
    from loganalyzer.ingest.presets import COMBINED

    lines = pl.scan_lines(str(log), name=S.LINE, row_index_name=S.LINE_NO)
    parsed = parse_lines(lines.with_columns(pl.lit("b").alias(S.SOURCE)), COMBINED, columns=[S.TS])
    ts = parsed.select(pl.col(S.TS).min().alias("a"), pl.col(S.TS).max().alias("b")).collect()
    first, last = ts.row(0)
    return str((first + (last - first) / 2).date())


def extra_plan(
    log: Path,
    work: Path,
    base: list[str],
    report_args: list[str],
    floor_code: str,
    presets: tuple[str, ...] = (),
    commands: bool = False,
) -> tuple[dict[str, tuple[list[str], Path | None]], list[Path], dict[str, dict[str, int]]]:
    """The benchmark's runs of other formats and other commands, in the same rounds.

    For each preset, the log's requests written in that format (see
    :func:`convert_log`), with the floor of that file and ``report -f PRESET``.
    With ``commands``, ``enrich`` to Parquet, ``ips``, ``compare``, ``lookup``
    of 100,000 addresses from standard input, ``links``, ``plot --kind timeline``
    and ``brief``, all compared with the report.

    Returns:
        The runs by name (command, file for standard input), the files made,
        and each converted file's lines and bytes.
    """
    plan: dict[str, tuple[list[str], Path | None]] = {}
    made: list[Path] = []
    sizes: dict[str, dict[str, int]] = {}
    exe = base[0]
    for name in presets:
        target = work / f"{log.name}.bench.{name}"
        made.append(convert_log(log, name, target))
        lines = pl.scan_lines(str(target), name="l").select(pl.len()).collect().item()
        sizes[name] = {"lines": int(lines), "size_bytes": target.stat().st_size}
        plan[f"floor {name}"] = ([exe, "-c", floor_code, str(target)], None)
        plan[f"report {name}"] = ([*base, "report", str(target), "-f", name, *report_args], None)
    if commands:
        geo = _geo_args(report_args)
        out = work / f"{log.name}.bench.parquet"
        made.append(out)
        plan["enrich"] = ([*base, "enrich", str(log), "-o", str(out), *geo], None)
        plan["ips"] = ([*base, "ips", str(log), "-O", "csv", *geo], None)
        day = _middle_day(log)
        plan["compare"] = (
            [*base, "compare", str(log), "--baseline-until", day, "-O", "csv", *geo],
            None,
        )
        addresses = work / f"{log.name}.bench.addresses"
        made.append(addresses)
        first = (
            pl.scan_lines(str(log), name="l")
            .select(pl.col("l").str.split_exact(" ", 1).struct.field("field_0").alias("ip"))
            # The clients, not the first words of the malformed lines.
            .filter(pl.col("ip").str.contains(r"^[0-9A-Fa-f:.]+$"))
            .head(100_000)
            .collect()
        )
        first.write_csv(addresses, include_header=False, quote_style="never")
        plan["lookup"] = ([*base, "lookup", "-O", "csv", *geo], addresses)
        # The briefing's targets are the report's time plus some seconds
        # (docs/performance.md), and links' the report's plus half.
        plan["links"] = ([*base, "links", str(log), "-O", "csv", *geo], None)
        chart = work / f"{log.name}.bench.png"
        made.append(chart)
        plan["plot"] = (
            [*base, "plot", str(log), "--kind", "timeline", "-o", str(chart), *geo],
            None,
        )
        brief = work / f"{log.name}.bench.html"
        made.append(brief)
        plan["brief"] = ([*base, "brief", str(log), "-o", str(brief), *geo], None)
    return plan, made, sizes


__all__ = ["CONVERTIBLE", "convert_log", "extra_plan"]
