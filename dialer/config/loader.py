"""YAML config file -> `DialerConfig`, every problem as ``FILE:LINE: field.path: message``.

Supervisors edit the YAML; each error names the line to fix. Whatever the file holds,
loading ends in a config or in ConfigError issues, never in another exception: the file's
size, nesting, aliases and alias-expanded values are bounded before anything is built,
and a message quotes at most a short cut of a value (`show`), never a secret
(secret-named keys and URL passwords are refused unread).

Every reader of a config goes through `load_config` (check-config, start-up, the SIGHUP
reload, each command), so all of them apply the same bounds and report the same lines;
a reload that fails keeps the running config (the service's part).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dialer.config.errors import ConfigError, ConfigIssue
from dialer.config.models import Campaign, DialerConfig
from dialer.config.values import URL_PASSWORD, is_secret_key, path_part, secret_error, secret_keys, show, value_at

# ---------------------------------------------------------------- loading with locations


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """Follow a pydantic error location through the YAML node tree to a line number."""
    line = node.start_mark.line + 1 if node is not None else 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    line = k.start_mark.line + 1
                    node = v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _names(names: Any, limit: int = 10) -> str:
    listed = sorted(str(n) for n in names)
    text = ", ".join(show(n)[1:-1] for n in listed[:limit])
    return text + (f", ... ({len(listed)} in all)" if len(listed) > limit else "")


def _reference_errors(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """Cross-references (campaign -> provider/schedule), checked on the raw mapping so they
    are reported together with field errors instead of only after those are fixed."""
    out: list[tuple[tuple[Any, ...], str]] = []
    providers = data.get("providers")
    provider_names = set(providers) if isinstance(providers, dict) else {"simulated"}
    raw_schedules, raw_campaigns = data.get("schedules"), data.get("campaigns")
    schedules: dict[Any, Any] = raw_schedules if isinstance(raw_schedules, dict) else {}
    campaigns: list[Any] = raw_campaigns if isinstance(raw_campaigns, list) else []
    seen: set[str] = set()
    for i, c in enumerate(campaigns):
        if not isinstance(c, dict):
            continue
        name = c.get("name")
        if isinstance(name, str):
            if name in seen:
                out.append((("campaigns", i, "name"), f"duplicate campaign name {show(name)}"))
            seen.add(name)
        prov = c.get("provider")
        if isinstance(prov, str) and prov not in provider_names:
            out.append(
                (("campaigns", i, "provider"), f"unknown provider {show(prov)} (defined: {_names(provider_names)})")
            )
        out.extend(_message_errors(c, i, providers))
        sched = c.get("schedule")
        if isinstance(sched, str) and sched not in schedules:
            defined = _names(schedules) or "none"
            out.append((("campaigns", i, "schedule"), f"unknown schedule {show(sched)} (defined: {defined})"))
    default = data.get("default_schedule")
    if isinstance(default, str) and default not in schedules:
        out.append((("default_schedule",), f"unknown schedule {show(default)}"))
    if isinstance(providers, dict):
        for name, settings in providers.items():
            if isinstance(settings, dict):
                for path in secret_keys(settings):
                    out.append((("providers", name, *path), secret_error(path, value_at(settings, path))))
    return out


def _message_errors(campaign: dict[str, Any], i: int, providers: Any) -> list[tuple[tuple[Any, ...], str]]:
    """issue 13: a power/predictive campaign's information message in the form its
    provider plays: text for Twilio's <Say>, a WAV file for SIP (no speech synthesis)."""
    mode = campaign.get("dial_mode")
    if mode not in ("power", "predictive") or not isinstance(providers, dict):
        return []
    settings = providers.get(campaign.get("provider"))
    kind = settings.get("type") if isinstance(settings, dict) else None
    if kind == "sip" and not campaign.get("information_audio"):
        return [
            (
                ("campaigns", i, "dial_mode"),
                f"dial_mode {mode} on a SIP provider needs information_audio (an 8 kHz mono WAV file: "
                "SIP cannot say the information_message text)",
            )
        ]
    if kind == "twilio" and not str(campaign.get("information_message") or "").strip():
        return [
            (
                ("campaigns", i, "dial_mode"),
                f"dial_mode {mode} on a Twilio provider needs information_message (the text Twilio says)",
            )
        ]
    return []


# Bounds on a config file: a supervisor's config is a few hundred lines; these stop an
# alias bomb ("billion laughs"), deep nesting or a huge file before they cost memory or
# time, wherever a config is read (check-config, run, SIGHUP reload, every command).
MAX_CONFIG_BYTES = 1 << 20
MAX_DEPTH = 32  # nested mappings/lists
MAX_ALIASES = 200  # uses of *anchor
MAX_VALUES = 50_000  # values (scalars, mappings, lists) once every alias is expanded


