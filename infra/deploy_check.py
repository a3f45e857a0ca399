"""Can template.yaml be built and deployed as it stands? Checked without Docker or AWS.

    ./run check-deploy [LogicalId ...]

1. ``sam validate --lint``. The SAM CLI runs from its own tool venv, ``.tools/sam``,
   installed from ``requirements/tools-sam.txt`` on first use (and again when that file
   changes).
2. Every requirement file that an image or a zip resource installs is pinned to
   ``requirements/lock.txt``, and every image installs the lock as constraints, so training
   and serving run the same library versions.
3. ``sam build <LogicalId>`` of every zip resource (layers and functions, found by walking
   the template, so a new function is checked without being listed here), each from a
   scratch folder as SAM builds it; its unzipped size, layers included, against Lambda's
   250 MiB; every package in it at the lock's version.
4. Every image's requirement set, as its Dockerfile's ``pip install`` names it, resolved by
   pip for Lambda's platform (``manylinux_2_34_aarch64``, cp313) with wheels only, every
   package at the lock's version. Images themselves are not built: that needs Docker.

With logical ids, only those resources are built or resolved (1 and 2 always run). Prints
each step as it goes, then a summary; exits non-zero on any problem, naming it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import Distribution
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

import build_lambda
from credit_risk_local.template import REPO_ROOT, TEMPLATE_PATH, load_template

LOCK_PATH = REPO_ROOT / "requirements" / "lock.txt"
SAM_REQUIREMENTS = REPO_ROOT / "requirements" / "tools-sam.txt"
SAM_TOOL_DIR = REPO_ROOT / ".tools" / "sam"
# Lambda's quota for a function's code, unzipped, its layers included: 262,144,000 bytes.
LIMIT_BYTES = 250 * 2**20
MIB = 2**20
_COMMAND_TIMEOUT_S = 1200


# --------------------------------------------------------------------------- the lock


def read_lock(path: Path = LOCK_PATH) -> dict[str, str]:
    """The lock's pins: canonical package name -> version."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _lock_problem(name: str, version: str, lock: Mapping[str, str]) -> str | None:
    """Why ``name==version`` disagrees with the lock, or None when it agrees."""
    locked = lock.get(canonicalize_name(name))
    if locked is None:
        return f"{name} is not in requirements/lock.txt"
    if locked != version:
        return f"{name}=={version}, but the lock has {name}=={locked}"
    return None


def pin_problems(path: Path, lock: Mapping[str, str]) -> list[str]:
    """Every line of a requirement file (and of the files it includes with ``-r``) that is
    not ``name==version`` with the lock's version."""
    problems: list[str] = []
    seen: set[Path] = set()

    def check(file: Path) -> None:
        if file.resolve() in seen:
            return
        seen.add(file.resolve())
        if not file.is_file():
            problems.append(f"{_relative(file)}: no such requirement file")
            return
        for number, raw in enumerate(file.read_text().splitlines(), start=1):
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            where = f"{_relative(file)}:{number}"
            include = re.fullmatch(r"(?:-r|--requirement)[ =]\s*(\S+)", line)
            if include:
                check(file.parent / include.group(1))
                continue
            if line.startswith("-"):
                problems.append(f"{where}: option {line!r} where only pinned requirements belong")
                continue
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                problems.append(f"{where}: cannot read {line!r} as a requirement")
                continue
            specs = list(requirement.specifier)
            locked = lock.get(canonicalize_name(requirement.name))
            if len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
                hint = f" (the lock has {requirement.name}=={locked})" if locked else ""
                problems.append(f"{where}: {line!r} is not pinned to one version{hint}")
                continue
            problem = _lock_problem(requirement.name, specs[0].version, lock)
            if problem:
                problems.append(f"{where}: {problem}")

    check(path)
    return problems


# --------------------------------------------------------------------------- the template


