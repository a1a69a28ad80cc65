"""Settings from HERALD_* variables and the rules for the secret key."""

from __future__ import annotations

from pathlib import Path

import pytest

from herald.settings import DEVELOPMENT_SECRET_KEY, ConfigurationError, Settings


def make(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_settings_read_herald_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_PORT", "9001")
    monkeypatch.setenv("HERALD_BASE_URL", "https://mail.example.com")
    settings = Settings()
    assert settings.port == 9001
    assert settings.cookies_secure


def test_the_development_key_is_refused_outside_development(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="HERALD_SECRET_KEY"):
        make(secret_key=DEVELOPMENT_SECRET_KEY, data_dir=tmp_path).resolved_secret_key()
    with pytest.raises(ConfigurationError):
        make(secret_key="short", data_dir=tmp_path).resolved_secret_key()
    dev = make(env="development", secret_key=DEVELOPMENT_SECRET_KEY, data_dir=tmp_path)
    assert dev.resolved_secret_key() == DEVELOPMENT_SECRET_KEY
    assert (
        make(env="development", secret_key=None, data_dir=tmp_path).resolved_secret_key()
        == DEVELOPMENT_SECRET_KEY
    )


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
