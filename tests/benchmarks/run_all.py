"""Run the benchmarks (``tests/benchmarks/bench_*.py``), one after another.

    ./run bench [NAME ...]      e.g. ``./run bench api package``; no name: every one

They are heavy (minutes each; ``bench_ingest`` needs Postgres on 127.0.0.1), so they are a
command of their own, never part of ``./run tests``. Each runs in a fresh interpreter (this
one, the project's environment), one at a time so they do not compete for the cores; its
progress is shown as it goes, and its last line is its JSON object. Then one JSON object on
the last line: every benchmark's figures by name, and those that failed (a non-zero exit,
or no JSON object on its last line). Exits non-zero when any failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def run_one(script: Path) -> tuple[dict[str, Any] | None, str | None]:
    """Run one benchmark, echoing its output; its JSON figures, or why there are none."""
    with subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as process:
        assert process.stdout is not None
        last = ""
        for line in process.stdout:
            print(f"  {line}", end="", flush=True)
            if line.strip():
                last = line.strip()
    if process.returncode != 0:
        return None, f"exited with status {process.returncode}"
    try:
        figures = json.loads(last)
    except json.JSONDecodeError:
        figures = None
    if not isinstance(figures, dict):
        return None, "its last line is not a JSON object"
    return figures, None


def main(argv: list[str] | None = None, folder: Path = HERE) -> int:
    """Run the named benchmarks (all when none is named); 0 when every one succeeded."""
    available = {p.stem.removeprefix("bench_"): p for p in sorted(folder.glob("bench_*.py"))}
    parser = argparse.ArgumentParser(
        prog="./run bench", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(available))
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(available))
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)} (there are {', '.join(available)})")
    results: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for name in args.names or list(available):
        print(f"bench_{name} ...", flush=True)
        started = time.monotonic()
        figures, problem = run_one(available[name])
        print(
            f"bench_{name}: {problem or 'done'} in {time.monotonic() - started:.0f} s", flush=True
        )
        if problem:
            failed[name] = problem
        else:
            results[name] = figures
    print(json.dumps({"benchmarks": results, "failed": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
