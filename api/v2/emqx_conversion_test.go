package v2

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/randfill"

	"github.com/broker-ops/emqx-operator/api/internal/convert"
	"github.com/broker-ops/emqx-operator/api/internal/converttest"
	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

func filler(seed int64) *randfill.Filler { return converttest.Filler(seed) }

func sameJSON(t *testing.T, what string, want, got any) {
	t.Helper()
	converttest.SameJSON(t, what, want, got)
}

// Every v2beta1 object survives v2beta1 → v2 → v2beta1 unchanged. The objects are defaulted first,
// as every stored object is (the conversion materialises v2beta1's defaults on the way out).
func TestHubRoundTripThroughV2KeepsEveryField(t *testing.T) {
	for seed := int64(0); seed < 300; seed++ {
		f := filler(seed)
		in := &v2beta1.EMQX{}
		f.Fill(in)
		in.TypeMeta = metav1.TypeMeta{} // the webhook sets the kind and version of what it returns
		in.Default()
		delete(in.Annotations, ConversionAnnotation)
		if len(in.Annotations) == 0 {
			in.Annotations = nil
		}
		mid := &EMQX{}
		if err := mid.ConvertFrom(in.DeepCopy()); err != nil {
			t.Fatalf("seed %d: to v2: %v", seed, err)
		}
		out := &v2beta1.EMQX{}
		if err := mid.ConvertTo(out); err != nil {
			t.Fatalf("seed %d: back: %v", seed, err)
		}
		sameJSON(t, fmt.Sprintf("seed %d", seed), in, out)
	}
}

// Every v2 object survives v2 → v2beta1 → v2 unchanged, status included, once it holds what the
// API server's defaulting gives it. Two status facts are v2 only and are the operator's to write:
// the pod name (read again from the node name) and the evacuations (reported on every pass).
func TestV2RoundTripThroughTheHubKeepsEveryField(t *testing.T) {
	for seed := int64(0); seed < 300; seed++ {
		f := filler(seed)
		in := &EMQX{}
		f.Fill(in)
		in.TypeMeta = metav1.TypeMeta{}
		in.Name = "c"
		delete(in.Annotations, ConversionAnnotation)
		if len(in.Annotations) == 0 {
			in.Annotations = nil
		}
		defaultLikeTheAPIServer(in)
		in.Status.NodeEvacuationsStatus = nil
		for _, nodes := range [][]EMQXNode{in.Status.CoreNodes, in.Status.ReplicantNodes} {
			for i := range nodes {
				nodes[i].PodName = convert.PodOfNode(in.Name, nodes[i].Name)
			}
		}
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

// defaultLikeTheAPIServer gives a v2 object the defaults the v2 schema gives the fields the
// conversion materialises.
func defaultLikeTheAPIServer(e *EMQX) {
	if e.Spec.UpdateStrategy.EvacuationStrategy == (EvacuationStrategy{}) {
		e.Spec.UpdateStrategy.EvacuationStrategy = EvacuationStrategy{WaitTakeover: ptr.To(int32(10)), ConnEvictRate: 1000, SessEvictRate: 1000, WaitHealthCheck: ptr.To(int32(60))}
	}
	if e.Spec.UpdateStrategy.EvacuationStrategy.WaitHealthCheck == nil {
		e.Spec.UpdateStrategy.EvacuationStrategy.WaitHealthCheck = ptr.To(int32(60))
	}
	for _, p := range []*ReplicantTemplateSpec{&e.Spec.CoreTemplate.Spec.ReplicantTemplateSpec, replicantSpec(e)} {
		if p == nil {
			continue
		}
		if p.Replicas == nil {
			p.Replicas = ptr.To(int32(2))
		}
		if p.PodSecurityContext == nil {
			p.PodSecurityContext = DefaultPodSecurityContext()
		}
	}
}

func replicantSpec(e *EMQX) *ReplicantTemplateSpec {
	if e.Spec.ReplicantTemplate == nil {
		return nil
	}
	return &e.Spec.ReplicantTemplate.Spec
}

func toV2(t *testing.T, in *v2beta1.EMQX) *EMQX {
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
	e := &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}}
	e.Spec.Image = "emqx/emqx-enterprise:5.8.6"
	e.Spec.ReplicantTemplate = &v2beta1.ReplicantTemplate{}
	return e
}

