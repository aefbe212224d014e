package httpapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/internal/session"
)

// The words a client reads are this package's alone: the domain
// (internal/session) carries codes and facts, and no vAPI message or message
// id appears in its code, so that a wording can only change
// here and every surface changes with it.
func TestTheDomainCarriesNoVAPIWording(t *testing.T) {
	var words []string
	for _, w := range []wireError{errUnauthenticated, errUnavailable, errNotFound, errOperationNotFound, errInvalidRequest, errTooManySessions(&session.SessionLimitError{Limit: 1, Existing: 1, User: "u"})} {
		for _, m := range w.body.Messages {
			words = append(words, m.ID)
			if i := strings.IndexAny(m.DefaultMessage, "0123456789"); i > 0 {
				words = append(words, m.DefaultMessage[:i]) // the fixed part before the numbers
			} else {
				words = append(words, m.DefaultMessage)
			}
		}
	}
	sources, err := filepath.Glob("../session/*.go")
	if err != nil || len(sources) == 0 {
		t.Fatalf("no sources of internal/session found (%v)", err)
	}
	for _, src := range sources {
		if strings.HasSuffix(src, "_test.go") {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range words {
			if strings.Contains(string(b), w) {
				t.Errorf("%s carries the vAPI wording %q: return a code (and facts) and word it in internal/httpapi", src, w)
			}
		}
	}
}
