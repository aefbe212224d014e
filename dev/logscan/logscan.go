// Package logscan holds a test binary to the rule that tokens and passwords
// are never logged. It captures everything the binary logs — what the test
// stacks' loggers write, the standard log package (which libraries such as
// the API Gateway adapter use), stdout and stderr (where a Lambda's prints
// and the AWS SDK's warnings go) — and
// records every secret the tests' traffic used: each token issued and each
// password sent. When the tests end, Main fails the binary if any secret
// appears anywhere in what was captured.
//
// Typical use:
//
//	func TestMain(m *testing.M) { os.Exit(logscan.Main(m, dynamotest.Main)) }
//
// and in the test helpers: log to logscan.Writer(), and call logscan.Secret
// with every token received and every password (and Authorization value)
// sent.
package logscan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/cis-session/cis-session/internal/session"
)

// MinSecretLen is the shortest secret that is looked for: a shorter string
// is found in ordinary log text by chance. Tests that want their secrets
// checked use longer ones (every token is 32 characters).
const MinSecretLen = 8

// Scanner records secrets and log output, and finds the one in the other.
type Scanner struct {
	mu      sync.Mutex
	secrets map[string]bool
	out     bytes.Buffer
}

// New returns an empty Scanner.
func New() *Scanner { return &Scanner{secrets: map[string]bool{}} }

// Secret records s as a secret that must appear in no log; strings shorter
// than MinSecretLen are ignored.
func (s *Scanner) Secret(secret string) {
	if len(secret) < MinSecretLen {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[secret] = true
}

// Writer returns where test loggers write: everything written is kept for
// the scan.
func (s *Scanner) Writer() io.Writer { return writerFunc(s.write) }

func (s *Scanner) write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

// Capture sends stdout, stderr (where the AWS SDK logs) and the standard
// log package's output through s as well as to where they went before,
// until the returned function is called.
func (s *Scanner) Capture() (restore func()) {
	restoreStdout := tee(&os.Stdout, s.Writer())
	restoreStderr := tee(&os.Stderr, s.Writer())
	logOut := log.Writer()
	log.SetOutput(io.MultiWriter(logOut, s.Writer()))
	return func() {
		log.SetOutput(logOut)
		restoreStderr()
		restoreStdout()
	}
}

// tee replaces *f with a pipe whose every byte goes both to the original
// file and to w.
func tee(f **os.File, w io.Writer) (restore func()) {
	orig := *f
	r, pw, err := os.Pipe()
	if err != nil {
		panic("logscan: pipe: " + err.Error())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.MultiWriter(orig, w), r)
	}()
	*f = pw
	return func() {
		*f = orig
		_ = pw.Close()
		<-done
		_ = r.Close()
	}
}

// Leaks returns one description per secret found in the captured output,
// with the line it was found on. A secret is looked for as sent, as a JSON
// string would escape it, and in any letter case (hex tokens are
// case-insensitive).
func (s *Scanner) Leaks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	text := strings.ToLower(s.out.String())
	// Tokens, which may be many, are looked up among the token-sized runs
	// of hex in the text, in one pass; other secrets are searched for.
	hexRuns := hexWindows(text, session.TokenLen)
	var leaks []string
	for secret := range s.secrets {
		for _, form := range forms(secret) {
			i := -1
			if len(form) == session.TokenLen && isHex(form) {
				if at, ok := hexRuns[form]; ok {
					i = at
				}
			} else {
				i = strings.Index(text, form)
			}
			if i >= 0 {
				leaks = append(leaks, fmt.Sprintf("secret %q (%d bytes) logged in: %s", redact(secret), len(secret), truncate(lineAt(text, i), 400)))
				break
			}
		}
	}
	sort.Strings(leaks)
	return leaks
}

// hexWindows returns every n-byte stretch of lower-case hex in text, with
// where it starts.
func hexWindows(text string, n int) map[string]int {
	out := map[string]int{}
	run := 0
	for i := 0; i <= len(text); i++ {
		if i < len(text) && isHexByte(text[i]) {
			run++
			continue
		}
		for start := i - run; start+n <= i; start++ {
			if _, ok := out[text[start:start+n]]; !ok {
				out[text[start:start+n]] = start
			}
		}
		run = 0
	}
	return out
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexByte(s[i]) {
			return false
		}
	}
	return true
}

func isHexByte(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

// Secrets returns how many secrets were recorded.
func (s *Scanner) Secrets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.secrets)
}

// forms returns the lower-cased forms in which a secret may be written.
func forms(secret string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(f string) {
		f = strings.ToLower(f)
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	add(secret)
	for _, escapeHTML := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(escapeHTML)
		if enc.Encode(secret) == nil {
			add(strings.TrimSuffix(strings.TrimSpace(b.String()), `"`)[1:])
		}
	}
	return out
}

// lineAt returns the line of text that holds byte i.
func lineAt(text string, i int) string {
	start := strings.LastIndexByte(text[:i], '\n') + 1
	end := strings.IndexByte(text[i:], '\n')
	if end < 0 {
		return text[start:]
	}
	return text[start : i+end]
}

func redact(s string) string {
	if len(s) <= 4 {
		return "…"
	}
	return s[:4] + "…"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// std is the test binary's scanner, used by the package-level functions.
var std = New()

// Secret records a secret for the binary's end-of-tests scan.
func Secret(s string) { std.Secret(s) }

// Writer is where the binary's test loggers write.
func Writer() io.Writer { return std.Writer() }

// Main captures the binary's output, runs the tests with run (m.Run itself,
// or a wrapper such as dynamotest.Main), and then scans: a secret found
// fails the binary with a message naming where. It returns the exit code.
func Main(m *testing.M, run func(*testing.M) int) int {
	restore := std.Capture()
	code := run(m)
	restore()
	if leaks := std.Leaks(); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "logscan: %d secret(s) used by the tests appear in the logs:\n", len(leaks))
		for _, l := range leaks {
			fmt.Fprintln(os.Stderr, "  "+l)
		}
		return 1
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "logscan: none of %d secrets used appears in %d bytes of logs\n", std.Secrets(), std.captured())
	}
	return code
}

func (s *Scanner) captured() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Len()
}
