package v3beta1

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/randfill"

	"github.com/broker-ops/emqx-operator/api/internal/convert"
	"github.com/broker-ops/emqx-operator/api/internal/converttest"
	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// filler also gives config roots JSON values under plain names.
func filler(seed int64) *randfill.Filler {
	return converttest.Filler(seed, func(r *map[string]apiextensionsv1.JSON, c randfill.Continue) {
		*r = map[string]apiextensionsv1.JSON{}
		for i := range c.Intn(3) {
			raw, _ := json.Marshal(map[string]any{"n": c.Int63n(1000), "s": fmt.Sprintf("v%d", c.Intn(9))})
			(*r)[fmt.Sprintf("root%d", i)] = apiextensionsv1.JSON{Raw: raw}
		}
	})
}

func sameJSON(t *testing.T, what string, want, got any) {
	t.Helper()
	converttest.SameJSON(t, what, want, got)
}

func clearAnnotation(meta *metav1.ObjectMeta) {
	delete(meta.Annotations, ConversionAnnotation)
	if len(meta.Annotations) == 0 {
		meta.Annotations = nil
	}
}

// Every v2beta1 object survives v2beta1 → v3beta1 → v2beta1 unchanged, once defaulted as stored
// objects are. Node entries are listed by their role, as the operator lists them.
func TestHubRoundTripThroughV3beta1KeepsEveryField(t *testing.T) {
	for seed := int64(0); seed < 300; seed++ {
		in := &v2beta1.EMQX{}
		filler(seed).Fill(in)
		in.TypeMeta = metav1.TypeMeta{}
		in.Name = "c"
		clearAnnotation(&in.ObjectMeta)
		in.Default()
		in.Spec.UpdateStrategy.Type = "Recreate" // its only value
		for i := range in.Status.CoreNodes {
			in.Status.CoreNodes[i].Role = v2beta1.RoleCore
		}
		for i := range in.Status.ReplicantNodes {
			in.Status.ReplicantNodes[i].Role = v2beta1.RoleReplicant
		}
		mid := &EMQX{}
		if err := mid.ConvertFrom(in.DeepCopy()); err != nil {
			t.Fatalf("seed %d: to v3beta1: %v", seed, err)
		}
		out := &v2beta1.EMQX{}
		if err := mid.ConvertTo(out); err != nil {
			t.Fatalf("seed %d: back: %v", seed, err)
		}
		sameJSON(t, fmt.Sprintf("seed %d", seed), in, out)
	}
}

// Every v3beta1 object survives v3beta1 → v2beta1 → v3beta1 unchanged, once it holds what the API
// server's defaulting gives it. Status facts the operator derives (pod names, selectors, the node
// list's order) are written as it derives them.
func TestV3beta1RoundTripThroughTheHubKeepsEveryField(t *testing.T) {
	for seed := int64(0); seed < 300; seed++ {
		in := &EMQX{}
		filler(seed).Fill(in)
		in.TypeMeta = metav1.TypeMeta{}
		in.Name = "c"
		clearAnnotation(&in.ObjectMeta)
		normaliseLikeTheAPIServer(in)
		mid := &v2beta1.EMQX{}
		if err := in.DeepCopy().ConvertTo(mid); err != nil {
			t.Fatalf("seed %d: to the hub: %v", seed, err)
		}
		out := &EMQX{}
		if err := out.ConvertFrom(mid); err != nil {
			t.Fatalf("seed %d: back: %v", seed, err)
		}
		sameJSON(t, fmt.Sprintf("seed %d", seed), in, out)
	}
}

