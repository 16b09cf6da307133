package values

import (
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	"github.com/broker-ops/emqx-operator/internal/validation"
)

// An Erlang string as erlString writes it, and one acl.conf rule.
const erlStr = `"(?:[^"\\]|\\.)*"`

var aclRule = regexp.MustCompile(`\{(?:allow|deny), (?:all|\{(?:user|client|ipaddr), ` + erlStr + `\}), (?:publish|subscribe|pubsub), \[(?:` +
	erlStr + `|\{eq, ` + erlStr + `\})(?:, (?:` + erlStr + `|\{eq, ` + erlStr + `\}))*\]\}\.\n`)

// crdPattern is the CRD's pattern for plugin and module names (the API server refuses others).
var crdPattern = regexp.MustCompile(`^[a-z0-9_]+$`)

// FuzzEmqx4Translation: any EmqxEnterprise the CRD and the operator's checks accept translates
// without a panic into EMQX 4's environment and files: each variable the user sets (POD_NAME
// aside) is in the environment as the user wrote it and replaces the operator's of that name, and
// acl.conf holds exactly one well-formed Erlang term per rule, whatever the usernames and topics
// contain (quotes, backslashes, "}." and newlines stay inside their strings).
func FuzzEmqx4Translation(f *testing.F) {
	for _, seed := range []string{
		`{"spec":{"image":"emqx/emqx-ee:4.4.8","env":[{"name":"EMQX_NAME","value":"mine"},{"name":"POD_NAME","value":"x"}]}}`,
		`{"spec":{"image":"emqx/emqx-ee:4.4.8","emqxTemplate":{"acl":[{"permission":"allow","username":"a\"}.\n{allow, all","topics":{"filter":["$SYS/#"],"equal":["#"]}},{"permission":"deny","clientid":"\\"}]}}}`,
		`{"spec":{"image":"emqx/emqx-ee:4.4.8","emqxTemplate":{"plugins":[{"name":"emqx_management","enable":true}],"modules":[{"name":"internal_acl","enable":true,"configs":{"acl_rule_file":"etc/acl.conf"}}]}}}`,
		`{"spec":{"image":"emqx/emqx-ee:4.4.8","emqxTemplate":{"listener":{"certificate":{"mqtts":{"stringData":{"tls.crt":"x"}}}}}}}`,
		`{"spec":{"image":"emqx/emqx-ee:4.4.8","replicas":3,"emqxTemplate":{"license":{"data":"bGljZW5zZQ=="}}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		ee := &v1beta2.EmqxEnterprise{}
		if err := yaml.Unmarshal(doc, ee); err != nil {
			return
		}
		ee.Name, ee.Namespace = "ee", "iot"
		if !acceptedByTheCRD(ee) || validation.Emqx4(ee) != nil {
			return
		}
		files, err := Emqx4FileContents(ee)
		if err != nil {
			return
		}
		in := Emqx4Inputs{License: true, Files: Emqx4FilesOf(files)}
		env := Emqx4Env(ee, v1beta2.Ports{}, in)
		user := map[string]int{}
		for _, u := range ee.Spec.Env {
			if u.Name != "POD_NAME" {
				user[u.Name]++
			}
		}
		got := map[string]int{}
		for _, e := range env {
			got[e.Name]++
		}
		for name, n := range user {
			if got[name] != n {
				t.Errorf("env %s: %d in the pod, %d in the spec (the user's replace the operator's)", name, got[name], n)
			}
		}
		if got["POD_NAME"] != 1 {
			t.Errorf("POD_NAME %d times, want once (EMQX_HOST refers to it)", got["POD_NAME"])
		}
		if acl, ok := files[Emqx4ACLKey]; ok {
			rules := aclRule.FindAllString(acl, -1)
			if len(rules) != len(ee.Spec.EmqxTemplate.ACL) || strings.Join(rules, "") != acl {
				t.Errorf("acl.conf has %d well-formed rules for %d in the spec:\n%s", len(rules), len(ee.Spec.EmqxTemplate.ACL), acl)
			}
		}
		FromEmqx4(ee, in)
	})
}

// acceptedByTheCRD applies the CRD's enums and patterns the fuzzer's input may break.
func acceptedByTheCRD(ee *v1beta2.EmqxEnterprise) bool {
	t := ee.Spec.EmqxTemplate
	for _, r := range t.ACL {
		if r.Permission != "allow" && r.Permission != "deny" {
			return false
		}
		if r.Action != "" && r.Action != "publish" && r.Action != "subscribe" && r.Action != "pubsub" {
			return false
		}
	}
	for _, p := range t.Plugins {
		if !crdPattern.MatchString(p.Name) {
			return false
		}
	}
	for _, m := range t.Modules {
		if !crdPattern.MatchString(m.Name) {
			return false
		}
	}
	return ee.Spec.Image != ""
}
