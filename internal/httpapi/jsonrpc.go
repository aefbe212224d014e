package httpapi

// The third surface: vAPI JSON-RPC 2.0 on POST /api, what VMware's Python
// (vapi_runtime) and Java SDKs speak by default. Every call is one "invoke"
// whose params name the service and operation and carry the credentials in a
// security context; every answer is HTTP 200 (the SDKs raise a transport
// error, not the vAPI one, on a status of 400 or more), with the operation's
// output or its vAPI error in "result", or a JSON-RPC protocol error.
//
// It serves com.vmware.cis.session's create, get and delete with the same
// session.Service calls as the other surfaces, so the same lockout, cap,
// lifetime and costs; its vAPI errors come from the one error mapping
// (toWire), read here only through vapiErrorOf. A call for any other
// service goes through the front door and on to the upstream
// (jsonrpc_forward.go).

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cis-session/cis-session/internal/session"
)

// JSONRPCPath is where the SDKs POST every JSON-RPC call.
const JSONRPCPath = "/api"

// MaxJSONRPCBody bounds a JSON-RPC request body, read before any parsing.
// The SDK's largest request, a create, is some 500 bytes around a user name
// and a password (session.MaxUserLen + session.MaxPasswordLen = 1280
// bytes); 16 KiB leaves room for a long appCtx and JSON escapes (six bytes
// a character at worst), and is far below what API Gateway accepts. An
// oauth create's access token is at most session.MaxBearerLen (8 KiB) of
// characters JSON never escapes.
const MaxJSONRPCBody = 16 << 10

// The vAPI names the surface knows.
const (
	// ServiceSession is the one service served.
	ServiceSession = "com.vmware.cis.session"
	// SchemeUserPass carries userName and password: create's scheme.
	SchemeUserPass = "com.vmware.vapi.std.security.user_pass"
	// SchemeOAuth carries accessToken, an access token from the identity
	// provider: create's federated scheme (vapi_runtime's
	// vmware/vapi/security/oauth.py, OAUTH_SCHEME_ID).
	SchemeOAuth = "com.vmware.vapi.std.security.oauth"
	// SchemeSessionID carries sessionId: the scheme of every other call.
	SchemeSessionID = "com.vmware.vapi.std.security.session_id"
	// SessionInfoName is the vAPI name of Cis.Session.Info.
	SessionInfoName = "com.vmware.cis.session.info"
	// ErrorNamePrefix, with the lower-case error_type, names a vAPI error.
	ErrorNamePrefix = "com.vmware.vapi.std.errors."
	// MessageName is the vAPI name of a LocalizableMessage.
	MessageName = "com.vmware.vapi.std.localizable_message"
)

// The headers the SDKs send beside the body, naming the same service and
// operation.
const (
	HeaderVAPIService   = "vapi-service"
	HeaderVAPIOperation = "vapi-operation"
)

// JSON-RPC 2.0 error codes (the spec's, and vAPI's -31001).
const (
	RPCParseError     = -32700
	RPCInvalidRequest = -32600
	RPCMethodNotFound = -32601
	RPCInvalidParams  = -32602
	// RPCOperationMismatch is vAPI's answer when the vapi-service or
	// vapi-operation header names another call than the body (VMware's
	// own JSON-RPC server does the same): a front door that routes or
	// authorizes by the header must not be told one thing and do another.
	RPCOperationMismatch = -31001
)

// rpcMessages are the errors' messages, the spec's names for its codes.
var rpcMessages = map[int]string{
	RPCParseError:        "Parse error",
	RPCInvalidRequest:    "Invalid Request",
	RPCMethodNotFound:    "Method not found",
	RPCInvalidParams:     "Invalid params",
	RPCOperationMismatch: "Mismatching operation identifier in HTTP header and payload",
}

// nullID is the id of an answer to a request whose id is unknown or not
// to be trusted.
var nullID = json.RawMessage("null")

