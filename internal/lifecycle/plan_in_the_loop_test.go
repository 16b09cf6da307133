package lifecycle

import (
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// The plan in the loop: a small model of one cluster (two StatefulSets with OnDelete pods, EMQX's
// rule that a replicant joins only a core of its release, evacuations that take a few seconds)
// runs Decide once a second while a random user changes images, config and sizes and deletes
// pods. After every second the chaos checker's budget is judged the way the soak judges it, with
// memory: a kept node down is one whose pod name ran before (not only its current pod) and now is
// missing, terminating, not running or evacuating; pods the "user" deleted count apart until their
// node runs again. The single-moment property tests cannot see this memory.
func TestThePlanInTheLoopKeepsOneNodeDown(t *testing.T) {
	const runs, seconds, quiet, seedBase = 200, 400, 120, 20261209
	var steps int
	for run := 0; run < runs; run++ {
		m := newModel(rand.New(rand.NewSource(int64(seedBase + run))))
		for sec := 0; sec < seconds; sec++ {
			m.quiet = sec >= seconds-quiet
			m.second()
			if why := m.judge(); why != "" {
				t.Fatalf("run %d (seed %d), second %d: %s\nlast events:\n%s\nstate:\n%s", run, seedBase+run, sec, why,
					strings.Join(m.events[max(0, len(m.events)-25):], "\n"), describe(m.state()))
			}
		}
		if why := m.converged(); why != "" {
			t.Fatalf("run %d (seed %d): not converged %d s after the user stopped: %s\nlast events:\n%s\nstate:\n%s", run, seedBase+run, quiet, why,
				strings.Join(m.events[max(0, len(m.events)-25):], "\n"), describe(m.state()))
		}
		steps += m.steps
	}
	t.Logf("%d runs, %d lifecycle steps executed", runs, steps)
	if steps < runs*10 {
		t.Fatalf("only %d steps executed: the model rarely reaches the plan's work", steps)
	}
}

var modelImages = []string{"emqx/emqx-enterprise:5.8.6", "emqx/emqx-enterprise:5.9.1", "emqx/emqx-enterprise:5.10.0"}

type modelPod struct {
	pod       corev1.Pod
	readyAt   time.Time // zero: not ready yet
	goneAt    time.Time // set once deleted: the pod disappears then
	joined    bool      // its node runs in the cluster
	evacuated bool      // its evacuation moved every client
}

type modelSet struct {
	set       appsv1.StatefulSet
	revImage  map[string]string // revision → image
	latest    string            // the revision of the template as it is now
	observeAt time.Time         // when the controller observes the latest generation
	want      int32
}

type model struct {
	r        *rand.Rand
	e        *v2beta1.EMQX
	now      time.Time
	sets     map[string]*modelSet // by role
	pods     map[string]*modelPod // by name
	evacs    map[string]time.Time // by node: started
	revs     int
	uids     int
	steps    int
	events   []string
	ran      map[string]bool      // pod name → its node ran since the name was last wanted
	disrupts map[string]string    // pod name → UID the user deleted
	departed map[string]bool      // pod name → the cluster did not keep it, and it has not served since
	unlisted map[string]time.Time // node → first seen Ready but not joined (the controller's clock)
	held     map[string]bool      // pod name → EMQX's release rule held it, and it has not served since
	dropped  string               // a node the operator stopped with its clients
	quiet    bool                 // the user has stopped changing anything
}

func newModel(r *rand.Rand) *model {
	e := &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}}
	e.Spec.CoreTemplate.Spec.Replicas = ptr.To(int32(2 + r.Intn(2)))
	e.Spec.ReplicantTemplate = &v2beta1.ReplicantTemplate{}
	e.Spec.ReplicantTemplate.Spec.Replicas = ptr.To(int32(1 + r.Intn(3)))
	e.Default()
	e.Spec.UpdateStrategy.InitialDelaySeconds = ptr.To(int32(r.Intn(3)))
	m := &model{r: r, e: e, now: now, sets: map[string]*modelSet{}, pods: map[string]*modelPod{}, evacs: map[string]time.Time{},
		ran: map[string]bool{}, disrupts: map[string]string{}, departed: map[string]bool{},
		unlisted: map[string]time.Time{}, held: map[string]bool{}}
	image := modelImages[r.Intn(len(modelImages))]
	for _, role := range []string{v2beta1.RoleCore, v2beta1.RoleReplicant} {
		ms := &modelSet{revImage: map[string]string{}}
		ms.set.Name = "c-" + role
		ms.set.Generation, ms.set.Status.ObservedGeneration = 1, 1
		m.sets[role] = ms
		m.setImage(role, image)
		ms.set.Status.ObservedGeneration = ms.set.Generation
		ms.set.Status.UpdateRevision = ms.latest
	}
	m.sets[v2beta1.RoleCore].want = *e.Spec.CoreTemplate.Spec.Replicas
	m.sets[v2beta1.RoleReplicant].want = *e.Spec.ReplicantTemplate.Spec.Replicas
	for role, ms := range m.sets {
		ms.set.Spec.Replicas = ptr.To(ms.want)
		for i := int32(0); i < ms.want; i++ {
			name := fmt.Sprintf("%s-%d", ms.set.Name, i)
			m.pods[name] = m.newPod(role, name)
			m.pods[name].readyAt, m.pods[name].joined = now.Add(-time.Hour), true
			m.pods[name].pod.CreationTimestamp = metav1.NewTime(now.Add(-time.Hour))
			m.ran[name] = true
		}
	}
	return m
}

