// Package httpapi is the HTTP surface of the CIS session service: the
// routes of the vSphere Automation API's session service on its three
// surfaces (/api/session, the legacy /rest, and vAPI JSON-RPC on POST /api),
// the front door that authorizes every other call by its session, and the
// only place that knows HTTP statuses and vAPI error bodies. It is a plain
// net/http handler; Lambda and the local runner both serve it unchanged.
//
// It must never import AWS or DynamoDB packages.
package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/cis-session/cis-session/internal/session"
)

// Operation is one operation of the session service. A Lambda function
// serves only the operations it has the permissions for.
type Operation string

// The operations.
const (
	OpCreate Operation = "create"
	OpGet    Operation = "get"
	OpDelete Operation = "delete"
	// OpLegacyPost is POST on the /rest session path: log-in, or get with
	// ?~action=get. API Gateway cannot route by query string, so one
	// function serves both: it needs create's permissions and get's.
	OpLegacyPost Operation = "legacy-post"
	// OpJSONRPC is POST /api: vAPI JSON-RPC, the Python and Java SDKs'
	// create, get and delete in one route (jsonrpc.go).
	OpJSONRPC Operation = "jsonrpc"
)

// AllOperations is every operation, as the local runner serves them.
var AllOperations = []Operation{OpCreate, OpGet, OpDelete, OpLegacyPost, OpJSONRPC, OpJWKS, OpBackchannelLogout}

// HeaderSessionID carries the session id on every call after log-in.
const HeaderSessionID = "vmware-api-session-id"

// MaxAuthorizationLen is the longest Authorization header that could carry
// credentials within the session package's limits. A longer one is refused
// before it is decoded, and so before any hashing or storage call.
const MaxAuthorizationLen = 4*(session.MaxUserLen+1+session.MaxPasswordLen+3)/3 + len("Basic ")

// Route is a method and path the handler serves, as API Gateway must route it.
type Route struct {
	Method, Path string
	Op           Operation
}

// The session service's paths on the two surfaces.
const (
	SessionPath       = "/api/session"
	LegacySessionPath = LegacyBase + "/com/vmware/cis/session"
)

// Routes lists every route of the service.
var Routes = []Route{
	{http.MethodPost, SessionPath, OpCreate},
	{http.MethodGet, SessionPath, OpGet},
	{http.MethodDelete, SessionPath, OpDelete},
	{http.MethodPost, LegacySessionPath, OpLegacyPost},
	{http.MethodGet, LegacySessionPath, OpGet},
	{http.MethodDelete, LegacySessionPath, OpDelete},
	{http.MethodPost, JSONRPCPath, OpJSONRPC},
	{http.MethodGet, JWKSPath, OpJWKS},
	{http.MethodPost, BackchannelLogoutPath, OpBackchannelLogout},
}

// Service is what the handler calls of the session service; *session.Service
// is the one that ships, and tests give the handler a fake.
type Service interface {
	Login(ctx context.Context, login, password string) (session.Token, session.Session, error)
	Get(ctx context.Context, rawID string) (session.Session, error)
	Logout(ctx context.Context, rawID string) error
	// RefuseMalformed counts a log-in refused before it reached Login:
	// credentials missing or not Basic.
	RefuseMalformed(ctx context.Context)
}

// BearerService is what the handler calls for a federated log-in
// (Authorization: Bearer, JSON-RPC's oauth scheme); *session.Service is
// one. With a Service that is not, every bearer token is refused as
// malformed credentials are.
type BearerService interface {
	LoginBearer(ctx context.Context, token string) (session.Token, session.Session, error)
	// Federated reports whether bearer log-ins can succeed: then a
	// log-in's 401 challenge names Bearer too (no other 401's does).
	Federated() bool
}

