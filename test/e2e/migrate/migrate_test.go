// Package migrate runs the switch from the vendor's emqx-operator on a local cluster of its own:
// CRDs shaped like the vendor's, with resources stored in an older version and a conversion
// webhook that no longer answers, taken over by `manager migrate crds` and the normal install.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

var env *harness.Env

func TestMain(m *testing.M) {
	var err error
	env, err = harness.Start(harness.Config{ClusterName: "e2e-migrate", NoOperator: true, NoCRDs: true})
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

func apiClient(t *testing.T) client.Client {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	s := runtime.NewScheme()
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v2beta1.AddToScheme(s))
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// manager runs `manager <args>` against the local cluster and returns its exit code and output.
func manager(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(env.RepoRoot(), "bin", "manager"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Kubeconfig)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

var open = &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
	Type: "object", XPreserveUnknownFields: ptr.To(true)}}

func version(name string, storage bool) apiextensionsv1.CustomResourceDefinitionVersion {
	return apiextensionsv1.CustomResourceDefinitionVersion{Name: name, Served: true, Storage: storage, Schema: open,
		Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}}}
}

// vendorWebhook is the vendor's conversion webhook, whose Service is gone with its operator.
var vendorWebhook = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter,
	Webhook: &apiextensionsv1.WebhookConversion{ConversionReviewVersions: []string{"v1"},
		ClientConfig: &apiextensionsv1.WebhookClientConfig{Service: &apiextensionsv1.ServiceReference{
			Namespace: "emqx-operator-system", Name: "emqx-operator-webhook-service", Path: ptr.To("/convert")}}}}

func vendorCRD(plural, kind string, versions ...apiextensionsv1.CustomResourceDefinitionVersion) *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: plural + ".apps.emqx.io",
		Labels: map[string]string{"app.kubernetes.io/managed-by": "Helm"}},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{Group: "apps.emqx.io", Scope: apiextensionsv1.NamespaceScoped,
			Names:    apiextensionsv1.CustomResourceDefinitionNames{Plural: plural, Kind: kind, ListKind: kind + "List", ShortNames: []string{}},
			Versions: versions}}
}

func apply(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	ctx, cancel := harness.Ctx()
	defer cancel()
	if err := c.Create(ctx, obj); err != nil {
		t.Fatalf("creating %s: %v", obj.GetName(), err)
	}
}

func emqxV2alpha1(name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps.emqx.io/v2alpha1", "kind": "EMQX",
		"metadata": map[string]any{"name": name, "namespace": "default"},
		"spec": map[string]any{
			"image":           "emqx/emqx-enterprise:5.8.6",
			"bootstrapConfig": "node.cookie = shared\nlisteners.tcp.default.max_connections = 1024000",
			"securityContext": map[string]any{"runAsUser": int64(1000)},
			"coreTemplate": map[string]any{"spec": map[string]any{"replicas": int64(3),
				"persistent": map[string]any{"resources": map[string]any{"requests": map[string]any{"storage": "20Gi"}}}}},
			"replicantTemplate": map[string]any{"spec": map[string]any{"replicas": int64(2)}},
		}}}
	return u
}

// TestV3ResourcesAreNotTakenOver: with EMQX resources stored in the vendor's v3beta1, which this
// release cannot convert, `manager migrate crds` stops before changing anything and says why.
func TestV3ResourcesAreNotTakenOver(t *testing.T) {
	c := apiClient(t)
	ctx := context.Background()
	crd := vendorCRD("emqxes", "EMQX", version("v2beta1", false), version("v3beta1", true))
	crd.Spec.Conversion = vendorWebhook
	apply(t, c, crd)
	// A resource stored in v3beta1 (created in the storage version, so no conversion is asked for).
	res := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps.emqx.io/v3beta1", "kind": "EMQX",
		"metadata": map[string]any{"name": "v3", "namespace": "default"},
		"spec":     map[string]any{"image": "emqx/emqx-enterprise:6.1.0"},
	}}
	harness.Eventually(t, 30e9, "a v3beta1 EMQX created", func() error { return c.Create(ctx, res) })
	defer func() {
		if err := c.Delete(ctx, res); err != nil {
			t.Error(err)
		}
		if err := c.Delete(ctx, crd); err != nil {
			t.Fatal(err)
		}
		harness.Eventually(t, 30e9, "the v3 CRD gone", func() error {
			if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, &apiextensionsv1.CustomResourceDefinition{}); err == nil {
				return errors.New("still there")
			}
			return nil
		})
	}()
	code, out := manager(t, "migrate", "crds")
	if code != 3 || !strings.Contains(out, "stored in v3beta1, a version this release cannot convert; nothing was changed") {
		t.Errorf("migrate crds over v3: exit %d\n%s", code, out)
	}
	got := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Conversion == nil || got.Spec.Conversion.Strategy != apiextensionsv1.WebhookConverter || len(got.Spec.Versions) != 2 {
		t.Errorf("the v3 CRD was changed: %+v", got.Spec.Conversion)
	}
}

