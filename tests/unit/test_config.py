"""Config: the example validates; every broken field is reported with file, line and path."""

from __future__ import annotations

import json
from datetime import time, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from dialer.cli import main
from dialer.config.errors import ConfigError
from dialer.config.loader import load_config, parse_config
from dialer.config.models import json_schema
from tests.support.paths import EXAMPLE_CONFIG

GOOD = EXAMPLE_CONFIG.read_text(encoding="utf-8")


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "c.yaml")
    return [str(i) for i in exc.value.issues]


def test_example_config_is_valid_and_covers_russia() -> None:
    config = load_config(EXAMPLE_CONFIG)
    assert config.center.timezone == "Europe/Samara"
    assert config.legal_window.start == time(8) and config.legal_window.end == time(21)
    cold = config.campaign("cold")
    assert cold.talk.target_min == timedelta(minutes=3) and cold.talk.target_max == timedelta(minutes=5)
    assert cold.retry.busy.delay == timedelta(minutes=15)
    assert config.schedules["office"].holidays == "RU"
    assert config.storage.path is not None and config.storage.path.is_absolute()


def test_example_campaigns_follow_the_production_calendar() -> None:
    config = load_config(EXAMPLE_CONFIG)
    cold = config.campaign("cold").window
    assert cold.workdays and not cold.dayoffs and cold.days == frozenset()
    warm = config.campaign("warm").window
    assert warm.workdays and warm.days == frozenset({5})


def test_window_day_words_parse_and_the_center_refuses_them() -> None:
    from dialer.config.models import Window

    w = Window.model_validate({"days": "workdays, sun", "start": "09:00", "end": "18:00"})
    assert w.workdays and not w.dayoffs and w.days == frozenset({6})
    assert Window.model_validate({"days": ["DayOffs"], "start": "09:00", "end": "18:00"}).dayoffs
    assert Window.model_validate({"days": ["mon-fri"], "start": "09:00", "end": "18:00"}).follows_calendar is False
    found = errors(GOOD.replace('days: [mon-sat]\n    start: "06:00"', 'days: [workdays]\n    start: "06:00"', 1))
    assert any("center.shift: workdays/dayoffs are for campaign windows" in e for e in found), found
    found = errors(GOOD.replace('days: [workdays], start: "09:00"', 'days: [workday], start: "09:00"', 1))
    assert any("campaigns.0.window.days: unknown day 'workday'" in e and "workdays, dayoffs" in e for e in found), found


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("timezone: Europe/Samara", "timezone: Europe/Izhevsk", "center.timezone: unknown time zone 'Europe/Izhevsk'"),
        ('  start: "08:00"\n  end: "21:00"', '  start: "08:00"\n  end: "07:00"', "legal_window.end: end 07:00 must be after start 08:00"),
        ("no_need_recontact: 90d", "no_need_recontact: -5d", "campaigns.0.lifecycle.no_need_recontact: must not be negative"),
        ("provider: simulated\n    caller_id: \"+73412000002\"", "provider: sip\n    caller_id: \"+73412000002\"",
         "campaigns.1.provider: unknown provider 'sip'"),
        ("lines: 6", "lines: 0", "campaigns.0.lines: Input should be greater than or equal to 1"),
        ("days: [mon-fri]\n    start: \"09:00\"", "days: [mon-frx]\n    start: \"09:00\"", "schedules.office.days: unknown day range 'mon-frx'"),
        ("default_schedule: office", "default_schedule: nowhere", "default_schedule: unknown schedule 'nowhere'"),
        ("ring_timeout: 30s", "ring_timeout: soon", "campaigns.0.ring_timeout: expected a duration"),
        # A period of centuries was accepted and overflowed the next contact mid-call;
        # .inf / 1e300 / 14 digits of days overflowed check-config itself.
        ("no_need_recontact: 90d", "no_need_recontact: 3000000d", "campaigns.0.lifecycle.no_need_recontact: must be at most 36500d"),
        ("no_need_recontact: 90d", "no_need_recontact: .inf", "campaigns.0.lifecycle.no_need_recontact: must be at most 36500d"),
        ("no_need_recontact: 90d", "no_need_recontact: 1.0e+300", "campaigns.0.lifecycle.no_need_recontact: must be at most"),
        ("no_need_recontact: 90d", 'no_need_recontact: "99999999999999d"', "campaigns.0.lifecycle.no_need_recontact: must be at most"),
        ("no_need_recontact: 90d", "no_need_recontact: .nan", "campaigns.0.lifecycle.no_need_recontact: expected a duration"),
        ("ring_timeout: 30s", "ring_timeout: -.inf", "campaigns.0.ring_timeout: must not be negative"),
        ("talk: {target_min: 3m, target_max: 5m}", "talk: {target_min: 6m, target_max: 5m}",
         "campaigns.0.talk.target_max: target_max must not be below target_min"),
    ],
)  # fmt: skip
def test_each_error_names_line_and_field(old: str, new: str, expected: str) -> None:
    assert old in GOOD, old
    broken = GOOD.replace(old, new, 1)
    found = errors(broken)
    assert any(expected in e for e in found), found
    # The line number points at the changed text.
    line_of_change = broken[: broken.index(new)].count("\n") + 1
    matching = [e for e in found if expected in e]
    line = int(matching[0].split(":")[1])
    assert line_of_change <= line <= line_of_change + new.count("\n")


