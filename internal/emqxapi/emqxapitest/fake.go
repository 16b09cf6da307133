// Package emqxapitest is a small fake of EMQX's REST API for controller tests: it serves
// GET /api/v5/nodes and a fixed durable-storage view with HTTP Basic API-key auth, answering as EMQX does (see
// shared reference emqx-rest-api.md). The full simulator used by e2e tests lives in test/.
package emqxapitest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"

	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// Server is a fake EMQX node API.
type Server struct {
	*httptest.Server
	mu      sync.Mutex
	key     string
	secret  string
	nodes   []emqxapi.Node
	calls   int
	refused int
	// requests counts every request, answered or not, as EMQX would see it.
	requests int
	// ds is durable storage as GET /ds/... shows it; assigned records each PUT …/replicas.
	ds       DS
	assigned []Assignment
}

// DS is a fixed durable-storage view: sites by ID and DBs (nil DBs: none exist). Broken makes
// every DS read answer 500.
type DS struct {
	Sites  map[string]emqxapi.DSSite
	DBs    []emqxapi.DSDB
	Broken bool
}

// Assignment is one PUT /ds/storages/{DB}/replicas the fake received.
type Assignment struct {
	DB    string
	Sites []string
}

// New starts a fake that accepts no key until SetCredentials is called.
func New() *Server {
	s := &Server{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v5/nodes", s.withAuth(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		writeJSON(w, http.StatusOK, s.nodes)
	}))
	mux.HandleFunc("GET /api/v5/ds/storages", s.withAuth(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.ds.Broken {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"code": "INTERNAL_ERROR", "message": "timeout"})
			return
		}
		names := []string{}
		for _, db := range s.ds.DBs {
			names = append(names, db.Name)
		}
		writeJSON(w, http.StatusOK, names)
	}))
	mux.HandleFunc("GET /api/v5/ds/storages/{db}", s.withAuth(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, db := range s.ds.DBs {
			if db.Name == r.PathValue("db") {
				writeJSON(w, http.StatusOK, db)
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"code": "NOT_FOUND", "message": "DB '" + r.PathValue("db") + "' does not exist"})
	}))
	mux.HandleFunc("GET /api/v5/ds/sites", s.withAuth(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		ids := []string{}
		for id := range s.ds.Sites {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		writeJSON(w, http.StatusOK, ids)
	}))
	mux.HandleFunc("GET /api/v5/ds/sites/{site}", s.withAuth(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		site, ok := s.ds.Sites[r.PathValue("site")]
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"code": "NOT_FOUND", "message": "Site not found: " + r.PathValue("site")})
			return
		}
		writeJSON(w, http.StatusOK, site)
	}))
	mux.HandleFunc("PUT /api/v5/ds/storages/{db}/replicas", s.withAuth(func(w http.ResponseWriter, r *http.Request) {
		var sites []string
		if err := json.NewDecoder(r.Body).Decode(&sites); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"code": 400, "message": err.Error()})
			return
		}
		s.mu.Lock()
		s.assigned = append(s.assigned, Assignment{DB: r.PathValue("db"), Sites: sites})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte("OK"))
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"code": "NOT_FOUND", "message": "Request Path Not Found"})
	})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests++
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	return s
}

// SetCredentials sets the only API key accepted.
func (s *Server) SetCredentials(key, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key, s.secret = key, secret
}

// SetNodes sets what GET /api/v5/nodes returns.
func (s *Server) SetNodes(nodes ...emqxapi.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes = append([]emqxapi.Node{}, nodes...)
}

// SetDS sets what the durable-storage endpoints show.
func (s *Server) SetDS(ds DS) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ds = ds
}

// Assigned returns the replica assignments received so far.
func (s *Server) Assigned() []Assignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Assignment{}, s.assigned...)
}

// Calls counts authenticated calls; Refused counts 401 answers.
func (s *Server) Calls() (ok, refused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, s.refused
}

// Requests counts every request the fake received, whatever its path or answer.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *Server) withAuth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, secret, ok := r.BasicAuth()
		s.mu.Lock()
		good := ok && s.key != "" && key == s.key && secret == s.secret
		if good {
			s.calls++
		} else {
			s.refused++
		}
		s.mu.Unlock()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic Realm="emqx-dashboard"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{
				"code": "AUTHORIZATION_HEADER_ERROR", "message": "Support authorization: basic/bearer "})
			return
		}
		if !good {
			w.Header().Set("WWW-Authenticate", `Basic Realm="emqx-dashboard"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{
				"code": "BAD_API_KEY_OR_SECRET", "message": "Check api_key/api_secret"})
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
