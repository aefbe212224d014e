package httpapi

import (
	"context"
	"mime"
	"net/http"

	"github.com/cis-session/cis-session/internal/session"
)

// OpBackchannelLogout is POST BackchannelLogoutPath: the identity
// provider's back-channel logout (OpenID Connect Back-Channel Logout 1.0).
const OpBackchannelLogout Operation = "backchannel-logout"

// BackchannelLogoutPath is where the identity provider posts logout tokens.
const BackchannelLogoutPath = "/oidc/backchannel-logout"

// Backchannel is what the handler calls for a back-channel logout;
// *session.Backchannel is the one that ships.
type Backchannel interface {
	Logout(ctx context.Context, token string) (int, error)
}

// maxLogoutBody bounds the form a logout request may send: a token of
// session.MaxBearerLen, its name, and room for percent-encoding.
const maxLogoutBody = 3*session.MaxBearerLen + 64

// WithBackchannel has the handler serve back-channel logouts with b (nil:
// every logout token is refused, as one from no known provider). It
// returns h.
func (h *Handler) WithBackchannel(b Backchannel) *Handler {
	h.backchannel = b
	return h
}

// The answers of section 2.8: 200 when done, 400 with an OAuth 2.0 error
// body for any token refused (which check failed is the log's to say), and
// 503 when storage or the provider's keys cannot be reached, so that the
// provider tries again.
var (
	logoutRefused     = []byte(`{"error":"invalid_request"}`)
	logoutUnavailable = []byte(`{"error":"temporarily_unavailable"}`)
)

// backchannelLogout ends the sessions a logout token names.
func (h *Handler) backchannelLogout(w http.ResponseWriter, r *http.Request, _ surface) {
	ctx := r.Context()
	answer := func(status int, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
	token, ok := logoutToken(w, r)
	if !ok || h.backchannel == nil {
		h.log.InfoContext(ctx, "backchannel logout refused", "request_id", RequestID(ctx), "error", "no logout_token form, or no identity provider")
		answer(http.StatusBadRequest, logoutRefused)
		return
	}
	ended, err := h.backchannel.Logout(ctx, token)
	switch session.ErrorCode(err) {
	case "":
		h.log.InfoContext(ctx, "backchannel logout", "request_id", RequestID(ctx), "sessions", ended)
		w.WriteHeader(http.StatusOK)
	case session.EINVALID:
		h.log.InfoContext(ctx, "backchannel logout refused", "request_id", RequestID(ctx), "error", err.Error())
		answer(http.StatusBadRequest, logoutRefused)
	default:
		h.log.ErrorContext(ctx, "backchannel logout failed", "request_id", RequestID(ctx), "error", err.Error())
		answer(http.StatusServiceUnavailable, logoutUnavailable)
	}
}

// logoutToken reads the one logout_token of a form-encoded body.
func logoutToken(w http.ResponseWriter, r *http.Request) (string, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return "", false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLogoutBody)
	if err := r.ParseForm(); err != nil {
		return "", false
	}
	vals := r.PostForm["logout_token"]
	if len(vals) != 1 || vals[0] == "" {
		return "", false
	}
	return vals[0], true
}