@dataclass(frozen=True)
class ZipResource:
    """A layer or zip function of the template, as ``sam build`` builds it."""

    logical_id: str
    kind: str  # "layer" or "function"
    code_dir: Path
    runtime: str
    architecture: str
    build_method: str  # "makefile", or SAM's default builder for the runtime
    layers: tuple[str, ...] = ()  # logical ids of the template's layers it uses
    other_layers: int = 0  # layers from outside the template (not measured)

    @property
    def requirement_files(self) -> list[Path]:
        """Requirement files in its code folder (``requirements*.txt``)."""
        return sorted(self.code_dir.glob("requirements*.txt"))


@dataclass(frozen=True)
class Image:
    """A Dockerfile of the template, the functions built from it, and what it installs."""

    dockerfile: Path
    functions: tuple[str, ...]
    runtime: str
    architecture: str
    requirements: tuple[Path, ...]
    constraints: tuple[Path, ...]
    problems: tuple[str, ...] = ()


def _function_defaults(template: Mapping[str, Any]) -> Mapping[str, Any]:
    defaults: Mapping[str, Any] = template.get("Globals", {}).get("Function", {})
    return defaults


def zip_resources(template: Mapping[str, Any]) -> list[ZipResource]:
    """Every zip function and layer of the template, in template order."""
    defaults = _function_defaults(template)
    resources: Mapping[str, Any] = template["Resources"]
    layer_ids = {k for k, v in resources.items() if v["Type"] == "AWS::Serverless::LayerVersion"}
    found = []
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        meta = resource.get("Metadata", {})
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            found.append(
                ZipResource(
                    logical_id=logical_id,
                    kind="layer",
                    code_dir=REPO_ROOT / props["ContentUri"],
                    runtime=(props.get("CompatibleRuntimes") or [""])[0],
                    architecture=meta.get("BuildArchitecture")
                    or (props.get("CompatibleArchitectures") or ["x86_64"])[0],
                    build_method=meta.get("BuildMethod", ""),
                )
            )
        elif resource["Type"] == "AWS::Serverless::Function":
            if props.get("PackageType", defaults.get("PackageType", "Zip")) != "Zip":
                continue
            code_uri = props.get("CodeUri", defaults.get("CodeUri"))
            if not isinstance(code_uri, str):
                continue  # code already in S3: nothing to build
            layers = props.get("Layers", defaults.get("Layers", []))
            refs = tuple(
                layer["Ref"]
                for layer in layers
                if isinstance(layer, dict) and layer.get("Ref") in layer_ids
            )
            runtime = props.get("Runtime", defaults.get("Runtime", ""))
            found.append(
                ZipResource(
                    logical_id=logical_id,
                    kind="function",
                    code_dir=REPO_ROOT / code_uri,
                    runtime=runtime,
                    architecture=(
                        props.get("Architectures") or defaults.get("Architectures") or ["x86_64"]
                    )[0],
                    build_method=meta.get("BuildMethod", runtime),
                    layers=refs,
                    other_layers=len(layers) - len(refs),
                )
            )
    return found


def _logical_lines(text: str) -> Iterable[str]:
    """Dockerfile instructions, continuation lines joined, comments dropped."""
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        yield current + stripped
        current = ""
    if current:
        yield current


