"""ETL: a staged batch becomes pseudonymised features or matured labels in analytics.

Rows are upserted by application id inside one transaction, so re-running a batch gives
the same result and a failure leaves the previous state intact.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, MetaData, select

from credit_risk.adapters.observability import logger
from credit_risk.contract import Contract
from credit_risk.data.features import build_features
from credit_risk.data.pseudonymise import pseudonymise
from credit_risk.db import schema
from credit_risk.db.batched import delete_in, rows_in
from credit_risk.db.bulk import load_frame, read_frame
from credit_risk.errors import NotFoundError


@dataclass
class EtlResult:
    """What one batch's ETL wrote."""

    batch_id: str
    dataset: str
    rows_written: int
    rows_unmatched: int = 0
    rows_matured: int = 0


def application_features(
    contract: Contract, staged: pd.DataFrame, key: bytes, batch_id: str
) -> pd.DataFrame:
    """The analytics rows for staged applications: keys pseudonymised, PII dropped."""
    spec = contract.applications
    features = build_features(contract, staged)
    out = pd.DataFrame(
        {
            "application_id": staged[spec.id].astype(str).to_numpy(),
            "customer_key": pseudonymise(staged[spec.customer_key or spec.id], key).to_numpy(),
            "event_date": pd.to_datetime(staged[spec.event_date]).to_numpy(),
            "_batch_id": batch_id,
        },
        index=staged.index,
    )
    inputs = staged[contract.input_columns]
    return pd.concat([out, features, inputs], axis=1).reset_index(drop=True)


def protected_attributes(
    contract: Contract, staged: pd.DataFrame, key: bytes, batch_id: str
) -> pd.DataFrame:
    """The analytics rows of staged applications' protected attributes: keyed pseudonyms
    of each value (never the value), for fairness figures per group."""
    spec = contract.applications
    out = pd.DataFrame(
        {"application_id": staged[spec.id].astype(str).to_numpy(), "_batch_id": batch_id}
    )
    for name in spec.protected_columns:
        out[name] = pseudonymise(staged[name], key).to_numpy()
    return out


def matured_labels(
    contract: Contract, outcomes: pd.DataFrame, application_dates: pd.Series, batch_id: str
) -> pd.DataFrame:
    """Labels joined to their application date; a label is usable once it has matured.

    A loan has matured when it was observed for the whole performance window after its
    application date. Early defaults of recent loans do not count yet: their vintage's
    non-defaults are not known yet, and counting only its defaults would inflate the
    default rate of recent months (and bias an out-of-time holdout).
    """
    spec = contract.outcomes
    observed = pd.to_datetime(outcomes[contract.maturity.observed_until])
    applied = pd.to_datetime(outcomes[spec.id].map(application_dates))
    target = spec.labels(outcomes[spec.target]).astype(int)
    # Calendar months, not 30.4-day months: a loan observed for exactly twelve calendar
    # months has matured.
    window = observed >= applied + pd.DateOffset(months=contract.maturity.window_months)
    return pd.DataFrame(
        {
            "application_id": outcomes[spec.id].astype(str).to_numpy(),
            "target": target.to_numpy(),
            "observed_until": observed.to_numpy(),
            "matured": window.fillna(False).to_numpy(),
            "_batch_id": batch_id,
        }
    )


class Etl:
    """Builds analytics rows for a staged batch."""

    def __init__(self, *, engine: Engine, contract: Contract, pseudonym_key: bytes) -> None:
        self.engine = engine
        self.contract = contract
        self.key = pseudonym_key
        meta = MetaData()
        self.staging = {
            d: schema.staging_table(contract, d, meta) for d in ("applications", "outcomes")
        }
        self.features = schema.features_table(contract, meta)
        self.labels = schema.labels_table(meta)
        self.protected = schema.protected_table(contract, meta)

    def run(self, batch_id: str, dataset: str) -> EtlResult:
        """Transform one batch; NotFoundError when staging holds nothing for it."""
        table = self.staging[dataset]
        with self.engine.begin() as conn:
            staged = read_frame(conn, select(table).where(table.c._batch_id == batch_id))
            if staged.empty:
                raise NotFoundError(f"staging holds no rows for batch {batch_id}")
            if dataset == "applications":
                result = self._applications(conn, staged, batch_id)
            else:
                result = self._outcomes(conn, staged, batch_id)
        logger.info("etl done", extra={"batch_id": batch_id, "rows": result.rows_written})
        return result

    def _applications(self, conn, staged: pd.DataFrame, batch_id: str) -> EtlResult:  # type: ignore[no-untyped-def]
        rows = application_features(self.contract, staged, self.key, batch_id)
        rows = rows.drop_duplicates("application_id", keep="last")
        delete_in(conn, self.features.c.application_id, rows["application_id"].tolist())
        load_frame(conn, self.features, rows)
        protected = protected_attributes(self.contract, staged, self.key, batch_id)
        protected = protected.drop_duplicates("application_id", keep="last")
        delete_in(conn, self.protected.c.application_id, protected["application_id"].tolist())
        load_frame(conn, self.protected, protected)
        return EtlResult(batch_id, "applications", len(rows))

    def _outcomes(self, conn, staged: pd.DataFrame, batch_id: str) -> EtlResult:  # type: ignore[no-untyped-def]
        spec = self.contract.outcomes
        ids = staged[spec.id].astype(str).unique().tolist()
        key = self.features.c.application_id
        found = rows_in(conn, [key, self.features.c.event_date], key, ids)
        known: dict[str, object] = {app_id: applied for app_id, applied in found}
        matched = staged[staged[spec.id].astype(str).isin(known)]
        labels = matured_labels(self.contract, matched, pd.Series(known), batch_id)
        labels = labels.drop_duplicates("application_id", keep="last")
        delete_in(conn, self.labels.c.application_id, labels["application_id"].tolist())
        load_frame(conn, self.labels, labels)
        return EtlResult(
            batch_id,
            "outcomes",
            len(labels),
            rows_unmatched=len(staged) - len(matched),
            rows_matured=int(labels["matured"].sum()),
        )
