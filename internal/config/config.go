// Package config reads the service's settings from the environment, once, at
// start-up. A bad value is an error that names the variable, so that a
// function fails its init instead of misbehaving on requests.
//
// It must never import AWS, DynamoDB or HTTP packages.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cis-session/cis-session/internal/session"
)

// Environment variables the service reads. template.yaml sets each of them;
// a test holds the two together.
const (
	EnvSessionsTable = "SESSIONS_TABLE"
	EnvUsersTable    = "USERS_TABLE"
	EnvIdleTimeout   = "SESSION_IDLE_TIMEOUT"
	EnvMaxLifetime   = "SESSION_MAX_LIFETIME"
	EnvDefaultDomain = "DEFAULT_DOMAIN"
	EnvLogLevel      = "LOG_LEVEL"
	EnvMaxFailures   = "LOGIN_MAX_FAILURES"
	EnvFailureWindow = "LOGIN_FAILURE_WINDOW"
	EnvLockFor       = "LOGIN_LOCK_DURATION"
	EnvLockMax       = "LOGIN_LOCK_MAX"
	EnvFamiliarFor   = "LOGIN_FAMILIAR_PERIOD"
	EnvMaxSessions   = "MAX_SESSIONS_PER_USER"
	// EnvReadOnFailedCondition is for engines without
	// ReturnValuesOnConditionCheckFailure (dynalite); never needed on AWS.
	EnvReadOnFailedCondition = "DYNAMODB_READ_ON_FAILED_CONDITION"
)

// EnvUpstreamURL is where the calls the front door lets through go:
// http(s)://host[:port][/base], the call's path appended; empty for none.
// Only what forwards calls itself reads it (the JSON-RPC function, `make
// run`): the deployed gateway forwards /api/* and /rest/* on its own.
const EnvUpstreamURL = "UPSTREAM_URL"

// More than one region (docs/REGIONS.md): this region's name, which every
// session made here records as its home, and the other regions' replicas of
// the sessions table, as name=endpoint pairs separated by commas (locally,
// b=http://127.0.0.1:PORT) or bare AWS region names (deployed: us-west-2).
// Both empty: one region, as before.
const (
	EnvRegionName  = "REGION_NAME"
	EnvPeerRegions = "PEER_REGIONS"
)

// EnvForwardClientAuthorization, "true", passes the client's Authorization
// header on to the upstream: an opt-in for an upstream that needs it,
// "false" by default, when nothing of the client's credentials goes past
// the front door (docs/FRONTDOOR.md). Read where UPSTREAM_URL is.
const EnvForwardClientAuthorization = "FORWARD_CLIENT_AUTHORIZATION"

// EnvAPIBaseURL is the API's base URL as clients call it
// (https://api.example.com, no trailing slash): the assertion's iss. Empty:
// the base URL API Gateway's own request context names (the execute-api
// URL and stage, or the custom domain it routed by), never a client's Host
// header; `make run` sets its own address.
const EnvAPIBaseURL = "API_BASE_URL"

// Federated log-in (docs/FEDERATION.md): OAuth 2.0 access tokens from an
// OpenID Connect issuer. Only the functions that log in read them.
const (
	EnvOIDCIssuer        = "OIDC_ISSUER"         // empty: federation off
	EnvOIDCAudience      = "OIDC_AUDIENCE"       // required with an issuer
	EnvOIDCUserClaim     = "OIDC_USER_CLAIM"     // default preferred_username
	EnvOIDCRequiredGroup = "OIDC_REQUIRED_GROUP" // empty: no group required
	EnvOIDCGroupsClaim   = "OIDC_GROUPS_CLAIM"   // default groups
	// EnvOIDCClientID is the aud a back-channel logout token must carry:
	// the client id the provider knows this service by; default OIDC_AUDIENCE.
	EnvOIDCClientID = "OIDC_CLIENT_ID"
)

// OIDCVars lists the federation variables, set on the functions that log in.
var OIDCVars = []string{EnvOIDCIssuer, EnvOIDCAudience, EnvOIDCUserClaim, EnvOIDCRequiredGroup, EnvOIDCGroupsClaim, EnvOIDCClientID}

// OIDC is the federated log-in's configuration; Issuer "" is off.
type OIDC struct {
	Issuer, Audience, UserClaim, RequiredGroup, GroupsClaim string
	ClientID                                                string // the aud of back-channel logout tokens
}

