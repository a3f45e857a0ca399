"""Synthetic consumer-loan data that satisfies the default dataset contract.

The generator draws customers, their loan applications and what happened to each loan,
seeded and fully vectorised (a million applications in a few seconds). It also records
every application's true probability of default, so the best achievable ranking, the
oracle AUC, is known for any sample.

Population
    About ``n / 1.3`` customers; each has at least one application and some have several.
    A hidden creditworthiness ``z ~ N(0, 1)`` per customer (higher is worse) drives the
    bureau score, income, utilisation, delinquencies, inquiries and public records, so the
    observed columns are correlated the way real bureau data is. About 8% of customers are
    thin-file: no bureau score and a short or missing credit history. Income is lognormal
    by employment status and age; loan size is lognormal relative to income by purpose.

Latent default model (12-month probability of default)
    ``logit(pd) = b0 + sum of the terms below``; every term reads only application
    columns (or the derived features of the default contract), so a model of the observed
    data can in principle reach the oracle. ``z`` enters only through them.

    ======================  ===========================================================
    bureau score            ``-0.012 * (score - 680)``; thin file (missing) ``+0.55``
    debt-to-income (DTI)    ``1.2 * dti + 2.0 * max(dti - 0.35, 0) * (1 + 1.5 * u)``
                            where ``u`` = self_employed or unemployed (interaction)
    instalment burden       ``0.8 * b + 3.0 * max(b - 0.15, 0)``, ``b`` capped at 0.8
                            (annual instalment of the new loan over income)
    utilisation             ``0.4 * r + 2.5 * max(r - 0.75, 0)`` (hinge);
                            no revolving limit ``+0.2``
    credit history          ``-0.35 * log1p(years)``; missing first_credit_date ``+0.3``
    delinquencies_24m       ``1.3 * (1 - exp(-d / 1.2)) * (1 + 0.8 * [history < 3y])``
                            (saturating, and worse with a short history: interaction)
    inquiries_6m            ``0.35 * log1p(i)``
    public_records          ``0.7 * min(p, 2)``
    employment_status       unemployed +0.7, student +0.3, self_employed +0.25,
                            employed 0, retired -0.1
    employment_years        ``-0.35 * (1 - exp(-years / 3))`` (0 when missing)
    housing_status          own -0.2, mortgage -0.15, rent +0.1, other +0.2
    loan_purpose            business +0.45, medical +0.3, debt_consolidation +0.15,
                            education +0.1, other +0.1, home_improvement -0.1, car -0.2
    annual_income           ``-0.15 * log(income / 40000)``
    ======================  ===========================================================

    ``region`` has no effect: a realistic irrelevant feature. The interest rate is priced
    by the lender from a noisy view of the same risk (all terms but the burden, plus
    ``N(0, 0.35)`` noise), then the instalment follows from the rate; ``b0`` is solved on
    the sample so the mean true PD is 15%.

Protected attributes (``protected: true`` in the default contract; never model inputs)
    ``age_band`` is the age at application, ``18-39`` or ``40+``. Age shapes employment,
    housing, income and credit history above, so the under-40s have a higher true PD
    (0.167 against 0.137 on 20,000 rows): even the true PD approves them at 0.91 times
    the rate of the over-40s under the default policy (adverse impact ratio).
    ``applicant_group`` (``group_a`` / ``group_b``) is drawn per customer from its own
    random stream: ``group_b`` with probability
    ``sigmoid(-1.1 + 1.0 * [region east or west] - 0.6 * income_effect)``, about 31% of
    customers (47-49% in the east and west, 23-25% elsewhere) and lower incomes (median
    42,300 against 46,500). It has no effect on the PD of its own (true PD 0.159 against
    0.146), so the true PD approves both groups nearly alike (adverse impact ratio 0.94)
    and so does a model of the features, while a model that learns a proxy of the group
    from biased labels does not.

Outcomes
    A loan defaults within the 12-month window with its true PD; the default date falls
    90 days to 12 months after the application. Loans are observed until
    ``observation_date = min(as_of, application_date + 12 months)``; a default after
    ``as_of`` is not yet visible. With the default ``as_of`` (six months after the last
    application) the most recent applications are not matured: ``defaulted = 0`` there
    is not a usable label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["SyntheticData", "generate", "oracle_auc", "write_dataset"]

SEED_EXAMPLE_CUSTOMER = 123
"""The customer the seed's example request scores (``{"customer_id": 123, ...}``)."""

