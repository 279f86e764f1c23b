"""The log formats servers write by default, by name: ``combined``, ``nginx_main``, ``w3c``...

Each preset is written the way the server's own configuration writes it and compiled
by :class:`~loganalyzer.ingest.formats.LogFormat`; :func:`get_format` resolves a
preset's name, an alias or an ``apache:``/``nginx:``/``json:`` spec.
"""

from __future__ import annotations

from collections.abc import Mapping

from loganalyzer import schema as S
from loganalyzer.errors import UsageError
from loganalyzer.ingest.formats import (
    _QUOTED,
    CLOUDFRONT_FIELDS,
    IIS_DEFAULT_FIELDS,
    JSON_KEYS,
    LogFormat,
    _json_path,
    _safe_name,
)


def json_format(mapping: str | Mapping[str, str], *, name: str = "json") -> LogFormat:
    """A JSON-lines format from ``key=path`` pairs (``client_ip=remote_addr,ts=time``).

    Keys are column names (``client_ip``, ``ts``, ``status``, ``bytes_sent``,
    ``method``, ``path``, ``request``, ``protocol``, ``user_agent``, ``referer``,
    ``vhost``, ``user``, ``xff``, ``port``) or any other name, kept as a text
    column; paths are dotted (``request.headers.User-Agent[0]``) or JSONPath.
    Keys not given keep the generic defaults (``remote_addr``, ``time``...).

    Raises:
        UsageError: for a pair without ``=``.
    """
    pairs: dict[str, str] = {}
    if isinstance(mapping, str):
        for item in filter(None, (p.strip() for p in mapping.split(","))):
            key, sep, path = item.partition("=")
            if not sep or not key.strip() or not path.strip():
                raise UsageError(f"--json-field {item!r}: use COLUMN=PATH, e.g. ts=time")
            pairs[key.strip()] = path.strip()
    else:
        pairs = dict(mapping)
    fields = dict(JSON.json_fields)
    for key, path in pairs.items():
        fields[JSON_KEYS.get(key, _safe_name(key))] = (_json_path(path),)
    return LogFormat(
        name=name,
        template=", ".join(f"{k}={v}" for k, v in pairs.items()) or JSON.template,
        description=JSON.description,
        syntax="json",
        time="any",
        json_fields=tuple(fields.items()),
    )


