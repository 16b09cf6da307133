package e2e

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
	"github.com/broker-ops/emqx-operator/test/simulator"
)

// TestDurableStorageFollowsTheCores: a 6.x cluster with durable sessions (3 cores + 2 replicants)
// becomes Ready with every DB's shards on three core sites and status.dsReplication stable; cores
// 3 → 5 → 3 (kubectl, clients connected) spread the shards over the new cores and back, with no
// shard ever below three replicas on running nodes at any sample, and the departed cores' sites
// forgotten; an in-place image rollout keeps every core's site.
func TestDurableStorageFollowsTheCores(t *testing.T) {
	ns := startDSCluster(t, 3, 2, 8)
	core0 := nodeOf(ns, "ds", "ds-core-0")
	dsSettledOn(t, ns, coreSites(t, ns, 3))
	for i := 0; i < 3; i++ {
		if err := env.Sim.SetConnections(nodeOf(ns, "ds", fmt.Sprintf("ds-core-%d", i)), 20); err != nil {
			t.Fatal(err)
		}
	}

	// Sample EMQX's replica sets while the cores scale: every shard keeps three replicas on
	// running nodes throughout.
	stayingCores := []string{core0, nodeOf(ns, "ds", "ds-core-1"), nodeOf(ns, "ds", "ds-core-2")}
	stop, failures := sampleReplicas(t, stayingCores, 3)
	scaleCores := func(n int) {
		kubectl(t, "-n", ns, "patch", "emqx", "ds", "--type=merge", "-p", fmt.Sprintf(`{"spec":{"coreTemplate":{"spec":{"replicas":%d}}}}`, n))
	}
	scaleCores(5)
	harness.Eventually(t, 120*time.Second, "5 cores Ready", func() error { return readyWithCores(t, ns, 5) })
	dsSettledOn(t, ns, coreSites(t, ns, 5))
	departing := coreSites(t, ns, 5)[3:]
	// Clients on the departing cores too: each is evacuated and kept until its replicas moved.
	for i := 3; i < 5; i++ {
		if err := env.Sim.SetConnections(nodeOf(ns, "ds", fmt.Sprintf("ds-core-%d", i)), 20); err != nil {
			t.Fatal(err)
		}
	}

	scaleCores(3)
	harness.Eventually(t, 120*time.Second, "3 cores Ready", func() error { return readyWithCores(t, ns, 3) })
	checkSamples(t, "scaling", stop, failures, 3)
	dsSettledOn(t, ns, coreSites(t, ns, 3))
	harness.Eventually(t, 60*time.Second, "the departed cores' sites forgotten", func() error {
		ds, err := env.Sim.DS(core0)
		if err != nil {
			return err
		}
		for _, s := range departing {
			if _, ok := ds.Sites[s]; ok {
				return fmt.Errorf("site %s still known (%s)", s, ds.Sites[s].Status)
			}
		}
		return nil
	})
	// events/v1 folds Events of one reason into a series that keeps the first note: one names a
	// departed core's site.
	harness.Eventually(t, 20*time.Second, "a DSSiteForgotten Event naming a departed core's site", func() error {
		for _, ev := range eventsWithReason(t, ns, "DSSiteForgotten") {
			for _, s := range departing {
				if strings.Contains(ev.Note, "site "+s+" ") {
					return nil
				}
			}
		}
		return fmt.Errorf("none yet")
	})

	// An in-place rollout restarts every core on its volume: each keeps its site, and every shard
	// keeps a majority of its replicas running throughout (one core restarts at a time).
	before := coreSites(t, ns, 3)
	stop, failures = sampleReplicas(t, stayingCores, 2)
	kubectl(t, "-n", ns, "patch", "emqx", "ds", "--type=merge", "-p", `{"spec":{"image":"emqx/emqx-enterprise:6.1.5"}}`)
	harness.Eventually(t, 120*time.Second, "the rollout to 6.1.5", func() error {
		got := env.GetEMQX(t, ns, "ds")
		if !meta.IsStatusConditionTrue(got.Status.Conditions, v2beta1.Ready) || got.Status.EMQXVersion != "6.1.5" {
			return fmt.Errorf("phase %s, version %s", got.Status.Phase, got.Status.EMQXVersion)
		}
		return nil
	})
	checkSamples(t, "rolling", stop, failures, 2)
	if after := coreSites(t, ns, 3); !slices.Equal(after, before) {
		t.Errorf("core sites %v after the rollout, want %v kept", after, before)
	}
	dsSettledOn(t, ns, before)
}