// protocolError is a JSON-RPC error: the request is no vAPI invoke. data is
// a fixed reason, never anything the client sent.
type protocolError struct {
	code int
	data string
}

// jsonRPC serves POST /api. The surface the route passes is /api's, which
// this surface does not use: it shapes every answer itself.
func (h *Handler) jsonRPC(w http.ResponseWriter, r *http.Request, _ surface) {
	id := nullID
	defer func() {
		// Answer in this surface's form, with the id when known: a vAPI
		// body at 503 would reach the SDK as a transport error.
		if p := recover(); p != nil {
			h.log.ErrorContext(r.Context(), "panic serving request", "panic", panicText(p), "stack", string(debug.Stack()), "surface", "jsonrpc", "request_id", RequestID(r.Context()))
			writeRPCVAPIError(w, id, vapiUnavailable())
		}
	}()
	call, perr := readInvoke(r)
	if call.id != nil {
		id = call.id
	}
	if perr != nil {
		h.log.InfoContext(r.Context(), "jsonrpc request refused", "request_id", RequestID(r.Context()), "code", perr.code, "reason", perr.data)
		writeRPCError(w, id, perr)
		return
	}
	var serve func() (output any, err error)
	if call.service == ServiceSession {
		switch call.operation {
		case "create":
			serve = func() (any, error) { return h.rpcCreate(r, call) }
		case "get":
			serve = func() (any, error) { return h.rpcGet(r, call) }
		case "delete":
			serve = func() (any, error) { return nil, h.svc.Logout(r.Context(), call.sessionID(r)) }
		}
	}
	if serve == nil && call.service != ServiceSession {
		h.rpcForward(w, r, id, call)
		return
	}
	if serve == nil {
		h.log.InfoContext(r.Context(), "jsonrpc operation not found", "request_id", RequestID(r.Context()), "service_known", true)
		writeRPCVAPIError(w, id, vapiOperationNotFound())
		return
	}
	if !call.emptyInput() {
		h.rpcFail(w, r, id, call, session.Errorf(session.EINVALID, "input is not the operation's empty input structure"))
		return
	}
	output, err := serve()
	if err != nil {
		h.rpcFail(w, r, id, call, err)
		return
	}
	writeRPCOutput(w, id, output)
}

// rpcCreate logs in with the user_pass security context, or the oauth one.
// Either is refused before the service, as a malformed log-in, unless the
// per-source rate rule is sure to count it (wafVisible): a token is a
// credential to guess too, and a log-in the rule misses is a free guess.
func (h *Handler) rpcCreate(r *http.Request, call invoke) (any, error) {
	if !wafVisible(call.body) {
		h.svc.RefuseMalformed(r.Context())
		return nil, session.Errorf(session.EUNAUTHENTICATED, "a log-in the per-source rate rule might not see")
	}
	if call.sec.SchemeID == SchemeOAuth && call.sec.AccessToken != nil && h.bearer != nil {
		tok, sess, err := h.bearer.LoginBearer(r.Context(), *call.sec.AccessToken)
		h.logLogIn(r, nil, tok, sess, err, "surface", "jsonrpc", "scheme", "oauth")
		if err != nil {
			return nil, err
		}
		return secretValue{string(tok)}, nil
	}
	if call.sec.SchemeID != SchemeUserPass || call.sec.UserName == nil || call.sec.Password == nil {
		// Counted as the other surfaces count a log-in without Basic
		// credentials: refused before the service.
		h.svc.RefuseMalformed(r.Context())
		return nil, session.Errorf(session.EUNAUTHENTICATED, "no user_pass security context")
	}
	tok, sess, err := h.svc.Login(r.Context(), *call.sec.UserName, *call.sec.Password)
	h.logLogIn(r, call.sec.UserName, tok, sess, err, "surface", "jsonrpc")
	if err != nil {
		return nil, err
	}
	return secretValue{string(tok)}, nil
}

