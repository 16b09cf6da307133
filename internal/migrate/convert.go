// Package migrate takes over the CRDs and resources the vendor's emqx-operator left behind: it
// reports what a cluster holds (Check), and moves every stored EMQX resource to this operator's
// storage version and schema, without the vendor's conversion webhook (CRDs).
package migrate

// ConvertEMQX rewrites the spec of an EMQX resource from the vendor's older shapes (v2alpha1,
// v2alpha2) to v2beta1's, in place, and reports whether anything changed. It goes by the fields
// present, not by the apiVersion label: with conversion off, the API server returns a stored
// object under any served version unchanged, so the label says nothing about its shape.
// Fields already in v2beta1's shape are left alone, so converting twice changes nothing.
func ConvertEMQX(obj map[string]any) bool {
	spec, ok := obj["spec"].(map[string]any)
	if !ok {
		return false
	}
	changed := false
	// v2alpha1/v2alpha2: HOCON in spec.bootstrapConfig; v2beta1: spec.config.data.
	if boot, ok := spec["bootstrapConfig"].(string); ok {
		cfg, _ := spec["config"].(map[string]any)
		if cfg == nil {
			cfg = map[string]any{}
		}
		if _, has := cfg["data"]; !has && boot != "" {
			cfg["data"] = boot
		}
		spec["config"] = cfg
		delete(spec, "bootstrapConfig")
		changed = true
	}
	// v2alpha1: one pod securityContext for every node; v2beta1: per template.
	podSC, hasPodSC := spec["securityContext"]
	delete(spec, "securityContext")
	changed = changed || hasPodSC
	for _, name := range []string{"coreTemplate", "replicantTemplate"} {
		tmpl, ok := spec[name].(map[string]any)
		if !ok {
			continue
		}
		ts, ok := tmpl["spec"].(map[string]any)
		if !ok {
			continue
		}
		changed = rename(ts, "persistent", "volumeClaimTemplates") || changed
		changed = rename(ts, "securityContext", "containerSecurityContext") || changed
		changed = rename(ts, "Containers", "extraContainers") || changed
		if _, set := ts["podSecurityContext"]; hasPodSC && !set {
			ts["podSecurityContext"] = podSC
		}
		if name == "replicantTemplate" {
			delete(ts, "persistent") // replicants hold no data
		}
	}
	// v2alpha1 embedded whole Services: keep what v2beta1's templates have (metadata, spec).
	for _, name := range []string{"dashboardServiceTemplate", "listenersServiceTemplate"} {
		if svc, ok := spec[name].(map[string]any); ok {
			for _, k := range []string{"status", "apiVersion", "kind"} {
				if _, has := svc[k]; has {
					delete(svc, k)
					changed = true
				}
			}
		}
	}
	return changed
}

// rename moves m[from] to m[to] unless m[to] is already set; it reports whether m changed.
func rename(m map[string]any, from, to string) bool {
	v, ok := m[from]
	if !ok {
		return false
	}
	if _, set := m[to]; !set {
		m[to] = v
	}
	delete(m, from)
	return true
}