COMMON = LogFormat(
    name="common",
    template='%h %l %u %t "%r" %>s %b',
    description="NCSA Common Log Format (Apache 'common', nginx without referer/agent)",
    example='175.167.3.4 - - [14/Sep/2026:08:01:02 +0800] "GET / HTTP/1.1" 200 512',
)
COMBINED = LogFormat(
    name="combined",
    template='%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
    description="NCSA Combined (Apache 'combined', nginx 'combined')",
    example=(
        '2.136.4.5 - - [14/Sep/2026:02:01:02 +0200] "GET /login HTTP/1.1" 200 1043 '
        '"https://example.org/" "Mozilla/5.0 (X11; Linux x86_64)"'
    ),
)
VHOST_COMBINED = LogFormat(
    name="vhost_combined",
    template='%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
    description="Apache 'vhost_combined' (Debian's default for other_vhosts_access.log)",
    example=(
        "www.example.org:443 81.2.69.160 - - [14/Sep/2026:01:01:02 +0100] "
        '"GET / HTTP/1.1" 200 512 "-" "curl/8.5.0"'
    ),
)
COMMON_VHOST = LogFormat(
    name="common_vhost",
    template='%v %h %l %u %t "%r" %>s %b',
    description="Common with the virtual host first (Matomo's common_vhost; trailing fields ok)",
    example=('www.example.org 2.136.4.5 - - [14/Sep/2026:02:01:02 +0200] "GET / HTTP/1.1" 200 512'),
)
COMBINED_VHOST = LogFormat(
    name="combined_vhost",
    template='%v %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
    description="Combined with the virtual host first, no port (Matomo's common_complete)",
    example=(
        'www.example.org 2.136.4.5 - - [14/Sep/2026:02:01:02 +0200] "GET / HTTP/1.1" 200 512 '
        '"https://example.org/" "curl/8.5.0"'
    ),
)
NGINX_MAIN = LogFormat(
    name="nginx_main",
    template=(
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent" "$http_x_forwarded_for"'
    ),
    syntax="nginx",
    description="nginx's 'main' from the stock nginx.conf (combined + X-Forwarded-For)",
    example=(
        '10.0.0.5 - - [14/Sep/2026:08:01:02 +0800] "GET /api HTTP/1.1" 200 88 "-" '
        '"curl/8.5.0" "175.167.3.4"'
    ),
)
NPM_PROXY = LogFormat(
    name="npm_proxy",
    template=(
        "[$time_local] $upstream_cache_status $upstream_status $status - $request_method "
        '$scheme $host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] '
        '[Gzip $gzip_ratio] [Sent-to $server] "$http_user_agent" "$http_referer"'
    ),
    syntax="nginx",
    description="Nginx Proxy Manager's 'proxy' log_format (proxy hosts)",
    example=(
        '[14/Sep/2026:08:01:02 +0800] - 200 200 - GET https www.example.org "/login" '
        "[Client 175.167.3.4] [Length 1043] [Gzip 2.10] [Sent-to 10.0.0.8] "
        '"curl/8.5.0" "-"'
    ),
)
NPM_STANDARD = LogFormat(
    name="npm_standard",
    template=(
        '[$time_local] $status - $request_method $scheme $host "$request_uri" '
        "[Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] "
        '"$http_user_agent" "$http_referer"'
    ),
    syntax="nginx",
    description="Nginx Proxy Manager's 'standard' log_format (redirections, dead hosts)",
    example=(
        '[14/Sep/2026:08:01:02 +0800] 301 - GET http www.example.org "/old" '
        '[Client 2.136.4.5] [Length 0] [Gzip -] "curl/8.5.0" "-"'
    ),
)
ICECAST = LogFormat(
    name="icecast",
    template='%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %T',
    description="Icecast/Shoutcast access log: combined plus the listening time in seconds",
    example=(
        '81.2.69.160 - - [14/Sep/2026:09:00:00 +0000] "GET /stream.mp3 HTTP/1.1" 200 '
        '7340032 "-" "VLC/3.0.20 LibVLC/3.0.20" 3600'
    ),
)
# "Feb  2 04:05:24 lb1 haproxy[9883]: " (BSD syslog) or an ISO 8601 stamp (rsyslog).
_SYSLOG_PREFIX = (
    r"(?:<\d+>)?(?:[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}|\d{4}-\d{2}-\d{2}T\S+) "
    r"\S+ [^\s:\[]+(?:\[\d+\])?: "
)
HAPROXY = LogFormat(
    name="haproxy",
    syntax="regex",
    time="haproxy",
    template=(
        rf"^(?:{_SYSLOG_PREFIX})?"
        # HAProxy writes IPv6 clients without brackets: the port is after the last colon.
        r"(?P<client>\S+):(?P<client_port>\d+) \[(?P<_time>[^\]]+)\] (?:(?P<frontend>\S+) "
        r"(?P<backend>[^\s/]+)/(?P<server>\S+) (?P<timers>\S+) (?P<status>-?\d+) "
        r"(?P<bytes_sent>\+?\d+) \S+ \S+ (?P<termination_state>\S+) (?P<connections>\S+) "
        r"(?P<queues>\S+)(?: \{(?P<captured_request_headers>[^}]*)\})?"
        r"(?: \{(?P<captured_response_headers>[^}]*)\})?"
        rf' "(?P<request>{_QUOTED})"?(?:\s.*)?'
        # A connection that never became a request ("frontend/bind: SSL handshake
        # failure") is still a client reaching the server.
        r"|(?P<connection_error>[^\s/]+/[^\s:]+: .*))$"
    ),
    description="HAProxy HTTP log (option httplog), with or without a syslog prefix",
    example=(
        "Sep 14 08:01:02 lb1 haproxy[1234]: 175.167.3.4:51234 [14/Sep/2026:08:01:02.345] "
        'www~ app/web1 0/0/1/12/13 200 1043 - - ---- 3/3/0/0/0 0/0 "GET /login HTTP/1.1"'
    ),
)
AWS_ALB = LogFormat(
    name="aws_alb",
    syntax="regex",
    time="iso8601",
    template=(
        r"^(?P<type>https?|h2|grpcs|wss?) (?P<_time>\S+) (?P<elb>\S+) "
        r"(?P<client>\S+):(?P<client_port>\d+) (?P<target>\S+) "
        r"(?P<request_processing_time>\S+) (?P<target_processing_time>\S+) "
        r"(?P<response_processing_time>\S+) (?P<status>\d{3}|-) (?P<target_status>\S+) "
        r"(?P<bytes_received>\d+|-) (?P<bytes_sent>\d+|-) "
        rf'"(?P<request>{_QUOTED})" "(?P<user_agent>{_QUOTED})" (?P<ssl_cipher>\S+) '
        r"(?P<ssl_protocol>\S+)"
        rf'(?: (?P<target_group_arn>\S+) "(?P<trace_id>{_QUOTED})" "(?P<vhost>{_QUOTED})")?'
        r"(?:\s.*)?$"
    ),
    prefix=(
        r"^(?:https?|h2|grpcs|wss?) (?P<_time>\S+) \S+ (?P<client>\S+):\d+ \S+ \S+ \S+ \S+ "
        r"(?P<status>\d{3}|-) \S+ (?:\d+|-) (?P<bytes_sent>\d+|-) "
    ),
    description="AWS Application Load Balancer access log",
    example=(
        "https 2026-09-14T00:01:02.123456Z app/my-alb/50dc6c495c0c9188 175.167.3.4:51234 "
        '10.0.0.1:80 0.001 0.012 0.000 200 200 310 1043 "GET https://www.example.org:443/ '
        'HTTP/1.1" "curl/8.5.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
        "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/web/73e2d6bc24d8a067 "
        '"Root=1-58337262-36d228ad5d99923122bbe354" "www.example.org" "-" 0 '
        '2026-09-14T00:01:02.110000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-"'
    ),
)
AWS_ELB = LogFormat(
    name="aws_elb",
    syntax="regex",
    time="iso8601",
    template=(
        r"^(?P<_time>\d{4}-\d{2}-\d{2}T\S+) (?P<elb>\S+) (?P<client>\S+):(?P<client_port>\d+) "
        r"(?P<backend>\S+) (?P<request_processing_time>\S+) "
        r"(?P<backend_processing_time>\S+) (?P<response_processing_time>\S+) "
        r"(?P<status>\d{3}|-) (?P<backend_status>\S+) (?P<bytes_received>\d+|-) "
        rf'(?P<bytes_sent>\d+|-) "(?P<request>{_QUOTED})"'
        rf'(?: "(?P<user_agent>{_QUOTED})" (?P<ssl_cipher>\S+) (?P<ssl_protocol>\S+))?'
        r"(?:\s.*)?$"
    ),
    prefix=(
        r"^(?P<_time>\d{4}-\d{2}-\d{2}T\S+) \S+ (?P<client>\S+):\d+ \S+ \S+ \S+ \S+ "
        r"(?P<status>\d{3}|-) \S+ (?:\d+|-) (?P<bytes_sent>\d+|-) "
    ),
    description="AWS Classic Elastic Load Balancer access log",
    example=(
        "2026-09-14T00:01:02.123456Z my-elb 2.136.4.5:51234 10.0.0.1:80 0.000073 0.001048 "
        '0.000057 200 200 0 1043 "GET https://www.example.org:443/ HTTP/1.1" "curl/8.5.0" '
        "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2"
    ),
)
AWS_S3 = LogFormat(
    name="aws_s3",
    syntax="regex",
    time="clf",
    template=(
        r"^(?P<bucket_owner>\S+) (?P<bucket>\S+) (?P<_time>\[[^\]]*\]) (?P<client>\S+) "
        r"(?P<requester>\S+) (?P<request_id>\S+) (?P<operation>\S+) (?P<key>\S+) "
        rf'(?:"(?P<request>{_QUOTED})"|-) (?P<status>\d{{3}}|-) (?P<error_code>\S+) '
        r"(?P<bytes_sent>\d+|-) (?P<object_size>\d+|-) (?P<total_time>\S+) "
        rf'(?P<turn_around_time>\S+) (?:"(?P<referer>{_QUOTED})"|-) '
        rf'(?:"(?P<user_agent>{_QUOTED})"|-)(?:\s.*)?$'
    ),
    prefix=(
        r"^\S+ \S+ (?P<_time>\[[^\]]*\]) (?P<client>\S+) \S+ \S+ \S+ \S+ "
        rf'(?:"{_QUOTED}"|-) (?P<status>\d{{3}}|-) \S+ (?P<bytes_sent>\d+|-) '
    ),
    description="Amazon S3 server access log",
    example=(
        "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be example-bucket "
        "[14/Sep/2026:00:01:02 +0000] 81.2.69.160 - 3E57427F33A59F07 REST.GET.OBJECT "
        'photos/cat.jpg "GET /example-bucket/photos/cat.jpg HTTP/1.1" 200 - 1043 1043 70 10 '
        '"-" "curl/8.5.0" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/'
        "XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader "
        "example-bucket.s3.us-west-1.amazonaws.com TLSv1.2 - -"
    ),
)
W3C = LogFormat(
    name="w3c",
    syntax="w3c",
    template=IIS_DEFAULT_FIELDS,
    plus_spaces=True,
    description="W3C extended / IIS: columns from the #Fields: lines (IIS's default before one)",
    example=(
        "2026-09-14 00:01:02 10.0.0.1 GET /login - 443 - 81.2.69.160 "
        "Mozilla/5.0+(Windows+NT+10.0) - 200 0 0 15"
    ),
)
CLOUDFRONT = LogFormat(
    name="cloudfront",
    syntax="w3c",
    template=CLOUDFRONT_FIELDS,
    w3c_require="x-edge-location",
    # CloudFront separates with tabs only; IIS lines (spaces) must not pass for it.
    w3c_separator=r"\t",
    description="Amazon CloudFront standard log (tab-separated W3C; #Fields honoured)",
    example=(
        "2026-09-14\t00:01:02\tLAX1-C1\t1043\t2.136.4.5\tGET\t"
        "d111111abcdef8.cloudfront.net\t/index.html\t200\t-\t"
        "Mozilla/5.0%20(X11;%20Linux%20x86_64)\t-\t-\tHit\t"
        "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\twww.example.org\t"
        "https\t120\t0.001\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\tHit\tHTTP/2.0\t-\t-\t"
        "51234\t0.001\tHit\ttext/html\t1043\t-\t-"
    ),
)
CADDY = LogFormat(
    name="caddy",
    syntax="json",
    time="epoch",
    template="Caddy JSON access log (logger http.log.access)",
    json_fields=(
        # Caddy's client_ip already honours its trusted_proxies; remote_ip is the peer.
        (S.CLIENT, ("$.request.client_ip", "$.request.remote_ip")),
        ("_time", ("$.ts",)),
        (S.STATUS, ("$.status",)),
        (S.BYTES, ("$.size",)),
        (S.METHOD, ("$.request.method",)),
        (S.PATH, ("$.request.uri",)),
        (S.PROTOCOL, ("$.request.proto",)),
        (S.VHOST, ("$.request.host",)),
        (S.USER_AGENT, ("$.request.headers['User-Agent'][0]",)),
        (S.REFERER, ("$.request.headers.Referer[0]",)),
        (S.XFF, ("$.request.headers['X-Forwarded-For'][0]",)),
        ("remote_ip", ("$.request.remote_ip",)),
    ),
    description="Caddy v2 JSON access log",
    example=(
        '{"level":"info","ts":1789344062.5,"logger":"http.log.access","msg":"handled request",'
        '"request":{"remote_ip":"175.167.3.4","remote_port":"51234","client_ip":"175.167.3.4",'
        '"proto":"HTTP/2.0","method":"GET","host":"www.example.org","uri":"/login",'
        '"headers":{"User-Agent":["curl/8.5.0"]}},"duration":0.001,"size":1043,"status":200}'
    ),
)
TRAEFIK = LogFormat(
    name="traefik",
    syntax="json",
    time="iso8601",
    template="Traefik JSON access log (accessLog.format=json)",
    json_fields=(
        (S.CLIENT, ("$.ClientHost",)),
        ("_time", ("$.StartUTC", "$.time")),
        (S.STATUS, ("$.DownstreamStatus",)),
        (S.BYTES, ("$.DownstreamContentSize",)),
        (S.METHOD, ("$.RequestMethod",)),
        (S.PATH, ("$.RequestPath",)),
        (S.PROTOCOL, ("$.RequestProtocol",)),
        (S.VHOST, ("$.RequestHost",)),
        (S.USER, ("$.ClientUsername",)),
        (S.USER_AGENT, ("$['request_User-Agent']",)),
        (S.REFERER, ("$.request_Referer",)),
        (S.XFF, ("$['request_X-Forwarded-For']",)),
        ("client_addr", ("$.ClientAddr",)),
        ("router", ("$.RouterName",)),
    ),
    description="Traefik JSON access log",
    example=(
        '{"ClientAddr":"81.2.69.160:51234","ClientHost":"81.2.69.160","ClientUsername":"-",'
        '"DownstreamContentSize":1043,"DownstreamStatus":200,"RequestHost":"www.example.org",'
        '"RequestMethod":"GET","RequestPath":"/login","RequestProtocol":"HTTP/1.1",'
        '"RouterName":"web@docker","StartUTC":"2026-09-14T00:01:02.123456789Z",'
        '"request_User-Agent":"curl/8.5.0","level":"info","msg":"","time":"2026-09-14T00:01:02Z"}'
    ),
)
JSON = LogFormat(
    name="json",
    syntax="json",
    time="any",
    template="client_ip=remote_addr|client_ip|ip, ts=time|timestamp|@timestamp|ts, ...",
    json_fields=(
        (S.CLIENT, ("$.remote_addr", "$.client_ip", "$.remote_ip", "$.ip", "$.clientip")),
        ("_time", ("$.time", "$.timestamp", "$['@timestamp']", "$.ts", "$.date", "$.time_local")),
        (S.STATUS, ("$.status",)),
        (S.BYTES, ("$.body_bytes_sent", "$.bytes_sent", "$.size", "$.bytes", "$.length")),
        (S.METHOD, ("$.request_method", "$.method")),
        (S.PATH, ("$.request_uri", "$.uri", "$.path")),
        (S.REQUEST, ("$.request",)),
        (S.PROTOCOL, ("$.server_protocol", "$.protocol")),
        (S.VHOST, ("$.host", "$.server_name")),
        (S.USER_AGENT, ("$.http_user_agent", "$.user_agent")),
        (S.REFERER, ("$.http_referer", "$.referer", "$.referrer")),
        (S.XFF, ("$.http_x_forwarded_for",)),
        (S.USER, ("$.remote_user",)),
    ),
    description="Generic JSON lines (nginx escape=json and friends); map keys with --json-field",
    example=(
        '{"time":"2026-09-14T08:01:02+08:00","remote_addr":"175.167.3.4","request_method":"GET",'
        '"request_uri":"/login","status":200,"body_bytes_sent":1043,'
        '"http_user_agent":"curl/8.5.0"}'
    ),
)
CLOUDFLARE = LogFormat(
    name="cloudflare",
    syntax="json",
    time="any",
    template="Cloudflare Logpush http_requests dataset (JSON lines)",
    json_fields=(
        (S.CLIENT, ("$.ClientIP",)),
        ("_time", ("$.EdgeStartTimestamp",)),
        (S.STATUS, ("$.EdgeResponseStatus",)),
        (S.BYTES, ("$.EdgeResponseBytes",)),
        (S.METHOD, ("$.ClientRequestMethod",)),
        (S.PATH, ("$.ClientRequestURI",)),
        (S.PROTOCOL, ("$.ClientRequestProtocol",)),
        (S.VHOST, ("$.ClientRequestHost",)),
        (S.USER_AGENT, ("$.ClientRequestUserAgent",)),
        (S.REFERER, ("$.ClientRequestReferer",)),
        ("client_country", ("$.ClientCountry",)),
        ("ray_id", ("$.RayID",)),
    ),
    description="Cloudflare Logpush HTTP requests (JSON; any timestamp_format)",
    example=(
        '{"ClientIP":"2.136.4.5","ClientRequestHost":"www.example.org",'
        '"ClientRequestMethod":"GET","ClientRequestURI":"/login",'
        '"ClientRequestUserAgent":"curl/8.5.0","EdgeResponseBytes":1043,'
        '"EdgeResponseStatus":200,"EdgeStartTimestamp":1789344062000000000,'
        '"RayID":"87a1b2c3d4e5f001","ClientCountry":"es"}'
    ),
)
_CTIME = r"[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2} \d{4}"
VSFTPD = LogFormat(
    name="vsftpd",
    syntax="regex",
    time="ctime",
    template=(
        rf"^(?P<_time>{_CTIME}) \[pid \d+\](?: \[(?P<user>[^\]]*)\])? "
        r'(?P<method>[A-Za-z][A-Za-z ]*?): Client "(?P<client>[^"]*)"'
        r'(?:, "(?P<path>[^"]*)")?(?:, (?P<bytes_sent>\d+) bytes)?(?:[,\s].*)?$'
    ),
    description="vsftpd's own log (vsftpd.log): logins and transfers; times in UTC by default",
    example=(
        'Mon Sep 14 08:01:02 2026 [pid 4242] [ftp] OK DOWNLOAD: Client "81.2.69.160", '
        '"/pub/file.iso", 1043 bytes, 512.00Kbyte/sec'
    ),
)
XFERLOG = LogFormat(
    name="xferlog",
    syntax="regex",
    time="ctime",
    template=(
        rf"^(?P<_time>{_CTIME}) (?P<transfer_time>\d+) (?P<client>\S+) (?P<bytes_sent>\d+) "
        r"(?P<path>.+) (?P<transfer_type>[ab]) (?P<special_action>\S+) (?P<direction>[oid]) "
        r"(?P<access_mode>[agr]) (?P<user>\S+) (?P<service>\S+) (?P<auth_method>[01]) "
        r"(?P<auth_user_id>\S+) (?P<completion>[ci])\s*$"
    ),
    description="xferlog (wu-ftpd, vsftpd xferlog_std_format, ProFTPD): one line a transfer",
    example=(
        "Mon Sep 14 08:01:02 2026 3 2.136.4.5 1043 /pub/file.iso b _ o a "
        "guest@example.org ftp 0 * c"
    ),
)

