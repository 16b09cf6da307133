package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/plugins"
	"github.com/broker-ops/emqx-operator/internal/upgradepath"
)

// emqxContainer is the container of an EMQX pod that runs `emqx ctl`.
const emqxContainer = "emqx"

// act carries out the decision's one action, then looks again.
func (r *EMQXPluginReconciler) act(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	d := p.decision
	if d.Action.Kind != plugins.Install || d.WaitReason != "" {
		if err := r.removeIdleReader(ctx, p.pl); err != nil {
			return pipeline.Outcome{}, err
		}
	}
	switch {
	case d.WaitReason == plugins.ReasonNoRunningNode:
		return pipeline.WaitFor(0, d.WaitReason), nil // the cluster's status brings a node
	case d.WaitReason == plugins.ReasonConfigRejected:
		return pipeline.Rejected(d.WaitReason), nil // the spec's next change brings it back
	case d.WaitReason != "":
		return pipeline.WaitFor(pipeline.MissingDependency, d.WaitReason), nil
	case d.Action.Kind == plugins.NoAction:
		return pipeline.Converged(converged), nil
	}
	a := d.Action
	c := r.EMQXClients(p.answered.BaseURL, p.creds)
	var err error
	switch a.Kind {
	case plugins.Install:
		return r.install(ctx, p)
	case plugins.Sync:
		np, ok := p.byNode[a.Node]
		if !ok { // the node that has it is not among the ready ones: ask again soon
			return pipeline.WaitFor(pipeline.Converging, "WaitingForNode"), nil
		}
		if err = r.EMQXClients(emqxapi.PodBaseURL(np.pod.Status.PodIP), p.creds).SyncPlugin(ctx, a.NameVsn); err == nil {
			r.event(p, corev1.EventTypeNormal, "Copied", "Sync", "plugin %s copied from node %s to the nodes without it", a.NameVsn, a.Node)
		}
	case plugins.SetConfig:
		err = c.SetPluginConfig(ctx, a.NameVsn, p.pl.Spec.Config.Raw) // set: Decide asks only then
		if emqxapi.HasCode(err, http.StatusBadRequest, "BAD_CONFIG") {
			// The running configuration stays; the refusal is told once per generation.
			p.config = &condition{reason: ReasonConfigRejected, message: "EMQX refused the configuration: " + emqxMessage(err)}
			r.mem.update(p.pl.UID, func(m *remembered) { m.rejected, m.rejectedMessage = configKey(p.pl), p.config.message })
			r.event(p, corev1.EventTypeWarning, ReasonConfigRejected, "Configure", "EMQX refused the configuration of %s: %s", a.NameVsn, emqxMessage(err))
			return pipeline.WaitFor(afterCall, ReasonConfigRejected), nil
		}
		if err == nil {
			r.event(p, corev1.EventTypeNormal, "Configured", "Configure", "plugin %s configured", a.NameVsn)
		}
	case plugins.Start:
		if err = c.StartPlugin(ctx, a.NameVsn); err == nil {
			r.mem.update(p.pl.UID, func(m *remembered) {
				if m.upgrade == nil && p.next.LastUpgrade != nil { // the gap began before a restart
					m.upgrade = p.next.LastUpgrade.DeepCopy()
				}
				if u := m.upgrade; u != nil && u.To == a.NameVsn && u.StartedAt == nil {
					now := metav1.NewTime(r.now())
					u.StartedAt = &now
				}
			})
			r.event(p, corev1.EventTypeNormal, "Started", "Start", "plugin %s started on every node", a.NameVsn)
		}
	case plugins.Stop:
		if err = c.StopPlugin(ctx, a.NameVsn); err == nil {
			if a.Upgrade {
				// The gap of the version change starts: no version runs until the next call.
				u := &v2beta1.PluginUpgrade{From: a.NameVsn, To: p.pl.Spec.NameVsn, StoppedAt: metav1.NewTime(r.now())}
				r.mem.update(p.pl.UID, func(m *remembered) { m.upgrade = u })
			}
			r.event(p, corev1.EventTypeNormal, "Stopped", "Stop", "plugin %s stopped on every node", a.NameVsn)
		}
	case plugins.Remove:
		if err = c.DeletePlugin(ctx, a.NameVsn); err == nil || emqxapi.IsNotFound(err) {
			err = nil
			r.event(p, corev1.EventTypeNormal, "Uninstalled", "Uninstall", "plugin %s (replaced by %s) uninstalled from every node", a.NameVsn, p.pl.Spec.NameVsn)
		}
	case plugins.Move:
		if err = c.MovePlugin(ctx, a.NameVsn, a.Position); err == nil {
			r.event(p, corev1.EventTypeNormal, "Moved", "Move", "plugin %s moved to %s", a.NameVsn, a.Position)
		}
	}
	if err != nil {
		reason := ReasonEMQXUnreachable
		var e *emqxapi.Error
		if errors.As(err, &e) && e.Status/100 == 4 {
			// EMQX answered and refused (PARAM_ERROR, MOVE_FAILED, …): its words, not "unreachable".
			reason = ReasonEMQXRefused
			r.event(p, corev1.EventTypeWarning, reason, string(a.Kind), "EMQX refused %s of %s: %s", a.Kind, a.NameVsn, e.Message)
		}
		p.problem = &condition{reason: reason, message: fmt.Sprintf("%s %s: %v", a.Kind, a.NameVsn, err)}
		return pipeline.WaitFor(pipeline.Converging, string(a.Kind)+"Failed"), nil
	}
	return pipeline.WaitFor(afterCall, string(a.Kind)), nil
}

