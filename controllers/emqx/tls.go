package emqx

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/apply"
	"github.com/broker-ops/emqx-operator/internal/desired"
	"github.com/broker-ops/emqx-operator/internal/status"
	"github.com/broker-ops/emqx-operator/internal/tlscert"
	"github.com/broker-ops/emqx-operator/internal/validation"
	"github.com/broker-ops/emqx-operator/internal/values"
)

// tlsProbeTimeout bounds one TLS handshake with one node's listener.
const tlsProbeTimeout = 2 * time.Second

// tlsInputs is what the certificate decision reads: the pair the operator's TLS Secret holds (nil
// before the first rollout) and the user's source Secret (nil when it does not exist).
type tlsInputs struct {
	Current *tlscert.Pair
	Source  *corev1.Secret
}

// tlsDecision is what this pass does about spec.tls.
type tlsDecision struct {
	// Files is what the operator's TLS Secret holds after this pass: the source's pair when it
	// validated, else the pair already in use.
	Files *desired.TLSFiles
	// InUse is the parsed pair of Files.
	InUse *tlscert.Pair
	// Rotating: Files differs from what the operator's Secret held before this pass.
	Rotating bool
	// RotationEvent announces a new certificate ("" when the certificate is not new).
	RotationEvent string
	// Refused says why the source was refused while the pair in use stays ("": not refused).
	Refused string
	// Wait: there is no certificate to serve yet (cert-manager has not issued one); nothing but
	// the Certificate is applied.
	Wait bool
	// Problem holds the cluster: no certificate to serve, none coming.
	Problem *validation.Problem
}

// readTLS gathers the certificate decision's inputs.
func (r *EMQXReconciler) readTLS(ctx context.Context, p *pass) (tlsInputs, error) {
	current, err := r.currentTLS(ctx, p.e)
	if err != nil {
		return tlsInputs{}, err
	}
	source, err := r.userSecret(ctx, p, p.e.TLSSourceSecretName())
	return tlsInputs{Current: current, Source: source}, err
}

// decideTLS decides which certificate the nodes get. Kubernetes refreshes a mounted Secret in every
// pod at about the same moment and EMQX re-reads certificate files on its own, so a pair copied
// unchecked would reach every node at once: the source is validated first (it parses, the key
// matches, it is valid now, it covers the names clients use) and only then copied into the
// Secret the pods mount. A source that does not validate never reaches a node; the pair in use stays.
func decideTLS(e *v2beta1.EMQX, in tlsInputs, now time.Time) tlsDecision {
	var d tlsDecision
	current, source := in.Current, in.Source
	var pair *tlscert.Pair
	var invalid error
	if source != nil {
		if pair, invalid = tlscert.Parse(source.Data); invalid == nil {
			invalid = pair.Validate(e.TLSDNSNames(), now)
		}
	}
	switch {
	case source != nil && invalid == nil:
		d.InUse = pair
		d.Files = &desired.TLSFiles{Cert: pair.Cert, Key: pair.Key, CA: pair.CABundle()}
		d.Rotating = current == nil || current.Fingerprint() != pair.Fingerprint() ||
			string(current.Key) != string(pair.Key) || string(current.CA) != string(d.Files.CA)
		if current != nil && current.Fingerprint() != pair.Fingerprint() {
			d.RotationEvent = fmt.Sprintf("rolling out certificate %s (serial %s, expires %s) from Secret %s; nodes pick it up without a restart",
				short(pair.Fingerprint()), pair.SerialNumber(), pair.Leaf.NotAfter.UTC().Format(time.RFC3339), source.Name)
		}
	case current != nil:
		// The source is missing or does not validate: keep serving the pair in use, and say why.
		d.InUse = current
		d.Files = &desired.TLSFiles{Cert: current.Cert, Key: current.Key, CA: current.CA}
		why := fmt.Sprintf("Secret %s not found", e.TLSSourceSecretName())
		if source != nil {
			why = fmt.Sprintf("Secret %s: %s", source.Name, invalid)
		}
		d.Refused = fmt.Sprintf("%s; the nodes keep serving certificate %s (expires %s)",
			why, short(current.Fingerprint()), current.Leaf.NotAfter.UTC().Format(time.RFC3339))
	case e.Spec.TLS.CertManager != nil && source == nil:
		// A new cluster waits for cert-manager: the Certificate is applied, the rest once it is issued.
		d.Wait = true
	case source == nil:
		d.Problem = secretNotFound("tls.secretName", e.Namespace, e.TLSSourceSecretName())
	default:
		d.Problem = &validation.Problem{Reason: pipeline.ReasonCertificateInvalid,
			Message: fmt.Sprintf("tls: Secret %s: %s", source.Name, invalid)}
	}
	return d
}

// currentTLS is the pair in the operator's TLS Secret (nil before the first rollout).
func (r *EMQXReconciler) currentTLS(ctx context.Context, e *v2beta1.EMQX) (*tlscert.Pair, error) {
	s := &corev1.Secret{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: e.TLSSecretName()}, s)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pair, err := tlscert.Parse(s.Data)
	if err != nil {
		// Only validated pairs are ever written here; one that no longer parses was edited by
		// hand and is replaced by the source's.
		return nil, nil //nolint:nilerr // treated as absent, on purpose
	}
	return pair, nil
}

