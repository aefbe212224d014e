// Package stack is the stack that template.yaml declares, as plain Go
// values: the Lambda functions the service is cut into, which operations
// each serves, and so which routes API Gateway sends it and which DynamoDB
// actions it may take.
//
// Each functions/<dir>/main.go serves the Ops of its value here; the
// template test holds template.yaml to this table (a resource per function,
// every route routed to its function, each role granting exactly the
// function's Permissions); the event replay tests and `make invoke` pick the
// function an event goes to with ForEvent.
//
// It must never import AWS or DynamoDB packages.
package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cis-session/cis-session/internal/httpapi"
)

// Table names one of the stack's DynamoDB tables by its role.
type Table string

// The tables.
const (
	Sessions Table = "sessions"
	Users    Table = "users"
	// SessionsByUser is the sessions table's one index, of sessions by user.
	// Its name is dynamo.SessionsByUser; template.yaml grants it as
	// <sessions table ARN>/index/<name>, which the template test checks.
	SessionsByUser Table = Sessions + "/index"
	// SessionsBySubject is its index of federated sessions by provider and
	// subject (dynamo.SessionsBySubject), which a back-channel logout queries.
	SessionsBySubject Table = Sessions + "/index/subject"
	// SessionsBySID is its index of federated sessions by provider session
	// (dynamo.SessionsBySID), which a logout token naming only a sid queries.
	SessionsBySID Table = Sessions + "/index/sid"
)

// Tables lists every table and index a function may be granted actions on.
var Tables = []Table{Sessions, Users, SessionsByUser, SessionsBySubject, SessionsBySID}

// Permission is one DynamoDB action on one table.
type Permission struct {
	Table  Table
	Action string // e.g. "dynamodb:UpdateItem"
}

// The DynamoDB calls of the session service's three operations, whichever
// surface carries them.
var (
	// Read the user (the password hash and failed log-ins), count the
	// user's live sessions (at the cap: read the candidates' last accesses
	// and delete the dead ones), count or clear failed log-ins (and upgrade
	// a hash made at a lower cost), store the new session, read the user
	// again to confirm it did not change meanwhile (else delete the session).
	// In several regions the user is read with every region's log-in
	// defence item in one BatchGetItem (docs/REGIONS.md, "Users"): the
	// same items GetItem may read, so granting it in one region too adds
	// nothing a role could not already read.
	logInPermissions = []Permission{
		{Users, "dynamodb:BatchGetItem"}, {Users, "dynamodb:GetItem"}, {Users, "dynamodb:UpdateItem"},
		{SessionsByUser, "dynamodb:Query"}, {Sessions, "dynamodb:PutItem"},
		{Sessions, "dynamodb:BatchGetItem"}, {Sessions, "dynamodb:DeleteItem"},
	}
	// One conditional UpdateItem (and, when the condition fails without
	// returning the item, a second one that changes nothing).
	getPermissions = []Permission{{Sessions, "dynamodb:UpdateItem"}}
	// One conditional DeleteItem.
	logOutPermissions = []Permission{{Sessions, "dynamodb:DeleteItem"}}
	// The identity provider's logout: record the token's jti once (a
	// conditional PutItem, forgotten with a DeleteItem if the logout
	// fails), find the subject's sessions (or a provider session's, by
	// its sid alone) in their index, delete each.
	backchannelPermissions = []Permission{
		{Sessions, "dynamodb:PutItem"}, {Sessions, "dynamodb:DeleteItem"},
		{SessionsBySubject, "dynamodb:Query"}, {SessionsBySID, "dynamodb:Query"},
	}
)

// OpPermissions lists, for every operation, the DynamoDB calls its code
// makes: all that the function serving it is granted. The replay test checks
// that the code makes no other call.
var OpPermissions = map[httpapi.Operation][]Permission{
	httpapi.OpCreate: logInPermissions,
	// POST /rest/com/vmware/cis/session: log-in, or with ~action=get a get.
	httpapi.OpLegacyPost: slices.Concat(logInPermissions, getPermissions),
	httpapi.OpGet:        getPermissions,
	httpapi.OpDelete:     logOutPermissions,
	// POST /api, vAPI JSON-RPC: log-in, get and log-out alike.
	httpapi.OpJSONRPC: slices.Concat(logInPermissions, getPermissions, logOutPermissions),
	// The front door: get's one conditional UpdateItem on every call it
	// authorizes.
	httpapi.OpAuthorize: getPermissions,
	// The assertions' public keys: no table at all.
	httpapi.OpJWKS: nil,
	// POST /oidc/backchannel-logout.
	httpapi.OpBackchannelLogout: backchannelPermissions,
}

// OpHomePermissions lists, for the operations that may act on a session
// made in another region, the calls they then make at the replica of that
// session's home region (docs/REGIONS.md): a touch, a log-out. In a stack
// of several regions the function serving them is granted these on the
// sessions table of the same name in its peer regions.
var OpHomePermissions = map[httpapi.Operation][]Permission{
	httpapi.OpLegacyPost: getPermissions,
	httpapi.OpGet:        getPermissions,
	httpapi.OpDelete:     logOutPermissions,
	httpapi.OpJSONRPC:    slices.Concat(getPermissions, logOutPermissions),
	httpapi.OpAuthorize:  getPermissions,
}

