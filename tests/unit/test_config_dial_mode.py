"""Campaign `dial_mode` (issue 12 preview; issue 13 power and predictive with their compliance keys)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dialer.cli import main
from dialer.config.errors import ConfigError
from dialer.config.loader import load_config, parse_config
from dialer.pacing.modes import DialMode
from tests.support.paths import EXAMPLE_CONFIG

GOOD = EXAMPLE_CONFIG.read_text(encoding="utf-8")


def with_mode(campaign: str, lines: str) -> str:
    head = f"  - name: {campaign}\n"
    assert head in GOOD
    return GOOD.replace(head, head + "".join(f"    {line}\n" for line in lines.split(";")), 1)


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "c.yaml")
    return [str(i) for i in exc.value.issues]


def test_the_default_is_progressive_and_preview_is_accepted_with_agents_and_presence() -> None:
    assert {c.dial_mode for c in load_config(EXAMPLE_CONFIG).campaigns} == {DialMode.PROGRESSIVE}
    config = parse_config(with_mode("cold", "dial_mode: preview;presence: true"), "c.yaml")
    assert config.campaign("cold").dial_mode is DialMode.PREVIEW


@pytest.mark.parametrize("mode", ["power", "predictive"])
def test_power_and_predictive_need_allow_abandon_and_a_message(mode: str) -> None:
    [message] = errors(with_mode("cold", f"dial_mode: {mode}"))
    assert f"dial_mode {mode} abandons some answered calls: set allow_abandon: true" in message
    assert f"dial_mode {mode} needs an information_message" in message
    [message] = errors(with_mode("cold", f"dial_mode: {mode};allow_abandon: true"))
    assert "allow_abandon" not in message and "information_message" in message
    ok = with_mode(
        "cold", f"dial_mode: {mode};allow_abandon: true;information_message: Acme called, press 9 to opt out"
    )
    campaign = parse_config(ok, "c.yaml").campaign("cold")
    assert campaign.dial_mode is DialMode(mode) and campaign.pacing.allow_abandon


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("max_abandon_rate: 0.05", "max_abandon_rate"),
        ("abandon_after: 3s", "abandon_after"),
        ("min_ring: 10s", "min_ring"),
        ("power_ratio: 0.5", "power_ratio"),
    ],
)
def test_client_first_compliance_limits_are_enforced(line: str, field: str) -> None:
    base = "dial_mode: predictive;allow_abandon: true;information_message: Acme called"
    [message] = errors(with_mode("cold", f"{base};{line}"))
    assert field in message
    assert message.count("\n") == 0


def test_preview_needs_a_person() -> None:
    [message] = errors(with_mode("care", "dial_mode: preview"))  # connect_to a queue, no agents
    assert "dial_mode preview needs agents:" in message
    [message] = errors(with_mode("cold", "dial_mode: preview;presence: false"))
    assert "dial_mode preview needs agents:" in message
    [message] = errors(with_mode("cold", "dial_mode: preview"))  # no web section: no desk to preview on
    assert "campaign cold: dial_mode preview needs the web section" in message


def test_an_unknown_mode_is_refused() -> None:
    [message] = errors(with_mode("cold", "dial_mode: turbo"))
    assert "dial_mode" in message and "preview" in message


def test_check_config_says_it_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(with_mode("cold", "dial_mode: power"), encoding="utf-8")
    result = CliRunner().invoke(main, ["check-config", "--config", str(bad)])
    assert result.exit_code == 1 and "set allow_abandon: true" in result.output
    assert "Traceback" not in result.output


def test_the_message_takes_the_form_its_provider_plays(tmp_path: Path) -> None:
    """Twilio says text; SIP plays a WAV file (8 kHz mono), checked when the config is loaded for running."""
    import wave

    sip = GOOD.replace(
        "providers:\n", "providers:\n  pbx:\n    type: sip\n    registrar: pbx.local\n    register: false\n", 1
    )
    assert "  pbx:\n    type: sip" in sip
    head = "  - name: cold\n"
    cold = sip.index(head)
    at = sip.index("    provider: simulated\n", cold)
    sip = sip[:at] + "    provider: pbx\n" + sip[at + len("    provider: simulated\n") :]
    power = "dial_mode: power;allow_abandon: true;information_message: Acme called"
    [message] = errors(with_mode_in(sip, "cold", power))
    assert "dial_mode power on a SIP provider needs information_audio" in message
    path = tmp_path / "c.yaml"
    path.write_text(with_mode_in(sip, "cold", power + ";information_audio: sounds/info.wav"), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(path, check_providers=True)
    assert any("information_audio" in str(i) and "not found" in str(i) for i in exc.value.issues)
    (tmp_path / "sounds").mkdir()
    with wave.open(str(tmp_path / "sounds" / "info.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\0\0" * 8000)
    config = load_config(path, check_providers=True)
    assert config.campaign("cold").information_audio == (tmp_path / "sounds" / "info.wav").resolve()


def with_mode_in(text: str, campaign: str, lines: str) -> str:
    head = f"  - name: {campaign}\n"
    return text.replace(head, head + "".join(f"    {line}\n" for line in lines.split(";")), 1)


def test_a_twilio_campaign_needs_the_text_to_say() -> None:
    tw = GOOD.replace(
        "providers:\n", "providers:\n  tw:\n    type: twilio\n    public_base_url: https://x.example\n", 1
    )
    cold = tw.index("  - name: cold\n")
    at = tw.index("    provider: simulated\n", cold)
    tw = tw[:at] + "    provider: tw\n" + tw[at + len("    provider: simulated\n") :]
    [message] = errors(with_mode_in(tw, "cold", "dial_mode: predictive;allow_abandon: true;information_audio: a.wav"))
    assert "dial_mode predictive on a Twilio provider needs information_message (the text Twilio says)" in message
