package rie_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/fixtures"
	"github.com/cis-session/cis-session/dev/oidcissuer"
	"github.com/cis-session/cis-session/dev/rie"
	"github.com/cis-session/cis-session/internal/assertion"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/session"
	"github.com/cis-session/cis-session/internal/stack"
)

// TestKeyedFunctionsRunAsDeployed runs the real bootstraps of the functions
// that hold a key (create, authorize, vapi) under the emulator with their
// keys as the stack gives them: ASSERTION_KEY_SECRET naming a secret in
// Secrets Manager (moto's, over HTTP) and an epoch. What ships must then:
//   - seal what it logs in, and let that session through the front door
//     with an assertion that verifies under the JWKS vapi publishes;
//   - refuse, at the front door, a session item log-in did not seal
//     (functions/authorize wired without the seal check fails here);
//   - refuse a bearer token signed by a key its provider lists for
//     encryption, or lists with its private part (internal/oidc's JWKS
//     filter removed fails here), and accept one signed by its signing key.
func TestKeyedFunctionsRunAsDeployed(t *testing.T) {
	emulator, err := rie.Path()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	moto := dynamotest.Moto(t)
	sm := secretsmanager.New(secretsmanager.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(moto.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	value, err := assertion.NewSecretValue("")
	if err != nil {
		t.Fatal(err)
	}
	secret, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("cis-assertion-key"), SecretString: aws.String(value)})
	if err != nil {
		t.Fatal(err)
	}
	provider := startProvider(t)

	srv := dynamotest.Engines(t)[0]
	f := dynamotest.Setup(t, srv)
	tables := rie.Tables{Sessions: f.Tables.Sessions, Users: f.Tables.Users}
	start := func(fn stack.Function) *rie.Emulator {
		t.Helper()
		bootstrap, err := rie.Build(ctx, fn, filepath.Join(t.TempDir(), fn.Dir))
		if err != nil {
			t.Fatal(err)
		}
		env := rie.FunctionEnv(fn, srv.Endpoint, tables, f.Config(t, nil).ReadOnFailedCondition, "INFO")
		env = append(env,
			// As template.yaml sets them: the secret's ARN, never a seed.
			config.EnvAssertionKeySecret+"="+*secret.ARN,
			config.EnvAssertionKeyEpoch+"=1",
			"AWS_ENDPOINT_URL_SECRETS_MANAGER="+moto.Endpoint,
		)
		if fn.LogsIn() {
			env = append(env, config.EnvOIDCIssuer+"="+provider.url, config.EnvOIDCAudience+"="+oidcissuer.Audience)
		}
		em, err := rie.Start(ctx, rie.Options{RIE: emulator, Bootstrap: bootstrap, Env: env})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s: emulator and function output:\n%s", fn.Dir, em.Output())
			}
			_ = em.Stop()
		})
		return em
	}
	create, authorize, vapi := start(stack.Create), start(stack.Authorize), start(stack.Vapi)

	invoke := func(em *rie.Emulator, fn stack.Function, event []byte) fixtures.Response {
		t.Helper()
		out, err := em.Invoke(ctx, event)
		if err != nil {
			t.Fatal(err)
		}
		r, err := fixtures.ParseFunctionResponse(fn, out)
		if err != nil {
			t.Fatalf("%s: %v", fn.Dir, err)
		}
		return r
	}
	logIn := func(authorization string) fixtures.Response {
		t.Helper()
		return invoke(create, stack.Create, event(t, "login-ok.json", map[string]string{"Authorization": authorization}))
	}
	authorizeID := func(id string) fixtures.Response {
		t.Helper()
		return invoke(authorize, stack.Authorize, event(t, "authorize-ok.json", map[string]string{"vmware-api-session-id": id}))
	}

	// A session log-in made: through the front door, with an assertion
	// that verifies under the keys vapi publishes.
	if err := fixtures.Seed(ctx, srv.Endpoint, f.DB, f.Tables, session.DefaultLifetime, fixtures.Given{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	login := logIn(basic(t, "login-ok.json"))
	var id string
	if login.Status != http.StatusCreated || json.Unmarshal([]byte(login.Body), &id) != nil {
		t.Fatalf("log-in: %d %s", login.Status, login.Body)
	}
	allowed := authorizeID(id)
	if allowed.Effect != fixtures.EffectAllow {
		t.Fatalf("a session log-in made, at the front door: %s %s", allowed.Effect, allowed.Body)
	}
	var granted map[string]string
	if err := json.Unmarshal([]byte(allowed.Body), &granted); err != nil {
		t.Fatal(err)
	}
	jwks := invoke(vapi, stack.Vapi, event(t, "jwks.json", nil))
	claims, err := verifyAssertion(jwks.Body, granted[lambda.ContextAssertion])
	if err != nil || claims.Subject != fixtures.User {
		t.Errorf("the assertion under vapi's JWKS: sub %q, %v\nJWKS: %s", claims.Subject, err, jwks.Body)
	}

	// An item log-in did not seal (the fixture session, written straight
	// into the table): refused as an unknown session.
	if err := fixtures.Seed(ctx, srv.Endpoint, f.DB, f.Tables, session.DefaultLifetime, fixtures.Given{Session: fixtures.SessionLive}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := authorizeID(fixtures.Token); r.Effect != fixtures.EffectDeny {
		t.Errorf("an unsealed session item at the front door: %s %s; want Deny", r.Effect, r.Body)
	}

	// Bearer log-ins: only the provider's signing keys count.
	for _, c := range []struct {
		kid    string
		status int
	}{{"signing", http.StatusCreated}, {"encryption", http.StatusUnauthorized}, {"private", http.StatusUnauthorized}} {
		tok := oidcissuer.Sign(provider.keys[c.kid], c.kid, "ES256", map[string]any{
			"iss": provider.url, "aud": oidcissuer.Audience, "preferred_username": "carol@corp.example",
			"iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix(),
		})
		if r := logIn("Bearer " + tok); r.Status != c.status {
			t.Errorf("a token signed by the provider's %s key: %d %s; want %d", c.kid, r.Status, r.Body, c.status)
		}
	}
}

// provider is an OpenID Connect provider on loopback whose JWKS lists a
// signing key, a key for encryption and a key with its private part.
type provider struct {
	url  string
	keys map[string]*ecdsa.PrivateKey
}

func startProvider(t *testing.T) *provider {
	t.Helper()
	p := &provider{keys: map[string]*ecdsa.PrivateKey{}}
	set := jose.JSONWebKeySet{}
	for _, k := range []struct {
		kid, use string
		private  bool
	}{{"signing", "sig", false}, {"encryption", "enc", false}, {"private", "sig", true}} {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		p.keys[k.kid] = key
		var pub any = &key.PublicKey
		if k.private {
			pub = key
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: k.kid, Algorithm: "ES256", Use: k.use})
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.url = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": p.url, "jwks_uri": p.url + "/keys",
			"authorization_endpoint": p.url + "/auth", "id_token_signing_alg_values_supported": []string{"ES256"}})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	})
	hs := &http.Server{Handler: mux}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return p
}

