package emqx4

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	"github.com/broker-ops/emqx-operator/controllers/internal/testenv"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

func newEmqx4Reconciler() *Emqx4Reconciler {
	c, live, _ := testenv.Counted()
	return NewEmqx4Reconcilers(Emqx4Reconciler{
		Client:    c,
		APIReader: live,
		Recorder:  recorder,
		Renderer:  renderer,
		EMQXClients: func(string, emqxapi.Credentials) *emqxapi.Client {
			return emqxapi.New(fakeEMQX.URL, emqxapi.Credentials{}, nil)
		},
	}, scheme)[0]
}

func newEnterprise(ns, name string) *v1beta2.EmqxEnterprise {
	return &v1beta2.EmqxEnterprise{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1beta2.EmqxEnterpriseSpec{EmqxSpec: v1beta2.EmqxSpec{Image: "emqx/emqx-ee:4.4.1", Replicas: ptr.To[int32](3)}},
	}
}

func reconcile4(t testing.TB, r *Emqx4Reconciler, ns, name string) *v1beta2.EmqxEnterprise {
	t.Helper()
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}}); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	ee := &v1beta2.EmqxEnterprise{}
	get(t, ns, name, ee)
	waitForCache(t, ee)
	return ee
}

func failedReason(ee *v1beta2.EmqxEnterprise) string {
	if c := meta.FindStatusCondition(ee.Status.Conditions, v1beta2.ConditionFailed); c != nil && c.Status == metav1.ConditionTrue {
		return c.Reason
	}
	return ""
}

func statefulSets(t testing.TB, ns string) []appsv1.StatefulSet {
	t.Helper()
	list := &appsv1.StatefulSetList{}
	if err := directAPI.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// TestEmqx4MissingLicenseSecretAppliesNothing: a licence Secret that does not exist is Failed
// with the reason and nothing is applied; once it exists, the cluster is made with that licence.
func TestEmqx4MissingLicenseSecretAppliesNothing(t *testing.T) {
	ns := newNamespace(t, nil)
	r := newEmqx4Reconciler()
	ee := newEnterprise(ns, "ee")
	ee.Spec.EmqxTemplate.LicenseSecretName = "lic"
	create(t, ee)
	waitForCache(t, ee)
	got := reconcile4(t, r, ns, "ee")
	if failedReason(got) != "LicenseSecretNotFound" {
		t.Fatalf("conditions %+v", got.Status.Conditions)
	}
	if sets := statefulSets(t, ns); len(sets) != 0 {
		t.Fatalf("%d StatefulSets applied with the licence missing", len(sets))
	}
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lic"}, StringData: map[string]string{v1beta2.LicenseKey: "LICENCE"}})
	got = reconcile4(t, r, ns, "ee")
	if failedReason(got) != "" {
		t.Fatalf("still failed: %+v", got.Status.Conditions)
	}
	sets := statefulSets(t, ns)
	if len(sets) != 1 || sets[0].Name != "ee" || *sets[0].Spec.Replicas != 3 {
		t.Fatalf("StatefulSets %+v", sets)
	}
	mounted := &corev1.Secret{}
	get(t, ns, "ee-license", mounted)
	if string(mounted.Data[v1beta2.LicenseKey]) != "LICENCE" {
		t.Errorf("licence Secret %q", mounted.Data[v1beta2.LicenseKey])
	}
	creds := &corev1.Secret{}
	get(t, ns, "ee-credentials", creds)
	if len(creds.Data["node-cookie"]) < 16 || len(creds.Data["management-secret"]) < 16 {
		t.Errorf("generated credentials %v", creds.Data)
	}
}

// TestEmqx4RefusesWhatItCannotRun: an EMQX 5 image and env that takes over the node name are
// refused with their reasons, nothing applied.
func TestEmqx4RefusesWhatItCannotRun(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*v1beta2.EmqxEnterprise)
		reason string
	}{
		"emqx5": {func(e *v1beta2.EmqxEnterprise) { e.Spec.Image = "emqx/emqx-enterprise:5.8.6" }, "ImageNotEMQX4"},
		"env": {func(e *v1beta2.EmqxEnterprise) {
			e.Spec.Env = []corev1.EnvVar{{Name: "EMQX_NODE__COOKIE", Value: "x"}}
		}, "InvalidEnv"},
		"cert": {func(e *v1beta2.EmqxEnterprise) {
			e.Spec.EmqxTemplate.Listener.Certificate.MQTTS = &v1beta2.CertificateData{StringData: map[string]string{"tls.crt": "x"}}
		}, "InvalidCertificate"},
	} {
		t.Run(name, func(t *testing.T) {
			ns := newNamespace(t, nil)
			ee := newEnterprise(ns, "ee")
			tc.mutate(ee)
			create(t, ee)
			waitForCache(t, ee)
			got := reconcile4(t, newEmqx4Reconciler(), ns, "ee")
			if failedReason(got) != tc.reason {
				t.Errorf("Failed reason %q, want %s", failedReason(got), tc.reason)
			}
			if sets := statefulSets(t, ns); len(sets) != 0 {
				t.Errorf("%d StatefulSets applied", len(sets))
			}
		})
	}
}

// TestClustersOfDifferentKindsCannotShareAName: an EmqxEnterprise named like an existing EMQX
// (both would own <name>-headless and the instance label) is refused; the older one goes on.
func TestClustersOfDifferentKindsCannotShareAName(t *testing.T) {
	ns := newNamespace(t, nil)
	create(t, newEMQX(ns, "shared", 1, 0))
	ee := newEnterprise(ns, "shared")
	create(t, ee)
	waitForCache(t, ee)
	got := reconcile4(t, newEmqx4Reconciler(), ns, "shared")
	if failedReason(got) != pipeline.ReasonNameInUse {
		t.Fatalf("conditions %+v", got.Status.Conditions)
	}
	r, _ := newReconciler()
	reconcileOnce(t, r, ns, "shared")
	e := getEMQX(t, ns, "shared")
	if c := meta.FindStatusCondition(e.Status.Conditions, "ConfigValid"); c != nil && c.Reason == pipeline.ReasonNameInUse {
		t.Errorf("the older EMQX was refused too: %+v", c)
	}
}