TARGET_DEFAULT_RATE = 0.15
WINDOW_MONTHS = 12
THIN_FILE_SHARE = 0.08
APPLICATIONS_PER_CUSTOMER = 1.3

EMPLOYMENT = ["employed", "self_employed", "unemployed", "retired", "student"]
HOUSING = ["own", "mortgage", "rent", "other"]
REGIONS = ["north", "south", "east", "west", "central"]
PURPOSES = [
    "debt_consolidation",
    "home_improvement",
    "car",
    "business",
    "medical",
    "education",
    "other",
]
AGE_BANDS = ["18-39", "40+"]
GROUPS = ["group_a", "group_b"]
GROUP_B_LOGIT = -1.1
TERMS = np.array([12, 24, 36, 48, 60, 72, 84, 120])

# Risk effects on the logit, in the order of the category lists above.
_EMPLOYMENT_EFFECT = np.array([0.0, 0.25, 0.7, -0.1, 0.3])
_HOUSING_EFFECT = np.array([-0.2, -0.15, 0.1, 0.2])
_PURPOSE_EFFECT = np.array([0.15, -0.1, -0.2, 0.45, 0.3, 0.1, 0.1])

# Employment status by age band (under 25, 25-62, 63 and over).
_EMPLOYMENT_BY_AGE = np.array(
    [
        [0.50, 0.05, 0.13, 0.00, 0.32],
        [0.76, 0.13, 0.07, 0.02, 0.02],
        [0.17, 0.07, 0.03, 0.73, 0.00],
    ]
)
# Housing by age band (under 30, 30-49, 50 and over).
_HOUSING_BY_AGE = np.array(
    [
        [0.05, 0.15, 0.62, 0.18],
        [0.12, 0.48, 0.34, 0.06],
        [0.45, 0.33, 0.18, 0.04],
    ]
)
# Median annual income by employment status, and its spread (log scale).
_INCOME_MEDIAN = np.array([40_000.0, 46_000.0, 14_000.0, 26_000.0, 12_000.0])
_INCOME_SPREAD = np.array([0.40, 0.65, 0.35, 0.35, 0.35])
_REGION_WEIGHTS = np.array([0.22, 0.24, 0.16, 0.14, 0.24])
_PURPOSE_WEIGHTS = np.array([0.35, 0.14, 0.18, 0.07, 0.06, 0.05, 0.15])
# Median loan amount as a share of income, by purpose.
_LOAN_TO_INCOME = np.array([0.30, 0.35, 0.40, 0.50, 0.12, 0.30, 0.15])
# Term probabilities over TERMS, by purpose.
_TERM_BY_PURPOSE = np.array(
    [
        [0.10, 0.20, 0.30, 0.20, 0.20, 0.00, 0.00, 0.00],
        [0.00, 0.05, 0.25, 0.10, 0.30, 0.00, 0.15, 0.15],
        [0.00, 0.10, 0.25, 0.25, 0.25, 0.15, 0.00, 0.00],
        [0.20, 0.30, 0.30, 0.00, 0.20, 0.00, 0.00, 0.00],
        [0.35, 0.35, 0.30, 0.00, 0.00, 0.00, 0.00, 0.00],
        [0.05, 0.15, 0.30, 0.20, 0.30, 0.00, 0.00, 0.00],
        [0.30, 0.30, 0.25, 0.05, 0.10, 0.00, 0.00, 0.00],
    ]
)