// event is events/name with the headers given set (in both header maps),
// as API Gateway would send it.
func event(t *testing.T, name string, headers map[string]string) []byte {
	t.Helper()
	dir, err := fixtures.Dir()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	for name, value := range headers {
		for _, m := range []string{"headers", "multiValueHeaders"} {
			hs, _ := ev[m].(map[string]any)
			if hs == nil {
				hs = map[string]any{}
				ev[m] = hs
			}
			for k := range hs {
				if strings.EqualFold(k, name) {
					delete(hs, k)
				}
			}
			if m == "headers" {
				hs[name] = value
			} else {
				hs[name] = []string{value}
			}
		}
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// basic is the Authorization header of events/name.
func basic(t *testing.T, name string) string {
	t.Helper()
	var ev struct {
		Headers map[string]string `json:"headers"`
	}
	dir, _ := fixtures.Dir()
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil || json.Unmarshal(raw, &ev) != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return ev.Headers["Authorization"]
}

// verifyAssertion checks an assertion as an upstream does: by the JWK Set
// published, with go-jose.
func verifyAssertion(jwks, token string) (jwt.Claims, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(jwks), &set); err != nil {
		return jwt.Claims{}, err
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return jwt.Claims{}, err
	}
	var c jwt.Claims
	if err := tok.Claims(set, &c); err != nil {
		return jwt.Claims{}, err
	}
	return c, c.Validate(jwt.Expected{Time: time.Now()})
}