func v2Cluster() *EMQX {
	e := &EMQX{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}}
	e.Spec.Image = "emqx/emqx-enterprise:5.8.6"
	e.Spec.ReplicantTemplate = &ReplicantTemplate{}
	return e
}

// One row per default that differs between v2beta1 and v2: the version the object was written in
// decides, and the conversion writes that version's value out, so that the other version's default
// never applies to it.
func TestTheWrittenVersionsDefaultsAreMaterialised(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check func(t *testing.T)
	}{
		{"core replicas: a v2 object without them has v2's two cores", func(t *testing.T) {
			if got := *toHub(t, v2Cluster()).Spec.CoreTemplate.Spec.Replicas; got != 2 {
				t.Errorf("core replicas %d, want 2", got)
			}
		}},
		{"core replicas: a v2beta1 object without them keeps v2beta1's one core", func(t *testing.T) {
			if got := *toV2(t, hubCluster()).Spec.CoreTemplate.Spec.Replicas; got != 1 {
				t.Errorf("core replicas %d, want 1", got)
			}
		}},
		{"replicant replicas: two either way", func(t *testing.T) {
			if a, b := *toHub(t, v2Cluster()).Spec.ReplicantTemplate.Spec.Replicas, *toV2(t, hubCluster()).Spec.ReplicantTemplate.Spec.Replicas; a != 2 || b != 2 {
				t.Errorf("replicant replicas %d and %d, want 2", a, b)
			}
		}},
		{"pod security context: v2's for a v2 object", func(t *testing.T) {
			got := toHub(t, v2Cluster()).Spec.CoreTemplate.Spec.PodSecurityContext
			if got.FSGroupChangePolicy == nil || *got.FSGroupChangePolicy != corev1.FSGroupChangeAlways || len(got.SupplementalGroups) != 1 {
				t.Errorf("pod security context %+v, want v2's", got)
			}
		}},
		{"pod security context: v2beta1's for a v2beta1 object", func(t *testing.T) {
			got := toV2(t, hubCluster()).Spec.CoreTemplate.Spec.PodSecurityContext
			if got == nil || got.FSGroupChangePolicy != nil || len(got.SupplementalGroups) != 0 || ptr.Deref(got.FSGroup, 0) != 1000 {
				t.Errorf("pod security context %+v, want v2beta1's", got)
			}
		}},
		{"waitHealthCheck: a v2beta1 object says the operator's 10 s, not v2's 60", func(t *testing.T) {
			if got := toV2(t, hubCluster()).Spec.UpdateStrategy.EvacuationStrategy.WaitHealthCheck; got == nil || *got != v2beta1.WaitHealthCheckSeconds {
				t.Errorf("waitHealthCheck %v, want %d", got, v2beta1.WaitHealthCheckSeconds)
			}
		}},
		{"evacuation strategy left out: v2's rates and 60 s for a v2 object", func(t *testing.T) {
			hub := toHub(t, v2Cluster())
			if ev := hub.Spec.UpdateStrategy.EvacuationStrategy; !equality.Semantic.DeepEqual(ev, v2beta1.EvacuationStrategy{WaitTakeover: ptr.To(int32(10)), ConnEvictRate: 1000, SessEvictRate: 1000, WaitHealthCheck: ptr.To(int32(60))}) {
				t.Errorf("evacuation strategy %+v", ev)
			}
			if back := toV2(t, hub); ptr.Deref(back.Spec.UpdateStrategy.EvacuationStrategy.WaitHealthCheck, -1) != 60 {
				t.Errorf("waitHealthCheck %v after a round trip, want 60", back.Spec.UpdateStrategy.EvacuationStrategy.WaitHealthCheck)
			}
		}},
		{"evacuation strategy left out: v2beta1's rates for a v2beta1 object", func(t *testing.T) {
			if ev := toV2(t, hubCluster()).Spec.UpdateStrategy.EvacuationStrategy; !equality.Semantic.DeepEqual(ev, EvacuationStrategy{WaitTakeover: ptr.To(int32(10)), ConnEvictRate: 1000, SessEvictRate: 1000, WaitHealthCheck: ptr.To(int32(10))}) {
				t.Errorf("evacuation strategy %+v", ev)
			}
		}},
	} {
		t.Run(tc.name, tc.check)
	}
}