// install reads and checks the package, asks EMQX for the install permission on a core pod and
// uploads the package to that pod's node, which pushes it to every running node.
func (r *EMQXPluginReconciler) install(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	spec := p.pl.Spec
	pkg, err := r.readPackage(ctx, p.pl)
	var sha string
	if err == nil {
		sha, err = plugins.Check(spec.NameVsn, pkg, spec.Package.SHA256)
	}
	var pending *packagePending
	if errors.As(err, &pending) {
		// The reader pod's changes bring the plugin back; the interval is a backstop.
		p.problem = &condition{reason: ReasonReadingPackage, message: pending.message}
		return pipeline.WaitFor(pipeline.MissingDependency, ReasonReadingPackage), nil
	}
	var pe *plugins.PackageError
	if errors.As(err, &pe) {
		// Nothing reached EMQX. A spec change brings the operator back at once; a fixed package
		// (the ConfigMap, Secret, claim or URL are not watched: the operator does not cache
		// users' objects) is read again after packageRetry.
		p.problem = &condition{reason: pe.Reason, message: pe.Message}
		r.event(p, corev1.EventTypeWarning, pe.Reason, "Install", "plugin %s not installed: %s", spec.NameVsn, pe.Message)
		return pipeline.WaitFor(packageRetry, pe.Reason), nil
	}
	if err != nil {
		return pipeline.Outcome{}, err
	}
	np, ok := p.coreAt(p.answered)
	if !ok {
		return pipeline.WaitFor(pipeline.Converging, "WaitingForNode"), nil
	}
	if needsAllow(p.cluster) {
		// EMQX 5.9+ takes a package over REST only after `emqx ctl plugins allow` on a node (a CLI
		// step, reference §5); the grant names the package's SHA-256, so only these bytes can use it.
		cmd := []string{"emqx", "ctl", "plugins", "allow", spec.NameVsn, "sha256:" + sha}
		if _, err := r.Exec.Exec(ctx, np.pod.Namespace, np.pod.Name, emqxContainer, cmd); err != nil {
			p.problem = &condition{reason: ReasonInstallNotAllowed, message: "granting the install permission: " + err.Error()}
			r.event(p, corev1.EventTypeWarning, ReasonInstallNotAllowed, "Install", "emqx ctl plugins allow %s failed: %v", spec.NameVsn, err)
			return pipeline.WaitFor(pipeline.MissingDependency, ReasonInstallNotAllowed), nil
		}
	}
	err = r.EMQXClients(emqxapi.PodBaseURL(np.pod.Status.PodIP), p.creds).InstallPlugin(ctx, spec.NameVsn, pkg)
	switch {
	case err == nil:
		p.next.PackageSHA256 = sha
		r.event(p, corev1.EventTypeNormal, "Installed", "Install", "plugin %s installed on the running nodes of cluster %s", spec.NameVsn, p.cluster.Name)
		return pipeline.WaitFor(afterCall, string(plugins.Install)), nil
	case emqxapi.HasCode(err, http.StatusBadRequest, "ALREADY_INSTALLED"):
		return pipeline.WaitFor(afterCall, "AlreadyInstalled"), nil
	case emqxapi.HasCode(err, http.StatusBadRequest, "BAD_PLUGIN_INFO"):
		// EMQX may refuse a package on some nodes only (reference §5): remove what reached the
		// others, so nothing stays half-installed.
		msg := "EMQX refused the package: " + emqxMessage(err)
		if derr := r.EMQXClients(emqxapi.PodBaseURL(np.pod.Status.PodIP), p.creds).DeletePlugin(ctx, spec.NameVsn); derr != nil && !emqxapi.IsNotFound(derr) {
			msg += "; removing what reached some nodes failed: " + derr.Error()
		}
		p.problem = &condition{reason: ReasonInstallRefused, message: msg}
		r.event(p, corev1.EventTypeWarning, ReasonInstallRefused, "Install", "EMQX refused package %s: %s", spec.NameVsn, emqxMessage(err))
		return pipeline.WaitFor(packageRetry, ReasonInstallRefused), nil
	case emqxapi.HasCode(err, http.StatusForbidden, "FORBIDDEN"):
		// The grant expired between the two calls, or the node did not take it: ask again.
		p.problem = &condition{reason: ReasonInstallNotAllowed, message: "EMQX did not allow the install: " + emqxMessage(err)}
		return pipeline.WaitFor(pipeline.Converging, ReasonInstallNotAllowed), nil
	default:
		p.problem = &condition{reason: ReasonEMQXUnreachable, message: "installing: " + err.Error()}
		return pipeline.WaitFor(pipeline.Converging, ReasonEMQXUnreachable), nil
	}
}

