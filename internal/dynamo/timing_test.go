package dynamo_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

// BenchmarkKnownVersusUnknownUserRequests times, at the engine, the two
// requests of a refused log-in whose work differs between a known and an
// unknown user: the read of the user (an item, or none) and the one write
// (a count, or refused by its condition). It explains what is left of
// the difference in BenchmarkRefusedLogInTiming; `make timing` runs both.
func BenchmarkKnownVersusUnknownUserRequests(b *testing.B) {
	for _, srv := range dynamotest.Engines(b) {
		b.Run(string(srv.Kind), func(b *testing.B) {
			f := dynamotest.Setup(b, srv)
			ctx := context.Background()
			u := &dynamo.Users{DB: f.DB, Table: f.Tables.Users}
			// A user item of real size: an argon2id PHC string as its hash.
			hash := "$argon2id$v=19$m=19456,t=2,p=1$" + strings.Repeat("A", 22) + "$" + strings.Repeat("B", 43)
			if err := u.Add(ctx, session.User{Name: "known@d", PasswordHash: hash}, t0); err != nil {
				b.Fatal(err)
			}
			steps := []struct {
				name string
				do   func(now time.Time)
			}{
				{"read-known", func(time.Time) { _, _ = u.User(ctx, "known@d") }},
				{"read-unknown", func(time.Time) { _, _ = u.User(ctx, "unknown@d") }},
				{"fail-wrong-known", func(now time.Time) {
					// A window that never fills: every wrong password is counted.
					d := fmt.Sprint(now.UnixMilli())
					_, _ = u.Fail(ctx, "known@d", session.Unfamiliar, session.Failure{Digest: d, Stale: []session.Mark{{Digest: d, At: now}}},
						now, session.Lockout{MaxFailures: 1 << 30, Window: 24 * time.Hour})
				}},
				{"fail-nothing-known", func(now time.Time) {
					_, _ = u.Fail(ctx, "known@d", session.Unfamiliar, session.Failure{}, now, session.DefaultLockout)
				}},
				{"fail-unknown", func(now time.Time) {
					_, _ = u.Fail(ctx, "unknown@d", session.Unfamiliar, session.Failure{}, now, session.DefaultLockout)
				}},
			}
			took := make([][]time.Duration, len(steps))
			for n := range b.N {
				now := t0.Add(time.Duration(n) * time.Millisecond)
				for i, s := range steps {
					start := time.Now()
					s.do(now)
					took[i] = append(took[i], time.Since(start))
				}
			}
			if b.N < 2 {
				return // the framework's probe run
			}
			var table strings.Builder
			fmt.Fprintf(&table, "\n%-22s %5s %8s %8s %8s  (ms)\n", srv.Kind, "n", "p10", "p50", "p90")
			for i, s := range steps {
				d := slices.Sorted(slices.Values(took[i]))
				q := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000 }
				fmt.Fprintf(&table, "%-22s %5d %8.3f %8.3f %8.3f\n", s.name, len(d), q(0.1), q(0.5), q(0.9))
			}
			b.Log(table.String())
		})
	}
}
