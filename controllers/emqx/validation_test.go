package emqx

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/tlscert/tlscerttest"
)

// TestInvalidResourcesAreRejectedByTheAPIServer applies manifests a user could write by mistake;
// each must be refused at once with a message that says what is wrong.
func TestInvalidResourcesAreRejectedByTheAPIServer(t *testing.T) {
	ns := newNamespace(t, nil)
	cases := []struct {
		name, spec, wantMessage string
	}{
		{"no image", `{coreTemplate: {spec: {replicas: 1}}}`, "spec.image: Required value"},
		{"empty image", `{image: ""}`, "spec.image"},
		{"image with spaces", `{image: "emqx/emqx 5.8"}`, "image must not contain spaces"},
		{"negative core replicas", `{image: emqx/emqx:5.8.6, coreTemplate: {spec: {replicas: -1}}}`, "should be greater than or equal to 0"},
		{"negative replicant replicas", `{image: emqx/emqx:5.8.6, replicantTemplate: {spec: {replicas: -3}}}`, "should be greater than or equal to 0"},
		{"unknown config mode", `{image: emqx/emqx:5.8.6, config: {mode: Append}}`, `supported values: "Merge", "Replace"`},
		{"both minAvailable and maxUnavailable", `{image: emqx/emqx:5.8.6, coreTemplate: {spec: {minAvailable: 1, maxUnavailable: 1}}}`, "set minAvailable or maxUnavailable for the PodDisruptionBudget, not both"},
		{"malformed bootstrap key", `{image: emqx/emqx:5.8.6, bootstrapAPIKeys: [{key: "bad key!", secret: secret123}]}`, "bootstrapAPIKeys[0].key"},
		{"bootstrap secret too short", `{image: emqx/emqx:5.8.6, bootstrapAPIKeys: [{key: ok, secret: ab}]}`, "bootstrapAPIKeys[0].secret"},
		{"bootstrap key without secret", `{image: emqx/emqx:5.8.6, bootstrapAPIKeys: [{key: ok}]}`, "an inline bootstrap API key needs both key and secret"},
		{"bootstrap key inline and secretRef", `{image: emqx/emqx:5.8.6, bootstrapAPIKeys: [{key: ok, secret: abcd, secretRef: {key: {secretName: s, secretKey: k}, secret: {secretName: s, secretKey: v}}}]}`, "give either key and secret, or secretRef, not both"},
		{"replicants without cores", `{image: emqx/emqx:5.8.6, coreTemplate: {spec: {replicas: 0}}, replicantTemplate: {spec: {replicas: 2}}}`, "replicant nodes need at least one core node"},
		{"unknown update strategy", `{image: emqx/emqx:5.8.6, updateStrategy: {type: RollingUpdate}}`, `supported values: "Recreate"`},
		{"bad image pull policy", `{image: emqx/emqx:5.8.6, imagePullPolicy: Sometimes}`, `supported values: "Always", "Never", "IfNotPresent"`},
		{"bad cluster domain", `{image: emqx/emqx:5.8.6, clusterDomain: "Cluster_Local"}`, "spec.clusterDomain"},
		{"negative revision history", `{image: emqx/emqx:5.8.6, revisionHistoryLimit: -1}`, "spec.revisionHistoryLimit"},
		{"zero evacuation rate", `{image: emqx/emqx:5.8.6, updateStrategy: {evacuationStrategy: {connEvictRate: 0}}}`, "connEvictRate"},
		{"tls from a Secret and cert-manager", `{image: emqx/emqx:5.8.6, tls: {secretName: s, certManager: {issuerRef: {name: ca}}}}`, "tls needs exactly one of secretName"},
		{"tls from nowhere", `{image: emqx/emqx:5.8.6, tls: {dashboard: true}}`, "tls needs exactly one of secretName"},
		{"cert-manager without an issuer name", `{image: emqx/emqx:5.8.6, tls: {certManager: {issuerRef: {kind: Issuer}}}}`, "spec.tls.certManager.issuerRef.name"},
		{"tuning for too few connections", `{image: emqx/emqx:5.8.6, tuning: {connectionsPerNode: 10}}`, "spec.tuning.connectionsPerNode"},
		{"negative licence warning days", `{image: emqx/emqx:5.8.6, license: {secretRef: {secretName: l, secretKey: k}, expiryWarningDays: -1}}`, "spec.license.expiryWarningDays"},
	}
	if len(cases) < 10 {
		t.Fatal("keep at least 10 invalid cases")
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := &unstructured.Unstructured{}
			u.SetAPIVersion("apps.emqx.io/v2beta1")
			u.SetKind("EMQX")
			u.SetNamespace(ns)
			u.SetName("bad-" + string(rune('a'+i)))
			spec := map[string]any{}
			if err := yaml.Unmarshal([]byte(c.spec), &spec); err != nil {
				t.Fatal(err)
			}
			u.Object["spec"] = spec
			err := directAPI.Create(context.Background(), u)
			if err == nil {
				t.Fatalf("accepted; want rejected with %q", c.wantMessage)
			}
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), c.wantMessage) {
				t.Errorf("error = %v\nwant an Invalid error containing %q", err, c.wantMessage)
			}
		})
	}
}

