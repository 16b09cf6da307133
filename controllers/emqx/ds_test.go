package emqx

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/emqxapi/emqxapitest"
)

// dsView is a durable-storage view: the cores' sites (S0, S1, … for core i) and one DB, messages,
// of 4 shards allocated as EMQX does (shard i holds 3 consecutive sites of the list from offset i),
// plus transitions.
func dsView(e *v2beta1.EMQX, cores int, sites []string, transitions ...emqxapi.DSTransition) emqxapitest.DS {
	ds := emqxapitest.DS{Sites: map[string]emqxapi.DSSite{}}
	for i := 0; i < cores; i++ {
		ds.Sites[fmt.Sprintf("S%d", i)] = emqxapi.DSSite{Node: e.NodeName(fmt.Sprintf("%s-%d", e.CoreWorkloadName(), i)), Up: true}
	}
	db := emqxapi.DSDB{Name: "messages"}
	for i := 0; i < 4; i++ {
		sh := emqxapi.DSShard{ID: fmt.Sprint(i), Transitions: transitions}
		for j := 0; j < min(3, len(sites)); j++ {
			sh.Replicas = append(sh.Replicas, emqxapi.DSReplica{Site: sites[(i+j)%len(sites)], Status: "up"})
		}
		db.Shards = append(db.Shards, sh)
	}
	ds.DBs = []emqxapi.DSDB{db}
	return ds
}

func nodesOn(version string, nodes []emqxapi.Node) []emqxapi.Node {
	for i := range nodes {
		nodes[i].Version = version
	}
	return nodes
}

