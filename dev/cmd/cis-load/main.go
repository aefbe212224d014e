// Command cis-load measures `make run` under a bounded load of gets: each of
// -c workers logs in once, then together they send -n GET /api/session
// requests (after -warmup unmeasured ones), stopping at -max-duration
// whatever the count. It prints latency percentiles and throughput.
//
// It only talks to loopback addresses. The split between the service and
// its DynamoDB engine is in the local runner's own "timing" log line, which
// it prints when it stops.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/cis-session/cis-session/dev/loadgen"
	"github.com/cis-session/cis-session/dev/local"
)

func main() {
	var c loadgen.Config
	flag.StringVar(&c.URL, "url", "http://127.0.0.1:3000", "base URL of the service (loopback only)")
	flag.StringVar(&c.User, "user", "administrator@vsphere.local", "user to log in as")
	flag.StringVar(&c.Password, "password", local.AdminPassword(), "password (default $LOCAL_ADMIN_PASSWORD or make run's)")
	flag.IntVar(&c.Requests, "n", 5000, "gets to measure")
	flag.IntVar(&c.Warmup, "warmup", 200, "gets before measuring")
	flag.IntVar(&c.Concurrency, "c", 4, "concurrent workers, each with its own session")
	flag.DurationVar(&c.MaxDuration, "max-duration", 60*time.Second, "stop measuring after this long")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := loadgen.Run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cis-load:", err)
		os.Exit(1)
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
	fmt.Printf("%d gets in %.1f s, %d workers: %.0f gets/s\n", len(r.Latencies)+r.Failures, r.Elapsed.Seconds(), c.Concurrency, r.Throughput())
	fmt.Printf("latency  p50 %s  p90 %s  p99 %s  max %s  mean %s\n",
		ms(r.Percentile(50)), ms(r.Percentile(90)), ms(r.Percentile(99)), ms(r.Percentile(100)), ms(r.Mean()))
	if r.Failures > 0 {
		fmt.Printf("%d failed; the first: %s\n", r.Failures, r.FirstError)
		os.Exit(1)
	}
}
