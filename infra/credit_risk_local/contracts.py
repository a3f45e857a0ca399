"""`credit-risk contract draft` and `contract check`: a dataset contract from a lender's
own files, and what those files would meet before anything is loaded.

The draft is a starting point that says where the user must decide (a ``# DECIDE`` comment
at each guess); the check reads files exactly as ingestion does and reports, per column
and rule, what would be refused, which file columns the contract ignores, and whether the
data can train.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from credit_risk.contract import Contract, DatasetSpec
from credit_risk.data.reading import read_raw
from credit_risk.data.validation import Violation, validate_frame

MAX_CATEGORIES = 50
_PII_NAMES = re.compile(
    r"(^|_)(name|first_?name|last_?name|surname|e?mail|phone|mobile|address|street|zip|"
    r"postcode|ssn|national_id|passport|birth|dob|iban|account_no|tax_id)($|_)",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
_PHONE = re.compile(r"^\+?[\d ()-]{9,}$")
_ID_NAMES = re.compile(r"(^|_)(id|ref|reference|number|no|key)$", re.IGNORECASE)
_CUSTOMER_NAMES = re.compile(r"customer|client|borrower|member|applicant", re.IGNORECASE)
_DATE_NAMES = re.compile(r"date|start|opened|applied|created", re.IGNORECASE)
_TARGET_NAMES = re.compile(
    r"^(default(ed)?|target|bad|label|y|class|charged_off|delinquent|risk|status"
    r"|creditability|credit_risk|loan_status|outcome|is_default|default_flag|bad_flag"
    r"|good_bad|bad_good|flag)$",
    re.IGNORECASE,
)
_OBSERVED_NAMES = re.compile(
    r"observ|last_seen|as_of|snapshot|last_(update|activity|checked)|reported", re.IGNORECASE
)
# Columns a file may carry that are only known after the loan's outcome (a charge-off date,
# recoveries): with one file, they belong to the outcomes, never to the features.
_AFTER_OUTCOME_NAMES = re.compile(
    r"charge.?off|written.?off|write.?off|recover|loss|closed|settle|default", re.IGNORECASE
)
_POSITIVE_GUESSES = ("1", "bad", "default", "defaulted", "yes", "true", "charged_off", "y")


def _text(frame: pd.DataFrame, name: str) -> pd.Series:
    values = frame[name].astype("string").str.strip()
    return values.mask(values == "", pd.NA).dropna()


def _column_type(values: pd.Series) -> str:
    if values.empty:
        return "string"
    lowered = set(values.str.lower().unique())
    if lowered <= {"true", "false"}:
        return "boolean"
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all():
        return "integer" if bool(np.all(np.mod(numbers, 1) == 0)) else "float"
    if values.str.match(r"^\d{4}-\d{2}-\d{2}").all():
        dates = pd.to_datetime(values, errors="coerce", format="ISO8601")
        if dates.notna().all():
            return "date"
    distinct = values.nunique()
    if distinct <= MAX_CATEGORIES and distinct <= max(2, len(values) // 5):
        return "category"
    return "string"


def _is_personal(name: str, kind: str, values: pd.Series) -> bool:
    if _PII_NAMES.search(name):
        return True
    sample = values.head(200)
    if kind != "string" or sample.empty:
        return False
    return bool(sample.str.match(_EMAIL).mean() > 0.8 or sample.str.match(_PHONE).mean() > 0.8)


def profile(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Each column's drafted spec (type, nullability, range with a margin, categories)."""
    columns: dict[str, dict[str, Any]] = {}
    for name in frame.columns:
        values = _text(frame, name)
        kind = _column_type(values)
        spec: dict[str, Any] = {"type": kind, "nullable": bool(len(values) < len(frame))}
        if kind in ("integer", "float"):
            numbers = pd.to_numeric(values)
            low, high = float(numbers.min()), float(numbers.max())
            margin = (high - low) * 0.1 or abs(high) * 0.1 or 1.0
            lower = low - margin if low < 0 or low - margin >= 0 else 0.0
            spec["min"] = int(np.floor(lower)) if kind == "integer" else round(lower, 6)
            spec["max"] = (
                int(np.ceil(high + margin)) if kind == "integer" else round(high + margin, 6)
            )
        if kind == "category":
            spec["categories"] = sorted(str(v) for v in values.unique())
        if values.is_unique and len(values) == len(frame):
            spec["unique"] = True
        if _is_personal(str(name), kind, values):
            spec["pii"] = True
        columns[str(name)] = spec
    return columns


def _pick(columns: dict[str, dict[str, Any]], pattern: re.Pattern[str], **want: Any) -> str | None:
    for name, spec in columns.items():
        if pattern.search(name) and all(spec.get(k) == v for k, v in want.items()):
            return name
    return None


_TERM_NAMES = re.compile(r"amount|principal|financed|term|duration|months|rate|apr", re.IGNORECASE)