// rpcGet returns the session's information and counts as its use.
func (h *Handler) rpcGet(r *http.Request, call invoke) (any, error) {
	sess, err := h.svc.Get(r.Context(), call.sessionID(r))
	if err != nil {
		return nil, err
	}
	return structValue{map[string]any{SessionInfoName: infoOf(sess)}}, nil
}

// rpcFail logs err for the operator, as fail does for the other surfaces,
// and answers with its vAPI error in result.error.
func (h *Handler) rpcFail(w http.ResponseWriter, r *http.Request, id json.RawMessage, call invoke, err error) {
	ve := vapiErrorOf(err)
	if ve.challenge != "" && call.service == ServiceSession && call.operation == "create" {
		ve.challenge = h.loginChallenge // a log-in's; any other keeps Challenge
	}
	h.log.Log(r.Context(), failLevel(err, ve.status), "request failed", "request_id", RequestID(r.Context()), "surface", "jsonrpc", "operation", call.operation, "error_type", ve.errorType, "error", err.Error())
	writeRPCVAPIError(w, id, ve)
}

// invoke is a parsed vAPI invoke.
type invoke struct {
	id                 json.RawMessage // exactly as sent; nil until known
	body               []byte          // the whole request body, for forwarding
	service, operation string
	input              json.RawMessage
	hasSec             bool // the request carried a security context
	sec                securityContext
}

// securityContext holds the members of the schemes served. A member of the
// wrong type is left nil: those credentials are missing.
type securityContext struct {
	SchemeID  string
	UserName  *string
	Password  *string
	SessionID *string
	// AccessToken is the oauth scheme's token.
	AccessToken *string
}

// sessionID is the session id the call presents: its session_id security
// context or, for a call without one, the vmware-api-session-id header
// (which VMware's own JSON-RPC server also reads).
func (c invoke) sessionID(r *http.Request) string {
	if !c.hasSec {
		return headerSessionID(r)
	}
	if c.sec.SchemeID != SchemeSessionID || c.sec.SessionID == nil {
		return "" // no session: the service answers unauthenticated at no cost
	}
	return *c.sec.SessionID
}

// emptyInput reports whether the input is the operation-input structure with
// no fields, the input of each of the session service's operations.
func (c invoke) emptyInput() bool {
	var in map[string]map[string]map[string]json.RawMessage
	if err := json.Unmarshal(c.input, &in); err != nil || len(in) != 1 {
		return false
	}
	s, ok := in["STRUCTURE"]
	if !ok || len(s) != 1 {
		return false
	}
	fields, ok := s["operation-input"]
	return ok && fields != nil && len(fields) == 0
}