// TestEmqx4ResourcesInLaterVendorVersionsAreNotTakenOver: EmqxEnterprise resources stored in the
// vendor's v1beta4 (fields moved since v1beta2) are not rewritten into v1beta2, where they would be
// misread; nothing is changed. (An empty CRD of that name is taken over: see the test below.)
func TestEmqx4ResourcesInLaterVendorVersionsAreNotTakenOver(t *testing.T) {
	c := apiClient(t)
	ctx := context.Background()
	crd := vendorCRD("emqxenterprises", "EmqxEnterprise", version("v1beta4", true))
	apply(t, c, crd)
	res := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps.emqx.io/v1beta4", "kind": "EmqxEnterprise",
		"metadata": map[string]any{"name": "ee", "namespace": "default"},
		"spec":     map[string]any{"template": map[string]any{"spec": map[string]any{"emqxContainer": map[string]any{"image": map[string]any{"version": "4.4.19"}}}}},
	}}
	harness.Eventually(t, 30e9, "a v1beta4 EmqxEnterprise created", func() error { return c.Create(ctx, res) })
	defer func() {
		if err := c.Delete(ctx, res); err != nil {
			t.Error(err)
		}
		if err := c.Delete(ctx, crd); err != nil {
			t.Fatal(err)
		}
		harness.Eventually(t, 30e9, "the v1beta4 CRD gone", func() error {
			if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, &apiextensionsv1.CustomResourceDefinition{}); err == nil {
				return errors.New("still there")
			}
			return nil
		})
	}()
	code, out := manager(t, "migrate", "crds")
	if code != 3 || !strings.Contains(out, "emqxenterprises.apps.emqx.io: resources are stored in v1beta4, a version this release cannot convert; nothing was changed") {
		t.Errorf("migrate crds over v1beta4 resources: exit %d\n%s", code, out)
	}
	got := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, got); err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.Versions) != 1 || got.Spec.Versions[0].Name != "v1beta4" {
		t.Errorf("the v1beta4 CRD was changed: %+v", got.Spec.Versions)
	}
}