# fmt: off
_FIRST_NAMES = [
    "Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Muhammad", "Oscar",
    "Charlie", "Jacob", "Thomas", "Henry", "William", "Freddie", "James", "Theo", "Alfie",
    "Archie", "Joshua", "Daniel", "Samuel", "Adam", "David", "Ryan", "Olivia", "Amelia", "Isla",
    "Ava", "Ivy", "Freya", "Lily", "Florence", "Mia", "Willow", "Rosie", "Sophia", "Isabella",
    "Grace", "Evie", "Poppy", "Ella", "Emily", "Sophie", "Chloe", "Hannah", "Priya", "Aisha",
    "Fatima", "Zara", "Mei", "Anna", "Maria", "Elena", "Sara"
]
_LAST_NAMES = [
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
    "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
    "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood",
    "Turner", "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore", "Clark", "Lee", "King",
    "Baker", "Harrison", "Morgan", "Allen", "James", "Scott", "Phillips", "Watson", "Davis",
    "Parker", "Price", "Bennett", "Young", "Griffiths", "Mitchell", "Kelly", "Cook", "Carter",
    "Richardson", "Bailey", "Collins", "Bell", "Shaw", "Murphy", "Khan", "Ali", "Singh"
]
_STREETS = [
    "High", "Church", "Station", "Victoria", "Green", "Manor", "Park", "Queens", "Kings",
    "Grange", "Mill", "School", "Chapel", "New", "Springfield", "Albert", "Windsor",
    "Highfield", "Orchard", "Meadow", "Cedar", "Beech", "Oak", "Willow", "Elm", "Ash", "Mount",
    "Riverside", "Castle", "Bridge", "Market", "North", "South", "West", "East", "Hillside",
    "Forest"
]
# fmt: on
_STREET_TYPES = ["Street", "Road", "Lane", "Avenue", "Close", "Drive", "Way", "Crescent"]
# Six towns per region, in the order of REGIONS.
# fmt: off
_TOWNS = [
    "Leeds", "Newcastle", "York", "Durham", "Carlisle", "Sunderland",
    "Brighton", "Exeter", "Plymouth", "Southampton", "Bournemouth", "Portsmouth",
    "Norwich", "Cambridge", "Ipswich", "Colchester", "Chelmsford", "Peterborough",
    "Bristol", "Cardiff", "Bath", "Gloucester", "Swansea", "Taunton",
    "Birmingham", "Coventry", "Leicester", "Nottingham", "Derby", "Wolverhampton",
]
# fmt: on
_TOWNS_PER_REGION = 6
_DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com"]
_LETTERS = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
# National ids are an affine bijection of the customer number, so they never collide.
_NATIONAL_ID_SPACE = 26 * 26 * 1_000_000
_NATIONAL_ID_MULTIPLIER = 387_420_489  # 3**18, coprime with the space


@dataclass
class SyntheticData:
    """One synthetic dataset: the contract's two files plus each application's true PD."""

    applications: pd.DataFrame
    outcomes: pd.DataFrame
    true_pd: pd.DataFrame