// TestDurableSessionsNeedCorePersistence: durable sessions on cores without a volume are refused
// before anything is made, with the reason in ConfigValid and Ready.
func TestDurableSessionsNeedCorePersistence(t *testing.T) {
	ns := env.NewNamespace(t)
	e := coreReplicantCluster(ns, "nopvc", 1, 0)
	e.Spec.CoreTemplate.Spec.VolumeClaimTemplates.Resources.Requests = nil
	e.Spec.Config.Data = "durable_sessions.enable = true\n"
	create(t, e)
	got := env.WaitForCondition(t, ns, "nopvc", v2beta1.ConfigValid, metav1.ConditionFalse, 30*time.Second)
	c := meta.FindStatusCondition(got.Status.Conditions, v2beta1.ConfigValid)
	if c.Reason != "DurableSessionsWithoutPersistence" || !strings.Contains(c.Message, "volumeClaimTemplates") {
		t.Errorf("ConfigValid = %s: %s", c.Reason, c.Message)
	}
	if p := env.FindPod(t, ns, "nopvc-core-0"); p != nil {
		t.Errorf("pod %s made for a refused cluster", p.Name)
	}
}

// TestReplicationFactorAboveTheCoresIsAWarning: one 6.x core with durable sessions and EMQX's
// replication factor 3: EMQX keeps one replica per shard, the cluster is Ready, and the shortfall
// is said in DSReplicationReady and a Warning Event, not refused.
func TestReplicationFactorAboveTheCoresIsAWarning(t *testing.T) {
	ns := env.NewNamespace(t)
	e := coreReplicantCluster(ns, "onecore", 1, 0)
	e.Spec.Image = "emqx/emqx-enterprise:6.1.4"
	e.Spec.Config.Data = "durable_sessions.enable = true\ndurable_storage.messages.n_shards = 4\n"
	create(t, e)
	got := env.WaitForCondition(t, ns, "onecore", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	harness.Eventually(t, 30*time.Second, "the replication factor's shortfall said", func() error {
		got = env.GetEMQX(t, ns, "onecore")
		c := meta.FindStatusCondition(got.Status.Conditions, v2beta1.DSReplicationReady)
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != "ReplicationFactorAboveCoreSites" || !strings.Contains(c.Message, "replication factor 3, but only 1 core sites") {
			return fmt.Errorf("DSReplicationReady = %+v", c)
		}
		if len(eventsWithReason(t, ns, "ReplicationFactorAboveCoreSites")) == 0 {
			return fmt.Errorf("no Warning Event yet")
		}
		return nil
	})
	if !meta.IsStatusConditionTrue(got.Status.Conditions, v2beta1.Ready) {
		t.Errorf("not Ready: %+v", got.Status.Conditions)
	}
	// A restart of the core passes through other reasons; the shortfall is not told again.
	kubectl(t, "-n", ns, "delete", "pod", "onecore-core-0")
	harness.Eventually(t, 60*time.Second, "the restart seen", func() error {
		if meta.IsStatusConditionTrue(env.GetEMQX(t, ns, "onecore").Status.Conditions, v2beta1.Ready) {
			return fmt.Errorf("still Ready")
		}
		return nil
	})
	harness.Eventually(t, 60*time.Second, "Ready after the restart", func() error {
		st := env.GetEMQX(t, ns, "onecore").Status
		c := meta.FindStatusCondition(st.Conditions, v2beta1.DSReplicationReady)
		if !meta.IsStatusConditionTrue(st.Conditions, v2beta1.Ready) || c == nil || c.Reason != "ReplicationFactorAboveCoreSites" {
			return fmt.Errorf("phase %s, DSReplicationReady %+v", st.Phase, c)
		}
		return nil
	})
	time.Sleep(2 * time.Second) // an Event of the last pass reaches the API server
	events := eventsWithReason(t, ns, "ReplicationFactorAboveCoreSites")
	if len(events) != 1 || events[0].Series != nil {
		t.Errorf("the Warning was told more than once: %+v", events)
	}
}

// startDSCluster makes the cluster "ds" of a test namespace: EMQX 6.1.4 with durable sessions
// (shards per DB as given), a licence for clustering and fast rollouts, and waits until it is Ready.
func startDSCluster(t *testing.T, cores, replicants int32, shards int) string {
	t.Helper()
	ns := env.NewNamespace(t)
	e := fastRollouts(coreReplicantCluster(ns, "ds", cores, replicants))
	e.Spec.Image = "emqx/emqx-enterprise:6.1.4"
	e.Spec.Config.Data = fmt.Sprintf("durable_sessions.enable = true\ndurable_storage.messages.n_shards = %d\nlicense.key = %q\n",
		shards, simulator.EncodeTestLicense("Acme", "official", 1000000, time.Now().AddDate(2, 0, 0)))
	create(t, e)
	env.WaitForCondition(t, ns, "ds", v2beta1.Ready, metav1.ConditionTrue, 120*time.Second)
	return ns
}

// coreSites are the sites of cores 0..n-1, as EMQX's table maps them, sorted by ordinal.
func coreSites(t *testing.T, ns string, n int) []string {
	t.Helper()
	sites, err := findCoreSites(ns, n)
	if err != nil {
		t.Fatal(err)
	}
	return sites
}

func findCoreSites(ns string, n int) ([]string, error) {
	ds, err := env.Sim.DS(nodeOf(ns, "ds", "ds-core-1"))
	if err != nil {
		return nil, err
	}
	out := make([]string, n)
	for site, s := range ds.Sites {
		for i := 0; i < n; i++ {
			if s.Node == nodeOf(ns, "ds", fmt.Sprintf("ds-core-%d", i)) {
				out[i] = site
			}
		}
	}
	for i, s := range out {
		if s == "" {
			return nil, fmt.Errorf("core %d has no site: %+v", i, ds.Sites)
		}
	}
	return out, nil
}

// dsSettledOn waits until EMQX holds every shard of every DB on three of the given sites (and
// no other), nothing moving, and status.dsReplication and DSReplicationReady say so.
func dsSettledOn(t *testing.T, ns string, sites []string) {
	t.Helper()
	allowed := map[string]bool{}
	for _, s := range sites {
		allowed[s] = true
	}
	harness.Eventually(t, 60*time.Second, fmt.Sprintf("shards settled on %d core sites", len(sites)), func() error {
		ds, err := env.Sim.DS(nodeOf(ns, "ds", "ds-core-1"))
		if err != nil {
			return err
		}
		if len(ds.DBs) == 0 {
			return fmt.Errorf("no DB: durable sessions are on")
		}
		used := map[string]bool{}
		for _, db := range ds.DBs {
			for _, sh := range db.Shards {
				if len(sh.Current) != 3 || !slices.Equal(sh.Current, sh.Target) {
					return fmt.Errorf("DB %s shard %s: current %v, target %v", db.Name, sh.ID, sh.Current, sh.Target)
				}
				for _, s := range sh.Current {
					if !allowed[s] {
						return fmt.Errorf("DB %s shard %s holds site %s, not a core's", db.Name, sh.ID, s)
					}
					used[s] = true
				}
			}
		}
		if len(used) != len(sites) {
			return fmt.Errorf("shards on %d of the %d core sites", len(used), len(sites))
		}
		st := env.GetEMQX(t, ns, "ds").Status
		c := meta.FindStatusCondition(st.Conditions, v2beta1.DSReplicationReady)
		if c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("DSReplicationReady = %+v", c)
		}
		if st.DSReplication == nil || len(st.DSReplication.DBs) != len(ds.DBs) {
			return fmt.Errorf("status.dsReplication = %+v, EMQX has %d DBs", st.DSReplication, len(ds.DBs))
		}
		shards := map[string]int{}
		for _, db := range ds.DBs {
			shards[db.Name] = len(db.Shards)
		}
		for _, db := range st.DSReplication.DBs {
			if !db.Stable() || int(db.NumShards) != shards[db.Name] || db.MinReplicas != 3 {
				return fmt.Errorf("status.dsReplication %+v, EMQX has %d shards", db, shards[db.Name])
			}
		}
		return nil
	})
}