// TestUnparsableHOCONIsReportedAndNothingApplied covers what the schema cannot check.
func TestUnparsableHOCONIsReportedAndNothingApplied(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "badconf", 1, 0)
	e.Spec.Config.Data = "listeners.tcp.default {\n  max_connections = 10\n"
	create(t, e)
	r, _ := newReconciler()
	res := reconcileOnce(t, r, ns, e.Name)
	if res.RequeueAfter != 0 {
		t.Errorf("a config error requeues after %s; the next spec change should trigger the retry", res.RequeueAfter)
	}
	st := getEMQX(t, ns, e.Name).Status
	c := meta.FindStatusCondition(st.Conditions, v2beta1.ConfigValid)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "InvalidConfig" || !strings.Contains(c.Message, "not valid HOCON") {
		t.Errorf("ConfigValid = %+v", c)
	}
	if ready := meta.FindStatusCondition(st.Conditions, v2beta1.Ready); ready == nil || ready.Reason != "InvalidConfig" {
		t.Errorf("Ready = %+v, want reason InvalidConfig", ready)
	}
	if st.Phase != "ConfigError" {
		t.Errorf("phase = %s", st.Phase)
	}
	for _, o := range []client.Object{&appsv1.StatefulSet{}, &corev1.ConfigMap{}, &corev1.Secret{}} {
		list := listOf(o)
		if err := directAPI.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if n := meta.LenList(list); n != 0 {
			t.Errorf("%d %T applied despite the invalid config", n, o)
		}
	}
	waitForEvent(t, ns, "InvalidConfig", "not valid HOCON")

	// A second pass with the same problem does not repeat the Warning.
	waitForCache(t, &v2beta1.EMQX{ObjectMeta: metaOf(ns, e.Name)})
	reconcileOnce(t, r, ns, e.Name)
	if n := countEvents(t, ns, "InvalidConfig"); n != 1 {
		t.Errorf("%d InvalidConfig events, want 1", n)
	}

	// Fixing the spec applies the cluster.
	live := getEMQX(t, ns, e.Name)
	live.Spec.Config.Data = "listeners.tcp.default.max_connections = 10"
	if err := directAPI.Update(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	waitForCache(t, live)
	reconcileOnce(t, r, ns, e.Name)
	get(t, ns, e.CoreWorkloadName(), &appsv1.StatefulSet{})
	if !meta.IsStatusConditionTrue(getEMQX(t, ns, e.Name).Status.Conditions, v2beta1.ConfigValid) {
		t.Errorf("ConfigValid not true after the fix")
	}
}

