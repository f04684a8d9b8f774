# stress: target=RH206@ expect=wait not re-checked
"""Print jobs waiting for a free printer; one thread per printer calls next_job(). submit()
wakes every printer with notify_all: the first takes the job, the others were woken for
nothing and pop an empty queue."""

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
            if not self._jobs:
                self._changed.wait()
            return self._jobs.popleft()
