"""The one seam between moto and our code: Lambda invocations run in-process.

moto 5's Lambda backend runs code only in Docker. Every invocation, from an S3
notification, from the Step Functions engine or from ``lambda.invoke``, ends in
``LambdaFunction._invoke_lambda(event)``, which returns ``(payload, errored, logs)``. We
replace that one method with a call to the real handler module named by the template's
CodeUri/Handler, under the template's environment. The patch is pinned to the moto
version it was written for and tested (tests/functional/test_dispatch.py). Two smaller
patches let a state machine run more than once (see _patch_execution_copy) and start
another one (see _patch_start_execution_parameters).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import moto
from moto.awslambda.models import LambdaFunction

SUPPORTED_MOTO = ("5.",)
_log = logging.getLogger("credit_risk_local.dispatch")
Handler = Callable[[Any, Any], Any]


@dataclass
class LocalContext:
    """The parts of the Lambda context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    timeout_s: int = 300
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))


@dataclass
class Invocation:
    """One record of an in-process invocation, for tests and the CLI."""

    function: str
    event: Any
    error_type: str | None
    seconds: float


class Dispatcher:
    """Maps function names to handlers and runs them when moto invokes a function."""

    def __init__(self) -> None:
        self._handlers: dict[str, tuple[Path, str]] = {}
        self._modules: dict[str, ModuleType] = {}
        self._overrides: dict[str, Handler] = {}
        self._async: dict[str, tuple[int, Callable[[dict[str, Any]], None]]] = {}
        self._lock = threading.RLock()
        self._running = threading.RLock()
        self.invocations: list[Invocation] = []

    def register(self, name: str, code_dir: Path, handler: str) -> None:
        """Route invocations of ``name`` to ``code_dir``'s ``module.function``."""
        self._handlers[name] = (code_dir, handler)

    def configure_async(
        self, name: str, *, retries: int, on_failure: Callable[[dict[str, Any]], None]
    ) -> None:
        """Events that only arrive asynchronously (S3 notifications) get Lambda's async
        contract for ``name``: ``retries`` more attempts, then ``on_failure`` receives the
        invocation record (Lambda's on-failure destination format)."""
        self._async[name] = (retries, on_failure)

    def override(self, name: str, handler: Handler | None) -> None:
        """Put a test double in front of a function (``None`` removes it)."""
        if handler is None:
            self._overrides.pop(name, None)
        else:
            self._overrides[name] = handler

    def handler_for(self, name: str) -> Handler:
        """Import (once) and return the real handler of ``name``."""
        code_dir, handler = self._handlers[name]
        module_name, func_name = handler.rsplit(".", 1)
        with self._lock:
            module = self._modules.get(name)
            if module is None:
                path = code_dir / f"{module_name.replace('.', '/')}.py"
                unique = f"_fn_{name}_{module_name.replace('.', '_')}"
                spec = importlib.util.spec_from_file_location(unique, path)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot import handler {handler} of {name} from {path}")
                module = importlib.util.module_from_spec(spec)
                sys.path.insert(0, str(code_dir))
                try:
                    sys.modules[unique] = module
                    spec.loader.exec_module(module)
                finally:
                    sys.path.remove(str(code_dir))
                self._modules[name] = module
        fn: Handler = getattr(module, func_name)
        return fn

    def invoke(self, name: str, arn: str, event: Any) -> tuple[str, bool, str]:
        """Run one invocation; return moto's ``(payload, errored, logs)`` triple.

        An S3 notification (asynchronous in AWS) to a function with an async config is
        retried, and its record sent to the on-failure destination when every try failed.
        """
        if isinstance(event, str | bytes):
            event = json.loads(event or "{}")
        if name not in self._async or not _is_s3_notification(event):
            return self._invoke_once(name, arn, event)
        retries, on_failure = self._async[name]
        attempts = retries + 1
        for _ in range(attempts):
            payload, errored, logs = self._invoke_once(name, arn, event)
            if not errored:
                return payload, errored, logs
        on_failure(
            {
                "version": "1.0",
                "timestamp": datetime.now(UTC).isoformat(),
                "requestContext": {
                    "requestId": uuid.uuid4().hex,
                    "functionArn": arn,
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": attempts,
                },
                "requestPayload": event,
                "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
                "responsePayload": json.loads(payload),
            }
        )
        return payload, errored, logs

    def _invoke_once(self, name: str, arn: str, event: Any) -> tuple[str, bool, str]:
        started = time.monotonic()
        error_type = None
        with self._lock:
            handler = self._overrides.get(name) or self.handler_for(name)
        # Invocations run one at a time. In AWS every concurrent invocation has a process
        # of its own; here they would share one interpreter (and the global state of
        # numpy, xgboost and scikit-learn) across moto's Map and Parallel threads.
        try:
            with self._running:
                result = handler(event, LocalContext(function_name=name, invoked_function_arn=arn))
            payload = json.dumps(result, default=str)
            errored = False
        except Exception as exc:  # the Lambda runtime's own contract: report, never raise
            error_type = type(exc).__name__
            payload = json.dumps(
                {
                    "errorMessage": str(exc),
                    "errorType": error_type,
                    "stackTrace": traceback.format_tb(exc.__traceback__),
                }
            )
            errored = True
            _log.warning("%s failed: %s: %s", name, error_type, exc, exc_info=exc)
        self.invocations.append(Invocation(name, event, error_type, time.monotonic() - started))
        return payload, errored, ""


