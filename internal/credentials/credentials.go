// Package credentials builds the Secrets the operator generates for a cluster: the Erlang cookie,
// the dashboard admin password and the operator's own API key (generated once, never regenerated),
// and the API-key bootstrap file (derived from the operator's key and the user's keys).
package credentials

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/values"
)

// LabelGenerated marks operator-made Secrets; the operator's Secret cache watches only these.
const LabelGenerated = "apps.emqx.io/generated-secret"

// OperatorKeyName is the name of the operator's API key in a cluster. It is unique per cluster
// (derived from the resource's UID) so that importing another cluster's backup, which overwrites
// API keys of the same name, can never replace the key the operator uses.
func OperatorKeyName(e *v2beta1.EMQX) string {
	uid := strings.ReplaceAll(string(e.UID), "-", "")
	if len(uid) > 12 {
		uid = uid[:12]
	}
	if uid == "" {
		return "emqx-operator"
	}
	return "emqx-operator-" + uid
}

// ScrapeKeyName is the API key Prometheus scrapes EMQX's stats with (spec.monitoring.podMonitor):
// unique per cluster like the operator's key, and a viewer, so that the credentials a monitoring
// system holds can read but never change the cluster.
func ScrapeKeyName(e *v2beta1.EMQX) string {
	return strings.Replace(OperatorKeyName(e), "emqx-operator", "prometheus", 1)
}

// Scrape keys: the Secret's data keys, as the PodMonitor's basicAuth reads them.
const (
	ScrapeUsernameKey = "username"
	ScrapePasswordKey = "password"
)

// Generated returns the Secrets that are generated once: cookie, dashboard password, operator API
// key, and Prometheus's scrape key while spec.monitoring.podMonitor is set.
// rnd supplies the randomness (crypto/rand in production).
func Generated(e *v2beta1.EMQX, rnd io.Reader) ([]*corev1.Secret, error) {
	cookie, err := randomString(rnd, 48)
	if err != nil {
		return nil, err
	}
	password, err := randomString(rnd, 24)
	if err != nil {
		return nil, err
	}
	apiSecret, err := randomString(rnd, 48)
	if err != nil {
		return nil, err
	}
	out := []*corev1.Secret{
		secret(e, e.CookieSecretName(), map[string]string{values.CookieKey: cookie}),
		secret(e, e.DashboardSecretName(), map[string]string{
			values.DashboardUsernameKey: "admin", values.DashboardPasswordKey: password,
		}),
		secret(e, e.OperatorKeySecretName(), map[string]string{
			values.OperatorKeyKey: OperatorKeyName(e), values.OperatorSecretKey: apiSecret,
		}),
	}
	if e.WantsPodMonitor() {
		scrapeSecret, err := randomString(rnd, 48)
		if err != nil {
			return nil, err
		}
		out = append(out, secret(e, e.ScrapeKeySecretName(), map[string]string{
			ScrapeUsernameKey: ScrapeKeyName(e), ScrapePasswordKey: scrapeSecret,
		}))
	}
	return out, nil
}

// Recover carries over, into the generated Secrets about to be created, the API key secrets that
// the bootstrap Secret already gives EMQX: the operator's key and the scrape key, whose Secrets
// may be deleted (by hand, by a clean-up script) while the nodes still hold the old bootstrap file.
// EMQX reads that file only at start, so a newly generated secret would be refused (401) by every
// running node until each restarted; the one recovered from the bootstrap Secret works at once.
// It returns the names of the Secrets whose secret it recovered.
func Recover(e *v2beta1.EMQX, generated []*corev1.Secret, bootstrap *corev1.Secret) []string {
	if bootstrap == nil {
		return nil
	}
	known := map[string]string{}
	for _, line := range strings.Split(string(bootstrap.Data[values.BootstrapFileKey]), "\n") {
		if key, rest, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			if secret, _, ok := strings.Cut(rest, ":"); ok && secret != "" {
				known[key] = secret
			}
		}
	}
	// Secret name → the key name it holds and the data field of its secret.
	recoverable := map[string][2]string{
		e.OperatorKeySecretName(): {OperatorKeyName(e), values.OperatorSecretKey},
		e.ScrapeKeySecretName():   {ScrapeKeyName(e), ScrapePasswordKey},
	}
	var out []string
	for _, s := range generated {
		r, ok := recoverable[s.Name]
		if !ok {
			continue
		}
		if secret, ok := known[r[0]]; ok {
			s.Data[r[1]] = []byte(secret)
			out = append(out, s.Name)
		}
	}
	return out
}

// APIKey is one line of EMQX's API-key bootstrap file.
type APIKey struct {
	Key, Secret string
}

// BootstrapFile builds the Secret holding EMQX's API-key bootstrap file: the operator's key
// first, then the user's keys in the order given, each with the administrator role, then
// Prometheus's scrape key (nil: none) with the viewer role.
func BootstrapFile(e *v2beta1.EMQX, operator APIKey, user []APIKey, scrape *APIKey) *corev1.Secret {
	var b strings.Builder
	for _, k := range append([]APIKey{operator}, user...) {
		fmt.Fprintf(&b, "%s:%s:administrator\n", k.Key, k.Secret)
	}
	if scrape != nil {
		fmt.Fprintf(&b, "%s:%s:viewer\n", scrape.Key, scrape.Secret)
	}
	return secret(e, e.BootstrapSecretName(), map[string]string{values.BootstrapFileKey: b.String()})
}

// License builds the Secret pods mount the licence from; it holds only keys EMQX accepted.
func License(e *v2beta1.EMQX, key string) *corev1.Secret {
	return secret(e, e.LicenseSecretName(), map[string]string{values.LicenseKey: key})
}

// TLS builds the Secret pods mount the listeners' certificate from; it holds only certificates
// the operator validated (internal/tlscert).
func TLS(e *v2beta1.EMQX, cert, key, ca []byte) *corev1.Secret {
	return secret(e, e.TLSSecretName(), map[string]string{
		values.TLSCertFileKey: string(cert), values.TLSKeyFileKey: string(key), values.TLSCAFileKey: string(ca)})
}

func secret(e *v2beta1.EMQX, name string, data map[string]string) *corev1.Secret {
	labels := e.SelectorLabels()
	labels[LabelGenerated] = "true"
	labels[v2beta1.LabelWatched] = "true"
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.Namespace, Labels: labels},
		Type:       corev1.SecretTypeOpaque,
		StringData: nil,
		Data:       toBytes(data),
	}
}

func toBytes(m map[string]string) map[string][]byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string][]byte, len(m))
	for _, k := range keys {
		out[k] = []byte(m[k])
	}
	return out
}

// randomString returns n URL-safe characters; it never contains ':' (the bootstrap file's separator).
func randomString(rnd io.Reader, n int) (string, error) {
	buf := make([]byte, n)
	if _, err := io.ReadFull(rnd, buf); err != nil {
		return "", fmt.Errorf("generating a secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(buf)[:n], nil
}

// Reader is the randomness used in production.
var Reader io.Reader = rand.Reader