// readyWithCores: the cluster is Ready with n cores and its core StatefulSet at n.
func readyWithCores(t *testing.T, ns string, n int32) error {
	got := env.GetEMQX(t, ns, "ds")
	set := statefulSet(t, ns, "ds-core")
	if !meta.IsStatusConditionTrue(got.Status.Conditions, v2beta1.Ready) || len(got.Status.CoreNodes) != int(n) || ptr.Deref(set.Spec.Replicas, 0) != n {
		return fmt.Errorf("phase %s, %d core nodes, StatefulSet at %d", got.Status.Phase, len(got.Status.CoreNodes), ptr.Deref(set.Spec.Replicas, 0))
	}
	return nil
}

// sampleReplicas reads the replica sets (from the first of nodes that answers) every 50 ms until
// stop is called, and records every sample
// in which a shard has fewer than min replicas on sites that are up; stop says how many samples
// were taken and how many reads failed.
func sampleReplicas(t *testing.T, nodes []string, min int) (stop func() (samples, lost int), failures func() []string) {
	var (
		mu            sync.Mutex
		bad           []string
		samples, lost int
		done          = make(chan struct{})
		wg            sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			var ds simulator.DSState
			var err error
			for _, n := range nodes { // a node being restarted has no cluster view for a moment
				if ds, err = env.Sim.DS(n); err == nil {
					break
				}
			}
			mu.Lock()
			if err != nil {
				lost++
				mu.Unlock()
				continue
			}
			samples++
			for _, db := range ds.DBs {
				for _, sh := range db.Shards {
					var up []string
					for _, s := range sh.Current {
						if ds.Sites[s].Status == "up" {
							up = append(up, s)
						}
					}
					if len(up) < min {
						sort.Strings(up)
						bad = append(bad, fmt.Sprintf("DB %s shard %s: %d up of %v", db.Name, sh.ID, len(up), sh.Current))
					}
				}
			}
			mu.Unlock()
		}
	}()
	var once sync.Once
	stop = func() (int, int) {
		once.Do(func() { close(done); wg.Wait() })
		mu.Lock()
		defer mu.Unlock()
		return samples, lost
	}
	t.Cleanup(func() { stop() })
	return stop, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(bad)
	}
}