func normaliseLikeTheAPIServer(e *EMQX) {
	s := &e.Spec
	s.UpdateStrategy.Type = "RollingUpdate"
	if ev := &s.UpdateStrategy.EvacuationStrategy; ev.Type != "Disabled" {
		ev.Type = "NodeEvacuation"
	}
	if ev := &s.UpdateStrategy.EvacuationStrategy; ev.WaitHealthCheck == nil {
		ev.WaitHealthCheck = ptr.To(DefaultWaitHealthCheck)
	}
	for _, p := range []*PodTemplateSpec{&s.CoreTemplate.Spec.PodTemplateSpec, &s.ReplicantTemplate.Spec.PodTemplateSpec} {
		p.DNSConfig = nil // refused
		if p.PodSecurityContext == nil {
			p.PodSecurityContext = DefaultPodSecurityContext()
		}
	}
	if s.CoreTemplate.Spec.Replicas == nil {
		s.CoreTemplate.Spec.Replicas = ptr.To(DefaultCoreReplicas)
	}
	if s.ReplicantTemplate.Spec.Replicas == nil {
		s.ReplicantTemplate.Spec.Replicas = ptr.To(DefaultReplicantReplicas)
	}
	st := &e.Status
	st.CoreNodes, st.ReplicantNodes, st.NodeEvacuations, st.ReplicantNodesStatus.CollisionCount = nil, nil, nil, nil
	st.CoreSelector = labels.SelectorFromSet((&v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Name: e.Name}}).RoleSelectorLabels(v2beta1.RoleCore)).String()
	if r := st.CoreRevisions; r != nil && *r == (Revisions{}) {
		st.CoreRevisions = nil
	}
	sort.SliceStable(st.ClusterNodes, func(i, j int) bool {
		return st.ClusterNodes[i].Role != v2beta1.RoleReplicant && st.ClusterNodes[j].Role == v2beta1.RoleReplicant
	})
	for i := range st.ClusterNodes {
		st.ClusterNodes[i].PodName = convert.PodOfNode(e.Name, st.ClusterNodes[i].Name)
	}
}

func toV3(t *testing.T, in *v2beta1.EMQX) *EMQX {
	t.Helper()
	out := &EMQX{}
	if err := out.ConvertFrom(in); err != nil {
		t.Fatal(err)
	}
	return out
}

func toHub(t *testing.T, in *EMQX) *v2beta1.EMQX {
	t.Helper()
	out := &v2beta1.EMQX{}
	if err := in.ConvertTo(out); err != nil {
		t.Fatal(err)
	}
	return out
}

func hubCluster() *v2beta1.EMQX {
	return &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}, Spec: v2beta1.EMQXSpec{Image: "emqx/emqx-enterprise:5.8.6"}}
}

func v3Cluster() *EMQX {
	return &EMQX{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}, Spec: EMQXSpec{Image: "emqx/emqx-enterprise:5.8.6"}}
}

