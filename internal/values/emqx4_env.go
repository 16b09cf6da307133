package values

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
)

// Emqx4Env is the EMQX 4 container's environment: the operator's variables, then the user's, a
// user's variable replacing the operator's of the same name (the old API passes env through).
// Cluster discovery is EMQX 4's Kubernetes strategy with hostnames, so a node's name,
// emqx@<pod>.<headless FQDN>, survives restarts and it keeps its data.
func Emqx4Env(c v1beta2.Cluster, ports v1beta2.Ports, in Emqx4Inputs) []corev1.EnvVar {
	secretEnv := func(name, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: v1beta2.CredentialsSecretName(c)}, Key: key,
		}}}
	}
	val := func(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }
	num := func(name string, v int32) corev1.EnvVar { return val(name, fmt.Sprint(v)) }
	base := []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		val("EMQX_NAME", "emqx"),
		val("EMQX_HOST", "$(POD_NAME)."+v1beta2.HeadlessFQDN(c)),
		val("EMQX_CLUSTER__DISCOVERY", "k8s"),
		val("EMQX_CLUSTER__K8S__APISERVER", "https://kubernetes.default.svc:443"),
		val("EMQX_CLUSTER__K8S__SERVICE_NAME", v1beta2.HeadlessServiceName(c)),
		val("EMQX_CLUSTER__K8S__ADDRESS_TYPE", "hostname"),
		val("EMQX_CLUSTER__K8S__APP_NAME", "emqx"),
		val("EMQX_CLUSTER__K8S__NAMESPACE", c.GetNamespace()),
		val("EMQX_CLUSTER__K8S__SUFFIX", "svc."+v1beta2.ClusterDomain),
		secretEnv("EMQX_NODE__COOKIE", Emqx4CookieKey),
		secretEnv("EMQX_MANAGEMENT__DEFAULT_APPLICATION__ID", Emqx4ManagementIDKey),
		secretEnv("EMQX_MANAGEMENT__DEFAULT_APPLICATION__SECRET", Emqx4ManagementSecretK),
		num("EMQX_LISTENER__TCP__EXTERNAL", ports.MQTT),
		num("EMQX_LISTENER__SSL__EXTERNAL", ports.MQTTS),
		num("EMQX_LISTENER__WS__EXTERNAL", ports.WS),
		num("EMQX_LISTENER__WSS__EXTERNAL", ports.WSS),
		num("EMQX_DASHBOARD__LISTENER__HTTP", ports.Dashboard),
		num("EMQX_MANAGEMENT__LISTENER__HTTP", ports.API),
	}
	if in.License {
		base = append(base, val("EMQX_LICENSE__FILE", Emqx4LicenseFile))
	}
	if in.Files.ACL {
		base = append(base, val("EMQX_ACL_FILE", Emqx4FilesDir+"/"+Emqx4ACLKey))
	}
	if in.Files.Plugins {
		base = append(base, val("EMQX_PLUGINS__LOADED_FILE", Emqx4FilesDir+"/"+Emqx4PluginsKey))
	}
	if in.Files.Modules {
		base = append(base, val("EMQX_MODULES__LOADED_FILE", Emqx4FilesDir+"/"+Emqx4ModulesKey))
	}
	for _, l := range c.Template().Listener.Certificate.TLSListeners() {
		dir := Emqx4CertDir + "/" + l.Name
		base = append(base, val(l.EnvPrefix+"__KEYFILE", dir+"/tls.key"), val(l.EnvPrefix+"__CERTFILE", dir+"/tls.crt"),
			val(l.EnvPrefix+"__CACERTFILE", dir+"/ca.crt"))
	}
	user := c.Common().Env
	userNames := map[string]bool{}
	for _, u := range user {
		userNames[u.Name] = true
	}
	out := make([]corev1.EnvVar, 0, len(base)+len(user))
	for _, b := range base {
		if !userNames[b.Name] || b.Name == "POD_NAME" {
			out = append(out, b)
		}
	}
	for _, u := range user {
		if u.Name != "POD_NAME" {
			out = append(out, u)
		}
	}
	return out
}

// emqx4Volumes mounts the licence, the operator's files and the listeners' certificates.
func emqx4Volumes(c v1beta2.Cluster, in Emqx4Inputs) ([]corev1.Volume, []corev1.VolumeMount) {
	var vols []corev1.Volume
	var mounts []corev1.VolumeMount
	if in.License {
		v, m := secretVolume("license", v1beta2.LicenseSecretName(c), Emqx4LicenseDir)
		vols, mounts = append(vols, v...), append(mounts, m...)
	}
	if in.Files.ACL || in.Files.Plugins || in.Files.Modules || telegrafConf(c) {
		vols = append(vols, corev1.Volume{Name: "emqx4-files", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: v1beta2.FilesConfigMapName(c)}, DefaultMode: ptr.To[int32](0o444)}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "emqx4-files", MountPath: Emqx4FilesDir, ReadOnly: true})
	}
	for _, l := range c.Template().Listener.Certificate.TLSListeners() {
		v, m := secretVolume("cert-"+l.Name, v1beta2.CertSecretName(c, l.Name), Emqx4CertDir+"/"+l.Name)
		vols, mounts = append(vols, v...), append(mounts, m...)
	}
	return vols, mounts
}

func telegrafConf(c v1beta2.Cluster) bool {
	t := c.Common().TelegrafTemplate
	return t != nil && t.Conf != nil
}