// Handler serves the session service.
type Handler struct {
	svc   Service
	log   *slog.Logger
	mux   *http.ServeMux
	paths map[string]bool // every path some route serves, enabled or not
	// door and upstream serve JSON-RPC calls for other services than the
	// session service; upstream is nil when there is none.
	door     *FrontDoor
	upstream *Upstream
	jwks     *Assertions // whose keys are published at JWKSPath; nil: none signed

	// bearer takes access tokens (nil: they are malformed credentials);
	// loginChallenge is what a log-in's 401 offers, in its header and its
	// vAPI body (every other 401 offers Challenge).
	bearer         BearerService
	loginChallenge string

	backchannel Backchannel // ends provider sessions; nil: every logout token is refused
}

// New returns a handler for ops (every operation when ops is empty).
func New(svc Service, log *slog.Logger, ops ...Operation) *Handler {
	if len(ops) == 0 {
		ops = AllOperations
	}
	h := &Handler{svc: svc, log: log, mux: http.NewServeMux(), paths: map[string]bool{}, door: NewFrontDoor(svc, log)}
	h.loginChallenge = Challenge
	if b, ok := svc.(BearerService); ok {
		h.bearer = b
		if b.Federated() {
			h.loginChallenge = ChallengeFederated
		}
	}
	enabled := map[Operation]bool{}
	for _, op := range ops {
		enabled[op] = true
	}
	for _, rt := range Routes {
		h.paths[rt.Path] = true
		if enabled[rt.Op] {
			h.mux.HandleFunc(rt.Method+" "+rt.Path, h.route(h.actions(rt.Op), surfaceOf(rt.Path)))
		}
	}
	return h
}

// WithUpstream has the JSON-RPC surface forward the calls for other
// services than the session service that the front door lets through to
// up (nil: none, they answer operation_not_found). It returns h.
func (h *Handler) WithUpstream(up *Upstream) *Handler {
	h.upstream = up
	return h
}

// route serves one route: the operation its ~action names, on its surface.
func (h *Handler) route(actions map[string]serveFunc, s surface) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		action, err := s.action(r)
		if err != nil {
			h.fail(w, r, s, session.Errorf(session.EINVALID, "%v", err))
			return
		}
		serve, ok := actions[action]
		if !ok {
			h.writeError(w, s, errOperationNotFound)
			return
		}
		serve(w, r, s)
	}
}

// actions lists, per operation, what serves each ~action it accepts ("" is
// none). Only the legacy surface reads ~action; on /api it is always "".
func (h *Handler) actions(op Operation) map[string]serveFunc {
	switch op {
	case OpCreate:
		return map[string]serveFunc{"": logIn(h.create)}
	case OpGet:
		return map[string]serveFunc{"": h.get}
	case OpDelete:
		return map[string]serveFunc{"": h.delete}
	case OpLegacyPost:
		return map[string]serveFunc{"": logIn(h.create), "get": h.get}
	case OpJSONRPC:
		return map[string]serveFunc{"": h.jsonRPC}
	case OpJWKS:
		return map[string]serveFunc{"": h.serveJWKS}
	case OpBackchannelLogout:
		return map[string]serveFunc{"": h.backchannelLogout}
	}
	return nil
}

// serveFunc serves one operation on one surface.
type serveFunc func(http.ResponseWriter, *http.Request, surface)

// loggingIn is the surface of a log-in: its 401 offers the log-in's
// challenge (writeError).
type loggingIn struct{ surface }