def image_install(dockerfile: Path) -> tuple[list[Path], list[Path], list[str]]:
    """The repo files a Dockerfile's ``pip install`` takes as requirements (``-r``) and as
    constraints (``-c``), with what is wrong (a file no COPY brings, no lock constraints)."""
    copies: dict[str, Path] = {}
    requirements: list[Path] = []
    constraints: list[Path] = []
    problems: list[str] = []
    base_image = None
    for line in _logical_lines(dockerfile.read_text()):
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            base_image = rest.split()[0]
        elif instruction == "COPY":
            args = shlex.split(rest)
            if any(a.startswith("--from") for a in args):
                continue
            paths = [a for a in args if not a.startswith("--")]
            if len(paths) == 2:
                origin, destination = paths
                if destination.endswith("/"):
                    destination = posixpath.join(destination, posixpath.basename(origin))
                copies[posixpath.normpath(destination)] = REPO_ROOT / origin
        elif instruction == "RUN" and "pip install" in rest:
            tokens = shlex.split(rest)
            for i, token in enumerate(tokens):
                flag, equals, value = token.partition("=")
                if flag in ("-r", "--requirement", "-c", "--constraint"):
                    target = value if equals else (tokens[i + 1] if i + 1 < len(tokens) else "")
                    source = copies.get(posixpath.normpath(target))
                    if source is None:
                        problems.append(
                            f"{_relative(dockerfile)}: pip installs {target}, "
                            "which no COPY brings from the repository"
                        )
                        continue
                    (constraints if flag in ("-c", "--constraint") else requirements).append(source)
    if base_image is None:
        problems.append(f"{_relative(dockerfile)}: no FROM line")
    if not requirements:
        problems.append(f"{_relative(dockerfile)}: no `pip install -r` of a requirement file")
    if LOCK_PATH not in constraints:
        problems.append(
            f"{_relative(dockerfile)}: pip installs without requirements/lock.txt as "
            "constraints (-c), so what its requirements pull in could take any version"
        )
    return requirements, constraints, problems


def images(template: Mapping[str, Any]) -> list[Image]:
    """Every Dockerfile that the template's image functions are built from."""
    defaults = _function_defaults(template)
    groups: dict[tuple[str, str], list[str]] = {}
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        if props.get("PackageType", defaults.get("PackageType", "Zip")) != "Image":
            continue
        meta = resource.get("Metadata", {})
        context = meta.get("DockerContext", ".")
        dockerfile = posixpath.normpath(posixpath.join(context, meta.get("Dockerfile", "")))
        architectures = props.get("Architectures") or defaults.get("Architectures") or ["x86_64"]
        groups.setdefault((dockerfile, architectures[0]), []).append(logical_id)
    found = []
    for (dockerfile, architecture), function_ids in groups.items():
        path = REPO_ROOT / dockerfile
        if not path.is_file():
            found.append(
                Image(path, tuple(function_ids), "", architecture, (), (), ("no Dockerfile",))
            )
            continue
        base = re.search(r"lambda/python:(\d+\.\d+)", path.read_text())
        requirements, constraints, problems = image_install(path)
        found.append(
            Image(
                dockerfile=path,
                functions=tuple(function_ids),
                runtime=f"python{base.group(1)}" if base else "",
                architecture=architecture,
                requirements=tuple(requirements),
                constraints=tuple(constraints),
                problems=tuple(problems),
            )
        )
    return found


def requirement_problems(template: Mapping[str, Any], lock: Mapping[str, str]) -> list[str]:
    """Every requirement that an image or a zip resource installs and that is not pinned to
    the lock; every image that does not install with the lock as constraints."""
    problems: list[str] = []
    files: list[Path] = []
    for resource in zip_resources(template):
        files += resource.requirement_files
    for image in images(template):
        problems += image.problems
        files += image.requirements
    for path in dict.fromkeys(files):
        problems += pin_problems(path, lock)
    return problems


# --------------------------------------------------------------------------- checks that run tools


def distributions_off_lock(folder: Path, lock: Mapping[str, str]) -> list[str]:
    """Every installed package in a built folder whose version is not the lock's."""
    problems = []
    for info in sorted(folder.glob("**/*.dist-info")):
        dist = Distribution.at(info)
        problem = _lock_problem(dist.metadata["Name"], dist.version, lock)
        if problem:
            problems.append(problem)
    return problems


def _run(command: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), capture_output=True, text=True, timeout=_COMMAND_TIMEOUT_S, **kwargs
    )


def _tail(result: subprocess.CompletedProcess[str], lines: int = 12) -> str:
    text = (result.stdout + result.stderr).strip().splitlines()
    return "\n".join(line for line in text[-lines:] if "is ignored: it is neither" not in line)


