"""template.yaml and the ASL agree with each other and with the code they name."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from credit_risk_local.template import REPO_ROOT, functions, load_template, resources_of_type

TEMPLATE = load_template()
MACHINES = resources_of_type(TEMPLATE, "AWS::Serverless::StateMachine")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def _definition(machine: dict) -> str:
    return (REPO_ROOT / machine["Properties"]["DefinitionUri"]).read_text()


START_EXECUTION = "arn:aws:states:::states:startExecution"
"""The one service integration the machines use: training starts the re-score."""


def _task_resources(states: dict) -> list[str]:
    found = []
    for state in states.values():
        if state["Type"] == "Task" and state["Resource"] == START_EXECUTION:
            found.append(state["Parameters"]["StateMachineArn"])
        elif state["Type"] == "Task":
            found.append(state["Resource"])
        for branch in state.get("Branches", []):
            found += _task_resources(branch["States"])
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            found += _task_resources(processor["States"])
    return found


def test_cfn_lint_reports_no_errors() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(REPO_ROOT / "template.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_every_asl_placeholder_has_a_substitution(name: str) -> None:
    machine = MACHINES[name]
    used = set(PLACEHOLDER.findall(_definition(machine)))
    given = set(machine["Properties"].get("DefinitionSubstitutions", {}))
    assert used <= given, f"{name} uses {sorted(used - given)} without a substitution"
    assert given <= used, f"{name} substitutes {sorted(given - used)} that the ASL never uses"


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_every_task_names_a_function_in_the_template(name: str) -> None:
    machine = MACHINES[name]
    subs = machine["Properties"]["DefinitionSubstitutions"]
    states = json.loads(_definition(machine))["States"]
    function_ids = {spec.logical_id for spec in functions(TEMPLATE)}
    for resource in _task_resources(states):
        key = PLACEHOLDER.fullmatch(resource)
        assert key, f"{name}: Task resource {resource} is not a substituted function ARN"
        target = subs[key.group(1)]
        if "Ref" in target:  # a state machine another one starts
            assert target["Ref"] in MACHINES, f"{name}: {target} is not a state machine"
            continue
        assert "Fn::GetAtt" in target and target["Fn::GetAtt"][1] == "Arn"
        assert target["Fn::GetAtt"][0] in function_ids


@pytest.mark.parametrize("spec", functions(TEMPLATE), ids=lambda s: s.logical_id)
def test_every_handler_in_the_template_imports(spec) -> None:  # type: ignore[no-untyped-def]
    module_name, attr = spec.handler.rsplit(".", 1)
    path = spec.code_dir / f"{module_name}.py"
    assert path.exists(), f"{spec.logical_id}: {path} does not exist"
    sys.path.insert(0, str(spec.code_dir))
    try:
        module_spec = importlib.util.spec_from_file_location(f"_check_{spec.logical_id}", path)
        assert module_spec and module_spec.loader
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(spec.code_dir))
    assert callable(getattr(module, attr))


def test_buckets_are_encrypted_versioned_private_and_tls_only() -> None:
    buckets = resources_of_type(TEMPLATE, "AWS::S3::Bucket")
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]
        for p in resources_of_type(TEMPLATE, "AWS::S3::BucketPolicy").values()
    }
    assert buckets
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert props["VersioningConfiguration"]["Status"] == "Enabled"
        assert all(props["PublicAccessBlockConfiguration"].values())
        deny = policies[name]["Statement"][0]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"]["Bool"]["aws:SecureTransport"] == "false"


def test_database_is_encrypted_private_and_its_credentials_are_a_secret() -> None:
    db = resources_of_type(TEMPLATE, "AWS::RDS::DBInstance")["Database"]["Properties"]
    assert db["StorageEncrypted"] is True
    assert db["PubliclyAccessible"] is False
    assert "resolve:secretsmanager" in db["MasterUserPassword"]["Fn::Sub"]


def test_every_raw_upload_triggers_ingest_whatever_its_key() -> None:
    # Datasets and portfolio/ are told apart by the handler: a key under no known prefix
    # must still reach it, to be recorded and alerted rather than silently never ingested.
    ingest = next(s for s in functions(TEMPLATE) if s.logical_id == "IngestFunction")
    s3_events = [e for e in ingest.events.values() if e["Type"] == "S3"]
    assert len(s3_events) == 1
    assert "Filter" not in s3_events[0]["Properties"]
    assert s3_events[0]["Properties"]["Events"] == "s3:ObjectCreated:*"


def test_training_runs_on_a_schedule() -> None:
    events = MACHINES["TrainingStateMachine"]["Properties"]["Events"]
    assert any(e["Type"] in ("Schedule", "ScheduleV2") for e in events.values())


def test_functions_run_on_the_interpreter_the_tests_run_on() -> None:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for spec in functions(TEMPLATE):
        resource = TEMPLATE["Resources"][spec.logical_id]
        if spec.package_type == "Zip":
            assert resource["Properties"]["Runtime"] == version, spec.logical_id
        else:
            dockerfile = REPO_ROOT / resource["Metadata"]["Dockerfile"]
            base = version.replace("python", "python:")
            assert f"lambda/{base}" in dockerfile.read_text(), spec.logical_id


def test_image_functions_copy_the_handler_their_command_names() -> None:
    for spec in functions(TEMPLATE):
        resource = TEMPLATE["Resources"][spec.logical_id]
        if spec.package_type != "Image":
            continue
        module = resource["Properties"]["ImageConfig"]["Command"][0].rsplit(".", 1)[0]
        dockerfile = (REPO_ROOT / resource["Metadata"]["Dockerfile"]).read_text()
        source = spec.code_dir.relative_to(REPO_ROOT) / f"{spec.handler.rsplit('.', 1)[0]}.py"
        assert f"COPY {source} ${{LAMBDA_TASK_ROOT}}/{module}.py" in dockerfile, spec.logical_id


def _references(value, found: set[str]) -> set[str]:  # type: ignore[no-untyped-def]
    """Resource names a property refers to through Ref, GetAtt or Sub."""
    if isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found.update(m.split(".")[0] for m in PLACEHOLDER.findall(text))
                found.update(m.split(".")[0] for m in re.findall(r"\$\{([A-Za-z0-9_.]+)\}", text))
                if not isinstance(arg, str):
                    _references(arg[1], found)
            else:
                _references(arg, found)
    elif isinstance(value, list):
        for item in value:
            _references(item, found)
    return found


def test_resources_do_not_depend_on_each_other_in_a_cycle() -> None:
    resources = TEMPLATE["Resources"]
    globals_env = TEMPLATE.get("Globals", {})
    graph = {}
    for name, resource in resources.items():
        refs = _references(resource.get("Properties", {}), set())
        if resource["Type"] == "AWS::Serverless::Function":
            refs |= _references(globals_env, set())
        graph[name] = {r for r in refs if r in resources and r != name}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("circular dependency: " + " → ".join(path + [node, nxt]))
            if nxt not in state:
                visit(nxt, path + [node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_landed_files_with_personal_data_expire() -> None:
    rules = TEMPLATE["Resources"]["RawBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    rule = next(r for r in rules if r["Status"] == "Enabled")
    assert rule["ExpirationInDays"] == {"Ref": "RawRetentionDays"}
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] <= 7
    assert TEMPLATE["Parameters"]["RawRetentionDays"]["Default"] <= 90
