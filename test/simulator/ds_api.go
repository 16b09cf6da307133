package simulator

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The DS REST API (emqx6-behaviour.md §1.3): on EMQX Enterprise 5.9+ and 6.x nodes only, forget
// on 6.x only; elsewhere the paths are unknown. Writes answer 202 with the raw body OK (forget:
// 204); 400s carry the integer code 400, 404s "NOT_FOUND"; there is never a 409.
func (h *nodeAPI) dsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v5/ds/sites", h.dsGate(5, h.dsListSites))
	mux.HandleFunc("GET /api/v5/ds/sites/{site}", h.dsGate(5, h.dsGetSite))
	mux.HandleFunc("PUT /api/v5/ds/sites/{site}/forget", h.dsGate(6, h.dsForgetSite))
	mux.HandleFunc("GET /api/v5/ds/storages", h.dsGate(5, h.dsListDBs))
	mux.HandleFunc("GET /api/v5/ds/storages/{ds}", h.dsGate(5, h.dsGetDB))
	mux.HandleFunc("GET /api/v5/ds/storages/{ds}/replicas", h.dsGate(5, h.dsGetReplicas))
	mux.HandleFunc("PUT /api/v5/ds/storages/{ds}/replicas", h.dsGate(5, h.dsPutReplicas))
	mux.HandleFunc("PUT /api/v5/ds/storages/{ds}/replicas/{site}", h.dsGate(5, h.dsJoin))
	mux.HandleFunc("DELETE /api/v5/ds/storages/{ds}/replicas/{site}", h.dsGate(5, h.dsLeave))
}

// dsGate answers as an unknown path on nodes without the endpoint (before 5.9, or forget before
// 6.0), and authenticates like every other endpoint on the others.
func (h *nodeAPI) dsGate(minMajor int, next http.HandlerFunc) http.HandlerFunc {
	authed := h.auth(next)
	return func(w http.ResponseWriter, r *http.Request) {
		n, _, unlock := h.lock()
		ok := n != nil && hasDS(n.version) && majorOf(n.version) >= minMajor
		unlock()
		if !ok {
			h.notFound(w, r)
			return
		}
		authed(w, r)
	}
}

// dsState is the answering node's DS view of its cluster, brought up to date, with the world
// locked until unlock.
type dsState struct {
	w      *world
	c      *cluster
	v      *dsView
	unlock func()
}

func (h *nodeAPI) dsLock() dsState {
	self, c, unlock := h.lock()
	st := dsState{w: h.s.w, c: c, unlock: unlock}
	if self == nil || c == nil {
		st.c = &cluster{members: map[string]bool{}}
		st.v = &dsView{sites: map[string]string{}, dbs: map[string]*dsDB{}}
		return st
	}
	h.s.w.dsSync(c, time.Now())
	st.v = c.dsView(majorOf(self.version))
	return st
}

func (st dsState) status(site string) string { return st.w.siteStatus(st.c, st.v, site) }

// db finds the path's DB, or answers 404 (check_db_exists: 404 although the spec says 400).
func (st dsState) db(w http.ResponseWriter, r *http.Request) *dsDB {
	name := r.PathValue("ds")
	db := st.v.dbs[name]
	if db == nil {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "DB '"+name+"' does not exist")
	}
	return db
}

// writeAccepted is minirest's answer for a binary body: 202, raw OK, typed application/json.
func writeAccepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte("OK"))
}

// writeBadRequest400 is ?BAD_REQUEST(400, Desc): the code is the integer 400.
func writeBadRequest400(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"code": 400, "message": msg})
}

// Response shapes (§1.4).
type dsSiteShard struct {
	Storage    string `json:"storage"`
	ID         string `json:"id"`
	Status     string `json:"status"`
	Transition string `json:"transition,omitempty"`
}

type dsSiteInfo struct {
	Node   string        `json:"node"`
	Up     bool          `json:"up"`
	Shards []dsSiteShard `json:"shards"`
}

