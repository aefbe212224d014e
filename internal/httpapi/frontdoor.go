package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/cis-session/cis-session/internal/session"
)

// OpAuthorize is the front door: authenticating a call to any operation
// behind the gateway other than the session service's own, which counts as
// a use of the session. It has no route: API Gateway invokes it as an
// authorizer, and the local gateway calls it in-process.
const OpAuthorize Operation = "authorize"

// Headers the front door adds to a call it lets through to the upstream.
// The session id is never forwarded: the upstream learns who, not how.
const (
	HeaderUser           = "vmware-cis-user"            // the session's user, name@domain
	HeaderSessionCreated = "vmware-cis-session-created" // when the session was created, TimeFormat
)

// Protected reports whether path is behind the front door: every path under
// /api/ and /rest/ that is not the session service's own.
func Protected(path string) bool {
	if path == SessionPath || path == LegacySessionPath {
		return false
	}
	return strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, LegacyBase+"/")
}

// Verdict is the front door's answer to one call.
type Verdict struct {
	// Allowed: the call may go on, on behalf of Session.
	Allowed bool
	Session session.Session
	// Status and Body, when refused: the vAPI error the client gets,
	// shaped as the surface of the call's path shapes errors. Status is
	// 401 (no live session) or 503 (the backend failed).
	Status int
	Body   string
	// Assertion, when allowed by a door that signs them, is the signed
	// statement of who is calling for the upstream (HeaderAssertion).
	Assertion string
	// hash is the session's token hash, keyed into the assertion's sid
	// (set only when one is signed).
	hash session.TokenHash
	// err is why it was refused, for the surfaces that shape the error
	// themselves (JSON-RPC).
	err error
}

// FrontDoor authenticates calls to the operations behind the gateway by
// their session, exactly as get does: the id read where get reads it, one
// conditional touch of the session, the same rules.
type FrontDoor struct {
	svc    SessionGetter
	log    *slog.Logger
	assert *Assertions // nil: no assertion signed
}

// SessionGetter is what the front door calls of the session service: get's
// validation and touch of a session. *session.Service is the one that
// ships, needing only its Sessions; tests give the front door a fake.
type SessionGetter interface {
	Get(ctx context.Context, rawID string) (session.Session, error)
}

// NewFrontDoor returns the front door over svc.
func NewFrontDoor(svc SessionGetter, log *slog.Logger) *FrontDoor {
	return &FrontDoor{svc: svc, log: log}
}

// Check authenticates r by the session id it presents where get reads it,
// and counts it as a use of its session. A call that sends a header
// reserved to the service (ReservedHeader) is refused first, at no cost.
func (d *FrontDoor) Check(r *http.Request) Verdict {
	return d.CheckCall(r, r.URL.Path, surfaceOf(r.URL.Path).sessionID(r))
}

// CheckCall authenticates r, a call to path, by a session id found
// elsewhere (a JSON-RPC call's session_id security context, say), as Check
// does.
func (d *FrontDoor) CheckCall(r *http.Request, path, rawID string) Verdict {
	if v, refused := d.refuseReserved(r, path); refused {
		return v
	}
	return d.withAssertion(r, path, rawID, d.checkID(r.Context(), path, rawID))
}

func (d *FrontDoor) checkID(ctx context.Context, path, rawID string) Verdict {
	start := time.Now()
	s := surfaceOf(path)
	sess, err := d.svc.Get(ctx, rawID)
	v := Verdict{Allowed: err == nil, Session: sess, err: err}
	outcome := "allow"
	if err != nil {
		we := toWire(err)
		v.Status, v.Body = we.status, errorJSON(s, we)
		outcome = "deny"
		level := slog.LevelInfo
		if we.status >= 500 {
			outcome, level = "unavailable", slog.LevelError
		}
		attrs := []any{"request_id", RequestID(ctx), "status", we.status, "error", err.Error()}
		if cause := session.RefusedCause(err); cause != "" {
			// A stored item that is no session (not sealed by log-in,
			// or lacking what it writes): the client sees the 401 of an
			// unknown session; the operator, this.
			attrs = append(attrs, "cause", cause)
			level = slog.LevelWarn
		}
		d.log.Log(ctx, level, "authorize failed", attrs...)
	}
	attrs := []any{"request_id", RequestID(ctx), "outcome", outcome, "duration_ms", float64(time.Since(start).Microseconds()) / 1000}
	if v.Allowed {
		attrs = append(attrs, "user", sess.User)
	}
	d.log.InfoContext(ctx, "authorize", attrs...)
	return v
}

// Write answers a refused call with its verdict's error, as the session
// routes answer theirs: the challenge on a 401, never stored.
func (v Verdict) Write(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	if v.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", Challenge)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(v.Status)
	_, _ = w.Write([]byte(v.Body))
}

// Created is the session's creation time as HeaderSessionCreated carries it.
func (v Verdict) Created() string { return v.Session.Created.UTC().Format(TimeFormat) }

// WriteOperationNotFound answers an authenticated call to a path nothing
// serves: vAPI's 404 operation_not_found, shaped for the path's surface.
func WriteOperationNotFound(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, errOperationNotFound.status, surfaceOf(r.URL.Path).errorBody(errOperationNotFound))
}

// GatewayBody is the body of an error the gateway itself answers without
// knowing the path (an API Gateway response template cannot branch): one
// JSON object that is a well-formed error of both surfaces, the /api fields
// (error_type, messages) and the /rest ones (type, value) side by side.
// kind is "unauthenticated", "unavailable", "not_found" or "invalid_request".
func GatewayBody(kind string) string {
	we := map[string]wireError{"unauthenticated": errUnauthenticated, "unavailable": errUnavailable, "not_found": errNotFound, "invalid_request": errInvalidRequest}[kind]
	le := legacy{}.errorBody(we).(legacyError)
	b, _ := json.Marshal(struct {
		vapiError
		Type  string           `json:"type"`
		Value legacyErrorValue `json:"value"`
	}{we.body, le.Type, le.Value})
	return string(b)
}

func errorJSON(s surface, we wireError) string {
	b, _ := json.Marshal(s.errorBody(we)) // only our own types: they always marshal
	return string(b)
}

// OperationNotFoundBody is the body of WriteOperationNotFound for path.
func OperationNotFoundBody(path string) string {
	return errorJSON(surfaceOf(path), errOperationNotFound)
}
