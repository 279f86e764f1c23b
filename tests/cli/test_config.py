"""Settings: file, environment and defaults with their sources; --config, --version, completion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loganalyzer.analysis.pipeline import sample_paths
from loganalyzer.settings import SPECS, ConfigError, default_path, load_settings
from tests.helpers import run_cli

SAMPLE = sample_paths()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"XDG_CONFIG_HOME": "/x"}, "/x/loganalyzer/config.toml"),
        ({"XDG_CONFIG_HOME": "relative/dir", "HOME": "/h"}, "/h/.config/loganalyzer/config.toml"),
        ({"HOME": "/h"}, "/h/.config/loganalyzer/config.toml"),
    ],
)
def test_default_path_follows_xdg(env, expected, monkeypatch):
    monkeypatch.setenv("HOME", env.get("HOME", "/h"))
    assert str(default_path(env)) == expected


# Each row: file contents, environment, setting, expected value, expected source kind.
PRECEDENCE = [
    ("", {}, "output", "table", "default"),
    ('output = "csv"\n', {}, "output", "csv", "file"),
    ('output = "csv"\n', {"LOGANALYZER_OUTPUT": "json"}, "output", "json", "env"),
    ("", {"LOGANALYZER_CITY_DB": "/db/c.mmdb"}, "city_db", "/db/c.mmdb", "env"),
    ('city_db = "dbs/c.mmdb"\n', {}, "city_db", "{dir}/dbs/c.mmdb", "file"),
    ('geoip_dir = "/g"\n', {"LOGANALYZER_GEOIP_DIR": "/e"}, "geoip_dir", "/e", "env"),
    ('watch = ["cn-ln", " es "]\n', {}, "watch", ("CN-LN", "ES"), "file"),
    ('logs = ["a.log", "/var/log/b.log"]\n', {}, "logs", ("{dir}/a.log", "/var/log/b.log"), "file"),
    ('time_zone = "Asia/Shanghai"\n', {}, "time_zone", "Asia/Shanghai", "file"),
    ('lang = "de"\n', {"LOGANALYZER_LANG": "fr"}, "lang", "fr", "env"),
]


@pytest.mark.parametrize(("text", "env", "name", "value", "kind"), PRECEDENCE)
def test_environment_beats_file_beats_default(tmp_path, text, env, name, value, kind):
    cfg = write(tmp_path / "loganalyzer" / "config.toml", text)
    settings = load_settings(env={"XDG_CONFIG_HOME": str(tmp_path), **env})
    expand = (lambda v: v.replace("{dir}", str(cfg.parent))) if isinstance(value, str) else None
    want = expand(value) if expand else tuple(v.replace("{dir}", str(cfg.parent)) for v in value)
    s = settings.values[name]
    assert s.value == want
    sources = {"default": "default", "file": f"file {cfg}", "env": f"env {SPECS[name].env}"}
    assert s.source == sources[kind]


def test_explicit_file_beats_xdg_and_must_exist(tmp_path):
    write(tmp_path / "loganalyzer" / "config.toml", 'output = "csv"\n')
    other = write(tmp_path / "team.toml", 'output = "markdown"\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert load_settings(other, env=env).get("output") == "markdown"
    assert load_settings(env={**env, "LOGANALYZER_CONFIG": str(other)}).file == other
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path / "missing.toml", env=env)
    assert str(err.value) == f"{tmp_path / 'missing.toml'}: no such settings file"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('output = "csv"\nwatch = [CN-LN]\n', "{f}:2: invalid TOML: Invalid value"),
        ("[report\n", "{f}:1: invalid TOML: Expected ']' at the end of a table declaration"),
        ('colour = "red"\n', "{f}: unknown setting 'colour'; known: " + ", ".join(SPECS)),
        ('output = "xml"\n', "{f}: output must be one of table, csv, json, parquet, markdown, "
         "not 'xml'"),
        ('watch = "CN-LN"\n', "{f}: watch must be a list of strings"),
        ("city_db = 3\n", "{f}: city_db must be a non-empty string"),
        ('time_zone = "Mars/Olympus"\n', "{f}: time_zone 'Mars/Olympus' is not a known zone "
         "(e.g. UTC, Asia/Shanghai)"),
    ],
)  # fmt: skip
def test_bad_settings_name_the_file_and_line(tmp_path, text, message):
    cfg = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={})
    assert str(err.value) == message.format(f=cfg)


# --- the command line -------------------------------------------------------------------


def user_config(tmp_path: Path, text: str) -> Path:
    return write(tmp_path / "xdg" / "loganalyzer" / "config.toml", text)


def cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None):
    (tmp_path / "no-geoip").mkdir(exist_ok=True)
    # Not tmp_path itself: a loganalyzer/ folder in the working directory would shadow
    # the package for `python -m loganalyzer`.
    xdg = str(tmp_path / "xdg")
    base = {"LOGANALYZER_GEOIP_DIR": str(tmp_path / "no-geoip"), "XDG_CONFIG_HOME": xdg}
    return run_cli(*args, cwd=tmp_path, env={**base, **(env or {})})


def test_bad_toml_is_one_line_and_usage_exit(tmp_path):
    cfg = user_config(tmp_path, "watch = [\n")
    r = cli(tmp_path, "report", "--sample")
    assert r.returncode == 2
    assert r.stdout == b""
    assert r.stderr.decode().count("\n") == 1
    assert r.stderr.decode().startswith(f"Error: {cfg}:1: invalid TOML: ")


def test_config_show_says_where_each_value_came_from(tmp_path):
    cfg = user_config(tmp_path, 'watch = ["CN-LN"]\noutput = "csv"\n')
    r = cli(tmp_path, "config", "show", "--json", env={"LOGANALYZER_OUTPUT": "json"})
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["file"] == str(cfg)
    got = {s["name"]: (s["value"], s["source"]) for s in doc["settings"]}
    assert got["watch"] == (["CN-LN"], f"file {cfg}")
    assert got["output"] == ("json", "env LOGANALYZER_OUTPUT")
    assert got["lang"] == ("en", "default")
    assert set(got) == set(SPECS)
    text = cli(tmp_path, "config", "show").stdout.decode().splitlines()
    assert text[0] == f"settings file: {cfg}"
    assert f"watch       CN-LN  [file {cfg}]" in text


def test_report_uses_configured_databases_logs_watch_and_output(tmp_path):
    user_config(
        tmp_path,
        f'city_db = "{SAMPLE.city_db}"\nasn_db = "{SAMPLE.asn_db}"\nlogs = ["{SAMPLE.log}"]\n'
        'watch = ["CN-LN", "FR"]\noutput = "json"\n',
    )
    r = cli(tmp_path, "-q", "report")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["meta"]["files"][0]["path"] == str(SAMPLE.log)
    assert doc["meta"]["watch"] == ["CN-LN", "FR"]
    assert [d["path"] for d in doc["meta"]["databases"]] == [
        str(SAMPLE.city_db),
        str(SAMPLE.asn_db),
    ]
    # The command line wins: -O, and a watch list of its own.
    r = cli(tmp_path, "-q", "report", "-O", "csv", "--watch", "ES")
    assert r.stdout.decode().splitlines()[0].startswith("geo_status,")
    # A configured province is dropped, not an error, where the grouping cannot show it.
    r = cli(tmp_path, "-q", "report", "--by", "asn")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["meta"]["watch"] == []


def test_command_line_beats_environment_beats_file(tmp_path):
    user_config(tmp_path, 'city_db = "from-file.mmdb"\n')
    args = ["-q", "report", str(SAMPLE.log), "-O", "json"]
    r = cli(tmp_path, *args)
    assert r.returncode == 4
    assert "from-file.mmdb: no such database file" in r.stderr.decode()
    r = cli(tmp_path, *args, env={"LOGANALYZER_CITY_DB": "from-env.mmdb"})
    assert "from-env.mmdb: no such database file" in r.stderr.decode()
    r = cli(tmp_path, *args, "--city-db", str(SAMPLE.city_db), env={"LOGANALYZER_CITY_DB": "x"})
    assert r.returncode == 0, r.stderr


def test_configured_time_zone_reads_naive_times(tmp_path):
    user_config(tmp_path, 'time_zone = "Asia/Shanghai"\n')
    r = cli(tmp_path, "-q", "report", "--sample", "--since", "2026-09-16T15:00", "-O", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["meta"]["since"] == "2026-09-16T07:00:00Z"
    r = cli(tmp_path, "-q", "report", "--sample", "--since", "2026-09-16T15:00Z", "-O", "json")
    assert json.loads(r.stdout)["meta"]["since"] == "2026-09-16T15:00:00Z"


def test_version_names_the_databases(tmp_path):
    from importlib.metadata import version

    r = cli(tmp_path, "--version", env={"LOGANALYZER_CITY_DB": str(SAMPLE.city_db)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == [
        f"loganalyzer, version {version('loganalyzer')}",
        f"city database: {SAMPLE.city_db} (GeoLite2-City, built 2026-09-01)",
        "asn database: none found",
    ]
    write(tmp_path / "team.toml", f'asn_db = "{SAMPLE.asn_db}"\n')
    r = cli(tmp_path, "--version", "--config", str(tmp_path / "team.toml"))
    assert r.stdout.decode().splitlines()[1:] == [
        "city database: none found",
        f"asn database: {SAMPLE.asn_db} (GeoLite2-ASN, built 2026-09-01)",
    ]


def test_bash_completion_script_is_produced(tmp_path):
    r = cli(tmp_path, env={"_LOGANALYZER_COMPLETE": "bash_source"})
    assert r.returncode == 0
    script = r.stdout.decode()
    assert "_loganalyzer_completion()" in script
    assert "complete -o nosort -F _loganalyzer_completion loganalyzer" in script


def test_completion_offers_the_new_commands(tmp_path):
    r = cli(
        tmp_path,
        env={"_LOGANALYZER_COMPLETE": "bash_complete", "COMP_WORDS": "loganalyzer co",
             "COMP_CWORD": "1"},
    )  # fmt: skip
    assert r.returncode == 0
    assert r.stdout.decode().split() == ["plain,compare", "plain,config"]