PRESETS: dict[str, LogFormat] = {
    f.name: f
    for f in (
        COMMON,
        COMBINED,
        VHOST_COMBINED,
        COMMON_VHOST,
        COMBINED_VHOST,
        NGINX_MAIN,
        NPM_PROXY,
        NPM_STANDARD,
        ICECAST,
        HAPROXY,
        AWS_ALB,
        AWS_ELB,
        AWS_S3,
        CLOUDFRONT,
        W3C,
        CADDY,
        TRAEFIK,
        CLOUDFLARE,
        JSON,
        VSFTPD,
        XFERLOG,
    )
}
ALIASES: dict[str, str] = {"iis": "w3c", "nginx": "nginx_main"}
AUTO = "auto"


def get_format(spec: str | LogFormat) -> LogFormat:
    """Return the format for a preset name, ``apache:``, ``nginx:`` or ``json:`` string.

    Args:
        spec: a preset name (``combined``), ``apache:`` followed by an Apache
            ``LogFormat`` template, ``nginx:`` followed by an nginx ``log_format``,
            ``json:`` followed by ``column=path`` pairs, or a :class:`LogFormat`.

    Returns:
        The compiled format.

    Raises:
        UsageError: for an unknown name or an unsupported directive (``auto``
            is not a format: the pipeline detects one per file).
    """
    if isinstance(spec, LogFormat):
        return spec
    name = ALIASES.get(spec, spec)
    if name in PRESETS:
        return PRESETS[name]
    if spec.startswith("apache:"):
        return LogFormat(name="custom", template=spec.removeprefix("apache:"))
    if spec.startswith("nginx:"):
        return LogFormat(name="custom", template=spec.removeprefix("nginx:"), syntax="nginx")
    if spec.startswith("json:"):
        return json_format(spec.removeprefix("json:"))
    known = ", ".join(PRESETS)
    raise UsageError(
        f"unknown log format {spec!r}; use auto, one of {known}, "
        "or 'apache:<LogFormat>', 'nginx:<log_format>', 'json:<column=path,...>'"
    )
