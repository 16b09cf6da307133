package docs

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

// operators plays the operator Deployments a doc's blocks install (`make deploy`, `helm install`):
// kwok runs no container, so the built manager runs with the Deployment's arguments and
// environment, acting as its ServiceAccount, the install e2e's approach. Each new or changed
// Deployment must then bring an EMQX cluster to Ready in a namespace it watches: a doc whose
// install leaves out a permission or a flag fails here.
type operators struct {
	t       *testing.T
	env     *harness.Env
	dir     string
	running map[string]*playedOperator
	started int // numbers the managers, so each has a log of its own
}

type playedOperator struct {
	m          *harness.Manager
	generation int64
}

func newOperators(t *testing.T, env *harness.Env) *operators {
	o := &operators{t: t, env: env, dir: t.TempDir(), running: map[string]*playedOperator{}}
	t.Cleanup(o.stopAll)
	return o
}

// sync starts a manager for each operator Deployment that appeared or changed since the last call
// and proves it works; it stops the managers of Deployments that are gone.
func (o *operators) sync(where string) {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deps := &appsv1.DeploymentList{}
	if err := o.env.Client.List(ctx, deps); err != nil {
		ss, _ := exec.Command("ss", "-ltnp").CombinedOutput()
		o.t.Fatalf("%s: listing Deployments: %v\nlisteners:\n%s", where, err, ss)
	}
	seen := map[string]bool{}
	for i := range deps.Items {
		d := &deps.Items[i]
		if !isOperator(d) || !d.DeletionTimestamp.IsZero() {
			continue
		}
		key := d.Namespace + "/" + d.Name
		seen[key] = true
		if p := o.running[key]; p != nil && p.generation == d.Generation {
			continue
		}
		o.stop(key)
		o.start(where, d)
	}
	for key := range o.running {
		if !seen[key] {
			o.stop(key)
		}
	}
}

func isOperator(d *appsv1.Deployment) bool {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "manager" && strings.Contains(c.Image, "emqx-operator") {
			return true
		}
	}
	return false
}

func (o *operators) start(where string, d *appsv1.Deployment) {
	o.t.Helper()
	args, envVars, err := harness.ManagerCommand(d, d.Namespace, "0")
	if err != nil {
		o.t.Fatalf("%s: %v", where, err)
	}
	kubeconfig, err := o.env.ImpersonatingKubeconfig(o.dir, d.Namespace, d.Spec.Template.Spec.ServiceAccountName)
	if err != nil {
		o.t.Fatal(err)
	}
	o.started++
	name := fmt.Sprintf("docs-operator-%d-%s-%s", o.started, d.Namespace, d.Name)
	m, err := o.env.StartManager(name, append(envVars, "KUBECONFIG="+kubeconfig), args...)
	if err != nil {
		o.t.Fatal(err)
	}
	o.running[d.Namespace+"/"+d.Name] = &playedOperator{m: m, generation: d.Generation}
	o.t.Logf("%s: the operator Deployment %s/%s runs as its ServiceAccount %s (log %s)", where, d.Namespace, d.Name,
		d.Spec.Template.Spec.ServiceAccountName, filepath.Join(o.env.LogDir(), name+".log"))
	o.proveWorks(where, d, m, watchedNamespace(envVars))
}

// watchedNamespace is a namespace the operator watches: the first of WATCH_NAMESPACE, or a new one.
func watchedNamespace(envVars []string) string {
	for _, kv := range envVars {
		if v, ok := strings.CutPrefix(kv, "WATCH_NAMESPACE="); ok && v != "" {
			return strings.Split(v, ",")[0]
		}
	}
	return "docs-operator-check"
}

// proveWorks brings a 1+1 EMQX cluster to Ready under the operator just started, then deletes it.
func (o *operators) proveWorks(where string, d *appsv1.Deployment, m *harness.Manager, ns string) {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A client of its own: the doc's blocks installed the CRDs after the harness's client had
	// discovered the API, and its mapper would not know the EMQX kind.
	restCfg, err := clientcmd.BuildConfigFromFlags("", o.env.Kubeconfig)
	if err != nil {
		o.t.Fatal(err)
	}
	c, err := client.New(restCfg, client.Options{Scheme: harness.Scheme()})
	if err != nil {
		o.t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		o.t.Fatal(err)
	}
	e := harness.SmallEMQX(ns, "docs-check")
	// The install's CRDs may not be served yet right after it (kubectl apply does not wait for
	// them to be established): a new client discovers the API again on each try.
	harness.Eventually(o.t, time.Minute, where+": the EMQX kind served", func() error {
		fresh, err := client.New(restCfg, client.Options{Scheme: harness.Scheme()})
		if err != nil {
			return err
		}
		ctx, cancel := harness.Ctx()
		defer cancel()
		err = fresh.Create(ctx, e)
		if err != nil && !meta.IsNoMatchError(err) {
			o.t.Fatalf("%s: creating an EMQX for the operator %s/%s: %v", where, d.Namespace, d.Name, err)
		}
		c = fresh
		return err
	})
	harness.Eventually(o.t, 2*time.Minute, where+": an EMQX Ready under the operator "+d.Namespace+"/"+d.Name, func() error {
		if !m.Running() {
			o.t.Fatalf("%s: the operator %s/%s exited:\n%s", where, d.Namespace, d.Name, tail(m.Log(), 30))
		}
		got := &v2beta1.EMQX{}
		ctx, cancel := harness.Ctx()
		defer cancel()
		if err := c.Get(ctx, client.ObjectKeyFromObject(e), got); err != nil {
			return err
		}
		if meta.IsStatusConditionTrue(got.Status.Conditions, v2beta1.Ready) {
			return nil
		}
		return fmt.Errorf("phase %q, ready nodes %q", got.Status.Phase, got.Status.ReadyNodes)
	})
	if log := m.Log(); strings.Contains(log, "forbidden") {
		o.t.Errorf("%s: the operator %s/%s was refused something it needs:\n%s", where, d.Namespace, d.Name, tail(log, 30))
	}
	ctx, cancel = harness.Ctx()
	defer cancel()
	if err := c.Delete(ctx, e); err != nil {
		o.t.Fatal(err)
	}
	harness.Eventually(o.t, time.Minute, "the check cluster deleted", func() error {
		ctx, cancel := harness.Ctx()
		defer cancel()
		err := c.Get(ctx, client.ObjectKeyFromObject(e), &v2beta1.EMQX{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
}

func (o *operators) stop(key string) {
	if p := o.running[key]; p != nil {
		p.m.Stop()
		delete(o.running, key)
	}
}

func (o *operators) stopAll() {
	for key := range o.running {
		o.stop(key)
	}
}