// applyCertificate applies only the cert-manager Certificate, while the cluster waits for it to be issued.
func (r *EMQXReconciler) applyCertificate(ctx context.Context, e *v2beta1.EMQX, p *pass) error {
	cert := desired.Certificate(e)
	cert.SetOwnerReferences([]metav1.OwnerReference{desired.OwnerReference(e)})
	applier := &apply.Applier{Client: r.Client, Scheme: r.Scheme, Recorder: r.Recorder}
	if _, err := applier.Apply(ctx, e, []client.Object{cert}); err != nil {
		if meta.IsNoMatchError(err) {
			p.reports.TLS.Saw(false, pipeline.ReasonCertManagerMissing,
				"tls.certManager is set but the cert-manager.io/v1 Certificate API is not installed; install cert-manager or give tls.secretName")
			r.warnOnce(e, v2beta1.TLSCertificateReady, p.reports.TLS.Reason, p.reports.TLS.Message)
			return nil
		}
		return err
	}
	p.reports.TLS.Saw(false, pipeline.ReasonWaitingForCertificate, fmt.Sprintf("waiting for cert-manager to issue Certificate %s into Secret %s",
		e.CertificateName(), e.TLSSourceSecretName()))
	return nil
}

// observeTLS confirms a rollout the way a client would see it: a TLS handshake with every running
// node's TLS listeners, comparing the certificate served with the one rolled out. A confirmed
// rollout is not probed again until the certificate or the set of nodes changes.
func (r *EMQXReconciler) observeTLS(ctx context.Context, e *v2beta1.EMQX, o *status.Observed, d tlsDecision, p *pass) {
	if d.InUse == nil {
		return
	}
	pods := runningPods(o.Pods)
	st := &v2beta1.TLSStatus{
		Fingerprint:  d.InUse.Fingerprint(),
		SerialNumber: d.InUse.SerialNumber(),
		NotAfter:     &metav1.Time{Time: d.InUse.Leaf.NotAfter.UTC().Truncate(time.Second)},
		DNSNames:     d.InUse.Names(),
	}
	p.reports.TLS.Served = st
	// A refused source is this pass's news: the probe below still reports what nodes serve, but
	// must not turn the condition back to true.
	refused := p.reports.TLS.Observed
	all := fmt.Sprintf("%d/%d", len(pods), len(pods))
	// Confirmed before and nothing changed since: nodes mount the same files, so no new probe.
	if prev := e.Status.TLS; !refused && !d.Rotating && prev != nil && prev.Fingerprint == st.Fingerprint && prev.NodesServing == all &&
		len(pods) > 0 && meta.IsStatusConditionTrue(e.Status.Conditions, v2beta1.TLSCertificateReady) {
		st.NodesServing = all
		r.confirmedTLS(p, st)
		return
	}
	if len(pods) == 0 {
		st.NodesServing = "0/0"
		if !refused {
			p.reports.TLS.Saw(false, "Pending", "the certificate is in place; no node is running yet")
		}
		return
	}
	serving, stale := r.probeTLS(ctx, e, pods, st.Fingerprint)
	st.NodesServing = fmt.Sprintf("%d/%d", serving, len(pods))
	if refused {
		return
	}
	if serving == len(pods) {
		r.confirmedTLS(p, st)
		return
	}
	p.reports.TLS.Rotating = true
	p.reports.TLS.Saw(false, pipeline.ReasonCertificateRotating, fmt.Sprintf("%s nodes serve certificate %s; waiting for %v (EMQX re-reads certificate files about every 2 minutes, no restart)",
		st.NodesServing, short(st.Fingerprint), stale))
}

func (r *EMQXReconciler) confirmedTLS(p *pass, st *v2beta1.TLSStatus) {
	p.reports.TLS.Saw(true, pipeline.ReasonCertificateServed, fmt.Sprintf("every node serves certificate %s (serial %s, expires %s)",
		short(st.Fingerprint), st.SerialNumber, st.NotAfter.UTC().Format(time.RFC3339)))
}

// probeTLS handshakes with every TLS listener of every pod, concurrently, and returns how many
// pods serve want on all of them and the pods that do not.
func (r *EMQXReconciler) probeTLS(ctx context.Context, e *v2beta1.EMQX, pods []corev1.Pod, want string) (int, []string) {
	ports := values.TLSPorts(e)
	ok := make([]bool, len(pods))
	var wg sync.WaitGroup
	for i := range pods {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ok[i] = true
			for _, port := range ports {
				got, err := tlscert.Served(ctx, net.JoinHostPort(pods[i].Status.PodIP, strconv.Itoa(port)), tlsProbeTimeout)
				if err != nil || got != want {
					ok[i] = false
					return
				}
			}
		}(i)
	}
	wg.Wait()
	serving, stale := 0, []string{}
	for i, good := range ok {
		if good {
			serving++
		} else {
			stale = append(stale, pods[i].Name)
		}
	}
	return serving, stale
}

// runningPods are the pods whose EMQX node can serve: running, with an IP, not being deleted.
func runningPods(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for i := range pods {
		if status.IsPodReady(&pods[i]) && pods[i].Status.PodIP != "" {
			out = append(out, pods[i])
		}
	}
	return out
}

func short(fingerprint string) string {
	if len(fingerprint) > 16 {
		return fingerprint[:16]
	}
	return fingerprint
}
