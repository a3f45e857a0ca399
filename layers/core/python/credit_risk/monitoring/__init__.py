"""Monitoring: portfolio and model health, as figures, a dashboard and alerts.

Pure (no boto3, botocore or SQLAlchemy):

- :mod:`.figures`: drift, portfolio and performance figures from plain frames;
- :mod:`.dashboard`: the dashboard page (one offline HTML file);
- :mod:`.policy_report`: a policy simulation drawn: the efficient frontier (also on the
  dashboard), figures and swap set.

I/O:

- :mod:`.service`: a monitoring run (read the portfolio, store the snapshot, write the
  dashboard, alert, maybe retrain).
"""