// readInvoke reads and checks a JSON-RPC request, bounded before any
// parsing. Whatever it returns, the call's id is set once it is known to be
// a valid id, so that a later error can echo it.
func readInvoke(r *http.Request) (invoke, *protocolError) {
	var call invoke
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxJSONRPCBody+1))
	if err != nil {
		return call, &protocolError{RPCInvalidRequest, "the request body could not be read"}
	}
	if len(body) > MaxJSONRPCBody {
		return call, &protocolError{RPCInvalidRequest, "the request body is larger than " + strconv.Itoa(MaxJSONRPCBody) + " bytes"}
	}
	// json.Valid accepts invalid UTF-8 inside strings, which decoding
	// turns into U+FFFD: a member named "securityCtx\xff" would escape the
	// cut of the forwarded body yet read back as the security context in a
	// lenient decoder upstream. JSON text is UTF-8 (RFC 8259 section 8.1).
	if !json.Valid(body) || !utf8.Valid(body) {
		return call, &protocolError{RPCParseError, "the request body is not JSON"}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return call, &protocolError{RPCInvalidRequest, "the request is not a JSON-RPC request object (batches are not served)"}
	}
	id, ok := top["id"]
	if !ok {
		// A notification is answered with nothing, and an invoke's answer
		// (a new session id, say) is its point: refuse before any work.
		return call, &protocolError{RPCInvalidRequest, "the request has no id: notifications are not served"}
	}
	if !validID(id) {
		return call, &protocolError{RPCInvalidRequest, "id is not a string, a number or null"}
	}
	if version, _ := stringMember(top, "jsonrpc"); version != "2.0" {
		return call, &protocolError{RPCInvalidRequest, `jsonrpc is not "2.0"`}
	}
	method, ok := stringMember(top, "method")
	if !ok {
		return call, &protocolError{RPCInvalidRequest, "method is not a string"}
	}
	// vapi_runtime expects the id of a -32700 or -32600 answer to be null
	// (see jsonrpc_test.go); from here on errors echo it.
	call.id = id
	if method != "invoke" {
		return call, &protocolError{RPCMethodNotFound, `the only method is "invoke"`}
	}
	var params struct {
		ServiceID   *string         `json:"serviceId"`
		OperationID *string         `json:"operationId"`
		Input       json.RawMessage `json:"input"`
		Ctx         *struct {
			SecurityCtx map[string]json.RawMessage `json:"securityCtx"`
		} `json:"ctx"`
	}
	if p := top["params"]; p == nil || p[0] != '{' || json.Unmarshal(p, &params) != nil {
		return call, &protocolError{RPCInvalidParams, "params is not an object with a string serviceId and operationId, an input and a ctx object"}
	}
	if params.ServiceID == nil || params.OperationID == nil || params.Input == nil {
		return call, &protocolError{RPCInvalidParams, "params lacks serviceId, operationId or input"}
	}
	call.service, call.operation, call.input, call.body = *params.ServiceID, *params.OperationID, params.Input, body
	if mismatched(r, HeaderVAPIService, call.service) || mismatched(r, HeaderVAPIOperation, call.operation) {
		return call, &protocolError{RPCOperationMismatch, "the vapi-service or vapi-operation header names another operation than params"}
	}
	if params.Ctx != nil && params.Ctx.SecurityCtx != nil {
		call.hasSec = true
		sc := params.Ctx.SecurityCtx
		call.sec.SchemeID, _ = stringMember(sc, "schemeId")
		call.sec.UserName = optionalMember(sc, "userName")
		call.sec.Password = optionalMember(sc, "password")
		call.sec.SessionID = optionalMember(sc, "sessionId")
		call.sec.AccessToken = optionalMember(sc, "accessToken")
	}
	return call, nil
}

// validID reports whether raw is a JSON-RPC id: a string, a number or null.
func validID(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return false
	}
	switch c := raw[0]; {
	case c == '"', c == '-', c >= '0' && c <= '9':
		return true
	default:
		return string(raw) == "null"
	}
}

// mismatched reports whether the request has header name and it names
// something else than want.
func mismatched(r *http.Request, name, want string) bool {
	vals := r.Header.Values(name)
	return len(vals) > 0 && (len(vals) > 1 || strings.TrimSpace(vals[0]) != want)
}

func stringMember(m map[string]json.RawMessage, key string) (string, bool) {
	var s string
	if raw, ok := m[key]; !ok || json.Unmarshal(raw, &s) != nil || raw[0] != '"' {
		return "", false
	}
	return s, true
}

func optionalMember(m map[string]json.RawMessage, key string) *string {
	if s, ok := stringMember(m, key); ok {
		return &s
	}
	return nil
}

// The vAPI data values this surface writes, in vAPI's JSON-RPC encoding.
type (
	secretValue struct {
		Secret string `json:"SECRET"`
	}
	structValue struct {
		Structure map[string]any `json:"STRUCTURE"`
	}
	errorValue struct {
		Error map[string]errorFields `json:"ERROR"`
	}
	optionalValue struct {
		Optional any `json:"OPTIONAL"`
	}
	messageFields struct {
		ID             string   `json:"id"`
		DefaultMessage string   `json:"default_message"`
		Args           []string `json:"args"`
	}
)

