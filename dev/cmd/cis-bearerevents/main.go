// Command cis-bearerevents makes the successful bearer log-in events of
// events/ (login-bearer-ok, legacy-login-bearer-ok, jsonrpc-create-oauth-ok)
// and their outcomes: each is the refused bearer event of its surface with
// a token of the fixed TEST-ONLY issuer (dev/oidcissuer's FixedURL and
// keys) that the replays serve. Run it as `go generate ./dev/fixtures/`
// after changing a template event, the claims or the keys;
// TestBearerEventsAreAsMade fails until then.
package main

import (
	"fmt"
	"os"

	"github.com/cis-session/cis-session/dev/fixtures"
)

func main() {
	dir, err := fixtures.Dir()
	if err == nil {
		var wrote []string
		wrote, err = fixtures.WriteBearerEvents(dir)
		for _, p := range wrote {
			fmt.Println("wrote", p)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cis-bearerevents:", err)
		os.Exit(1)
	}
}
