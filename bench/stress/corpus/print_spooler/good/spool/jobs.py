"""Each woken printer re-checks the queue before it pops."""

import collections
import threading


class JobQueue:
    def __init__(self):
        self._jobs = collections.deque()
        self._changed = threading.Condition()

    def submit(self, job):
        with self._changed:
            self._jobs.append(job)
            self._changed.notify_all()

    def next_job(self):
        with self._changed:
            while not self._jobs:
                self._changed.wait()
            return self._jobs.popleft()
