package simulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// Options configure a simulator.
type Options struct {
	// TimeScale multiplies every simulated duration (1 = EMQX's real timings; 0.1 = ten times faster).
	TimeScale float64
	// BootTime is how long a node takes from container start to a running API.
	BootTime time.Duration
	// JoinDelay is how long DNS discovery takes to join a booted node to its peers.
	JoinDelay time.Duration
	// DSTransitionTime is how long one durable-storage replica-set transition (a shard replica
	// joining or leaving a site) takes; each shard runs one transition at a time.
	DSTransitionTime time.Duration
	// PluginAllowTTL is how long an `emqx ctl plugins allow` grant lasts on the releases where
	// grants expire (default 5 min, emqx6-behaviour.md §5).
	PluginAllowTTL time.Duration
	// ControlURL is the control API's base URL ("http://127.0.0.1:PORT"). When set, every EMQX pod
	// gets a kwok Exec that runs `kubectl exec <pod> -- emqx ctl …` through it (kwok_exec.go);
	// empty (unit tests on a fake clientset): no Exec objects.
	ControlURL string
	// VolumesDir holds each PersistentVolumeClaim as a directory <VolumesDir>/<namespace>/<claim>
	// (the layout of test/jobrunner): a pod that is not EMQX and works in a mounted claim (the
	// operator's package reader) gets a kwok Exec that runs commands there. Empty: none.
	VolumesDir string
	// Port is the dashboard/API port served on each pod IP.
	Port int
	Log  *slog.Logger
}

