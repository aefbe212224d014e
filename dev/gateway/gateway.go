// Package gateway is the deployed API Gateway in one http.Handler, for
// `make run` and the tests that drive it: the session routes go to the
// session service; every other path under /api/ and /rest/ goes through the
// front door (the authorizer's code, httpapi.FrontDoor) and, when allowed,
// to the upstream, forwarded as template.yaml's HTTP integration forwards
// it (httpapi.Upstream): nothing of the client's credentials (the session
// id in any spelling, the Cookie header, Authorization unless opted in),
// the user and the session's creation time added, method, path,
// query and body kept. A refused call never reaches the upstream; without
// an upstream an allowed call answers vAPI 404 operation_not_found, as the
// template's mock does.
package gateway

import (
	"log/slog"
	"net/http"
	"path"

	"github.com/cis-session/cis-session/internal/httpapi"
)

// Gateway routes and authorizes as the deployed API does.
type Gateway struct {
	sessions http.Handler
	door     *httpapi.FrontDoor
	upstream *httpapi.Upstream // nil: no upstream
	log      *slog.Logger
}

// New returns the gateway in front of the session service's handler, with
// door authorizing every other call and upstream (nil for none) serving it.
func New(sessions http.Handler, door *httpapi.FrontDoor, upstream *httpapi.Upstream, log *slog.Logger) *Gateway {
	return &Gateway{sessions: sessions, door: door, upstream: upstream, log: log}
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// An unclean path names nothing; the session handler says so in vAPI.
	if !httpapi.Protected(r.URL.Path) || path.Clean(r.URL.Path) != r.URL.Path {
		g.sessions.ServeHTTP(w, r)
		return
	}
	v := g.door.Check(r)
	if !v.Allowed {
		v.Write(w)
		return
	}
	if g.upstream == nil {
		httpapi.WriteOperationNotFound(w, r)
		return
	}
	g.upstream.Forward(w, r, v, g.upstreamFailed)
}

// upstreamFailed answers a call the upstream did not: API Gateway's 502
// for a failed HTTP integration, with a vAPI body both surfaces read.
func (g *Gateway) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	g.log.ErrorContext(r.Context(), "upstream failed", "request_id", httpapi.RequestID(r.Context()), "error", err.Error())
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadGateway)
	_, _ = w.Write([]byte(httpapi.GatewayBody("unavailable")))
}
