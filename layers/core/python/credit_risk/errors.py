"""One error hierarchy for the platform.

The class name of each error is the error name that Step Functions ``Retry`` and ``Catch``
match on, and the API maps each class to one HTTP status in one place.
"""

from __future__ import annotations


class CreditRiskError(Exception):
    """Base of every error the platform raises on purpose."""

    http_status = 500

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def name(self) -> str:
        """The error name as Step Functions and the API report it."""
        return type(self).__name__


class ConfigurationError(CreditRiskError):
    """A setting, contract or configuration file is missing or invalid (the API is not
    ready: 503, with the setting named)."""

    http_status = 503


class ContractError(CreditRiskError):
    """A dataset contract is malformed, or data does not fit it at all."""

    http_status = 400


class FileUnreadableError(CreditRiskError):
    """A landed file cannot be read at all (format, encoding, header, truncation)."""


class UnknownDatasetError(CreditRiskError):
    """A landed object's key does not name a known dataset."""


class QualityGateFailedError(CreditRiskError):
    """A critical data-quality check failed; the report says which."""


class NotFoundError(CreditRiskError):
    """A requested entity (customer, batch, model version) does not exist."""

    http_status = 404


class GoneError(CreditRiskError):
    """The customer was erased: nothing personal is held, and nothing is decided for them."""

    http_status = 410


class ValidationError(CreditRiskError):
    """A request or input failed validation."""

    http_status = 400


class AuthenticationError(CreditRiskError):
    """A bearer token is missing, malformed, expired or not signed with our key."""

    http_status = 401


class ConflictError(CreditRiskError):
    """The request would overwrite something it may not (an existing customer's score)."""

    http_status = 409


class PermissionDeniedError(CreditRiskError):
    """The caller's role does not allow what it asked for."""

    http_status = 403


class PayloadTooLargeError(ValidationError):
    """A request body is larger than the API accepts."""

    http_status = 413


class NoChampionError(CreditRiskError):
    """No champion model is registered, so nothing can be scored."""

    http_status = 503


class ArtifactIntegrityError(CreditRiskError):
    """A model artifact's bytes do not match the hash recorded in the registry."""


class InsufficientDataError(CreditRiskError):
    """There is not enough matured, labelled data to train or evaluate."""


class TransientError(CreditRiskError):
    """A retryable failure of a dependency (database connection, throttling)."""

    http_status = 503


class ReconciliationError(CreditRiskError):
    """A re-score run does not add up: rows in differ from rows scored plus rows refused."""


class RescoreToleranceExceededError(CreditRiskError):
    """More of a re-score run failed than its tolerance allows: too many chunks without a
    result, or a chunk that refused too many of its rows."""


class SearchIncompleteError(CreditRiskError):
    """Items of a fanned-out training search left no result (they failed or never ran)."""


def describe_failure(exc: BaseException) -> dict[str, str]:
    """The error name and a one-line cause for a record ops read (a Map item's failure).

    Our own errors say what went wrong in words chosen not to hold personal values; any
    other error gives its first line (capped) and where it was raised.
    """
    text = str(exc).strip()
    cause = text.splitlines()[0][:300] if text else ""
    if not isinstance(exc, CreditRiskError):
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is not None:
            cause = f"{cause} (in {tb.tb_frame.f_code.co_name})".strip()
    return {"error": type(exc).__name__, "cause": cause}