def _is_s3_notification(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        return False
    return all(isinstance(r, dict) and r.get("eventSource") == "aws:s3" for r in records)


_active: Dispatcher | None = None
_original = LambdaFunction._invoke_lambda


def _share_on_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
    return self


def _patch_execution_copy() -> None:
    """moto 5.2 deep-copies a state machine, with its past executions, on every
    StartExecution; a past execution holds its worker's lock, so the second execution of
    any machine fails with "cannot pickle '_thread.RLock'". Past executions are records,
    not part of the definition being snapshotted: share them instead of copying."""
    from moto.stepfunctions.models import Execution as ModelExecution
    from moto.stepfunctions.parser.backend.execution import Execution as ParserExecution

    for cls in (ModelExecution, ParserExecution):
        cls.__deepcopy__ = _share_on_deepcopy  # type: ignore[union-attr]


def _patch_start_execution_parameters() -> None:
    """moto 5.2's engine hands the parameters of the ``states:startExecution`` integration
    to boto3 as the ASL spells them (``StateMachineArn``, ``Name``, ``Input``), where
    botocore wants the API's names (``stateMachineArn``...), and the Task fails with
    ``States.Runtime: 'StateMachineArn'``; and it returns boto3's response as is
    (``executionArn``, a datetime that no execution output can hold). Rename parameters
    and response by the operation's shapes, with the engine's own helpers, and give dates
    as ISO text, as AWS does (``ExecutionArn``, ``StartDate``)."""
    import botocore.session
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn as sfn_task,
    )

    cls = sfn_task.StateTaskServiceSfn
    if getattr(cls, "_credit_risk_patched", False):
        return
    original = cls._normalise_parameters
    model = botocore.session.get_session().get_service_model("stepfunctions")

    def operation(self: Any, action: str | None) -> Any:
        name = action or self.resource.api_action
        if "_" in name:  # describe_execution, as the .sync resolvers name it
            name = "".join(part.title() for part in name.split("_"))
        return model.operation_model(name[:1].upper() + name[1:])

    def normalise(
        self: Any,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        original(self, parameters, boto_service_name, service_action_name)
        self._to_boto_request(parameters, operation(self, service_action_name).input_shape)

    def normalise_response(
        self: Any,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        if not isinstance(response, dict):
            return
        self._from_boto_response(response, operation(self, service_action_name).output_shape)
        for key, value in list(response.items()):
            if isinstance(value, datetime):
                response[key] = value.isoformat()

    cls._normalise_parameters = normalise  # type: ignore[method-assign]
    cls._normalise_response = normalise_response  # type: ignore[method-assign]
    cls._credit_risk_patched = True  # type: ignore[attr-defined]


def _invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
    if _active is None or self.function_name not in _active._handlers:
        return _original(self, event)
    return _active.invoke(self.function_name, self.function_arn, event)


def install(dispatcher: Dispatcher) -> None:
    """Send moto's Lambda invocations to ``dispatcher``."""
    global _active
    if not moto.__version__.startswith(SUPPORTED_MOTO):
        raise RuntimeError(
            f"the in-process Lambda seam was written for moto {SUPPORTED_MOTO}, "
            f"not {moto.__version__}"
        )
    _active = dispatcher
    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]
    _patch_execution_copy()
    _patch_start_execution_parameters()


def uninstall() -> None:
    """Restore moto's own invocation path."""
    global _active
    _active = None
    LambdaFunction._invoke_lambda = _original  # type: ignore[method-assign]