// Fields v2 cannot hold ride in the annotation; the rest maps field to field.
func TestFieldsWithoutCounterpartRideInTheAnnotation(t *testing.T) {
	t.Run("waitHealthCheck is v2beta1's field of the same name", func(t *testing.T) {
		e := v2Cluster()
		e.Spec.UpdateStrategy.EvacuationStrategy = EvacuationStrategy{WaitTakeover: ptr.To(int32(5)), ConnEvictRate: 50, SessEvictRate: 60, WaitHealthCheck: ptr.To(int32(30))}
		hub := toHub(t, e)
		if got := hub.Spec.UpdateStrategy.EvacuationStrategy.WaitHealthCheck; got == nil || *got != 30 || hub.Annotations != nil {
			t.Errorf("waitHealthCheck %v, annotations %v", got, hub.Annotations)
		}
	})
	t.Run("an explicit 0 is written out and comes back", func(t *testing.T) {
		e := hubCluster()
		e.Spec.UpdateStrategy.EvacuationStrategy.WaitHealthCheck = ptr.To(int32(0))
		v := toV2(t, e)
		raw, err := json.Marshal(v.Spec.UpdateStrategy.EvacuationStrategy)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), `"waitHealthCheck":0`) {
			t.Errorf("v2 evacuation strategy %s leaves the 0 out: v2's default (60) would apply", raw)
		}
		if got := toHub(t, v).Spec.UpdateStrategy.EvacuationStrategy.WaitHealthCheck; got == nil || *got != 0 {
			t.Errorf("back: %v", got)
		}
	})
	t.Run("toleRations join tolerations and split off again", func(t *testing.T) {
		e := hubCluster()
		a, b := corev1.Toleration{Key: "a", Operator: corev1.TolerationOpExists}, corev1.Toleration{Key: "b", Operator: corev1.TolerationOpExists}
		e.Spec.CoreTemplate.Spec.Tolerations = []corev1.Toleration{a}
		e.Spec.CoreTemplate.Spec.ToleRations = []corev1.Toleration{b}
		v := toV2(t, e)
		if got := v.Spec.CoreTemplate.Spec.Tolerations; !equality.Semantic.DeepEqual(got, []corev1.Toleration{a, b}) {
			t.Errorf("v2 tolerations %v, want both (both apply in v2beta1)", got)
		}
		back := toHub(t, v)
		if !equality.Semantic.DeepEqual(back.Spec.CoreTemplate.Spec.Tolerations, []corev1.Toleration{a}) ||
			!equality.Semantic.DeepEqual(back.Spec.CoreTemplate.Spec.ToleRations, []corev1.Toleration{b}) || back.Annotations != nil {
			t.Errorf("back: tolerations %v, toleRations %v, annotations %v", back.Spec.CoreTemplate.Spec.Tolerations, back.Spec.CoreTemplate.Spec.ToleRations, back.Annotations)
		}
		// Edited in v2: the list is taken as written, every entry still applies.
		v.Spec.CoreTemplate.Spec.Tolerations = []corev1.Toleration{b, a}
		back = toHub(t, v)
		if !equality.Semantic.DeepEqual(back.Spec.CoreTemplate.Spec.Tolerations, []corev1.Toleration{b, a}) || back.Spec.CoreTemplate.Spec.ToleRations != nil {
			t.Errorf("after an edit: tolerations %v, toleRations %v", back.Spec.CoreTemplate.Spec.Tolerations, back.Spec.CoreTemplate.Spec.ToleRations)
		}
	})
	t.Run("an annotation that does not parse is kept and restores nothing", func(t *testing.T) {
		e := v2Cluster()
		e.Spec.UpdateStrategy.EvacuationStrategy = EvacuationStrategy{WaitTakeover: ptr.To(int32(5)), ConnEvictRate: 50, SessEvictRate: 60, WaitHealthCheck: ptr.To(int32(v2beta1.WaitHealthCheckSeconds))}
		e.Annotations = map[string]string{ConversionAnnotation: "{not json"}
		if hub := toHub(t, e); hub.Annotations[ConversionAnnotation] != "{not json" {
			t.Errorf("annotations %v", hub.Annotations)
		}
	})
}

