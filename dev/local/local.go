// Package local assembles the whole service in one process, as `make run`
// serves it and as the end-to-end tests drive it: every operation of every
// surface in one handler, over the tables the configuration names. The
// Lambda functions wire their own parts in functions/<name>/main.go; this is
// the same wiring with every part at once.
package local

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/cis-session/cis-session/dev/gateway"
	"github.com/cis-session/cis-session/internal/argon2id"
	"github.com/cis-session/cis-session/internal/assertion"
	"github.com/cis-session/cis-session/internal/cloudwatch"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/oidc"
	"github.com/cis-session/cis-session/internal/session"
)

// AdminPassword is the password of the local-only administrator that `make
// run` seeds and cis-load logs in as: $LOCAL_ADMIN_PASSWORD, or Admin!23.
func AdminPassword() string { return cmp.Or(os.Getenv("LOCAL_ADMIN_PASSWORD"), "Admin!23") }

// Service returns the session service over the tables cfg names, with
// every part a function may have.
func Service(cfg config.Config, db dynamo.API) *session.Service {
	svc := &session.Service{
		Sessions:  &dynamo.Sessions{DB: db, Table: cfg.SessionsTable, ReadOnFailedCondition: cfg.ReadOnFailedCondition},
		Users:     &dynamo.Users{DB: db, Table: cfg.UsersTable},
		Passwords: argon2id.Hasher{Params: argon2id.DefaultParams},
		Policy:    cfg.Policy,
	}
	svc.Federation = oidc.Federation(cfg.OIDC) // nil unless OIDC_ISSUER is set
	return svc
}

// Function is what the local service's metrics name as their function.
const Function = "cis-local"

// Handler is every operation of both surfaces in one handler, each request
// given an id for its log lines as Lambda gives one, recording metrics and
// audit lines to log as the functions do.
func Handler(cfg config.Config, db dynamo.API, log *slog.Logger) http.Handler {
	svc := recorded(Service(cfg, db), log)
	h := httpapi.New(svc, log, httpapi.AllOperations...)
	if b := Backchannel(cfg, db, svc); b != nil {
		h.WithBackchannel(b)
	}
	return withRequestID(h)
}

// Backchannel is the back-channel logout of the identity provider svc
// trusts for log-ins (the same key cache), over cfg's sessions table,
// recording as svc does; nil when it trusts none.
func Backchannel(cfg config.Config, db dynamo.API, svc *session.Service) *session.Backchannel {
	v, ok := svc.Federation.(session.LogoutVerifier)
	if !ok {
		return nil
	}
	sessions := &dynamo.Sessions{DB: db, Table: cfg.SessionsTable}
	// The same wiring as internal/function's Parts.Backchannel, over db.
	return &session.Backchannel{
		Verifier: v,
		Tokens:   dynamo.LogoutTokens{DB: db, Table: cfg.SessionsTable},
		Sessions: dynamo.ProviderSessionsOf(sessions),
		Quiet:    session.DefaultRevocationQuiet,
		Recorder: svc.Recorder,
	}
}

// Gateway is the whole API as the deployed stack serves it: the session
// service, and the front door in front of every other /api/ and /rest/
// path and every JSON-RPC call for another service, forwarding to
// cfg.Upstream (nil: none), each request given an id.
//
// With cfg.AssertionKeyFile set (make run sets build/cis-local-assertion-key.json),
// every forwarded call carries an assertion signed with that file's key
// (written, with a fresh seed, when there is none), and GET
// /.well-known/jwks.json publishes it, as the deployed stack does.
func Gateway(cfg config.Config, db dynamo.API, log *slog.Logger) (http.Handler, error) {
	svc := recorded(Service(cfg, db), log)
	if cfg.Region != "" {
		// One region of `make run-regions` (docs/REGIONS.md).
		sessions := svc.Sessions.(*dynamo.Sessions)
		if err := sessions.InRegion(cfg.Region, cfg.Peers()); err != nil {
			return nil, err
		}
		svc.Users.(*dynamo.Users).InRegion(cfg.Region, sessions)
		sessions.RecordTakeOvers(svc.Recorder)
	}
	var up *httpapi.Upstream
	if cfg.Upstream != nil {
		up = httpapi.NewUpstream(cfg.Upstream)
		if cfg.ForwardClientAuthorization {
			up.WithClientAuthorization()
		}
	}
	sessions := httpapi.New(svc, log, httpapi.AllOperations...).WithUpstream(up)
	if b := Backchannel(cfg, db, svc); b != nil {
		sessions.WithBackchannel(b)
	}
	door := httpapi.NewFrontDoor(svc, log)
	if cfg.AssertionKeyFile != "" {
		if cfg.APIBaseURL == "" {
			// No request context names the API here: the assertion's iss
			// is configured, never read from a client's Host header.
			return nil, fmt.Errorf("%s is needed to sign assertions (make run sets its own address)", config.EnvAPIBaseURL)
		}
		a, err := Assertions(cfg)
		if err != nil {
			return nil, err
		}
		sessions.WithAssertions(a)
		door.WithAssertions(a)
		// One process logs in and is the front door: it seals every
		// session, and refuses an item it did not seal.
		svc.Sessions.(*dynamo.Sessions).Seals = a.Signer.(*assertion.Signer).Keys()
	}
	return withRequestID(gateway.New(sessions, door, up, log)), nil
}

// Assertions is the signer of the key in cfg.AssertionKeyFile, for
// cfg's audience and lifetimes.
func Assertions(cfg config.Config) (*httpapi.Assertions, error) {
	seeds, err := assertion.LoadOrCreateFile(cfg.AssertionKeyFile)
	if err != nil {
		return nil, fmt.Errorf("assertion key file %s: %w", cfg.AssertionKeyFile, err)
	}
	ks, err := assertion.NewKeySet(seeds)
	if err != nil {
		return nil, fmt.Errorf("assertion key file %s: %w", cfg.AssertionKeyFile, err)
	}
	s, err := assertion.NewSigner(ks, cfg.Audience, cfg.AssertionLifetime)
	if err != nil {
		return nil, err
	}
	return &httpapi.Assertions{Signer: s, Absolute: cfg.Lifetime.Absolute, Issuer: cfg.APIBaseURL}, nil
}

// recorded makes svc write metric and audit lines to log, as the functions do.
func recorded(svc *session.Service, log *slog.Logger) *session.Service {
	rec := cloudwatch.New(log, Function)
	rec.RequestID = httpapi.RequestID
	svc.Recorder = rec
	return svc
}

// withRequestID gives each request a fresh id: a random prefix per handler
// and a sequence number.
func withRequestID(h http.Handler) http.Handler {
	var seq atomic.Uint64
	var prefix [4]byte
	_, _ = rand.Read(prefix[:])
	p := hex.EncodeToString(prefix[:])
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := p + "-" + strconv.FormatUint(seq.Add(1), 10)
		h.ServeHTTP(w, r.WithContext(httpapi.WithRequestID(r.Context(), id)))
	})
}