// setImage changes the role's template: a new revision, which the controller observes 0–2 s later.
func (m *model) setImage(role, image string) {
	m.revs++
	ms := m.sets[role]
	ms.latest = fmt.Sprintf("%s-r%d", role, m.revs)
	ms.revImage[ms.latest] = image
	ms.set.Spec.Template.Spec.Containers = []corev1.Container{{Name: EMQXContainer, Image: image}}
	ms.set.Generation++
	ms.observeAt = m.now.Add(time.Duration(m.r.Intn(3)) * time.Second)
}

func (m *model) newPod(role, name string) *modelPod {
	m.uids++
	ms := m.sets[role]
	rev := ms.set.Status.UpdateRevision
	return &modelPod{pod: corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(fmt.Sprint(m.uids)), CreationTimestamp: metav1.NewTime(m.now),
			Labels: map[string]string{appsv1.ControllerRevisionHashLabelKey: rev}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: EMQXContainer, Image: ms.revImage[rev]}}}}}
}

func (m *model) logf(format string, args ...any) {
	m.events = append(m.events, fmt.Sprintf("%s ", m.now.Sub(now))+fmt.Sprintf(format, args...))
}

// second plays one second: the user, the controllers, EMQX, then one pass of the operator.
func (m *model) second() {
	m.now = m.now.Add(time.Second)
	m.user()
	m.controllers()
	m.emqx()
	m.operator()
}

// user: now and then a new image or a restart-only config change (a new revision of the same
// image), a new size, or a pod deleted by hand.
func (m *model) user() {
	if m.quiet {
		return
	}
	switch m.r.Intn(40) {
	case 0, 1:
		image := modelImages[m.r.Intn(len(modelImages))]
		m.logf("user: image %s", image)
		m.setImage(v2beta1.RoleCore, image)
		m.setImage(v2beta1.RoleReplicant, image)
	case 2:
		m.logf("user: restart-only config change")
		for _, role := range []string{v2beta1.RoleCore, v2beta1.RoleReplicant} {
			m.setImage(role, m.sets[role].set.Spec.Template.Spec.Containers[0].Image)
		}
	case 3:
		m.sets[v2beta1.RoleCore].want = int32(1 + m.r.Intn(3))
		m.logf("user: %d cores", m.sets[v2beta1.RoleCore].want)
	case 4:
		m.sets[v2beta1.RoleReplicant].want = int32(m.r.Intn(4))
		m.logf("user: %d replicants", m.sets[v2beta1.RoleReplicant].want)
	case 5:
		names := m.names()
		if len(names) == 0 {
			return
		}
		name := names[m.r.Intn(len(names))]
		if p := m.pods[name]; p.goneAt.IsZero() {
			m.disrupts[name] = string(p.pod.UID)
			m.logf("user: deletes %s", name)
			m.delete(name)
		}
	}
}

