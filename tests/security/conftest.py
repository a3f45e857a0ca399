"""Security tests run against the API over the local cloud (see tests/functional/api)."""

from functional.api.conftest import api, api_cloud, bare_api, trained  # noqa: F401
