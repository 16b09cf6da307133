// Package podexec runs one command in a pod's container through the API server (pods/exec), the
// way kubectl exec does: WebSocket first, SPDY when the API server cannot upgrade to WebSocket.
package podexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// Executor runs a command in a container.
type Executor interface {
	// Exec returns what the command printed.
	Exec(ctx context.Context, namespace, pod, container string, command []string) (stdout string, err error)
	// Stream writes what the command prints to stdout, for outputs too large to hold twice.
	Stream(ctx context.Context, namespace, pod, container string, command []string, stdout io.Writer) error
}

// API is the Executor that goes through the API server.
type API struct {
	Config *rest.Config
	Client kubernetes.Interface
}

// Exec runs command and fails when it exits non-zero (the error carries what it printed, at most
// 2 KiB, so an operator reading the condition sees EMQX's own words).
func (a API) Exec(ctx context.Context, namespace, pod, container string, command []string) (string, error) {
	var stdout bytes.Buffer
	stderr, err := a.run(ctx, namespace, pod, container, command, &stdout)
	if err != nil {
		return stdout.String(), failed(command, namespace, pod, err, stdout.String()+"\n"+stderr)
	}
	return stdout.String(), nil
}

// Stream runs command, writing its stdout to w; the error of a failed command carries its stderr
// (at most 2 KiB) and unwraps to an ExitError when the command ran and exited non-zero.
func (a API) Stream(ctx context.Context, namespace, pod, container string, command []string, w io.Writer) error {
	stderr, err := a.run(ctx, namespace, pod, container, command, w)
	if err != nil {
		return failed(command, namespace, pod, err, stderr)
	}
	return nil
}

func (a API) run(ctx context.Context, namespace, pod, container string, command []string, stdout io.Writer) (string, error) {
	req := a.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(a.Config, "GET", req.URL().String())
	if err != nil {
		return "", err
	}
	spdy, err := remotecommand.NewSPDYExecutor(a.Config, "POST", req.URL())
	if err != nil {
		return "", err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return "", err
	}
	var stderr bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: stdout, Stderr: &stderr})
	return stderr.String(), err
}

// failed names the command and the pod, and quotes at most 2 KiB of what the command said.
func failed(command []string, namespace, pod string, err error, said string) error {
	said = strings.TrimSpace(said)
	if len(said) > 2048 {
		said = said[:2048]
	}
	if said != "" {
		return fmt.Errorf("%s in pod %s/%s: %w: %s", strings.Join(command, " "), namespace, pod, err, said)
	}
	return fmt.Errorf("%s in pod %s/%s: %w", strings.Join(command, " "), namespace, pod, err)
}

// ExitCode is the exit status of a command that ran and failed, and false for every other error
// (the pod or the API server could not run it). A kubelet reports a non-zero exit on the exec
// stream's status (an ExitError); some (kwok's among them) report it as an internal error whose
// text ends in the runtime's "exit status N": both are read.
func ExitCode(err error) (int, bool) {
	var e utilexec.ExitError
	if errors.As(err, &e) {
		return e.ExitStatus(), true
	}
	if err == nil {
		return 0, false
	}
	m := exitStatus.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, false
	}
	code, convErr := strconv.Atoi(m[1])
	return code, convErr == nil
}

var exitStatus = regexp.MustCompile(`error executing command in container: .*\bexit status (\d+)`)
