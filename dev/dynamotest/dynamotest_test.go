package dynamotest

import (
	"context"
	"os"
	"regexp"
	"testing"

	"github.com/cis-session/cis-session/dev/localdynamo"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestEnginesSharedAndAnswering(t *testing.T) {
	first := Engines(t)
	if len(first) == 0 || first[0].Kind != localdynamo.Dynalite && os.Getenv(EnginesEnv) == "" {
		t.Fatalf("Engines = %v, want dynalite first", first)
	}
	second := Engines(t)
	if len(second) != len(first) {
		t.Fatalf("second Engines call returned %d engines, first %d", len(second), len(first))
	}
	for i := range first {
		if first[i] != second[i] {
			t.Errorf("engine %s started twice", first[i].Kind)
		}
	}
	var seen []string
	ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		seen = append(seen, string(srv.Kind))
		if t.Name() != "TestEnginesSharedAndAnswering/"+string(srv.Kind) {
			t.Errorf("subtest name %q", t.Name())
		}
		if err := localdynamo.Probe(context.Background(), srv.Endpoint); err != nil {
			t.Error(err)
		}
	})
	if len(seen) != len(first) {
		t.Errorf("ForEach ran %v", seen)
	}
}

func TestWanted(t *testing.T) {
	t.Setenv(EnginesEnv, " moto, dynalite ,moto")
	kinds, err := wanted()
	if err != nil || len(kinds) != 2 || kinds[0] != localdynamo.Moto || kinds[1] != localdynamo.Dynalite {
		t.Errorf("wanted() = %v, %v", kinds, err)
	}
	t.Setenv(EnginesEnv, "dynalite,dynamodb-local")
	if _, err := wanted(); err == nil {
		t.Error("unknown engine accepted")
	}
	t.Setenv(EnginesEnv, "")
	t.Setenv("CI", "")
	kinds, err = wanted()
	if err != nil || len(kinds) == 0 || kinds[0] != localdynamo.Dynalite {
		t.Errorf("default wanted() = %v, %v", kinds, err)
	}
	if ok, _ := localdynamo.Available(localdynamo.Moto); ok != (len(kinds) == 2) {
		t.Errorf("default wanted() = %v with moto available=%v", kinds, ok)
	}
}

// TestWithoutMotoWhereCIIsSetTheEnginesFail: on a developer's machine a
// missing moto_server leaves moto out; where CI is set it is an error that
// fails every storage test, never a quietly halved run.
func TestWithoutMotoWhereCIIsSetTheEnginesFail(t *testing.T) {
	t.Setenv(EnginesEnv, "")
	t.Setenv("PATH", t.TempDir()) // no moto_server on it
	t.Setenv("CI", "")
	if kinds, err := wanted(); err != nil || len(kinds) != 1 || kinds[0] != localdynamo.Dynalite {
		t.Errorf("without CI: wanted() = %v, %v; want dynalite alone", kinds, err)
	}
	t.Setenv("CI", "true")
	if kinds, err := wanted(); err == nil || !regexp.MustCompile(`moto.*required where CI is set`).MatchString(err.Error()) {
		t.Errorf("with CI=true: wanted() = %v, %v; want an error saying moto is required", kinds, err)
	}
}

func TestUniquePrefix(t *testing.T) {
	re := regexp.MustCompile(`^t[0-9a-f]{8}-$`)
	seen := map[string]bool{}
	for range 100 {
		p := UniquePrefix(t)
		if !re.MatchString(p) || seen[p] {
			t.Fatalf("prefix %q (seen before: %v)", p, seen[p])
		}
		seen[p] = true
	}
}
