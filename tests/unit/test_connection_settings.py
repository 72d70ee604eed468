"""Settings: the options a URL or the fields give, their defaults, and what is refused."""

from __future__ import annotations

import pytest
from redis.connection import parse_url

from pyresque.connection import Settings
from pyresque.errors import ConfigurationError


def test_defaults_are_the_documented_ones() -> None:
    s = Settings()
    assert (s.socket_connect_timeout, s.socket_timeout) == (5.0, 10.0)
    assert s.socket_keepalive is True
    assert (s.socket_keepalive_idle, s.socket_keepalive_interval, s.socket_keepalive_count) == (
        60,
        10,
        3,
    )
    assert (s.ssl_cert_reqs, s.ssl_check_hostname) == ("required", True)
    assert Settings.from_url("redis://h") == Settings(host="h")


def test_a_redis_py_url_gives_the_same_options_here() -> None:
    url = (
        "rediss://ada:s%40cret@cache.example:6380/3?socket_connect_timeout=2.5&socket_timeout=7"
        "&socket_keepalive=false&ssl_cert_reqs=optional&ssl_ca_certs=/etc/ca.pem"
        "&ssl_certfile=/etc/client.pem&ssl_keyfile=/etc/client.key&ssl_check_hostname=false"
    )
    theirs = parse_url(url)
    ours = Settings.from_url(url)
    for name in (
        "host", "port", "db", "username", "password", "socket_connect_timeout", "socket_timeout",
        "socket_keepalive", "ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile",
        "ssl_check_hostname",
    ):  # fmt: skip
        assert getattr(ours, name) == theirs[name], name
    assert ours.tls


def test_redis_py_pool_options_are_accepted_and_ignored() -> None:
    url = "redis://h/0?max_connections=50&health_check_interval=30&retry_on_timeout=yes"
    assert Settings.from_url(url) == Settings(host="h")


def test_keyword_options_override_the_url() -> None:
    s = Settings.from_url("redis://h/0?socket_timeout=3", socket_timeout=1.5, db=2)
    assert (s.socket_timeout, s.db) == (1.5, 2)


def test_none_turns_a_timeout_off() -> None:
    assert Settings.from_url("redis://h?socket_timeout=none").socket_timeout is None


def test_pyresque_keepalive_tuning_is_read_from_the_url() -> None:
    s = Settings.from_url(
        "redis://h?socket_keepalive_idle=30&socket_keepalive_interval=5&socket_keepalive_count=4"
    )
    assert (s.socket_keepalive_idle, s.socket_keepalive_interval, s.socket_keepalive_count) == (
        30,
        5,
        4,
    )


@pytest.mark.parametrize(
    ("url", "sentinels", "service", "db"),
    [
        ("redis+sentinel://s1:26379/mymaster", (("s1", 26379),), "mymaster", 0),
        ("redis+sentinel://s1,s2:5000/mymaster/4", (("s1", 26379), ("s2", 5000)), "mymaster", 4),
        ("redis+sentinel://[::1]:26380,s2/cache?db=2", (("::1", 26380), ("s2", 26379)), "cache", 2),
    ],
)
def test_sentinel_urls_name_sentinels_service_and_db(
    url: str, sentinels: tuple[tuple[str, int], ...], service: str, db: int
) -> None:
    s = Settings.from_url(url)
    assert (s.sentinels, s.service_name, s.db) == (sentinels, service, db)


def test_a_sentinel_urls_credentials_are_the_masters_and_the_sentinels_come_apart() -> None:
    s = Settings.from_url(
        "rediss+sentinel://app:pw@s1:26379/mymaster?sentinel_username=mon&sentinel_password=spw"
    )
    assert (s.username, s.password, s.tls) == ("app", "pw", True)
    master = s.at("10.0.0.5", 6379)
    assert (master.host, master.port, master.sentinels, master.password) == (
        "10.0.0.5",
        6379,
        (),
        "pw",
    )
    sentinel = s.for_sentinel("s1", 26379)
    assert (sentinel.username, sentinel.password, sentinel.db, sentinel.tls) == (
        "mon",
        "spw",
        0,
        True,
    )
    assert s.setup_commands()[-1] == ["ROLE"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://h?socket_timout=1", "unknown option 'socket_timout'"),
        ("redis://h?socket_timeout=-1", "socket_timeout must be a number of seconds > 0"),
        ("redis://h?socket_timeout=soon", "bad value 'soon' for socket_timeout"),
        ("redis://h?ssl_ca_certs=/ca.pem", "ssl_* options need TLS"),
        ("rediss://h?ssl_cert_reqs=maybe", "ssl_cert_reqs must be one of none, optional, required"),
        ("rediss://h?ssl_keyfile=/k.pem", "ssl_keyfile needs ssl_certfile"),
        ("redis+sentinel://s1:26379", "no service name"),
        ("redis+sentinel://s1:port/m", "bad Redis URL"),
        ("redis://h?socket_keepalive_count=0", "socket_keepalive_count must be a whole number"),
        ("http://u:secret@h/0", "unsupported Redis URL 'http://***@h/0'"),
    ],
)
def test_bad_options_are_refused_with_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_url(url)
    assert message in str(info.value)
    assert "secret" not in str(info.value)


def test_passwords_are_left_out_of_messages() -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_url("redis://u:topsecret@h/0?password=alsosecret&bogus=1")
    assert "secret" not in str(info.value)


def test_fields_are_checked_like_url_options() -> None:
    with pytest.raises(ConfigurationError, match="Sentinel needs both"):
        Settings(sentinels=[("s1", 26379)])
    with pytest.raises(ConfigurationError, match="socket_connect_timeout"):
        Settings(socket_connect_timeout=0)
    listed = Settings(sentinels=[["s1", "26379"]], service_name="m")
    assert listed.sentinels == (("s1", 26379),)


def test_describe_leaves_credentials_out() -> None:
    s = Settings.from_url("redis://u:pw@h:7000/2")
    assert s.describe() == "h:7000/2"
    sentinel = Settings.from_url("redis+sentinel://u:pw@s1/main")
    assert sentinel.describe(("10.0.0.5", 6379)) == "10.0.0.5:6379/0 (Sentinel service 'main')"
    assert "pw" not in repr(s) and "pw" not in repr(sentinel)