// TestDSReplicasFollowTheCores: on a 6.x cluster with durable sessions, the shards EMQX allocated
// to the first node are assigned to every core's site, and the cluster is Ready only once they
// settle; a scale-in moves the departing core's replicas away before its pod goes.
func TestDSReplicasFollowTheCores(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "dsc", 4, 0)
	e.Spec.Image = "emqx/emqx-enterprise:6.1.0"
	e.Spec.Config.Data = "durable_sessions.enable = true\nlicense.key = \"a-licence-for-clustering\"\n"
	create(t, e)
	t.Cleanup(func() { fakeEMQX.SetDS(emqxapitest.DS{}) })
	r, _ := newReconciler()
	reconcileOnce(t, r, ns, e.Name)
	operatorKey(t, ns, e.Name)
	setStatefulSetStatus(t, ns, e.CoreWorkloadName(), 4, 4, "rev1")
	cores := createPods(t, e, v2beta1.RoleCore, 4, "rev1")
	waitForPodsInCache(t, e, 4)
	waitForCache(t, &appsv1.StatefulSet{ObjectMeta: metaOf(ns, e.CoreWorkloadName())})
	fakeEMQX.SetNodes(nodesOn("6.1.0", runningNodes(e, v2beta1.RoleCore, cores...))...)

	// EMQX allocated every shard to the first node's site: they are assigned to all four.
	fakeEMQX.SetDS(dsView(e, 4, []string{"S0"}))
	before := len(fakeEMQX.Assigned())
	reconcileOnce(t, r, ns, e.Name)
	got := fakeEMQX.Assigned()[before:]
	if len(got) != 1 || got[0].DB != "messages" || !slices.Equal(got[0].Sites, []string{"S0", "S1", "S2", "S3"}) {
		t.Fatalf("assignments %+v, want messages to S0..S3", got)
	}
	waitForEvent(t, ns, "DSReplicasAssigned", "shards of messages assigned to 4 core sites")
	st := getEMQX(t, ns, e.Name).Status
	if c := meta.FindStatusCondition(st.Conditions, v2beta1.DSReplicationReady); c == nil || c.Status != "False" || c.Reason != "AssigningReplicas" {
		t.Errorf("DSReplicationReady = %+v, want False AssigningReplicas", c)
	}
	if meta.IsStatusConditionTrue(st.Conditions, v2beta1.Ready) {
		t.Error("Ready while the shards have one replica")
	}

	// The transitions run: not Ready, and nothing assigned again.
	fakeEMQX.SetDS(dsView(e, 4, []string{"S0"}, emqxapi.DSTransition{Site: "S1", Transition: "joining"},
		emqxapi.DSTransition{Site: "S2", Transition: "joining"}, emqxapi.DSTransition{Site: "S3", Transition: "joining"}))
	before = len(fakeEMQX.Assigned())
	reconcileOnce(t, r, ns, e.Name)
	if n := len(fakeEMQX.Assigned()) - before; n != 0 {
		t.Errorf("%d assignments while the transitions run, want none", n)
	}
	if c := meta.FindStatusCondition(getEMQX(t, ns, e.Name).Status.Conditions, v2beta1.DSReplicationReady); c == nil || c.Reason != "ReplicasMoving" ||
		!strings.Contains(c.Message, "DB messages: 12 replica transitions running over 4 shards") {
		t.Errorf("DSReplicationReady = %+v, want ReplicasMoving with the counts", c)
	}

	// Settled (replication factor 3 of 4 sites): Ready, with the vendor's summary.
	fakeEMQX.SetDS(dsView(e, 4, []string{"S0", "S1", "S2", "S3"}))
	reconcileOnce(t, r, ns, e.Name)
	st = getEMQX(t, ns, e.Name).Status
	if !meta.IsStatusConditionTrue(st.Conditions, v2beta1.Ready) || !meta.IsStatusConditionTrue(st.Conditions, v2beta1.DSReplicationReady) {
		t.Fatalf("not Ready with settled replicas: %+v", st.Conditions)
	}
	want := v2beta1.DSDBReplicationStatus{Name: "messages", NumShards: 4, NumShardReplicas: 12, MinReplicas: 3, MaxReplicas: 3}
	if st.DSReplication == nil || len(st.DSReplication.DBs) != 1 || st.DSReplication.DBs[0] != want {
		t.Errorf("status.dsReplication = %+v, want %+v", st.DSReplication, want)
	}

	// Scale-in to 3 while core 3's site holds shards: the pod stays, its replicas are moved.
	live := getEMQX(t, ns, e.Name)
	live.Spec.CoreTemplate.Spec.Replicas = ptr.To[int32](3)
	if err := directAPI.Update(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	waitForCache(t, live)
	before = len(fakeEMQX.Assigned())
	reconcileOnce(t, r, ns, e.Name)
	if got := fakeEMQX.Assigned()[before:]; len(got) != 1 || !slices.Equal(got[0].Sites, []string{"S0", "S1", "S2"}) {
		t.Errorf("assignments %+v, want messages to S0..S2", got)
	}
	set := &appsv1.StatefulSet{}
	get(t, ns, e.CoreWorkloadName(), set)
	if n := ptr.Deref(set.Spec.Replicas, 0); n != 4 {
		t.Fatalf("core StatefulSet at %d replicas while core 3 still holds shards, want 4", n)
	}
	if c := meta.FindStatusCondition(getEMQX(t, ns, e.Name).Status.Conditions, v2beta1.CoreNodesProgressing); c == nil || !strings.Contains(c.Message, "site S3 still holds 3 shard replicas of messages") {
		t.Errorf("CoreNodesProgressing = %+v, want the wait named", c)
	}

	// Safety gates: a DS read that fails, or a node list where a core is stopped (EMQX lists it
	// without its release), releases nobody.
	broken := dsView(e, 4, []string{"S0", "S1", "S2"})
	broken.Broken = true
	fakeEMQX.SetDS(broken)
	reconcileOnce(t, r, ns, e.Name)
	get(t, ns, e.CoreWorkloadName(), set)
	if n := ptr.Deref(set.Spec.Replicas, 0); n != 4 {
		t.Fatalf("core StatefulSet at %d replicas after a failed DS read, want 4 kept", n)
	}
	fakeEMQX.SetDS(dsView(e, 4, []string{"S1", "S2", "S3"}))
	withStopped := nodesOn("6.1.0", runningNodes(e, v2beta1.RoleCore, cores...))
	withStopped[1] = emqxapi.Node{Node: withStopped[1].Node, NodeStatus: "stopped", Role: "core"}
	fakeEMQX.SetNodes(withStopped...)
	reconcileOnce(t, r, ns, e.Name)
	get(t, ns, e.CoreWorkloadName(), set)
	if n := ptr.Deref(set.Spec.Replicas, 0); n != 4 {
		t.Fatalf("core StatefulSet at %d replicas with a core stopped and core 3 holding shards, want 4 kept", n)
	}
	fakeEMQX.SetNodes(nodesOn("6.1.0", runningNodes(e, v2beta1.RoleCore, cores...))...)

	// Moved: the scale-in goes on.
	fakeEMQX.SetDS(dsView(e, 4, []string{"S0", "S1", "S2"}))
	reconcileOnce(t, r, ns, e.Name)
	get(t, ns, e.CoreWorkloadName(), set)
	if n := ptr.Deref(set.Spec.Replicas, 0); n != 3 {
		t.Errorf("core StatefulSet at %d replicas once core 3's replicas moved, want 3", n)
	}
}
