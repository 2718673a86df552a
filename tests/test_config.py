"""ProfessionalConfig: keyword arguments > environment > TOML file > defaults."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erp_professional import ProfessionalConfig, integrate
from erp_professional.config import ConfigError, load_config


def test_defaults_need_nothing() -> None:
    config = load_config()
    assert config.web.prefix == "/_pro"
    assert config.service.environment == "development"


def test_precedence_kwargs_over_env_over_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "pro.toml"
    toml.write_text('[service]\nname = "from-file"\nversion = "1.2.3"\nenvironment = "staging"\n')
    monkeypatch.setenv("ERP_PRO_SERVICE__VERSION", "9.9.9")
    monkeypatch.setenv("ERP_PRO_SERVICE__ENVIRONMENT", "production")
    config = load_config(toml, service__environment="test")
    assert config.service.name == "from-file"
    assert config.service.version == "9.9.9"
    assert config.service.environment == "test"


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "pro.toml"
    toml.write_text('[tool.erp_professional.web]\nprefix = "/ops"\n')
    monkeypatch.setenv("ERP_PRO_CONFIG_FILE", str(toml))
    assert load_config().web.prefix == "/ops"


def test_env_lists_are_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_PRO_WEB__TRUSTED_PROXIES", '["10.0.0.0/8", "127.0.0.1"]')
    assert load_config().web.trusted_proxies == ["10.0.0.0/8", "127.0.0.1"]


def test_one_clear_error_names_the_field_and_the_value() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(web__prefix="no-slash", web__trusted_proxies=["not-an-ip"])
    message = str(info.value)
    assert "web.prefix = 'no-slash'" in message
    assert "web.trusted_proxies" in message


def test_bad_env_value_fails_at_integrate_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_PRO_SERVICE__DEBUG", "maybe")

    async def app(scope: object, receive: object, send: object) -> None:
        return None

    with pytest.raises(ConfigError, match=r"service\.debug = 'maybe'"):
        integrate(app)


def test_unknown_keys_are_errors() -> None:
    with pytest.raises(ConfigError, match="servcie"):
        load_config(servcie={"name": "typo"})


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[service\nname=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


def test_ready_config_with_overrides_is_a_copy() -> None:
    base = ProfessionalConfig()
    changed = load_config(base, service__name="other")
    assert changed.service.name == "other"
    assert base.service.name == "erp-service"
    assert load_config(base) is base


def test_mapping_config() -> None:
    config = load_config({"service": {"name": "mapped"}}, service__version="2")
    assert (config.service.name, config.service.version) == ("mapped", "2")


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_any_prefix_is_accepted_or_refused_clearly(prefix: str) -> None:
    error: ConfigError | None = None
    try:
        config = load_config(web__prefix=prefix)
    except ConfigError as exc:
        error = exc
    if error is not None:
        assert "web.prefix" in str(error)
    else:
        assert config.web.prefix.startswith("/")
        assert not config.web.prefix.endswith("/")