// Function is one Lambda function: the code in functions/<Dir>.
type Function struct {
	Dir      string              // directory under functions/: lower-case letters
	Ops      []httpapi.Operation // the operations it serves; none: API Gateway never invokes it
	MemoryMB int                 // its MemorySize in template.yaml, which buys CPU too
	// WritesAudit: it copies the other functions' audit lines into the
	// audit log group (CreateLogStream and PutLogEvents there), which is all
	// it may do besides writing its own log.
	WritesAudit bool
}

// FullVCPUMemoryMB is the memory at which Lambda gives a function one whole
// vCPU; below it, a share in proportion to its memory.
const FullVCPUMemoryMB = 1769

// The functions, each the value its functions/<Dir>/main.go serves.
var (
	// Create logs in, on both surfaces (the /rest POST also gets). It
	// hashes with argon2id: a whole vCPU keeps a log-in's hash short. It
	// also serves the identity provider's back-channel logout: it already
	// trusts the provider's keys, and stores and deletes sessions, so the
	// logout adds to its role only the query of the subject index (a
	// function of its own would add a role, a log group and alarms that
	// can write sessions all the same).
	Create = Function{Dir: "create", Ops: []httpapi.Operation{httpapi.OpCreate, httpapi.OpLegacyPost, httpapi.OpBackchannelLogout}, MemoryMB: FullVCPUMemoryMB}
	// Get reads a session, which counts as its use.
	Get = Function{Dir: "get", Ops: []httpapi.Operation{httpapi.OpGet}, MemoryMB: 512}
	// Delete logs out.
	Delete = Function{Dir: "delete", Ops: []httpapi.Operation{httpapi.OpDelete}, MemoryMB: 512}
	// Vapi serves vAPI JSON-RPC (POST /api), the Python and Java SDKs'
	// surface: its one route carries create, get and delete alike, so it
	// has log-in's memory for the password hash.
	Vapi = Function{Dir: "vapi", Ops: []httpapi.Operation{httpapi.OpJSONRPC, httpapi.OpJWKS}, MemoryMB: FullVCPUMemoryMB}
	// Authorize is the front door: API Gateway's authorizer for every
	// other path under /api/ and /rest/. It serves no route of its own.
	Authorize = Function{Dir: "authorize", Ops: []httpapi.Operation{httpapi.OpAuthorize}, MemoryMB: 512}
	// Auditfwd keeps the audit trail: CloudWatch Logs invokes it with the
	// audit lines of every function that serves the API (a subscription on
	// each one's log group), and it writes them into the audit log group.
	// It serves no operation and touches no table.
	Auditfwd = Function{Dir: "auditfwd", MemoryMB: 128, WritesAudit: true}
)

// Functions lists every function of the stack.
var Functions = []Function{Create, Get, Delete, Vapi, Authorize, Auditfwd}

// ForwardsUpstream reports whether f itself forwards calls to the upstream
// (JSON-RPC calls for services other than the session service): it alone
// gets UPSTREAM_URL, and may take as long as API Gateway waits.
func (f Function) ForwardsUpstream() bool { return slices.Contains(f.Ops, httpapi.OpJSONRPC) }

// LogsIn reports whether f serves a log-in: it alone reads the federation
// settings (config.OIDCVars) and may ask the identity provider.
func (f Function) LogsIn() bool {
	return slices.ContainsFunc(f.Ops, func(op httpapi.Operation) bool {
		return op == httpapi.OpCreate || op == httpapi.OpLegacyPost || op == httpapi.OpJSONRPC
	})
}

// ReadsKeySecret reports whether f reads the assertion key secret: it
// signs assertions (the front door), or seals the sessions it makes (it
// logs in), or both. The get and delete functions do not: they never
// forward a call, and a key held by fewer functions is minted with by
// fewer (docs/UPSTREAM.md, "A touch cannot create").
func (f Function) ReadsKeySecret() bool { return f.LogsIn() || f.IsAuthorizer() }

// IsAuthorizer reports whether f is invoked as an authorizer, not by a route.
func (f Function) IsAuthorizer() bool { return slices.Contains(f.Ops, httpapi.OpAuthorize) }

// ServesAPI reports whether API Gateway invokes f (for a route, or as the
// authorizer): such a function takes API Gateway events, has events in
// events/, and writes the metric and audit lines of what it serves.
func (f Function) ServesAPI() bool { return len(f.Ops) > 0 }

// APIFunctions returns the functions that serve the API, in Functions order.
func APIFunctions() []Function {
	var fs []Function
	for _, f := range Functions {
		if f.ServesAPI() {
			fs = append(fs, f)
		}
	}
	return fs
}

