package app

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
)

// LocalHandler is the service as `make run` serves it, and as the client
// compatibility tests drive it: every operation of both surfaces in one
// handler, each request given an id for its log lines as Lambda gives one.
func LocalHandler(cfg config.Config, db dynamo.API, log *slog.Logger) http.Handler {
	return withRequestID(NewHandler(cfg, db, log, httpapi.AllOperations...))
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
