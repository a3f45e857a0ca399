"""Benchmark: each zip function with its layer, as deployed, against Lambda's 250 MB; the
API's cold import time.

Run directly with the project's environment::

    .venv/bin/python tests/benchmarks/bench_package.py [--repeats 7]

Every function of template.yaml is installed from its requirements into an empty folder
with ``pip --target`` for Lambda's platform (arm64), the way ``sam build`` builds it:
functions with ``BuildMethod: makefile`` (the core layer, the API and its authorizer) by
``infra/build_lambda.py`` (pinned closure, ``--no-deps``, test suites stripped), the others
by plain pip with dependencies. Sizes are unzipped, layer included. Wheels are first
resolved for the template's runtime (python3.11 on Amazon Linux 2, glibc 2.26); when the
pinned versions have no wheel that old, that is reported and sizes are measured for the
next runtime's glibc (Amazon Linux 2023, 2.34). Container-image functions are listed
(10 GB limit) but not built.

The cold import is a fresh interpreter (``python -S``, so nothing from this virtualenv)
importing ``app`` from the API's own folder and the layer's, built for this machine, with
``.pyc`` shipped: the import Lambda does on a cold start. Progress lines first, then one
JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for folder in (ROOT / "infra", ROOT / "layers" / "core" / "python"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import build_lambda  # noqa: E402

from credit_risk_local.template import functions, load_template  # noqa: E402

LIMIT_MB = 250.0
IMPORT_TARGET_S = 1.5
MB = 2**20


def _makefile_requirements(code_dir: Path, logical_id: str) -> list[Path]:
    """The requirement files a Makefile target passes to build_lambda."""
    text = (code_dir / "Makefile").read_text()
    block = text.split(f"build-{logical_id}:", 1)[1].split("\nbuild-", 1)[0]
    match = re.search(r"--requirements\s+(\S+)", block)
    return [code_dir / match.group(1)] if match else []


def _build(
    out: Path,
    requirements: list[Path],
    code: list[tuple[Path, str]],
    *,
    makefile: bool,
    runtime: str,
    arch: str | None,
    glibc_of: str | None,
) -> int:
    return build_lambda.build(
        out, requirements, code, runtime=runtime, arch=arch, no_deps=makefile, glibc_of=glibc_of
    )


def _build_with_fallback(
    out: Path,
    requirements: list[Path],
    code: list[tuple[Path, str]],
    *,
    makefile: bool,
    runtime: str,
) -> tuple[int, str | None, str]:
    """Size in bytes, the error on the template's runtime (or None), the glibc used."""
    try:
        size = _build(
            out, requirements, code, makefile=makefile, runtime=runtime, arch="arm64", glibc_of=None
        )
        return size, None, runtime
    except build_lambda.BuildError as exc:
        error = str(exc)
    fallback = "python3.12"
    size = _build(
        out, requirements, code, makefile=makefile, runtime=runtime, arch="arm64", glibc_of=fallback
    )
    return size, error, fallback


def _layer_code() -> list[tuple[Path, str]]:
    return [(ROOT / "layers/core/python/credit_risk", "credit_risk")]


def _function_code(code_dir: Path) -> list[tuple[Path, str]]:
    return [
        (p, p.name)
        for p in code_dir.iterdir()
        if p.name not in ("__pycache__", "Makefile", "Dockerfile") and not p.name.endswith(".txt")
    ]