func (m *model) names() []string {
	out := make([]string, 0, len(m.pods))
	for name := range m.pods {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func (m *model) delete(name string) {
	p := m.pods[name]
	if !p.goneAt.IsZero() {
		return
	}
	p.pod.DeletionTimestamp = ptr.To(metav1.NewTime(m.now))
	p.goneAt = m.now.Add(time.Duration(1+m.r.Intn(2)) * time.Second)
}

// controllers: the StatefulSet controller observes new generations, removes pods past its
// replicas and recreates missing ones on the update revision; deleted pods disappear; new pods
// turn Ready 1–3 s after they are made.
func (m *model) controllers() {
	for role, ms := range m.sets {
		if ms.set.Status.ObservedGeneration < ms.set.Generation && !m.now.Before(ms.observeAt) {
			ms.set.Status.ObservedGeneration, ms.set.Status.UpdateRevision = ms.set.Generation, ms.latest
		}
		for name, p := range m.pods {
			if strings.HasPrefix(name, ms.set.Name+"-") && int32(Ordinal(name)) >= *ms.set.Spec.Replicas {
				m.delete(name)
			}
			if !p.goneAt.IsZero() && !m.now.Before(p.goneAt) {
				delete(m.pods, name)
				delete(m.evacs, NodeName(m.e, name))
			}
		}
		for i := int32(0); i < *ms.set.Spec.Replicas; i++ {
			name := fmt.Sprintf("%s-%d", ms.set.Name, i)
			if _, ok := m.pods[name]; !ok && ms.set.Status.ObservedGeneration == ms.set.Generation {
				m.pods[name] = m.newPod(role, name)
				m.pods[name].readyAt = m.now.Add(time.Duration(1+m.r.Intn(3)) * time.Second)
			}
		}
	}
}

// emqx: a core runs once Ready; a replicant joins once Ready and a running core of its release
// exists, and stays joined. Evacuations move every client within 1–3 s.
func (m *model) emqx() {
	for _, name := range m.names() {
		p := m.pods[name]
		if p.joined || p.readyAt.IsZero() || m.now.Before(p.readyAt) || !p.goneAt.IsZero() {
			continue
		}
		if strings.HasPrefix(name, "c-core-") || m.coreOfRelease(p) {
			p.joined = true
		}
	}
	for node, started := range m.evacs {
		if m.now.Sub(started) >= time.Duration(1+m.r.Intn(3))*time.Second {
			m.pods[PodOfNode(m.e, node)].evacuated = true
		}
	}
}

func (m *model) coreOfRelease(replicant *modelPod) bool {
	for name, p := range m.pods {
		if strings.HasPrefix(name, "c-core-") && p.joined && p.goneAt.IsZero() && emqxRelease(&p.pod) == emqxRelease(&replicant.pod) {
			return true
		}
	}
	return false
}

// state is what the operator observes (the pods, the StatefulSets, GET /nodes, the evacuations).
func (m *model) state() *State {
	e := m.e.DeepCopy()
	e.Spec.CoreTemplate.Spec.Replicas = ptr.To(m.sets[v2beta1.RoleCore].want)
	e.Spec.ReplicantTemplate.Spec.Replicas = ptr.To(m.sets[v2beta1.RoleReplicant].want)
	s := &State{Cluster: e, NodesKnown: true, Now: m.now, Evacuations: map[string]emqxapi.Evacuation{}, EvacuationStarted: map[string]time.Time{},
		UnlistedSince: map[string]time.Time{}, Outsiders: map[string]Outsider{}}
	for _, role := range []string{v2beta1.RoleCore, v2beta1.RoleReplicant} {
		ms := m.sets[role]
		ro := Role{Name: role, Set: ms.set.DeepCopy(), Want: ms.want}
		for _, name := range m.names() {
			if !strings.HasPrefix(name, ms.set.Name+"-") {
				continue
			}
			p := m.pods[name]
			pod := *p.pod.DeepCopy()
			status, since := corev1.ConditionFalse, pod.CreationTimestamp.Time
			if !p.readyAt.IsZero() && !m.now.Before(p.readyAt) {
				status, since = corev1.ConditionTrue, p.readyAt
			}
			pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(since)}}
			ro.Pods = append(ro.Pods, pod)
			node := NodeName(e, name)
			if !p.joined {
				// Ready outside the cluster: it never joined, so it has no clients (its own API
				// says so when the controller asks).
				if status == corev1.ConditionTrue {
					if _, ok := m.unlisted[node]; !ok {
						m.unlisted[node] = m.now
					}
					s.UnlistedSince[node], s.Outsiders[node] = m.unlisted[node], Outsider{}
				}
				continue
			}
			delete(m.unlisted, node)
			conns := int64(10)
			if p.evacuated {
				conns = 0
			}
			s.Nodes = append(s.Nodes, emqxapi.Node{Node: node, NodeStatus: "running", Role: role, Edition: "Enterprise", Connections: conns})
			if started, ok := m.evacs[node]; ok {
				ev := emqxapi.Evacuation{Node: node, State: "evicting_conns"}
				ev.Stats.InitialConnected, ev.Stats.CurrentConnected = 10, conns
				if p.evacuated {
					ev.State = "waiting_takeover"
				}
				s.Evacuations[node], s.EvacuationStarted[node] = ev, started
			}
		}
		if role == v2beta1.RoleCore {
			s.Core = ro
		} else {
			s.Replicant = ro
		}
	}
	return s
}

