"""A per-file cache of findings in ``.riskhints/cache/``, keyed by a hash of the tool version,
the options that change findings, the file's path and its content.

Safe under concurrent runs: every entry is written to a temporary file in the same folder and
moved into place with ``os.replace`` (atomic on POSIX and Windows), so a reader sees a whole
entry or none. A corrupt or unreadable entry is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import __version__, safe_read
from .analysis.finding import Finding

_GITIGNORE = "# Created by riskhints: the cache is not meant to be committed.\n*\n"


class FindingsCache:
    def __init__(self, folder: Path, options_fingerprint: str, environment: str = "") -> None:
        self.folder = folder
        self._salt = f"{__version__}\0{options_fingerprint}\0{environment}\0".encode()
        self.hits = 0
        self.misses = 0

    def key(self, path: str, data: bytes) -> str:
        digest = hashlib.blake2b(self._salt, digest_size=20)
        digest.update(path.encode("utf-8", "surrogateescape"))
        digest.update(b"\0")
        digest.update(data)
        return digest.hexdigest()

    def lookup(
        self,
        real_path: str,
        shown_path: str,
        current_digest: Callable[[str], str | None] | None = None,
    ) -> list[Finding] | None:
        """The cached findings for a file as it is on disk now (None: miss or unreadable).

        An entry records the workspace files its findings depend on (calls followed across
        files) with their digests; it is a hit only while ``current_digest`` of each of them is
        unchanged."""
        try:
            data = safe_read.read_bytes(real_path)
        except OSError:
            return None
        entry = self.get_entry(self.key(shown_path, data))
        if entry is None:
            return None
        findings, dependencies = entry
        if dependencies and (
            current_digest is None
            or any(current_digest(dep) != value for dep, value in dependencies.items())
        ):
            self.hits -= 1
            self.misses += 1
            return None
        return findings

    def get(self, key: str) -> list[Finding] | None:
        entry = self.get_entry(key)
        return entry[0] if entry is not None else None

    def get_entry(self, key: str) -> tuple[list[Finding], dict[str, str]] | None:
        entry = self.folder / key[:2] / f"{key}.json"
        try:
            payload = json.loads(safe_read.read_text(entry))
            findings = [Finding.from_dict(item) for item in payload["findings"]]
            dependencies = {str(k): str(v) for k, v in payload.get("dependencies", {}).items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.misses += 1
            return None
        self.hits += 1
        return findings, dependencies

    def put(
        self, key: str, findings: list[Finding], dependencies: dict[str, str] | None = None
    ) -> None:
        folder = self.folder / key[:2]
        try:
            self._ensure_root()
            folder.mkdir(parents=True, exist_ok=True)
            payload = json.dumps(
                {"findings": [f.to_dict() for f in findings], "dependencies": dependencies or {}}
            )
            fd, temp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(payload)
                os.replace(temp, folder / f"{key}.json")
            except BaseException:
                _remove_quietly(temp)
                raise
        except OSError:
            return  # a read-only or full disk makes the cache useless, not the run

    def _ensure_root(self) -> None:
        if not self.folder.is_dir():
            self.folder.mkdir(parents=True, exist_ok=True)
        # Inside the cache folder itself: its parent may be the project (``--cache-dir c``),
        # and ``.riskhints/`` also holds files a team commits (the failure log).
        marker = self.folder / ".gitignore"
        if not marker.exists():
            try:
                marker.write_text(_GITIGNORE, encoding="utf-8")
            except OSError:
                pass


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
