package dsrepl

import (
	"sort"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// Reading is what EMQX said about durable storage: every site it knows (by ID) and every DB.
type Reading struct {
	Sites map[string]emqxapi.DSSite
	DBs   []emqxapi.DSDB
}

// InUse: EMQX has DS DBs. /ds/sites answers also without durable sessions; no DB is the signal
// that DS is not in use (§1.1, trap 11).
func (r *Reading) InUse() bool { return r != nil && len(r.DBs) > 0 }

// SiteOfNode returns the site a node owns ("" when it has none: not registered yet, or running
// UNCLAIMED). A node name may own one site at a time (§1.1).
func (r *Reading) SiteOfNode(node string) string {
	for id, s := range r.Sites {
		if s.Node == node {
			return id
		}
	}
	return ""
}

// targets returns the sites a shard will hold once its transitions finish: the current replicas,
// plus the joining, minus the leaving (the vendor's TargetSites()).
func targets(sh emqxapi.DSShard) map[string]bool {
	set := map[string]bool{}
	for _, r := range sh.Replicas {
		set[r.Site] = true
	}
	for _, t := range sh.Transitions {
		switch t.Transition {
		case "joining":
			set[t.Site] = true
		case "leaving":
			delete(set, t.Site)
		}
	}
	return set
}

// TargetUnion is the union of a DB's shards' target sets, sorted.
func TargetUnion(db emqxapi.DSDB) []string {
	union := map[string]bool{}
	for _, sh := range db.Shards {
		for s := range targets(sh) {
			union[s] = true
		}
	}
	return sortedSet(union)
}

// ShardsOf counts the shards (of every DB) whose current or target set holds site.
func (r *Reading) ShardsOf(site string) (n int, dbs []string) {
	for _, db := range r.DBs {
		held := 0
		for _, sh := range db.Shards {
			if targets(sh)[site] || inCurrent(sh, site) {
				held++
			}
		}
		if held > 0 {
			n += held
			dbs = append(dbs, db.Name)
		}
	}
	return n, dbs
}

func inCurrent(sh emqxapi.DSShard, site string) bool {
	for _, r := range sh.Replicas {
		if r.Site == site {
			return true
		}
	}
	return false
}

// Summarize is status.dsReplication: per DB, its shards, replicas, lost replicas, pending
// transitions and the fewest and most replicas of a shard (the vendor's 2.3 shape).
func Summarize(dbs []emqxapi.DSDB) []v2beta1.DSDBReplicationStatus {
	out := make([]v2beta1.DSDBReplicationStatus, 0, len(dbs))
	for _, db := range dbs {
		s := v2beta1.DSDBReplicationStatus{Name: db.Name, NumShards: int32(len(db.Shards))}
		for i, sh := range db.Shards {
			n := int32(len(sh.Replicas))
			s.NumShardReplicas += n
			s.NumTransitions += int32(len(sh.Transitions))
			for _, r := range sh.Replicas {
				if r.Status == "lost" {
					s.LostShardReplicas++
				}
			}
			if i == 0 || n < s.MinReplicas {
				s.MinReplicas = n
			}
			if n > s.MaxReplicas {
				s.MaxReplicas = n
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sortedSet(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
