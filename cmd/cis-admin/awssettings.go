package main

import (
	"errors"
	"os"
	"path/filepath"
)

// errNoAWSSettings is what the tool says, before any request, when it has
// nowhere to send one: no running `make run` (whose engine `make admin`
// finds through build/cis-local-PORT.env) and no AWS setting at all. Without it
// the SDK's credential chain falls through to the instance metadata
// service and the tool prints that service's error, which says nothing of
// what to do.
var errNoAWSSettings = errors.New("no DynamoDB to talk to: start `make run` in another terminal (then `make admin` uses its engine), " +
	"or set your AWS settings (AWS_PROFILE or credentials, and AWS_REGION)")

// awsSettingVars are the environment variables by which the AWS SDK's
// configuration chain learns a region, a profile, credentials or an
// endpoint (docs.aws.amazon.com/sdkref/latest/guide/settings-reference.html).
var awsSettingVars = []string{
	"AWS_REGION", "AWS_DEFAULT_REGION",
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE",
	"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN",
	"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB",
	"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_EC2_METADATA_SERVICE_ENDPOINT",
}

// anyAWSSetting reports whether the environment (read through lookup) or
// the shared files in home (~/.aws/config, ~/.aws/credentials, where the
// SDK looks when AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE are unset)
// give the SDK anything to go on. An instance role alone is not enough: the
// SDK takes no region from the instance, so even there AWS_REGION (or a
// profile's region) must be set.
func anyAWSSetting(lookup func(string) (string, bool), home string) bool {
	for _, name := range awsSettingVars {
		if v, ok := lookup(name); ok && v != "" {
			return true
		}
	}
	if home == "" {
		return false
	}
	for _, f := range []string{"config", "credentials"} {
		if st, err := os.Stat(filepath.Join(home, ".aws", f)); err == nil && !st.IsDir() {
			return true
		}
	}
	return false
}