// logIn serves a log-in: next, on its surface marked as a log-in's.
func logIn(next serveFunc) serveFunc {
	return func(w http.ResponseWriter, r *http.Request, s surface) { next(w, r, loggingIn{s}) }
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	s := surfaceOf(r.URL.Path)
	// Every answer is about one client's session (and some carry its
	// token): no cache, shared or private, may keep any of them.
	w.Header().Set("Cache-Control", "no-store")
	defer func() {
		l := h.loggable(r)
		if p := recover(); p != nil {
			h.log.ErrorContext(r.Context(), "panic serving request", "panic", panicText(p), "stack", string(debug.Stack()), "method", l.method, "path", l.path, "request_id", RequestID(r.Context()))
			if sw.status == 0 {
				h.writeError(sw, s, errUnavailable)
			}
		}
		h.log.InfoContext(r.Context(), "request",
			"request_id", RequestID(r.Context()),
			"method", l.method,
			"path", l.path,
			"status", sw.status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000,
		)
	}()
	// Never let the mux answer on its own: its redirects and 405s are text
	// pages, and every answer here must be a vAPI body. A path that is not
	// in clean form names nothing.
	if path.Clean(r.URL.Path) != r.URL.Path {
		h.writeError(sw, s, errNotFound)
		return
	}
	// ServeMux lets HEAD through to a GET pattern; a HEAD is no operation
	// of the service, and must not count as a use of the session.
	if next, pattern := h.mux.Handler(r); pattern != "" && r.Method != http.MethodHead {
		ctx := session.WithSource(r.Context(), sourceAddr(r))
		ctx = session.WithClient(ctx, r.Header.Get("User-Agent"), surfaceName(r))
		next.ServeHTTP(sw, r.WithContext(ctx))
		return
	}
	if h.paths[r.URL.Path] {
		h.writeError(sw, s, errOperationNotFound)
		return
	}
	h.writeError(sw, s, errNotFound)
}

// surfaceName is the surface a request came by, as a session records it.
func surfaceName(r *http.Request) string {
	switch {
	case r.URL.Path == JSONRPCPath:
		return session.SurfaceJSONRPC
	case r.URL.Path == LegacyBase || strings.HasPrefix(r.URL.Path, LegacyBase+"/"):
		return session.SurfaceREST
	}
	return session.SurfaceAPI
}

// panicText describes a recovered panic for the log. Runtime errors carry
// no request data; any other value might, so only its type is told.
func panicText(p any) string {
	if re, ok := p.(runtime.Error); ok {
		return re.Error()
	}
	return fmt.Sprintf("panic(%T)", p)
}

// loggableRequest is what the access log may say of a request: a client
// can put anything, a token included, in a path it makes up, so only the
// paths the service serves and the standard methods are written as sent.
type loggableRequest struct{ method, path string }

func (h *Handler) loggable(r *http.Request) loggableRequest {
	l := loggableRequest{method: "(other)", path: "(other)"}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		l.method = r.Method
	}
	if h.paths[r.URL.Path] {
		l.path = r.URL.Path
	}
	return l
}

// create logs in with Basic credentials, or with an access token from the
// identity provider (createBearer).
func (h *Handler) create(w http.ResponseWriter, r *http.Request, s surface) {
	if token, ok := bearerAuth(r); ok && h.bearer != nil {
		h.createBearer(w, r, s, token)
		return
	}
	user, pass, ok := basicAuth(r)
	if !ok {
		h.svc.RefuseMalformed(r.Context())
		h.fail(w, r, s, session.Errorf(session.EUNAUTHENTICATED, "missing or malformed Basic credentials"))
		return
	}
	tok, sess, err := h.svc.Login(r.Context(), user, pass)
	h.logLogIn(r, &user, tok, sess, err)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	s.loggedIn(w, r, tok)
}

// createBearer logs in with an access token. Its failures are answered as
// a wrong password's: the same error, through the same mapping.
func (h *Handler) createBearer(w http.ResponseWriter, r *http.Request, s surface, token string) {
	tok, sess, err := h.bearer.LoginBearer(r.Context(), token)
	h.logLogIn(r, nil, tok, sess, err, "scheme", "bearer")
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	s.loggedIn(w, r, tok)
}

// logLogIn writes a log-in's one line: "login" with the user and the first
// 12 hex digits of the token's hash (never the token), or "login failed"
// with the error code and, for a password log-in (name not nil), the name
// given only as session.MaskName (it may be a password typed in the wrong
// field). attrs say how it came (surface, scheme).
func (h *Handler) logLogIn(r *http.Request, name *string, tok session.Token, sess session.Session, err error, attrs ...any) {
	ctx := r.Context()
	line := append([]any{"request_id", RequestID(ctx)}, attrs...)
	if err != nil {
		if name != nil {
			line = append(line, "user", session.MaskName(*name))
		}
		h.log.InfoContext(ctx, "login failed", append(line, "code", session.ErrorCode(err))...)
		return
	}
	h.log.InfoContext(ctx, "login", append(line, "user", sess.User, "session", tok.Hash().String()[:12])...)
}

