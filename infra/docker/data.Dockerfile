# The data functions (ingest, ETL, quality, snapshot, batch score, monitor, re-score) as one
# container image: pandas + pyarrow (+ numpy, xgboost for tree champions) do not fit a
# 250 MB zip beside the core layer. Each function picks its handler with ImageConfig.Command.
# Built by `sam build` (Metadata of each function in template.yaml).
FROM public.ecr.aws/lambda/python:3.13

COPY infra/docker/data-requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt

COPY layers/core/python/ ${LAMBDA_TASK_ROOT}/
COPY functions/ingest/app.py ${LAMBDA_TASK_ROOT}/ingest.py
COPY functions/etl/app.py ${LAMBDA_TASK_ROOT}/etl_handler.py
COPY functions/quality/app.py ${LAMBDA_TASK_ROOT}/quality_handler.py
COPY functions/snapshot/app.py ${LAMBDA_TASK_ROOT}/snapshot.py
COPY functions/score/app.py ${LAMBDA_TASK_ROOT}/score.py
COPY functions/monitor/app.py ${LAMBDA_TASK_ROOT}/monitor.py
COPY functions/rescore/app.py ${LAMBDA_TASK_ROOT}/rescore.py
# Lambda's code folder is read-only: compile now, or every cold start recompiles.
RUN python -m compileall -q ${LAMBDA_TASK_ROOT}

CMD ["ingest.handler"]
