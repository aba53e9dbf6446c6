"""Settings: read from an explicit environment, validated, one-line errors."""

from __future__ import annotations

import stat

import pytest

from webapp.settings import MIN_SECRET_KEY_LENGTH, SECRET_KEY_FILE, ConfigError, load_settings

GOOD_KEY = "k" * MIN_SECRET_KEY_LENGTH


def test_defaults(tmp_path):
    settings = load_settings({"TANGENT_INSTANCE_PATH": str(tmp_path)})

    assert settings.env == "development"
    assert settings.instance_path == tmp_path.resolve()
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'tangent.db'}"
    assert settings.is_sqlite
    assert settings.redis_url is None
    assert settings.https is False
    assert settings.trusted_proxies == 0
    assert settings.max_content_length == 4 * 1024 * 1024
    assert settings.rate_limit == "200 per minute"
    assert (settings.db_pool_size, settings.db_pool_timeout, settings.db_pool_pre_ping) == (
        5, 30, True,
    )
    assert settings.sqlite_busy_timeout_ms >= 5000
    assert settings.log_level == "INFO"
    assert settings.log_format == "text"  # JSON lines only outside development
    assert settings.sentry_dsn is None
    assert len(settings.secret_key) >= MIN_SECRET_KEY_LENGTH


def test_default_instance_folder_is_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.instance_path == tmp_path / "instance"
    assert (tmp_path / "instance" / SECRET_KEY_FILE).is_file()
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'tangent.db'}"


@pytest.mark.parametrize(
    ("var", "raw", "field", "expected"),
    [
        ("TANGENT_ENV", " Testing ", "env", "testing"),
        ("SECRET_KEY", "an explicit key", "secret_key", "an explicit key"),
        ("DATABASE_URL", "sqlite:////srv/tangent.db", "database_url", "sqlite:////srv/tangent.db"),
        ("REDIS_URL", "redis://cache:6379/2", "redis_url", "redis://cache:6379/2"),
        ("REDIS_URL", "rediss://u:p@cache:6380/0", "redis_url", "rediss://u:p@cache:6380/0"),
        ("REDIS_URL", "", "redis_url", None),
        ("TANGENT_HTTPS", "yes", "https", True),
        ("TANGENT_HTTPS", "0", "https", False),
        ("TANGENT_TRUSTED_PROXIES", "2", "trusted_proxies", 2),
        ("MAX_CONTENT_LENGTH", "1048576", "max_content_length", 1048576),
        ("TANGENT_RATE_LIMIT", "50/minute; 1000 per day", "rate_limit", "50/minute; 1000 per day"),
        ("DB_POOL_SIZE", "12", "db_pool_size", 12),
        ("DB_POOL_TIMEOUT", "7", "db_pool_timeout", 7),
        ("DB_POOL_PRE_PING", "off", "db_pool_pre_ping", False),
        ("SQLITE_BUSY_TIMEOUT_MS", "15000", "sqlite_busy_timeout_ms", 15000),
        ("LOG_LEVEL", "debug", "log_level", "DEBUG"),
        ("LOG_FORMAT", "JSON", "log_format", "json"),
        ("SENTRY_DSN", "https://abc@o1.ingest.sentry.io/42", "sentry_dsn",
         "https://abc@o1.ingest.sentry.io/42"),
        ("SENTRY_DSN", "", "sentry_dsn", None),
    ],
)
def test_each_variable_is_parsed(tmp_path, var, raw, field, expected):
    settings = load_settings({"TANGENT_INSTANCE_PATH": str(tmp_path), var: raw})
    assert getattr(settings, field) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@db:5432/tangent", "postgresql+psycopg://u:p@db:5432/tangent"),
        ("postgresql://u@db/tangent", "postgresql+psycopg://u@db/tangent"),
        ("postgresql+psycopg://u@db/tangent", "postgresql+psycopg://u@db/tangent"),
    ],
)
def test_postgres_urls_are_normalized_to_psycopg(tmp_path, url, expected):
    env = {"TANGENT_INSTANCE_PATH": str(tmp_path), "DATABASE_URL": url}
    settings = load_settings(env)
    assert settings.database_url == expected
    assert not settings.is_sqlite
    # create_app(config) passes URLs as overrides: same normalization.
    assert load_settings(env, {"database_url": url}).database_url == expected


MALFORMED = [
    ("TANGENT_ENV", "staging"),
    ("DATABASE_URL", "mysql://x"),
    ("DATABASE_URL", "tangent.db"),
    ("DATABASE_URL", "postgresql://u:hunter2@db:notaport/tangent"),
    ("REDIS_URL", "http://cache:6379"),
    ("TANGENT_HTTPS", "maybe"),
    ("TANGENT_TRUSTED_PROXIES", "-1"),
    ("TANGENT_TRUSTED_PROXIES", "1\n2"),
    ("MAX_CONTENT_LENGTH", "4MB"),
    ("MAX_CONTENT_LENGTH", "100"),
    ("TANGENT_RATE_LIMIT", "lots"),
    ("TANGENT_RATE_LIMIT", "0 per minute"),
    ("DB_POOL_SIZE", "0"),
    ("DB_POOL_TIMEOUT", "soon"),
    ("DB_POOL_PRE_PING", "perhaps"),
    ("SQLITE_BUSY_TIMEOUT_MS", "100"),
    ("LOG_LEVEL", "LOUD"),
    ("LOG_FORMAT", "xml"),
    ("SENTRY_DSN", "not-a-dsn"),
    ("TANGENT_INSTANCE_PATH", " "),
]


