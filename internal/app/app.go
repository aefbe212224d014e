// Package app assembles the service from its parts — configuration, the
// DynamoDB stores, argon2id passwords, the domain service and the HTTP
// surface — exactly once, for the Lambda functions and the local runner alike.
package app

import (
	"log/slog"

	"github.com/cis-session/cis-session/internal/argon2id"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/session"
)

// Passwords checks passwords against argon2id PHC hashes; unknown users are
// checked against a decoy made with Params, the cost of new hashes.
type Passwords struct{ Params argon2id.Params }

var _ session.Passwords = Passwords{}

// Verify reports whether password matches the PHC string hash.
func (p Passwords) Verify(hash, password string) (bool, error) {
	return argon2id.Verify(hash, password)
}

// Decoy returns a hash with the same cost as a real one.
func (p Passwords) Decoy() string { return argon2id.Dummy(p.Params) }

// NeedsRehash reports whether hash is weaker than Params.
func (p Passwords) NeedsRehash(hash string) bool { return argon2id.NeedsRehash(hash, p.Params) }

// Hash hashes password with Params.
func (p Passwords) Hash(password string) (string, error) { return argon2id.Hash(password, p.Params) }

// NewService returns the session service over the tables cfg names.
func NewService(cfg config.Config, db dynamo.API) *session.Service {
	return &session.Service{
		Sessions:           &dynamo.Sessions{DB: db, Table: cfg.SessionsTable, ReadOnFailedCondition: cfg.ReadOnFailedCondition},
		Users:              &dynamo.Users{DB: db, Table: cfg.UsersTable},
		Passwords:          Passwords{Params: argon2id.DefaultParams},
		Lifetime:           cfg.Lifetime,
		DefaultDomain:      cfg.DefaultDomain,
		Lockout:            cfg.Lockout,
		MaxSessionsPerUser: cfg.MaxSessionsPerUser,
	}
}

// NewHandler returns the HTTP surface serving ops over the tables cfg names.
func NewHandler(cfg config.Config, db dynamo.API, log *slog.Logger, ops ...httpapi.Operation) *httpapi.Handler {
	return httpapi.New(NewService(cfg, db), log, ops...)
}
