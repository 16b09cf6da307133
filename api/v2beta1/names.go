package v2beta1

import "strings"

// Names of the objects the operator makes for a cluster. They follow the v2beta1 API's
// (`<name>-headless`, `<name>-dashboard`, `<name>-listeners`, pods `<name>-core-…`), so
// dashboards, scripts and DNS names users already rely on keep working.

func (e *EMQX) CoreWorkloadName() string      { return e.Name + "-core" }
func (e *EMQX) ReplicantWorkloadName() string { return e.Name + "-replicant" }
func (e *EMQX) HeadlessServiceName() string   { return e.Name + "-headless" }
func (e *EMQX) DashboardServiceName() string  { return e.Name + "-dashboard" }
func (e *EMQX) ListenersServiceName() string  { return e.Name + "-listeners" }
func (e *EMQX) ConfigMapName() string         { return e.Name + "-configs" }
func (e *EMQX) CookieSecretName() string      { return e.Name + "-node-cookie" }
func (e *EMQX) DashboardSecretName() string   { return e.Name + "-dashboard-credentials" }
func (e *EMQX) OperatorKeySecretName() string { return e.Name + "-operator-api-key" }
func (e *EMQX) BootstrapSecretName() string   { return e.Name + "-bootstrap-api-keys" }

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
