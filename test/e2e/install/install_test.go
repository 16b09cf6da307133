// Package install checks every way users install the operator, on a local cluster of its own:
// the OLM bundle's install strategy, `make deploy` (config/default) and the Helm chart
// (cluster-wide and namespace-scoped). For each, the path's CRD, ServiceAccount and RBAC are
// applied, and the built manager runs with that path's Deployment arguments and environment,
// acting as that path's ServiceAccount (impersonation), until an EMQX cluster is Ready. A missing
// permission or flag fails the test. Each path's pod spec must also pass Pod Security
// "restricted". (kwok would show the Deployment's pod "running" without running anything, so the
// pod itself proves nothing.)
package install

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

var env *harness.Env

func TestMain(m *testing.M) {
	var err error
	env, err = harness.Start(harness.Config{ClusterName: "e2e-install", NoOperator: true})
	code := 1
	if err == nil {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, "e2e environment:", err)
	}
	if env != nil {
		env.Stop()
	}
	os.Exit(code)
}

// installPath is what one install method puts into a cluster.
type installPath struct {
	name string
	// namespace the operator runs in.
	namespace string
	// objects to apply: CRDs, ServiceAccount, RBAC (everything but the Deployment).
	objects []*unstructured.Unstructured
	// deployment is the operator's Deployment, whose pod spec the manager is run from.
	deployment *appsv1.Deployment
}

func repo(parts ...string) string {
	return filepath.Join(append([]string{env.RepoRoot()}, parts...)...)
}

func tool(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command(repo("hack", "tools.sh"), "path", name).Output()
	if err != nil {
		t.Fatalf("tool %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

func decodeAll(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// split takes the Deployment out of a path's objects; Namespaces are created by the test.
func split(t *testing.T, name, ns string, objs []*unstructured.Unstructured) installPath {
	t.Helper()
	p := installPath{name: name, namespace: ns}
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment":
			d := &appsv1.Deployment{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, d); err != nil {
				t.Fatal(err)
			}
			p.deployment = d
		case "Namespace":
		default:
			p.objects = append(p.objects, o)
		}
	}
	if p.deployment == nil {
		t.Fatalf("%s has no Deployment", name)
	}
	return p
}

func kustomizePath(t *testing.T) installPath {
	out, err := exec.Command(tool(t, "kustomize"), "build", repo("config", "default")).Output()
	if err != nil {
		t.Fatalf("kustomize build config/default: %v", err)
	}
	return split(t, "make-deploy", "emqx-operator-system", decodeAll(t, out))
}

func helmPath(t *testing.T, name, ns string, watch ...string) installPath {
	args := []string{"template", "emqx-operator", repo("helm-charts", "emqx-operator"), "--namespace", ns, "--set", "installCRDs=true"}
	if len(watch) > 0 {
		args = append(args, "--set", "watchNamespaces={"+strings.Join(watch, ",")+"}")
	}
	out, err := exec.Command(tool(t, "helm"), args...).Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	return split(t, name, ns, decodeAll(t, out))
}

// olmPath installs the bundle the way OLM does for AllNamespaces: the CRDs, the ServiceAccount
// the CSV's deployment names, a ClusterRole + ClusterRoleBinding per clusterPermissions entry and
// a Role + RoleBinding per permissions entry, then the deployment with olm.targetNamespaces set.
func olmPath(t *testing.T) installPath {
	const ns = "olm-operators"
	files, err := filepath.Glob(repo("bundle", "manifests", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("bundle/manifests: %v", err)
	}
	p := installPath{name: "olm-bundle", namespace: ns}
	var csv *unstructured.Unstructured
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range decodeAll(t, b) {
			switch o.GetKind() {
			case "ClusterServiceVersion":
				csv = o
			case "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding":
				p.objects = append(p.objects, o)
			default:
				// OLM creates the bundle's namespaced objects (the metrics Service) in the
				// operator's namespace.
				o.SetNamespace(ns)
				p.objects = append(p.objects, o)
			}
		}
	}
	if csv == nil {
		t.Fatal("no CSV in bundle/manifests")
	}
	var strategy struct {
		Deployments []struct {
			Name string                `json:"name"`
			Spec appsv1.DeploymentSpec `json:"spec"`
		} `json:"deployments"`
		ClusterPermissions []struct {
			ServiceAccountName string              `json:"serviceAccountName"`
			Rules              []rbacv1.PolicyRule `json:"rules"`
		} `json:"clusterPermissions"`
		Permissions []struct {
			ServiceAccountName string              `json:"serviceAccountName"`
			Rules              []rbacv1.PolicyRule `json:"rules"`
		} `json:"permissions"`
	}
	spec, _, _ := unstructured.NestedMap(csv.Object, "spec", "install", "spec")
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(spec, &strategy); err != nil {
		t.Fatal(err)
	}
	if len(strategy.Deployments) != 1 {
		t.Fatalf("the CSV has %d deployments", len(strategy.Deployments))
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: strategy.Deployments[0].Name, Namespace: ns}, Spec: strategy.Deployments[0].Spec}
	if d.Spec.Template.Annotations == nil {
		d.Spec.Template.Annotations = map[string]string{}
	}
	d.Spec.Template.Annotations["olm.targetNamespaces"] = "" // AllNamespaces
	p.deployment = d
	add := func(o client.Object, kind string) {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: m}
		u.SetAPIVersion(map[string]string{"ServiceAccount": "v1"}[kind])
		if u.GetAPIVersion() == "" {
			u.SetAPIVersion("rbac.authorization.k8s.io/v1")
		}
		u.SetKind(kind)
		p.objects = append(p.objects, u)
	}
	add(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: d.Spec.Template.Spec.ServiceAccountName, Namespace: ns}}, "ServiceAccount")
	for i, cp := range strategy.ClusterPermissions {
		name := fmt.Sprintf("olm-emqx-operator-%d", i)
		add(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: cp.Rules}, "ClusterRole")
		add(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: cp.ServiceAccountName, Namespace: ns}}}, "ClusterRoleBinding")
	}
	for i, pp := range strategy.Permissions {
		name := fmt.Sprintf("olm-emqx-operator-%d", i)
		add(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Rules: pp.Rules}, "Role")
		add(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: pp.ServiceAccountName, Namespace: ns}}}, "RoleBinding")
	}
	return p
}

func ensureNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ctx, cancel := harness.Ctx()
	defer cancel()
	err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func applyAll(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		ctx, cancel := harness.Ctx()
		o = o.DeepCopy()
		unstructured.RemoveNestedField(o.Object, "metadata", "creationTimestamp")
		err := env.Client.Patch(ctx, o, client.Apply, client.FieldOwner("e2e-install"), client.ForceOwnership)
		cancel()
		if err != nil {
			t.Fatalf("applying %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

func deleteClusterScoped(t *testing.T, objs []*unstructured.Unstructured) {
	for _, o := range objs {
		if o.GetNamespace() == "" && (o.GetKind() == "ClusterRole" || o.GetKind() == "ClusterRoleBinding") {
			ctx, cancel := harness.Ctx()
			if err := env.Client.Delete(ctx, o.DeepCopy()); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("deleting %s %s: %v", o.GetKind(), o.GetName(), err)
			}
			cancel()
		}
	}
}

// managerCommand is the path's Deployment as a local command (harness.ManagerCommand), serving
// metrics on metricsAddr.
func managerCommand(t *testing.T, p installPath, metricsAddr string) (args, envVars []string) {
	t.Helper()
	args, envVars, err := harness.ManagerCommand(p.deployment, p.namespace, metricsAddr)
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	return args, envVars
}

// impersonatingKubeconfig is the cluster's kubeconfig acting as the path's ServiceAccount.
func impersonatingKubeconfig(t *testing.T, p installPath) string {
	t.Helper()
	path, err := env.ImpersonatingKubeconfig(t.TempDir(), p.namespace, p.deployment.Spec.Template.Spec.ServiceAccountName)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func emqxCluster(ns string) *v2beta1.EMQX { return harness.SmallEMQX(ns, "emqx") }

// checkRestricted: the operator's pod, created in a namespace that enforces Pod Security
// "restricted" (server-side dry run), is admitted.
func checkRestricted(t *testing.T, p installPath) {
	t.Helper()
	ensureNamespace(t, "restricted", map[string]string{"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest"})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "operator-" + p.name, Namespace: "restricted"}, Spec: *p.deployment.Spec.Template.Spec.DeepCopy()}
	pod.Spec.ServiceAccountName = ""
	ctx, cancel := harness.Ctx()
	defer cancel()
	if err := env.Client.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Errorf("%s: the operator's pod does not pass Pod Security restricted: %v", p.name, err)
	}
}

