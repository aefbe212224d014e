package lambda_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/internal/argon2id"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

// BenchmarkRefusedLogInTiming measures how long a refused log-in takes
// through the Lambda entry point, per cause, with the default limits and
// argon2id cost, so that the distributions can be compared (no test may
// assert a wall-clock limit). Each iteration makes one log-in of every case
// in a fresh random order, so that drift in the machine's load falls on all
// cases alike. Run it as `make timing`, or:
//
//	go test -run '^$' -bench RefusedLogInTiming -benchtime 200x ./internal/lambda/
//
// It reports min/p50/p90/p99/max per case, and the Kolmogorov-Smirnov
// distance of each refused case from the unknown user's (with 200 each, a
// distance below about 0.136 means the two cannot be told apart at the 5%
// level).
func BenchmarkRefusedLogInTiming(b *testing.B) {
	for _, srv := range dynamotest.Engines(b) {
		b.Run(string(srv.Kind), func(b *testing.B) {
			f := dynamotest.Setup(b, srv)
			st := newStackWith(b, f, f.DB, nil) // the default limits
			users := &dynamo.Users{DB: f.DB, Table: f.Tables.Users}
			ctx := context.Background()
			for _, name := range []string{"again@vsphere.local", "repeat@vsphere.local", "locked@vsphere.local"} {
				addUser(b, f, name, "the-password", argon2id.DefaultParams)
			}
			fail := func(name string, n int) {
				for i := range n {
					// A wrong password counted, as a log-in counts it.
					d := fmt.Sprint("wrong-", i)
					if _, err := users.Fail(ctx, name, session.Unfamiliar, session.Failure{Digest: d}, st.clock.Now(), session.DefaultLockout); err != nil {
						b.Fatal(err)
					}
				}
			}
			// Locked for the whole run, whatever window it runs into.
			if err := users.Lock(ctx, "locked@vsphere.local", session.Unfamiliar, session.Failures{Until: st.clock.Now().Add(24 * time.Hour), Streak: 1}); err != nil {
				b.Fatal(err)
			}
			clear := func(name string) {
				if err := users.ClearFailures(ctx, name); err != nil {
					b.Fatal(err)
				}
			}
			cases := []struct {
				name       string
				user, pass string
				status     int
				prepare    func() // untimed: the state the case needs
			}{
				{"unknown-user", "nobody@vsphere.local", adminPass, 401, func() {}},
				{"wrong-password-first", adminName, "wrong", 401, func() { clear(adminName) }},
				{"wrong-password-again", "again@vsphere.local", "wrong", 401, func() { clear("again@vsphere.local"); fail("again@vsphere.local", 1) }},
				{"repeated-password", "repeat@vsphere.local", "wrong", 401, func() {
					clear("repeat@vsphere.local")
					if r := st.v2("POST", "/api/session", basic("repeat@vsphere.local", "wrong"), ""); r.Status != 401 {
						b.Fatalf("first wrong password: %d %s", r.Status, r.Body)
					}
				}},
				{"locked", "locked@vsphere.local", "wrong", 401, func() {}},
				{"locked-right-password", "locked@vsphere.local", "the-password", 401, func() {}},
				{"success", adminName, adminPass, 201, func() { clear(adminName) }},
			}
			took := make([][]time.Duration, len(cases))
			order := make([]int, len(cases))
			for i := range order {
				order[i] = i
			}
			const warmUp = 5
			b.ResetTimer()
			for n := range b.N + warmUp {
				rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				for _, i := range order {
					c := cases[i]
					c.prepare()
					start := time.Now()
					r := st.v2("POST", "/api/session", basic(c.user, c.pass), "")
					d := time.Since(start)
					if r.Status != c.status {
						b.Fatalf("%s: %d %s, want %d", c.name, r.Status, r.Body, c.status)
					}
					if c.status == 201 {
						st.v2("DELETE", "/api/session", sid(strings.Trim(r.Body, `"`)), "")
					}
					if n >= warmUp {
						took[i] = append(took[i], d)
					}
				}
			}
			b.StopTimer()
			if b.N < 2 {
				return // the framework's probe run: no distribution to report
			}
			var table strings.Builder
			fmt.Fprintf(&table, "\n%-22s %5s %8s %8s %8s %8s %8s %8s  (ms)\n", srv.Kind, "n", "min", "p50", "p90", "p99", "max", "KS-D")
			for i, c := range cases {
				s := slices.Clone(took[i])
				slices.Sort(s)
				q := func(p float64) float64 { return ms(s[min(len(s)-1, int(math.Ceil(p*float64(len(s))))-1)]) }
				fmt.Fprintf(&table, "%-22s %5d %8.2f %8.2f %8.2f %8.2f %8.2f %8.3f\n",
					c.name, len(s), ms(s[0]), q(0.50), q(0.90), q(0.99), ms(s[len(s)-1]), ksDistance(took[0], took[i]))
				b.ReportMetric(q(0.50), c.name+"-p50-ms")
			}
			b.Log(table.String())
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ksDistance is the two-sample Kolmogorov-Smirnov statistic: the largest
// gap between the empirical distribution functions of a and b.
func ksDistance(a, b []time.Duration) float64 {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	var i, j int
	var d float64
	for i < len(a) && j < len(b) {
		x := min(a[i], b[j])
		for i < len(a) && a[i] == x {
			i++
		}
		for j < len(b) && b[j] == x {
			j++
		}
		d = max(d, math.Abs(float64(i)/float64(len(a))-float64(j)/float64(len(b))))
	}
	return d
}