// errorFields are a vAPI standard error's fields. challenge is a field of
// Unauthenticated only.
type errorFields struct {
	Messages  []structValue  `json:"messages"`
	Data      optionalValue  `json:"data"`
	ErrorType optionalValue  `json:"error_type"`
	Challenge *optionalValue `json:"challenge,omitempty"`
}

// rpcVAPIError is a vAPI error as this surface needs it.
type rpcVAPIError struct {
	status    int // what the other surfaces answer it with: for the log
	errorType string
	messages  []messageFields
	challenge string
}

// vapiErrorOf is what the one error mapping (toWire) makes of err. This
// and the two below are the only places here that know errors.go.
func vapiErrorOf(err error) rpcVAPIError { return fromWire(toWire(err)) }

func vapiOperationNotFound() rpcVAPIError { return fromWire(errOperationNotFound) }

func vapiUnavailable() rpcVAPIError { return fromWire(errUnavailable) }

func fromWire(we wireError) rpcVAPIError {
	ve := rpcVAPIError{status: we.status, errorType: we.body.ErrorType, challenge: we.body.Challenge}
	for _, m := range we.body.Messages {
		ve.messages = append(ve.messages, messageFields{ID: m.ID, DefaultMessage: m.DefaultMessage, Args: m.Args})
	}
	return ve
}

// value is ve as a vAPI ErrorValue.
func (ve rpcVAPIError) value() errorValue {
	f := errorFields{
		Messages:  []structValue{},
		Data:      optionalValue{nil},
		ErrorType: optionalValue{ve.errorType},
	}
	for _, m := range ve.messages {
		if m.Args == nil {
			m.Args = []string{}
		}
		f.Messages = append(f.Messages, structValue{map[string]any{MessageName: m}})
	}
	if ve.challenge != "" {
		f.Challenge = &optionalValue{ve.challenge}
	}
	return errorValue{map[string]errorFields{ErrorNamePrefix + strings.ToLower(ve.errorType): f}}
}

// rpcResponse is a JSON-RPC 2.0 response.
type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    string `json:"data,omitempty"`
}

// writeRPCError answers a request that is no vAPI invoke with a JSON-RPC
// error. The id of a -32700 or -32600 is null whatever the request's was:
// vapi_runtime refuses any other (see jsonrpc_test.go).
func writeRPCError(w http.ResponseWriter, id json.RawMessage, perr *protocolError) {
	if perr.code == RPCParseError || perr.code == RPCInvalidRequest {
		id = nullID
	}
	writeRPC(w, rpcResponse{JSONRPC: "2.0", ID: id, Error: &rpcError{Code: perr.code, Message: rpcMessages[perr.code], Data: perr.data}})
}

// writeRPCOutput answers with an operation's output: nil for a void one.
func writeRPCOutput(w http.ResponseWriter, id json.RawMessage, output any) {
	writeRPC(w, rpcResponse{JSONRPC: "2.0", ID: id, Result: struct {
		Output any `json:"output"`
	}{output}})
}

// writeRPCVAPIError answers with an operation's vAPI error.
func writeRPCVAPIError(w http.ResponseWriter, id json.RawMessage, ve rpcVAPIError) {
	writeRPC(w, rpcResponse{JSONRPC: "2.0", ID: id, Result: struct {
		Error errorValue `json:"error"`
	}{ve.value()}})
}

// writeRPC answers with HTTP 200 whatever the outcome, the id written as the
// client sent it, byte for byte.
func writeRPC(w http.ResponseWriter, resp rpcResponse) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keeps the id's bytes as sent
	if err := enc.Encode(resp); err != nil {
		// Only our own types and a validated id reach here.
		buf.Reset()
		buf.WriteString(`{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(bytes.TrimRight(buf.Bytes(), "\n"))
}
