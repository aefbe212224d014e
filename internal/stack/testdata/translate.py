"""Print template.yaml (argv[1]) as SAM's own transform turns it into
CloudFormation, as JSON: what a deploy creates, with the parameter values
Name=Value of argv[2:] (the others at their defaults), as CloudFormation
hands them to the transform. The local code of each
function is replaced by an S3 URI first (as cfn-lint does), since the
transform accepts only those; nothing is uploaded or called."""
import json
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from cfnlint.decode import decode_str  # reads !Ref and friends
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    def load(self):
        return {}


tpl, errors = decode_str(open(sys.argv[1]).read())
if errors:
    sys.exit(f"{sys.argv[1]}: {errors}")
tpl.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = "s3://bucket/code.zip"
for res in tpl["Resources"].values():
    if res.get("Type") == "AWS::Serverless::Function":
        res.get("Properties", {}).pop("CodeUri", None)
params = dict(a.split("=", 1) for a in sys.argv[2:])
json.dump(transform(tpl, params, NoManagedPolicies()), sys.stdout, default=str)
