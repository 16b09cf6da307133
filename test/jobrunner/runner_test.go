package jobrunner

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func TestTransientErrorsAreTheAPIServerAway(t *testing.T) {
	pods := schema.GroupResource{Resource: "pods"}
	urlErr := func(err error) error { return &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api", Err: err} }
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), true},
		{"connection reset", urlErr(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), true},
		{"connection cut", urlErr(io.ErrUnexpectedEOF), true},
		{"a timeout", urlErr(&net.DNSError{Err: "i/o timeout", IsTimeout: true}), true},
		{"the request's deadline", fmt.Errorf("getting job: %w", context.DeadlineExceeded), true},
		{"503", apierrors.NewServiceUnavailable("the server is shutting down"), true},
		{"429", apierrors.NewTooManyRequests("slow down", 1), true},
		{"500", apierrors.NewInternalError(errors.New("etcd leader changed")), true},
		{"not found", apierrors.NewNotFound(pods, "backup-1"), false},
		{"forbidden", apierrors.NewForbidden(pods, "backup-1", errors.New("no")), false},
		{"an untrusted certificate", urlErr(x509.UnknownAuthorityError{}), false},
		{"a host that does not resolve", urlErr(&net.DNSError{Err: "no such host", IsNotFound: true}), false},
		{"anything else", errors.New("claim backups is not bound"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := transient(c.err); got != c.want {
				t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
			}
			got := retryIfTransient(c.err)
			if errors.Is(got, errRetryLater) != c.want || !errors.Is(got, c.err) {
				t.Errorf("retryIfTransient(%v) = %v", c.err, got)
			}
		})
	}
}

func TestASetupIsTriedAgainWithBackoffThenGivenUp(t *testing.T) {
	r := &Runner{away: map[types.UID]*retry{}}
	t0 := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	var waits []time.Duration
	now := t0
	for r.tryAgain("p", now) {
		waits = append(waits, r.away["p"].next.Sub(now))
		now = r.away["p"].next
	}
	if now.Sub(t0) <= setupPatience || now.Sub(t0) > setupPatience+5*time.Second {
		t.Errorf("given up after %s, want just past %s", now.Sub(t0), setupPatience)
	}
	if waits[0] != 200*time.Millisecond || waits[1] != 400*time.Millisecond || waits[len(waits)-1] != 5*time.Second {
		t.Errorf("waits %v: want 200ms doubling up to 5s", waits)
	}
}
