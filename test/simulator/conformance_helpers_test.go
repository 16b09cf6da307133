package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

// testWorld runs a simulator against a fake clientset; nodes listen on 127.77.0.<n>:18083.
type testWorld struct {
	t   *testing.T
	sim *Simulator
	kc  *fake.Clientset
	ctx context.Context
}

const testKey, testSecret = "operator", "operator-secret"

func newTestWorld(t *testing.T) *testWorld {
	t.Helper()
	return newTestWorldWith(t, Options{})
}

// newTestWorldWith is newTestWorld with other options (TimeScale and Log are set here).
func newTestWorldWith(t *testing.T, opts Options) *testWorld {
	t.Helper()
	kc := fake.NewSimpleClientset()
	ctx, cancel := context.WithCancel(context.Background())
	opts.TimeScale, opts.Log = 0.01, slog.New(slog.NewTextHandler(io.Discard, nil))
	sim := New(kc, opts)
	done := make(chan struct{})
	go func() { _ = sim.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	w := &testWorld{t: t, sim: sim, kc: kc, ctx: ctx}
	w.secret("keys", map[string]string{"bootstrap_api_key": testKey + ":" + testSecret + ":administrator\n"})
	w.secret("cookie", map[string]string{"cookie": "c00kie"})
	return w
}

func (w *testWorld) secret(name string, data map[string]string) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	if _, err := w.kc.CoreV1().Secrets("ns").Create(w.ctx, s, metav1.CreateOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

type podOpts struct {
	role, version, cookieSecret string
	// keysSecret holds the API-key bootstrap file (default "keys": testKey).
	keysSecret string
	// tlsSecret mounts this Secret at /opt/emqx/etc/tls and points ssl:default and wss:default at it.
	tlsSecret string
	// env is added to the container's environment.
	env []corev1.EnvVar
	// conf, when set, is mounted as /opt/emqx/etc/emqx.conf (from the ConfigMap conf-<pod>).
	conf string
	// pvc, when set, is the claim mounted at /opt/emqx/data (made by w.claim).
	pvc string
}

// pod creates a running pod for an EMQX node named emqx@<name>.emqx-headless.ns.svc.cluster.local
// and waits until the node runs, which means its listeners accept connections.
func (w *testWorld) pod(name string, ip int, o podOpts) string {
	w.t.Helper()
	node := w.createPod(name, ip, o)
	w.waitFor(func() bool { return w.nodeState(node) == "running" }, "node "+node+" running")
	return node
}

// createPod creates the pod of pod(name, ip, o) and returns its node's name without waiting.
func (w *testWorld) createPod(name string, ip int, o podOpts) string {
	w.t.Helper()
	if o.role == "" {
		o.role = "core"
	}
	if o.version == "" {
		o.version = "5.8.6"
	}
	if o.cookieSecret == "" {
		o.cookieSecret = "cookie"
	}
	if o.keysSecret == "" {
		o.keysSecret = "keys"
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name + fmt.Sprint(time.Now().UnixNano())),
			Labels: map[string]string{LabelInstance: "c"}, Annotations: map[string]string{AnnotationImage: "known"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "emqx", Image: "emqx/emqx-enterprise:" + o.version,
				Env: []corev1.EnvVar{
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "EMQX_CLUSTER__DISCOVERY_STRATEGY", Value: "dns"},
					{Name: "EMQX_CLUSTER__DNS__NAME", Value: "emqx-headless.ns.svc.cluster.local"},
					{Name: "EMQX_HOST", Value: "$(POD_NAME).emqx-headless.ns.svc.cluster.local"},
					{Name: "EMQX_NODE__ROLE", Value: o.role},
					{Name: "EMQX_NODE__COOKIE", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: o.cookieSecret}, Key: "cookie"}}},
					{Name: "EMQX_API_KEY__BOOTSTRAP_FILE", Value: `"/opt/emqx/etc/keys/bootstrap_api_key"`},
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "keys", MountPath: "/opt/emqx/etc/keys"}},
			}},
			Volumes: []corev1.Volume{{Name: "keys", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: o.keysSecret}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("127.77.0.%d", ip)},
	}
	if o.tlsSecret != "" {
		c := &p.Spec.Containers[0]
		for _, l := range []string{"SSL", "WSS"} {
			c.Env = append(c.Env,
				corev1.EnvVar{Name: "EMQX_LISTENERS__" + l + "__DEFAULT__SSL_OPTIONS__CERTFILE", Value: "/opt/emqx/etc/tls/tls.crt"},
				corev1.EnvVar{Name: "EMQX_LISTENERS__" + l + "__DEFAULT__SSL_OPTIONS__KEYFILE", Value: "/opt/emqx/etc/tls/tls.key"})
		}
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "tls", MountPath: "/opt/emqx/etc/tls"})
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: o.tlsSecret}}})
	}
	p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, o.env...)
	if o.conf != "" {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "conf-" + name}, Data: map[string]string{"emqx.conf": o.conf}}
		if _, err := w.kc.CoreV1().ConfigMaps("ns").Create(w.ctx, cm, metav1.CreateOptions{}); err != nil {
			if _, err := w.kc.CoreV1().ConfigMaps("ns").Update(w.ctx, cm, metav1.UpdateOptions{}); err != nil {
				w.t.Fatal(err)
			}
		}
		c := &p.Spec.Containers[0]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "conf", MountPath: "/opt/emqx/etc/emqx.conf", SubPath: "emqx.conf"})
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "conf", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf-" + name}}}})
	}
	if o.pvc != "" {
		c := &p.Spec.Containers[0]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/opt/emqx/data"})
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: o.pvc}}})
	}
	if _, err := w.kc.CoreV1().Pods("ns").Create(w.ctx, p, metav1.CreateOptions{}); err != nil {
		w.t.Fatal(err)
	}
	return "emqx@" + name + ".emqx-headless.ns.svc.cluster.local"
}