// One row per default that differs between v2beta1 and v3beta1: each object keeps the defaults of
// the version it was written in, so a manifest that relied on v3beta1's volume never runs without
// it, and an old object never gains a volume (an immutable StatefulSet field) by being read as
// v3beta1 and written back.
func TestTheWrittenVersionsDefaultsAreMaterialised(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check func(t *testing.T)
	}{
		{"a v3beta1 object without a core template: one core with a 500Mi volume", func(t *testing.T) {
			core := toHub(t, v3Cluster()).Spec.CoreTemplate.Spec
			if *core.Replicas != 1 || core.VolumeClaimTemplates.Resources.Requests.Storage().String() != "500Mi" {
				t.Errorf("core %d with %v", *core.Replicas, core.VolumeClaimTemplates.Resources.Requests)
			}
		}},
		{"a v2beta1 object without a volume stays without one", func(t *testing.T) {
			e := hubCluster()
			e.Spec.CoreTemplate.Spec.Replicas = ptr.To(int32(3))
			v := toV3(t, e)
			if !equality.Semantic.DeepEqual(v.Spec.CoreTemplate.Spec.PersistentVolumeClaimSpec, corev1.PersistentVolumeClaimSpec{}) {
				t.Fatalf("v3beta1 volume %+v", v.Spec.CoreTemplate.Spec.PersistentVolumeClaimSpec)
			}
			if back := toHub(t, v); back.Spec.CoreTemplate.Spec.VolumeClaimTemplates.Resources.Requests != nil {
				t.Errorf("gained a volume: %+v", back.Spec.CoreTemplate.Spec.VolumeClaimTemplates)
			}
		}},
		{"core replicas: v2beta1's one core written out", func(t *testing.T) {
			if got := toV3(t, hubCluster()).Spec.CoreTemplate.Spec.Replicas; got == nil || *got != 1 {
				t.Errorf("core replicas %v", got)
			}
		}},
		{"replicant replicas: v2beta1's two written out; no template is zero", func(t *testing.T) {
			e := hubCluster()
			if got := toV3(t, e).Spec.ReplicantTemplate.Spec.Replicas; got == nil || *got != 0 {
				t.Errorf("no template: replicas %v", got)
			}
			e.Spec.ReplicantTemplate = &v2beta1.ReplicantTemplate{}
			if got := toV3(t, e).Spec.ReplicantTemplate.Spec.Replicas; got == nil || *got != 2 {
				t.Errorf("a template without replicas: %v", got)
			}
		}},
		{"readiness probe and container security context: v2beta1's kept, v3beta1's not applied", func(t *testing.T) {
			e := hubCluster()
			e.Default()
			p := toV3(t, e).Spec.CoreTemplate.Spec
			if p.ReadinessProbe == nil || p.ReadinessProbe.HTTPGet.Path != "/status" || p.ContainerSecurityContext == nil {
				t.Errorf("readiness %+v, container security %+v", p.ReadinessProbe, p.ContainerSecurityContext)
			}
		}},
		{"pod security context: v3beta1's for a v3beta1 object, v2beta1's for a v2beta1 one", func(t *testing.T) {
			if got := toHub(t, v3Cluster()).Spec.CoreTemplate.Spec.PodSecurityContext; got.RunAsNonRoot == nil || !*got.RunAsNonRoot {
				t.Errorf("v3beta1: %+v", got)
			}
			if got := toV3(t, hubCluster()).Spec.CoreTemplate.Spec.PodSecurityContext; got.RunAsNonRoot != nil || got.FSGroupChangePolicy != nil {
				t.Errorf("v2beta1: %+v", got)
			}
		}},
		{"evacuation: v3beta1's wait for health checks for a v3beta1 object, the operator's 10 s for a v2beta1 one", func(t *testing.T) {
			hub := toHub(t, v3Cluster())
			if back := toV3(t, hub).Spec.UpdateStrategy.EvacuationStrategy; ptr.Deref(back.WaitHealthCheck, -1) != 60 || back.ConnectionEvictionRate != 1000 {
				t.Errorf("v3beta1: %+v", back)
			}
			if got := toV3(t, hubCluster()).Spec.UpdateStrategy.EvacuationStrategy; ptr.Deref(got.WaitHealthCheck, -1) != v2beta1.WaitHealthCheckSeconds || got.SessionEvictionRate != 1000 {
				t.Errorf("v2beta1: %+v", got)
			}
		}},
		{"initial delay: v2beta1's 10 s for a v3beta1 object (minReadySeconds is not mapped)", func(t *testing.T) {
			v := v3Cluster()
			v.Spec.CoreTemplate.Spec.MinReadySeconds = 30
			hub := toHub(t, v)
			if got := hub.Spec.UpdateStrategy.InitialDelaySeconds; ptr.Deref(got, -1) != 10 {
				t.Errorf("v3beta1: %v", got)
			}
			if back := toV3(t, hub); back.Spec.CoreTemplate.Spec.MinReadySeconds != 30 {
				t.Errorf("minReadySeconds %d after a round trip", back.Spec.CoreTemplate.Spec.MinReadySeconds)
			}
			e := hubCluster()
			e.Spec.UpdateStrategy.InitialDelaySeconds = ptr.To(int32(20))
			v = toV3(t, e)
			if v.Spec.CoreTemplate.Spec.MinReadySeconds != 0 || ptr.Deref(toHub(t, v).Spec.UpdateStrategy.InitialDelaySeconds, -1) != 20 {
				t.Errorf("v2beta1: minReadySeconds %d", v.Spec.CoreTemplate.Spec.MinReadySeconds)
			}
		}},
		{"a replicant template of v3beta1's defaults and zero replicants is no replicant template", func(t *testing.T) {
			v := v3Cluster()
			v.Spec.ReplicantTemplate = ReplicantTemplate{Spec: ReplicantTemplateSpec{Replicas: ptr.To(int32(0)), PodTemplateSpec: PodTemplateSpec{
				PodSecurityContext: DefaultPodSecurityContext(), LivenessProbe: DefaultLivenessProbe(), ReadinessProbe: DefaultReadinessProbe()}}}
			if got := toHub(t, v).Spec.ReplicantTemplate; got != nil {
				t.Errorf("replicant template %+v", got)
			}
			v.Spec.ReplicantTemplate.Spec.Env = []corev1.EnvVar{{Name: "A", Value: "1"}}
			if got := toHub(t, v).Spec.ReplicantTemplate; got == nil || *got.Spec.Replicas != 0 {
				t.Errorf("a template with its own settings is kept: %+v", got)
			}
		}},
	} {
		t.Run(tc.name, tc.check)
	}
}

