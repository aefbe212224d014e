// Command cis-restevent rewrites HTTP API (payload 2.0) events as the REST
// API proxy events API Gateway sends the deployed stack (payload 1.0, on the
// template's stage), in place:
//
//	go run ./dev/cmd/cis-restevent events/<name>.json...
//
// It is how events/ became REST API events; use it on an HTTP API event
// copied from a log or written from an older one. Expected outcomes are
// untouched: the request, and so the answer, is the same.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cis-session/cis-session/dev/fixtures"
)

// DefaultStage is template.yaml's StageName default.
const DefaultStage = "v1"

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cis-restevent:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("cis-restevent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stage := fs.String("stage", DefaultStage, "the API's stage (template.yaml's StageName)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("usage: cis-restevent [-stage NAME] EVENT.json [EVENT.json ...]")
	}
	var errs []error
	for _, p := range fs.Args() {
		if err := convert(p, *stage); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

func convert(path, stage string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if fixtures.PayloadOf(b) != fixtures.PayloadHTTPAPI {
		return fmt.Errorf("payload %s: not an HTTP API 2.0 event", fixtures.PayloadOf(b))
	}
	out, err := fixtures.RESTEvent(b, stage)
	if err != nil {
		return err
	}
	if bytes.Equal(out, b) {
		return nil
	}
	return os.WriteFile(path, out, 0o644)
}
