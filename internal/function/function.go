// Package function is what every session function's main starts from, made
// once at init: its configuration, its logger, its metrics and audit
// recorder, and its DynamoDB client. A bad one fails the init with a line
// that names it, instead of misbehaving on requests. Each main then picks
// the stores its role allows and builds its service and handler.
package function

import (
	"context"
	"log/slog"

	"github.com/cis-session/cis-session/internal/cloudwatch"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
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

// Sessions is the sessions table: in a multi-region deployment
// (REGION_NAME), this region's replica, and the other regions' for the
// sessions made there (docs/REGIONS.md).
func (p Parts) Sessions() *dynamo.Sessions {
	s := &dynamo.Sessions{DB: p.DB, Table: p.Config.SessionsTable, ReadOnFailedCondition: p.Config.ReadOnFailedCondition}
	if p.Config.Region != "" {
		if err := s.InRegion(p.Config.Region, p.Config.Peers()); err != nil {
			lambda.Fatal("cannot configure the peer regions", err)
		}
		s.RecordTakeOvers(p.Recorder)
	}
	return s
}

// Users is the users table: in a multi-region deployment, with the other
// regions' replicas, where an unlock clears their log-in defence's state
// (docs/REGIONS.md, "Users").
func (p Parts) Users() *dynamo.Users {
	u := &dynamo.Users{DB: p.DB, Table: p.Config.UsersTable}
	if p.Config.Region != "" {
		u.InRegion(p.Config.Region, p.Sessions())
	}
	return u
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
		Sessions: dynamo.ProviderSessionsOf(sessions),
		Quiet:    session.DefaultRevocationQuiet,
		Recorder: p.Recorder,
	}
}
