// Package local assembles the whole service in one process, as `make run`
// serves it and as the end-to-end tests drive it: every operation of every
// surface in one handler, over the tables the configuration names. The
// Lambda functions wire their own parts in functions/<name>/main.go; this is
// the same wiring with every part at once.
package local

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/cis-session/cis-session/internal/argon2id"
	"github.com/cis-session/cis-session/internal/cloudwatch"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/session"
)

// Service returns the session service over the tables cfg names, with
// every part a function may have.
func Service(cfg config.Config, db dynamo.API) *session.Service {
	return &session.Service{
		Sessions:  &dynamo.Sessions{DB: db, Table: cfg.SessionsTable, ReadOnFailedCondition: cfg.ReadOnFailedCondition},
		Users:     &dynamo.Users{DB: db, Table: cfg.UsersTable},
		Passwords: argon2id.Hasher{Params: argon2id.DefaultParams},
		Policy:    cfg.Policy,
	}
}

// Function is what the local service's metrics name as their function.
const Function = "cis-local"

// Handler is every operation of both surfaces in one handler, each request
// given an id for its log lines as Lambda gives one, recording metrics and
// audit lines to log as the functions do.
func Handler(cfg config.Config, db dynamo.API, log *slog.Logger) http.Handler {
	svc := Service(cfg, db)
	rec := cloudwatch.New(log, Function)
	rec.RequestID = httpapi.RequestID
	svc.Recorder = rec
	return withRequestID(httpapi.New(svc, log, httpapi.AllOperations...))
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