// operator: one pass of Decide, its replicas applied and its step executed.
func (m *model) operator() {
	p := Decide(*m.state())
	for role, replicas := range map[string]int32{v2beta1.RoleCore: p.CoreReplicas, v2beta1.RoleReplicant: p.ReplicantReplicas} {
		ms := m.sets[role]
		if *ms.set.Spec.Replicas != replicas {
			m.logf("operator: %s replicas %d → %d", role, *ms.set.Spec.Replicas, replicas)
			for i := replicas; i < *ms.set.Spec.Replicas; i++ {
				m.stopping(fmt.Sprintf("%s-%d", ms.set.Name, i))
			}
			ms.set.Spec.Replicas = ptr.To(replicas)
		}
	}
	st := p.Step
	if st.Kind == ReplacePod {
		m.stopping(st.Pod.Name)
	}
	switch st.Kind {
	case StartEvacuation:
		m.evacs[st.Node] = m.now
	case StopEvacuation:
		delete(m.evacs, st.Node)
		if p := m.pods[PodOfNode(m.e, st.Node)]; p != nil {
			p.evacuated = false
		}
	case ReplacePod:
		m.delete(st.Pod.Name)
	case Invite:
		if pod := m.pods[PodOfNode(m.e, st.Node)]; pod != nil && m.coreOfRelease(pod) {
			pod.joined = true
		}
	case None:
		return
	}
	m.steps++
	m.logf("operator: %s %s%s (%s: %s)", st.Kind, st.Node, podName(st.Pod), p.Reason, p.Message)
}

// stopping: the operator is about to stop the pod's node. One that serves clients must have been
// evacuated, unless no other node that stays runs to take them.
func (m *model) stopping(name string) {
	p := m.pods[name]
	if p == nil || !p.joined || p.evacuated || !p.goneAt.IsZero() || m.dropped != "" {
		return
	}
	for other, o := range m.pods {
		role := v2beta1.RoleReplicant
		if strings.HasPrefix(other, "c-core-") {
			role = v2beta1.RoleCore
		}
		if other != name && o.joined && o.goneAt.IsZero() && int32(Ordinal(other)) < m.sets[role].want {
			m.dropped = fmt.Sprintf("%s stopped with its clients, not evacuated, while %s could take them", name, other)
			return
		}
	}
}