def _cold_imports(work: Path, repeats: int) -> dict[str, Any]:
    """Median seconds of ``import app`` (and of xgboost after it) in fresh interpreters."""
    layer = work / "host-layer"
    api = work / "host-api"
    print("building the API for this machine to time its cold import ...", flush=True)
    build_lambda.build(layer, [ROOT / "layers/core/requirements.txt"], _layer_code(), arch=None)
    build_lambda.build(
        api,
        [ROOT / "functions/api/requirements.txt"],
        _function_code(ROOT / "functions/api"),
        arch=None,
    )
    # What the Lambda runtime itself puts on the path (/var/runtime): boto3 and botocore.
    provided = work / "host-runtime"
    (work / "runtime.txt").write_text("boto3==1.43.11\n")
    build_lambda.install([work / "runtime.txt"], provided, arch=None, no_deps=False)
    paths = [str(api), str(layer), str(provided)]  # /var/task, /opt/python, /var/runtime
    code = (
        f"import sys, time, json; sys.path[:0] = {paths!r}; "
        "t = time.perf_counter(); import app; a = time.perf_counter() - t; "
        "heavy = sorted({'pandas', 'sklearn', 'xgboost', 'scipy'} & set(sys.modules)); "
        "t = time.perf_counter(); import xgboost; x = time.perf_counter() - t; "
        "print(json.dumps([a, x, heavy]))"
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "ApiFunction",
        "POWERTOOLS_SERVICE_NAME": "api",
        "PYTHONDONTWRITEBYTECODE": "1",  # Lambda's folder is read-only: use shipped .pyc only
    }
    app_s, xgb_s = [], []
    heavy: list[str] = []
    for i in range(repeats):
        out = subprocess.run(
            [sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, cwd=work
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        a, x, heavy = json.loads(out.stdout.strip().splitlines()[-1])
        app_s.append(a)
        xgb_s.append(x)
        print(f"cold import {i + 1}/{repeats}: app {a:.3f} s, then xgboost {x:.3f} s", flush=True)
    return {
        "import_app_s": round(statistics.median(app_s), 3),
        "then_import_xgboost_s": round(statistics.median(xgb_s), 3),
        "heavy_modules_after_import_app": heavy,
        "target_s": IMPORT_TARGET_S,
        "under_target": statistics.median(app_s) < IMPORT_TARGET_S,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Build every function as deployed; print progress and the JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="cold imports to time")
    args = parser.parse_args(argv)
    template = load_template()
    resources = template["Resources"]
    work = Path(tempfile.mkdtemp(prefix="bench-package-"))

    layer_props = resources["CoreLayer"]
    layer_makefile = layer_props.get("Metadata", {}).get("BuildMethod") == "makefile"
    print("building the core layer ...", flush=True)
    runtime = "python3.11"
    layer_size, layer_error, layer_glibc = _build_with_fallback(
        work / "layer" / "python",
        _makefile_requirements(ROOT / "layers/core", "CoreLayer")
        if layer_makefile
        else [ROOT / "layers/core/requirements.txt"],
        _layer_code(),
        makefile=layer_makefile,
        runtime=runtime,
    )
    results: dict[str, Any] = {}
    problems: dict[str, str] = {}
    if layer_error:
        problems["CoreLayer"] = layer_error
    for spec in functions(template):
        props = resources[spec.logical_id]
        if spec.package_type != "Zip":
            results[spec.logical_id] = {"package": "container image", "limit_gb": 10}
            print(f"{spec.logical_id}: container image (not built)", flush=True)
            continue
        runtime = props["Properties"].get("Runtime", "python3.11")
        makefile = props.get("Metadata", {}).get("BuildMethod") == "makefile"
        if makefile:
            requirements = _makefile_requirements(spec.code_dir, spec.logical_id)
        else:
            own = spec.code_dir / "requirements.txt"
            requirements = [own] if own.exists() else []
        print(f"building {spec.logical_id} ...", flush=True)
        size, error, glibc = _build_with_fallback(
            work / spec.logical_id,
            requirements,
            _function_code(spec.code_dir),
            makefile=makefile,
            runtime=runtime,
        )
        uses_layer = bool(props["Properties"].get("Layers"))
        total = (size + (layer_size if uses_layer else 0)) / MB
        results[spec.logical_id] = {
            "build": "makefile (pinned, no-deps, tests stripped)" if makefile else "pip default",
            "requirements": [str(r.relative_to(ROOT)) for r in requirements] or "none (layer only)",
            "function_mb": round(size / MB, 1),
            "layer_mb": round(layer_size / MB, 1) if uses_layer else 0,
            "total_mb": round(total, 1),
            "fits": total <= LIMIT_MB,
            "wheels_glibc_of": glibc if uses_layer is False else max(glibc, layer_glibc),
        }
        if error:
            problems[spec.logical_id] = error
        print(f"{spec.logical_id}: {total:.1f} MB of {LIMIT_MB:.0f}", flush=True)

    cold = _cold_imports(work, args.repeats)
    result = {
        "benchmark": "package",
        "arch": "arm64",
        "limit_mb": LIMIT_MB,
        "layer_mb": round(layer_size / MB, 1),
        "api_total_mb": results["ApiFunction"]["total_mb"],
        "api_fits": results["ApiFunction"]["fits"],
        "api_cold_import": cold,
        "functions": results,
        "installable_for_python3.11": not problems,
        "python3.11_problems": problems,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
