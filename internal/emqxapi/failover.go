package emqxapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Endpoint is one node the operator may ask: its pod and the API's base URL.
type Endpoint struct {
	Pod     string
	BaseURL string
}

// Factory makes a client for an endpoint. Tests inject one that points at a fake.
type Factory func(baseURL string, creds Credentials) *Client

// DefaultFactory uses the default HTTP client settings.
func DefaultFactory(baseURL string, creds Credentials) *Client { return New(baseURL, creds, nil) }

// PodBaseURL is where a pod's EMQX API answers: the pod IP and the dashboard port. The operator
// reaches pods directly, never through a Service, so one dead pod behind a Service cannot blind it.
func PodBaseURL(podIP string) string { return fmt.Sprintf("http://%s:18083", podIP) }

// Answer is what a failover call got and from whom.
type Answer[T any] struct {
	Value    T
	Endpoint Endpoint
	// Failed lists the endpoints tried first that did not answer, with why.
	Failed map[string]error
}

// ErrNoEndpoint is returned when there is no ready node to ask.
var ErrNoEndpoint = errors.New("no ready EMQX node to ask")

// FirstAnswer calls fn on each endpoint in order until one answers. A node that is down, slow or
// answers 5xx is skipped; an authentication failure (401) is returned at once, because every node
// shares the same API keys and asking the others would only repeat it.
func FirstAnswer[T any](ctx context.Context, f Factory, creds Credentials, eps []Endpoint,
	fn func(context.Context, *Client) (T, error)) (Answer[T], error) {
	ans := Answer[T]{Failed: map[string]error{}}
	if len(eps) == 0 {
		return ans, ErrNoEndpoint
	}
	var last error
	for _, ep := range eps {
		v, err := fn(ctx, f(ep.BaseURL, creds))
		if err == nil {
			ans.Value, ans.Endpoint = v, ep
			return ans, nil
		}
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized {
			return ans, fmt.Errorf("the operator's API key was refused by %s: %w", ep.Pod, err)
		}
		ans.Failed[ep.Pod] = err
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return ans, fmt.Errorf("no EMQX node answered (%d tried), last error: %w", len(eps), last)
}