// claim makes (or replaces, with a new UID) the PVC name, as a StatefulSet makes a core's.
func (w *testWorld) claim(name string) {
	w.t.Helper()
	_ = w.kc.CoreV1().PersistentVolumeClaims("ns").Delete(w.ctx, name, metav1.DeleteOptions{})
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name,
		UID: types.UID("pvc-" + name + fmt.Sprint(time.Now().UnixNano()))}}
	if _, err := w.kc.CoreV1().PersistentVolumeClaims("ns").Create(w.ctx, pvc, metav1.CreateOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *testWorld) deletePod(name string) {
	if err := w.kc.CoreV1().Pods("ns").Delete(w.ctx, name, metav1.DeleteOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *testWorld) nodeState(name string) string {
	for _, n := range w.sim.Nodes() {
		if n.Name == name {
			return n.State
		}
	}
	return ""
}

func (w *testWorld) clusterOf(name string) int {
	for _, n := range w.sim.Nodes() {
		if n.Name == name {
			return n.Cluster
		}
	}
	return -1
}

func (w *testWorld) waitFor(cond func() bool, what string) {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// answer is an HTTP response, decoded.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("not a JSON object: %s", a.body)
	}
	return m
}

func (a answer) list(t *testing.T) []map[string]any {
	t.Helper()
	var l []map[string]any
	if err := json.Unmarshal(a.body, &l); err != nil {
		t.Fatalf("not a JSON array: %s", a.body)
	}
	return l
}

// call makes a request to node ip with the operator's key (auth false: no header).
func (w *testWorld) call(ip int, method, path, contentType, body string, auth bool) answer {
	w.t.Helper()
	key, secret := "", ""
	if auth {
		key, secret = testKey, testSecret
	}
	return w.do(ip, method, path, contentType, body, key, secret)
}

// do makes one request; an empty key sends no Authorization header.
func (w *testWorld) do(ip int, method, path, contentType, body, key, secret string) answer {
	w.t.Helper()
	req, err := http.NewRequest(method, fmt.Sprintf("http://127.77.0.%d:18083%s", ip, path), strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if key != "" {
		req.SetBasicAuth(key, secret)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: bytes.TrimSpace(b)}
}

func (w *testWorld) get(ip int, path string) answer { return w.call(ip, "GET", path, "", "", true) }
func (w *testWorld) post(ip int, path, body string) answer {
	return w.call(ip, "POST", path, "application/json", body, true)
}

// wantError checks an EMQX error envelope.
func wantError(t *testing.T, a answer, status int, code, message string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d (body %s)", a.status, status, a.body)
	}
	m := a.json(t)
	if m["code"] != code || !strings.Contains(fmt.Sprint(m["message"]), message) {
		t.Errorf("error %v, want code %s and a message containing %q", m, code, message)
	}
}

func (w *testWorld) callWithKey(ip int, method, path, key, secret string) answer {
	w.t.Helper()
	return w.do(ip, method, path, "", "", key, secret)
}

func (w *testWorld) setConnections(node string, n int64) error {
	w.sim.w.mu.Lock()
	defer w.sim.w.mu.Unlock()
	nd := w.sim.w.nodes[node]
	if nd == nil {
		return fmt.Errorf("no node %s", node)
	}
	nd.connections = n
	return nil
}
