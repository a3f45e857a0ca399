"""The one seam between moto and our code: Lambda invocations run in-process.

moto 5's Lambda backend runs code only in Docker. Every invocation, from an S3
notification, from the Step Functions engine or from ``lambda.invoke``, ends in
``LambdaFunction._invoke_lambda(event)``, which returns ``(payload, errored, logs)``. We
replace that one method with a call to the real handler module named by the template's
CodeUri/Handler, under the template's environment. The patch is pinned to the moto
version it was written for and tested (tests/functional/test_dispatch.py). A second,
smaller patch lets a state machine run more than once (see _patch_execution_copy).
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
        self._lock = threading.RLock()
        self._running = threading.RLock()
        self.invocations: list[Invocation] = []

    def register(self, name: str, code_dir: Path, handler: str) -> None:
        """Route invocations of ``name`` to ``code_dir``'s ``module.function``."""
        self._handlers[name] = (code_dir, handler)

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
        """Run one invocation; return moto's ``(payload, errored, logs)`` triple."""
        if isinstance(event, str | bytes):
            event = json.loads(event or "{}")
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


def uninstall() -> None:
    """Restore moto's own invocation path."""
    global _active
    _active = None
    LambdaFunction._invoke_lambda = _original  # type: ignore[method-assign]