def _loan_terms(
    app_columns: dict[str, dict[str, Any]], amounts: list[str], decide: dict[str, str]
) -> list[str]:
    """The application's numeric terms of the loan itself (amount, term, rate): what a
    predict for a customer on file may set for the new loan."""
    terms = [*amounts[:1]] + [
        n
        for n, s in app_columns.items()
        if n not in amounts[:1]
        and s.get("feature")
        and s["type"] in ("integer", "float")
        and _TERM_NAMES.search(n)
    ]
    if terms:
        decide["loan_terms"] = (
            f"guessed {', '.join(terms)} as the loan's own terms (what a predict for a "
            "customer on file may set); keep only what the new loan decides"
        )
    return terms


def prepared(frame: pd.DataFrame, contract_yaml: str, as_of: str) -> pd.DataFrame | None:
    """The file with what the drafted contract needs and it lacks: the row number as its
    id, and ``as_of`` as every row's event date; None when it lacks neither."""
    drafted = yaml.safe_load(contract_yaml)
    apps = drafted["applications"]
    out = frame.copy()
    if apps["id"] not in out.columns:
        out.insert(0, apps["id"], [str(i) for i in range(1, len(out) + 1)])
    if apps["event_date"] not in out.columns:
        out.insert(1, apps["event_date"], as_of)
    return None if out.shape == frame.shape else out


def _window_months(
    frames: list[pd.DataFrame], event: str, observed: str, decide: dict[str, str]
) -> int:
    """The outcome window a loan is observed for: the commonest whole number of months
    from its event date to its observation date, when one file holds both (12 else)."""
    both = next((f for f in frames if event in f.columns and observed in f.columns), None)
    if both is not None:
        start = pd.to_datetime(both[event], errors="coerce")
        seen = pd.to_datetime(both[observed], errors="coerce")
        months = ((seen.dt.year - start.dt.year) * 12 + seen.dt.month - start.dt.month).dropna()
        months = months[(months >= 1) & (months <= 60)]
        if len(months):
            window = int(months.mode().iloc[0])
            decide["window_months"] = (
                f"{window}: the commonest months from {event} to {observed}; set the "
                "performance window your default definition uses"
            )
            return window
    decide["window_months"] = "12 assumed: set the performance window your default definition uses"
    return 12


def draft(
    frames: list[pd.DataFrame], *, name: str, target: str | None, positive: list[str] | None
) -> str:
    """A contract's YAML for files holding the applications (and, in the same file or
    another, the outcomes); ``# DECIDE`` marks every guess the user must confirm."""
    columns: dict[str, dict[str, Any]] = {}
    home: dict[str, pd.DataFrame] = {}  # the file each column was drafted from
    for frame in frames:
        for column, spec in profile(frame).items():
            if column not in columns:
                columns[column], home[column] = spec, frame
    rows = max(len(f) for f in frames)
    decide: dict[str, str] = {}
    target = target or _pick(columns, _TARGET_NAMES)
    if target is None or target not in columns:
        raise ValueError(
            "no target column found: name it with --target COLUMN (and --positive VALUE "
            "for the value that means a default)"
        )
    target_values = sorted(str(v) for v in _text(home[target], target).unique())
    if positive is None and set(target_values) != {"0", "1"}:
        guess = [v for v in target_values if v.lower() in _POSITIVE_GUESSES][:1]
        if not guess:
            raise ValueError(
                f"target '{target}' has values {target_values[:6]}: say which mean a default "
                "with --positive VALUE"
            )
        positive = guess
        decide["positive"] = f"guessed from the values {target_values[:6]}"
    if positive is not None:
        columns[target] = {"type": "category", "nullable": False, "categories": target_values}
    columns[target]["known_at_application"] = False
    ident = _pick(columns, _ID_NAMES, unique=True) or next(
        (n for n, s in columns.items() if s.get("unique") and n != target), None
    )
    if ident is None:
        ident = "row_id"
        decide["id"] = (
            "no column is unique: add one (each row's own reference) to the files, or let "
            "`contract draft --prepared OUT.csv` number the rows"
        )
        columns = {"row_id": {"type": "string", "nullable": False, "unique": True}, **columns}
    else:
        columns[ident] = {"type": "string", "nullable": False, "unique": True}
    customer = _pick(columns, _CUSTOMER_NAMES) or ident
    if customer == ident:
        decide["customer_key"] = "no customer column found: each application is its own customer"
    else:
        columns[customer] = {"type": "string", "nullable": False, "pii": True}
    dates = [n for n, s in columns.items() if s["type"] == "date"]
    event = _pick({n: columns[n] for n in dates}, _DATE_NAMES) or (dates[0] if dates else None)
    if event is None:
        event = "application_date"
        columns[event] = {"type": "date", "nullable": False}
        decide["event_date"] = (
            "no date column found: add the application date to the files, or let "
            "`contract draft --prepared OUT.csv --as-of DATE` give every row one date"
        )
    observed = "observation_date"
    if observed not in columns:
        seen = _pick({n: columns[n] for n in dates if n != event}, _OBSERVED_NAMES)
        if seen is not None:
            observed = seen
            decide["maturity"] = (
                f"guessed '{seen}' as the date each loan was last observed (a loan counts "
                "once its outcome window has passed by then)"
            )
        else:
            decide["maturity"] = (
                "no observation date: every outcome is taken as final (window_months: 0); "
                "if loans were still running when the file was cut, add the date each loan "
                "was last observed to the outcomes and set the window"
            )
    keys = {ident, customer, event, target, observed}
    # With separate files, the target's file holds the outcomes; with one, every other
    # column is an application column, except those only known after the outcome.
    after = {n for n in columns if n not in keys and _AFTER_OUTCOME_NAMES.search(n)}
    if len(frames) == 1 and after:
        decide["outcome columns"] = (
            f"{', '.join(sorted(after))} look known only after the outcome: drafted as "
            "outcome columns, never features; move any that an application carries"
        )
    outcome_only = (
        {str(c) for c in home[target].columns} - {ident}
        if len(frames) > 1
        else {target, observed} | after
    )
    outcome_extra = {
        n: {**columns[n], "known_at_application": False}
        for n in sorted(outcome_only - {target, observed})
        if n in columns
    }
    app_columns = {n: s for n, s in columns.items() if n not in outcome_only}
    for n, s in app_columns.items():
        if n not in keys and not s.get("pii"):
            s["feature"] = True
    amounts = [n for n in app_columns if re.search(r"amount|principal|credit_amount", n, re.I)]
    numeric_amounts = [n for n in amounts if app_columns[n]["type"] in ("integer", "float")]
    contract: dict[str, Any] = {
        "name": name,
        "version": 1,
        "applications": {
            "id": ident,
            "customer_key": customer,
            "event_date": event,
            **({"exposure": numeric_amounts[0]} if numeric_amounts else {}),
            "columns": app_columns,
        },
        "outcomes": {
            "id": ident,
            "event_date": observed if observed in columns else event,
            "target": target,
            **({"positive": positive} if positive is not None else {}),
            "columns": {
                ident: {"type": "string", "nullable": False, "unique": True},
                target: columns[target],
                **outcome_extra,
                **(
                    {observed: {"type": "date", "nullable": False, "known_at_application": False}}
                    if observed in columns
                    else {}
                ),
            },
        },
        "loan_terms": _loan_terms(app_columns, numeric_amounts, decide),
        "maturity": {
            "observed_until": observed if observed in columns else event,
            "window_months": (
                _window_months(frames, event, observed, decide) if observed in columns else 0
            ),
        },
    }
    if observed not in columns:
        contract["outcomes"]["columns"][event] = {"type": "date", "nullable": False}
    text = yaml.safe_dump(contract, sort_keys=False, default_flow_style=None, width=100)
    header = [
        f"# Drafted by `credit-risk contract draft` from {rows:,} rows. Check every",
        "# column's type, range and categories; mark personal data `pii: true`. Then run",
        "# `credit-risk contract check` on the files. Decide where marked:",
        *[f"# DECIDE {where}: {why}" for where, why in decide.items()],
    ]
    return "\n".join(header) + "\n" + text


