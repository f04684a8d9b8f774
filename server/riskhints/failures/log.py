"""The failure log file: JSON lines, appended to by many processes at once (several editors'
servers, CI jobs, the CLI), read by the report.

Invariants:

- An append holds an exclusive ``flock`` on the log file for its whole duration, writes all its
  records with one ``write()`` on a descriptor opened with ``O_APPEND``, and ``fsync``s before
  releasing the lock: concurrent appends interleave whole records, never bytes, and none is lost.
- The log is never rewritten, truncated or reordered. A line that is not a record (hand-edited,
  merge conflict, a disk that filled up) is reported with its line number and skipped; when the
  file does not end with a newline, the next append starts with one rather than gluing its record
  onto that line.
- :meth:`FailureLog.transact` decides what to append from the log as it is *under the lock*, so
  two servers resolving the same finding at the same moment append one resolution, not two.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import safe_read
from .record import OPEN, RESOLVED, FailureRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogProblem:
    line: int  # 1-based
    message: str

    def describe(self, path: Path | str) -> str:
        return f"{path}:{self.line}: skipped a line that is not a failure record ({self.message})"


@dataclass(frozen=True)
class LogContents:
    records: tuple[FailureRecord, ...]
    problems: tuple[LogProblem, ...] = ()

    def resolutions(self) -> dict[str, FailureRecord]:
        """Open record id -> the (first) resolved record naming it."""
        found: dict[str, FailureRecord] = {}
        for record in self.records:
            if record.status == RESOLVED and record.resolves:
                found.setdefault(record.resolves, record)
        return found

    def open_records(self, path: str | None = None) -> list[FailureRecord]:
        """Logged failures not resolved yet (of ``path`` only, when given)."""
        resolved = self.resolutions()
        return [
            record
            for record in self.records
            if record.status == OPEN
            and record.id not in resolved
            and (path is None or record.path == path)
        ]


def parse_log(data: bytes) -> LogContents:
    records: list[FailureRecord] = []
    problems: list[LogProblem] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            records.append(FailureRecord.from_json(json.loads(raw.decode("utf-8"))))
        except UnicodeDecodeError:
            problems.append(LogProblem(number, "not UTF-8"))
        except json.JSONDecodeError as error:
            problems.append(LogProblem(number, f"invalid JSON: {error.msg}"))
        except (ValueError, TypeError) as error:
            problems.append(LogProblem(number, str(error)))
    return LogContents(tuple(records), tuple(problems))


def encode_records(records: Sequence[FailureRecord]) -> bytes:
    return b"".join(
        json.dumps(record.to_json(), ensure_ascii=False, sort_keys=False).encode(
            "utf-8",
            "backslashreplace",  # a lone surrogate as its JSON escape
        )
        + b"\n"
        for record in records
    )


if sys.platform == "win32":  # pragma: no cover - no flock; O_APPEND alone keeps records whole

    def _lock(fd: int) -> None:
        pass

    def _unlock(fd: int) -> None:
        pass

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class FailureLog:
    """One log file. Safe to share between threads; safe between processes by the file lock."""

    def __init__(self, path: Path, on_problem: Callable[[str], None] | None = None) -> None:
        self.path = path
        self._on_problem = on_problem or (lambda message: log.warning("%s", message))
        self._cache_lock = threading.Lock()
        self._cached: tuple[tuple[int, int, int], LogContents] | None = None
        self._reported: set[tuple[int, str]] = set()

    def read(self) -> LogContents:
        """The records (an absent log is an empty one); each corrupt line is logged once as a
        warning and skipped. Re-reads only when the file changed since the last read."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return LogContents(())
        key = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._cache_lock:
            if self._cached is not None and self._cached[0] == key:
                return self._cached[1]
        try:
            contents = parse_log(safe_read.read_bytes(self.path, safe_read.MAX_DATA_BYTES))
        except FileNotFoundError:
            return LogContents(())
        self._warn(contents)
        with self._cache_lock:
            self._cached = (key, contents)
        return contents

    def _warn(self, contents: LogContents) -> None:
        for problem in contents.problems:
            marker = (problem.line, problem.message)
            with self._cache_lock:
                if marker in self._reported:
                    continue
                self._reported.add(marker)
            self._on_problem(problem.describe(self.path))

    def append(self, records: Sequence[FailureRecord]) -> None:
        """Append ``records`` atomically (all of them, in order, with one write)."""
        self.transact(lambda _contents: list(records), read=False)

    def transact(
        self,
        decide: Callable[[LogContents], Sequence[FailureRecord]],
        read: bool = True,
    ) -> list[FailureRecord]:
        """Under the lock: read the log (when ``read``), ask ``decide`` what to append, append
        it. Returns what was appended."""
        with self._locked() as fd:
            contents = parse_log(self._read_fd(fd)) if read else LogContents(())
            records = list(decide(contents))
            if not records:
                return []
            data = encode_records(records)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # never glue a record onto a line that lost its newline
            written = os.write(fd, data)
            while written < len(data):  # a short write on a full disk, or a signal
                written += os.write(fd, data[written:])
            os.fsync(fd)
        return records

    @contextmanager
    def _locked(self) -> Iterator[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The path was resolved inside the workspace (``log_path``): a link put there since
        # is not followed.
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.path, flags, 0o644)
        try:
            _lock(fd)
            try:
                yield fd
            finally:
                _unlock(fd)
        finally:
            os.close(fd)

    @staticmethod
    def _read_fd(fd: int) -> bytes:
        size = os.fstat(fd).st_size
        chunks: list[bytes] = []
        offset = 0
        while offset < size:
            chunk = os.pread(fd, min(1 << 20, size - offset), offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        return b"".join(chunks)
