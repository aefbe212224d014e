// Command auditfwd keeps the audit trail: a CloudWatch Logs subscription on
// each function's log group sends it the audit lines (`{ $.log = "audit" }`),
// and it puts them into the audit log group (AUDIT_LOG_GROUP). It may only
// write its own logs and into that group.
package main

import (
	"os"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/cis-session/cis-session/internal/auditlog"
	"github.com/cis-session/cis-session/internal/awsenv"
	"github.com/cis-session/cis-session/internal/lambda"
)

func main() {
	group, err := auditlog.GroupFromEnv()
	if err != nil {
		lambda.Fatal("bad configuration", err)
	}
	// From the environment Lambda gives, as every function: no
	// configuration chain. AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, when set,
	// points the client elsewhere (tests).
	aws, err := awsenv.Config(os.LookupEnv, "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS")
	if err != nil {
		lambda.Fatal("cannot configure CloudWatch Logs client", err)
	}
	awslambda.Start(auditlog.NewForwarder(aws, group).Forward)
}
