"""One CLI dialect: `--config` and `--format` everywhere, help on every option and
argument, `--version`, `python -m dialer`; the old spellings still work, hidden."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dialer.cli import main
from tests.support.paths import EXAMPLE_CLIENTS, EXAMPLE_CONFIG


def cli(*args: str, env: dict[str, str] | None = None) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), env=env)


def commands(group: click.Group, path: str = "dialer") -> Iterator[tuple[str, click.Command]]:
    yield path, group
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        assert sub is not None
        if isinstance(sub, click.Group):
            yield from commands(sub, f"{path} {name}")
        else:
            yield f"{path} {name}", sub


def test_every_command_option_and_argument_has_help() -> None:
    missing = []
    for path, cmd in commands(main):
        if not (cmd.help or "").strip():
            missing.append(path)
        for param in cmd.params:
            if not (getattr(param, "help", None) or "").strip():
                missing.append(f"{path} {param.name}")
    assert missing == []
    # The walk saw the whole tree (a walk of nothing would pass too).
    assert {"dialer import", "dialer report", "dialer dispose", "dialer run"} <= {p for p, _ in commands(main)}


def test_every_command_that_reads_a_config_takes_it_as_config() -> None:
    without = {"dialer", "dialer config-schema"}
    for path, cmd in commands(main):
        if path not in without and not isinstance(cmd, click.Group):
            assert any("--config" in getattr(p, "opts", []) for p in cmd.params), path


def test_version_comes_from_the_package_metadata() -> None:
    result = cli("--version")
    assert result.exit_code == 0 and result.output.strip() == f"dialer {version('dialer')}"


def test_python_dash_m_dialer_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dialer", "check-config", "--config", str(EXAMPLE_CONFIG)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{EXAMPLE_CONFIG}: ok (")
    done = subprocess.run([sys.executable, "-m", "dialer", "--version"], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == f"dialer {version('dialer')}"


# ---------------------------------------------------------------- --config


def test_check_config_old_and_new_spellings_agree() -> None:
    new = cli("check-config", "--config", str(EXAMPLE_CONFIG))
    old = cli("check-config", str(EXAMPLE_CONFIG))
    assert new.exit_code == old.exit_code == 0
    assert new.output == old.output and "ok (3 campaigns" in new.output


def test_the_config_comes_from_dialer_config_when_not_given() -> None:
    result = cli("check-config", env={"DIALER_CONFIG": str(EXAMPLE_CONFIG)})
    assert result.exit_code == 0 and result.output.startswith(f"{EXAMPLE_CONFIG}: ok")


def test_the_config_given_twice_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    for args in (
        ["check-config", str(EXAMPLE_CONFIG), "--config", str(EXAMPLE_CONFIG)],
        ["import", str(EXAMPLE_CONFIG), str(EXAMPLE_CLIENTS), "--config", str(EXAMPLE_CONFIG), "--db", str(db)],
    ):
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert result.output.strip().splitlines() == [
            f"Error: the config is given twice ({EXAMPLE_CONFIG} and --config {EXAMPLE_CONFIG}); "
            "give it once, as --config FILE"
        ]
    assert not db.exists()


def test_import_takes_the_config_as_option_and_the_csv_positionally(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    new = cli("import", "--config", str(EXAMPLE_CONFIG), str(EXAMPLE_CLIENTS), "--db", str(db), "--no-progress")
    assert new.exit_code == 0 and "120 new" in new.output, new.output
    old = cli("import", str(EXAMPLE_CONFIG), str(EXAMPLE_CLIENTS), "--db", str(db), "--no-progress")
    assert old.exit_code == 0 and "120 updated" in old.output, old.output
    three = cli("import", str(EXAMPLE_CONFIG), str(EXAMPLE_CLIENTS), str(EXAMPLE_CLIENTS), "--db", str(db))
    assert three.exit_code == 2 and "import takes one CSV_FILE" in three.output


def test_old_spellings_are_hidden_from_the_help() -> None:
    check = cli("check-config", "--help").output
    assert "Usage: dialer check-config [OPTIONS]\n" in check and "legacy" not in check.lower()
    imp = cli("import", "--help").output
    assert "Usage: dialer import [OPTIONS] CSV_FILE\n" in imp
    report = cli("report", "--help").output
    assert "--format [table|json|csv|xlsx|csv-excel]" in report
    assert "--json" not in report and "--csv" not in report


# ---------------------------------------------------------------- --format


@pytest.fixture(scope="module")
def simulated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("sim") / "sim.db"
    result = cli(
        "simulate", "--config", str(EXAMPLE_CONFIG), "--clients", str(EXAMPLE_CLIENTS), "--from", "2026-12-01",
        "--db", str(db),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return db


@pytest.mark.parametrize(
    ("command", "new", "old"),
    [
        (["report", "--date", "2026-12-01"], "json", "--json"),
        (["report", "--date", "2026-12-01"], "csv", "--csv"),
        (["plan", "--date", "2026-12-01"], "json", "--json"),
    ],
)
def test_format_and_its_old_flag_print_the_same(simulated_db: Path, command: list[str], new: str, old: str) -> None:
    where = ["--config", str(EXAMPLE_CONFIG), "--db", str(simulated_db)]
    a = cli(*command, *where, "--format", new)
    b = cli(*command, *where, old)
    both = cli(*command, *where, "--format", new, old)  # the same format twice is not a conflict
    assert a.exit_code == b.exit_code == both.exit_code == 0, a.output
    assert a.output == b.output == both.output
    if new == "json":
        assert isinstance(json.loads(a.output), list) and json.loads(a.output)
    else:
        assert a.output.startswith("date,campaign,")


def test_status_format_json(simulated_db: Path) -> None:
    result = cli("status", "--config", str(EXAMPLE_CONFIG), "--db", str(simulated_db), "--format", "json")
    assert result.exit_code == 0 and {s["campaign"] for s in json.loads(result.output)} == {"cold", "warm", "care"}
    table = cli("status", "--config", str(EXAMPLE_CONFIG), "--db", str(simulated_db))
    assert table.exit_code == 0 and table.output.startswith("cold")


@pytest.mark.parametrize(
    ("flags", "said"),
    [(["--json", "--csv"], "--json and --csv"), (["--format", "table", "--json"], "--format table and --json")],
)
def test_two_formats_at_once_are_refused_in_one_line(simulated_db: Path, flags: list[str], said: str) -> None:
    result = cli("report", "--config", str(EXAMPLE_CONFIG), "--db", str(simulated_db), *flags)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"Error: {said} together: choose one output format with --format"]


def test_a_format_a_command_does_not_offer_is_a_usage_error(simulated_db: Path) -> None:
    result = cli("calls", "--config", str(EXAMPLE_CONFIG), "--db", str(simulated_db), "--format", "table")
    assert result.exit_code == 2 and "'table' is not one of 'csv', 'jsonl'" in result.output