@pytest.mark.parametrize(("var", "raw"), MALFORMED)
def test_malformed_values_stop_with_one_line_naming_the_variable(tmp_path, var, raw):
    env = {"TANGENT_INSTANCE_PATH": str(tmp_path), var: raw}
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert message.startswith(f"{var}: ")
    assert "\n" not in message
    assert "hunter2" not in message  # URLs may hold passwords; never echo them


def test_unsupported_database_scheme_message():
    with pytest.raises(ConfigError, match=r"^DATABASE_URL: unsupported scheme 'mysql'"):
        load_settings({"DATABASE_URL": "mysql://x", "SECRET_KEY": GOOD_KEY})


def test_instance_path_that_is_a_file_is_refused(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(ConfigError, match=r"^TANGENT_INSTANCE_PATH: .* is not a folder$"):
        load_settings({"TANGENT_INSTANCE_PATH": str(not_a_folder)})


def test_production_requires_a_secret_key(tmp_path):
    env = {"TANGENT_ENV": "production", "TANGENT_INSTANCE_PATH": str(tmp_path)}
    with pytest.raises(ConfigError, match=r"^SECRET_KEY: required when TANGENT_ENV=production"):
        load_settings(env)
    assert not (tmp_path / SECRET_KEY_FILE).exists()  # never generated in production


def test_production_rejects_a_short_secret_key(tmp_path):
    env = {"TANGENT_ENV": "production", "TANGENT_INSTANCE_PATH": str(tmp_path),
           "SECRET_KEY": "k" * (MIN_SECRET_KEY_LENGTH - 1)}
    with pytest.raises(ConfigError, match=r"^SECRET_KEY: expected at least"):
        load_settings(env)


def test_production_with_a_good_key(tmp_path):
    settings = load_settings({"TANGENT_ENV": "production", "TANGENT_INSTANCE_PATH": str(tmp_path),
                              "SECRET_KEY": GOOD_KEY})
    assert settings.secret_key == GOOD_KEY
    assert settings.log_format == "json"
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_development_generates_a_private_key_once_and_reuses_it(tmp_path):
    instance = tmp_path / "new-instance"
    env = {"TANGENT_INSTANCE_PATH": str(instance)}

    first = load_settings(env)
    key_file = instance / SECRET_KEY_FILE
    assert key_file.read_text().strip() == first.secret_key
    assert len(first.secret_key) >= MIN_SECRET_KEY_LENGTH
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    second = load_settings(env)
    assert second.secret_key == first.secret_key

    other = load_settings({"TANGENT_INSTANCE_PATH": str(tmp_path / "other")})
    assert other.secret_key != first.secret_key


def test_an_explicit_key_is_not_written_to_the_instance_folder(tmp_path):
    settings = load_settings({"TANGENT_INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "from env"})
    assert settings.secret_key == "from env"
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_an_empty_key_file_is_an_error_not_an_empty_key(tmp_path):
    (tmp_path / SECRET_KEY_FILE).write_text("\n")
    with pytest.raises(ConfigError, match=r"^SECRET_KEY: .* is empty"):
        load_settings({"TANGENT_INSTANCE_PATH": str(tmp_path)})


def test_instance_path_moves_the_folder_and_the_default_database(tmp_path):
    moved = tmp_path / "somewhere" / "else"
    settings = load_settings({"TANGENT_INSTANCE_PATH": str(moved)})
    assert settings.instance_path == moved
    assert settings.database_url == f"sqlite:///{moved / 'tangent.db'}"
    assert (moved / SECRET_KEY_FILE).is_file()


def test_an_explicit_database_url_wins_over_the_instance_default(tmp_path):
    settings = load_settings({"TANGENT_INSTANCE_PATH": str(tmp_path),
                              "DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}"})
    assert settings.database_url == f"sqlite:///{tmp_path / 'other.db'}"


def test_overrides_win_and_unknown_ones_are_refused(tmp_path):
    env = {"TANGENT_INSTANCE_PATH": str(tmp_path), "LOG_LEVEL": "DEBUG"}
    assert load_settings(env, {"log_level": "ERROR"}).log_level == "ERROR"
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(env, {"not_a_setting": 1})


def test_the_cost_currency_is_a_three_letter_code(tmp_path):
    env = {"TANGENT_INSTANCE_PATH": str(tmp_path)}
    assert load_settings(env).cost_currency == "USD"
    assert load_settings({**env, "TANGENT_COST_CURRENCY": "eur"}).cost_currency == "EUR"
    with pytest.raises(ConfigError, match="TANGENT_COST_CURRENCY: expected a three-letter"):
        load_settings({**env, "TANGENT_COST_CURRENCY": "euros"})


def test_the_site_time_zone_is_an_iana_name(tmp_path):
    env = {"TANGENT_INSTANCE_PATH": str(tmp_path)}
    assert load_settings(env).time_zone == "UTC"
    assert load_settings({**env, "TANGENT_TIME_ZONE": " Europe/Paris "}).time_zone == \
        "Europe/Paris"
    for wrong in ("Mars/Olympus_Mons", "europe/paris", "CET+1", "../../etc/passwd", "",
                  "Europe/" + "x" * 300):
        with pytest.raises(ConfigError, match="TANGENT_TIME_ZONE: expected an IANA time zone"):
            load_settings({**env, "TANGENT_TIME_ZONE": wrong})
