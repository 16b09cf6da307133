package simulator

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/gurkankaymak/hocon"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/broker-ops/emqx-operator/internal/emqxconf"
)

// Annotations the simulator writes for the kwok Stages (hack/kwok/stages.yaml).
const (
	AnnotationImage = "sim.emqx.io/image"
	AnnotationReady = "sim.emqx.io/ready"
	// LabelInstance marks EMQX pods (the operator's and the vendor operator's).
	LabelInstance = "apps.emqx.io/instance"
)

// nodeSpec is what a real EMQX node would read from its pod at start-up.
type nodeSpec struct {
	name, role, version, cookie, dnsName, licenseKey string
	// licenseFile is the file:// path the licence comes from ("" for a literal key).
	licenseFile string
	// mgmtID/mgmtSecret are an EMQX 4 node's default management application.
	mgmtID, mgmtSecret string
	image              string
	bootKeys           []apiKey
	tlsListeners       []tlsListenerSpec
	// dataVolume is the UID of the PVC mounted at /opt/emqx/data ("" without one): what a core
	// keeps across restarts lives there, and a new PVC is an empty data directory.
	dataVolume string
	// ds is the node's durable-storage configuration (env over emqx.conf).
	ds dsConfig
	// promBasicAuth: the Prometheus stats endpoint asks for an API key.
	promBasicAuth bool
}

var imagePattern = regexp.MustCompile(`(^|/)(emqx|emqx-enterprise|emqx-ee)(@[^:]+)?:[ev]?(\d+\.\d+\.\d+)$`)

// ImageVersion returns the EMQX release an image runs, or "" for an image the simulator cannot run
// (a sentinel such as emqx/emqx:broken, or anything that is not an EMQX release image).
func ImageVersion(image string) string {
	m := imagePattern.FindStringSubmatch(image)
	if m == nil {
		return ""
	}
	return m[4]
}

func emqxContainer(p *corev1.Pod) *corev1.Container {
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Name == "emqx" {
			return &p.Spec.Containers[i]
		}
	}
	for i := range p.Spec.Containers {
		if strings.Contains(p.Spec.Containers[i].Image, "emqx") {
			return &p.Spec.Containers[i]
		}
	}
	return nil
}