// TestTakeOverTheVendorsCRDs: with the vendor's CRDs installed (several stored versions, a
// conversion webhook whose Service is gone) and resources stored in v2alpha1, a plain install
// fails and v2beta1 reads fail; `manager migrate check` says so and what to do; after `manager
// migrate crds` the normal install succeeds, every resource reads and writes in v2beta1 with its
// settings carried over, and nothing asks the old webhook.
func TestTakeOverTheVendorsCRDs(t *testing.T) {
	c := apiClient(t)
	ctx := context.Background()

	// The vendor's history: EMQX first stored in v2alpha1, then v2beta1 became the storage
	// version behind a conversion webhook.
	crd := vendorCRD("emqxes", "EMQX", version("v2alpha1", true))
	apply(t, c, crd)
	harness.Eventually(t, 30e9, "v2alpha1 served", func() error {
		l := &unstructured.UnstructuredList{}
		l.SetAPIVersion("apps.emqx.io/v2alpha1")
		l.SetKind("EMQXList")
		return c.List(ctx, l)
	})
	for _, n := range []string{"old-a", "old-b"} {
		apply(t, c, emqxV2alpha1(n))
	}
	if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, crd); err != nil {
		t.Fatal(err)
	}
	crd.Spec.Versions = []apiextensionsv1.CustomResourceDefinitionVersion{version("v2alpha1", false), version("v2beta1", true)}
	crd.Spec.Conversion = vendorWebhook
	if err := c.Update(ctx, crd); err != nil {
		t.Fatal(err)
	}
	brokers := vendorCRD("emqxbrokers", "EmqxBroker", version("v1beta3", false), version("v1beta4", true))
	brokers.Spec.Conversion = vendorWebhook
	apply(t, c, brokers)
	if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, crd); err != nil {
		t.Fatal(err)
	}
	if strings.Join(crd.Status.StoredVersions, ",") != "v2alpha1,v2beta1" {
		t.Fatalf("stored versions %v", crd.Status.StoredVersions)
	}

	// Before: v2beta1 reads need the dead webhook, and a plain install is refused.
	if err := c.List(ctx, &v2beta1.EMQXList{}); err == nil {
		t.Error("reading v2beta1 worked although resources are stored in v2alpha1 and the webhook is gone")
	}
	if err := env.InstallCRDs(); err == nil || !strings.Contains(err.Error(), "storedVersions") {
		t.Errorf("a plain install over the vendor's CRD: %v", err)
	}
	code, out := manager(t, "migrate", "check")
	t.Logf("manager migrate check, before:\n%s", out)
	if code != 1 || !strings.Contains(out, "emqxes.apps.emqx.io: ACTION") || !strings.Contains(out, "its Service does not exist") ||
		!strings.Contains(out, "emqxbrokers.apps.emqx.io: ACTION") {
		t.Errorf("check before: exit %d\n%s", code, out)
	}

	code, out = manager(t, "migrate", "crds")
	t.Logf("manager migrate crds:\n%s", out)
	if code != 0 || !strings.Contains(out, "2 resource(s) rewritten in v2beta1") ||
		!strings.Contains(out, "emqxbrokers.apps.emqx.io: no resources, so stored versions [v1beta4] hold no data") {
		t.Fatalf("migrate crds: exit %d\n%s", code, out)
	}
	if err := env.InstallCRDs(); err != nil {
		t.Fatalf("the install after the migration: %v", err)
	}
	code, out = manager(t, "migrate", "check")
	t.Logf("manager migrate check, after:\n%s", out)
	if code != 0 || !strings.Contains(out, "emqxes.apps.emqx.io: ok") || !strings.Contains(out, "emqxbrokers.apps.emqx.io: ok") {
		t.Errorf("check after: exit %d\n%s", code, out)
	}

	// After: the CRD is ours; every resource reads and writes in v2beta1, settings kept.
	if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, crd); err != nil {
		t.Fatal(err)
	}
	if strings.Join(crd.Status.StoredVersions, ",") != "v2beta1" || len(crd.Spec.Versions) != 1 ||
		(crd.Spec.Conversion != nil && crd.Spec.Conversion.Strategy != apiextensionsv1.NoneConverter) {
		t.Errorf("CRD after: versions %d, stored %v, conversion %+v", len(crd.Spec.Versions), crd.Status.StoredVersions, crd.Spec.Conversion)
	}
	list := &v2beta1.EMQXList{}
	if err := c.List(ctx, list); err != nil {
		t.Fatalf("reading v2beta1 after the migration: %v", err)
	}
	if len(list.Items) != 2 {
		t.Fatalf("%d resources after the migration, want 2", len(list.Items))
	}
	for i := range list.Items {
		e := &list.Items[i]
		vct := e.Spec.CoreTemplate.Spec.VolumeClaimTemplates.Resources.Requests.Storage()
		if !strings.Contains(e.Spec.Config.Data, "max_connections = 1024000") || vct.String() != "20Gi" ||
			e.Spec.CoreTemplate.Spec.Replicas == nil || *e.Spec.CoreTemplate.Spec.Replicas != 3 {
			t.Errorf("%s after the migration: config %q, storage %s, spec %+v", e.Name, e.Spec.Config.Data, vct, e.Spec.CoreTemplate.Spec.Replicas)
		}
		e.Labels = map[string]string{"migrated": "true"}
		if err := c.Update(ctx, e); err != nil {
			t.Errorf("writing %s after the migration: %v", e.Name, err)
		}
	}
}
