"""The one way riskhints runs git: read-only commands that never start a program chosen by the
repository.

A repository's ``.git/config`` (and the files it includes, and ``.gitattributes``) can name
programs that git runs as a side effect of plain reads: ``core.fsmonitor`` on every index
refresh (``ls-files``, ``diff``, ``blame``), a ``filter.<driver>.clean``/``process`` for the
files ``.gitattributes`` gives that driver, a ``diff.<driver>.textconv`` in ``blame`` and
``diff``, an external diff, a pager, ``gpg.program`` when ``log.showSignature`` is set, a
transport (``core.sshCommand``, a promisor remote's lazy fetch) ... A folder the user merely opens
must not run any of them, so every call here:

- runs the ``git`` found on the absolute entries of ``PATH`` (never one in the current or the
  workspace folder), with ``GIT_*`` variables removed from the environment, no system config,
  no terminal prompts, no optional locks, no lazy fetches;
- overrides on its command line every program-valued setting git reads: a fixed list
  (:data:`_FIXED`), and the per-driver ones (``filter.<x>.*``, ``diff.<x>.*``, ``merge.<x>``,
  ``protocol.<x>.allow``, ``gpg.<x>.program``, ...) for every driver name the effective
  configuration defines, listed first by ``git config`` (which reads config and runs nothing)
  under the same overrides. A name that cannot be written as an override (one holding ``=``)
  means git is not run at all;
- adds ``--no-textconv``/``--no-ext-diff`` to ``diff`` and ``blame``, and has a timeout.

Callers get ``None`` when git could not run safely or in time; nothing here raises.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TIMEOUT_S = 10.0

#: Settings that name a program (or make git start one), set to do nothing.
_FIXED: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),
    ("core.hooksPath", "/dev/null"),
    ("core.pager", "cat"),
    ("core.sshCommand", ""),
    ("core.gitProxy", ""),
    ("core.askPass", ""),
    ("core.editor", "false"),
    ("core.alternateRefsCommand", ""),
    ("diff.external", ""),
    ("diff.trustExitCode", "false"),
    ("log.showSignature", "false"),
    ("gpg.program", ""),
    ("credential.helper", ""),
    ("protocol.allow", "never"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("submodule.recurse", "false"),
)

#: Per-name settings (``<section>.<name>.<key>``) that name a program, and their inert value.
_PER_NAME: Mapping[str, Mapping[str, str]] = {
    "filter": {"clean": "", "smudge": "", "process": "", "required": "false"},
    "diff": {"textconv": "", "command": ""},
    "merge": {"driver": ""},
    "protocol": {"allow": "never"},
    "gpg": {"program": ""},
    "remote": {"uploadpack": "", "receivepack": "", "vcs": "", "promisor": "false"},
    "hook": {"command": ""},
}

#: Commands that diff file contents: never through textconv or an external diff program.
_DIFFING = {"diff": ("--no-textconv", "--no-ext-diff"), "blame": ("--no-textconv",)}


@dataclass(frozen=True)
class GitOutput:
    returncode: int
    stdout: bytes

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")


def run_git(
    args: Sequence[str],
    cwd: Path,
    timeout: float = DEFAULT_TIMEOUT_S,
    stdin: bytes | None = None,
) -> GitOutput | None:
    """``git <args>`` in ``cwd`` with every repository-configured program neutralised; None when
    git is missing, cannot be run safely, or does not finish within ``timeout``."""
    executable = git_executable()
    if executable is None or not args:
        return None
    env = git_environment()
    fixed = _overrides(_FIXED)
    listed = _run([executable, *fixed, "config", "--list", "--name-only", "-z"], cwd, env, timeout)
    if listed is None:
        return None
    # Outside a repository (or with no config at all) there are no names to neutralise.
    names = listed.stdout.split(b"\0") if listed.ok else []
    per_name = _per_name_overrides(os.fsdecode(raw) for raw in names if raw)
    if per_name is None:
        return None
    command, *rest = args
    flags = _DIFFING.get(command, ())
    return _run(
        [executable, "--no-pager", *fixed, *per_name, command, *flags, *rest],
        cwd,
        env,
        timeout,
        stdin,
    )


def git_executable() -> str | None:
    """``git`` from the absolute entries of ``PATH`` (a relative entry such as ``.`` or an empty
    one would find a ``git`` in the folder git runs in)."""
    return shutil.which("git", path=_absolute_path())


def git_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a git child: ours without ``GIT_*`` (a hook's ``GIT_DIR``, a
    ``GIT_EXTERNAL_DIFF``, ``GIT_CONFIG_PARAMETERS`` ...) or askpass/pager programs, plus the
    variables that keep git from prompting, locking, fetching or reading system config."""
    source = os.environ if environ is None else environ
    env = {
        key: value
        for key, value in source.items()
        if not key.startswith("GIT_") and key not in ("SSH_ASKPASS", "PAGER", "LESSOPEN")
    }
    env.update(
        PATH=_absolute_path(source),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",  # read-only: never take the index lock a user's git needs
        GIT_NO_LAZY_FETCH="1",
        GIT_PAGER="cat",
        GIT_ASKPASS="",
    )
    return env


def _absolute_path(environ: Mapping[str, str] | None = None) -> str:
    source = os.environ if environ is None else environ
    entries = source.get("PATH", os.defpath).split(os.pathsep)
    return os.pathsep.join(e for e in entries if e and os.path.isabs(e))


def _overrides(settings: Sequence[tuple[str, str]]) -> list[str]:
    return [part for key, value in settings for part in ("-c", f"{key}={value}")]


def _per_name_overrides(names: Iterable[str]) -> list[str] | None:
    """``-c`` overrides for every program-valued per-name setting of the drivers ``names`` (config
    keys as ``git config --list --name-only`` prints them) mention; None when one of those names
    cannot be given on a command line."""
    settings: dict[tuple[str, str], str] = {}
    for name in names:
        section, dot, rest = name.partition(".")
        subsection, dot2, _key = rest.rpartition(".")
        keys = _PER_NAME.get(section.lower())
        if keys is None or not dot or not dot2 or not subsection:
            continue
        if "=" in subsection or "\n" in subsection:
            return None
        for key, value in keys.items():
            settings[(f"{section}.{subsection}.{key}", key)] = value
    return _overrides([(full, value) for (full, _), value in settings.items()])


def _run(
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    stdin: bytes | None = None,
) -> GitOutput | None:
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    return GitOutput(done.returncode, done.stdout)