// The node entries change names and, for connections, meaning: v2beta1's connections counts
// sessions, v2's counts connected clients.
func TestNodeEntriesInTheV2Shape(t *testing.T) {
	e := hubCluster()
	e.Status.CoreNodes = []v2beta1.EMQXNode{{Node: "emqx@c-core-0.c-headless.ns.svc.cluster.local", NodeStatus: "running",
		OTPRelease: "26.2.5", Version: "5.8.6", Role: "core", Edition: "Enterprise", Connections: 120, LiveConnections: 100}}
	got := toV2(t, e).Status.CoreNodes
	want := []EMQXNode{{Name: "emqx@c-core-0.c-headless.ns.svc.cluster.local", PodName: "c-core-0", Status: "running",
		OTPRelease: "26.2.5", Version: "5.8.6", Role: "core", Edition: "Enterprise", Sessions: 120, Connections: 100}}
	sameJSON(t, "core nodes", want, got)
	raw, err := json.Marshal(got[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"name":`, `"podName":`, `"status":`, `"otpRelease":`, `"sessions":120`, `"connections":100`} {
		if !strings.Contains(string(raw), field) {
			t.Errorf("%s lacks %s", raw, field)
		}
	}
}

// A v2 client's write of raw and the read that follows: the conversion webhook decodes the object
// and converts it to the hub, the API server stores it (pruning and defaulting it with the hub's
// schema, the stored one) and returns it, and the webhook converts it back to v2.
func writeAndReadAsV2(t *testing.T, raw []byte) (read *EMQX, stored *v2beta1.EMQX) {
	t.Helper()
	written := &EMQX{}
	if err := json.Unmarshal(raw, written); err != nil {
		t.Fatal(err)
	}
	stored = &v2beta1.EMQX{}
	converttest.ThroughTheAPIServer(t, toHub(t, written), stored)
	return toV2(t, stored), stored
}

// An explicit 0 in a number v2 and v2beta1 default alike is carried both ways and survives the API
// server's defaulting; left out, it gets the default. The object is written as v2, read, and
// written back as read.
func TestDefaultedNumbersSurviveTheHubAndTheAPIServer(t *testing.T) {
	for _, f := range []struct {
		path   string // under spec
		def    int32
		stored func(*v2beta1.EMQX) *int32
	}{
		{"revisionHistoryLimit", v2beta1.DefaultRevisionHistoryLimit,
			func(e *v2beta1.EMQX) *int32 { return e.Spec.RevisionHistoryLimit }},
		{"updateStrategy.initialDelaySeconds", v2beta1.DefaultInitialDelaySeconds,
			func(e *v2beta1.EMQX) *int32 { return e.Spec.UpdateStrategy.InitialDelaySeconds }},
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
					read, stored := writeAndReadAsV2(t, raw)
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

// The conversion carries the defaulted numbers as they are, both ways: unset stays unset (the
// version read decides its default, the same in both) and 0 stays 0.
func TestDefaultedNumbersAreCarriedAsTheyAre(t *testing.T) {
	for _, set := range []*int32{nil, ptr.To(int32(0)), ptr.To(int32(7))} {
		v := v2Cluster()
		v.Spec.RevisionHistoryLimit, v.Spec.UpdateStrategy.InitialDelaySeconds = set, set
		// Rates set, as the API server's defaulting leaves them, so that nothing is materialised.
		v.Spec.UpdateStrategy.EvacuationStrategy = EvacuationStrategy{WaitTakeover: set, ConnEvictRate: 50, SessEvictRate: 60}
		hub := toHub(t, v)
		back := toV2(t, hub)
		for _, got := range []struct {
			name      string
			hub, back *int32
		}{
			{"revisionHistoryLimit", hub.Spec.RevisionHistoryLimit, back.Spec.RevisionHistoryLimit},
			{"initialDelaySeconds", hub.Spec.UpdateStrategy.InitialDelaySeconds, back.Spec.UpdateStrategy.InitialDelaySeconds},
			{"waitTakeover", hub.Spec.UpdateStrategy.EvacuationStrategy.WaitTakeover, back.Spec.UpdateStrategy.EvacuationStrategy.WaitTakeover},
		} {
			if converttest.Number(got.hub) != converttest.Number(set) || converttest.Number(got.back) != converttest.Number(set) {
				t.Errorf("%s %s: %s in v2beta1, %s back in v2", got.name, converttest.Number(set),
					converttest.Number(got.hub), converttest.Number(got.back))
			}
		}
	}
}
