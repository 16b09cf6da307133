package values

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
)

// Emqx4FileContents renders the files EMQX 4 reads at start-up from spec.emqxTemplate (and the
// Telegraf sidecar's configuration): only those the spec sets, so EMQX's defaults stay for the
// others. Keys are file names in the files ConfigMap.
func Emqx4FileContents(c v1beta2.Cluster) (map[string]string, error) {
	t := c.Template()
	out := map[string]string{}
	if len(t.ACL) > 0 {
		out[Emqx4ACLKey] = aclFile(t.ACL)
	}
	if len(t.Plugins) > 0 {
		var b strings.Builder
		for _, p := range t.Plugins {
			fmt.Fprintf(&b, "{%s, %t}.\n", p.Name, p.Enable)
		}
		out[Emqx4PluginsKey] = b.String()
	}
	if len(t.Modules) > 0 {
		m, err := modulesFile(c.Enterprise(), t.Modules)
		if err != nil {
			return nil, err
		}
		out[Emqx4ModulesKey] = m
	}
	if tt := c.Common().TelegrafTemplate; tt != nil && tt.Conf != nil {
		out["telegraf.conf"] = *tt.Conf
	}
	return out, nil
}

// Emqx4FilesOf says which EMQX files a rendering contains.
func Emqx4FilesOf(files map[string]string) Emqx4Files {
	_, acl := files[Emqx4ACLKey]
	_, plugins := files[Emqx4PluginsKey]
	_, modules := files[Emqx4ModulesKey]
	return Emqx4Files{ACL: acl, Plugins: plugins, Modules: modules}
}

// aclFile writes EMQX 4's acl.conf: one Erlang term per rule, in the spec's order (EMQX stops at
// the first rule that matches).
func aclFile(rules []v1beta2.ACL) string {
	var b strings.Builder
	for _, r := range rules {
		who := "all"
		switch {
		case r.Username != "":
			who = fmt.Sprintf("{user, %s}", erlString(r.Username))
		case r.ClientID != "":
			who = fmt.Sprintf("{client, %s}", erlString(r.ClientID))
		case r.IPAddress != "":
			who = fmt.Sprintf("{ipaddr, %s}", erlString(r.IPAddress))
		}
		action := r.Action
		if action == "" {
			action = "pubsub"
		}
		var topics []string
		for _, f := range r.Topics.Filter {
			topics = append(topics, erlString(f))
		}
		for _, e := range r.Topics.Equal {
			topics = append(topics, fmt.Sprintf("{eq, %s}", erlString(e)))
		}
		if len(topics) == 0 {
			topics = []string{`"#"`}
		}
		fmt.Fprintf(&b, "{%s, %s, %s, [%s]}.\n", r.Permission, who, action, strings.Join(topics, ", "))
	}
	return b.String()
}

// erlString quotes s as an Erlang string literal.
func erlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// modulesFile writes data/loaded_modules: Erlang terms for EMQX Broker, a JSON list with each
// module's configs for EMQX Enterprise (whose modules carry settings).
func modulesFile(enterprise bool, modules []v1beta2.Module) (string, error) {
	if !enterprise {
		var b strings.Builder
		for _, m := range modules {
			fmt.Fprintf(&b, "{%s, %t}.\n", m.Name, m.Enable)
		}
		return b.String(), nil
	}
	type entry struct {
		Name    string          `json:"name"`
		Enable  bool            `json:"enable"`
		Configs json.RawMessage `json:"configs"`
	}
	list := make([]entry, 0, len(modules))
	for _, m := range modules {
		e := entry{Name: m.Name, Enable: m.Enable, Configs: json.RawMessage("{}")}
		if m.Configs != nil && len(m.Configs.Raw) > 0 {
			e.Configs = json.RawMessage(m.Configs.Raw)
		}
		list = append(list, e)
	}
	out, err := json.Marshal(list)
	if err != nil {
		return "", fmt.Errorf("spec.emqxTemplate.modules: %w", err)
	}
	return string(out), nil
}
