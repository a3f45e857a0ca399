"""Data in: a landed file becomes validated staging rows, then pseudonymised features.

Pure (no boto3, botocore or SQLAlchemy):

- :mod:`.reading`: a file's bytes (CSV, CSV.gz, Parquet) into a raw frame, or a reason;
- :mod:`.validation`: the rows checked against the contract, cell by cell;
- :mod:`.features`: feature engineering, for a batch (pandas) and for one row (plain
  Python), equal bit for bit;
- :mod:`.quality`: the data-quality checks and their report;
- :mod:`.drift`: population stability (PSI) and the training baseline, the one
  implementation quality and monitoring share;
- :mod:`.pseudonymise`: keyed pseudonyms for personal data;
- :mod:`.generator`: the synthetic lender (customers, applications, outcomes, true PDs).

I/O:

- :mod:`.ingestion`: a landed S3 object into staging, exactly once;
- :mod:`.etl`: a staged batch into analytics (features, matured labels);
- :mod:`.gate`: the quality gate service (runs the checks, stores the report, stops).
"""
