package v2beta1

import "strings"

// Names of the objects the operator makes for a cluster. They follow the v2beta1 API's
// (`<name>-headless`, `<name>-dashboard`, `<name>-listeners`, pods `<name>-core-…`), so
// dashboards, scripts and DNS names users already rely on keep working.

// CoreWorkloadName is the core StatefulSet: <name>-core, or the vendor's StatefulSet the operator
// adopted (AnnotationCoreStatefulSet), whose name cannot change without new PVCs.
func (e *EMQX) CoreWorkloadName() string {
	if n := e.Annotations[AnnotationCoreStatefulSet]; n != "" {
		return n
	}
	return e.DefaultCoreWorkloadName()
}

// DefaultCoreWorkloadName is the name the operator gives the core StatefulSet it makes.
func (e *EMQX) DefaultCoreWorkloadName() string { return e.Name + "-core" }
func (e *EMQX) ReplicantWorkloadName() string   { return e.Name + "-replicant" }
func (e *EMQX) HeadlessServiceName() string     { return e.Name + "-headless" }
func (e *EMQX) DashboardServiceName() string    { return e.Name + "-dashboard" }
func (e *EMQX) ListenersServiceName() string    { return e.Name + "-listeners" }
func (e *EMQX) ConfigMapName() string           { return e.Name + "-configs" }
func (e *EMQX) CookieSecretName() string        { return e.Name + "-node-cookie" }
func (e *EMQX) DashboardSecretName() string     { return e.Name + "-dashboard-credentials" }
func (e *EMQX) OperatorKeySecretName() string   { return e.Name + "-operator-api-key" }
func (e *EMQX) BootstrapSecretName() string     { return e.Name + "-bootstrap-api-keys" }
func (e *EMQX) ScrapeKeySecretName() string     { return e.Name + "-prometheus-api-key" }
func (e *EMQX) PodMonitorName() string          { return e.Name }

// WantsPodMonitor: spec.monitoring.podMonitor is set.
func (e *EMQX) WantsPodMonitor() bool {
	return e.Spec.Monitoring != nil && e.Spec.Monitoring.PodMonitor != nil
}
func (e *EMQX) LicenseSecretName() string { return e.Name + "-license" }

// InitialRestoreName is the EMQXRestore that imports spec.restoreFrom into a new cluster.
func (e *EMQX) InitialRestoreName() string { return e.Name + "-restore" }

// TLSSecretName is the Secret the pods mount the listeners' certificate from: the operator copies
// only validated certificates into it, under a stable name, so a rotation needs no restart.
func (e *EMQX) TLSSecretName() string { return e.Name + "-tls" }

// CertificateName is the cert-manager Certificate the operator creates for spec.tls.certManager.
func (e *EMQX) CertificateName() string { return e.Name + "-tls" }

// TLSSourceSecretName is the Secret the listeners' certificate is read from: the user's, or the
// one cert-manager issues into.
func (e *EMQX) TLSSourceSecretName() string {
	if e.Spec.TLS == nil {
		return ""
	}
	if e.Spec.TLS.SecretName != "" {
		return e.Spec.TLS.SecretName
	}
	return e.Name + "-tls-issued"
}

// TLSDNSNames are the names the listeners' certificate must cover: spec.tls.dnsNames, or the
// listeners Service's names.
func (e *EMQX) TLSDNSNames() []string {
	if e.Spec.TLS != nil && len(e.Spec.TLS.DNSNames) > 0 {
		return e.Spec.TLS.DNSNames
	}
	svc := e.ListenersServiceName()
	return []string{svc, svc + "." + e.Namespace, svc + "." + e.Namespace + ".svc",
		svc + "." + e.Namespace + ".svc." + e.Spec.ClusterDomain}
}

// ServiceAccount is the ServiceAccount the pods run as: the user's, or one the operator makes.
func (e *EMQX) ServiceAccount() string {
	if e.Spec.ServiceAccountName != "" {
		return e.Spec.ServiceAccountName
	}
	return e.Name
}

// DNSName is the headless Service's FQDN, which DNS SRV discovery resolves.
func (e *EMQX) DNSName() string {
	return e.HeadlessServiceName() + "." + e.Namespace + ".svc." + e.Spec.ClusterDomain
}

// NodeName is the EMQX node name of one of the cluster's pods: emqx@<pod>.<headless FQDN>, the SRV
// target DNS discovery finds.
func (e *EMQX) NodeName(pod string) string { return "emqx@" + pod + "." + e.DNSName() }

// PodOfNode is the pod of an EMQX node of this cluster ("" when the node is not one of its pods).
func (e *EMQX) PodOfNode(node string) string {
	_, host, ok := strings.Cut(node, "@")
	if !ok {
		return ""
	}
	pod, rest, ok := strings.Cut(host, ".")
	if !ok || rest != e.DNSName() {
		return ""
	}
	return pod
}

// Label keys. Selectors use only these, never user labels, so they never change.
const (
	LabelInstance  = "apps.emqx.io/instance"
	LabelManagedBy = "apps.emqx.io/managed-by"
	LabelDBRole    = "apps.emqx.io/db-role"
	// LabelWatched marks the Secrets the operator caches and watches: its own, and users' Secrets
	// a cluster references (the operator adds the label), never every Secret of the cluster.
	LabelWatched   = "apps.emqx.io/watched"
	ManagedByValue = "emqx-operator"
	RoleCore       = "core"
	RoleReplicant  = "replicant"
)

// SelectorLabels select every pod of the cluster.
func (e *EMQX) SelectorLabels() map[string]string {
	return map[string]string{LabelInstance: e.Name, LabelManagedBy: ManagedByValue}
}

// RoleSelectorLabels select the pods of one role.
func (e *EMQX) RoleSelectorLabels(role string) map[string]string {
	l := e.SelectorLabels()
	l[LabelDBRole] = role
	return l
}