func TestMissingBootstrapKeySecretIsReported(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "nokey", 1, 0)
	e.Spec.BootstrapAPIKeys = []v2beta1.BootstrapAPIKey{{SecretRef: &v2beta1.BootstrapAPIKeySecretRef{
		Key:    v2beta1.KeyRef{SecretName: "missing", SecretKey: "key"},
		Secret: v2beta1.KeyRef{SecretName: "missing", SecretKey: "secret"},
	}}}
	create(t, e)
	r, _ := newReconciler()
	reconcileOnce(t, r, ns, e.Name)
	c := meta.FindStatusCondition(getEMQX(t, ns, e.Name).Status.Conditions, v2beta1.ConfigValid)
	if c == nil || c.Reason != "SecretNotFound" || !strings.Contains(c.Message, "Secret missing not found") {
		t.Errorf("ConfigValid = %+v", c)
	}
	if err := directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: e.CoreWorkloadName()}, &appsv1.StatefulSet{}); !apierrors.IsNotFound(err) {
		t.Errorf("StatefulSet applied with a missing key Secret (err=%v)", err)
	}

	if res := reconcileOnce(t, r, ns, e.Name); res.RequeueAfter == 0 {
		t.Error("a missing Secret is not looked at again: its creation would go unnoticed (it is not watched until labelled)")
	}

	// The user's Secret, once created, is read (without the cache) and its key loaded.
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "missing"},
		Data: map[string][]byte{"key": []byte("ci_user"), "secret": []byte("s3cret-from-secret")}})
	reconcileOnce(t, r, ns, e.Name)
	s := &corev1.Secret{}
	get(t, ns, e.BootstrapSecretName(), s)
	if !strings.Contains(string(s.Data["bootstrap_api_key"]), "ci_user:s3cret-from-secret:administrator") {
		t.Errorf("bootstrap file lacks the user's key")
	}
}

// TestRefusedPodsAreReported: in a namespace enforcing Pod Security "restricted", a cluster whose
// user asked for a privileged container gets pods refused; the CR says so instead of waiting.
func TestRefusedPodsAreReported(t *testing.T) {
	ns := newNamespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})

	good := newEMQX(ns, "restricted", 1, 0)
	create(t, good)
	r, _ := newReconciler()
	reconcileOnce(t, r, ns, good.Name)
	setStatefulSetStatus(t, ns, good.CoreWorkloadName(), 0, 0, "rev1")
	waitForCache(t, &appsv1.StatefulSet{ObjectMeta: metaOf(ns, good.CoreWorkloadName())})
	reconcileOnce(t, r, ns, good.Name)
	if c := meta.FindStatusCondition(getEMQX(t, ns, good.Name).Status.Conditions, v2beta1.PodsAdmitted); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("default pods refused under Pod Security restricted: %+v", c)
	}

	bad := newEMQX(ns, "privileged", 1, 0)
	bad.Spec.CoreTemplate.Spec.ContainerSecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	create(t, bad)
	reconcileOnce(t, r, ns, bad.Name)
	setStatefulSetStatus(t, ns, bad.CoreWorkloadName(), 0, 0, "rev1")
	waitForCache(t, &appsv1.StatefulSet{ObjectMeta: metaOf(ns, bad.CoreWorkloadName())})
	reconcileOnce(t, r, ns, bad.Name)
	st := getEMQX(t, ns, bad.Name).Status
	c := meta.FindStatusCondition(st.Conditions, v2beta1.PodsAdmitted)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "PodsForbidden" || !strings.Contains(c.Message, "privileged") {
		t.Errorf("PodsAdmitted = %+v", c)
	}
	if st.Phase != "PodsRefused" {
		t.Errorf("phase = %s", st.Phase)
	}
	waitForEvent(t, ns, "PodsForbidden", "restricted")
}