// The assertion the front door signs for the upstream (package assertion):
// where its key seeds are kept (a Secrets Manager secret's ARN, or for
// `make run` a file; never the seed itself), its audience (default the
// upstream URL) and the authorizer's cache TTL, which a cached answer's
// assertion must outlive.
const (
	EnvAssertionKeySecret = "ASSERTION_KEY_SECRET"
	EnvAssertionKeyFile   = "ASSERTION_KEY_FILE"
	EnvUpstreamAudience   = "UPSTREAM_AUDIENCE"
	EnvAuthorizerCacheTTL = "AUTHORIZER_CACHE_TTL"
	// EnvAssertionKeyEpoch changes to make every instance read the seeds
	// anew (they are read once, at init): a rotation's deploys bump it.
	EnvAssertionKeyEpoch = "ASSERTION_KEY_EPOCH"
)

// AssertionVars lists the variables the functions that sign assertions
// (the authorizer, the JSON-RPC function) need set when deployed.
var AssertionVars = []string{EnvAssertionKeySecret, EnvUpstreamAudience, EnvAuthorizerCacheTTL, EnvAssertionKeyEpoch, EnvAPIBaseURL}

// Vars lists every variable Load reads for every function.
var Vars = []string{EnvSessionsTable, EnvUsersTable, EnvIdleTimeout, EnvMaxLifetime, EnvDefaultDomain, EnvLogLevel,
	EnvMaxFailures, EnvFailureWindow, EnvLockFor, EnvLockMax, EnvFamiliarFor, EnvMaxSessions, EnvReadOnFailedCondition}

// ForwardVars lists the variables Load reads beside Vars that only the
// functions forwarding calls to the upstream need set.
var ForwardVars = []string{EnvUpstreamURL, EnvForwardClientAuthorization}

// Defaults for local use. A deployed stack sets every variable.
const (
	DefaultSessionsTable = "cis-sessions"
	DefaultUsersTable    = "cis-users"
	DefaultDomain        = "vsphere.local"
)

// Config is the parsed configuration.
type Config struct {
	SessionsTable string
	UsersTable    string
	// Policy: a zero Lockout.MaxFailures is no lockout, a zero
	// MaxSessionsPerUser no cap.
	session.Policy
	LogLevel slog.Level
	// ReadOnFailedCondition makes a failed session touch ask again (see
	// dynamo.Sessions): one more request, only on engines that need it.
	ReadOnFailedCondition bool
	// Upstream is EnvUpstreamURL parsed; nil for none.
	Upstream *url.URL
	// ForwardClientAuthorization is EnvForwardClientAuthorization: the
	// client's Authorization goes on to the upstream.
	ForwardClientAuthorization bool
	// APIBaseURL is EnvAPIBaseURL: the assertion's iss; "" for the one API
	// Gateway's request context names.
	APIBaseURL string
	// OIDC is the identity provider bearer log-ins trust; Issuer "" for none.
	OIDC OIDC
	// AssertionKeySecret and AssertionKeyFile say where the assertion's
	// key seeds are; both empty: no assertion is signed.
	AssertionKeySecret, AssertionKeyFile string
	// Audience is the assertion's aud: EnvUpstreamAudience, else the
	// upstream URL.
	Audience string
	// AssertionLifetime is how long an assertion is valid: 5 minutes
	// beyond the authorizer's cache TTL, so that an answer API Gateway
	// reuses carries one still valid.
	AssertionLifetime time.Duration
	// AssertionKeyEpoch names the generation of seeds an instance read, for
	// its init log line: the deploy that bumps it starts new instances.
	AssertionKeyEpoch string
	// Region is EnvRegionName; "" for a single region.
	Region string
	// PeerRegions is EnvPeerRegions, checked; Peers parses it. (A string,
	// so that a Config stays comparable.)
	PeerRegions string
}

// Peers is the other regions: name to the DynamoDB endpoint of its
// replica ("" for AWS's endpoint of that region); nil for none.
func (c Config) Peers() map[string]string {
	m, _ := peers(c.PeerRegions, c.Region)
	return m
}

// Load reads the configuration from the process environment.
func Load() (Config, error) { return Parse(os.LookupEnv) }

