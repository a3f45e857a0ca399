"""./run bench: every benchmark in turn, each one's JSON gathered on the last line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "run_all", Path(__file__).resolve().parents[1] / "benchmarks" / "run_all.py"
)
assert _SPEC and _SPEC.loader
run_all = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(run_all)


def _bench(folder: Path, name: str, body: str) -> None:
    (folder / f"bench_{name}.py").write_text(body)


def test_each_benchmarks_json_is_gathered_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _bench(tmp_path, "fast", 'print("warming up")\nprint(\'{"ratio": 1.5}\')\n')
    _bench(tmp_path, "slow", "print('{\"p50_ms\": 3}')\n")
    assert run_all.main([], folder=tmp_path) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == {
        "benchmarks": {"fast": {"ratio": 1.5}, "slow": {"p50_ms": 3}},
        "failed": {},
    }


def test_a_failing_benchmark_is_named_and_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _bench(tmp_path, "broken", "raise SystemExit(3)\n")
    _bench(tmp_path, "chatty", "print('no json here')\n")
    _bench(tmp_path, "fine", "print('{}')\n")
    assert run_all.main(["broken", "chatty"], folder=tmp_path) == 1
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last == {
        "benchmarks": {},
        "failed": {
            "broken": "exited with status 3",
            "chatty": "its last line is not a JSON object",
        },
    }
