"""Benchmark: each zip resource as deployed against Lambda's 250 MiB, beside a plain pip
install of the same requirements; the API's cold import time.

Run directly with the project's environment::

    .venv/bin/python tests/benchmarks/bench_package.py [--repeats 7]

The zip resources are the template's, found as ``./run check-deploy`` finds them
(``infra/deploy_check.py``), and each is built with the code its build runs: those with
``BuildMethod: makefile`` (the core layer, the API and its authorizer) by
``infra/build_lambda.py`` with the requirement files their Makefile target names (pinned
closure, ``--no-deps``, wheels for the template's runtime and architecture, test suites
stripped, ``.pyc`` shipped), the others as SAM's Python builder does (their
``requirements.txt``, with dependencies). Sizes are unzipped, layers included. The raw
baseline is a plain ``pip install --target`` of the same requirement files for the same
platform (dependencies resolved, nothing stripped); the ratio is ours over it. Image
functions are listed (10 GB limit) but not built: that needs Docker.

The cold import is a fresh interpreter (``python -S``, so nothing from this virtualenv)
importing ``app`` from the API's own folder and the layer's, built for this machine, with
``.pyc`` shipped: the import Lambda does on a cold start. Progress lines first, then one
JSON object on the last line. ``./run check-deploy`` measures the same sizes through
``sam build`` itself.
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
import deploy_check  # noqa: E402
from credit_risk_local.template import load_template  # noqa: E402

LIMIT_MB = deploy_check.LIMIT_BYTES / 2**20
IMPORT_TARGET_S = 1.5
MB = 2**20


def _makefile_requirements(code_dir: Path, logical_id: str) -> list[Path]:
    """The requirement files a Makefile target passes to build_lambda."""
    text = (code_dir / "Makefile").read_text()
    block = text.split(f"build-{logical_id}:", 1)[1].split("\nbuild-", 1)[0]
    match = re.search(r"--requirements\s+(\S+)", block)
    return [code_dir / match.group(1)] if match else []


def _requirements(resource: deploy_check.ZipResource) -> list[Path]:
    if resource.build_method == "makefile":
        return _makefile_requirements(resource.code_dir, resource.logical_id)
    own = resource.code_dir / "requirements.txt"
    return [own] if own.exists() else []


def _code(resource: deploy_check.ZipResource) -> list[tuple[Path, str]]:
    """Our code in the resource, where the build puts it."""
    if resource.kind == "layer":
        return [(p, p.name) for p in (resource.code_dir / "python").iterdir()]
    return [
        (p, p.name)
        for p in resource.code_dir.iterdir()
        if p.name not in ("__pycache__", "Makefile", "Dockerfile") and not p.name.endswith(".txt")
    ]


def _build(resource: deploy_check.ZipResource, out: Path, *, raw: bool) -> int:
    """Bytes of the resource built as deployed, or (``raw``) by a plain pip install."""
    folder = out / "python" if resource.kind == "layer" else out
    requirements = _requirements(resource)
    if raw:
        folder.mkdir(parents=True, exist_ok=True)
        if requirements:
            build_lambda.install(
                requirements,
                folder,
                runtime=resource.runtime,
                arch=resource.architecture,
                no_deps=False,
            )
        return build_lambda.size_bytes(out)
    build_lambda.build(
        folder,
        requirements,
        _code(resource),
        runtime=resource.runtime,
        arch=resource.architecture,
        no_deps=resource.build_method == "makefile",
    )
    return build_lambda.size_bytes(out)


def _cold_imports(
    work: Path, resources: dict[str, deploy_check.ZipResource], repeats: int
) -> dict[str, Any]:
    """Median seconds of ``import app`` (and of xgboost after it) in fresh interpreters."""
    layer = work / "host-layer"
    api = work / "host-api"
    print("building the API for this machine to time its cold import ...", flush=True)
    for resource, folder in ((resources["CoreLayer"], layer), (resources["ApiFunction"], api)):
        build_lambda.build(folder, _requirements(resource), _code(resource), arch=None)
    # What the Lambda runtime itself puts on the path (/var/runtime): boto3 and botocore.
    provided = work / "host-runtime"
    (work / "runtime.txt").write_text(f"boto3=={deploy_check.read_lock()['boto3']}\n")
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
    """Build every zip resource as deployed and raw; print progress and the JSON figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="cold imports to time")
    args = parser.parse_args(argv)
    template = load_template()
    with tempfile.TemporaryDirectory(prefix="bench-package-") as scratch:
        result = _measure(template, Path(scratch), args.repeats)
    print(json.dumps(result))
    return result


def _measure(template: dict[str, Any], work: Path, repeats: int) -> dict[str, Any]:
    resources = deploy_check.zip_resources(template)
    built: dict[str, dict[str, int]] = {}
    for resource in resources:
        print(f"building {resource.logical_id} as deployed, then with plain pip ...", flush=True)
        built[resource.logical_id] = {
            kind: _build(resource, work / kind / resource.logical_id, raw=kind == "raw")
            for kind in ("ours", "raw")
        }
    results: dict[str, Any] = {}
    for resource in resources:
        ours = built[resource.logical_id]["ours"] + sum(built[x]["ours"] for x in resource.layers)
        raw = built[resource.logical_id]["raw"] + sum(built[x]["raw"] for x in resource.layers)
        results[resource.logical_id] = {
            "build": resource.build_method,
            "requirements": [str(r.relative_to(ROOT)) for r in _requirements(resource)],
            "layers": list(resource.layers),
            "mb": round(ours / MB, 1),
            "plain_pip_mb": round(raw / MB, 1),
            "ratio_to_plain_pip": round(ours / raw, 3) if raw else None,
            "fits": ours <= deploy_check.LIMIT_BYTES,
            "plain_pip_fits": raw <= deploy_check.LIMIT_BYTES,
        }
        print(
            f"{resource.logical_id}: {ours / MB:.1f} MiB of {LIMIT_MB:.0f} "
            f"(plain pip: {raw / MB:.1f} MiB)",
            flush=True,
        )
    images = {
        function: {"package": "container image", "dockerfile": str(i.dockerfile.relative_to(ROOT))}
        for i in deploy_check.images(template)
        for function in i.functions
    }
    cold = _cold_imports(work, {r.logical_id: r for r in resources}, repeats)
    api = results["ApiFunction"]
    return {
        "benchmark": "package",
        "limit_mb": LIMIT_MB,
        "api_mb": api["mb"],
        "api_plain_pip_mb": api["plain_pip_mb"],
        "api_ratio_to_plain_pip": api["ratio_to_plain_pip"],
        "api_fits": api["fits"],
        "all_fit": all(r["fits"] for r in results.values()),
        "api_cold_import": cold,
        "zip_resources": results,
        "images": images,
    }


if __name__ == "__main__":
    main()