def generate(
    n_applications: int,
    *,
    seed: int = 42,
    start: str = "2022-01-01",
    months: int = 24,
    as_of: str | None = None,
) -> SyntheticData:
    """Draw ``n_applications`` applications, their outcomes and true PDs.

    Applications are dated uniformly over ``months`` months from ``start``. Outcomes are
    observed up to ``as_of`` (default: six months after the last possible application
    date). The same arguments always give the same frames.
    """
    if n_applications < 1:
        raise ValueError("n_applications must be at least 1")
    if n_applications > 99_999_999:
        raise ValueError("n_applications above 99,999,999 do not fit the id format")
    if months < 1:
        raise ValueError("months must be at least 1")
    rng = np.random.default_rng(seed)
    n = n_applications
    first_day = pd.Timestamp(start).normalize()
    end = first_day + pd.DateOffset(months=months)
    observed_until = (
        end + pd.DateOffset(months=6) if as_of is None else pd.Timestamp(as_of).normalize()
    )
    if observed_until < end - pd.Timedelta(days=1):
        raise ValueError(f"as_of {observed_until.date()} precedes the last application date")

    # Applications in date order; customers numbered by their first application.
    span_days = (end - first_day).days
    app_day = np.sort(rng.integers(0, span_days, n))
    app_date = np.datetime64(first_day.date(), "D") + app_day.astype("timedelta64[D]")
    n_customers = max(1, min(n, round(n / APPLICATIONS_PER_CUSTOMER)))
    draw = np.concatenate([np.arange(n_customers), rng.integers(0, n_customers, n - n_customers)])
    draw = rng.permutation(draw)
    _, first_app = np.unique(draw, return_index=True)
    rank = np.empty(n_customers, dtype=np.int64)
    rank[np.argsort(first_app)] = np.arange(n_customers)
    cust = rank[draw]
    cust_first_date = app_date[np.sort(first_app)]

    customers = _draw_customers(rng, n_customers, cust_first_date)
    applications, risk = _draw_applications(rng, n, app_date, cust, customers)
    applications.insert(0, "application_id", _prefixed("A", np.arange(1, n + 1), 8))
    # Customer numbers C0000001, C0000002, …, except the 123rd customer, who is "123": the
    # seed document's own example request scores customer 123 (README, ./run demo).
    customer_ids = _prefixed("C", cust + 1, 7)
    customer_ids[cust + 1 == SEED_EXAMPLE_CUSTOMER] = str(SEED_EXAMPLE_CUSTOMER)
    applications.insert(1, "customer_id", customer_ids)
    applications = pd.concat(
        [applications, _protected_attributes(seed, applications, cust, customers)], axis=1
    )
    true_pd = _sigmoid(risk + _calibrated_intercept(risk, TARGET_DEFAULT_RATE))

    outcomes = _draw_outcomes(rng, app_date, true_pd, observed_until)
    outcomes.insert(0, "application_id", applications["application_id"])
    true_pd_frame = pd.DataFrame(
        {"application_id": applications["application_id"], "true_pd": true_pd}
    )
    return SyntheticData(applications=applications, outcomes=outcomes, true_pd=true_pd_frame)


def write_dataset(
    data: SyntheticData,
    out_dir: Path,
    fmt: Literal["csv", "csv.gz", "parquet"] = "csv",
) -> dict[str, Path]:
    """Write ``applications``, ``outcomes`` and ``true_pd`` files; return their paths.

    CSV dates are ISO ``yyyy-mm-dd`` strings and missing values are empty cells; gzip
    output is byte-for-byte reproducible.
    """
    if fmt not in ("csv", "csv.gz", "parquet"):
        raise ValueError(f"unknown format '{fmt}'; expected csv, csv.gz or parquet")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = {
        "applications": data.applications,
        "outcomes": data.outcomes,
        "true_pd": data.true_pd,
    }
    paths: dict[str, Path] = {}
    for name, frame in frames.items():
        path = out_dir / f"{name}.{fmt}"
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            compression = {"method": "gzip", "mtime": 0} if fmt == "csv.gz" else None
            frame.to_csv(
                path, index=False, date_format="%Y-%m-%d", na_rep="", compression=compression
            )
        paths[name] = path
    return paths


def oracle_auc(
    outcomes: pd.DataFrame,
    true_pd: pd.DataFrame,
    *,
    applications: pd.DataFrame | None = None,
    window_months: int = WINDOW_MONTHS,
) -> float:
    """The AUC of the true PD against the observed ``defaulted`` flag: the ceiling.

    With ``applications`` given, only matured outcomes count (defaulted, or observed for
    the whole window); otherwise every outcome does.
    """
    from sklearn.metrics import roc_auc_score

    rows = outcomes.merge(true_pd, on="application_id", how="inner", validate="one_to_one")
    if applications is not None:
        dates = applications[["application_id", "application_date"]]
        rows = rows.merge(dates, on="application_id", how="inner", validate="one_to_one")
        window_end = pd.to_datetime(rows["application_date"]) + pd.DateOffset(months=window_months)
        matured = (rows["defaulted"] == 1) | (
            pd.to_datetime(rows["observation_date"]) >= window_end
        )
        rows = rows.loc[matured]
    return float(roc_auc_score(rows["defaulted"].to_numpy(), rows["true_pd"].to_numpy()))


# --- customers -------------------------------------------------------------------------


@dataclass
class _Customers:
    """Customer-level draws, one entry per customer."""

    z: np.ndarray
    age_at_first: np.ndarray
    thin_file: np.ndarray
    region: np.ndarray
    housing: np.ndarray
    income_effect: np.ndarray
    first_credit_date: np.ndarray  # datetime64[D], NaT when there is no credit line
    date_of_birth: np.ndarray
    personal: pd.DataFrame