class _Loader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """The safe loader; a scalar it cannot construct (2026-13-45, an int of 5000 digits)
    is a YAML error at that scalar's line instead of a bare ValueError."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value: {exc}", node.start_mark
            ) from None


def _yaml_issue(filename: str, text: str, exc: yaml.YAMLError) -> ConfigIssue:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        line = mark.line + 1
    elif isinstance(getattr(exc, "position", None), int):  # ReaderError: a character offset
        line = text.count("\n", 0, exc.position) + 1  # type: ignore[attr-defined]
    else:
        line = 1
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc).splitlines()[0]
    return ConfigIssue(filename, line, "(yaml)", str(problem))


def _check_shape(text: str, filename: str) -> None:
    """Depth, alias uses and the number of values, from the parser's events (no tree is
    built yet, and the event parser does not recurse)."""

    def fail(event: Any, message: str) -> ConfigError:
        return ConfigError([ConfigIssue(filename, event.start_mark.line + 1, "(yaml)", message)])

    depth = aliases = values = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            values += 1
            if depth > MAX_DEPTH:
                raise fail(event, f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.ScalarEvent):
            values += 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise fail(event, f"more than {MAX_ALIASES} aliases (*name)")
        if values > MAX_VALUES:
            raise fail(event, f"more than {MAX_VALUES:,} values; a config is not a data file")


def _expanded_size(root: yaml.Node, filename: str) -> None:
    """Count the values the document stands for with every alias expanded (an alias is
    the same node object again), so a few aliases of aliases cannot stand for a billion."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        known = sizes.get(key)
        if known is not None:
            return known
        if key in open_:
            raise ConfigError(
                [
                    ConfigIssue(
                        filename, node.start_mark.line + 1, "(yaml)", "an alias refers to the value it is part of"
                    )
                ]
            )
        open_.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
                if total > MAX_VALUES:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item)
                if total > MAX_VALUES:
                    break
        open_.discard(key)
        if total > MAX_VALUES:
            raise ConfigError(
                [
                    ConfigIssue(
                        filename,
                        node.start_mark.line + 1,
                        "(yaml)",
                        f"with its aliases expanded this stands for more than {MAX_VALUES:,} values",
                    )
                ]
            )
        sizes[key] = total
        return total

    size(root)


def _compose(text: str, filename: str) -> tuple[yaml.Node | None, Any]:
    """(node tree, data) of YAML text within the bounds, or ConfigError with the line."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError([ConfigIssue(filename, 1, "(file)", f"larger than {MAX_CONFIG_BYTES >> 20} MiB")])
    try:
        _check_shape(text, filename)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _expanded_size(node, filename)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_issue(filename, text, exc)]) from None
    except RecursionError:  # not expected within MAX_DEPTH; still one line, not a traceback
        raise ConfigError([ConfigIssue(filename, 1, "(yaml)", "nested too deeply")]) from None
    return node, data


def _located(errors: list[Any], prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """pydantic errors -> (location, message), without the input values pydantic keeps."""
    out = []
    for err in errors:
        loc = prefix + tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        out.append((loc, err["msg"].removeprefix("Value error, ")))
    return out


def _issues(filename: str, node: yaml.Node | None, located: list[tuple[tuple[Any, ...], str]]) -> list[ConfigIssue]:
    issues = [
        ConfigIssue(filename, _line_of(node, loc), ".".join(path_part(p) for p in loc) or "(root)", msg)
        for loc, msg in located
    ]
    return sorted(issues, key=lambda i: i.line)


def _parse(text: str, filename: str) -> tuple[DialerConfig, yaml.Node | None]:
    node, data = _compose(text, filename)
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(filename, 1, "(root)", "the config must be a mapping")])
    located: list[tuple[tuple[Any, ...], str]] = []
    config: DialerConfig | None = None
    try:
        config = DialerConfig.model_validate(data)
    except (ValueError, ArithmeticError, TypeError, RecursionError) as exc:
        if not isinstance(exc, ValidationError):
            # A validator that failed in a way it should have reported (a bug): still one
            # located line rather than a traceback, and it names what went wrong.
            raise ConfigError(
                [ConfigIssue(filename, 1, "(root)", f"cannot check the config: {type(exc).__name__}: {exc}")]
            ) from exc
        located.extend(
            (loc, msg)
            for loc, msg in _located(exc.errors(include_input=False, include_url=False))
            if "secrets come from the environment" not in msg  # located by _reference_errors
        )
    located.extend(_reference_errors(data))
    if located:
        raise ConfigError(_issues(filename, node, located))
    assert config is not None
    return config, node


def parse_config(text: str, filename: str = "<config>") -> DialerConfig:
    """Parse and validate YAML text; raise ConfigError listing every problem with its line."""
    return _parse(text, filename)[0]


def _read(p: Path) -> str:
    try:
        with open(p, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(p), 0, "(file)", exc.strerror or str(exc))]) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError([ConfigIssue(str(p), 1, "(file)", f"larger than {MAX_CONFIG_BYTES >> 20} MiB")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            [
                ConfigIssue(
                    str(p),
                    line,
                    "(file)",
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x}, column {column}); save it as UTF-8",
                )
            ]
        ) from None


def load_config(path: str | Path, *, check_providers: bool = False) -> DialerConfig:
    """Read and validate a config file; ConfigError lists every problem as FILE:LINE.

    With `check_providers`, each provider is also built once from its settings (no
    connection is made, no secret is read) so that their errors are reported the same
    way (check-config, start-up, SIGHUP reload)."""
    p = Path(path)
    config, node = _parse(_read(p), str(p))
    if check_providers:
        issues = provider_issues(config, str(p), node)
        if issues:
            raise ConfigError(issues)
    # The SQLite path is relative to the config file, so `--config` works from any directory.
    base = p.parent
    updates: dict[str, Path] = {}
    if config.storage.path is not None and not config.storage.path.is_absolute():
        updates["path"] = (base / config.storage.path).resolve()
    if not config.storage.reports_dir.is_absolute():
        updates["reports_dir"] = (base / config.storage.reports_dir).resolve()
    if updates:
        config = config.model_copy(update={"storage": config.storage.model_copy(update=updates)})
    # The information audio too (issue 13); with `check_providers` it must be a playable WAV.
    campaigns = [_audio_beside(c, base) for c in config.campaigns]
    if check_providers:
        issues = _audio_issues(campaigns, config, str(p), node)
        if issues:
            raise ConfigError(issues)
    return config.model_copy(update={"campaigns": campaigns})


def _audio_beside(campaign: Campaign, base: Path) -> Campaign:
    audio = campaign.information_audio
    if audio is None or audio.is_absolute():
        return campaign
    return campaign.model_copy(update={"information_audio": (base / audio).resolve()})


def _audio_issues(
    campaigns: list[Campaign], config: DialerConfig, filename: str, node: yaml.Node | None
) -> list[ConfigIssue]:
    """A SIP campaign's information_audio must be a WAV the SIP provider can play."""
    from providers.sip.settings import check_prompt

    located: list[tuple[tuple[Any, ...], str]] = []
    for i, c in enumerate(campaigns):
        provider = config.providers.get(c.provider)
        if c.information_audio is None or provider is None or provider.type != "sip":
            continue
        try:
            check_prompt(c.information_audio)
        except ValueError as exc:
            located.append((("campaigns", i, "information_audio"), str(exc).replace("prompt", "information_audio", 1)))
    return _issues(filename, node, located)