def refusal_lines(spec: DatasetSpec, violations: list[Violation]) -> list[str]:
    """One line per column and rule: how many rows, and three examples (the row number,
    and the value unless the column holds personal data)."""
    groups: Counter[tuple[str, str]] = Counter((v.column, v.rule) for v in violations)
    lines = []
    for (column, rule), count in groups.most_common():
        col = spec.columns.get(column)
        personal = col is None or col.pii or col.protected
        examples = [
            f"row {v.row_number}" + ("" if personal or v.value is None else f" {v.value!r}")
            for v in violations
            if (v.column, v.rule) == (column, rule)
        ][:3]
        lines.append(f"  {column}: {rule}: {count:,} rows (e.g. {', '.join(examples)})")
    return lines


def check(contract: Contract, files: list[Path]) -> tuple[str, bool]:
    """What loading ``files`` against ``contract`` would do, before any load; the report
    and whether the data can train (defaults and non-defaults both present)."""
    lines: list[str] = []
    defaults = non_defaults = 0
    for path in files:
        raw = read_raw(path.read_bytes(), path.name)
        for dataset in ("applications", "outcomes"):
            spec = contract.dataset(dataset)
            missing = [c for c in spec.columns if c not in raw.columns]
            if missing:
                lines.append(f"{path.name} as {dataset}: cannot load, missing {', '.join(missing)}")
                continue
            ignored = [c for c in raw.columns if c not in spec.columns]
            validated = validate_frame(spec, raw[list(spec.columns)])
            refused = len(validated.bad_row_numbers)
            lines.append(
                f"{path.name} as {dataset}: {len(raw):,} rows, {refused:,} would be refused"
                + (f"; ignores columns {', '.join(ignored)}" if ignored else "")
            )
            lines += refusal_lines(spec, validated.violations)
            if dataset == "outcomes" and spec.target in validated.good:
                labels = spec.labels(validated.good[spec.target]).dropna().astype(int)
                defaults += int(labels.sum())
                non_defaults += int((labels == 0).sum())
    trainable = defaults > 0 and non_defaults > 0
    lines.append(
        f"training: {defaults:,} defaults and {non_defaults:,} non-defaults"
        + ("" if trainable else " (it needs both: check the target and its 'positive' values)")
    )
    return "\n".join(lines), trainable