// config.roots is configuration EMQX reads: written as HOCON in v2beta1's config.data, one root per
// line in the vendor's own format. Text that is exactly that rendering shows as roots again; any
// other text comes back as it was written, and roots never replace it.
func TestConfigRootsAndText(t *testing.T) {
	v := v3Cluster()
	v.Spec.Config.Roots = map[string]apiextensionsv1.JSON{
		"log":       {Raw: []byte(`{"console":{"level":"warning"}}`)},
		"dashboard": {Raw: []byte(`{"listeners":{"http":{"bind":18083}}}`)},
	}
	hub := toHub(t, v)
	if want := "\"dashboard\" = {\"listeners\":{\"http\":{\"bind\":18083}}}\n\"log\" = {\"console\":{\"level\":\"warning\"}}\n"; hub.Spec.Config.Data != want || hub.Spec.Config.Mode != "Merge" {
		t.Errorf("config %+v, want data %q", hub.Spec.Config, want)
	}
	back := toV3(t, hub)
	if len(back.Spec.Config.Roots) != 2 || back.Annotations != nil {
		t.Errorf("roots %v, annotations %v", back.Spec.Config.Roots, back.Annotations)
	}
	back.Spec.Config.Roots["log"] = apiextensionsv1.JSON{Raw: []byte(`{"console":{"level":"debug"}}`)}
	if data := toHub(t, back).Spec.Config.Data; !strings.Contains(data, `"log" = {"console":{"level":"debug"}}`) {
		t.Errorf("edited roots: %q", data)
	}

	e := hubCluster()
	e.Spec.Config.Data = "# tuned for 1M connections\nlog.console.level = warning\n"
	v = toV3(t, e)
	if len(v.Spec.Config.Roots) != 0 {
		t.Errorf("hand-written text shown as roots %v", v.Spec.Config.Roots)
	}
	if back := toHub(t, v.DeepCopy()); back.Spec.Config.Data != e.Spec.Config.Data {
		t.Errorf("the text did not come back: %q", back.Spec.Config.Data)
	}
}

// What the operator cannot do and must not ignore is refused, with a message saying what to do.
func TestRefusals(t *testing.T) {
	t.Run("a pod DNS config", func(t *testing.T) {
		v := v3Cluster()
		v.Spec.ReplicantTemplate.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}}
		err := v.ConvertTo(&v2beta1.EMQX{})
		if err == nil || !strings.Contains(err.Error(), "spec.replicantTemplate.spec.dnsConfig is not supported") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("roots replacing text roots cannot show", func(t *testing.T) {
		e := hubCluster()
		e.Spec.Config.Data = "node.name = ${HOSTNAME}\n"
		v := toV3(t, e)
		v.Spec.Config.Roots = map[string]apiextensionsv1.JSON{"log": {Raw: []byte(`{}`)}}
		err := v.ConvertTo(&v2beta1.EMQX{})
		if err == nil || !strings.Contains(err.Error(), "edit spec.config.data through apps.emqx.io/v2beta1") {
			t.Errorf("error %v", err)
		}
	})
}

