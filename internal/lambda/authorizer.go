package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/cis-session/cis-session/internal/httpapi"
)

// Checker decides whether a call may pass the front door (httpapi.FrontDoor).
type Checker interface {
	Check(r *http.Request) httpapi.Verdict
}

// The keys of the context an authorizer answer carries: the integration
// reads the first two ($context.authorizer.user), the ACCESS_DENIED gateway
// response the third ($context.authorizer.error_body).
const (
	ContextUser        = "user"
	ContextCreatedTime = "created_time"
	ContextErrorBody   = "error_body"
	// ContextAssertion is the signed assertion of who is calling
	// (httpapi.HeaderAssertion), when the front door signs them.
	ContextAssertion = "assertion"
)

// ErrUnavailable fails an authorizer invocation whose backend failed: API
// Gateway answers it with its AUTHORIZER_FAILURE response (the template's
// 503), never letting the call through and never showing this text.
var ErrUnavailable = errors.New("session store unavailable")

// Authorizer serves a Checker as an API Gateway REST API Lambda REQUEST
// authorizer.
type Authorizer struct {
	check Checker
	log   *slog.Logger
}

// NewAuthorizer returns the Lambda handler for API Gateway's authorizer
// requests, deciding each with c.
func NewAuthorizer(c Checker, log *slog.Logger) *Authorizer {
	return &Authorizer{check: c, log: log}
}

// Invoke implements lambda.Handler for a REQUEST authorizer event.
//
// A live session: Allow, with the user and the session's creation time in
// the context. No live session: Deny, with the vAPI 401 body for the path's
// surface in the context (API Gateway's ACCESS_DENIED response sends it).
// A header reserved to the service (httpapi.ReservedHeader): Deny, with the
// same 401 body, before any storage request.
// A backend failure, or an event that is no authorizer request: an error,
// which API Gateway turns into its AUTHORIZER_FAILURE response.
func (a *Authorizer) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	ctx, cancel := invocationContext(ctx)
	defer cancel()
	var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
	if err := json.Unmarshal(payload, &ev); err != nil || ev.Type != "REQUEST" || ev.MethodArn == "" {
		a.log.ErrorContext(ctx, "event is not an authorizer request", "request_id", httpapi.RequestID(ctx))
		return nil, errors.New("event is not an API Gateway REQUEST authorizer event")
	}
	v := a.check.Check(requestOf(ctx, ev))
	resource := stageResources(ev.MethodArn)
	switch {
	case v.Allowed:
		ctxt := map[string]any{ContextUser: v.Session.User, ContextCreatedTime: v.Created()}
		if v.Assertion != "" {
			ctxt[ContextAssertion] = v.Assertion
		}
		return marshal(answer(v.Session.User, "Allow", resource, ctxt))
	case v.Status == http.StatusUnauthorized:
		// No live session, or a header reserved to the service (in any
		// spelling: a REST API's integration cannot drop a header it does
		// not name, so such a call must never be allowed).
		return marshal(answer("anonymous", "Deny", resource, map[string]any{ContextErrorBody: v.Body}))
	default:
		return nil, ErrUnavailable
	}
}

func answer(principal, effect, resource string, context map[string]any) events.APIGatewayCustomAuthorizerResponse {
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: principal,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []events.IAMPolicyStatement{{
				Action: []string{"execute-api:Invoke"}, Effect: effect, Resource: []string{resource},
			}},
		},
		Context: context,
	}
}

// executeAPIBaseURL is the REST API's base URL on its execute-api host,
// from what API Gateway itself writes into an authorizer event: the
// region and partition of the method ARN
// (arn:PARTITION:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH), the API
// id and the stage. "" when the ARN is not one: no assertion is then
// signed (503), rather than one issued by a name a client chose.
func executeAPIBaseURL(methodArn, apiID, stage string) string {
	parts := strings.SplitN(methodArn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "execute-api" || parts[3] == "" || apiID == "" || stage == "" ||
		!strings.HasPrefix(parts[5], apiID+"/"+stage+"/") {
		return ""
	}
	suffix := "amazonaws.com"
	if parts[1] == "aws-cn" {
		suffix = "amazonaws.com.cn"
	}
	return "https://" + apiID + ".execute-api." + parts[3] + "." + suffix + "/" + stage
}

// stageResources widens a method ARN
// (arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH) to every method
// and path of its stage: with AuthorizerCacheTtl above 0, API Gateway reuses
// one answer for every call presenting the same session, whatever its path.
func stageResources(methodArn string) string {
	parts := strings.SplitN(methodArn, "/", 3)
	if len(parts) < 2 {
		return methodArn
	}
	return parts[0] + "/" + parts[1] + "/*/*"
}

// requestOf is the call an authorizer event describes, as the session
// routes would see it: its method, path, query and headers. It is never
// sent anywhere, so no part of it needs to be a valid URL.
func requestOf(ctx context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) *http.Request {
	h := http.Header{}
	if len(ev.MultiValueHeaders) > 0 {
		for k, vs := range ev.MultiValueHeaders {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
	} else {
		for k, v := range ev.Headers {
			h.Add(k, v)
		}
	}
	q := url.Values{}
	if len(ev.MultiValueQueryStringParameters) > 0 {
		for k, vs := range ev.MultiValueQueryStringParameters {
			q[k] = vs
		}
	} else {
		for k, v := range ev.QueryStringParameters {
			q.Set(k, v)
		}
	}
	path := ev.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	host := h.Get("Host")
	// The issuer of the assertion: the API as API Gateway names it in the
	// method ARN, never the client's Host header. A custom domain's is
	// configured (API_BASE_URL) and wins over this.
	ctx = httpapi.WithBaseURL(ctx, executeAPIBaseURL(ev.MethodArn, ev.RequestContext.APIID, ev.RequestContext.Stage))
	r := &http.Request{
		Host:   host,
		Method: ev.HTTPMethod,
		URL:    &url.URL{Path: path, RawQuery: q.Encode()},
		Proto:  "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h,
		Body:   http.NoBody,
	}
	return r.WithContext(ctx)
}

// StartAuthorizer serves c as the function's authorizer until the runtime
// stops it, with the garbage collector sized as Start sizes it.
func StartAuthorizer(c Checker, log *slog.Logger) {
	TuneGC(os.LookupEnv)
	awslambda.Start(NewAuthorizer(c, log))
}
