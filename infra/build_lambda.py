"""Build a Lambda code folder (function or layer) small enough for a zip package.

SAM runs it for the core layer and the API (``BuildMethod: makefile``; see
``layers/core/Makefile`` and ``functions/api/Makefile``) and the package benchmark runs it
too, so the benchmark measures what is deployed:

    python infra/build_lambda.py --out DIR --requirements FILE [FILE ...]
        [--code SRC=DEST ...] [--runtime python3.13] [--arch arm64 | --host]

- Wheels only, for Lambda's platform, with ``--no-deps``: requirement files list the whole
  pinned closure, so nothing unlisted arrives (pip, setuptools and chalice's CLI
  dependencies; boto3 and botocore, which the runtime provides).
- Test suites shipped inside wheels (``tests/`` folders: 86 MB of numpy and scipy) are
  removed: nothing imports them.
- Our code is copied and compiled to ``.pyc``: Lambda's code folder is read-only, and a
  cold start without them recompiles every module (DESIGN 11).
"""

from __future__ import annotations

import argparse
import compileall
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

# Lambda's Python runtimes run on Amazon Linux 2 (python3.11: glibc 2.26) or Amazon
# Linux 2023 (python3.12 and later: glibc 2.34); a wheel must not need a newer glibc.
_GLIBC = {"python3.11": 26, "python3.12": 34, "python3.13": 34}
_MACHINE = {"arm64": "aarch64", "x86_64": "x86_64"}


class BuildError(RuntimeError):
    """pip could not install the requirements for the platform."""


def platform_tags(runtime: str, arch: str, glibc_of: str | None = None) -> list[str]:
    """The manylinux tags a wheel may carry to run on ``runtime`` on ``arch`` (with the
    glibc of the runtime ``glibc_of`` instead, when given)."""
    machine = _MACHINE[arch]
    newest = _GLIBC[glibc_of or runtime]
    return [f"manylinux2014_{machine}"] + [
        f"manylinux_2_{minor}_{machine}" for minor in range(17, newest + 1)
    ]


def install(
    requirements: Sequence[Path],
    target: Path,
    *,
    runtime: str = "python3.13",
    arch: str | None = "arm64",
    no_deps: bool = True,
    glibc_of: str | None = None,
) -> None:
    """pip install the requirement files into ``target`` for the platform (``arch=None``:
    this machine's)."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target)]
    command += ["--only-binary=:all:", "--upgrade"]
    if no_deps:
        command.append("--no-deps")
    if arch is not None:
        version = runtime.removeprefix("python")
        command += ["--implementation", "cp", "--python-version", version]
        for tag in platform_tags(runtime, arch, glibc_of):
            command += ["--platform", tag]
    for path in requirements:
        command += ["-r", str(path)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [
            line
            for line in (result.stderr + result.stdout).splitlines()
            if line.startswith("ERROR")
        ]
        raise BuildError("; ".join(lines[-2:]) or result.stderr[-500:])


def strip_tests(target: Path) -> int:
    """Remove ``tests`` folders inside installed packages; return the bytes removed."""
    removed = 0
    for folder in sorted(target.glob("*/**/tests"), key=lambda p: len(p.parts)):
        if folder.is_dir() and folder.exists():
            removed += size_bytes(folder)
            shutil.rmtree(folder)
    return removed


def copy_code(source: Path, destination: Path) -> None:
    """Copy our code (a file or a package folder) and compile it to .pyc."""
    if source.is_dir():
        shutil.copytree(
            source,
            destination,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        compileall.compile_dir(destination, quiet=1)
    else:
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
        compileall.compile_file(destination, quiet=1)


def size_bytes(path: Path) -> int:
    """Bytes of every file under ``path``."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def build(
    out: Path,
    requirements: Sequence[Path],
    code: Sequence[tuple[Path, str]] = (),
    *,
    runtime: str = "python3.13",
    arch: str | None = "arm64",
    no_deps: bool = True,
    glibc_of: str | None = None,
) -> int:
    """Build the folder; return its size in bytes."""
    running = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if code and running != runtime:
        raise BuildError(
            f"the .pyc shipped for {runtime} must be compiled by {runtime}, not by this "
            f"{running} ({sys.executable}): run with a {runtime} interpreter "
            f"(the Makefiles take PYTHON=/path/to/{runtime})"
        )
    out.mkdir(parents=True, exist_ok=True)
    if requirements:
        install(requirements, out, runtime=runtime, arch=arch, no_deps=no_deps, glibc_of=glibc_of)
        strip_tests(out)
    for source, dest in code:
        copy_code(source, out / dest)
    return size_bytes(out)


def main(argv: list[str] | None = None) -> int:
    """Command line: build one folder (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Build a small Lambda code folder.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--requirements", type=Path, nargs="*", default=[])
    parser.add_argument("--code", action="append", default=[], help="SRC=DEST, repeatable")
    parser.add_argument("--runtime", default="python3.13", choices=sorted(_GLIBC))
    parser.add_argument("--arch", default="arm64", choices=sorted(_MACHINE))
    parser.add_argument("--host", action="store_true", help="this machine's platform")
    args = parser.parse_args(argv)
    code = []
    for item in args.code:
        source, _, dest = item.partition("=")
        code.append((Path(source), dest or Path(source).name))
    try:
        size = build(
            args.out,
            args.requirements,
            code,
            runtime=args.runtime,
            arch=None if args.host else args.arch,
        )
    except BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    print(f"{args.out}: {size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