// readNodeSpec resolves the container's environment (values, Secret and field references,
// $(VAR) expansion) and files (bootstrap keys, emqx.conf) the way the kubelet would present them.
func readNodeSpec(ctx context.Context, kc kubernetes.Interface, p *corev1.Pod) (nodeSpec, error) {
	c := emqxContainer(p)
	if c == nil {
		return nodeSpec{}, fmt.Errorf("no EMQX container")
	}
	env := map[string]string{}
	for _, e := range c.Env {
		v, err := envValue(ctx, kc, p, e, env)
		if err != nil {
			return nodeSpec{}, err
		}
		env[e.Name] = v
	}
	unquote := func(s string) string { return strings.Trim(s, `"`) }
	s := nodeSpec{
		role:    unquote(env["EMQX_NODE__ROLE"]),
		version: ImageVersion(c.Image),
		cookie:  unquote(env["EMQX_NODE__COOKIE"]),
		dnsName: unquote(env["EMQX_CLUSTER__DNS__NAME"]),
		image:   c.Image,
	}
	if s.role == "" {
		s.role = "core"
	}
	s.name = unquote(env["EMQX_NODE__NAME"])
	if s.name == "" {
		base := unquote(env["EMQX_NAME"])
		if base == "" {
			base = "emqx"
		}
		host := unquote(env["EMQX_HOST"])
		if host == "" {
			host = p.Status.PodIP
		}
		s.name = base + "@" + host
	}
	if s.cookie == "" {
		s.cookie = "emqxsecretcookie" // EMQX's default
	}
	if f := unquote(env["EMQX_API_KEY__BOOTSTRAP_FILE"]); f != "" {
		content, err := mountedFile(ctx, kc, p, c, f)
		if err != nil {
			return nodeSpec{}, fmt.Errorf("bootstrap file: %w", err)
		}
		s.bootKeys = parseBootstrap(content)
	}
	s.tlsListeners = tlsListenersOf(env)
	dataVolume, err := dataVolumeOf(ctx, kc, p, c)
	if err != nil {
		return nodeSpec{}, err
	}
	s.dataVolume = dataVolume
	if isV4(s.version) {
		s.mgmtID, s.mgmtSecret = v4Management(env)
		group, err := k8sDiscoveryV4(ctx, kc, p, env)
		if err != nil {
			return nodeSpec{}, err
		}
		if group != "" {
			s.dnsName = group
		}
		if f := unquote(env["EMQX_LICENSE__FILE"]); f != "" {
			// EMQX 4 reads its licence from a file (license.file), not a key.
			env["EMQX_LICENSE__KEY"] = "file://" + f
		}
	}
	// The mounted emqx.conf, if any (nil when absent or unparsable: EMQX's defaults apply).
	var conf *hocon.Config
	if text, err := mountedFile(ctx, kc, p, c, "/opt/emqx/etc/emqx.conf"); err == nil {
		conf, _ = emqxconf.Parse(text)
	}
	s.licenseKey = unquote(env["EMQX_LICENSE__KEY"])
	if s.licenseKey == "" && conf != nil {
		if v, _ := emqxconf.Lookup(conf, "license.key"); v != nil {
			s.licenseKey = strings.Trim(v.String(), `"`)
		}
	}
	s.ds = readDSConfig(s.version, env, conf)
	s.promBasicAuth = readPromBasicAuth(s.version, env, conf)
	if path, ok := strings.CutPrefix(s.licenseKey, "file://"); ok {
		s.licenseFile = path
		content, err := mountedFile(ctx, kc, p, c, path)
		if err != nil {
			return nodeSpec{}, fmt.Errorf("licence file: %w", err)
		}
		s.licenseKey = strings.TrimSpace(content)
	}
	if s.licenseKey == "" {
		s.licenseKey = "default"
	}
	if isV4(s.version) && s.licenseFile != "" && strings.Contains(c.Image, "emqx-ee") {
		// EMQX Enterprise 4 does not start without a licence it can load.
		if _, err := ParseLicense(s.licenseKey, s.version, time.Now()); err != nil {
			return nodeSpec{}, fmt.Errorf("licence file %s: %w: EMQX Enterprise 4 does not start", s.licenseFile, err)
		}
	}
	return s, nil
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

func envValue(ctx context.Context, kc kubernetes.Interface, p *corev1.Pod, e corev1.EnvVar, seen map[string]string) (string, error) {
	if e.ValueFrom == nil {
		return varRef.ReplaceAllStringFunc(e.Value, func(m string) string {
			if v, ok := seen[m[2:len(m)-1]]; ok {
				return v
			}
			return m
		}), nil
	}
	switch {
	case e.ValueFrom.FieldRef != nil:
		switch e.ValueFrom.FieldRef.FieldPath {
		case "metadata.name":
			return p.Name, nil
		case "metadata.namespace":
			return p.Namespace, nil
		case "status.podIP":
			return p.Status.PodIP, nil
		}
		return "", nil
	case e.ValueFrom.SecretKeyRef != nil:
		ref := e.ValueFrom.SecretKeyRef
		sec, err := kc.CoreV1().Secrets(p.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("env %s: %w", e.Name, err)
		}
		return string(sec.Data[ref.Key]), nil
	case e.ValueFrom.ConfigMapKeyRef != nil:
		ref := e.ValueFrom.ConfigMapKeyRef
		cm, err := kc.CoreV1().ConfigMaps(p.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("env %s: %w", e.Name, err)
		}
		return cm.Data[ref.Key], nil
	}
	return "", nil
}

// mountedFile reads the file at an absolute path inside the container from the Secret or
// ConfigMap volume mounted there.
func mountedFile(ctx context.Context, kc kubernetes.Interface, p *corev1.Pod, c *corev1.Container, file string) (string, error) {
	for _, m := range c.VolumeMounts {
		var key string
		switch {
		case m.SubPath != "" && m.MountPath == file:
			key = m.SubPath
		case m.SubPath == "" && strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/"):
			key = strings.TrimPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
		default:
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			switch {
			case v.Secret != nil:
				key = itemKey(v.Secret.Items, key)
				sec, err := kc.CoreV1().Secrets(p.Namespace).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
				if err != nil {
					return "", err
				}
				data, ok := sec.Data[key]
				if !ok {
					return "", fmt.Errorf("Secret %s has no key %s", v.Secret.SecretName, key)
				}
				return string(data), nil
			case v.ConfigMap != nil:
				key = itemKey(v.ConfigMap.Items, key)
				cm, err := kc.CoreV1().ConfigMaps(p.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
				if err != nil {
					return "", err
				}
				data, ok := cm.Data[key]
				if !ok {
					return "", fmt.Errorf("ConfigMap %s has no key %s", v.ConfigMap.Name, key)
				}
				return data, nil
			}
		}
	}
	return "", fmt.Errorf("%s is not in a Secret or ConfigMap volume", path.Clean(file))
}

func itemKey(items []corev1.KeyToPath, file string) string {
	for _, it := range items {
		if it.Path == file {
			return it.Key
		}
	}
	return file
}

// parseBootstrap reads key:secret[:role] lines; like EMQX it stops at the first invalid line.
func parseBootstrap(content string) []apiKey {
	var keys []apiKey
	for _, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		parts := strings.Split(line, ":")
		if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			break
		}
		keys = append(keys, apiKey{Name: "from_bootstrap_file_" + parts[0], Key: parts[0], Secret: parts[1]})
	}
	return keys
}

// dataVolumeOf returns the UID of the PVC the container mounts at /opt/emqx/data, "" when the data
// directory is not on a PVC.
func dataVolumeOf(ctx context.Context, kc kubernetes.Interface, p *corev1.Pod, c *corev1.Container) (string, error) {
	for _, m := range c.VolumeMounts {
		if strings.TrimSuffix(m.MountPath, "/") != "/opt/emqx/data" {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.Name != m.Name || v.PersistentVolumeClaim == nil {
				continue
			}
			pvc, err := kc.CoreV1().PersistentVolumeClaims(p.Namespace).Get(ctx, v.PersistentVolumeClaim.ClaimName, metav1.GetOptions{})
			if err != nil {
				return "", fmt.Errorf("data volume: %w", err)
			}
			return string(pvc.UID), nil
		}
	}
	return "", nil
}
