"""Reading the platform's YAML configuration files into typed models, with one kind of
error for every way a file can be wrong.

The packaged defaults (contract, decision policy, quality gate, monitoring, candidate
models, promotion policy) live in :mod:`credit_risk.defaults`; a user points a setting
at a copy to change one."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from credit_risk.errors import ConfigurationError, CreditRiskError

M = TypeVar("M", bound=BaseModel)
DEFAULTS_PACKAGE = "credit_risk.defaults"


def read_yaml_mapping(
    path: str | Path | None,
    *,
    default: str,
    package: str = DEFAULTS_PACKAGE,
    what: str,
    error: type[CreditRiskError] = ConfigurationError,
) -> tuple[dict[str, Any], str]:
    """The mapping in ``path`` (or the packaged ``default`` file) and a name for messages."""
    if path is None:
        text = resources.files(package).joinpath(default).read_text()
        source = default
    else:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise error(f"cannot read {what} {path}: {exc.strerror}") from exc
        source = str(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise error(f"{source} must be a mapping of {what} settings")
    return raw, source


def validate_model[M: BaseModel](
    model: type[M],
    raw: dict[str, Any],
    source: str,
    *,
    error: type[CreditRiskError] = ConfigurationError,
) -> M:
    """``raw`` as a ``model``; the first problem, located, as ``error``."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise error(f"{source}: {where}: {first['msg']}{_hint(first)}", field=where) from exc


def _hint(problem: Any) -> str:
    """What a YAML author most likely meant, for the errors YAML itself causes."""
    if problem.get("type") == "string_type" and isinstance(problem.get("input"), bool):
        return (
            f" (YAML reads an unquoted yes, no, on, off, true or false as the boolean "
            f"{str(problem['input']).lower()}: quote it, e.g. ['no', 'yes'])"
        )
    if problem.get("type") == "string_type" and isinstance(problem.get("input"), int | float):
        return f" (YAML read {problem['input']} as a number: quote it, e.g. '{problem['input']}')"
    return ""


def load_yaml_model[M: BaseModel](
    model: type[M],
    path: str | Path | None,
    *,
    default: str,
    what: str,
    package: str = DEFAULTS_PACKAGE,
    error: type[CreditRiskError] = ConfigurationError,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> M:
    """Read and validate a YAML file (the packaged ``default`` when ``path`` is None)."""
    raw, source = read_yaml_mapping(path, package=package, default=default, what=what, error=error)
    return validate_model(model, prepare(raw) if prepare else raw, source, error=error)
