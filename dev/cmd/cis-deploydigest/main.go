// Command cis-deploydigest prints the template parameter DeployDigest for a
// deploy (dev/deploydigest): `make deploy-digest [PARAMS="K=V ..."]` prints
// the digest; with -overrides, the whole --parameter-overrides value `make
// deploy` passes. It reads files only; it never calls AWS.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/cis-session/cis-session/dev/deploydigest"
)

func main() {
	in := deploydigest.Inputs{}
	flag.StringVar(&in.Template, "template", "template.yaml", "the SAM template")
	flag.StringVar(&in.Config, "config", "samconfig.toml", "the SAM CLI's config file (its parameter_overrides)")
	flag.StringVar(&in.ConfigEnv, "env", "default", "the config file's environment (SAM_CONFIG_ENV)")
	flag.StringVar(&in.BuildDir, "build", ".aws-sam/build", "sam build's output, digested if present")
	overrides := flag.Bool("overrides", false, "print every parameter and DeployDigest as one --parameter-overrides value")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: cis-deploydigest [flags] [Name=Value ...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	in.Overrides = flag.Args()
	r, err := deploydigest.Compute(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cis-deploydigest:", err)
		os.Exit(1)
	}
	if !r.Built {
		fmt.Fprintf(os.Stderr, "cis-deploydigest: no build in %s: this digest covers the parameters and the template only (make deploy digests its build too)\n", in.BuildDir)
	}
	if *overrides {
		fmt.Println(r.Overrides())
		return
	}
	fmt.Println(r.Digest)
}
