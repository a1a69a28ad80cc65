"""Settings from HERALD_* variables and the rules for the secret key."""

from __future__ import annotations

from pathlib import Path

import pytest

from herald.settings import PUBLISHED_SECRET_KEYS, ConfigurationError, Settings


def make(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_settings_read_herald_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_PORT", "9001")
    monkeypatch.setenv("HERALD_BASE_URL", "https://mail.example.com")
    settings = Settings()
    assert settings.port == 9001
    assert settings.cookies_secure


def test_a_published_key_is_refused_everywhere_and_short_keys_outside_development(
    tmp_path: Path,
) -> None:
    for env in ("production", "development", "test"):
        for published in PUBLISHED_SECRET_KEYS:
            with pytest.raises(ConfigurationError, match="HERALD_SECRET_KEY"):
                make(env=env, secret_key=published, data_dir=tmp_path).resolved_secret_key()
    with pytest.raises(ConfigurationError):
        make(secret_key="short", data_dir=tmp_path).resolved_secret_key()
    assert make(env="development", secret_key="short", data_dir=tmp_path).resolved_secret_key()


def test_development_generates_and_keeps_its_own_key_even_on_a_server_database(
    tmp_path: Path,
) -> None:
    """A development install on PostgreSQL signed links with a published key before."""

    def development(data_dir: Path) -> Settings:
        return make(
            env="development",
            secret_key=None,
            database_url="postgresql://postgres@127.0.0.1:5432/herald",
            data_dir=data_dir,
        )

    first = development(tmp_path).resolved_secret_key()
    again = development(tmp_path).resolved_secret_key()
    other = development(tmp_path / "other")
    assert len(first) >= 48 and first == again
    assert other.resolved_secret_key() != first
    assert first not in PUBLISHED_SECRET_KEYS
    with pytest.raises(ConfigurationError, match="must be set"):
        make(
            secret_key=None, database_url="postgresql://127.0.0.1/herald", data_dir=tmp_path
        ).resolved_secret_key()


def test_embedded_default_generates_and_keeps_a_key(tmp_path: Path) -> None:
    settings = make(secret_key=None, data_dir=tmp_path / "data")
    first = settings.resolved_secret_key()
    assert len(first) >= 48
    key_file = tmp_path / "data" / "secret_key"
    assert key_file.read_text() == first
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert make(secret_key=None, data_dir=tmp_path / "data").resolved_secret_key() == first


def test_a_server_database_needs_an_explicit_key(tmp_path: Path) -> None:
    settings = make(
        secret_key=None, database_url="postgresql://db.internal/herald", data_dir=tmp_path
    )
    with pytest.raises(ConfigurationError, match="must be set"):
        settings.resolved_secret_key()
    assert not (tmp_path / "secret_key").exists()


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = make(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve()}/herald.db"
    assert settings.is_sqlite