// Fields without a v3beta1 counterpart ride in the annotation and come back.
func TestFieldsWithoutCounterpartComeBack(t *testing.T) {
	e := hubCluster()
	e.Spec.BootstrapAPIKeys = []v2beta1.BootstrapAPIKey{{Key: "ci", Secret: "secret-value"}}
	e.Spec.Config.Mode = "Replace"
	e.Spec.CoreTemplate.Spec.MaxUnavailable = ptr.To(intstrOf(1))
	e.Spec.CoreTemplate.Spec.ToleRations = []corev1.Toleration{{Key: "legacy", Operator: corev1.TolerationOpExists}}
	e.Spec.CoreTemplate.ObjectMeta.Name = "ignored-but-kept"
	e.Default()
	v := toV3(t, e)
	if v.Annotations[ConversionAnnotation] == "" || len(v.Spec.CoreTemplate.Spec.Tolerations) != 1 {
		t.Fatalf("annotations %v, tolerations %v", v.Annotations, v.Spec.CoreTemplate.Spec.Tolerations)
	}
	sameJSON(t, "back", e, toHub(t, v))
}

// The status in 3.0's shape: one node list with roles, v2beta1's sessions and clients under their
// new names, replicas and selectors for the scale subresource; the release candidates' separate
// lists are still read.
func TestStatusInTheV3beta1Shape(t *testing.T) {
	e := hubCluster()
	e.Status.CoreNodes = []v2beta1.EMQXNode{{Node: "emqx@c-core-0.c-headless.ns.svc.cluster.local", NodeStatus: "running", Role: "core", Connections: 12, LiveConnections: 10}}
	e.Status.ReplicantNodes = []v2beta1.EMQXNode{{Node: "emqx@c-replicant-0.c-headless.ns.svc.cluster.local", NodeStatus: "running", Role: "replicant", Connections: 7, LiveConnections: 5}}
	e.Status.CoreNodesStatus = v2beta1.EMQXNodesStatus{Replicas: 1, ReadyReplicas: 1, UpdateReplicas: 1}
	e.Status.ReplicantNodesStatus = v2beta1.EMQXNodesStatus{Replicas: 1, ReadyReplicas: 1}
	e.Status.ReplicantNodesSelector = "apps.emqx.io/db-role=replicant"
	st := toV3(t, e).Status
	want := []EMQXNode{
		{Name: "emqx@c-core-0.c-headless.ns.svc.cluster.local", PodName: "c-core-0", Status: "running", Role: "core", Sessions: 12, Connections: 10},
		{Name: "emqx@c-replicant-0.c-headless.ns.svc.cluster.local", PodName: "c-replicant-0", Status: "running", Role: "replicant", Sessions: 7, Connections: 5},
	}
	sameJSON(t, "clusterNodes", want, st.ClusterNodes)
	if st.CoreReplicas != 1 || st.ReplicantReplicas != 1 || st.ReplicantSelector != e.Status.ReplicantNodesSelector ||
		!strings.Contains(st.CoreSelector, "apps.emqx.io/db-role=core") || st.CoreNodesStatus.UpdatedReplicas != 1 {
		t.Errorf("status %+v", st)
	}
	raw, _ := json.Marshal(st)
	for _, field := range []string{`"coreReplicas":1`, `"replicantReplicas":1`, `"clusterNodes":`, `"sessions":12`} {
		if !strings.Contains(string(raw), field) {
			t.Errorf("%s lacks %s", raw, field)
		}
	}

	rc := v3Cluster()
	rc.Status.CoreNodes = []EMQXNode{{Name: "emqx@c-core-0.c-headless.ns.svc.cluster.local", Role: "core", Sessions: 3}}
	rc.Status.ReplicantNodes = []EMQXNode{{Name: "emqx@c-replicant-0.c-headless.ns.svc.cluster.local", Role: "replicant", Connections: 2}}
	hub := toHub(t, rc)
	if len(hub.Status.CoreNodes) != 1 || hub.Status.CoreNodes[0].Connections != 3 || len(hub.Status.ReplicantNodes) != 1 || hub.Status.ReplicantNodes[0].LiveConnections != 2 {
		t.Errorf("release-candidate lists: %+v / %+v", hub.Status.CoreNodes, hub.Status.ReplicantNodes)
	}
}

