package values

import (
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxconf"
)

// Inputs are what the translator needs besides the resource itself.
type Inputs struct {
	// ReplicantsAllowed is false until the core nodes are ready: replicants need a core to
	// join, and a replicant that starts first only logs errors and fails its probes.
	ReplicantsAllowed bool
	// CoreReplicas and ReplicantReplicas, when set, replace the spec's counts: during a scale-in
	// the lifecycle layer lowers a StatefulSet one node at a time, after that node is evacuated.
	CoreReplicas, ReplicantReplicas *int32
	// EMQXConf, when set, is the emqx.conf to write instead of the spec's: a changed config is held
	// back until the running cluster has accepted it, so a node that restarts never reads a
	// config EMQX rejected.
	EMQXConf *string
	// ProxyEnv is the cluster-wide proxy the operator was given (HTTP_PROXY, HTTPS_PROXY, NO_PROXY;
	// OLM sets them on proxied clusters). EMQX nodes get it too, for the outbound connections they
	// make (webhooks, bridges, S3); a variable the user sets in the template wins.
	ProxyEnv []corev1.EnvVar
}

// FromEMQX translates a defaulted EMQX resource into chart values.
func FromEMQX(e *v2beta1.EMQX, in Inputs) Values {
	conf := EMQXConf(e)
	if in.EMQXConf != nil {
		conf = *in.EMQXConf
	}
	v := Values{
		Generation: 5,
		Cluster: Cluster{
			Name:            e.Name,
			Domain:          e.Spec.ClusterDomain,
			Labels:          maps.Clone(e.Labels),
			SelectorLabels:  e.SelectorLabels(),
			HeadlessService: e.HeadlessServiceName(),
			DNSName:         e.DNSName(),
		},
		Image:                e.Spec.Image,
		ImagePullPolicy:      pullPolicy(e),
		ImagePullSecrets:     e.Spec.ImagePullSecrets,
		RevisionHistoryLimit: e.RevisionsKept(),
		ServiceAccount:       ServiceAccount{Create: e.Spec.ServiceAccountName == "", Name: e.ServiceAccount()},
		Secrets: SecretNames{
			Cookie:           e.CookieSecretName(),
			BootstrapAPIKeys: e.BootstrapSecretName(),
			Dashboard:        e.DashboardSecretName(),
		},
		Config: ConfigFile{EMQXConf: conf, Checksum: restartChecksum(conf)},
		Roles: Roles{
			Core: coreRole(e, in.CoreReplicas),
		},
		Services: services(e),
	}
	if e.Spec.ReplicantTemplate != nil && in.ReplicantsAllowed {
		replicas := e.ReplicantReplicas()
		if in.ReplicantReplicas != nil {
			replicas = *in.ReplicantReplicas
		}
		v.Roles.Replicant = role(e, v2beta1.RoleReplicant, e.ReplicantWorkloadName(), replicas,
			&e.Spec.ReplicantTemplate.Spec, e.Spec.ReplicantTemplate.ObjectMeta.Labels, e.Spec.ReplicantTemplate.ObjectMeta.Annotations)
	}
	for _, r := range []*Role{&v.Roles.Core, &v.Roles.Replicant} {
		if r.Container != nil {
			r.Container.Env = withDefaults(r.Container.Env, in.ProxyEnv)
		}
	}
	return v
}

// withDefaults appends the variables env does not set already.
func withDefaults(env, defaults []corev1.EnvVar) []corev1.EnvVar {
	for _, d := range defaults {
		if !slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return e.Name == d.Name }) {
			env = append(env, d)
		}
	}
	return env
}

// restartChecksum goes on the pod template: it changes only with the keys EMQX reads at start-up,
// so runtime-changeable keys are applied through the API without restarting pods.
func restartChecksum(conf string) string {
	sum, err := emqxconf.RestartChecksum(conf)
	if err != nil {
		// Unparsable text never gets here (validated first); hash it whole to stay deterministic.
		return emqxconf.Revision(conf)
	}
	return sum
}

func pullPolicy(e *v2beta1.EMQX) corev1.PullPolicy {
	if e.Spec.ImagePullPolicy != "" {
		return e.Spec.ImagePullPolicy
	}
	return corev1.PullIfNotPresent
}

func coreRole(e *v2beta1.EMQX, override *int32) Role {
	t := &e.Spec.CoreTemplate
	replicas := e.CoreReplicas()
	if override != nil {
		replicas = *override
	}
	r := role(e, v2beta1.RoleCore, e.CoreWorkloadName(), replicas, &t.Spec.ReplicantTemplateSpec,
		t.ObjectMeta.Labels, t.ObjectMeta.Annotations)
	if len(t.Spec.VolumeClaimTemplates.AccessModes) > 0 || len(t.Spec.VolumeClaimTemplates.Resources.Requests) > 0 {
		pvc := t.Spec.VolumeClaimTemplates.DeepCopy()
		if len(pvc.AccessModes) == 0 {
			pvc.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
		}
		r.Persistence = pvc
	}
	// Data is never deleted unless the user asks: both retention rules default to Retain.
	r.PVCRetention = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}
	if p := t.Spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		if p.WhenDeleted != "" {
			r.PVCRetention.WhenDeleted = p.WhenDeleted
		}
		if p.WhenScaled != "" {
			r.PVCRetention.WhenScaled = p.WhenScaled
		}
	}
	return r
}

func role(e *v2beta1.EMQX, name, workload string, replicas int32, s *v2beta1.ReplicantTemplateSpec,
	labels, annotations map[string]string) Role {
	volumes, mounts := licenseVolume(e)
	tlsVolumes, tlsMounts := tlsVolume(e)
	volumes, mounts = append(volumes, tlsVolumes...), append(mounts, tlsMounts...)
	return Role{
		Enabled:         true,
		Workload:        workload,
		Replicas:        replicas,
		Labels:          withoutSelectorKeys(labels),
		Annotations:     maps.Clone(annotations),
		PodLabels:       withoutSelectorKeys(labels),
		PodAnnotations:  maps.Clone(annotations),
		Pod:             podValues(e, name, s),
		Container:       containerValues(e, name, s),
		VolumeMounts:    append(mounts, s.ExtraVolumeMounts...),
		Volumes:         append(volumes, s.ExtraVolumes...),
		ExtraContainers: s.ExtraContainers,
		PDB:             pdb(s),
	}
}

// withoutSelectorKeys drops user labels that would collide with the operator's selector labels:
// a user label must never be able to change which pods a workload or Service selects.
func withoutSelectorKeys(l map[string]string) map[string]string {
	out := maps.Clone(l)
	for _, k := range []string{v2beta1.LabelInstance, v2beta1.LabelManagedBy, v2beta1.LabelDBRole} {
		delete(out, k)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// pdb defaults to maxUnavailable 1: a voluntary disruption (node drain) takes at most one node
// of a role at a time, which EMQX survives, while still letting drains make progress.
func pdb(s *v2beta1.ReplicantTemplateSpec) map[string]any {
	switch {
	case s.MinAvailable != nil:
		return map[string]any{"minAvailable": s.MinAvailable}
	case s.MaxUnavailable != nil:
		return map[string]any{"maxUnavailable": s.MaxUnavailable}
	default:
		return map[string]any{"maxUnavailable": 1}
	}
}
