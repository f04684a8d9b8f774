"""One typed settings model, read from ``[tool.riskhints]`` in ``pyproject.toml`` (kebab-case
keys, like ruff), and later from the editor (camelCase keys on the wire).

Sources, lowest first: defaults < pyproject < initializationOptions < workspace/configuration.
An unknown key or a bad value is a :class:`ConfigError` naming the key and where it came from.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import safe_read
from .analysis.finding import Severity
from .analysis.options import AnalysisOptions
from .analysis.suppressions import is_valid_rule_id
from .provenance.patterns import pattern_problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".riskhints",
    "__pycache__",
    "node_modules",
    "site-packages",
    "build",
    "dist",
)

DIAGNOSTIC_MODES = ("auto", "push")
INFERENCE_MODES = ("jedi", "off")
SCOPES = ("all", "ai", "changed")
_RULE_PREFIX = re.compile(r"^RH\d{0,3}$")


class ConfigError(ValueError):
    """A bad setting: the message names the key and the file (or source) it came from."""


@dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, Severity] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    extra_blocking_calls: tuple[str, ...] = ()
    inference: str = "jedi"  # "jedi": type receivers the syntax cannot (analysis.inference)
    # The project's environment (analysis.project): an interpreter, or an environment folder.
    python: str = ""
    venv: str = ""
    cache: bool = True
    # Editor settings (also accepted in pyproject, where they are simply unused by the CLI).
    debounce_ms: int = 300
    diagnostic_mode: str = (
        "auto"  # "auto": pull when the client can, else push; "push": always push
    )
    # Editor: analyse open documents with the folder's other modules (indexed in the background).
    workspace_index: bool = True
    failure_log: str = ".riskhints/failures.jsonl"  # relative to the workspace
    stress_test_dir: str = "tests/stress"  # generated stress tests, relative to the workspace
    # Provenance: which code is AI-suggested (see riskhints.provenance).
    scope: str = "all"  # "all" | "ai" (AI-suggested code only) | "changed" (AI or changed vs base)
    base: str = "HEAD"  # the git ref "changed" compares against
    provenance_edits: bool = True  # bulk insertions seen by the server count as AI-suggested
    provenance_git: bool = True  # lines of commits marked as AI-authored (git blame)
    provenance_markers: bool = True  # "# riskhints: ai-begin" / "ai-end" comments
    ai_commit_patterns: tuple[str, ...] = ()  # regexes; empty: the built-in assistant markers
    bulk_insert_min_lines: int = 2  # one change inserting this many non-blank lines ...
    bulk_insert_min_chars: int = 60  # ... or this many characters is AI-suggested

    def analysis_options(self) -> AnalysisOptions:
        return AnalysisOptions(
            select=self.select,
            ignore=self.ignore,
            severity=dict(self.severity),
            extra_blocking_calls=frozenset(self.extra_blocking_calls),
            inference=self.inference,
        )

    def merged(self, overrides: Mapping[str, Any], source: str) -> Settings:
        """A copy with ``overrides`` (snake_case keys, already validated) applied."""
        return dataclasses.replace(self, **dict(overrides))


#: What each setting means, for docs/settings.md (a test fails when a field has no entry here
#: or when the committed page drifts from what :func:`settings_markdown` renders).
SETTING_DOCS: dict[str, tuple[str, str]] = {
    "select": ("list of rule ids or prefixes", "only these rules (empty: every rule)"),
    "ignore": ("list of rule ids or prefixes", "skip these rules"),
    "severity": ("table: rule id = error/warning/info/hint", "re-grade a rule"),
    "exclude": ("list of globs", "paths not walked (a bare name matches any path part)"),
    "extra_blocking_calls": (
        "list of qualified names (`mod.*` allowed)",
        "more blocking APIs, e.g. `vendor.sdk.fetch_all`",
    ),
    "inference": (
        "`jedi` or `off`",
        "static type inference (never runs your code) for receivers the syntax cannot type, "
        "e.g. `self.client` set from a helper returning a `requests.Session`",
    ),
    "python": (
        "path to an interpreter",
        "the project's Python (like pyright's `pythonPath`): its site-packages are read for "
        "type inference and library look-ups, never run. Relative paths start at the folder "
        "of the settings file (the workspace folder in an editor). Empty: the `venv` setting, "
        "else `$VIRTUAL_ENV`, else `.venv` or `venv` in the project, else riskhints' own",
    ),
    "venv": (
        "path to an environment folder",
        "the project's virtual environment when `python` is empty (like pyright's "
        "`venvPath`/`venv`); relative like `python`",
    ),
    "cache": ("bool", "CLI: cache findings per file in `.riskhints/cache/` of the project root"),
    "debounce_ms": ("integer, ms", "editor: wait this long after a keystroke before analysing"),
    "diagnostic_mode": (
        "`auto` or `push`",
        "editor: `auto` uses pull diagnostics when the client supports them; `push` always "
        "pushes (read at start-up)",
    ),
    "workspace_index": (
        "bool",
        "editor: index the folder's modules in the background and follow calls into them "
        "(off: each open document is analysed alone)",
    ),
    "failure_log": (
        "path inside the workspace",
        "where `riskhints failures` and the editor log AI failures",
    ),
    "stress_test_dir": (
        "folder inside the workspace",
        'where `riskhints stress` and "Insert stress test" write generated tests',
    ),
    "scope": (
        "`all`, `ai` or `changed`",
        "report everything, only AI-suggested code, or AI-suggested or changed code",
    ),
    "base": ("git ref", "what `changed` compares against (e.g. `origin/main`)"),
    "provenance_edits": ("bool", "editor: bulk insertions count as AI-suggested"),
    "provenance_git": ("bool", "lines of commits marked as AI-authored count (git blame)"),
    "provenance_markers": ("bool", "`# riskhints: ai-begin` / `ai-end` comments count"),
    "ai_commit_patterns": (
        "list of regexes",
        "what marks a commit as AI-authored (empty: built-in trailers such as "
        "`Co-authored-by:` naming an assistant)",
    ),
    "bulk_insert_min_lines": ("integer", "editor: one change inserting this many lines is AI"),
    "bulk_insert_min_chars": ("integer", "editor: ... or this many characters"),
}


def settings_markdown() -> str:
    """docs/settings.md: every setting with its pyproject and editor spelling and default."""
    lines = [
        "# riskhints settings",
        "",
        "<!-- Generated by `riskhints settings --format markdown`; do not edit by hand. -->",
        "",
        "Sources, lowest first: defaults, `[tool.riskhints]` in `pyproject.toml` (kebab-case",
        "keys), the editor's `initializationOptions`, then `workspace/configuration` (section",
        "`riskhints`, camelCase keys). An unknown key or a bad value is an error naming the key",
        "(the CLI stops; the server logs it and keeps its defaults).",
        "",
        "| pyproject key | editor key | type | default | meaning |",
        "|---|---|---|---|---|",
    ]
    defaults = Settings()
    for f in dataclasses.fields(Settings):
        kind, meaning = SETTING_DOCS[f.name]
        head, *rest = f.name.split("_")
        camel = head + "".join(part.title() for part in rest)
        default = getattr(defaults, f.name)
        shown = _default_text(default)
        lines.append(f"| `{f.name.replace('_', '-')}` | `{camel}` | {kind} | {shown} | {meaning} |")
    return "\n".join(lines) + "\n"


def settings_json() -> str:
    """``riskhints settings --format json``: the model as data, for editor manifests (the VS Code
    extension's ``package.json`` is checked against it). ``type`` is a JSON Schema type."""
    import json
    import typing

    hints = typing.get_type_hints(Settings)
    enums = {
        "scope": list(SCOPES),
        "diagnostic_mode": list(DIAGNOSTIC_MODES),
        "inference": list(INFERENCE_MODES),
    }
    defaults = Settings()
    entries: list[dict[str, Any]] = []
    for f in dataclasses.fields(Settings):
        kind, meaning = SETTING_DOCS[f.name]
        head, *rest = f.name.split("_")
        default = getattr(defaults, f.name)
        entry: dict[str, Any] = {
            "name": f.name,
            "pyproject": f.name.replace("_", "-"),
            "editor": head + "".join(part.title() for part in rest),
            "type": _json_type(hints[f.name]),
            "default": list(default) if isinstance(default, tuple) else default,
            "kind": kind,
            "description": meaning,
        }
        if f.name in enums:
            entry["enum"] = enums[f.name]
        entries.append(entry)
    return json.dumps(entries, indent=2, default=dict) + "\n"


def _json_type(hint: Any) -> str:
    import typing

    origin = typing.get_origin(hint) or hint
    if hint is bool:
        return "boolean"
    if hint is int:
        return "integer"
    if hint is str:
        return "string"
    if origin is tuple:
        return "array"
    if origin in (dict, Mapping):
        return "object"
    raise TypeError(f"no JSON type for {hint!r}")  # pragma: no cover - a new field kind


def _default_text(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (tuple, list, dict, str)) or (isinstance(value, Mapping)):
        return "empty" if not value else f"`{value}`"
    return f"`{value}`"


def _field_names() -> dict[str, str]:
    """Accepted spellings (kebab, camel, snake) -> field name."""
    names: dict[str, str] = {}
    for f in dataclasses.fields(Settings):
        snake = f.name
        names[snake] = snake
        names[snake.replace("_", "-")] = snake
        head, *rest = snake.split("_")
        names[head + "".join(part.title() for part in rest)] = snake
    return names


def parse_settings(raw: Mapping[str, Any], source: str, base: Settings | None = None) -> Settings:
    """Validate a mapping of settings (any key spelling) and apply it on top of ``base``."""
    spellings = _field_names()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        # The command line names its overrides as the user typed them (``--select``), so a
        # message quotes the flag; a settings file's keys are looked up as written.
        name = spellings.get(key[2:] if key.startswith("--") else key)
        if name is None:
            known = ", ".join(
                sorted(f.name.replace("_", "-") for f in dataclasses.fields(Settings))
            )
            raise ConfigError(f"{source}: unknown key '{key}' (known keys: {known})")
        values[name] = _validate(name, key, value, source)
    return (base or Settings()).merged(values, source)


def _matching_rules(prefix: str) -> list[str]:
    """The rule ids a select/ignore entry or a severity key stands for (loads the registry,
    which is plain ``ast`` code: only a run that names rules pays for it)."""
    from .analysis.rules import all_rules

    return [spec.id for spec in all_rules() if spec.id.startswith(prefix)]


def _string_list(key: str, value: Any, source: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{source}: '{key}' must be a list of strings, got {value!r}")
    return tuple(value)


def _validate(name: str, key: str, value: Any, source: str) -> Any:
    if name in ("select", "ignore"):
        ids = _string_list(key, value, source)
        for rule_id in ids:
            if not _RULE_PREFIX.match(rule_id):
                raise ConfigError(
                    f"{source}: '{key}' has {rule_id!r}, which is not a rule id or prefix "
                    f"(like RH203 or RH2)"
                )
        unknown = [rule_id for rule_id in ids if not _matching_rules(rule_id)]
        if unknown:
            raise ConfigError(
                f"{source}: '{key}' has {', '.join(map(repr, unknown))}, which "
                f"{'matches' if len(unknown) == 1 else 'match'} no rule "
                f"(`riskhints rules` lists them)"
            )
        return ids
    if name in ("exclude", "extra_blocking_calls"):
        return _string_list(key, value, source)
    if name in ("python", "venv"):
        if not isinstance(value, str) or "\0" in value:
            raise ConfigError(f"{source}: '{key}' must be a path (a string), got {value!r}")
        return value.strip()
    if name == "severity":
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: '{key}' must be a table of rule id = severity")
        parsed: dict[str, Severity] = {}
        for rule_id, level in value.items():
            if not is_valid_rule_id(str(rule_id)):
                raise ConfigError(f"{source}: '{key}.{rule_id}' is not a rule id (like RH203)")
            if str(rule_id) not in _matching_rules(str(rule_id)):
                raise ConfigError(
                    f"{source}: '{key}.{rule_id}' is no rule (`riskhints rules` lists them)"
                )
            try:
                parsed[str(rule_id)] = Severity.parse(str(level))
            except ValueError as error:
                raise ConfigError(f"{source}: '{key}.{rule_id}': {error}") from None
        return parsed
    if name == "cache":
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: '{key}' must be true or false, got {value!r}")
        return value
    if name == "debounce_ms":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 60_000:
            raise ConfigError(f"{source}: '{key}' must be a whole number of ms (0-60000)")
        return value
    if name == "failure_log":
        from .failures.workspace import check_log_setting

        if not isinstance(value, str):
            raise ConfigError(f"{source}: '{key}' must be a path, got {value!r}")
        try:
            return check_log_setting(value)
        except ValueError as error:
            raise ConfigError(f"{source}: '{key}' {error}") from None
    if name == "stress_test_dir":
        from pathlib import PurePosixPath

        folder = PurePosixPath(str(value).replace("\\", "/"))
        if not isinstance(value, str) or not value or folder.is_absolute() or ".." in folder.parts:
            raise ConfigError(f"{source}: '{key}' must be a folder inside the workspace")
        return folder.as_posix()
    if name == "scope":
        if value not in SCOPES:
            scopes = ", ".join(SCOPES)
            raise ConfigError(f"{source}: '{key}' must be one of {scopes}, got {value!r}")
        return value
    if name == "base":
        if not isinstance(value, str) or not value.strip() or value.startswith("-"):
            raise ConfigError(f"{source}: '{key}' must be a git ref such as HEAD or origin/main")
        return value.strip()
    if name in ("provenance_edits", "provenance_git", "provenance_markers", "workspace_index"):
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: '{key}' must be true or false, got {value!r}")
        return value
    if name == "ai_commit_patterns":
        patterns = _string_list(key, value, source)
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ConfigError(
                    f"{source}: '{key}' has an invalid regex {pattern!r}: {error}"
                ) from None
            problem = pattern_problem(pattern)
            if problem is not None:
                raise ConfigError(f"{source}: '{key}': the regex {pattern!r} {problem}")
        return patterns
    if name in ("bulk_insert_min_lines", "bulk_insert_min_chars"):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
            raise ConfigError(f"{source}: '{key}' must be a whole number from 1 to 100000")
        return value
    if name == "inference":
        if value not in INFERENCE_MODES:
            modes = ", ".join(INFERENCE_MODES)
            raise ConfigError(f"{source}: '{key}' must be one of {modes}, got {value!r}")
        return value
    if name == "diagnostic_mode":
        if value not in DIAGNOSTIC_MODES:
            modes = ", ".join(DIAGNOSTIC_MODES)
            raise ConfigError(f"{source}: '{key}' must be one of {modes}, got {value!r}")
        return value
    raise ConfigError(f"{source}: '{key}' is not supported")  # pragma: no cover


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` that has a ``[tool.riskhints]``
    table (or the nearest one at all, which then gives the project root)."""
    start = start.resolve()
    folder = start if start.is_dir() else start.parent
    nearest: Path | None = None
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            nearest = nearest or path
            try:
                data = tomllib.loads(safe_read.read_text(path))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            if "riskhints" in data.get("tool", {}):
                return path
    return nearest


def find_settings_file(start: Path) -> Path | None:
    """The nearest settings file at or above ``start``: a ``riskhints.toml``, or a
    ``pyproject.toml`` with a ``[tool.riskhints]`` table (``riskhints.toml`` wins in the same
    folder, like ``ruff.toml`` over ``pyproject.toml``). The nearest ``pyproject.toml`` must
    parse: a :class:`ConfigError` says what is wrong with it."""
    start = start.resolve()
    folder = start if start.is_dir() else start.parent
    nearest = True
    for candidate in (folder, *folder.parents):
        own = candidate / "riskhints.toml"
        if own.is_file():
            return own
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            if nearest:
                nearest = False
                if "riskhints" in _read_toml(pyproject).get("tool", {}):
                    return pyproject
                continue
            try:
                if "riskhints" in _read_toml(pyproject).get("tool", {}):
                    return pyproject
            except ConfigError:
                continue  # a broken pyproject of an enclosing folder is not ours to report
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads(safe_read.read_text(path))
        return data
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML ({error})") from None


def load_pyproject(path: Path, base: Settings | None = None) -> Settings:
    try:
        data = tomllib.loads(safe_read.read_text(path))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML ({error})") from None
    table = data.get("tool", {}).get("riskhints", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: [tool.riskhints] must be a table")
    return parse_settings(table, f"{path} [tool.riskhints]", base)


def load_config_file(path: Path) -> Settings:
    """``--config FILE``: a pyproject.toml, or a riskhints.toml holding the table at top level."""
    if path.name == "pyproject.toml":
        return load_pyproject(path)
    try:
        data = tomllib.loads(safe_read.read_text(path))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML ({error})") from None
    table = data.get("tool", {}).get("riskhints", data) if "tool" in data else data
    return parse_settings(table, str(path))