func intstrOf(i int) intstr.IntOrString { return intstr.FromInt32(int32(i)) }

// v3beta1 always has a replicant template: no template is one with zero replicants and nothing
// else, and a v2beta1 template with zero replicants stays a template (its pod defaults written out
// tell it apart).
func TestAnEmptyReplicantTemplateComesBack(t *testing.T) {
	e := hubCluster()
	e.Spec.ReplicantTemplate = &v2beta1.ReplicantTemplate{Spec: v2beta1.ReplicantTemplateSpec{Replicas: ptr.To(int32(0))}}
	back := toHub(t, toV3(t, e))
	if back.Spec.ReplicantTemplate == nil || *back.Spec.ReplicantTemplate.Spec.Replicas != 0 {
		t.Errorf("replicant template %+v", back.Spec.ReplicantTemplate)
	}
	if back := toHub(t, toV3(t, hubCluster())); back.Spec.ReplicantTemplate != nil {
		t.Errorf("no template came back as %+v", back.Spec.ReplicantTemplate)
	}
}

// A v3beta1 client's write of raw and the read that follows: the conversion webhook decodes the
// object and converts it to the hub, the API server stores it (pruning and defaulting it with the
// hub's schema, the stored one) and returns it, and the webhook converts it back to v3beta1.
func writeAndReadAsV3(t *testing.T, raw []byte) (read *EMQX, stored *v2beta1.EMQX) {
	t.Helper()
	written := &EMQX{}
	if err := json.Unmarshal(raw, written); err != nil {
		t.Fatal(err)
	}
	stored = &v2beta1.EMQX{}
	converttest.ThroughTheAPIServer(t, toHub(t, written), stored)
	return toV3(t, stored), stored
}

