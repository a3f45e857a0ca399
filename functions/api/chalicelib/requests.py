"""Request bodies and query strings, validated with pydantic models built from the contract.

``POST /api/predict`` takes one of two bodies:

- an existing customer: ``{"<customer key>": "C0000042", "loan_amount": 50000, ...}`` with
  any of the contract's ``loan_terms`` (and optionally the application date); the rest of
  the application comes from the customer's latest application on file;
- a new applicant: ``{"application": {...}}`` with the contract's application-time,
  non-personal columns, each checked against its type, range and categories.

Personal data other than the customer key is refused: it is never needed to score.
Every problem comes back as a 400 naming the field and the rule it broke.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from credit_risk.contract import ColumnSpec, Contract
from credit_risk.errors import PayloadTooLargeError, ValidationError

MAX_BODY_BYTES = 32 * 1024
"""Largest request body accepted; a whole application is well under 4 KiB."""
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FORBID = ConfigDict(extra="forbid", frozen=True)


class _BodyRefused(ValueError):
    """A JSON body the parser read but the API refuses, with a message safe to answer."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


def _refuse_constant(name: str) -> float:
    raise _BodyRefused(f"{name} is not a number JSON allows", "json_invalid")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object, refused when a key appears twice (never silently last-wins)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _BodyRefused(
                "the request body repeats a key in one object; send each key once",
                "duplicate_key",
            )
        out[key] = value
    return out


def _plain_json_error(exc: Exception) -> tuple[str, str]:
    """What to answer for a body the JSON parser refused, in our words (the parser's own
    message can echo internals: recursion limits, digit limits)."""
    if isinstance(exc, _BodyRefused):
        return str(exc), exc.rule
    if isinstance(exc, RecursionError):
        return "the request body is nested too deeply", "json_too_deep"
    if isinstance(exc, json.JSONDecodeError):
        return (
            f"the request body is not valid JSON (line {exc.lineno}, column {exc.colno})",
            "json_invalid",
        )
    if isinstance(exc, UnicodeDecodeError):
        return "the request body is not UTF-8 text", "json_invalid"
    # int() refuses numbers of more than 4,300 digits with a ValueError of its own.
    return "the request body is not valid JSON (a value cannot be read)", "json_invalid"


def read_json_object(raw: bytes | str | None, *, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The body as a JSON object: 413 when too large, 400 when empty, not JSON, not an
    object or repeating a key in one object (NaN and Infinity are not JSON either)."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if raw is not None and len(raw) > max_bytes:
        raise PayloadTooLargeError(
            f"the request body is {len(raw)} bytes; the limit is {max_bytes}",
            field="body",
            rule="max_bytes",
        )
    if not raw or not raw.strip():
        raise ValidationError("the request body is empty; send a JSON object", field="body")
    try:
        value = json.loads(
            raw, parse_constant=_refuse_constant, object_pairs_hook=_refuse_duplicates
        )
    except (ValueError, RecursionError) as exc:
        message, rule = _plain_json_error(exc)
        raise ValidationError(message, field="body", rule=rule) from exc
    if not isinstance(value, dict):
        raise ValidationError(
            "the request body must be a JSON object", field="body", rule="object_type"
        )
    return value


# --- field types ---------------------------------------------------------------------------


def _whole_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "must be a whole number")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise PydanticCustomError("int_type", "must be a whole number")
        return int(value)
    return value


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("float_type", "must be a number")
    try:
        number = float(value)
    except OverflowError as exc:
        raise PydanticCustomError("finite_number", "must be a finite number") from exc
    if not math.isfinite(number):
        raise PydanticCustomError("finite_number", "must be a finite number")
    return number


