// Package function is what every session function's main starts from, made
// once at init: its configuration, its logger, its metrics and audit
// recorder, and its DynamoDB client. A bad one fails the init with a line
// that names it, instead of misbehaving on requests. Each main then picks
// the stores its role allows and builds its service and handler.
package function

import (
	"context"
	"log/slog"

	"github.com/cis-session/cis-session/internal/assertion"
	"github.com/cis-session/cis-session/internal/cloudwatch"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/secrets"
	"github.com/cis-session/cis-session/internal/session"
)

// Parts are a function's shared parts.
type Parts struct {
	Config config.Config
	Log    *slog.Logger
	// Recorder writes metrics and the audit trail as log lines, whatever
	// LOG_LEVEL says.
	Recorder *cloudwatch.Recorder
	DB       *dynamo.Client
}

// Init makes the parts of the function named name (its metrics' name
// when AWS_LAMBDA_FUNCTION_NAME is not set), or fails the init.
func Init(name string) Parts {
	cfg, err := config.Load()
	if err != nil {
		lambda.Fatal("bad configuration", err)
	}
	log := lambda.Logger(cfg.LogLevel)
	rec := cloudwatch.New(log, cloudwatch.FunctionName(name))
	rec.RequestID = httpapi.RequestID
	db, err := dynamo.NewClient(context.Background())
	if err != nil {
		lambda.Fatal("cannot configure DynamoDB client", err)
	}
	return Parts{Config: cfg, Log: log, Recorder: rec, DB: db}
}

// Sessions is the sessions table.
func (p Parts) Sessions() *dynamo.Sessions {
	return &dynamo.Sessions{DB: p.DB, Table: p.Config.SessionsTable, ReadOnFailedCondition: p.Config.ReadOnFailedCondition}
}

// Users is the users table.
func (p Parts) Users() *dynamo.Users {
	return &dynamo.Users{DB: p.DB, Table: p.Config.UsersTable, ReadOnFailedCondition: p.Config.ReadOnFailedCondition}
}

// Keys is the key set of the front door's assertions and of the sessions'
// seal, its seeds read once, now (at init), from the secret
// ASSERTION_KEY_SECRET names (or make run's ASSERTION_KEY_FILE); nil when
// neither is set. A secret that cannot be read fails the init: a front
// door that cannot sign must not let calls through unsigned, and a log-in
// that cannot seal makes sessions the front door refuses.
func (p Parts) Keys() *assertion.KeySet {
	var seeds assertion.Seeds
	var err error
	switch {
	case p.Config.AssertionKeySecret != "":
		seeds, err = secrets.LoadSeeds(context.Background(), p.Config.AssertionKeySecret)
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
	// The kid is public (it is in the JWKS); the seeds never leave memory.
	p.Log.Info("assertion keys read", "signing_kid", ks.CurrentID(), "epoch", p.Config.AssertionKeyEpoch)
	return ks
}

// SealedSessions is the sessions table, each session Create stores sealed
// with ks and each one a touch or a delete finds refused unless sealed
// (dynamo.Sessions.Seals); without ks (nil), Sessions.
func (p Parts) SealedSessions(ks *assertion.KeySet) *dynamo.Sessions {
	s := p.Sessions()
	if ks != nil {
		s.Seals = ks
	}
	return s
}

// Assertions is the signer of the front door's assertions with ks; nil
// when ks is nil.
func (p Parts) Assertions(ks *assertion.KeySet) *httpapi.Assertions {
	if ks == nil {
		return nil
	}
	s, err := assertion.NewSigner(ks, p.Config.Audience, p.Config.AssertionLifetime)
	if err != nil {
		lambda.Fatal("cannot make the assertion signer", err)
	}
	return &httpapi.Assertions{Signer: s, Absolute: p.Config.Lifetime.Absolute}
}

// Backchannel is the identity provider's back-channel logout over the
// sessions table, verified with fed's key cache (the log-in's), recording
// as p does; nil when fed is none (no OIDC_ISSUER): every logout token is
// then refused.
func (p Parts) Backchannel(fed session.Federation) *session.Backchannel {
	v, ok := fed.(session.LogoutVerifier)
	if !ok {
		return nil
	}
	sessions := p.Sessions()
	return &session.Backchannel{
		Verifier: v,
		Tokens:   dynamo.LogoutTokens{DB: p.DB, Table: p.Config.SessionsTable},
		Sessions: func(sid string) session.UserSessionStore {
			return dynamo.ProviderSessions{Sessions: sessions, SID: sid}
		},
		SubjectKey: dynamo.SubjectKey,
		Quiet:      session.DefaultRevocationQuiet,
		Recorder:   p.Recorder,
	}
}
