package render

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Overrides are the chart values an operator-wide setting may give every cluster: watches.yaml's
// overrideValues, after internal/watches has checked them against its allow-list. They are what
// the Go translator (internal/values) does not own. Each field is merged into a top-level value
// of its own and nowhere else, so no override reaches a value the lifecycle logic owns
// (replicas, the update strategy, the image), whatever a caller puts in them.
type Overrides struct {
	// ImageRegistry replaces the registry of every image the chart renders (the EMQX container,
	// init containers, sidecars), keeping each image's repository path and tag or digest, for
	// installs that pull from a mirror. It is a registry host with an optional port and path
	// prefix ("registry.example.internal:5000/mirror"); "" leaves the images alone.
	ImageRegistry string `json:"imageRegistry,omitempty"`
	// CommonLabels go on every object the chart renders and on its pod templates. The cluster's
	// own labels and the operator's selector labels win over them; they never reach a selector
	// or a PVC template.
	CommonLabels map[string]string `json:"commonLabels,omitempty"`
	// CommonAnnotations go on every object the chart renders (not on pod templates, so changing
	// them restarts nothing). The cluster's own annotations win over them.
	CommonAnnotations map[string]string `json:"commonAnnotations,omitempty"`
	// PodAnnotations go on the pod templates; the cluster's own pod annotations win over them.
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`
}

// ReservedKeyPrefix marks the operator's own labels and annotations (selector labels, the
// applied hash, the config checksum): no override may set a key under it.
const ReservedKeyPrefix = "apps.emqx.io/"

// IsZero reports whether the overrides change nothing.
func (o Overrides) IsZero() bool {
	return o.ImageRegistry == "" && len(o.CommonLabels) == 0 && len(o.CommonAnnotations) == 0 && len(o.PodAnnotations) == 0
}

// chartValues are the overrides as top-level chart values: only the four keys above, with the
// operator's reserved keys dropped even if a caller bypassed the allow-list.
func (o Overrides) chartValues() map[string]any {
	out := map[string]any{}
	if o.ImageRegistry != "" {
		out["imageRegistry"] = o.ImageRegistry
	}
	for name, m := range map[string]map[string]string{
		"commonLabels": o.CommonLabels, "commonAnnotations": o.CommonAnnotations, "podAnnotations": o.PodAnnotations,
	} {
		kept := map[string]any{}
		for k, v := range m {
			if !strings.HasPrefix(k, ReservedKeyPrefix) {
				kept[k] = v
			}
		}
		if len(kept) > 0 {
			out[name] = kept
		}
	}
	return out
}

// cacheKey identifies the overrides in the render cache: JSON of sorted maps is stable.
func (o Overrides) cacheKey() string {
	if o.IsZero() {
		return ""
	}
	b, _ := json.Marshal(o) // strings and maps of strings always encode
	return string(b)
}

func (o Overrides) clone() Overrides {
	o.CommonLabels = maps.Clone(o.CommonLabels)
	o.CommonAnnotations = maps.Clone(o.CommonAnnotations)
	o.PodAnnotations = maps.Clone(o.PodAnnotations)
	return o
}

const (
	dnsLabel = `[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?`
	port     = `(?::[0-9]+)?`
	// A registry host as container runtimes tell one from a Docker Hub namespace: it has a dot or
	// a port, or is localhost. Then an optional path prefix of repository components.
	registryPattern = `^(?:localhost` + port + `|` + dnsLabel + `(?:\.` + dnsLabel + `)+` + port + `|` + dnsLabel + `:[0-9]+)` +
		`(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`
)

// RegistryPattern is what ImageRegistry must match (values.schema.json has the same pattern).
var RegistryPattern = regexp.MustCompile(registryPattern)

// CheckImageRegistry says why s is not a registry ImageRegistry takes ("" is allowed: no override).
func CheckImageRegistry(s string) error {
	if s == "" || RegistryPattern.MatchString(s) {
		return nil
	}
	return fmt.Errorf("%q is not a registry host with an optional port and path (registry.example.internal:5000/mirror): "+
		"the host needs a dot or a port, or is localhost, else it would read as a Docker Hub namespace", s)
}

// CheckLabel says why key=value cannot be a common label.
func CheckLabel(key, value string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
		return fmt.Errorf("invalid label value %q: %s", value, strings.Join(errs, "; "))
	}
	return nil
}

// CheckAnnotationKey says why key cannot be a common or pod annotation's key.
func CheckAnnotationKey(key string) error { return checkKey(key) }

func checkKey(key string) error {
	if strings.HasPrefix(key, ReservedKeyPrefix) {
		return fmt.Errorf("keys under %s are the operator's own (selector labels, applied hash, config checksum)", ReservedKeyPrefix)
	}
	if errs := validation.IsQualifiedName(key); len(errs) > 0 {
		return fmt.Errorf("invalid key %q: %s", key, strings.Join(errs, "; "))
	}
	return nil
}

// RewriteImage is what the chart renders for an image under an ImageRegistry override (the
// chart's "emqx.image" template does the same): the registry part is replaced, the repository
// path and tag or digest kept; Docker Hub's short names are spelled out as a mirror keeps them
// ("busybox" → REGISTRY/library/busybox). With registry "" or image "" it returns image as it is.
func RewriteImage(image, registry string) string {
	if registry == "" || image == "" {
		return image
	}
	path := image
	first, rest, hasSlash := strings.Cut(image, "/")
	switch {
	case !hasSlash:
		path = "library/" + image
	case strings.ContainsAny(first, ".:") || first == "localhost":
		path = rest
		if (first == "docker.io" || first == "index.docker.io") && !strings.Contains(rest, "/") {
			path = "library/" + rest
		}
	}
	return strings.TrimSuffix(registry, "/") + "/" + path
}