def _draw_customers(rng: np.random.Generator, m: int, first_date: np.ndarray) -> _Customers:
    z = rng.standard_normal(m)
    age = np.clip(rng.normal(42.0, 13.0, m), 18.0, 85.0)
    birth_days = np.floor(age * 365.25).astype(np.int64) + rng.integers(0, 365, m)
    birth_days = np.maximum(birth_days, 18 * 366)
    date_of_birth = first_date - birth_days.astype("timedelta64[D]")
    thin = rng.random(m) < THIN_FILE_SHARE

    # Credit history at the first application: years, capped by adulthood.
    adult_years = np.maximum(age - 18.0, 0.3)
    history = np.minimum(rng.gamma(2.2, 4.5, m) + 0.5, adult_years)
    history = np.where(thin, rng.uniform(0.0, 1.5, m), history)
    no_credit_line = thin & (rng.random(m) < 0.5)
    history_days = np.round(history * 365.25).astype(np.int64)
    first_credit = first_date - history_days.astype("timedelta64[D]")
    first_credit[no_credit_line] = np.datetime64("NaT")

    region = _choose(rng, _REGION_WEIGHTS, m)
    age_band = np.digitize(age, [30.0, 50.0])
    housing = _choose(rng, _HOUSING_BY_AGE[age_band], m)
    income_effect = rng.normal(0.0, 0.35, m) - 0.15 * z

    personal = _personal_data(rng, m, region)
    return _Customers(
        z=z,
        age_at_first=age,
        thin_file=thin,
        region=region,
        housing=housing,
        income_effect=income_effect,
        first_credit_date=first_credit,
        date_of_birth=date_of_birth,
        personal=personal,
    )


