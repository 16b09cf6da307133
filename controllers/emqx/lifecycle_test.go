package emqx

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/credentials"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/lifecycle"
	"github.com/broker-ops/emqx-operator/internal/status"
)

// TestStrayEvacuationOfATerminatingPodIsKept: the cache may still show a pod as running when its
// deletion has reached the API server and its preStop hook has started evacuating it. The
// operator must not end that evacuation (its clients would be sent back to a node about to stop);
// it ends the evacuation of a pod that stays.
func TestStrayEvacuationOfATerminatingPodIsKept(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "evac", 3, 0)
	create(t, e)
	r, stoppedCalls := reconcilerCountingPosts(t, "/evacuation/stop")

	leaving, staying := corePod(ns, "evac-core-1"), corePod(ns, "evac-core-2")
	leaving.Finalizers = []string{"test.emqx.io/hold"}
	for _, p := range []*corev1.Pod{leaving, staying} {
		create(t, p)
	}
	t.Cleanup(func() {
		_ = directAPI.Patch(context.Background(), leaving, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`)))
	})
	if err := directAPI.Delete(context.Background(), leaving); err != nil {
		t.Fatal(err)
	}
	// What the plan saw: both pods running and Ready, as a lagging cache would show them.
	cached := []corev1.Pod{*readyCopy(corePod(ns, "evac-core-1")), *readyCopy(corePod(ns, "evac-core-2"))}
	o := &status.Observed{Pods: cached}
	stop := func(pod string) {
		t.Helper()
		plan := lifecycle.Plan{Step: lifecycle.Step{Kind: lifecycle.StopEvacuation, Node: e.NodeName(pod)}, Message: "ending " + pod}
		if err := r.execute(context.Background(), e, plan, credentials.APIKey{Key: "k", Secret: "s"}, o); err != nil {
			t.Fatalf("StopEvacuation %s: %v", pod, err)
		}
	}
	stop("evac-core-1")
	stop("evac-core-0") // no such pod: gone, so its evacuation is not ended either
	if stopped := stoppedCalls(); len(stopped) != 0 {
		t.Errorf("evacuations ended for a terminating or missing pod: %v", stopped)
	}
	stop("evac-core-2")
	if stopped := stoppedCalls(); len(stopped) != 1 || !strings.Contains(stopped[0], "evac-core-2") {
		t.Errorf("stop calls %v, want one for evac-core-2", stopped)
	}
}

// reconcilerCountingPosts returns a reconciler whose EMQX answers every call with {} and records
// the paths of the POSTs ending in suffix; calls returns them so far.
func reconcilerCountingPosts(t *testing.T, suffix string) (r *EMQXReconciler, calls func() []string) {
	var mu sync.Mutex
	var paths []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, suffix) {
			mu.Lock()
			paths = append(paths, req.URL.Path)
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	}))
	t.Cleanup(api.Close)
	r, _ = newReconciler()
	r.EMQXClients = func(_ string, creds emqxapi.Credentials) *emqxapi.Client { return emqxapi.New(api.URL, creds, nil) }
	return r, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(paths)
	}
}

func corePod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{v2beta1.LabelDBRole: v2beta1.RoleCore}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "emqx", Image: "emqx/emqx-enterprise:5.8.6"}}},
	}
}

func readyCopy(p *corev1.Pod) *corev1.Pod {
	p.Status = corev1.PodStatus{PodIP: "127.0.0.1", Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	return p
}

// TestANodeInAnotherClusterIsNotInvited: a node missing from the answering core's list is invited
// only when it runs alone; one that runs with peers is the larger part of a split (the answering
// core came back alone), and an invite would make it drop its cluster's data.
func TestANodeInAnotherClusterIsNotInvited(t *testing.T) {
	e := &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "split"}}
	e.Default()
	var mu sync.Mutex
	var invited []string
	var peers []emqxapi.Node // what the invitee's own API lists
	serve := func(w http.ResponseWriter, req *http.Request, nodes []emqxapi.Node) {
		w.Header().Set("Content-Type", "application/json")
		if req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, "/invite") {
			mu.Lock()
			invited = append(invited, req.URL.Path)
			mu.Unlock()
			return
		}
		_ = json.NewEncoder(w).Encode(nodes)
	}
	self := []emqxapi.Node{{Node: e.NodeName("split-core-0"), NodeStatus: "running", Role: "core"}}
	answering := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { serve(w, req, self) }))
	defer answering.Close()
	invitee := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		nodes := peers
		mu.Unlock()
		serve(w, req, nodes)
	}))
	defer invitee.Close()
	r, _ := newReconciler()
	r.EMQXClients = func(base string, creds emqxapi.Credentials) *emqxapi.Client {
		if base == emqxapi.PodBaseURL("127.0.0.2") {
			return emqxapi.New(invitee.URL, creds, nil)
		}
		return emqxapi.New(answering.URL, creds, nil)
	}
	pod := func(name, ip string) corev1.Pod {
		p := *corePod("ns", name)
		p.Status = corev1.PodStatus{PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		return p
	}
	answered := emqxapi.Endpoint{Pod: "split-core-0", BaseURL: emqxapi.PodBaseURL("127.0.0.1")}
	o := &status.Observed{Pods: []corev1.Pod{pod("split-core-0", "127.0.0.1"), pod("split-core-1", "127.0.0.2")}, Answered: answered}
	node := e.NodeName("split-core-1")
	plan := lifecycle.Plan{Step: lifecycle.Step{Kind: lifecycle.Invite, Node: node}, Message: "inviting"}
	key := credentials.APIKey{Key: "k", Secret: "s"}

	mu.Lock()
	peers = []emqxapi.Node{{Node: node, NodeStatus: "running"}, {Node: e.NodeName("split-core-2"), NodeStatus: "running"}}
	mu.Unlock()
	err := r.execute(context.Background(), e, plan, key, o)
	if err == nil || !strings.Contains(err.Error(), "runs in another cluster with "+e.NodeName("split-core-2")) {
		t.Errorf("invite of a node with peers: %v, want it refused naming them", err)
	}
	mu.Lock()
	if len(invited) != 0 {
		t.Fatalf("invited %v", invited)
	}
	mu.Unlock()

	// An invitee that cannot be asked is not judged safe: no invite this pass.
	noAddress := &status.Observed{Pods: []corev1.Pod{pod("split-core-0", "127.0.0.1"), pod("split-core-1", "")}, Answered: answered}
	if err := r.execute(context.Background(), e, plan, key, noAddress); err == nil || !strings.Contains(err.Error(), "not inviting "+node+" yet") {
		t.Errorf("invite of a node that cannot be asked: %v, want it put off", err)
	}

	// One-sided views: the peers it lists are ones the answering core lists running too (the
	// same cluster, seen before the invitee's join shows on the answering side): invited.
	o.Nodes = []emqxapi.Node{{Node: e.NodeName("split-core-0"), NodeStatus: "running"}, {Node: e.NodeName("split-core-2"), NodeStatus: "running"}}
	if err := r.execute(context.Background(), e, plan, key, o); err != nil {
		t.Fatalf("invite of a node whose peers the answering core lists: %v", err)
	}
	o.Nodes = nil

	mu.Lock()
	peers = []emqxapi.Node{{Node: node, NodeStatus: "running"}, {Node: e.NodeName("split-core-2"), NodeStatus: "stopped"}}
	mu.Unlock()
	if err := r.execute(context.Background(), e, plan, key, o); err != nil {
		t.Fatalf("invite of a node running alone: %v", err)
	}
	mu.Lock()
	if len(invited) != 2 {
		t.Errorf("invites %v, want two", invited)
	}
	mu.Unlock()

	// The invitee joins the node serving the invite: when the node whose list the plan judged
	// fails, no other core is asked instead (it may be the lone side of a split).
	var otherInvited int
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPut {
			mu.Lock()
			otherInvited++
			mu.Unlock()
		}
		serve(w, req, self)
	}))
	defer other.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	r.EMQXClients = func(base string, creds emqxapi.Credentials) *emqxapi.Client {
		switch base {
		case emqxapi.PodBaseURL("127.0.0.2"):
			return emqxapi.New(invitee.URL, creds, nil)
		case emqxapi.PodBaseURL("127.0.0.3"):
			return emqxapi.New(other.URL, creds, nil)
		}
		return emqxapi.New(failing.URL, creds, nil)
	}
	withOther := &status.Observed{Pods: append(o.Pods, pod("split-core-2", "127.0.0.3")), Answered: answered}
	if err := r.execute(context.Background(), e, plan, key, withOther); err == nil {
		t.Errorf("invite while the answering core fails: nil error, want the failure")
	}
	if err := r.execute(context.Background(), e, plan, key, &status.Observed{Pods: withOther.Pods}); err == nil || !strings.Contains(err.Error(), "no node answered") {
		t.Errorf("invite with no answering node: %v, want it put off", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if otherInvited != 0 || len(invited) != 2 {
		t.Errorf("invites: %d to another core, %v to the answering one; want none more", otherInvited, invited)
	}
}

// TestEvacuationWaitsWhileTheCacheLagsBehindThePods: the plan judged every other node up from the
// cache; when the API server already shows one of them going (this operator replaced it a
// moment ago), no evacuation starts — it would be a second node down. Once the view the plan
// judged matches the API server's, it starts.
func TestEvacuationWaitsWhileTheCacheLagsBehindThePods(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "lag", 3, 0)
	create(t, e)
	r, startCalls := reconcilerCountingPosts(t, "/evacuation/start")
	var pods []*corev1.Pod
	for _, name := range []string{"lag-core-0", "lag-core-1", "lag-core-2"} {
		p := corePod(ns, name)
		maps.Copy(p.Labels, e.SelectorLabels())
		create(t, p)
		if err := directAPI.Status().Update(ctx, readyCopy(p)); err != nil {
			t.Fatal(err)
		}
		pods = append(pods, p)
	}
	view := func() *status.Observed {
		t.Helper()
		list := &corev1.PodList{}
		if err := directAPI.List(ctx, list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		return &status.Observed{Pods: list.Items}
	}
	evacuate := func(o *status.Observed) int {
		t.Helper()
		plan := lifecycle.Plan{Step: lifecycle.Step{Kind: lifecycle.StartEvacuation, Node: e.NodeName("lag-core-2")}, Message: "evacuating lag-core-2"}
		if err := r.execute(ctx, e, plan, credentials.APIKey{Key: "k", Secret: "s"}, o); err != nil {
			t.Fatalf("StartEvacuation: %v", err)
		}
		return len(startCalls())
	}
	judged := view()
	// Replaced a moment ago: terminating (held by a finalizer) in the API server, up in the view.
	going := pods[1]
	if err := directAPI.Patch(ctx, going, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":["test.emqx.io/hold"]}}`))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = directAPI.Patch(ctx, going, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`)))
	})
	if err := directAPI.Delete(ctx, going); err != nil {
		t.Fatal(err)
	}
	if n := evacuate(judged); n != 0 {
		t.Fatalf("an evacuation started while the API server showed %s terminating and the judged view did not", going.Name)
	}
	if n := evacuate(view()); n != 1 {
		t.Errorf("%d evacuations started from a view that matches the API server's, want 1", n)
	}
}

// TestInviteRefusal: an invited node drops its cluster's data. Core peers always hold it back;
// replicant peers only while the answering side runs no more cores than the invitee.
func TestInviteRefusal(t *testing.T) {
	core := func(n, st string) emqxapi.Node { return emqxapi.Node{Node: n, NodeStatus: st, Role: "core"} }
	repl := func(n string) emqxapi.Node { return emqxapi.Node{Node: n, NodeStatus: "running", Role: "replicant"} }
	main := []emqxapi.Node{core("c0", "running"), core("c1", "running"), repl("r0")}
	for _, tc := range []struct {
		name        string
		theirs      []emqxapi.Node
		ours        []emqxapi.Node
		wantRefused string
	}{
		{"runs alone", []emqxapi.Node{core("c2", "running")}, main, ""},
		{"its peers stopped", []emqxapi.Node{core("c2", "running"), core("c3", "stopped")}, main, ""},
		{"peers the answering side runs too", []emqxapi.Node{core("c2", "running"), core("c1", "running"), repl("r0")}, main, ""},
		{"a core peer", []emqxapi.Node{core("c2", "running"), core("c3", "running")}, main, "another cluster with c3"},
		{"a peer of unknown role counts as a core", []emqxapi.Node{core("c2", "running"), {Node: "c3", NodeStatus: "running"}}, main, "another cluster with c3"},
		{"core and replicant peers", []emqxapi.Node{core("c2", "running"), core("c3", "running"), repl("r9")}, main, "another cluster with c3, r9"},
		{"only replicant peers, the answering side runs more cores", []emqxapi.Node{core("c2", "running"), repl("r9")}, main, ""},
		{"only replicant peers, the answering core runs alone", []emqxapi.Node{core("c2", "running"), repl("r9")}, []emqxapi.Node{core("c0", "running"), core("c1", "stopped"), repl("r0")}, "serves replicants r9"},
		{"a replicant invitee whose core is elsewhere", []emqxapi.Node{repl("r9"), core("c2", "running")}, main, "another cluster with c2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := tc.theirs[0].Node
			got := inviteRefusal(node, tc.theirs, tc.ours)
			if (tc.wantRefused == "") != (got == "") || !strings.Contains(got, tc.wantRefused) {
				t.Errorf("inviteRefusal(%s) = %q, want refusal containing %q", node, got, tc.wantRefused)
			}
		})
	}
}

// TestANodeOutsideTheClusterIsReadAndEvacuatedThroughItsOwnAPI: a departing replicant that the
// answering core does not list runs outside the cluster (chaos soak SEED=1, c2 at 01:13:31: alone,
// on a release no core ran, with 100 clients). Only its own API knows it: the operator reads its
// clients and evacuation there, and starts its evacuation there, with no migrate_to — never
// through the cluster's cores, which would answer "node not found" or, failing over, reach a
// node of the wrong cluster. A node whose own API does not answer is left out of the reading.
func TestANodeOutsideTheClusterIsReadAndEvacuatedThroughItsOwnAPI(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "out", 1, 2)
	create(t, e)
	outsider := e.NodeName("out-replicant-1")
	type call struct{ path, body string }
	var mu sync.Mutex
	posts := map[string][]call{}
	evacuating := false
	fake := func(name string, answer func(w http.ResponseWriter, path string)) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if req.Method == http.MethodPost {
				var body strings.Builder
				_, _ = io.Copy(&body, req.Body)
				posts[name] = append(posts[name], call{req.URL.Path, body.String()})
				if name == "outsider" {
					evacuating = true
				}
			}
			w.Header().Set("Content-Type", "application/json")
			answer(w, req.URL.Path)
		}))
		t.Cleanup(s.Close)
		return s
	}
	core := fake("core", func(w http.ResponseWriter, path string) {
		if path == "/api/v5/nodes" {
			_ = json.NewEncoder(w).Encode([]emqxapi.Node{{Node: e.NodeName("out-core-0"), NodeStatus: "running", Role: "core", Connections: 5}})
			return
		}
		_, _ = w.Write([]byte("{}"))
	})
	alone := fake("outsider", func(w http.ResponseWriter, path string) {
		switch path {
		case "/api/v5/nodes":
			_ = json.NewEncoder(w).Encode([]emqxapi.Node{{Node: outsider, NodeStatus: "running", Role: "replicant", Connections: 100}})
		case "/api/v5/load_rebalance/global_status":
			if evacuating {
				_, _ = w.Write([]byte(`{"evacuations":[{"node":"` + outsider + `","state":"evicting_conns","stats":{"initial_connected":100,"current_connected":60}}]}`))
				return
			}
			_, _ = w.Write([]byte(`{"evacuations":[]}`))
		default:
			_, _ = w.Write([]byte("{}"))
		}
	})
	silent := fake("silent", func(w http.ResponseWriter, _ string) { w.WriteHeader(http.StatusServiceUnavailable) })
	byIP := map[string]string{"127.0.0.2": core.URL, "127.0.0.3": alone.URL, "127.0.0.4": silent.URL}
	r, _ := newReconciler()
	r.EMQXClients = func(base string, creds emqxapi.Credentials) *emqxapi.Client {
		for ip, url := range byIP {
			if base == emqxapi.PodBaseURL(ip) {
				return emqxapi.New(url, creds, nil)
			}
		}
		t.Fatalf("the operator asked %s, which is no pod of the cluster", base)
		return nil
	}
	for name, ip := range map[string]string{"out-core-0": "127.0.0.2", "out-replicant-1": "127.0.0.3", "out-replicant-0": "127.0.0.4"} {
		p := corePod(ns, name)
		maps.Copy(p.Labels, e.SelectorLabels())
		create(t, p)
		p = readyCopy(p)
		p.Status.PodIP = ip
		if err := directAPI.Status().Update(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	list := &corev1.PodList{}
	if err := directAPI.List(ctx, list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	o := &status.Observed{Pods: list.Items}
	creds := credentials.APIKey{Key: "k", Secret: "s"}
	apiCreds := emqxapi.Credentials{Key: "k", Secret: "s"}

	seen := r.readOutsiders(ctx, e, o, []string{"out-replicant-1", "out-replicant-0"}, apiCreds)
	if len(seen) != 1 || seen[outsider].Connections != 100 || seen[outsider].Evacuation != nil {
		t.Fatalf("outsiders read %+v, want only %s with 100 clients, not evacuating", seen, outsider)
	}
	plan := lifecycle.Plan{Step: lifecycle.Step{Kind: lifecycle.EvacuateOutsider, Node: outsider,
		Evacuation: emqxapi.EvacuationOptions{ConnEvictRate: 500, SessEvictRate: 500, WaitTakeover: 10, WaitHealthCheck: 10}},
		Message: "evacuating 100 clients from " + outsider}
	if err := r.execute(ctx, e, plan, creds, o); err != nil {
		t.Fatalf("EvacuateOutsider: %v", err)
	}
	mu.Lock()
	got, wrong := slices.Clone(posts["outsider"]), len(posts["core"])+len(posts["silent"])
	mu.Unlock()
	if wrong != 0 || len(got) != 1 || got[0].path != "/api/v5/load_rebalance/"+outsider+"/evacuation/start" || strings.Contains(got[0].body, "migrate_to") {
		t.Fatalf("evacuation start calls: outsider %+v, elsewhere %d; want one start at the outsider itself, with no migrate_to", got, wrong)
	}
	seen = r.readOutsiders(ctx, e, o, []string{"out-replicant-1"}, apiCreds)
	if ev := seen[outsider].Evacuation; ev == nil || ev.Stats.CurrentConnected != 60 {
		t.Errorf("outsider read %+v after the start, want its evacuation with 60 clients left", seen)
	}
}

// TestEvacuationClockStartsFreshForEachEvacuation: the bound of an evacuation counts from its own
// start. A time left from an earlier evacuation of the same node (an earlier scale-in of the same
// ordinal) would have the bound passed at once, and the node would be stopped with its clients.
// The clock drops a node EMQX lists as not evacuating (read this pass), times an evacuation it
// sees but did not start (after an operator restart) from when it is first seen, and keeps the
// time of a node nothing was read about.
func TestEvacuationClockStartsFreshForEachEvacuation(t *testing.T) {
	r := &EMQXReconciler{}
	long := time.Now().Add(-time.Hour)
	at := func(node string) (time.Time, bool) {
		v, ok := r.evacuations.snapshot()[node]
		return v, ok
	}
	recent := func(node string) bool {
		v, ok := at(node)
		return ok && time.Since(v) < time.Minute
	}
	r.evacuations.restart("a")
	r.evacuations.start["a"] = long // an evacuation of an hour ago, never cleared
	r.evacuationStarted("a", false)
	if !recent("a") {
		t.Errorf("a fresh start kept the time of an earlier evacuation: %v", r.evacuations.snapshot())
	}
	r.evacuations.start["a"] = long
	r.evacuationStarted("a", true)
	if v, _ := at("a"); !v.Equal(long) {
		t.Errorf("an evacuation already running (started by a previous leader) was re-timed: %v", v)
	}

	listed := func(nodes ...string) []emqxapi.Node {
		var out []emqxapi.Node
		for _, n := range nodes {
			out = append(out, emqxapi.Node{Node: n, NodeStatus: "running"})
		}
		return out
	}
	for _, n := range []string{"idle", "stale-read", "evacuating", "silent"} {
		r.evacuations.start[n] = long
	}
	st := lifecycle.State{NodesKnown: true, Nodes: listed("idle", "stale-read", "evacuating", "seen-after-restart"),
		Evacuations: map[string]emqxapi.Evacuation{"evacuating": {}, "seen-after-restart": {}},
		Outsiders:   map[string]lifecycle.Outsider{"outsider": {Evacuation: &emqxapi.Evacuation{}}}}
	r.syncEvacuationClock(&st, false)
	if _, ok := at("idle"); !ok {
		t.Errorf("a node's time dropped on a pass that did not read the evacuations")
	}
	r.syncEvacuationClock(&st, true)
	if _, ok := at("idle"); ok {
		t.Errorf("a node EMQX lists as not evacuating kept its time")
	}
	if v, _ := at("evacuating"); !v.Equal(long) {
		t.Errorf("a running evacuation was re-timed: %v", v)
	}
	if !recent("seen-after-restart") || !recent("outsider") {
		t.Errorf("evacuations seen but not started here are not timed from now: %v", r.evacuations.snapshot())
	}
	if v, _ := at("silent"); !v.Equal(long) {
		t.Errorf("a node nothing was read about lost its time")
	}
	if len(st.EvacuationStarted) != len(r.evacuations.snapshot()) {
		t.Errorf("the plan's EvacuationStarted %v is not the clock", st.EvacuationStarted)
	}
}

// TestThePlanStepReadsAnOutsiderBeforeTheScaleIn: the plan step itself asks the departing
// replicant that the answering core does not list (alone: no core runs its release) for its own
// view, and so plans its evacuation through its own API instead of taking it as stopped and
// lowering the replicas with its 100 clients on it.
func TestThePlanStepReadsAnOutsiderBeforeTheScaleIn(t *testing.T) {
	e := newEMQX("ns", "wire", 1, 1)
	outsider := e.NodeName("wire-replicant-1")
	alone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch req.URL.Path {
		case "/api/v5/nodes":
			_ = json.NewEncoder(w).Encode([]emqxapi.Node{{Node: outsider, NodeStatus: "running", Role: "replicant", Edition: "Enterprise", Connections: 100}})
		default:
			_, _ = w.Write([]byte(`{"evacuations":[]}`))
		}
	}))
	t.Cleanup(alone.Close)
	r, _ := newReconciler()
	r.EMQXClients = func(base string, creds emqxapi.Credentials) *emqxapi.Client {
		if base != emqxapi.PodBaseURL("127.0.0.3") {
			t.Errorf("the plan step asked %s, want only the outsider's own API", base)
		}
		return emqxapi.New(alone.URL, creds, nil)
	}
	pod := func(name, role, image, ip string) corev1.Pod {
		p := readyCopy(corePod("ns", name))
		p.Labels[v2beta1.LabelDBRole] = role
		p.Spec.Containers[0].Image = image
		p.Status.PodIP = ip
		p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(time.Now().Add(-time.Hour))
		return *p
	}
	set := func(name string, replicas int32) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Generation: 1},
			Spec:   appsv1.StatefulSetSpec{Replicas: ptr.To(replicas)},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: 1}}
	}
	o := &status.Observed{
		CoreSet: set(e.CoreWorkloadName(), 1), ReplicantSet: set(e.ReplicantWorkloadName(), 2),
		Pods: []corev1.Pod{
			pod("wire-core-0", v2beta1.RoleCore, "emqx/emqx-enterprise:5.8.6", "127.0.0.2"),
			pod("wire-replicant-0", v2beta1.RoleReplicant, "emqx/emqx-enterprise:5.8.6", "127.0.0.4"),
			pod("wire-replicant-1", v2beta1.RoleReplicant, "emqx/emqx-enterprise:5.8.7", "127.0.0.3"),
		},
		Nodes: []emqxapi.Node{
			{Node: e.NodeName("wire-core-0"), NodeStatus: "running", Role: "core", Edition: "Enterprise"},
			{Node: e.NodeName("wire-replicant-0"), NodeStatus: "running", Role: "replicant", Edition: "Enterprise"},
		},
	}
	p := &pass{e: e, observed: o, operatorKey: credentials.APIKey{Key: "k", Secret: "s"}}
	if _, err := r.planStep(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if p.plan.Step.Kind != lifecycle.EvacuateOutsider || p.plan.Step.Node != outsider || p.plan.ReplicantReplicas != 2 {
		t.Errorf("plan %+v, want %s evacuated through its own API and the replicants kept at 2", p.plan, outsider)
	}
}

// A pass whose Apply changed a StatefulSet takes no lifecycle step: its plan was made on the
// StatefulSets before the change.
func TestNoStepOnTheViewBeforeTheApply(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "changed", 2, 0)
	r, _ := newReconciler()
	p := &pass{e: e, observed: &status.Observed{}, objectsChanged: true,
		plan: lifecycle.Plan{Step: lifecycle.Step{Kind: lifecycle.StartEvacuation, Node: e.NodeName("changed-core-1")}}}
	before := fakeEMQX.Requests()
	out, err := r.executeStep(context.Background(), p)
	if err != nil || out.Stops() {
		t.Fatalf("executeStep = %+v, %v; want the pass to go on to Converged", out, err)
	}
	if got := fakeEMQX.Requests() - before; got != 0 {
		t.Errorf("%d EMQX requests: the step planned before the apply was taken", got)
	}
}
