package simulator

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
)

// fakeAPIServer answers the Exec requests with the statuses in answers (by method), recording them.
type fakeAPIServer struct {
	mu       sync.Mutex
	answers  map[string]int
	requests []recordedRequest
}

type recordedRequest struct {
	method, path, contentType string
	body                      map[string]any
}

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.requests = append(f.requests, recordedRequest{r.Method, r.URL.Path, r.Header.Get("Content-Type"), body})
	code := f.answers[r.Method]
	reason := map[int]string{409: "AlreadyExists", 404: "NotFound"}[code]
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if reason != "" {
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code})
		return
	}
	_, _ = w.Write([]byte(`{}`))
}

func execTestPod() *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "core-0", UID: "uid-1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "emqx", Image: "emqx/emqx-enterprise:6.1.4"}}}}
}

func execTestSimulator(t *testing.T, answers map[string]int) (*Simulator, *fakeAPIServer) {
	t.Helper()
	f := &fakeAPIServer{answers: answers}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	kc, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return New(kc, Options{ControlURL: "http://127.0.0.1:4000/", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}), f
}

func TestEveryEMQXPodGetsAKwokExecForEmqxCtl(t *testing.T) {
	sim, f := execTestSimulator(t, map[string]int{"POST": 201})
	sim.ensureExec(context.Background(), execTestPod(), "emqx@core 0/x")
	if len(f.requests) != 1 {
		t.Fatalf("requests %+v, want one POST", f.requests)
	}
	req := f.requests[0]
	if req.method != "POST" || req.path != "/apis/kwok.x-k8s.io/v1alpha1/namespaces/ns/execs" || req.contentType != "application/json" {
		t.Errorf("request %s %s (%s)", req.method, req.path, req.contentType)
	}
	got, _ := json.Marshal(req.body)
	want := `{"apiVersion":"kwok.x-k8s.io/v1alpha1","kind":"Exec","metadata":{"name":"core-0","namespace":"ns",` +
		`"ownerReferences":[{"apiVersion":"v1","kind":"Pod","name":"core-0","uid":"uid-1"}]},"spec":{"execs":[{"containers":["emqx"],` +
		`"local":{"envs":[{"name":"EMQX_SIM_CTL_URL","value":"http://127.0.0.1:4000/sim/nodes/emqx@core%200%2Fx/ctl"}]}}]}}`
	if string(got) != want {
		t.Errorf("Exec\n%s\nwant\n%s", got, want)
	}
}

func TestAnExecLeftByAnEarlierPodIsTakenOver(t *testing.T) {
	sim, f := execTestSimulator(t, map[string]int{"POST": 409, "PATCH": 200})
	sim.ensureExec(context.Background(), execTestPod(), "emqx@core-0")
	if len(f.requests) != 2 || f.requests[1].method != "PATCH" || f.requests[1].path != "/apis/kwok.x-k8s.io/v1alpha1/namespaces/ns/execs/core-0" ||
		f.requests[1].contentType != "application/merge-patch+json" {
		t.Fatalf("requests %+v, want a POST then a merge PATCH of the Exec", f.requests)
	}
	owner := f.requests[1].body["metadata"].(map[string]any)["ownerReferences"].([]any)[0].(map[string]any)
	if owner["uid"] != "uid-1" {
		t.Errorf("the patched Exec is owned by %v, want the new pod", owner)
	}
}

func TestNoExecWithoutTheCRDOrTheControlURL(t *testing.T) {
	sim, f := execTestSimulator(t, map[string]int{"POST": 404})
	sim.ensureExec(context.Background(), execTestPod(), "emqx@core-0") // logged, not fatal
	sim.ensureExec(context.Background(), execTestPod(), "emqx@core-0")
	if len(f.requests) != 2 {
		t.Errorf("requests %+v", f.requests)
	}
	// Unit tests run on a fake clientset, whose REST client is nil: no ControlURL, no call.
	New(fake.NewSimpleClientset(), Options{}).ensureExec(context.Background(), execTestPod(), "emqx@core-0")
}
