package simulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podV4 creates a running pod for an EMQX 4.4 node set up the way the seed's operator did: node
// name from EMQX_NAME@EMQX_HOST, DNS discovery, the cookie and the management application from
// env, the licence as a mounted file.
func (w *testWorld) podV4(name string, ip int) string {
	w.t.Helper()
	node := w.createPodV4(name, ip)
	w.waitFor(func() bool { return w.nodeState(node) == "running" }, "node "+node+" running")
	return node
}

// createPodV4 creates the pod of podV4(name, ip) and returns its node's name without waiting.
func (w *testWorld) createPodV4(name string, ip int) string {
	w.t.Helper()
	host := name + ".emqx-ee-headless.ns.svc.cluster.local"
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name + fmt.Sprint(time.Now().UnixNano())),
			Labels: map[string]string{LabelInstance: "emqx-ee"}, Annotations: map[string]string{AnnotationImage: "known"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "emqx", Image: "emqx/emqx-ee:4.4.19",
				Env: []corev1.EnvVar{
					{Name: "EMQX_NAME", Value: "emqx"},
					{Name: "EMQX_HOST", Value: host},
					{Name: "EMQX_CLUSTER__DISCOVERY", Value: "dns"},
					{Name: "EMQX_CLUSTER__DNS__NAME", Value: "emqx-ee-headless.ns.svc.cluster.local"},
					{Name: "EMQX_CLUSTER__DNS__APP", Value: "emqx"},
					{Name: "EMQX_NODE__COOKIE", Value: "v4cookie"},
					{Name: "EMQX_MANAGEMENT__DEFAULT_APPLICATION__ID", Value: "operator"},
					{Name: "EMQX_MANAGEMENT__DEFAULT_APPLICATION__SECRET", Value: "op-secret"},
					{Name: "EMQX_LICENSE__FILE", Value: "/mounted/license/emqx.lic"},
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "license", MountPath: "/mounted/license"}},
			}},
			Volumes: []corev1.Volume{{Name: "license", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: "emqx-ee-license", Items: []corev1.KeyToPath{{Key: "emqx.lic", Path: "emqx.lic"}}}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("127.77.0.%d", ip)},
	}
	if _, err := w.kc.CoreV1().Pods("ns").Create(w.ctx, p, metav1.CreateOptions{}); err != nil {
		w.t.Fatal(err)
	}
	return "emqx@" + host
}

func getV4(t *testing.T, ip int, path, id, secret string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", fmt.Sprintf("http://127.77.0.%d:%d%s", ip, ManagementPortV4, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestEMQX4Nodes (emqx-rest-api.md, "EMQX 4.4"): 4.4 nodes with one cookie and DNS name form one
// cluster; the management API answers on 8081 under /api/v4 with {"code": 0, "data"} and the
// default application's credentials (401 otherwise); /status is the health check; the licence is
// the mounted file; there is no /api/v5 and nothing on 18083.
func TestEMQX4Nodes(t *testing.T) {
	w := newTestWorld(t)
	lic := EncodeTestLicense("Acme IoT", "official", 1000000, time.Now().AddDate(1, 0, 0))
	w.secret("emqx-ee-license", map[string]string{"emqx.lic": lic})
	a := w.podV4("emqx-ee-0", 1)
	b := w.podV4("emqx-ee-1", 2)
	w.waitFor(func() bool { return w.clusterOf(a) == w.clusterOf(b) }, "the 4.4 nodes in one cluster")

	code, body := getV4(t, 2, "/api/v4/nodes", "operator", "op-secret")
	var answer struct {
		Code int `json:"code"`
		Data []struct {
			Node, NodeStatus, Version string
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || code != 200 || answer.Code != 0 || len(answer.Data) != 2 {
		t.Fatalf("GET /api/v4/nodes: %d %s", code, body)
	}
	if !strings.Contains(string(body), `"node_status":"Running"`) || !strings.Contains(string(body), `"version":"4.4.19"`) {
		t.Errorf("nodes = %s", body)
	}
	if code, _ := getV4(t, 1, "/api/v4/nodes", "operator", "wrong"); code != 401 {
		t.Errorf("wrong secret: HTTP %d", code)
	}
	if code, _ := getV4(t, 1, "/api/v4/nodes", "", ""); code != 401 {
		t.Errorf("no credentials: HTTP %d", code)
	}
	if code, body := getV4(t, 1, "/status", "", ""); code != 200 || !strings.Contains(string(body), "is started") {
		t.Errorf("/status: %d %s", code, body)
	}
	if code, _ := getV4(t, 1, "/api/v5/nodes", "operator", "op-secret"); code != 404 {
		t.Errorf("/api/v5 on a 4.4 node: HTTP %d", code)
	}
	if _, err := (&http.Client{Timeout: time.Second}).Get("http://127.77.0.1:18083/status"); err == nil {
		t.Error("a 4.4 node answers on 18083")
	}
	for _, n := range w.sim.Nodes() {
		if n.Name == a && n.License != "Acme IoT" {
			t.Errorf("licence of %s = %q, want the mounted file's", a, n.License)
		}
	}

	// POST /api/v4/license/upload on one node loads the licence on every node; a bad one changes nothing.
	renewed := EncodeTestLicense("Acme IoT renewed", "official", 2000000, time.Now().AddDate(2, 0, 0))
	if code, body := postV4(t, 2, "/api/v4/license/upload", `{"license":"`+renewed+`"}`); code != 200 || string(body) != "{\"code\":0}\n" {
		t.Fatalf("upload: %d %s", code, body)
	}
	if code, body := postV4(t, 1, "/api/v4/license/upload", `{"license":"garbage"}`); code != 400 || !strings.Contains(string(body), `"code":102`) {
		t.Errorf("bad licence upload: %d %s", code, body)
	}
	for _, n := range w.sim.Nodes() {
		if (n.Name == a || n.Name == b) && n.License != "Acme IoT renewed" {
			t.Errorf("licence of %s = %q after the upload", n.Name, n.License)
		}
	}
}

func postV4(t *testing.T, ip int, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", fmt.Sprintf("http://127.77.0.%d:%d%s", ip, ManagementPortV4, path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("operator", "op-secret")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
