"""What gets deployed installs exactly the lock's versions and builds from a scratch folder.

``./run check-deploy`` (infra/deploy_check.py) runs the SAM CLI and pip for real; these
tests hold the parts that need neither.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import build_lambda
import deploy_check
from credit_risk_local.template import load_template

TEMPLATE = load_template()
LOCK = deploy_check.read_lock()
RUNNING = f"python{sys.version_info.major}.{sys.version_info.minor}"


def _template_with_function(code_dir: Path) -> dict:
    """The real template plus one more zip function (as a later helper would add one)."""
    template = load_template()
    template["Resources"]["MigrateFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {"CodeUri": str(code_dir), "Handler": "app.handler", "Runtime": RUNNING},
    }
    return template


def test_every_image_and_zip_requirement_is_pinned_to_the_lock() -> None:
    assert deploy_check.requirement_problems(TEMPLATE, LOCK) == []


def test_every_image_installs_the_lock_as_constraints() -> None:
    found = deploy_check.images(TEMPLATE)
    assert found
    for image in found:
        assert deploy_check.LOCK_PATH in image.constraints, image.dockerfile
        assert image.problems == (), image.dockerfile


def test_a_new_zip_function_is_checked_without_being_listed(tmp_path: Path) -> None:
    # GIVEN a function added to the template whose requirements float
    (tmp_path / "requirements.txt").write_text("sqlalchemy>=2\n")
    template = _template_with_function(tmp_path)
    # WHEN the requirements are checked
    problems = deploy_check.requirement_problems(template, LOCK)
    # THEN the new function's file is named, with the lock's pin
    assert problems == [
        f"{tmp_path / 'requirements.txt'}:1: 'sqlalchemy>=2' is not pinned to one version "
        f"(the lock has sqlalchemy=={LOCK['sqlalchemy']})"
    ]
    assert "MigrateFunction" in {r.logical_id for r in deploy_check.zip_resources(template)}


def test_a_pin_other_than_the_locks_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("# comment\nnumpy==1.26.4\n")
    assert deploy_check.pin_problems(path, LOCK) == [
        f"{path}:2: numpy==1.26.4, but the lock has numpy=={LOCK['numpy']}"
    ]


def test_a_package_missing_from_the_lock_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("left-pad==1.0\n")
    assert deploy_check.pin_problems(path, LOCK) == [
        f"{path}:1: left-pad is not in requirements/lock.txt"
    ]


def test_included_requirement_files_are_checked_too(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text(f"numpy=={LOCK['numpy']}\npg8000\n")
    path = tmp_path / "requirements.txt"
    path.write_text("-r base.txt\n--index-url https://example.invalid/simple\n")
    problems = deploy_check.pin_problems(path, LOCK)
    assert problems == [
        f"{tmp_path / 'base.txt'}:2: 'pg8000' is not pinned to one version "
        f"(the lock has pg8000=={LOCK['pg8000']})",
        f"{path}:2: option '--index-url https://example.invalid/simple' where only pinned "
        "requirements belong",
    ]


def test_an_image_installing_without_the_lock_is_a_problem(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM public.ecr.aws/lambda/python:3.13\n"
        "COPY layers/core/requirements.txt /tmp/core.txt\n"
        "RUN pip install \\\n    -r /tmp/core.txt -r /tmp/extra.txt\n"
    )
    requirements, constraints, problems = deploy_check.image_install(dockerfile)
    assert requirements == [deploy_check.REPO_ROOT / "layers/core/requirements.txt"]
    assert constraints == []
    assert len(problems) == 2
    assert "pip installs /tmp/extra.txt, which no COPY brings" in problems[0]
    assert "without requirements/lock.txt as constraints" in problems[1]


def test_a_built_package_at_another_version_than_the_locks_is_found(tmp_path: Path) -> None:
    info = tmp_path / "python" / "numpy-1.26.4.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: numpy\nVersion: 1.26.4\n")
    assert deploy_check.distributions_off_lock(tmp_path, LOCK) == [
        f"numpy==1.26.4, but the lock has numpy=={LOCK['numpy']}"
    ]


MAKEFILE_BUILDS = [r for r in deploy_check.zip_resources(TEMPLATE) if r.build_method == "makefile"]


@pytest.mark.parametrize("resource", MAKEFILE_BUILDS, ids=lambda r: r.logical_id)
def test_makefile_builds_work_from_a_scratch_copy(resource, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN the code folder copied elsewhere, as sam build does before running make
    scratch = tmp_path / "scratch"
    shutil.copytree(resource.code_dir, scratch, ignore=shutil.ignore_patterns("__pycache__"))
    # WHEN make says what it would run there
    result = subprocess.run(
        ["make", "-n", "-f", str(resource.code_dir / "Makefile"), f"build-{resource.logical_id}"]
        + [f"ARTIFACTS_DIR={tmp_path / 'out'}"],
        cwd=scratch,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    words = shlex.split(result.stdout.replace("\\\n", " "))
    # THEN the script it runs (after the interpreter) exists from there, and builds for the
    # template's runtime and architecture
    assert (scratch / words[1]).is_file(), words[:2]
    assert words[words.index("--runtime") + 1] == resource.runtime == RUNNING
    assert words[words.index("--arch") + 1] == resource.architecture


def test_shipped_bytecode_is_compiled_by_the_runtimes_interpreter(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    with pytest.raises(build_lambda.BuildError, match="must be compiled by python3.12"):
        build_lambda.build(
            tmp_path / "out", [], [(tmp_path / "app.py", "app.py")], runtime="python3.12"
        )
