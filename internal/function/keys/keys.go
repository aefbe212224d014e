// Package keys reads the key set of the functions that hold a key (the
// front door, and the log-in functions for the seal) at init. It is apart
// from package function so that the functions that hold none (get, delete)
// do not link the Secrets Manager client: its package initialisers would
// run at every one of their cold starts for nothing.
package keys

import (
	"context"

	"github.com/cis-session/cis-session/internal/assertion"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/function"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/secrets"
)

// Load is the key set of the front door's assertions and of the sessions'
// seal, its seeds read once, now (at init), from the secret
// ASSERTION_KEY_SECRET names (or make run's ASSERTION_KEY_FILE); nil when
// neither is set. A secret that cannot be read fails the init: a front
// door that cannot sign must not let calls through unsigned, and a log-in
// that cannot seal makes sessions the front door refuses.
func Load(p function.Parts) *assertion.KeySet {
	var seeds assertion.Seeds
	var err error
	switch {
	case p.Config.AssertionKeySecret != "":
		seeds, err = secrets.LoadSeeds(context.Background(), p.Config.AssertionKeySecret, p.Config.AssertionKeyEpoch)
	case p.Config.AssertionKeyFile != "":
		seeds, err = assertion.LoadOrCreateFile(p.Config.AssertionKeyFile)
	default:
		return nil
	}
	if err != nil {
		lambda.Fatal("cannot read the assertion key seeds", err)
	}
	ks, err := assertion.NewKeySet(seeds)
	if err != nil {
		lambda.Fatal("cannot make the assertion key set", err)
	}
	// No log line: naming the signing kid would derive the P-256 key at
	// every init (KeySet derives it at its first use), and the JWKS names
	// it anyway. The seeds never leave memory.
	return ks
}

// SealedSessions is the sessions table, each session Create stores sealed
// with ks and each one a touch or a delete finds refused unless sealed
// (dynamo.Sessions.Seals); without ks (nil), Sessions.
func SealedSessions(p function.Parts, ks *assertion.KeySet) *dynamo.Sessions {
	s := p.Sessions()
	if ks != nil {
		s.Seals = ks
	}
	return s
}

// Assertions is the signer of the front door's assertions with ks; nil
// when ks is nil.
func Assertions(p function.Parts, ks *assertion.KeySet) *httpapi.Assertions {
	if ks == nil {
		return nil
	}
	s, err := assertion.NewSigner(ks, p.Config.Audience, p.Config.AssertionLifetime)
	if err != nil {
		lambda.Fatal("cannot make the assertion signer", err)
	}
	return &httpapi.Assertions{Signer: s, Absolute: p.Config.Lifetime.Absolute, Issuer: p.Config.APIBaseURL}
}
