"""The config models are pure: the rules and the providers import them without the YAML
loader. Each check runs in a fresh interpreter, so nothing imported by another test hides
an import this one would make."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Modules that must import the config models only, never YAML or the loader.
PURE = [
    "dialer.config",
    "dialer.config.values",
    "dialer.config.models",
    "dialer.config.errors",
    "dialer.calendar",
    "dialer.lifecycle",
    "dialer.outcomes",
    "providers.sip.settings",
    "providers.twilio.settings",
]


def loaded_after_import(module: str) -> set[str]:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("module", PURE)
def test_importing_the_models_does_not_import_yaml_or_the_loader(module: str) -> None:
    loaded = loaded_after_import(module)
    assert module in loaded  # the check itself saw the import
    assert "yaml" not in loaded, f"{module} imports yaml"
    assert "dialer.config.loader" not in loaded, f"{module} imports the config loader"


def test_the_loader_names_are_still_reachable_from_the_package() -> None:
    """`from dialer.config import load_config` keeps working (imported on first use)."""
    import dialer.config as config
    from dialer.config import loader

    assert config.load_config is loader.load_config
    assert config.parse_config is loader.parse_config
    assert config.MAX_CONFIG_BYTES == loader.MAX_CONFIG_BYTES
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = config.nothing_here


def test_an_error_still_names_file_line_and_field() -> None:
    from dialer.config.errors import ConfigError
    from dialer.config.loader import parse_config

    text = "center:\n  name: x\n  timezone: Mars/Olympus\n  shift: {start: '09:00', end: '18:00'}\ncampaigns: []\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml")
    lines = [str(i) for i in caught.value.issues]
    assert any(line.startswith("c.yaml:3: center.timezone: unknown time zone 'Mars/Olympus'") for line in lines), lines