def provider_issues(config: DialerConfig, filename: str, node: yaml.Node | None = None) -> list[ConfigIssue]:
    """Build every provider once and turn what it refuses into located issues.

    A provider's own error is read as pydantic errors or `.issues` (location, message)
    when it offers them; any other error becomes lines under ``providers.NAME``, cut short,
    with every value of a secret-named setting and of the variables its ``*_env``
    settings name masked (a third-party provider may quote them)."""
    from dialer.clock import SystemClock
    from providers.base import create_provider

    located: list[tuple[tuple[Any, ...], str]] = []
    for name, p in config.providers.items():
        prefix = ("providers", name)
        try:
            create_provider(name, p.type, p.settings, SystemClock())
        except ValidationError as exc:
            for loc, msg in _located(exc.errors(include_input=False, include_url=False), prefix):
                if msg == "Extra inputs are not permitted":
                    msg = f"unknown setting for a {p.type} provider"
                located.append((loc, msg))
        except Exception as exc:
            issues = getattr(exc, "issues", None)
            if isinstance(issues, list) and all(isinstance(i, tuple) and len(i) == 2 for i in issues):
                located.extend((prefix + tuple(loc), str(msg)) for loc, msg in issues)
                continue
            if isinstance(exc, LookupError) and "is not installed" in str(exc):
                located.append(((*prefix, "type"), str(exc)))
                continue
            lines = [ln.strip() for ln in (str(exc) or type(exc).__name__).splitlines() if ln.strip()]
            for ln in lines[:5]:
                for junk in (f"providers.{name}.", f"providers.{name}: "):
                    ln = ln.removeprefix(junk)
                located.append((prefix, _mask(ln, p.settings)))
    if node is None:
        node = _node_of(filename)
    return _issues(filename, node, located)


def _mask(text: str, settings: Mapping[str, Any]) -> str:
    secrets: set[str] = set()
    for key, value in settings.items():
        if not isinstance(value, str):
            continue
        if isinstance(key, str) and key.endswith("_env"):
            env = os.environ.get(value)
            if env and len(env) >= 4:
                secrets.add(env)
        elif isinstance(key, str) and is_secret_key(key) and len(value) >= 4:
            secrets.add(value)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return URL_PASSWORD.sub(r"\1***@", text)


def _node_of(path: str | Path) -> yaml.Node | None:
    try:
        return _compose(_read(Path(path)), str(path))[0]
    except ConfigError:
        return None


def line_of(path: str | Path, loc: tuple[Any, ...]) -> int:
    """The line of a field in a config file (for errors found after validation)."""
    return _line_of(_node_of(path), loc)
