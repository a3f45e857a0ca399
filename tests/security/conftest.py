"""Security tests run against the same local cloud and databases as the integration tier."""

from __future__ import annotations

from integration.conftest import cloud, small_data

__all__ = ["cloud", "small_data"]
