"""Subshells of an interactive kernel: each runs in its own thread and looks itself up
in the manager's cache on every turn of its loop."""

import threading


class SubshellThread(threading.Thread):
    def __init__(self, manager, subshell_id):
        super().__init__(name=f"subshell-{subshell_id}", daemon=True)
        self._manager = manager
        self._subshell_id = subshell_id
        self._stopping = threading.Event()

    def run(self):
        while not self._stopping.is_set():
            # Takes the manager's cache lock on every turn.
            if self._manager.lookup(self._subshell_id) is None:
                break
            self._stopping.wait(0.05)

    def stop(self):
        self._stopping.set()