def test_all_errors_are_reported_at_once() -> None:
    broken = (
        GOOD.replace("Europe/Samara", "Mars/Base")
        .replace("lines: 6", "lines: 0")
        .replace('provider: simulated\n    caller_id: "+73412000003"', 'provider: nope\n    caller_id: "+73412000003"')
    )
    found = errors(broken)
    assert len(found) >= 3


def test_secrets_are_refused_in_the_file() -> None:
    broken = GOOD.replace(
        "  simulated:\n    type: simulated", "  simulated:\n    type: simulated\n    auth_token: abc", 1
    )
    assert any("auth_token_env" in e for e in errors(broken))


def test_yaml_syntax_error_has_a_line() -> None:
    [e] = errors("center: [unclosed\n")
    assert e.startswith("c.yaml:")


def test_check_config_command(tmp_path: Path) -> None:
    ok = CliRunner().invoke(main, ["check-config", "--config", str(EXAMPLE_CONFIG)])
    assert ok.exit_code == 0 and "ok" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("Europe/Samara", "Europe/Izhevsk"))
    result = CliRunner().invoke(main, ["check-config", "--config", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:" in result.output and "center.timezone" in result.output
    missing = CliRunner().invoke(main, ["check-config", "--config", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 1


def test_config_schema_is_json_schema() -> None:
    result = CliRunner().invoke(main, ["config-schema"])
    schema = json.loads(result.output)
    assert schema["type"] == "object" and "campaigns" in schema["properties"]
    assert schema == json.loads(json.dumps(json_schema()))
    # The example validates against the published schema (what an editor would check).
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    jsonschema.validate(yaml.safe_load(GOOD), schema)


def test_a_config_saved_in_cp1251_is_one_located_error(tmp_path: Path) -> None:
    # A supervisor's editor saves Windows-1251: check-config (and a SIGHUP reload, which
    # logs reload_rejected from the same ConfigError) once died with UnicodeDecodeError.
    bad = tmp_path / "cp.yaml"
    bad.write_bytes(GOOD.replace('name: "Izhevsk call center"', 'name: "Ижевск"', 1).encode("cp1251"))
    line = GOOD[: GOOD.index('name: "Izhevsk call center"')].count("\n") + 1
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    [issue] = info.value.issues
    assert (issue.line, issue.path) == (line, "(file)") and "not UTF-8" in issue.message
    result = CliRunner().invoke(main, ["check-config", "--config", str(bad)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip() == f"{bad}:{line}: (file): {issue.message}"