def _iso_date(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        raise PydanticCustomError("date_format", "must be a date written YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise PydanticCustomError("date_format", "is not a real calendar date") from exc


def _identifier(value: Any) -> Any:
    """Customer and application ids: text, or a whole number written as text."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PydanticCustomError("id_type", "must be a string or a whole number")
    return str(value)


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
Number = Annotated[float, BeforeValidator(_number)]
IsoDate = Annotated[
    date, BeforeValidator(_iso_date), WithJsonSchema({"type": "string", "format": "date"})
]
Identifier = Annotated[
    str,
    BeforeValidator(_identifier),
    StringConstraints(min_length=1, max_length=200, strip_whitespace=True),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 200}, {"type": "integer"}]}
    ),
]


def _column_type(col: ColumnSpec) -> Any:
    """The pydantic type of a contract column, with its range or categories."""
    if col.type in ("integer", "float"):
        schema: dict[str, Any] = {"type": "integer" if col.type == "integer" else "number"}
        if col.min is not None:
            schema["minimum"] = col.min
        if col.max is not None:
            schema["maximum"] = col.max
        # With a BeforeValidator pydantic does not turn ge/le into JSON Schema keywords.
        base = WholeNumber if col.type == "integer" else Number
        return Annotated[base, Field(ge=col.min, le=col.max), WithJsonSchema(schema)]  # type: ignore[valid-type]
    if col.type == "boolean":
        return StrictBool
    if col.type == "date":
        return IsoDate
    if col.type == "category":
        return Literal[tuple(col.categories or ())]  # type: ignore[valid-type]
    return Annotated[str, Field(strict=True, max_length=200)]


def _field(col: ColumnSpec, *, required: bool) -> tuple[Any, Any]:
    kind = _column_type(col)
    description = col.description or None
    if required:
        return kind, Field(description=description)
    return kind | None, Field(default=None, description=description)


# --- the models ----------------------------------------------------------------------------


def _refusing(personal: frozenset[str]) -> dict[str, Any]:
    """A validator that refuses personal-data columns with a rule of their own."""

    def no_personal_data(data: Any) -> Any:
        if isinstance(data, dict):
            found = sorted(set(data) & personal)
            if found:
                raise PydanticCustomError(
                    "personal_data",
                    "{fields}: personal data is not used to score; leave it out",
                    {"fields": ", ".join(found)},
                )
        return data

    return {"no_personal_data": model_validator(mode="before")(no_personal_data)}


class PromoteRequest(BaseModel):
    """Why a version is made champion by hand."""

    model_config = _FORBID
    reason: str = Field(
        default="promoted by hand through the API", min_length=1, max_length=500, strict=True
    )


class ExecutionsQuery(BaseModel):
    """Which pipeline, training and re-score executions to list."""

    model_config = _FORBID
    machine: Literal["pipeline", "training", "rescore"] | None = None
    status: Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class MetricsQuery(BaseModel):
    """Which model version's metrics (the champion's when absent)."""

    model_config = _FORBID
    version: Annotated[str, Field(pattern=VERSION_PATTERN)] | None = None


class HealthQuery(BaseModel):
    """``probe=live`` answers liveness only, without touching any dependency."""

    model_config = _FORBID
    probe: Literal["live", "ready"] = "ready"


class RequestModels:
    """The predict request models of one contract."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        spec = contract.applications
        self.customer_field = spec.customer_key or spec.id
        self.event_field = spec.event_date
        personal = frozenset(spec.pii_columns) - {self.customer_field}
        # A protected attribute is never a model input: refused like personal data.
        personal |= frozenset(spec.protected_columns)

        fields: dict[str, Any] = {}
        for name, col in spec.columns.items():
            if col.pii or col.protected or not col.known_at_application:
                continue
            if name == spec.id:
                fields[name] = (Identifier | None, Field(default=None, description=col.description))
            elif name == self.event_field:
                fields[name] = (
                    IsoDate | None,
                    Field(default=None, description="Application date; today when absent"),
                )
            else:
                fields[name] = _field(col, required=not col.nullable)
        if spec.customer_key:
            fields[spec.customer_key] = (
                Identifier | None,
                Field(default=None, description="Customer number; the score is kept under it"),
            )
        self.application: type[BaseModel] = create_model(
            "Application",
            __config__=_FORBID,
            __doc__="A whole application for a new applicant, as the contract defines it.",
            __validators__=_refusing(personal),
            **fields,
        )
        self.new_applicant: type[BaseModel] = create_model(
            "NewApplicantRequest",
            __config__=_FORBID,
            __doc__="Score a new applicant from a whole application.",
            application=(self.application, ...),
        )

        terms: dict[str, Any] = {
            self.customer_field: (Identifier, Field(description="The customer's number")),
        }
        for name in contract.loan_terms:
            terms[name] = _field(spec.columns[name], required=False)
        if self.event_field:
            terms[self.event_field] = (
                IsoDate | None,
                Field(default=None, description="Application date; today when absent"),
            )
        self.existing_customer: type[BaseModel] = create_model(
            "ExistingCustomerRequest",
            __config__=_FORBID,
            __doc__=(
                "Score a new loan for a customer on file: the customer's latest application "
                "with these loan terms."
            ),
            __validators__=_refusing(personal),
            **terms,
        )

    def parse_predict(self, body: dict[str, Any]) -> BaseModel:
        """The validated request: a new applicant when the body has ``application``."""
        if "application" in body:
            return self.new_applicant.model_validate(body)
        return self.existing_customer.model_validate(body)


def parse_query(model: type[BaseModel], params: dict[str, str] | None) -> Any:
    """A query string validated by ``model`` (numbers arrive as text)."""
    values: dict[str, Any] = dict(params or {})
    if "limit" in values and isinstance(values["limit"], str) and values["limit"].isdigit():
        values["limit"] = int(values["limit"])
    return model.model_validate(values)


def check_version(version: str) -> str:
    """A model version from a path, or a 400 naming the rule."""
    if not re.match(VERSION_PATTERN, version):
        raise ValidationError(
            "version must be 1-40 letters, digits, '.', '_' or '-'",
            field="version",
            rule="pattern",
        )
    return version
