// Package emqxapitest is a small fake of EMQX's REST API for controller tests: it serves
// GET /api/v5/nodes with HTTP Basic API-key auth, answering as EMQX does (see
// shared reference emqx-rest-api.md). The full simulator used by e2e tests lives in test/.
package emqxapitest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
