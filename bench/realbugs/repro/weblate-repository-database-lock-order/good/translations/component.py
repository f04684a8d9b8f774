"""A translation component: a VCS checkout plus its rows in the database, each with a lock."""

import threading


class Component:
    def __init__(self, repository, store):
        self.repository_lock = threading.RLock()
        self.database_lock = threading.Lock()
        self.repository = repository
        self.store = store

    def commit_pending(self, reason):
        with self.repository_lock:
            changes = self.store.pending_changes()
            with self.database_lock:
                self.store.mark_committed(changes)
            self.repository.commit(changes, reason)

    def update_from_repository(self):
        # Always the repository lock first, then the database lock.
        with self.repository_lock:
            with self.database_lock:
                revision = self.store.last_revision()
            self._pull(revision)

    def _pull(self, revision):
        with self.repository_lock:
            self.repository.fetch()
            self.repository.merge(revision)
