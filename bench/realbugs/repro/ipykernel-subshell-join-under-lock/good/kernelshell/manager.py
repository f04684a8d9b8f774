"""The registry of a kernel's subshells, shared by the shell thread and the subshells."""

import threading

from .threads import SubshellThread


class SubshellManager:
    def __init__(self):
        self._lock_cache = threading.Lock()
        self._cache = {}

    def create_subshell(self, subshell_id):
        thread = SubshellThread(self, subshell_id)
        with self._lock_cache:
            self._cache[subshell_id] = thread
        thread.start()
        return subshell_id

    def lookup(self, subshell_id):
        with self._lock_cache:
            return self._cache.get(subshell_id)

    def close(self):
        """Stop all subshells: take them out under the lock, join them after releasing it."""
        with self._lock_cache:
            threads = list(self._cache.values())
            self._cache.clear()
        for thread in threads:
            self._stop_subshell(thread)

    def _stop_subshell(self, thread):
        if thread.is_alive():
            thread.stop()
            thread.join()
