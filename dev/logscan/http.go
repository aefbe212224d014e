package logscan

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strings"
)

// TokenLike finds what could be a session id anywhere in a body or header.
var TokenLike = regexp.MustCompile(`[0-9a-fA-F]{32}`)

// SecretsIn records every string in text that could be a session id.
func SecretsIn(text string) {
	for _, tok := range TokenLike.FindAllString(text, -1) {
		Secret(tok)
	}
}

// Recording wraps a handler under test so that every secret its traffic
// carries is recorded for the scan: the password and the encoded value of
// a Basic Authorization, the session ids sent in the header or a cookie, and
// every session id the answers carry, in their bodies or their cookies;
// and the password and session id of a JSON-RPC request's body.
func Recording(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			SecretsInJSONRPC(string(body))
		}
		if _, pass, ok := r.BasicAuth(); ok {
			Secret(pass)
			Secret(strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")))
		}
		SecretsIn(strings.Join(r.Header.Values("Vmware-Api-Session-Id"), " "))
		SecretsIn(strings.Join(r.Header.Values("Cookie"), " "))
		rec := &recordingWriter{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		SecretsIn(rec.body.String())
		SecretsIn(strings.Join(w.Header().Values("Set-Cookie"), " "))
	})
}

// recordingWriter keeps a copy of the body it passes on.
type recordingWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	r.body.Write(p)
	return r.ResponseWriter.Write(p)
}
