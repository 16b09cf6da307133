package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// EMQX 4.4 nodes (images emqx/emqx-ee:4.x, emqx/emqx:4.x), as the seed article runs them: every
// node is a core, the management API is on port 8081 under /api/v4 with an application id and
// secret (EMQX_MANAGEMENT__DEFAULT_APPLICATION__ID / __SECRET, default admin/public), every JSON
// answer carries {"code": 0, "data": ...}, and GET /status on 8081 is the health check
// (emqx-rest-api.md, "EMQX 4.4"). The licence comes from the file EMQX_LICENSE__FILE names.

// ManagementPortV4 is EMQX 4's management API port.
const ManagementPortV4 = 8081

// isV4 reports whether an EMQX release is 4.x.
func isV4(version string) bool { return strings.HasPrefix(version, "4.") }

// v4Management reads the default application's credentials from the node's environment.
func v4Management(env map[string]string) (id, secret string) {
	unquote := func(s string) string { return strings.Trim(s, `"`) }
	id, secret = unquote(env["EMQX_MANAGEMENT__DEFAULT_APPLICATION__ID"]), unquote(env["EMQX_MANAGEMENT__DEFAULT_APPLICATION__SECRET"])
	if id == "" {
		id = "admin"
	}
	if secret == "" {
		secret = "public"
	}
	return id, secret
}

// k8sDiscoveryV4 is EMQX 4's cluster.discovery = k8s (ekka_cluster_k8s): the node lists the
// endpoints of EMQX_CLUSTER__K8S__SERVICE_NAME in EMQX_CLUSTER__K8S__NAMESPACE with the pod's
// ServiceAccount token and joins the hosts it finds. It returns the discovery group, nodes of one
// group find each other ("" for another strategy). A pod without a token, or whose ServiceAccount
// may not list endpoints there, never finds a peer, as a real node would log 403s and stay alone.
func k8sDiscoveryV4(ctx context.Context, kc kubernetes.Interface, p *corev1.Pod, env map[string]string) (string, error) {
	unquote := func(s string) string { return strings.Trim(s, `"`) }
	if unquote(env["EMQX_CLUSTER__DISCOVERY"]) != "k8s" {
		return "", nil
	}
	svc, ns := unquote(env["EMQX_CLUSTER__K8S__SERVICE_NAME"]), unquote(env["EMQX_CLUSTER__K8S__NAMESPACE"])
	if svc == "" || ns == "" || unquote(env["EMQX_CLUSTER__K8S__ADDRESS_TYPE"]) != "hostname" {
		return "", fmt.Errorf("k8s discovery needs EMQX_CLUSTER__K8S__SERVICE_NAME, __NAMESPACE and (for stable names) __ADDRESS_TYPE=hostname")
	}
	if !hasServiceAccountToken(p) {
		return "", nil
	}
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	review, err := kc.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               "system:serviceaccount:" + p.Namespace + ":" + sa,
		Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + p.Namespace},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "list", Resource: "endpoints"},
	}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("checking the ServiceAccount's access to endpoints: %w", err)
	}
	if !review.Status.Allowed {
		return "", nil
	}
	return "k8s:" + ns + "/" + svc, nil
}

// hasServiceAccountToken: the API server mounted a token (a projected serviceAccountToken volume).
func hasServiceAccountToken(p *corev1.Pod) bool {
	for _, v := range p.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.ServiceAccountToken != nil {
				return true
			}
		}
	}
	return false
}

// apiV4 serves one EMQX 4 node's management API.
func (s *Simulator) apiV4(name, podUID string) http.Handler {
	mux := http.NewServeMux()
	h := &nodeAPI{s: s, name: name}
	mux.HandleFunc("/status", h.status)
	mux.HandleFunc("GET /api/v4/nodes", h.authV4(h.nodesV4))
	mux.HandleFunc("POST /api/v4/license/upload", h.authV4(h.licenseUploadV4))
	mux.HandleFunc("PUT /api/v4/listeners/{id}/restart", h.authV4(h.restartListenerV4))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 404, "message": "Not Found"})
	})
	return s.faulty(name, podUID, mux)
}

// authV4 checks HTTP Basic against the node's default application (401 otherwise).
func (h *nodeAPI) authV4(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		n, _, unlock := h.lock()
		good := ok && n != nil && id == n.mgmtID && secret == n.mgmtSecret
		unlock()
		if !good {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 106, "message": "Auth Failed"})
			return
		}
		next(w, r)
	}
}

// nodesV4: GET /api/v4/nodes, the running members of the node's cluster.
func (h *nodeAPI) nodesV4(w http.ResponseWriter, _ *http.Request) {
	_, c, unlock := h.lock()
	out := []map[string]any{}
	for _, m := range h.s.w.members(c) {
		if m.state != running || m.faults.Unresponsive {
			continue
		}
		out = append(out, map[string]any{"node": m.name, "node_status": "Running", "version": m.version,
			"otp_release": "R21/10.3.4", "connections": m.connections,
			"uptime": fmt.Sprintf("%d seconds", int(time.Since(m.startedAt).Seconds()))})
	}
	unlock()
	writeJSON(w, http.StatusOK, map[string]any{"code": 0, "data": out})
}

// licenseUploadV4: POST /api/v4/license/upload {"license": "<file content>"} (EMQX 4.4 Enterprise).
// The licence is validated, then every node of the cluster loads it at once, without a restart
// (the 4.4 docs: it is copied to all nodes and reloaded). A bad licence changes nothing.
func (h *nodeAPI) licenseUploadV4(w http.ResponseWriter, r *http.Request) {
	var body struct {
		License string `json:"license"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || strings.TrimSpace(body.License) == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 102, "message": "license is required"})
		return
	}
	n, c, unlock := h.lock()
	defer unlock()
	if n == nil || c == nil || !strings.Contains(n.image, "emqx-ee") { // EMQX 4 Broker has no licence
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 404, "message": "Not Found"})
		return
	}
	lic, err := ParseLicense(strings.TrimSpace(body.License), n.version, time.Now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 102, "message": "invalid license: " + err.Error()})
		return
	}
	c.license = lic
	writeJSON(w, http.StatusOK, map[string]any{"code": 0})
}

// restartListenerV4: PUT /api/v4/listeners/{identifier}/restart restarts that listener on every
// node of the cluster (it re-reads its certificate files); the other listeners keep their clients.
func (h *nodeAPI) restartListenerV4(w http.ResponseWriter, r *http.Request) {
	switch r.PathValue("id") {
	case "mqtt:tcp:external", "mqtt:ssl:external", "mqtt:ws:external", "mqtt:wss:external":
		writeJSON(w, http.StatusOK, map[string]any{"code": 0})
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 404, "message": "listener not found"})
	}
}
