"""Adapters to the world outside the process (all I/O):

- :mod:`.settings`: typed settings, read once from the environment;
- :mod:`.observability`: the one place that creates the Powertools logger, tracer and
  metrics;
- :mod:`.aws`: one boto3 session per container, S3 objects, Step Functions executions,
  secrets;
- :mod:`.alerts`: readable operator alerts, published to SNS.

The database adapter is :mod:`credit_risk.db`.
"""
