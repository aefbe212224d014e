package lambda_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"testing"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/cis-session/cis-session/dev/local"
	"github.com/cis-session/cis-session/dev/oidcissuer"
	"github.com/cis-session/cis-session/internal/argon2id"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/oidc"
)

// BenchmarkWarmLogIn puts a federated log-in beside a password log-in, each
// at its real cost: the create function warm, over the stub engine, the
// password checked against a stored argon2id hash at the cost new hashes
// are made with (argon2id.DefaultParams), the token against keys fetched
// from a real issuer on loopback at the warm-up. idp-req/op counts the
// requests the issuer served during the loop: a warm log-in makes none.
//
//	go test -run '^$' -bench '^BenchmarkWarmLogIn$' -benchmem -count 6 ./internal/lambda/
func BenchmarkWarmLogIn(b *testing.B) {
	iss, err := oidcissuer.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = iss.Close() })
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(adminName+":"+adminPass))
	bearer := func(kid string) string {
		return "Bearer " + iss.Token(kid, iss.Claims("alice@corp.example"))
	}
	cases := []struct{ name, authorization string }{
		{"password", basic},
		{"bearer-rs256", bearer(oidcissuer.KeyRS256)},
		{"bearer-es256", bearer(oidcissuer.KeyES256)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			fn := awslambda.NewHandler(warmLogIn(b, iss))
			event := gatewayEventV2("POST", map[string]string{"authorization": c.authorization})
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd"})
			check := func() {
				out, err := fn.Invoke(ctx, event)
				if err != nil {
					b.Fatal(err)
				}
				if !answered(out, httpapi.OpCreate, 201) {
					b.Fatalf("response %s, want 201", out)
				}
			}
			check() // warms the connection, and fetches the issuer's keys
			d0, k0 := iss.Requests()
			b.ReportAllocs()
			cpu, n := cpuTime(), 0
			for b.Loop() {
				if _, err := fn.Invoke(ctx, event); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(n), "cpu-ns/op")
			d, k := iss.Requests()
			b.ReportMetric(float64(d-d0+k-k0)/float64(n), "idp-req/op")
			check()
		})
	}
}

// warmLogIn is the create function as its main builds it, over a stub
// engine holding the user with a hash at full cost, trusting iss.
func warmLogIn(b *testing.B, iss *oidcissuer.Issuer) invoker {
	b.Helper()
	hash, err := argon2id.Hash(adminPass, argon2id.DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	b.Setenv("AWS_ENDPOINT_URL_DYNAMODB", stubEngine(b, hash))
	b.Setenv("AWS_REGION", "us-east-1")
	b.Setenv("AWS_ACCESS_KEY_ID", "bench")
	b.Setenv("AWS_SECRET_ACCESS_KEY", "bench")
	b.Setenv("AWS_SESSION_TOKEN", "bench")
	cfg, err := config.Parse(func(k string) (string, bool) {
		v, ok := map[string]string{config.EnvOIDCIssuer: iss.URL, config.EnvOIDCAudience: oidcissuer.Audience}[k]
		return v, ok
	})
	if err != nil {
		b.Fatal(err)
	}
	db, err := dynamo.NewClient(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(&countingWriter{}, &slog.HandlerOptions{Level: cfg.LogLevel}))
	svc := local.Service(cfg, db)
	if _, ok := svc.Federation.(*oidc.Verifier); !ok {
		b.Fatal("the service has no OIDC verifier")
	}
	return lambda.NewHandler(httpapi.New(svc, log, httpapi.OpCreate), log)
}