def _personal_data(rng: np.random.Generator, m: int, region: np.ndarray) -> pd.DataFrame:
    """Plausible names, contact details, national ids and addresses, one per customer."""
    first_code = rng.integers(0, len(_FIRST_NAMES), m)
    last_code = rng.integers(0, len(_LAST_NAMES), m)
    first = _pick(_FIRST_NAMES, first_code)
    last = _pick(_LAST_NAMES, last_code)
    full_name = first + " " + last

    suffix = _as_text(rng.integers(1, 100, m)).where(rng.random(m) < 0.6, "")
    separator = _pick([".", "_", ""], _choose(rng, np.array([0.6, 0.2, 0.2]), m))
    email = (
        _pick([s.lower() for s in _FIRST_NAMES], first_code)
        + separator
        + _pick([s.lower() for s in _LAST_NAMES], last_code)
        + suffix
        + "@"
        + _pick(_DOMAINS, rng.integers(0, len(_DOMAINS), m))
    )
    phone = (
        "07"
        + _digits(rng.integers(0, 1_000, m), 3)
        + " "
        + _digits(rng.integers(0, 1_000_000, m), 6)
    )

    offset = int(rng.integers(0, _NATIONAL_ID_SPACE))
    key = (np.arange(m, dtype=np.int64) * _NATIONAL_ID_MULTIPLIER + offset) % _NATIONAL_ID_SPACE
    national_id = (
        _pick(_LETTERS, key // (26 * 1_000_000))
        + _pick(_LETTERS, (key // 1_000_000) % 26)
        + _digits(key % 1_000_000, 6)
        + _pick(_LETTERS[:4], rng.integers(0, 4, m))
    )

    town = region * _TOWNS_PER_REGION + rng.integers(0, _TOWNS_PER_REGION, m)
    postcode = (
        _pick(_LETTERS, rng.integers(0, 26, m))
        + _pick(_LETTERS, rng.integers(0, 26, m))
        + _as_text(rng.integers(1, 30, m))
        + " "
        + _as_text(rng.integers(1, 10, m))
        + _pick(_LETTERS, rng.integers(0, 26, m))
        + _pick(_LETTERS, rng.integers(0, 26, m))
    )
    address = (
        _as_text(rng.integers(1, 250, m))
        + " "
        + _pick(_STREETS, rng.integers(0, len(_STREETS), m))
        + " "
        + _pick(_STREET_TYPES, rng.integers(0, len(_STREET_TYPES), m))
        + ", "
        + _pick(_TOWNS, town)
        + " "
        + postcode
    )
    # Contact details are sometimes not on file.
    email = email.where(rng.random(m) >= 0.03, None)
    phone = phone.where(rng.random(m) >= 0.05, None)
    return pd.DataFrame(
        {
            "full_name": full_name,
            "email": email,
            "phone": phone,
            "national_id": national_id,
            "address": address,
        }
    )


# --- applications ----------------------------------------------------------------------


def _draw_applications(
    rng: np.random.Generator,
    n: int,
    app_date: np.ndarray,
    cust: np.ndarray,
    customers: _Customers,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Application columns (without ids) and each row's risk logit, before the intercept."""
    z = customers.z[cust]
    thin = customers.thin_file[cust]
    first_credit = customers.first_credit_date[cust]
    age = (app_date - customers.date_of_birth[cust]).astype(np.int64) / 365.25
    has_history = ~np.isnat(first_credit)
    history_days = (app_date - first_credit).astype(np.int64)
    history_or_zero = np.where(has_history, history_days / 365.25, 0.0)

    # Employment: status by age band, nudged towards unemployment by hidden risk.
    age_band = np.digitize(age, [25.0, 63.0])
    employment_probs = _EMPLOYMENT_BY_AGE[age_band].copy()
    employment_probs[:, 2] *= np.exp(0.35 * z)
    employment = _choose(rng, employment_probs, n)
    working = employment <= 1
    tenure_cap = np.maximum(age - 16.0, 0.0)
    employment_years = np.round(np.minimum(rng.gamma(1.5, 3.5, n), tenure_cap), 1)
    employment_years = np.where(working & (rng.random(n) >= 0.02), employment_years, np.nan)
    employment_years = np.clip(employment_years, 0.0, 60.0)

    # Income: lognormal by status, a hump over age, and a persistent customer effect.
    age_curve = 0.25 * (1.0 - ((np.clip(age, 18.0, 85.0) - 50.0) / 32.0) ** 2)
    log_income = (
        np.log(_INCOME_MEDIAN[employment])
        + age_curve
        + _INCOME_SPREAD[employment] * customers.income_effect[cust] / 0.35
        + rng.normal(0.0, 0.08, n)
    )
    annual_income = np.clip(np.round(np.exp(log_income), -2), 3_000.0, 10_000_000.0)

    # Existing debt service: some have none; the rest a beta share of income.
    dti = rng.beta(2.0, 7.0, n) * np.exp(0.25 * z + rng.normal(0.0, 0.15, n))
    dti = np.where(rng.random(n) < 0.08, 0.0, np.minimum(dti, 1.5))
    monthly_debt = np.clip(np.round(dti * annual_income / 12.0, 2), 0.0, 1_000_000.0)
    dti = monthly_debt * 12.0 / annual_income

    # Bureau: score, delinquencies, searches, public records, accounts.
    score = np.clip(np.round(690.0 - 55.0 * z + rng.normal(0.0, 22.0, n)), 300, 850)
    delinquencies = np.minimum(rng.poisson(np.exp(-2.2 + 0.9 * z)), 100)
    inquiries = np.minimum(rng.poisson(np.exp(0.0 + 0.35 * z + 0.6 * thin)), 100)
    public_records = np.minimum(rng.poisson(np.exp(-3.6 + 0.8 * z)), 50)
    open_accounts = np.minimum(rng.poisson(1.0 + 0.45 * history_or_zero), 100)

    # Revolving credit: some have no card; utilisation rises with hidden risk.
    no_revolving = rng.random(n) < np.where(thin, 0.35, 0.04)
    limit = annual_income * 0.25 * np.exp(rng.normal(0.0, 0.6, n))
    limit = np.where(no_revolving, 0.0, np.clip(np.round(limit, -2), 100.0, 5_000_000.0))
    utilisation = 1.1 * _sigmoid(-0.9 + 1.0 * z + rng.normal(0.0, 1.0, n))
    balance = np.clip(np.round(utilisation * limit, 2), 0.0, 5_000_000.0)
    utilisation = np.divide(balance, limit, out=np.zeros(n), where=limit > 0)

    # The loan asked for.
    purpose = _choose(rng, _PURPOSE_WEIGHTS, n)
    amount = annual_income * _LOAN_TO_INCOME[purpose] * np.exp(rng.normal(0.0, 0.5, n))
    loan_amount = np.clip(np.round(amount, -1), 500.0, 2_000_000.0)
    term = TERMS[_choose(rng, _TERM_BY_PURPOSE[purpose], n)]

    housing = customers.housing[cust]
    risk_before_price = (
        np.where(thin, 0.55, -0.012 * (score - 680.0))
        + 1.2 * dti
        + 2.0 * np.maximum(dti - 0.35, 0.0) * (1.0 + 1.5 * ((employment == 1) | (employment == 2)))
        + 0.4 * utilisation
        + 2.5 * np.maximum(utilisation - 0.75, 0.0)
        + 0.2 * no_revolving
        + np.where(has_history, -0.35 * np.log1p(history_or_zero), 0.3)
        + 1.3 * (1.0 - np.exp(-delinquencies / 1.2)) * (1.0 + 0.8 * (history_or_zero < 3.0))
        + 0.35 * np.log1p(inquiries)
        + 0.7 * np.minimum(public_records, 2)
        + _EMPLOYMENT_EFFECT[employment]
        - 0.35 * (1.0 - np.exp(-np.nan_to_num(employment_years) / 3.0))
        + _HOUSING_EFFECT[housing]
        + _PURPOSE_EFFECT[purpose]
        - 0.15 * np.log(annual_income / 40_000.0)
    )

    # The lender prices from a noisy view of risk; the instalment follows from the rate.
    priced_view = risk_before_price + rng.normal(0.0, 0.35, n)
    priced_pd = _sigmoid(priced_view + _calibrated_intercept(priced_view, TARGET_DEFAULT_RATE))
    rate = np.round(np.clip(0.035 + 0.004 * term / 12.0 + 0.5 * priced_pd, 0.02, 0.45), 4)
    monthly_rate = rate / 12.0
    instalment = loan_amount * monthly_rate / (1.0 - (1.0 + monthly_rate) ** (-term))
    burden = np.minimum(instalment * 12.0 / annual_income, 0.8)
    risk = risk_before_price + 0.8 * burden + 3.0 * np.maximum(burden - 0.15, 0.0)

    personal = customers.personal.take(cust).reset_index(drop=True)
    bureau_score = pd.array(score.astype(np.int64), dtype="Int64")
    bureau_score[thin] = pd.NA
    applications = pd.DataFrame(
        {
            "application_date": _to_timestamps(app_date),
            "full_name": personal["full_name"],
            "email": personal["email"],
            "phone": personal["phone"],
            "national_id": personal["national_id"],
            "date_of_birth": _to_timestamps(customers.date_of_birth[cust]),
            "address": personal["address"],
            "employment_status": _pick(EMPLOYMENT, employment),
            "employment_years": employment_years,
            "annual_income": annual_income,
            "monthly_debt_payments": monthly_debt,
            "housing_status": _pick(HOUSING, housing),
            "region": _pick(REGIONS, customers.region[cust]),
            "bureau_score": bureau_score,
            "first_credit_date": _to_timestamps(first_credit),
            "open_accounts": open_accounts.astype(np.int64),
            "revolving_balance": balance,
            "revolving_limit": limit,
            "delinquencies_24m": delinquencies.astype(np.int64),
            "inquiries_6m": inquiries.astype(np.int64),
            "public_records": public_records.astype(np.int64),
            "loan_amount": loan_amount,
            "loan_term_months": term.astype(np.int64),
            "interest_rate": rate,
            "loan_purpose": _pick(PURPOSES, purpose),
        }
    )
    return applications, risk


# --- protected attributes ---------------------------------------------------------------


def _protected_attributes(
    seed: int, applications: pd.DataFrame, cust: np.ndarray, customers: _Customers
) -> pd.DataFrame:
    """``age_band`` and ``applicant_group``: protected attributes, never model inputs.

    Drawn from their own random stream, so every other column is what it was before they
    existed. ``applicant_group`` is per customer: ``group_b`` with probability
    ``sigmoid(GROUP_B_LOGIT + 1.0 * [region east or west] - 0.6 * income_effect)``, so
    about a third of customers, more in two regions and among lower incomes. It has no
    effect of its own on the PD; what links it to risk is income (a weak effect) and
    region (none), so a model of the features treats the groups nearly alike while a
    model fed a proxy of the group can learn to decline it.
    """
    rng = np.random.default_rng([seed, 14])
    east_or_west = np.isin(customers.region, [REGIONS.index("east"), REGIONS.index("west")])
    logit = GROUP_B_LOGIT + 1.0 * east_or_west - 0.6 * customers.income_effect
    group_b = rng.random(len(logit)) < _sigmoid(logit)
    age_days = (
        applications["application_date"].to_numpy().astype("M8[D]")
        - applications["date_of_birth"].to_numpy().astype("M8[D]")
    ).astype(np.int64)
    age_band = np.digitize(age_days / 365.25, [40.0])
    return pd.DataFrame(
        {
            "age_band": _pick(AGE_BANDS, age_band),
            "applicant_group": _pick(GROUPS, group_b[cust].astype(np.int64)),
        }
    )


# --- outcomes --------------------------------------------------------------------------


def _draw_outcomes(
    rng: np.random.Generator,
    app_date: np.ndarray,
    true_pd: np.ndarray,
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """Defaults drawn from the true PD, observed up to ``as_of``."""
    n = len(app_date)
    applied = pd.DatetimeIndex(_to_timestamps(app_date))
    window_end = (applied + pd.DateOffset(months=WINDOW_MONTHS)).to_numpy().astype("M8[D]")
    window_days = (window_end - app_date).astype(np.int64)
    defaults = rng.random(n) < true_pd
    # 90+ days past due: no earlier than 90 days after the application.
    offset = 90 + np.floor(rng.beta(2.0, 2.5, n) * (window_days - 90 + 1)).astype(np.int64)
    offset = np.minimum(offset, window_days)
    default_date = app_date + offset.astype("timedelta64[D]")
    as_of_day = np.datetime64(as_of.date(), "D")
    observed = defaults & (default_date <= as_of_day)
    default_date[~observed] = np.datetime64("NaT")
    observation_date = np.minimum(window_end, as_of_day)
    return pd.DataFrame(
        {
            "defaulted": observed.astype(np.int64),
            "default_date": _to_timestamps(default_date),
            "observation_date": _to_timestamps(observation_date),
        }
    )


# --- helpers ---------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _calibrated_intercept(logit: np.ndarray, target: float) -> float:
    """The shift ``b`` with ``mean(sigmoid(logit + b)) == target`` (Newton's method)."""
    b = float(np.log(target / (1.0 - target)) - np.mean(logit))
    for _ in range(50):
        p = _sigmoid(logit + b)
        gap = float(p.mean()) - target
        if abs(gap) < 1e-10:
            break
        b -= gap / max(float(np.mean(p * (1.0 - p))), 1e-12)
    return b


def _choose(rng: np.random.Generator, probs: np.ndarray, n: int | None = None) -> np.ndarray:
    """Category codes drawn from one probability vector, or one row of ``probs`` per draw."""
    if probs.ndim == 1:
        assert n is not None
        return rng.choice(len(probs), size=n, p=probs / probs.sum())
    cumulative = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cumulative[:, -1]
    codes = (u[:, None] >= cumulative).sum(axis=1)
    return np.minimum(codes, probs.shape[1] - 1)


def _pick(options: Sequence[str], codes: np.ndarray) -> pd.Series:
    """The strings at ``codes``, as a string Series."""
    return pd.Series(pd.array(list(options), dtype="str").take(np.asarray(codes)))


def _as_text(values: np.ndarray) -> pd.Series:
    return pd.Series(values).astype("str")


def _digits(values: np.ndarray, width: int) -> pd.Series:
    return _as_text(values).str.zfill(width)


def _prefixed(prefix: str, numbers: np.ndarray, width: int) -> pd.Series:
    return prefix + _digits(numbers, width)


def _to_timestamps(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[s]")