// Parse reads the configuration through lookup (os.LookupEnv in
// production), collecting every bad variable into one error.
func Parse(lookup func(string) (string, bool)) (Config, error) {
	get := func(name, def string) string {
		if v, ok := lookup(name); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		return def
	}
	var errs []error
	c := Config{
		SessionsTable: get(EnvSessionsTable, DefaultSessionsTable),
		UsersTable:    get(EnvUsersTable, DefaultUsersTable),
	}
	c.DefaultDomain = get(EnvDefaultDomain, DefaultDomain)
	for name, v := range map[string]string{EnvSessionsTable: c.SessionsTable, EnvUsersTable: c.UsersTable} {
		if !validTableName(v) {
			errs = append(errs, fmt.Errorf("%s=%q: a DynamoDB table name is 3 to 255 of [A-Za-z0-9_.-]", name, v))
		}
	}
	if strings.ContainsAny(c.DefaultDomain, "@\\ ") {
		errs = append(errs, fmt.Errorf("%s=%q: a domain has no '@', '\\' or space", EnvDefaultDomain, c.DefaultDomain))
	}
	var err error
	if c.Lifetime.Idle, err = duration(get(EnvIdleTimeout, session.DefaultLifetime.Idle.String()), time.Second, 7*24*time.Hour); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvIdleTimeout, err))
	}
	if c.Lifetime.Absolute, err = duration(get(EnvMaxLifetime, session.DefaultLifetime.Absolute.String()), time.Second, 365*24*time.Hour); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvMaxLifetime, err))
	}
	if c.Lockout.MaxFailures, err = count(get(EnvMaxFailures, fmt.Sprint(session.DefaultLockout.MaxFailures)), 1000); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w (0 turns the lockout off)", EnvMaxFailures, err))
	}
	if c.Lockout.Window, err = duration(get(EnvFailureWindow, session.DefaultLockout.Window.String()), time.Second, 24*time.Hour); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvFailureWindow, err))
	}
	if c.Lockout.LockFor, err = duration(get(EnvLockFor, session.DefaultLockout.LockFor.String()), time.Second, 24*time.Hour); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvLockFor, err))
	}
	if c.Lockout.LockMax, err = duration(get(EnvLockMax, session.DefaultLockout.LockMax.String()), time.Second, 30*24*time.Hour); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvLockMax, err))
	} else if c.Lockout.LockMax < c.Lockout.LockFor {
		errs = append(errs, fmt.Errorf("%s=%s: shorter than %s=%s", EnvLockMax, c.Lockout.LockMax, EnvLockFor, c.Lockout.LockFor))
	}
	if c.Lockout.FamiliarFor, err = duration(get(EnvFamiliarFor, session.DefaultLockout.FamiliarFor.String()), time.Second, 365*24*time.Hour); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvFamiliarFor, err))
	}
	if c.MaxSessionsPerUser, err = count(get(EnvMaxSessions, fmt.Sprint(session.DefaultMaxSessionsPerUser)), 1_000_000); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w (0 turns the cap off)", EnvMaxSessions, err))
	}
	if err := c.LogLevel.UnmarshalText([]byte(get(EnvLogLevel, "INFO"))); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w (want DEBUG, INFO, WARN or ERROR)", EnvLogLevel, err))
	}
	if c.ReadOnFailedCondition, err = strconv.ParseBool(get(EnvReadOnFailedCondition, "false")); err != nil {
		errs = append(errs, fmt.Errorf("%s: want true or false", EnvReadOnFailedCondition))
	}
	if c.Upstream, err = upstreamURL(get(EnvUpstreamURL, "")); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvUpstreamURL, err))
	}
	if c.ForwardClientAuthorization, err = strconv.ParseBool(get(EnvForwardClientAuthorization, "false")); err != nil {
		errs = append(errs, fmt.Errorf("%s: want true or false", EnvForwardClientAuthorization))
	}
	if c.APIBaseURL, err = baseURL(get(EnvAPIBaseURL, "")); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvAPIBaseURL, err))
	}
	c.OIDC = OIDC{
		Issuer: get(EnvOIDCIssuer, ""), Audience: get(EnvOIDCAudience, ""),
		UserClaim: get(EnvOIDCUserClaim, "preferred_username"), RequiredGroup: get(EnvOIDCRequiredGroup, ""),
		GroupsClaim: get(EnvOIDCGroupsClaim, "groups"),
		ClientID:    get(EnvOIDCClientID, get(EnvOIDCAudience, "")),
	}
	errs = append(errs, c.OIDC.check()...)
	c.AssertionKeySecret, c.AssertionKeyFile = get(EnvAssertionKeySecret, ""), get(EnvAssertionKeyFile, "")
	c.Audience = get(EnvUpstreamAudience, "")
	c.AssertionKeyEpoch = get(EnvAssertionKeyEpoch, "")
	if c.Audience == "" && c.Upstream != nil {
		c.Audience = c.Upstream.String()
	}
	ttl, err := count(get(EnvAuthorizerCacheTTL, "0"), 3600)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w (seconds, 0 to 3600)", EnvAuthorizerCacheTTL, err))
	}
	c.AssertionLifetime = 5*time.Minute + time.Duration(ttl)*time.Second
	c.Region = get(EnvRegionName, "")
	c.PeerRegions = get(EnvPeerRegions, "")
	if _, err := peers(c.PeerRegions, c.Region); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvPeerRegions, err))
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// RegionVars lists the variables of several regions, set on every function
// of a stack deployed to more than one (template.yaml) and on none otherwise.
var RegionVars = []string{EnvRegionName, EnvPeerRegions}

