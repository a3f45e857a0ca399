"""The one place that creates the Powertools logger, tracer and metrics.

Each function names itself with ``POWERTOOLS_SERVICE_NAME`` (template.yaml), so its log
lines, traces and metrics carry its own service name; outside Lambda it is
``credit-risk``. Tracing is off outside Lambda (Powertools detects it).
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "credit-risk"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="CreditRisk", service=SERVICE)
