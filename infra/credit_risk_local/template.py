"""Reading template.yaml: CloudFormation tags, intrinsic functions and the SAM resources."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns ``!Ref x`` into ``{"Ref": x}`` and so on."""


def _construct(tag: str):  # type: ignore[no-untyped-def]
    name = "Ref" if tag == "Ref" else f"Fn::{tag}"

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


for _tag in (
    "Ref",
    "GetAtt",
    "Sub",
    "Join",
    "If",
    "Not",
    "Equals",
    "Select",
    "Split",
    "FindInMap",
    "GetAZs",
    "ImportValue",
    "Base64",
    "Condition",
    "And",
    "Or",
):
    _CfnLoader.add_constructor(f"!{_tag}", _construct(_tag))


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as plain data, intrinsic functions as their long form."""
    loaded: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506
    return loaded


@dataclass
class Context:
    """Values that ``Ref``/``GetAtt``/``Sub`` resolve to in the local cloud."""

    region: str = "us-east-1"
    account: str = "123456789012"
    refs: dict[str, Any] = field(default_factory=dict)
    attrs: dict[tuple[str, str], Any] = field(default_factory=dict)

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::StackName": "credit-risk-local",
            "AWS::NoValue": None,
        }
        if name in pseudo:
            return pseudo[name]
        if name not in self.refs:
            raise KeyError(f"local cloud cannot resolve Ref {name}")
        return self.refs[name]

    def get_att(self, resource: str, attribute: str) -> Any:
        key = (resource, attribute)
        if key not in self.attrs:
            raise KeyError(f"local cloud cannot resolve GetAtt {resource}.{attribute}")
        return self.attrs[key]


_SUB = re.compile(r"\$\{([^}!]+)\}")


def resolve(value: Any, ctx: Context) -> Any:
    """Resolve intrinsic functions in ``value`` against ``ctx``."""
    if isinstance(value, list):
        return [resolve(v, ctx) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return ctx.ref(arg)
        if key == "Fn::GetAtt":
            return ctx.get_att(arg[0], arg[1])
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            variables = {k: resolve(v, ctx) for k, v in variables.items()}

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in variables:
                    return str(variables[name])
                if "." in name:
                    resource, attribute = name.split(".", 1)
                    return str(ctx.get_att(resource, attribute))
                return str(ctx.ref(name))

            return _SUB.sub(substitute, text)
        if key == "Fn::Join":
            return arg[0].join(str(resolve(v, ctx)) for v in arg[1])
    return {k: resolve(v, ctx) for k, v in value.items()}


@dataclass
class FunctionSpec:
    """A function as the local cloud runs it: where its handler is and its environment."""

    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, Any]
    events: dict[str, Any]
    package_type: str
    event_invoke_config: dict[str, Any] = field(default_factory=dict)


def functions(template: dict[str, Any]) -> list[FunctionSpec]:
    """Every AWS::Serverless::Function with its code folder, handler and raw environment.

    Image functions name their local code folder and handler in Metadata
    (``LocalCodeUri``, ``LocalHandler``), since their code is built into an image.
    """
    globals_env = (
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    specs = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        meta = resource.get("Metadata", {})
        package_type = props.get("PackageType", "Zip")
        if package_type == "Image":
            code_uri = meta["LocalCodeUri"]
            handler = meta.get("LocalHandler") or props["ImageConfig"]["Command"][0]
        else:
            code_uri, handler = props["CodeUri"], props["Handler"]
        env = dict(globals_env)
        env.update(props.get("Environment", {}).get("Variables", {}))
        specs.append(
            FunctionSpec(
                logical_id=logical_id,
                code_dir=REPO_ROOT / code_uri,
                handler=handler,
                environment=env,
                events=props.get("Events", {}),
                package_type=package_type,
                event_invoke_config=props.get("EventInvokeConfig", {}),
            )
        )
    return specs


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """Resources of one CloudFormation/SAM type, by logical id."""
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}
