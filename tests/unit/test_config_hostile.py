"""Hostile configs: every problem is `FILE:LINE: field: message`, one line each, with no
traceback, no secret and no whole value in it, in bounded memory and time."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

import providers.base
from dialer.cli import main
from dialer.config.errors import ConfigError
from dialer.config.loader import MAX_CONFIG_BYTES, parse_config
from tests.support.paths import EXAMPLE_CONFIG

GOOD = EXAMPLE_CONFIG.read_text(encoding="utf-8")
# A path is dotted plain keys, or a quoted key where one has spaces or colons.
ISSUE = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<path>(?:[^\s':]+|'[^']*'|\"[^\"]*\")+): (?P<message>.+)$")
SECRET = "Zq7-very-secret-value"


def check_config(tmp_path: Path, content: str | bytes, name: str = "c.yaml") -> tuple[int, list[str]]:
    """Run `dialer check-config`; every line it prints must be an issue line (or ok)."""
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    if result.exit_code == 0:
        # Valid: the ok line, after located warnings (e.g. more lines than agents).
        assert lines and lines[-1].startswith(f"{path}: ok"), lines
        for line in lines[:-1]:
            m = ISSUE.match(line)
            assert m and m["file"] == str(path) and m["message"].startswith("warning: "), line
    else:
        assert result.exit_code == 1, result.output
        assert lines
        for line in lines:
            m = ISSUE.match(line)
            assert m and m["file"] == str(path), line
            assert len(line) < len(str(path)) + 600, line
    return result.exit_code, lines


def only(lines: list[str], path: str, message: str) -> str:
    matching = [ln for ln in lines if ISSUE.match(ln)["path"] == path and message in ln]  # type: ignore[index]
    assert matching, lines
    return matching[0]


def line_no(issue: str) -> int:
    return int(ISSUE.match(issue)["line"])  # type: ignore[index]


# ---------------------------------------------------------------- item 5: no traceback


@pytest.mark.parametrize(
    ("old", "new", "path", "message"),
    [
        ("ring_timeout: 30s", "ring_timeout: .inf", "campaigns.0.ring_timeout", "at most 36500d"),
        ("ring_timeout: 30s", "ring_timeout: -.inf", "campaigns.0.ring_timeout", "must not be negative"),
        ("ring_timeout: 30s", "ring_timeout: .nan", "campaigns.0.ring_timeout", "expected a duration"),
        ("ring_timeout: 30s", 'ring_timeout: "99999999999999d"', "campaigns.0.ring_timeout", "at most 36500d"),
        ("ring_timeout: 30s", "ring_timeout: 1.0e+300", "campaigns.0.ring_timeout", "at most 36500d"),
        ("ring_timeout: 30s", "ring_timeout: " + "9" * 400, "campaigns.0.ring_timeout", "at most 36500d"),
        ("ring_timeout: 30s", "ring_timeout: " + "9" * 5000, "(yaml)", "cannot read this value"),
        ("no_need_recontact: 90d", "no_need_recontact: 1e30d", "campaigns.0.lifecycle.no_need_recontact", "expected"),
        ("timezone: Europe/Samara", "timezone: Europe", "center.timezone", "unknown time zone 'Europe'"),
        ("timezone: Europe/Samara", "timezone: " + "Z" * 300, "center.timezone", "unknown time zone"),
        ("timezone: Europe/Samara", "timezone: ../../../etc/passwd", "center.timezone", "unknown time zone"),
        ("timezone: Europe/Samara", 'timezone: "Europe/\\0Samara"', "center.timezone", "unknown time zone"),
        ("closed_dates: []", "closed_dates: [2026-13-45]", "(yaml)", "month must be in 1..12"),
        ("holidays: RU                     # the", "holidays: [[RU]]                     # the", "center.holidays",
         "expected a country code"),
        ("days: [mon-fri]\n    start", "days: [[mon], 5]\n    start", "schedules.office.days", "unknown day"),
        ("name: \"Izhevsk call center\"", "name: !!binary zz", "(yaml)", "base64"),
        ("name: \"Izhevsk call center\"", "name: !!python/object/apply:os.system [id]", "(yaml)", "constructor"),
        ("name: \"Izhevsk call center\"", "name: \"a\x07b\"", "(yaml)", "control characters"),
    ],
)  # fmt: skip
def test_bad_values_are_located_lines(tmp_path: Path, old: str, new: str, path: str, message: str) -> None:
    assert old in GOOD, old
    broken = GOOD.replace(old, new, 1)
    code, lines = check_config(tmp_path, broken)
    assert code == 1
    issue = only(lines, path, message)
    changed = broken[: broken.index(new)].count("\n") + 1
    assert changed <= line_no(issue) <= changed + new.count("\n"), (issue, changed)


def test_a_byte_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    raw = GOOD.encode().replace(b"Izhevsk call center", b"Izhevsk \xcf\xf0\xe8 center")
    code, lines = check_config(tmp_path, raw)
    assert code == 1
    [issue] = lines
    assert line_no(issue) == GOOD[: GOOD.index("Izhevsk call center")].count("\n") + 1
    assert "not UTF-8 text (byte 0xcf, column 18)" in issue


@pytest.mark.parametrize("depth", [33, 500, 100_000])
def test_deep_nesting_is_one_line(tmp_path: Path, depth: int) -> None:
    for opening, closing in (("[", "]"), ("{a: ", "}")):
        code, lines = check_config(tmp_path, GOOD + "\nextra: " + opening * depth + closing * depth + "\n")
        assert code == 1
        [issue] = lines
        # (libyaml has a nesting limit of its own, which may answer first)
        assert "(yaml): nested more than 32 levels deep" in issue or "(yaml): exceeded maximum nesting depth" in issue


# ---------------------------------------------------------------- item 6: bounded


BOMB = """
legal_window:
  start: &l9 [&l8 [&l7 [&l6 [&l5 [&l4 [&l3 [&l2 [&l1 [&l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol"]]]]]]]]]]
  end: "21:00"
"""


def bomb() -> str:
    """A billion-laughs: each level lists the one before ten times (~5 KB, 10^10 values)."""
    lines = ['  a0: &a0 ["' + "lol" * 100 + '"]']
    for i in range(1, 10):
        lines.append(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    head = "anchors:\n" + "\n".join(lines) + "\n"
    body = GOOD.replace('legal_window:\n  start: "08:00"', "legal_window:\n  start: *a9", 1)
    return head + body


def run_limited(tmp_path: Path, content: str | bytes, memory: int = 1 << 30) -> subprocess.CompletedProcess[str]:
    """check-config in a child limited to `memory` bytes of address space and 60 s."""
    import resource

    path = tmp_path / "c.yaml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run(
        [sys.executable, "-m", "dialer", "check-config", "--config", str(path)],
        capture_output=True, text=True, timeout=60, preexec_fn=limit, check=False,
    )  # fmt: skip


def test_an_alias_bomb_is_refused_quickly_in_bounded_memory(tmp_path: Path) -> None:
    content = bomb()
    assert len(content) < 12_000
    started = time.monotonic()
    result = run_limited(tmp_path, content)
    assert time.monotonic() - started < 30
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "lol" * 30 not in result.stderr
    [issue] = result.stderr.strip().splitlines()
    assert "(yaml): with its aliases expanded this stands for more than 50,000 values" in issue
    assert line_no(issue) == 7  # a5: the first anchor standing for more than 50,000 values


def test_an_alias_that_contains_itself_is_refused(tmp_path: Path) -> None:
    code, lines = check_config(tmp_path, GOOD.replace('start: "08:00"', "start: &me [1, *me]", 1))
    assert code == 1 and "an alias refers to the value it is part of" in lines[0]


def test_many_aliases_are_refused(tmp_path: Path) -> None:
    aliases = "\n".join(f"  - *d{i % 3}" for i in range(201))
    content = GOOD + "\nx: [&d0 a, &d1 b, &d2 c]\ny:\n" + aliases + "\n"
    code, lines = check_config(tmp_path, content)
    assert code == 1 and "more than 200 aliases" in lines[0]


def test_a_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    dates = "".join(f"      - 2026-{m:02d}-{d:02d}\n" for m in range(1, 13) for d in range(1, 29))
    content = GOOD.replace("    closed_dates: []               # e.g. [\"2026-12-30\"] for a client's own closure\n",
                           "    closed_dates:\n" + dates * 8000, 1)  # fmt: skip
    assert len(content) > 50_000_000
    result = run_limited(tmp_path, content)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [issue] = result.stderr.strip().splitlines()
    assert issue.endswith(f":1: (file): larger than {MAX_CONFIG_BYTES >> 20} MiB")


def test_many_values_under_the_size_limit_are_refused(tmp_path: Path) -> None:
    dates = "".join(f"      - 2026-{m:02d}-{d:02d}\n" for m in range(1, 13) for d in range(1, 29))
    content = GOOD.replace("    closed_dates: []", "    closed_dates:\n" + dates * 150 + "    #", 1)
    assert len(content) < MAX_CONFIG_BYTES
    code, lines = check_config(tmp_path, content)
    assert code == 1 and "more than 50,000 values" in lines[0]


def test_a_long_value_is_never_echoed_whole(tmp_path: Path) -> None:
    long = "Q" * 100_000
    for old, new in (
        ("timezone: Europe/Samara", f"timezone: {long}"),
        ('start: "08:00"', f'start: "{long}"'),
        ("ring_timeout: 30s", f"ring_timeout: {long}"),
        ("holidays: RU                     # the", f"holidays: {long}                     # the"),
        ('provider: simulated\n    caller_id: "+73412000001"', f'provider: {long}\n    caller_id: "+73412000001"'),
    ):
        code, lines = check_config(tmp_path, GOOD.replace(old, new, 1))
        assert code == 1 and all(len(ln) < 600 for ln in lines), [len(ln) for ln in lines]
        assert "Q" * 100 not in "".join(lines)


# ---------------------------------------------------------------- item 7: providers


def with_provider(settings: str) -> str:
    return GOOD.replace("providers:\n  simulated:\n", "providers:\n" + settings + "  simulated:\n", 1)


def test_simulated_settings_errors_are_located(tmp_path: Path) -> None:
    broken = GOOD.replace("answer_rate: 0.55", "answer_rate: [1, 2]").replace(
        "ring_seconds: [4, 25]", "ring_seconds: [25, 4]\n    colour: blue"
    )
    code, lines = check_config(tmp_path, broken)
    assert code == 1
    rate = only(lines, "providers.simulated.answer_rate", "Input should be a valid number")
    assert line_no(rate) == broken[: broken.index("answer_rate: [1, 2]")].count("\n") + 1
    colour = only(lines, "providers.simulated.colour", "unknown setting for a simulated provider")
    assert line_no(colour) == broken[: broken.index("colour: blue")].count("\n") + 1
    assert "blue" not in "\n".join(lines) and "input_value" not in "\n".join(lines)


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        (f"  sim2:\n    type: simulated\n    api_key: {SECRET}\n", "providers.sim2.api_key"),
        (f"  tw:\n    type: twilio\n    public_base_url: https://x.example\n    auth_token: {SECRET}\n",
         "providers.tw.auth_token"),
        (f"  tw:\n    type: twilio\n    public_base_url: https://x.example\n    machine_detection:\n"
         f"      password: {SECRET}\n", "providers.tw.machine_detection.password"),
        (f"  pbx:\n    type: sip\n    private_key: {SECRET}\n", "providers.pbx.private_key"),
        (f"  third:\n    type: thirdparty\n    credentials: {SECRET}\n", "providers.third.credentials"),
        (f"  tw:\n    type: twilio\n    public_base_url: https://user:{SECRET}@x.example\n",
         "providers.tw.public_base_url"),
        (f"  tw:\n    type: twilio\n    public_base_url: https://x.example\n    api_base_url: ftp://u:{SECRET}@h\n",
         "providers.tw.api_base_url"),
    ],
    ids=["simulated-api-key", "twilio-token", "nested-password", "sip-private-key", "third-party", "url-userinfo",
         "url-error"],
)  # fmt: skip
def test_a_secret_in_provider_settings_is_refused_and_never_printed(tmp_path: Path, settings: str, path: str) -> None:
    broken = with_provider(settings)
    code, lines = check_config(tmp_path, broken)
    assert code == 1
    assert SECRET not in "\n".join(lines)
    issue = only(lines, path, "secrets come from the environment; name the variable as")
    assert line_no(issue) == broken[: broken.index(SECRET)].count("\n") + 1


class ThirdPartySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token_env: str
    region: str
    retries: int = 3


class ThirdParty:
    """A provider from another package: validates with pydantic, then fails in its own
    words, quoting the secret its settings name (what a careless one might do)."""

    def __init__(self, name: str, settings: dict[str, Any], clock: Any):
        s = ThirdPartySettings.model_validate(dict(settings))
        if s.region == "mars":
            raise RuntimeError(f"cannot log in with {os.environ[s.token_env]} to region mars\nsecond line\n\n")


class _EntryPoint:
    def load(self) -> type[ThirdParty]:
        return ThirdParty


@pytest.fixture
def third_party(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = providers.base.provider_types()  # the built-in types are entry points too
    monkeypatch.setattr(providers.base, "provider_types", lambda: {**installed, "acme": _EntryPoint()})
    monkeypatch.setenv("ACME_TOKEN", SECRET)


@pytest.mark.usefixtures("third_party")
def test_third_party_provider_errors_are_located_and_masked(tmp_path: Path) -> None:
    broken = with_provider("  acme:\n    type: acme\n    token_env: ACME_TOKEN\n    region: earth\n    retries: many\n")
    code, lines = check_config(tmp_path, broken)
    assert code == 1
    issue = only(lines, "providers.acme.retries", "Input should be a valid integer")
    assert line_no(issue) == broken[: broken.index("retries: many")].count("\n") + 1
    assert "many" not in "\n".join(lines)

    broken = with_provider("  acme:\n    type: acme\n    token_env: ACME_TOKEN\n    region: mars\n")
    code, lines = check_config(tmp_path, broken)
    assert code == 1
    assert SECRET not in "\n".join(lines)
    first = only(lines, "providers.acme", "cannot log in with *** to region mars")
    assert line_no(first) == broken[: broken.index("  acme:")].count("\n") + 1
    assert len(lines) == 2 and "second line" in lines[1]


async def test_reload_reports_provider_errors_and_keeps_the_old_config(tmp_path: Path) -> None:
    from dialer.service import Service

    path = tmp_path / "dialer.yaml"
    path.write_text(GOOD.replace("../var/", "var/"), encoding="utf-8")
    service = Service(path)
    before = service.config
    path.write_text(GOOD.replace("answer_rate: 0.55", f"answer_rate: [1, 2]\n    api_key2: {SECRET}"), encoding="utf-8")
    with structlog.testing.capture_logs() as logs:
        await service.reload()
    assert service.config is before
    [event] = [e for e in logs if e["event"] == "reload_rejected"]
    assert any(
        re.match(rf"{re.escape(str(path))}:\d+: providers\.simulated\.api_key2: secrets", e) for e in event["errors"]
    )
    assert SECRET not in repr(logs)
    path.write_text(
        GOOD.replace("../var/", "var/").replace("answer_rate: 0.55", "answer_rate: [1, 2]"), encoding="utf-8"
    )
    with structlog.testing.capture_logs() as logs:
        await service.reload()
    [event] = [e for e in logs if e["event"] == "reload_rejected"]
    assert any("providers.simulated.answer_rate: Input should be a valid number" in e for e in event["errors"])
    assert service.config is before


def test_run_refuses_bad_provider_settings_before_starting(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(GOOD.replace("answer_rate: 0.55", "answer_rate: [1, 2]"), encoding="utf-8")
    result = CliRunner().invoke(main, ["run", "--config", str(path)])
    assert result.exit_code == 1
    assert [ln for ln in result.output.splitlines() if ISSUE.match(ln)] == result.output.strip().splitlines()
    assert "providers.simulated.answer_rate" in result.output


# ---------------------------------------------------------------- item 8: no database password


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://dialer:{SECRET}@db.internal/dialer",
        f"postgres://dialer:{SECRET}@db.internal:5432/dialer?schema=q",
        f"postgresql://db.internal/dialer?user=dialer&password={SECRET}",
        f"host=db.internal user=dialer password={SECRET} dbname=dialer",
    ],
)
def test_a_database_password_in_the_config_is_refused(tmp_path: Path, url: str) -> None:
    broken = GOOD.replace("  path: ../var/dialer.db", f'  url: "{url}"', 1)
    code, lines = check_config(tmp_path, broken)
    assert code == 1
    issue = only(lines, "storage.url", "PGPASSWORD")
    assert line_no(issue) == broken[: broken.index("url:")].count("\n") + 1
    assert SECRET not in "\n".join(lines)


@pytest.mark.parametrize(
    "url", ["postgresql://dialer@db.internal:5432/dialer", "postgresql://dialer:@db.internal/dialer?schema=x",
            "postgresql:///dialer?host=/run/postgresql&passfile=/etc/dialer/pgpass"],
)  # fmt: skip
def test_a_database_url_without_password_is_accepted(url: str) -> None:
    config = parse_config(GOOD.replace("  path: ../var/dialer.db", f'  url: "{url}"', 1))
    assert config.storage.url == url


# ---------------------------------------------------------------- fuzzing


HOSTILE_VALUES = [
    ".inf", "-.inf", ".nan", "1.0e+300", '"99999999999999d"', "9" * 500, "~", "[]", "{}", "[[[[[[]]]]]]",
    "*nope", "&a x", "!!binary zz", "!!str", "!!int x", "2026-02-30", "{a: [b, {c: d}]}", '"' + "x" * 3000 + '"',
    "Europe", "Asia/../../etc", "-1", "0", "true", "'24:00'", "'25:61'", "mon-sun", "[mon-xyz]", "\t", "|",
    ">-\n  folded", "[1, 2]", "'\\x00'", "@x", "`x", "%TAG", "? complex\n: key", "&a [*a]",
]  # fmt: skip


def mutate(text: str, data: st.DataObject) -> bytes:
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        kind = data.draw(st.sampled_from(["value", "delete", "duplicate", "indent", "text", "bytes"]))
        line = lines[i]
        if kind == "value" and ":" in line:
            key = line.split(":", 1)[0]
            lines[i] = key + ": " + data.draw(st.sampled_from(HOSTILE_VALUES) | st.text(max_size=20))
        elif kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, line)
        elif kind == "indent":
            lines[i] = " " * data.draw(st.integers(0, 9)) + line.lstrip()
        elif kind == "text":
            lines.insert(i, data.draw(st.text(max_size=30)))
        if not lines:
            lines = [""]
    raw = "\n".join(lines).encode("utf-8", errors="surrogatepass")
    if data.draw(st.booleans()):
        at = data.draw(st.integers(0, len(raw)))
        raw = raw[:at] + data.draw(st.binary(max_size=6)) + raw[at:]
    return raw


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_mutations_of_the_example_config(tmp_path: Path, data: st.DataObject) -> None:
    content = mutate(GOOD, data)
    started = time.monotonic()
    check_config(tmp_path, content)
    assert time.monotonic() - started < 20


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=300))
def test_any_text_is_a_config_or_located_errors(text: str) -> None:
    try:
        parse_config(text, "c.yaml")
    except ConfigError as exc:
        for issue in exc.issues:
            assert ISSUE.match(str(issue)) and "\n" not in str(issue) and len(issue.message) <= 400