// peers parses PEER_REGIONS: name[=endpoint], comma-separated.
func peers(v, region string) (map[string]string, error) {
	if v == "" {
		return nil, nil
	}
	if region == "" {
		return nil, fmt.Errorf("%q names peers, and %s is not set: a region must know its own name", v, EnvRegionName)
	}
	m := map[string]string{}
	for _, f := range strings.Split(v, ",") {
		name, endpoint, _ := strings.Cut(strings.TrimSpace(f), "=")
		if name == "" || name == region || strings.ContainsAny(name, " =") {
			return nil, fmt.Errorf("%q: want name[=endpoint] pairs, each another region than %s", v, region)
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("%q: %s twice", v, name)
		}
		if endpoint != "" {
			if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("%q: %s's endpoint %q is no http(s) URL", v, name, endpoint)
			}
		}
		m[name] = endpoint
	}
	return m, nil
}

// upstreamURL parses an upstream: "" for none, else an http(s) URL with a
// host and no query, credentials or fragment, to which each call's path is
// appended.
func upstreamURL(v string) (*url.URL, error) {
	if v == "" {
		return nil, nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" ||
		u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("%q: want http(s)://host[:port][/base], no query or credentials", v)
	}
	return u, nil
}

// baseURL parses the API's base URL: "" for none, else an http(s) URL with
// a host, and no query, credentials, fragment or trailing slash: an
// assertion's iss, compared by upstreams byte for byte.
func baseURL(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" ||
		u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(v, "/") || u.String() != v {
		return "", fmt.Errorf("%q: want http(s)://host[:port][/stage], no query, credentials or trailing slash", v)
	}
	return v, nil
}

// duration parses a Go duration ("30m") or a plain number of seconds.
func duration(s string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		var secs int64
		if _, serr := fmt.Sscanf(s, "%d", &secs); serr != nil || fmt.Sprint(secs) != s {
			return 0, fmt.Errorf("%q is not a duration such as 30m or 1800", s)
		}
		d = time.Duration(secs) * time.Second
	}
	if d < lo || d > hi {
		return 0, fmt.Errorf("%s is outside %s to %s", d, lo, hi)
	}
	return d, nil
}

// count parses a whole number from 0 to hi.
func count(s string, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > hi {
		return 0, fmt.Errorf("%q is not a whole number from 0 to %d", s, hi)
	}
	return n, nil
}

func validTableName(s string) bool {
	if len(s) < 3 || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// check validates the federation settings: an https issuer (http only on
// loopback, for trying it locally), exactly as the tokens' iss will say it;
// an audience whenever there is an issuer, since without one any token the
// provider issues to any application would log in.
func (o OIDC) check() []error {
	var errs []error
	if o.Issuer == "" {
		return nil
	}
	u, err := url.Parse(o.Issuer)
	switch {
	case err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "":
		errs = append(errs, fmt.Errorf("%s=%q: want https://host[:port][/path], no query or credentials", EnvOIDCIssuer, o.Issuer))
	case u.Scheme == "http" && !loopback(u.Hostname()):
		errs = append(errs, fmt.Errorf("%s=%q: an http:// issuer is allowed only on loopback; use https://", EnvOIDCIssuer, o.Issuer))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, fmt.Errorf("%s=%q: want an https:// URL", EnvOIDCIssuer, o.Issuer))
	}
	if o.Audience == "" {
		errs = append(errs, fmt.Errorf("%s is required when %s is set: without it a token issued to any application would log in", EnvOIDCAudience, EnvOIDCIssuer))
	}
	for name, v := range map[string]string{EnvOIDCUserClaim: o.UserClaim, EnvOIDCGroupsClaim: o.GroupsClaim} {
		if len(v) > 256 || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			errs = append(errs, fmt.Errorf("%s=%q: a claim name is at most 256 printable characters", name, v))
		}
	}
	return errs
}

// loopback reports whether host is a loopback address or localhost.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