def ensure_sam(tool_dir: Path = SAM_TOOL_DIR, requirements: Path = SAM_REQUIREMENTS) -> Path:
    """The SAM CLI from its own venv, created or refreshed when its pinned requirements
    changed; returns the ``sam`` executable."""
    stamp = tool_dir / ".installed"
    wanted = hashlib.sha256(requirements.read_bytes()).hexdigest()
    sam = tool_dir / "bin" / "sam"
    if sam.exists() and stamp.exists() and stamp.read_text() == wanted:
        return sam
    print(f"installing the SAM CLI into {_relative(tool_dir)} (first use) ...", flush=True)
    if not (tool_dir / "bin" / "python").exists():
        shutil.rmtree(tool_dir, ignore_errors=True)
        result = _run([sys.executable, "-m", "venv", str(tool_dir)])
        if result.returncode != 0:
            raise SystemExit(f"could not create {tool_dir}: {_tail(result)}")
    result = _run(
        [str(tool_dir / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        + ["--disable-pip-version-check", "-r", str(requirements)]
    )
    if result.returncode != 0:
        raise SystemExit(f"could not install the SAM CLI: {_tail(result)}")
    stamp.write_text(wanted)
    return sam


def sam_environment() -> dict[str, str]:
    """The environment ``sam`` runs in: this interpreter (the runtime's version) first on
    PATH, as ``python3.13`` for SAM's Python builder and the Makefiles; no telemetry."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


@dataclass
class Outcome:
    """What one check found."""

    name: str
    seconds: float = 0.0
    summary: str = ""
    problems: list[str] = field(default_factory=list)


def validate(sam: Path, workdir: Path) -> Outcome:
    """``sam validate --lint`` of template.yaml."""
    started = time.monotonic()
    result = _run(
        [str(sam), "validate", "--lint", "--template-file", str(TEMPLATE_PATH)],
        cwd=workdir,
        env=sam_environment(),
    )
    outcome = Outcome("sam validate --lint", time.monotonic() - started, _tail(result, 40))
    if result.returncode != 0:
        outcome.problems.append(f"sam validate --lint failed:\n{_tail(result, 40)}")
    return outcome


def build_zip(
    sam: Path, resource: ZipResource, build_dir: Path, lock: Mapping[str, str]
) -> Outcome:
    """``sam build <LogicalId>``; its unzipped size (layers included) against the limit."""
    started = time.monotonic()
    result = _run(
        [str(sam), "build", resource.logical_id]
        + ["--template-file", str(TEMPLATE_PATH), "--build-dir", str(build_dir)],
        cwd=build_dir.parent,
        env=sam_environment(),
    )
    outcome = Outcome(f"sam build {resource.logical_id}", time.monotonic() - started)
    own = build_dir / resource.logical_id
    if result.returncode != 0 or not own.is_dir():
        outcome.problems.append(f"sam build {resource.logical_id} failed:\n{_tail(result)}")
        return outcome
    sizes = {resource.logical_id: build_lambda.size_bytes(own)}
    for layer in resource.layers:
        sizes[layer] = build_lambda.size_bytes(build_dir / layer)
    total = sum(sizes.values())
    parts = " + ".join(f"{name} {size / MIB:.1f}" for name, size in sizes.items())
    outcome.summary = f"{total / MIB:6.1f} MiB of {LIMIT_BYTES / MIB:.0f}" + (
        f"  ({parts})" if len(sizes) > 1 else ""
    )
    if resource.other_layers:
        outcome.summary += f"  (+{resource.other_layers} layer(s) from outside, not measured)"
    if total > LIMIT_BYTES:
        outcome.problems.append(
            f"{resource.logical_id} is {total / MIB:.1f} MiB unzipped with its layers, over "
            f"Lambda's {LIMIT_BYTES / MIB:.0f} MiB"
        )
    for folder in [own] + [build_dir / layer for layer in resource.layers]:
        outcome.problems += [
            f"{resource.logical_id} ships {problem}"
            for problem in distributions_off_lock(folder, lock)
        ]
    return outcome


def resolve_image(image: Image, lock: Mapping[str, str], workdir: Path) -> Outcome:
    """pip's resolution of the image's requirement set for Lambda's platform, wheels only."""
    names = ", ".join(image.functions)
    outcome = Outcome(f"image {_relative(image.dockerfile)} ({names})")
    outcome.problems += list(image.problems)
    if not image.runtime or not image.requirements:
        return outcome
    started = time.monotonic()
    report = workdir / f"{image.dockerfile.name}.report.json"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
    command += ["--quiet", "--disable-pip-version-check", "--report", str(report)]
    command += ["--only-binary=:all:", "--implementation", "cp"]
    command += ["--python-version", image.runtime.removeprefix("python")]
    for tag in build_lambda.platform_tags(image.runtime, image.architecture):
        command += ["--platform", tag]
    for path in image.constraints:
        command += ["-c", str(path)]
    for path in image.requirements:
        command += ["-r", str(path)]
    result = _run(command, cwd=workdir)
    outcome.seconds = time.monotonic() - started
    platform = build_lambda.platform_tags(image.runtime, image.architecture)[-1]
    if result.returncode != 0:
        outcome.problems.append(
            f"{_relative(image.dockerfile)}: no wheel set for {platform} "
            f"cp{image.runtime.removeprefix('python').replace('.', '')}:\n{_tail(result)}"
        )
        return outcome
    installs = json.loads(report.read_text())["install"]
    for item in installs:
        problem = _lock_problem(item["metadata"]["name"], item["metadata"]["version"], lock)
        if problem:
            outcome.problems.append(f"{_relative(image.dockerfile)} would install {problem}")
        if not item["download_info"]["url"].endswith(".whl"):
            outcome.problems.append(f"{item['metadata']['name']} is not a wheel")
    outcome.summary = (
        f"{len(installs)} packages, all wheels for {platform} "
        f"cp{image.runtime.removeprefix('python').replace('.', '')}"
    )
    return outcome


# --------------------------------------------------------------------------- the command


def _print(outcome: Outcome) -> None:
    status = "ok" if not outcome.problems else "PROBLEM"
    print(f"{status:7} {outcome.name} [{outcome.seconds:.0f} s] {outcome.summary}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run every check (see the module docstring); 0 when all pass."""
    parser = argparse.ArgumentParser(
        prog="./run check-deploy", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("only", nargs="*", metavar="LogicalId", help="build only these")
    args = parser.parse_args(argv)
    started = time.monotonic()
    template = load_template()
    lock = read_lock()
    zips = zip_resources(template)
    image_list = images(template)
    known = {r.logical_id for r in zips} | {f for i in image_list for f in i.functions}
    unknown = sorted(set(args.only) - known)
    if unknown:
        print(f"not a zip or image resource of template.yaml: {', '.join(unknown)}")
        return 2
    if shutil.which("make") is None:
        print("make is required (sam build runs the Makefiles); install it (apt install make)")
        return 2
    outcomes = []
    pins = Outcome("requirements pinned to requirements/lock.txt")
    pins.problems = requirement_problems(template, lock)
    outcomes.append(pins)
    _print(pins)
    sam = ensure_sam()
    with tempfile.TemporaryDirectory(prefix="check-deploy-") as scratch:
        work = Path(scratch)
        outcomes.append(validate(sam, work))
        _print(outcomes[-1])
        for resource in zips:
            if args.only and resource.logical_id not in args.only:
                continue
            print(f"        sam build {resource.logical_id} ...", flush=True)
            build_dir = work / "build" / resource.logical_id
            build_dir.parent.mkdir(exist_ok=True)
            outcomes.append(build_zip(sam, resource, build_dir, lock))
            _print(outcomes[-1])
            shutil.rmtree(build_dir, ignore_errors=True)
        for image in image_list:
            if args.only and not set(args.only) & set(image.functions):
                continue
            outcomes.append(resolve_image(image, lock, work))
            _print(outcomes[-1])
    problems = [p for o in outcomes for p in o.problems]
    print(f"\ncheck-deploy: {len(outcomes)} checks in {time.monotonic() - started:.0f} s, ", end="")
    if not problems:
        print("no problem")
        return 0
    print(f"{len(problems)} problem(s):")
    for problem in problems:
        print(f"  - {problem}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
