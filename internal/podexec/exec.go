// Package podexec runs one command in a pod's container through the API server (pods/exec), the
// way kubectl exec does: WebSocket first, SPDY when the API server cannot upgrade to WebSocket.
package podexec

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// Executor runs a command in a container and returns what it printed.
type Executor interface {
	Exec(ctx context.Context, namespace, pod, container string, command []string) (stdout string, err error)
}

// API is the Executor that goes through the API server.
type API struct {
	Config *rest.Config
	Client kubernetes.Interface
}

// Exec runs command and fails when it exits non-zero (the error carries what it printed, at most
// 2 KiB, so an operator reading the condition sees EMQX's own words).
func (a API) Exec(ctx context.Context, namespace, pod, container string, command []string) (string, error) {
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
	var stdout, stderr bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		said := strings.TrimSpace(stdout.String() + "\n" + stderr.String())
		if len(said) > 2048 {
			said = said[:2048]
		}
		if said != "" {
			return stdout.String(), fmt.Errorf("%s in pod %s/%s: %w: %s", strings.Join(command, " "), namespace, pod, err, said)
		}
		return stdout.String(), fmt.Errorf("%s in pod %s/%s: %w", strings.Join(command, " "), namespace, pod, err)
	}
	return stdout.String(), nil
}