// An explicit 0 in a number v3beta1 and v2beta1 default alike is carried both ways and survives the
// API server's defaulting; left out, it gets the default. The object is written as v3beta1, read,
// and written back as read.
func TestDefaultedNumbersSurviveTheHubAndTheAPIServer(t *testing.T) {
	for _, f := range []struct {
		path   string // under spec, in both versions
		def    int32
		stored func(*v2beta1.EMQX) *int32
	}{
		{"revisionHistoryLimit", v2beta1.DefaultRevisionHistoryLimit,
			func(e *v2beta1.EMQX) *int32 { return e.Spec.RevisionHistoryLimit }},
		{"updateStrategy.evacuationStrategy.waitTakeover", v2beta1.DefaultWaitTakeover,
			func(e *v2beta1.EMQX) *int32 { return e.Spec.UpdateStrategy.EvacuationStrategy.WaitTakeover }},
	} {
		for _, tc := range []struct {
			name    string
			written any // nil: left out
			want    int32
		}{
			{"an explicit 0 stays", 0, 0},
			{"another value stays", 7, 7},
			{"left out, the default", nil, f.def},
		} {
			t.Run(f.path+"/"+tc.name, func(t *testing.T) {
				fields := map[string]any{"metadata.name": "c", "spec.image": "emqx/emqx-enterprise:5.8.6"}
				if tc.written != nil {
					fields["spec."+f.path] = tc.written
				}
				raw := converttest.JSONObject(t, fields)
				for _, write := range []string{"the first write", "the write back of what was read"} {
					read, stored := writeAndReadAsV3(t, raw)
					if got := f.stored(stored); ptr.Deref(got, -1) != tc.want {
						t.Fatalf("%s: stored as %s, want %d", write, converttest.Number(got), tc.want)
					}
					if got, ok := converttest.Field(t, read, "spec."+f.path); !ok || got != float64(tc.want) {
						t.Fatalf("%s: read as %v (written out: %t), want %d", write, got, ok, tc.want)
					}
					var err error
					if raw, err = json.Marshal(read); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
}

// v3beta1 has no initialDelaySeconds: a value written as v2beta1, an explicit 0 included, rides in
// the conversion annotation and is stored again when the object is written back as v3beta1; left
// out, it is v2beta1's default.
func TestInitialDelaySurvivesAV3beta1WriteBack(t *testing.T) {
	for _, tc := range []struct {
		name    string
		written any // nil: left out
		want    int32
	}{
		{"an explicit 0 stays", 0, 0},
		{"another value stays", 7, 7},
		{"left out, the default", nil, v2beta1.DefaultInitialDelaySeconds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields := map[string]any{"metadata.name": "c", "spec.image": "emqx/emqx-enterprise:5.8.6"}
			if tc.written != nil {
				fields["spec.updateStrategy.initialDelaySeconds"] = tc.written
			}
			stored := &v2beta1.EMQX{}
			converttest.StoreJSON(t, converttest.JSONObject(t, fields), stored)
			read := toV3(t, stored)
			for _, write := range []string{"the first write back as v3beta1", "the second"} {
				raw, err := json.Marshal(read)
				if err != nil {
					t.Fatal(err)
				}
				read, stored = writeAndReadAsV3(t, raw)
				if got := stored.Spec.UpdateStrategy.InitialDelaySeconds; ptr.Deref(got, -1) != tc.want {
					t.Fatalf("%s: stored as %s, want %d", write, converttest.Number(got), tc.want)
				}
			}
		})
	}
}

// The conversion carries revisionHistoryLimit and waitTakeover as they are, both ways: unset stays
// unset (the version read decides its default, the same in both) and 0 stays 0. initialDelaySeconds,
// which v3beta1 lacks, comes back as it was in v2beta1; unset, it comes back as its default written
// out (converting back materialises v2beta1's 10 s for every object without the annotation).
func TestDefaultedNumbersAreCarriedAsTheyAre(t *testing.T) {
	for _, set := range []*int32{nil, ptr.To(int32(0)), ptr.To(int32(7))} {
		v := v3Cluster()
		v.Spec.RevisionHistoryLimit = set
		// Rates set, as the API server's defaulting leaves them, so that nothing is materialised.
		v.Spec.UpdateStrategy.EvacuationStrategy = EvacuationStrategy{Type: "NodeEvacuation", WaitTakeover: set,
			ConnectionEvictionRate: 50, SessionEvictionRate: 60}
		hub := toHub(t, v)
		back := toV3(t, hub)
		for _, got := range []struct {
			name      string
			hub, back *int32
		}{
			{"revisionHistoryLimit", hub.Spec.RevisionHistoryLimit, back.Spec.RevisionHistoryLimit},
			{"waitTakeover", hub.Spec.UpdateStrategy.EvacuationStrategy.WaitTakeover, back.Spec.UpdateStrategy.EvacuationStrategy.WaitTakeover},
		} {
			if converttest.Number(got.hub) != converttest.Number(set) || converttest.Number(got.back) != converttest.Number(set) {
				t.Errorf("%s %s: %s in v2beta1, %s back in v3beta1", got.name, converttest.Number(set),
					converttest.Number(got.hub), converttest.Number(got.back))
			}
		}

		e := hubCluster()
		e.Spec.UpdateStrategy.InitialDelaySeconds = set
		want := ptr.Deref(set, v2beta1.DefaultInitialDelaySeconds)
		if got := toHub(t, toV3(t, e)).Spec.UpdateStrategy.InitialDelaySeconds; ptr.Deref(got, -1) != want {
			t.Errorf("initialDelaySeconds %s: %s back in v2beta1, want %d", converttest.Number(set), converttest.Number(got), want)
		}
	}
}
