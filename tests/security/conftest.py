"""Security tests: one file per attack the platform must withstand.

The API fixtures are the functional tier's (:mod:`functional.api.conftest`): the Chalice
app wired as deployed, over the local cloud, with a champion and a token per role.
"""

from __future__ import annotations

from functional.api.conftest import (  # noqa: F401  (fixtures, found by name)
    api,
    api_cloud,
    bare_api,
    shared_api,
    trained,
)