// LogicalID is the function's resource in template.yaml, and so also the
// name of its `make build-<LogicalID>` target: "get" is GetFunction.
func (f Function) LogicalID() string {
	if f.Dir == "" {
		return ""
	}
	return strings.ToUpper(f.Dir[:1]) + f.Dir[1:] + "Function"
}

// Permissions returns the union of the permissions of f's operations,
// sorted by table and action.
func (f Function) Permissions() []Permission {
	var ps []Permission
	for _, op := range f.Ops {
		for _, p := range OpPermissions[op] {
			if !slices.Contains(ps, p) {
				ps = append(ps, p)
			}
		}
	}
	slices.SortFunc(ps, ComparePermissions)
	return ps
}

// HomePermissions returns the union of OpHomePermissions of f's
// operations, sorted.
func (f Function) HomePermissions() []Permission {
	var ps []Permission
	for _, op := range f.Ops {
		for _, p := range OpHomePermissions[op] {
			if !slices.Contains(ps, p) {
				ps = append(ps, p)
			}
		}
	}
	slices.SortFunc(ps, ComparePermissions)
	return ps
}

// ComparePermissions orders permissions by table, then action.
func ComparePermissions(a, b Permission) int {
	if c := strings.Compare(string(a.Table), string(b.Table)); c != 0 {
		return c
	}
	return strings.Compare(a.Action, b.Action)
}

// Allows reports whether f may take action on table.
func (f Function) Allows(table Table, action string) bool {
	return slices.Contains(f.Permissions(), Permission{table, action})
}

// Routes returns the routes API Gateway sends to f, in httpapi.Routes order,
// each method and path once.
func (f Function) Routes() []httpapi.Route {
	var rs []httpapi.Route
	for _, rt := range httpapi.Routes {
		if g, ok := ForRoute(rt.Method, rt.Path); ok && g.Dir == f.Dir &&
			!slices.ContainsFunc(rs, func(r httpapi.Route) bool { return r.Method == rt.Method && r.Path == rt.Path }) {
			rs = append(rs, rt)
		}
	}
	return rs
}

// ByDir returns the function in functions/<dir>.
func ByDir(dir string) (Function, bool) {
	for _, f := range Functions {
		if f.Dir == dir {
			return f, true
		}
	}
	return Function{}, false
}

// ForOp returns the function serving op.
func ForOp(op httpapi.Operation) (Function, bool) {
	for _, f := range Functions {
		if slices.Contains(f.Ops, op) {
			return f, true
		}
	}
	return Function{}, false
}

// ForRoute returns the function API Gateway sends method and path to: the
// function serving the operation of the first of httpapi.Routes with that
// method and path. (API Gateway routes on method and path alone, so every
// route sharing them must be served by the same function; a test holds the
// table to that.)
func ForRoute(method, path string) (Function, bool) {
	for _, rt := range httpapi.Routes {
		if rt.Method == method && rt.Path == path {
			return ForOp(rt.Op)
		}
	}
	return Function{}, false
}

// RouteOf returns the method and the route path of an API Gateway proxy
// event: an HTTP API (payload 2.0) event's routeKey, or a REST API (1.0)
// event's httpMethod and resource.
func RouteOf(event []byte) (method, path string, err error) {
	var ev struct {
		Version    string `json:"version"`
		RouteKey   string `json:"routeKey"`
		HTTPMethod string `json:"httpMethod"`
		Resource   string `json:"resource"`
	}
	if err := json.Unmarshal(event, &ev); err != nil {
		return "", "", fmt.Errorf("event is not JSON: %w", err)
	}
	if ev.Version == "2.0" {
		m, p, ok := strings.Cut(ev.RouteKey, " ")
		if !ok || m == "" || p == "" {
			return "", "", fmt.Errorf("HTTP API event has routeKey %q, want \"METHOD /path\"", ev.RouteKey)
		}
		return m, p, nil
	}
	if ev.HTTPMethod == "" || ev.Resource == "" {
		return "", "", errors.New("event is neither an HTTP API (version 2.0, routeKey) nor a REST API (httpMethod, resource) proxy event")
	}
	return ev.HTTPMethod, ev.Resource, nil
}

// IsAuthorizerEvent reports whether event is a REST API Lambda REQUEST
// authorizer event (type REQUEST, a methodArn), which no route names.
func IsAuthorizerEvent(event []byte) bool {
	var ev struct {
		Type      string `json:"type"`
		MethodArn string `json:"methodArn"`
	}
	return json.Unmarshal(event, &ev) == nil && ev.Type == "REQUEST" && ev.MethodArn != ""
}

// ForEvent returns the function API Gateway would invoke with event: the
// authorizer for an authorizer event, else the function of its route.
func ForEvent(event []byte) (Function, error) {
	if IsAuthorizerEvent(event) {
		return Authorize, nil
	}
	method, path, err := RouteOf(event)
	if err != nil {
		return Function{}, err
	}
	f, ok := ForRoute(method, path)
	if !ok {
		return Function{}, fmt.Errorf("no function serves %s %s (httpapi.Routes has no such route)", method, path)
	}
	return f, nil
}