// Defaults are EMQX-like timings before scaling.
func (o *Options) defaults() {
	if o.TimeScale <= 0 {
		o.TimeScale = 1
	}
	if o.BootTime == 0 {
		o.BootTime = 5 * time.Second
	}
	if o.JoinDelay == 0 {
		o.JoinDelay = 5 * time.Second
	}
	if o.DSTransitionTime == 0 {
		o.DSTransitionTime = 2 * time.Second
	}
	if o.PluginAllowTTL == 0 {
		o.PluginAllowTTL = PluginAllowTTL
	}
	if o.Port == 0 {
		o.Port = 18083
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
}

// Simulator serves simulated EMQX nodes for the pods of one Kubernetes cluster.
type Simulator struct {
	opts Options
	kc   kubernetes.Interface
	w    *world
	log  *slog.Logger

	// serversMu guards servers, tlsListeners and closed. Lock order: w.mu before serversMu.
	serversMu sync.Mutex
	servers   map[string]*apiServer // by pod UID
	// tlsListeners are the nodes' TLS listeners, by pod UID.
	tlsListeners map[string][]*tlsListener
	// runCtx is Run's context, for nodes the control API starts again (SetFaults).
	runCtx context.Context
	// closed: Run is stopping; no listener is registered any more.
	closed bool
	// wg counts the goroutines the simulator starts (boots, stops, API and TLS servers); Run
	// returns only once they have, so nothing binds a pod IP after it.
	wg sync.WaitGroup

	callsMu sync.Mutex
	calls   []Call
	// apiCallsTotal counts the REST API calls answered, also those the bounded log has dropped
	// (not the ctl commands, preStop hooks and file reloads the log also holds).
	apiCallsTotal int64

	stoppingMu sync.Mutex
	stopping   map[string]bool // pods whose graceful stop is under way, by UID

	// execCRDMissing logs once that the rig has no kwok Exec CRD (kwok_exec.go).
	execCRDMissing sync.Once
	// claimExecs are the pods (by UID) given an Exec for their claim.
	claimExecs sync.Map
}

// Call records one API call a node answered (tests read them from the control API).
type Call struct {
	Time   time.Time `json:"time"`
	Node   string    `json:"node"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Status int       `json:"status"`
	// Local is the address the call arrived at (the pod IP and port the node listens on).
	Local string `json:"local"`
	// Remote is the caller's address.
	Remote string `json:"remote"`
	Body   string `json:"body,omitempty"`
}

// New returns a simulator for the cluster kc talks to.
func New(kc kubernetes.Interface, opts Options) *Simulator {
	opts.defaults()
	s := &Simulator{opts: opts, kc: kc, w: newWorld(), log: opts.Log, servers: map[string]*apiServer{}, tlsListeners: map[string][]*tlsListener{}, stopping: map[string]bool{}}
	s.w.dsTransition = s.scaled(opts.DSTransitionTime)
	return s
}

// scaled converts an EMQX duration into wall time.
func (s *Simulator) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * s.opts.TimeScale)
}

// simSeconds converts wall time into simulated seconds.
func (s *Simulator) simSeconds(d time.Duration) float64 { return d.Seconds() / s.opts.TimeScale }

// Run watches pods and claims until ctx ends, then stops every node.
func (s *Simulator) Run(ctx context.Context) error {
	s.serversMu.Lock()
	s.runCtx = ctx
	s.serversMu.Unlock()
	factory := informers.NewSharedInformerFactory(s.kc, 0)
	pods := factory.Core().V1().Pods().Informer()
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { s.onPod(ctx, o) },
		UpdateFunc: func(_, o any) { s.onPod(ctx, o) },
		DeleteFunc: func(o any) { s.onPodGone(o); s.forgetClaimExec(o) },
	}
	if _, err := pods.AddEventHandler(handler); err != nil {
		return err
	}
	claims := factory.Core().V1().PersistentVolumeClaims().Informer()
	if _, err := claims.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { s.provision(ctx, o) },
		UpdateFunc: func(_, o any) { s.provision(ctx, o) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	s.log.Info("simulator running", "timeScale", s.opts.TimeScale)

	tick := 200 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// The event handlers have returned: no node starts or stops any more. Then every
			// listener is closed and none can open; then the boots and stops under way end.
			factory.Shutdown()
			s.stopAll()
			s.wg.Wait()
			return nil
		case now := <-t.C:
			s.tickEvacuations(now, tick)
			s.discover(now)
			s.validateLicences(ctx, now)
			s.rereadLicenses(ctx, now)
			s.rereadPEMs(ctx, now)
		}
	}
}

func (s *Simulator) onPod(ctx context.Context, o any) {
	p, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	if p.Labels[LabelInstance] == "" {
		s.ensureClaimExec(ctx, p)
		return
	}
	if p.DeletionTimestamp != nil {
		s.stopPod(ctx, p)
		return
	}
	c := emqxContainer(p)
	if c == nil {
		return
	}
	if p.Annotations[AnnotationImage] == "" {
		verdict := "known"
		if ImageVersion(c.Image) == "" {
			verdict = "unknown"
		}
		s.annotate(ctx, p, AnnotationImage, verdict)
		return
	}
	if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || ImageVersion(c.Image) == "" {
		return
	}
	s.w.mu.Lock()
	existing := s.nodeOfPod(string(p.UID))
	s.w.mu.Unlock()
	if existing == nil {
		s.startNode(ctx, p)
	}
}

func (s *Simulator) nodeOfPod(uid string) *node {
	for _, n := range s.w.nodes {
		if n.podUID == uid {
			return n
		}
	}
	return nil
}

// startNode boots a node for a running pod: after the boot time its API listens and /status
// answers 200; a core that comes back on its data volume returns to its cluster. The node is
// "running" (Nodes, the control API, the other nodes' APIs) only once its listeners are bound.
func (s *Simulator) startNode(ctx context.Context, p *corev1.Pod) {
	spec, err := readNodeSpec(ctx, s.kc, p)
	if err != nil {
		s.log.Warn("pod cannot start as an EMQX node", "pod", p.Namespace+"/"+p.Name, "error", err)
		return
	}
	s.ensureExec(ctx, p, spec.name)
	n := &node{
		name: spec.name, podKey: p.Namespace + "/" + p.Name, podUID: string(p.UID), ip: p.Status.PodIP,
		role: spec.role, version: spec.version, cookie: spec.cookie, dnsName: spec.dnsName, namespace: p.Namespace,
		bootKeys: spec.bootKeys, tlsSpecs: spec.tlsListeners, licKey: spec.licenseKey, licFile: spec.licenseFile, licRead: time.Now(),
		mgmtID: spec.mgmtID, mgmtSecret: spec.mgmtSecret, image: spec.image, ds: spec.ds, volume: spec.dataVolume, promBasicAuth: spec.promBasicAuth,
		state: booting, files: map[string][]byte{},
	}
	s.w.mu.Lock()
	if old, ok := s.w.nodes[n.name]; ok {
		// The same pod starts its node again only after a crash, and not while a Stopped fault holds it.
		if old.podUID == n.podUID && (!old.crashed || old.faults.Stopped) {
			s.w.mu.Unlock()
			return
		}
		n.faults = old.faults // faults stick to the node name across restarts
	}
	if f, ok := s.w.pendingFaults[n.name]; ok {
		n.faults = f
		delete(s.w.pendingFaults, n.name)
	}
	s.w.nodes[n.name] = n
	s.w.mu.Unlock()
	s.log.Info("node booting", "node", n.name, "pod", n.podKey, "version", n.version, "role", n.role)

	s.wg.Go(func() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.scaled(s.opts.BootTime)):
		}
		if err := s.boot(ctx, n, p); err != nil {
			s.log.Error("node failed to boot", "node", n.name, "error", err)
		}
	})
}

// boot binds the node's listeners, then publishes it as running, then serves: whoever sees the
// node running can connect to it at once (a connection that arrives before Serve runs waits in
// the listen backlog). A node whose API cannot listen stays booting, as EMQX would not start.
func (s *Simulator) boot(ctx context.Context, n *node, p *corev1.Pod) error {
	if !s.current(n) {
		return nil // replaced or gone meanwhile
	}
	api, err := s.openAPI(n)
	if err != nil {
		return err
	}
	tlsLs := s.openTLS(ctx, n, p)
	closeAll := func() {
		api.close()
		for _, l := range tlsLs {
			_ = l.ln.Close()
		}
	}

	s.w.mu.Lock()
	if !s.currentLocked(n) {
		s.w.mu.Unlock()
		closeAll() // stopped, replaced or gone while the listeners opened
		return nil
	}
	s.serversMu.Lock()
	if s.closed {
		s.serversMu.Unlock()
		s.w.mu.Unlock()
		closeAll()
		return nil
	}
	s.servers[n.podUID] = api
	s.tlsListeners[n.podUID] = tlsLs
	s.serversMu.Unlock()
	lic, licErr := ParseLicense(n.licKey, n.version, time.Now())
	if licErr != nil {
		lic = defaultLicense(n.version)
	}
	var c *cluster
	if per := s.w.persist[n.name]; per != nil && n.role == "core" && per.volume != n.volume {
		// A new PVC is an empty data directory: no cluster to return to, no site, no evacuation.
		delete(s.w.persist, n.name)
	}
	if per := s.w.persist[n.name]; per != nil && n.role == "core" {
		if prev := s.w.clusters[per.clusterID]; prev != nil && prev.members[n.name] {
			c = prev
			s.w.join(n, c)
		}
		if per.evacuation != nil {
			// An evacuation persists in the data dir and resumes in evicting_conns on restart.
			n.evac = &evacuation{opts: *per.evacuation, state: "evicting_conns", enteredState: time.Now()}
		}
	}
	if c == nil {
		c = s.w.newCluster(n)
		c.license = lic
		for _, k := range n.bootKeys {
			c.upsertKey(k)
		}
	}
	if n.role == "core" {
		per := s.w.persist[n.name]
		if per == nil {
			per = &persist{volume: n.volume}
			s.w.persist[n.name] = per
		}
		per.clusterID, per.evacuation = c.id, nil // the DS sites on the data dir stay
		if n.evac != nil {
			per.evacuation = &n.evac.opts
		}
	}
	n.state = running
	n.startedAt = time.Now()
	s.licenceAppStarts(n, n.startedAt)
	s.w.dsStart(n, n.startedAt)
	faults := n.faults
	s.w.mu.Unlock()

	s.wg.Go(func() {
		if err := api.srv.Serve(api.ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Error("node API stopped", "node", n.name, "error", err)
		}
	})
	for _, l := range tlsLs {
		s.wg.Go(func() { serveTLS(l.ln) })
	}
	s.annotate(ctx, p, AnnotationReady, fmt.Sprint(!faults.Unhealthy))
	s.log.Info("node running", "node", n.name, "ip", n.ip)
	return nil
}

// current reports whether n is still the booting node of its name.
func (s *Simulator) current(n *node) bool {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	return s.currentLocked(n)
}

func (s *Simulator) currentLocked(n *node) bool {
	return s.w.nodes[n.name] == n && n.state == booting
}

// apiServer is a node's HTTP API: its bound listener and the server that serves it.
type apiServer struct {
	ln  net.Listener
	srv *http.Server
}

// close stops the server and closes the listener itself: http.Server.Close only closes the
// listeners Serve has begun to track, and a Serve that starts later closes its own only when it
// returns. Closing ln here frees the address before close returns.
func (a *apiServer) close() {
	_ = a.srv.Close()
	_ = a.ln.Close()
}

// openAPI binds the node's API listener (18083, or 8081 for EMQX 4); nothing serves it yet.
func (s *Simulator) openAPI(n *node) (*apiServer, error) {
	port, handler := s.opts.Port, s.api(n.name, n.podUID)
	if isV4(n.version) {
		port, handler = ManagementPortV4, s.apiV4(n.name, n.podUID)
	}
	addr := net.JoinHostPort(n.ip, fmt.Sprint(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return &apiServer{ln: ln, srv: &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}}, nil
}

// stopPod runs a graceful stop: the node stops (a core stays in the cluster as stopped; a
// replicant simply disappears), then the pod is marked stopped so kwok removes it.
func (s *Simulator) stopPod(ctx context.Context, p *corev1.Pod) {
	s.stoppingMu.Lock()
	if s.stopping[string(p.UID)] {
		s.stoppingMu.Unlock()
		return
	}
	s.stopping[string(p.UID)] = true
	s.stoppingMu.Unlock()
	s.wg.Go(func() {
		if opts, script, ok := preStopEvacuation(p); ok {
			s.runPreStop(ctx, p, opts, script)
		}
		s.stopNode(string(p.UID))
		s.removePod(ctx, p)
	})
}

// removePod ends a terminating pod once its node has stopped, as the kubelet does once the
// container exits: deleted with no grace left and, as the kubelet's status manager does, only
// this pod (UID precondition) — never a successor the StatefulSet made under the same name.
// It tries until the pod is gone: the API server may be down for a while (restarted by a test).
func (s *Simulator) removePod(ctx context.Context, p *corev1.Pod) {
	uid := p.UID
	for wait := 100 * time.Millisecond; ctx.Err() == nil; wait = min(2*wait, 2*time.Second) {
		err := s.kc.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &uid}})
		if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return // gone, or the name is another pod's now
		}
		s.log.Warn("removing a stopped pod; trying again", "pod", p.Namespace+"/"+p.Name, "uid", uid, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

func (s *Simulator) onPodGone(o any) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	if p, ok := o.(*corev1.Pod); ok {
		s.stopNode(string(p.UID))
	}
}

// stopNode stops the pod's node. Its listeners are closed before it is published as stopped, and
// in the same critical section as boot registers them: a node still booting either never
// registers them (boot sees it stopped and closes them) or has them closed here.
func (s *Simulator) stopNode(podUID string) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	s.serversMu.Lock()
	api, tlsLs := s.servers[podUID], s.tlsListeners[podUID]
	delete(s.servers, podUID)
	delete(s.tlsListeners, podUID)
	s.serversMu.Unlock()
	if api != nil {
		api.close() // closes the sockets; it does not wait for handlers (which take w.mu)
	}
	for _, l := range tlsLs {
		_ = l.ln.Close()
	}
	n := s.nodeOfPod(podUID)
	if n == nil || n.state == stopped {
		return
	}
	s.w.dsSync(s.w.clusterOf(n), time.Now()) // transitions due while the node ran complete first
	n.state = stopped
	n.connections = 0
	if n.role == "replicant" {
		if c := s.w.clusterOf(n); c != nil {
			delete(c.members, n.name)
		}
		delete(s.w.nodes, n.name)
	}
	s.log.Info("node stopped", "node", n.name)
}

// stopAll closes every listener; after it no boot registers one (see closed).
func (s *Simulator) stopAll() {
	s.serversMu.Lock()
	defer s.serversMu.Unlock()
	s.closed = true
	for uid, api := range s.servers {
		api.close()
		delete(s.servers, uid)
	}
	for uid, ls := range s.tlsListeners {
		for _, l := range ls {
			_ = l.ln.Close()
		}
		delete(s.tlsListeners, uid)
	}
}

// discover is DNS-SRV autocluster: a running node that is alone joins the cluster of the oldest
// running core with the same discovery name and cookie, once the join delay has passed.
func (s *Simulator) discover(now time.Time) {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range w.nodes {
		if n.state != running || n.dnsName == "" || n.faults.NeverJoins || now.Sub(n.startedAt) < s.scaled(s.opts.JoinDelay) {
			continue
		}
		if c := w.clusterOf(n); c != nil && len(w.runningMembers(c)) > 1 {
			continue
		}
		var oldest *node
		for _, m := range w.nodes {
			if m == n || m.state != running || m.role != "core" || m.dnsName != n.dnsName || m.namespace != n.namespace {
				continue
			}
			if oldest == nil || m.startedAt.Before(oldest.startedAt) {
				oldest = m
			}
		}
		if oldest == nil || oldest.cookie != n.cookie {
			continue // a cookie mismatch is "nodedown" to ekka: it keeps retrying
		}
		if n.role == "core" && n.startedAt.Before(oldest.startedAt) {
			continue // the older node waits for the younger to join it
		}
		target := w.clusterOf(oldest)
		// Autoclustering joins through ekka directly: the peer's licence is not asked
		// (can_i_join is the REST and CLI join's); the joiner's licence application judges after.
		if reason := s.versionRefusal(n, target); reason != "" {
			continue
		}
		w.join(n, target)
		s.licenceAppStarts(n, now)
		s.log.Info("node joined", "node", n.name, "via", oldest.name)
	}
}

// joinRefusal says why n may not join c through the REST invite ("" when it may): the peer's
// can_i_join refuses for its single-node licence, then the release rule of replicants.
func (s *Simulator) joinRefusal(n *node, c *cluster) string {
	if c.license.Type == "community" {
		return fmt.Sprintf(`"Node %s has a single node license"`, s.w.runningMembers(c)[0].name)
	}
	return s.versionRefusal(n, c)
}

// versionRefusal: a replicant only connects to cores of its release (emqx/emqx#12786).
func (s *Simulator) versionRefusal(n *node, c *cluster) string {
	if n.role == "replicant" && !s.w.hasCompatibleCore(c, n.version) {
		return "no_available_core_node_at_same_version"
	}
	return ""
}

func (s *Simulator) annotate(ctx context.Context, p *corev1.Pod, key, value string) {
	s.annotateKey(ctx, p.Namespace+"/"+p.Name, string(p.UID), key, value)
}

func (s *Simulator) record(c Call) {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	s.calls = append(s.calls, c)
	if c.isAPICall() {
		s.apiCallsTotal++
	}
	if len(s.calls) > 5000 {
		s.calls = s.calls[len(s.calls)-5000:]
	}
}

// LicenseRereadInterval is how often EMQX re-reads a file:// licence (emqx_license_checker).
const LicenseRereadInterval = 2 * time.Minute

// rereadLicenses re-reads file:// licences like EMQX's licence checker: a key that parses replaces
// the cluster's licence; one that does not is logged and the old licence stays.
func (s *Simulator) rereadLicenses(ctx context.Context, now time.Time) {
	type due struct {
		name, file, version string
		pod                 *corev1.Pod
	}
	var todo []due
	s.w.mu.Lock()
	for _, n := range s.w.nodes {
		// EMQX 4 reads license.file at start only; a new one needs `emqx_ctl license reload`.
		if n.state == running && n.licFile != "" && !isV4(n.version) && now.Sub(n.licRead) >= s.scaled(LicenseRereadInterval) {
			n.licRead = now
			ns, name, _ := strings.Cut(n.podKey, "/")
			todo = append(todo, due{name: n.name, file: n.licFile, version: n.version,
				pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}})
		}
	}
	s.w.mu.Unlock()
	for _, d := range todo {
		pod, err := s.kc.CoreV1().Pods(d.pod.Namespace).Get(ctx, d.pod.Name, metav1.GetOptions{})
		if err != nil {
			continue
		}
		c := emqxContainer(pod)
		if c == nil {
			continue
		}
		content, err := mountedFile(ctx, s.kc, pod, c, d.file)
		if err != nil {
			continue
		}
		lic, err := ParseLicense(content, d.version, now)
		s.record(Call{Time: now, Node: d.name, Method: "REREAD", Path: "file://" + d.file, Status: map[bool]int{true: 200, false: 400}[err == nil]})
		if err != nil {
			s.log.Warn("emqx_license_refresh_failed", "node", d.name)
			continue
		}
		s.w.mu.Lock()
		if n := s.w.nodes[d.name]; n != nil {
			if c := s.w.clusterOf(n); c != nil && c.license != lic {
				c.license = lic
			}
		}
		s.w.mu.Unlock()
	}
}

// Calls returns a copy of the calls recorded so far (the control API's GET /sim/calls).
func (s *Simulator) Calls() []Call {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallCount is how many REST API calls the nodes have answered since the simulator started.
func (s *Simulator) CallCount() int64 {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	return s.apiCallsTotal
}

// isAPICall: a call to the REST API, not a ctl command, a preStop hook or a file reload (whose
// Method is CTL, EXEC, REREAD or PEM_RELOAD).
func (c Call) isAPICall() bool {
	switch c.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}