func TestEveryInstallPathRunsTheOperator(t *testing.T) {
	// The enforcement is live: a pod that is not restricted is refused (so the check above can fail).
	ensureNamespace(t, "restricted", map[string]string{"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest"})
	ctx, cancel := harness.Ctx()
	err := env.Client.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "privileged", Namespace: "restricted"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x",
			SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}}}, client.DryRunAll)
	cancel()
	if !apierrors.IsForbidden(err) {
		t.Fatalf("a privileged pod in the restricted namespace: %v, want Forbidden", err)
	}

	// RBAC is enforced: a ServiceAccount with no role bound is refused (so a missing permission
	// in a path would fail it).
	ensureNamespace(t, "nobody", nil)
	nobody := installPath{name: "nobody", namespace: "nobody", deployment: &appsv1.Deployment{}}
	nobody.deployment.Spec.Template.Spec.ServiceAccountName = "nobody"
	restCfg, err := clientcmd.BuildConfigFromFlags("", impersonatingKubeconfig(t, nobody))
	if err != nil {
		t.Fatal(err)
	}
	asNobody, err := client.New(restCfg, client.Options{Scheme: harness.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = harness.Ctx()
	err = asNobody.List(ctx, &corev1.SecretList{}, client.InNamespace("nobody"))
	cancel()
	if !apierrors.IsForbidden(err) {
		t.Fatalf("listing Secrets as an unbound ServiceAccount: %v, want Forbidden (is RBAC enforced?)", err)
	}

	scopedNS := "helm-scoped-clusters"
	paths := []func(*testing.T) installPath{
		olmPath,
		kustomizePath,
		func(t *testing.T) installPath { return helmPath(t, "helm", "helm-operator") },
		func(t *testing.T) installPath { return helmPath(t, "helm-namespaced", "helm-scoped", scopedNS) },
	}
	for _, mk := range paths {
		p := mk(t)
		t.Run(p.name, func(t *testing.T) {
			checkRestricted(t, p)
			clusterNS := "clusters-" + p.name
			if p.name == "helm-namespaced" {
				clusterNS = scopedNS
			}
			ensureNamespace(t, p.namespace, nil)
			ensureNamespace(t, clusterNS, nil)
			applyAll(t, p.objects)
			defer deleteClusterScoped(t, p.objects)
			metricsAddr, err := harness.FreeLoopbackAddr()
			if err != nil {
				t.Fatal(err)
			}
			args, envVars := managerCommand(t, p, metricsAddr)
			m, err := env.StartManager("manager-"+p.name, append(envVars, "KUBECONFIG="+impersonatingKubeconfig(t, p)), args...)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Stop()

			e := emqxCluster(clusterNS)
			ctx, cancel := harness.Ctx()
			if err := env.Client.Create(ctx, e); err != nil {
				cancel()
				t.Fatal(err)
			}
			cancel()
			defer func() {
				ctx, cancel := harness.Ctx()
				defer cancel()
				_ = env.Client.Delete(ctx, e)
			}()
			harness.Eventually(t, 120*time.Second, p.name+": EMQX Ready", func() error {
				if !m.Running() {
					t.Fatalf("the manager exited:\n%s", tail(m.Log(), 30))
				}
				got := env.GetEMQX(t, clusterNS, "emqx")
				for _, c := range got.Status.Conditions {
					if c.Type == v2beta1.Ready && c.Status == metav1.ConditionTrue {
						return nil
					}
				}
				return fmt.Errorf("phase %q, ready nodes %q", got.Status.Phase, got.Status.ReadyNodes)
			})
			checkMetrics(t, p, metricsAddr, clusterNS)
			if log := m.Log(); strings.Contains(log, "forbidden") {
				t.Errorf("%s: the operator was refused something it needs:\n%s", p.name, grep(log, "forbidden", 10))
			}
		})
	}
}

// TestRBACHasNoWildcards: no install path grants a wildcard verb, resource or API group, and none
// lets the operator create or change CRDs (it reads one CRD's metadata: the PodMonitor's arrival).
func TestRBACHasNoWildcards(t *testing.T) {
	paths := []installPath{olmPath(t), kustomizePath(t), helmPath(t, "helm", "helm-operator"),
		helmPath(t, "helm-namespaced", "helm-scoped", "a", "b")}
	for _, p := range paths {
		roles := 0
		for _, o := range p.objects {
			if o.GetKind() != "ClusterRole" && o.GetKind() != "Role" {
				continue
			}
			roles++
			r := &rbacv1.ClusterRole{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, r); err != nil {
				t.Fatal(err)
			}
			for _, rule := range r.Rules {
				for _, v := range append(append(append([]string{}, rule.Verbs...), rule.Resources...), rule.APIGroups...) {
					if strings.Contains(v, "*") {
						t.Errorf("%s: %s %s has a wildcard rule %+v", p.name, o.GetKind(), o.GetName(), rule)
					}
				}
				for _, res := range rule.Resources {
					if res == "customresourcedefinitions" && slices.ContainsFunc(rule.Verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" }) {
						t.Errorf("%s: %s %s may change CRDs: %v", p.name, o.GetKind(), o.GetName(), rule.Verbs)
					}
				}
			}
		}
		if roles == 0 {
			t.Errorf("%s: no roles found (the check would prove nothing)", p.name)
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func grep(s, word string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) && len(out) < n {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
