"""Each function's IAM policy statements as AWS SAM generates them from template.yaml.

Runs with the SAM CLI's own interpreter (``.tools/sam/bin/python``, where the SAM
translator lives; its pins conflict with the project's), so that the statements checked
are exactly the ones ``sam deploy`` would create, policy templates expanded:

    .tools/sam/bin/python infra/sam_policies.py template.yaml  > policies.json

Prints ``{FunctionLogicalId: [statement, ...]}``; intrinsic functions are left as they are
(``Fn::Sub``, ``Ref``, ``Fn::GetAtt``) for the caller to resolve.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

PLACEHOLDERS = {"VpcId": "vpc-00000000", "PrivateSubnetIds": "subnet-0000000a,subnet-0000000b"}


class _NoManagedPolicies:
    """The translator asks for AWS managed policy ARNs only by name; answer them offline."""

    def load(self) -> dict[str, str]:
        managed = "arn:aws:iam::aws:policy/"
        return {
            "AWSLambdaBasicExecutionRole": managed + "service-role/AWSLambdaBasicExecutionRole",
            "AWSXrayWriteOnlyAccess": managed + "AWSXrayWriteOnlyAccess",
            "AWSLambdaVPCAccessExecutionRole": managed
            + "service-role/AWSLambdaVPCAccessExecutionRole",
        }


def statements(template_path: Path) -> dict[str, list[dict[str, Any]]]:
    template = yaml_parse(template_path.read_text())
    transforms = template.get("Transform")
    if isinstance(transforms, list):  # the translator handles the Serverless one only
        template["Transform"] = "AWS::Serverless-2016-10-31"
    for resource in template["Resources"].values():  # what `sam package` puts there
        props = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(uri), str):
                props[uri] = "s3://packaged/code.zip"
        if props.get("PackageType") == "Image":
            props["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/packaged:latest"
    params = {k: v.get("Default", "") for k, v in template.get("Parameters", {}).items()}
    params.update(PLACEHOLDERS)
    result = transform(template, params, _NoManagedPolicies())  # type: ignore[arg-type]
    resources = result["Resources"]
    found: dict[str, list[dict[str, Any]]] = {}
    for lid, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        role = resource["Properties"]["Role"]["Fn::GetAtt"][0]
        policies = resources[role]["Properties"].get("Policies", [])
        found[lid] = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
    return found


if __name__ == "__main__":
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    json.dump(statements(Path(sys.argv[1])), sys.stdout, indent=1, default=str)
