#!/usr/bin/env python3
"""Translate template.yaml to plain CloudFormation as `sam validate` and
CloudFormation's own AWS::Serverless transform do, without AWS credentials.

usage: sam-translate.py TEMPLATE [OUTPUT.json]

The region is AWS_REGION or AWS_DEFAULT_REGION, else us-east-1 (it only
fills in ARNs; nothing is called).

It fails (exit 1, with the translator's messages) on a template the
transform refuses. The translator looks up managed policies by name only
for a function's `Policies` given as names; this template grants none (each
function has its own role), so the loader below answers from an empty map
instead of calling IAM.
"""
import json
import os
import sys

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


def replace_local_code_uris(template):
    """Point local code at a placeholder S3 object, as `sam validate` does:
    `sam deploy` uploads it and puts the real location there."""
    def fix(props):
        uri = props.get("CodeUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            props["CodeUri"] = "s3://bucket/value"

    fix(template.get("Globals", {}).get("Function", {}))
    for r in template.get("Resources", {}).values():
        if r.get("Type") == "AWS::Serverless::Function":
            props = r.setdefault("Properties", {})
            fix(props)
            if "CodeUri" not in props and "InlineCode" not in props and "ImageUri" not in props:
                # CodeUri from Globals; make it explicit for the check.
                props["CodeUri"] = "s3://bucket/value"


class NoManagedPolicies:
    def load(self):
        return {}


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION") or "us-east-1")
    with open(argv[1], encoding="utf-8") as f:
        template = yaml_parse(f.read())
    replace_local_code_uris(template)
    try:
        out = transform(template, {}, NoManagedPolicies())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"{argv[1]}: {cause.message}", file=sys.stderr)
        return 1
    resources = out.get("Resources", {})
    if any(r.get("Type", "").startswith("AWS::Serverless::") for r in resources.values()):
        print(f"{argv[1]}: translation left AWS::Serverless resources", file=sys.stderr)
        return 1
    if len(argv) == 3:
        with open(argv[2], "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2, sort_keys=True)
            f.write("\n")
    kinds = {}
    for r in resources.values():
        kinds[r["Type"]] = kinds.get(r["Type"], 0) + 1
    summary = ", ".join(f"{n} {t}" for t, n in sorted(kinds.items()))
    print(f"{argv[1]}: translates to {len(resources)} resources ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
