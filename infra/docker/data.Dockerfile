# The data functions (ingest, ETL, quality, snapshot, batch score, monitor, re-score) as one
# container image: pandas + pyarrow (+ numpy, xgboost for tree champions) do not fit a
# 250 MB zip beside the core layer. Each function picks its handler with ImageConfig.Command.
# Built by `sam build` (Metadata of each function in template.yaml).
FROM public.ecr.aws/lambda/python:3.13

# Exactly the lock's versions: the requirement files are pinned to it and the lock
# constrains whatever they pull in (tests/unit/test_deploy_pins.py holds both; ./run
# check-deploy resolves this set to manylinux_2_34_aarch64 cp313 wheels).
COPY requirements/lock.txt /tmp/requirements/lock.txt
COPY layers/core/requirements.txt /tmp/requirements/core.txt
COPY infra/docker/data-requirements.txt /tmp/requirements/data.txt
RUN pip install --no-cache-dir --only-binary=:all: -c /tmp/requirements/lock.txt \
    -r /tmp/requirements/core.txt -r /tmp/requirements/data.txt

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
