package httpapi

// A JSON-RPC call for any service other than com.vmware.cis.session is an
// operation behind the front door: authorized by the session it presents
// (its session_id security context, or the vmware-api-session-id header
// when it has none) with the same one conditional touch as get, then
// forwarded to the upstream as the gateway forwards /api/* and /rest/*
// calls. The session id travels in the body here, so the forwarded body
// is the client's, byte for byte, less params.ctx.securityCtx.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// rpcForward serves a call for another service than the session service.
func (h *Handler) rpcForward(w http.ResponseWriter, r *http.Request, id json.RawMessage, call invoke) {
	ctx := r.Context()
	v := h.door.CheckCall(r, JSONRPCPath, call.sessionID(r))
	if !v.Allowed {
		writeRPCVAPIError(w, id, vapiErrorOf(v.err))
		return
	}
	if h.upstream == nil {
		h.log.InfoContext(ctx, "jsonrpc operation not found", "request_id", RequestID(ctx), "service_known", false)
		writeRPCVAPIError(w, id, vapiOperationNotFound())
		return
	}
	body, err := withoutSecurityContext(call.body)
	if err != nil {
		// Cannot be: readInvoke parsed the same bytes. Never forward a
		// body that might still carry the session id.
		h.log.ErrorContext(ctx, "jsonrpc forward refused", "request_id", RequestID(ctx), "error", err.Error())
		writeRPCVAPIError(w, id, vapiUnavailable())
		return
	}
	fwd := r.Clone(ctx)
	fwd.Body, fwd.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	// The upstream's answer carries its own caching headers.
	w.Header().Del("Cache-Control")
	h.upstream.Forward(w, fwd, v, func(w http.ResponseWriter, r *http.Request, err error) {
		h.log.ErrorContext(ctx, "upstream failed", "request_id", RequestID(ctx), "surface", "jsonrpc", "error", err.Error())
		w.Header().Set("Cache-Control", "no-store")
		writeRPCVAPIError(w, id, vapiUnavailable())
	})
}

// withoutSecurityContext returns the JSON body without any security context
// under params.ctx. It cuts each such member out of the bytes, so that all
// else stays as the client sent it. Names match as readInvoke's decoding
// matches them (case-insensitively), so no spelling of the member that
// readInvoke read the session id from survives, duplicates included.
func withoutSecurityContext(body []byte) ([]byte, error) {
	path := []string{"params", "ctx", "securityCtx"}
	for {
		start, end, err := memberSpan(body, path)
		if err != nil {
			return nil, err
		}
		if start < 0 {
			return body, nil
		}
		body = append(body[:start:start], body[end:]...)
	}
}

// memberSpan finds the first member of the object value doc along path and
// returns the bytes to cut to remove it (with the comma that separates it
// from its neighbour), or -1 when there is none.
func memberSpan(doc []byte, path []string) (start, end int, err error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber() // a number is skipped, never converted (1E700 overflows a float64)
	tok, err := dec.Token()
	if err != nil {
		return 0, 0, err
	}
	if tok != json.Delim('{') {
		return -1, -1, nil
	}
	for first := true; dec.More(); first = false {
		before := int(dec.InputOffset()) // after '{' or the previous value
		key, err := dec.Token()
		if err != nil {
			return 0, 0, err
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return 0, 0, err
		}
		after := int(dec.InputOffset())
		if name, _ := key.(string); !strings.EqualFold(name, path[0]) {
			continue
		}
		if len(path) > 1 {
			s, e, err := memberSpan(value, path[1:])
			if err != nil || s >= 0 {
				base := after - len(value)
				return base + s, base + e, err
			}
			continue
		}
		if !first {
			return before, after, nil // the comma before it, and it
		}
		// The first member: it, and the comma after it when there is one.
		next := after
		for next < len(doc) && strings.IndexByte(" \t\r\n", doc[next]) >= 0 {
			next++
		}
		if next < len(doc) && doc[next] == ',' {
			return before, next + 1, nil
		}
		return before, after, nil
	}
	return -1, -1, nil
}
