package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
)

// kwok runs no container, so an install path's operator Deployment is played by the built manager
// binary: the Deployment's arguments and environment, acting as its ServiceAccount. A permission
// or flag the path lacks then fails the same way it would in a real pod.

// ManagerCommand turns the Deployment's manager container into a local command: its args (listen
// addresses moved to loopback, the Lease namespace given since there is no pod to read it from)
// and its env (fieldRefs resolved as the kubelet would). namespace is the Deployment's. The metrics
// endpoint listens on metricsAddr ("0": none), with the Deployment's other metrics flags.
func ManagerCommand(d *appsv1.Deployment, namespace, metricsAddr string) (args, envVars []string, err error) {
	pod := d.Spec.Template
	var c *corev1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == "manager" {
			c = &pod.Spec.Containers[i]
		}
	}
	if c == nil {
		return nil, nil, fmt.Errorf("deployment %s: no manager container", d.Name)
	}
	leader := false
	for _, a := range c.Args {
		switch {
		case strings.HasPrefix(a, "--metrics-bind-address"):
			args = append(args, "--metrics-bind-address="+metricsAddr)
		case strings.HasPrefix(a, "--health-probe-bind-address"):
			args = append(args, "--health-probe-bind-address=127.0.0.1:0")
		default:
			args = append(args, a)
			leader = leader || a == "--leader-elect" || a == "--leader-elect=true"
		}
	}
	if leader {
		args = append(args, "--leader-election-namespace="+namespace)
	}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil {
			if e.ValueFrom.FieldRef == nil {
				return nil, nil, fmt.Errorf("deployment %s: env %s comes from something other than a fieldRef", d.Name, e.Name)
			}
			switch fp := e.ValueFrom.FieldRef.FieldPath; {
			case fp == "metadata.namespace":
				v = namespace
			case strings.HasPrefix(fp, "metadata.annotations['"):
				v = pod.Annotations[strings.TrimSuffix(strings.TrimPrefix(fp, "metadata.annotations['"), "']")]
			default:
				return nil, nil, fmt.Errorf("deployment %s: env %s: fieldRef %s is not resolved here", d.Name, e.Name, fp)
			}
		}
		envVars = append(envVars, e.Name+"="+v)
	}
	return args, envVars, nil
}

// ImpersonatingKubeconfig writes, into dir, the cluster's kubeconfig acting as the ServiceAccount
// namespace/serviceAccount, and returns its path.
func (e *Env) ImpersonatingKubeconfig(dir, namespace, serviceAccount string) (string, error) {
	cfg, err := clientcmd.LoadFromFile(e.Kubeconfig)
	if err != nil {
		return "", err
	}
	for _, a := range cfg.AuthInfos {
		a.Impersonate = "system:serviceaccount:" + namespace + ":" + serviceAccount
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig-"+namespace+"-"+serviceAccount)
	return path, clientcmd.WriteToFile(*cfg, path)
}