// get returns the session's information and counts as its use.
func (h *Handler) get(w http.ResponseWriter, r *http.Request, s surface) {
	sess, err := h.svc.Get(r.Context(), s.sessionID(r))
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	s.info(w, infoOf(sess))
}

// delete logs out.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request, s surface) {
	if err := h.svc.Logout(r.Context(), s.sessionID(r)); err != nil {
		h.fail(w, r, s, err)
		return
	}
	s.loggedOut(w, r)
}

// Info is a Cis.Session.Info.
type Info struct {
	User             string `json:"user"`
	CreatedTime      string `json:"created_time"`
	LastAccessedTime string `json:"last_accessed_time"`
}

// TimeFormat is vAPI's DateTime: RFC 3339, UTC, milliseconds, Z.
const TimeFormat = "2006-01-02T15:04:05.000Z"

func infoOf(s session.Session) Info {
	return Info{
		User:             s.User,
		CreatedTime:      s.Created.UTC().Format(TimeFormat),
		LastAccessedTime: s.LastAccessed.UTC().Format(TimeFormat),
	}
}

// basicAuth returns the credentials of a Basic Authorization header,
// refusing an oversized header before decoding it.
func basicAuth(r *http.Request) (user, pass string, ok bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 || len(vals[0]) > MaxAuthorizationLen {
		return "", "", false
	}
	return r.BasicAuth()
}

// bearerAuth returns the token of a Bearer Authorization header (RFC 6750
// section 2.1; the scheme name in any case, RFC 7235 section 2.1): one
// header, one space, a b64token no longer than session.MaxBearerLen. A
// token outside that syntax is reported as a token all the same, "" (so
// that it is refused as a bearer log-in, not read as Basic).
func bearerAuth(r *http.Request) (string, bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "", false
	}
	scheme, token, _ := strings.Cut(vals[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if len(token) > session.MaxBearerLen || !b64token(token) {
		return "", true
	}
	return token, true
}

// b64token reports whether s is RFC 6750's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func b64token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return false
		}
	}
	return true
}

// headerSessionID returns the session id the request's header presents, or
// "" when it presents none or several.
func headerSessionID(r *http.Request) string {
	vals := r.Header.Values(HeaderSessionID)
	if len(vals) != 1 {
		return ""
	}
	return strings.TrimSpace(vals[0])
}

// failLevel is how loud a failure answered with status is in the log: a
// fault of ours is an error, a client's doing is not.
func failLevel(err error, status int) slog.Level {
	switch {
	case session.ErrorCode(err) == session.ELIMIT:
		return slog.LevelWarn // the client's doing, not a fault
	case status >= 500:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// fail logs err for the operator and answers with its wire form.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, s surface, err error) {
	we := toWire(err)
	h.log.Log(r.Context(), failLevel(err, we.status), "request failed", "request_id", RequestID(r.Context()), "status", we.status, "error", err.Error())
	h.writeError(w, s, we)
}

// writeError answers with we, shaped as surface s shapes errors. A 401
// offers Challenge, or a log-in's the log-in's challenge.
func (h *Handler) writeError(w http.ResponseWriter, s surface, we wireError) {
	if we.status == http.StatusUnauthorized {
		challenge := Challenge
		if _, ok := s.(loggingIn); ok {
			challenge = h.loginChallenge
		}
		w.Header().Set("WWW-Authenticate", challenge)
		if we.body.Challenge != "" {
			we.body.Challenge = challenge
		}
	}
	writeJSON(w, we.status, s.errorBody(we))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own types reach here; they always marshal.
		status, body = http.StatusServiceUnavailable, []byte(`{"error_type":"SERVICE_UNAVAILABLE","messages":[]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// statusWriter remembers the status written, for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (r *statusWriter) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusWriter) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id that every log line of the
// request names (the Lambda request id, or one the local runner makes).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// sourceAddr is the address a request came from, for the audit trail: the
// client's address as API Gateway saw it (the adapter sets RemoteAddr from
// sourceIp), without a port.
func sourceAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