// needsAllow: EMQX 5.9 and later (every 6.x) gate REST installs; an unknown version is asked.
func needsAllow(e *v2beta1.EMQX) bool {
	v, ok := upgradepath.Parse(e.Status.EMQXVersion)
	return !ok || v.AtLeast(5, 9, 0)
}

// coreAt is the ready core pod behind an endpoint.
func (p *pass) coreAt(ep emqxapi.Endpoint) (nodePod, bool) {
	for _, np := range p.byNode {
		if np.core && np.pod.Name == ep.Pod {
			return np, true
		}
	}
	return nodePod{}, false
}

// readPackage reads the package from where the spec says.
func (r *EMQXPluginReconciler) readPackage(ctx context.Context, pl *v2beta1.EMQXPlugin) ([]byte, error) {
	src := pl.Spec.Package
	key := func(kind, name, k string) error {
		return &plugins.PackageError{Reason: plugins.ReasonPackageNotFound, Message: fmt.Sprintf("%s %s has no key %s", kind, name, k)}
	}
	switch {
	case src.ConfigMapKeyRef != nil:
		cm := &corev1.ConfigMap{}
		ref := src.ConfigMapKeyRef
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: pl.Namespace, Name: ref.Name}, cm); err != nil {
			return nil, notFound(err, "ConfigMap", ref.Name)
		}
		if b, ok := cm.BinaryData[ref.Key]; ok {
			return b, nil
		}
		if s, ok := cm.Data[ref.Key]; ok {
			return []byte(s), nil
		}
		return nil, key("ConfigMap", ref.Name, ref.Key)
	case src.SecretKeyRef != nil:
		s := &corev1.Secret{}
		ref := src.SecretKeyRef
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: pl.Namespace, Name: ref.Name}, s); err != nil {
			return nil, notFound(err, "Secret", ref.Name)
		}
		if b, ok := s.Data[ref.Key]; ok {
			return b, nil
		}
		return nil, key("Secret", ref.Name, ref.Key)
	case src.PersistentVolumeClaim != nil:
		return r.readFromClaim(ctx, pl)
	default:
		return plugins.Download(ctx, r.HTTP, src.URL)
	}
}

func notFound(err error, kind, name string) error {
	if client.IgnoreNotFound(err) == nil {
		return &plugins.PackageError{Reason: plugins.ReasonPackageNotFound, Message: fmt.Sprintf("%s %s not found", kind, name)}
	}
	return err
}

// emqxMessage is EMQX's own words from an error answer.
func emqxMessage(err error) string {
	var e *emqxapi.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

func (r *EMQXPluginReconciler) event(p *pass, kind, reason, action, note string, args ...any) {
	r.Recorder.Eventf(p.pl, nil, kind, reason, action, note, args...)
}