// checkSamples stops a sampler and fails on a sample below min, or on too few samples to mean
// anything (no core answering for a read counts as lost).
func checkSamples(t *testing.T, phase string, stop func() (int, int), failures func() []string, min int) {
	t.Helper()
	samples, lost := stop()
	if f := failures(); len(f) > 0 {
		t.Fatalf("%s: %d of %d samples had a shard below %d replicas on running nodes, first: %s", phase, len(f), samples, min, f[0])
	}
	if samples < 20 || lost > samples/20 {
		t.Fatalf("%s: %d samples, %d reads lost: too few to judge", phase, samples, lost)
	}
	t.Logf("%s: %d samples of the replica sets (%d reads lost), every shard at %d or more replicas on running nodes", phase, samples, lost, min)
}

// TestALostCoreVolumeIsReplacedCleanly: core 0's PVC is lost (deleted with kubectl, its pod too);
// core 0 is the node the operator asks first. It comes back on a new, empty volume under the same
// name, alone at first (its own view is not the cluster's), and its old site's data is gone. The
// operator moves the shards off the old site, has another core make the node leave and forget the
// site, so the node rejoins with a new site, which then takes its share of the shards; every shard
// keeps two replicas on running nodes throughout.
func TestALostCoreVolumeIsReplacedCleanly(t *testing.T) {
	ns := startDSCluster(t, 3, 0, 4)
	before := coreSites(t, ns, 3)
	dsSettledOn(t, ns, before)

	cores := []string{nodeOf(ns, "ds", "ds-core-1"), nodeOf(ns, "ds", "ds-core-2"), nodeOf(ns, "ds", "ds-core-0")}
	stop, failures := sampleReplicas(t, cores, 2)
	kubectl(t, "-n", ns, "delete", "pvc", "emqx-data-ds-core-0", "--wait=false")
	kubectl(t, "-n", ns, "delete", "pod", "ds-core-0")
	var after []string
	harness.Eventually(t, 120*time.Second, "core 0 back with a new site", func() error {
		if err := readyWithCores(t, ns, 3); err != nil {
			return err
		}
		ds, err := env.Sim.DS(cores[0])
		if err != nil {
			return err
		}
		if _, ok := ds.Sites[before[0]]; ok {
			return fmt.Errorf("the old site %s is still known (%s)", before[0], ds.Sites[before[0]].Status)
		}
		if after, err = findCoreSites(ns, 3); err != nil {
			return err
		}
		if after[0] == before[0] {
			return fmt.Errorf("core 0 still maps to its old site")
		}
		return nil
	})
	dsSettledOn(t, ns, after)
	checkSamples(t, "replacing", stop, failures, 2)
	harness.Eventually(t, 20*time.Second, "a DSSiteRetired Event naming the old site", func() error {
		for _, ev := range eventsWithReason(t, ns, "DSSiteRetired") {
			if strings.Contains(ev.Note, "site "+before[0]+" ") {
				return nil
			}
		}
		return fmt.Errorf("none yet")
	})
	if after[1] != before[1] || after[2] != before[2] {
		t.Errorf("the other cores' sites changed: %v → %v", before, after)
	}
}