type dsReplicaInfo struct {
	Site   string `json:"site"`
	Status string `json:"status"`
}

type dsTransitionInfo struct {
	Site       string `json:"site"`
	Transition string `json:"transition"`
}

type dsShardInfo struct {
	ID          string             `json:"id"`
	Replicas    []dsReplicaInfo    `json:"replicas"`
	Transitions []dsTransitionInfo `json:"transitions,omitempty"`
}

type dsDBInfo struct {
	Name   string        `json:"name"`
	Shards []dsShardInfo `json:"shards"`
}

func (h *nodeAPI) dsListSites(w http.ResponseWriter, _ *http.Request) {
	st := h.dsLock()
	sites := st.v.sortedSites()
	st.unlock()
	writeJSON(w, http.StatusOK, sites)
}

// dsGetSite: the site's node, whether it is up, and the shards it replicates or is joining.
func (h *nodeAPI) dsGetSite(w http.ResponseWriter, r *http.Request) {
	site := r.PathValue("site")
	st := h.dsLock()
	defer st.unlock()
	name, ok := st.v.sites[site]
	if !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Site not found: "+site)
		return
	}
	status := st.status(site)
	info := dsSiteInfo{Node: name, Up: status == siteUp, Shards: []dsSiteShard{}}
	for _, dbName := range st.v.dbNames() {
		for _, sh := range st.v.dbs[dbName].shardList() {
			if !slices.Contains(sh.current, site) && !sh.pendingAdd(site) {
				continue
			}
			e := dsSiteShard{Storage: dbName, ID: sh.id, Status: status}
			for _, t := range sh.transitions(st.status) {
				if t.site == site {
					e.Transition = t.name()
					break
				}
			}
			info.Shards = append(info.Shards, e)
		}
	}
	writeJSON(w, http.StatusOK, info)
}

// dsForgetSite removes a site from the table: only a lost site that is in no replica set and
// joins none. Nothing else ever forgets a site.
func (h *nodeAPI) dsForgetSite(w http.ResponseWriter, r *http.Request) {
	site := r.PathValue("site")
	st := h.dsLock()
	defer st.unlock()
	if _, ok := st.v.sites[site]; !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Site not found: "+site)
		return
	}
	switch st.status(site) {
	case siteUp:
		writeBadRequest400(w, "Site is up and running")
		return
	case siteDown:
		writeBadRequest400(w, "Site is considered temporarily down")
		return
	}
	var memberOf, joining []string
	for _, dbName := range st.v.dbNames() {
		member, adding := false, false
		for _, sh := range st.v.dbs[dbName].shards {
			member = member || slices.Contains(sh.current, site)
			adding = adding || sh.pendingAdd(site)
		}
		if member {
			memberOf = append(memberOf, dbName)
		}
		if adding {
			joining = append(joining, dbName)
		}
	}
	if len(memberOf) > 0 {
		writeBadRequest400(w, "Site is still a member of replica sets of: "+strings.Join(memberOf, ", "))
		return
	}
	if len(joining) > 0 {
		writeBadRequest400(w, "Site is still a target of replica set transitions in: "+strings.Join(joining, ", "))
		return
	}
	delete(st.v.sites, site)
	st.w.dsSync(st.c, time.Now()) // an UNCLAIMED node of that name claims its site
	w.WriteHeader(http.StatusNoContent)
}

func (h *nodeAPI) dsListDBs(w http.ResponseWriter, _ *http.Request) {
	st := h.dsLock()
	names := st.v.dbNames()
	st.unlock()
	writeJSON(w, http.StatusOK, names)
}

