"""Content digests, shared by the workspace and the CLI cache (light: hashlib only)."""

from __future__ import annotations

import hashlib


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()