func podName(p *corev1.Pod) string {
	if p == nil {
		return ""
	}
	return p.Name
}

// judge is the chaos checker's budget, with its memory of which pod names ran.
func (m *model) judge() string {
	var down []string
	for _, role := range []string{v2beta1.RoleCore, v2beta1.RoleReplicant} {
		ms := m.sets[role]
		for i := int32(0); i < 6; i++ { // past any size the model makes
			name := fmt.Sprintf("%s-%d", ms.set.Name, i)
			p, exists := m.pods[name]
			wanted := i < *ms.set.Spec.Replicas
			if !exists && !wanted {
				delete(m.ran, name)
			}
			serving := exists && p.goneAt.IsZero() && p.joined
			if serving {
				m.ran[name] = true
				if uid, ok := m.disrupts[name]; ok && string(p.pod.UID) != uid {
					delete(m.disrupts, name) // the user's deletion is over: its node runs again
				}
			}
			_, evacuating := m.evacs[NodeName(m.e, name)]
			kept := i < min(*ms.set.Spec.Replicas, ms.want)
			switch {
			case !kept:
				m.departed[name] = true // going by the user's wish, also if the user wants it back
			case serving && !evacuating:
				delete(m.departed, name)
			}
			if serving {
				delete(m.held, name)
			}
			if _, disrupted := m.disrupts[name]; !m.ran[name] || disrupted || m.departed[name] || !kept {
				continue
			}
			if exists && role == v2beta1.RoleReplicant && heldByReleaseRule(p, m.pods) {
				m.held[name] = true
			}
			if m.held[name] {
				continue // as the chaos checker: EMQX's release rule held it; it counts again once it serves
			}
			if !serving || evacuating {
				down = append(down, name)
			}
		}
	}
	if m.dropped != "" {
		return m.dropped
	}
	if len(down) > 1 {
		return fmt.Sprintf("%d nodes down at once: %v", len(down), down)
	}
	return ""
}

// heldByReleaseRule mirrors the chaos checker's exemption: a replicant that has not joined and
// whose release no running core runs. EMQX refuses it until the rollout brings such a core; the
// user's spec changes (a new image while a replicant was being replaced) or deletions put it
// there, never a step of its own — the rollout replaces no serving replicant before a core of its
// target release runs.
func heldByReleaseRule(p *modelPod, pods map[string]*modelPod) bool {
	if p.joined {
		return false
	}
	for name, c := range pods {
		if strings.HasPrefix(name, "c-core-") && c.joined && c.goneAt.IsZero() && emqxRelease(&c.pod) == emqxRelease(&p.pod) {
			return false
		}
	}
	return true
}

// converged: every wanted pod runs the target revision and serves, nothing else is left, no
// evacuation runs and the StatefulSets have the sizes the user asked for.
func (m *model) converged() string {
	if len(m.evacs) > 0 {
		return fmt.Sprintf("evacuations left: %v", m.evacs)
	}
	for _, ms := range m.sets {
		if *ms.set.Spec.Replicas != ms.want {
			return fmt.Sprintf("%s has %d replicas, the user wants %d", ms.set.Name, *ms.set.Spec.Replicas, ms.want)
		}
		for i := int32(0); i < ms.want; i++ {
			name := fmt.Sprintf("%s-%d", ms.set.Name, i)
			p, ok := m.pods[name]
			if !ok || !p.joined || p.pod.Labels[appsv1.ControllerRevisionHashLabelKey] != ms.set.Status.UpdateRevision {
				return name + " does not serve on the target revision"
			}
		}
	}
	if n := len(m.pods); n != int(m.sets[v2beta1.RoleCore].want+m.sets[v2beta1.RoleReplicant].want) {
		return fmt.Sprintf("%d pods left", n)
	}
	return ""
}