func (h *nodeAPI) dsGetDB(w http.ResponseWriter, r *http.Request) {
	st := h.dsLock()
	defer st.unlock()
	db := st.db(w, r)
	if db == nil {
		return
	}
	info := dsDBInfo{Name: db.name, Shards: []dsShardInfo{}}
	for _, sh := range db.shardList() {
		si := dsShardInfo{ID: sh.id, Replicas: []dsReplicaInfo{}}
		for _, site := range sh.current {
			si.Replicas = append(si.Replicas, dsReplicaInfo{Site: site, Status: st.status(site)})
		}
		for _, t := range sh.transitions(st.status) {
			si.Transitions = append(si.Transitions, dsTransitionInfo{Site: t.site, Transition: t.name()})
		}
		info.Shards = append(info.Shards, si)
	}
	writeJSON(w, http.StatusOK, info)
}

// dsGetReplicas: the sorted union of the current replica sets, not the targets.
func (h *nodeAPI) dsGetReplicas(w http.ResponseWriter, r *http.Request) {
	st := h.dsLock()
	defer st.unlock()
	db := st.db(w, r)
	if db == nil {
		return
	}
	sites := db.currentSites()
	if sites == nil {
		sites = []string{}
	}
	writeJSON(w, http.StatusOK, sites)
}

// dsPutReplicas replaces every shard's target set (assign_db_sites_trans).
func (h *nodeAPI) dsPutReplicas(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	st := h.dsLock()
	defer st.unlock()
	db := st.db(w, r)
	if db == nil {
		return
	}
	var sites []string
	if err := json.Unmarshal(body, &sites); err != nil {
		// Schema validation (not ?BAD_REQUEST/2): its wording is not in the reference.
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid json message received")
		return
	}
	if msg := st.assign(db, sites); msg != "" {
		writeBadRequest400(w, msg)
		return
	}
	st.w.dsSync(st.c, time.Now())
	writeAccepted(w)
}

// dsJoin adds the site to the DB's target sites; already there → 202 unchanged.
func (h *nodeAPI) dsJoin(w http.ResponseWriter, r *http.Request) { h.dsModify(w, r, true) }

// dsLeave removes the site from the DB's target sites; not there (even unknown) → 404.
func (h *nodeAPI) dsLeave(w http.ResponseWriter, r *http.Request) { h.dsModify(w, r, false) }

// dsModify is modify_db_sites_trans: the target sites ± site, then the same checks and
// allocation as assign.
func (h *nodeAPI) dsModify(w http.ResponseWriter, r *http.Request, add bool) {
	site := r.PathValue("site")
	st := h.dsLock()
	defer st.unlock()
	db := st.db(w, r)
	if db == nil {
		return
	}
	targets := db.targetSites()
	if slices.Contains(targets, site) == add { // unchanged
		if add {
			writeAccepted(w)
		} else {
			writeError(w, http.StatusNotFound, "NOT_FOUND", "Site is not part of replica set")
		}
		return
	}
	if add {
		targets = sortedSet(append(targets, site))
	} else {
		targets = minus(targets, []string{site})
	}
	if msg := st.assign(db, targets); msg != "" {
		writeBadRequest400(w, msg)
		return
	}
	st.w.dsSync(st.c, time.Now())
	writeAccepted(w)
}

// assign sets every shard's target to compute_allocation over sites, after the reference's
// checks in order; it returns the 400 message of the first that fails. A DB not yet allocated
// has no shards, so nothing changes.
func (st dsState) assign(db *dsDB, sites []string) string {
	if len(sites) == 0 {
		return "Replica sets would become too small"
	}
	var unknown, lost []string
	for _, site := range sites {
		if _, ok := st.v.sites[site]; !ok {
			unknown = append(unknown, site)
		} else if st.status(site) == siteLost {
			lost = append(lost, site)
		}
	}
	if len(unknown) > 0 {
		return "Unknown sites: " + strings.Join(unknown, ", ")
	}
	if len(lost) > 0 {
		return "Replication still targets lost sites: " + strings.Join(lost, ", ")
	}
	shards := db.shardList()
	ids := make([]string, len(shards))
	for i, sh := range shards {
		ids[i] = sh.id
	}
	alloc := computeAllocation(ids, sites, db.conf.replicationFactor)
	for _, sh := range shards {
		sh.target = alloc[sh.id]
	}
	return ""
}