// TestInvalidCertificateIsRefusedAndNothingApplied: a new cluster whose TLS Secret is not a valid
// pair (a key of another certificate) gets a clear condition and nothing applied; a valid pair
// then rolls it out, labelled so the operator watches it.
func TestInvalidCertificateIsRefusedAndNothingApplied(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "badtls", 1, 0)
	e.Spec.TLS = &v2beta1.TLS{SecretName: "mqtt-tls"}
	names := []string{"badtls-listeners", "badtls-listeners." + ns, "badtls-listeners." + ns + ".svc", "badtls-listeners." + ns + ".svc.cluster.local"}
	crt, _ := tlscerttest.Valid(names...)
	_, otherKey := tlscerttest.Valid(names...)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mqtt-tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": crt, "tls.key": otherKey}})
	create(t, e)
	r, _ := newReconciler()
	reconcileOnce(t, r, ns, e.Name)
	c := meta.FindStatusCondition(getEMQX(t, ns, e.Name).Status.Conditions, v2beta1.ConfigValid)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "CertificateInvalid" || !strings.Contains(c.Message, "not a certificate and its key") {
		t.Errorf("ConfigValid = %+v", c)
	}
	if err := directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: e.CoreWorkloadName()}, &appsv1.StatefulSet{}); !apierrors.IsNotFound(err) {
		t.Errorf("StatefulSet applied with an invalid certificate (err=%v)", err)
	}
	waitForEvent(t, ns, "CertificateInvalid", "not a certificate and its key")

	// A certificate that does not cover the Service's names is refused too.
	narrow, narrowKey := tlscerttest.Valid("elsewhere.example.com")
	user := &corev1.Secret{}
	get(t, ns, "mqtt-tls", user)
	if user.Labels[v2beta1.LabelWatched] != "true" {
		t.Error("the user's Secret was not labelled for the operator's watch")
	}
	user.Data = map[string][]byte{"tls.crt": narrow, "tls.key": narrowKey}
	if err := directAPI.Update(context.Background(), user); err != nil {
		t.Fatal(err)
	}
	waitForCache(t, user)
	reconcileOnce(t, r, ns, e.Name)
	c = meta.FindStatusCondition(getEMQX(t, ns, e.Name).Status.Conditions, v2beta1.ConfigValid)
	if c == nil || !strings.Contains(c.Message, "does not cover badtls-listeners") {
		t.Errorf("ConfigValid = %+v", c)
	}

	good, goodKey := tlscerttest.Valid(names...)
	get(t, ns, "mqtt-tls", user)
	user.Data = map[string][]byte{"tls.crt": good, "tls.key": goodKey}
	if err := directAPI.Update(context.Background(), user); err != nil {
		t.Fatal(err)
	}
	waitForCache(t, user)
	reconcileOnce(t, r, ns, e.Name)
	owned := &corev1.Secret{}
	get(t, ns, e.TLSSecretName(), owned)
	if string(owned.Data["tls.crt"]) != string(good) || string(owned.Data["tls.key"]) != string(goodKey) {
		t.Error("the operator's TLS Secret does not hold the validated pair")
	}
	sts := &appsv1.StatefulSet{}
	get(t, ns, e.CoreWorkloadName(), sts)
	mounted := false
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == e.TLSSecretName() {
			mounted = true
		}
	}
	if !mounted {
		t.Error("the pods do not mount the operator's TLS Secret")
	}
}

// TestKubeletRefusingASysctlIsReported: a kubelet that refuses the pod's unsafe sysctls fails it
// with reason SysctlForbidden (written here as a kubelet would); the cluster says so.
func TestKubeletRefusingASysctlIsReported(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "tuned", 1, 0)
	e.Spec.Tuning = &v2beta1.Tuning{ConnectionsPerNode: 200000, UnsafeSysctls: true}
	create(t, e)
	r, _ := newReconciler()
	reconcileOnce(t, r, ns, e.Name)
	sts := &appsv1.StatefulSet{}
	get(t, ns, e.CoreWorkloadName(), sts)
	if len(sts.Spec.Template.Spec.SecurityContext.Sysctls) == 0 {
		t.Fatal("no sysctls in the pod template")
	}
	pods := createPods(t, e, v2beta1.RoleCore, 1, "rev1")
	pod := &corev1.Pod{}
	get(t, ns, pods[0], pod)
	pod.Status = corev1.PodStatus{Phase: corev1.PodFailed, Reason: "SysctlForbidden",
		Message: `Pod forbidden sysctl: "net.core.somaxconn" not allowlisted`}
	if err := directAPI.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	setStatefulSetStatus(t, ns, e.CoreWorkloadName(), 1, 0, "rev1")
	waitForCache(t, pod)
	reconcileOnce(t, r, ns, e.Name)
	st := getEMQX(t, ns, e.Name).Status
	c := meta.FindStatusCondition(st.Conditions, v2beta1.PodsAdmitted)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "SysctlForbidden" ||
		!strings.Contains(c.Message, "net.core.somaxconn") || !strings.Contains(c.Message, "allowed-unsafe-sysctls") {
		t.Errorf("PodsAdmitted = %+v", c)
	}
	if ready := meta.FindStatusCondition(st.Conditions, v2beta1.Ready); ready == nil || ready.Reason != "SysctlForbidden" {
		t.Errorf("Ready = %+v", ready)
	}
	waitForEvent(t, ns, "SysctlForbidden", "net.core.somaxconn")
}
