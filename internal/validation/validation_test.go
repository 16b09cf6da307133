package validation

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// want is the Problem a row expects: nil for a valid spec. msg is a distinctive part of the
// message; panics, when set, is part of the panic value (current behaviour worth pinning).
type want struct {
	reason, msg string
	retry       bool
	panics      string
}

var valid = want{}

// check runs one rule and compares its Problem (or panic) with w.
func check(t *testing.T, rule func() *Problem, w want) {
	t.Helper()
	p, panicked := func() (p *Problem, panicked any) {
		defer func() { panicked = recover() }()
		return rule(), nil
	}()
	switch {
	case w.panics != "":
		if panicked == nil || !strings.Contains(fmt.Sprint(panicked), w.panics) {
			t.Fatalf("got %v (panic %v), want a panic containing %q", p, panicked, w.panics)
		}
	case panicked != nil:
		t.Fatalf("panic: %v", panicked)
	case w.reason == "":
		if p != nil {
			t.Fatalf("got %v, want no problem", p)
		}
	case p == nil:
		t.Fatalf("got no problem, want %s (%q)", w.reason, w.msg)
	default:
		if p.Reason != w.reason || !strings.Contains(p.Message, w.msg) || p.Retry != w.retry {
			t.Fatalf("got {Reason: %s, Retry: %v, Message: %q}, want {Reason: %s, Retry: %v, Message containing %q}",
				p.Reason, p.Retry, p.Message, w.reason, w.retry, w.msg)
		}
	}
}

// newEMQX is a cluster as the API server stores it (defaults filled) with config.data set.
func newEMQX(data string) *v2beta1.EMQX {
	e := &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}}
	e.Spec.Image = "emqx/emqx-enterprise:5.8.6"
	e.Spec.CoreTemplate.Spec.Replicas = ptr.To[int32](3)
	e.Spec.ReplicantTemplate = &v2beta1.ReplicantTemplate{}
	e.Default()
	e.Spec.Config.Data = data
	return e
}

const managed = ", which the operator manages (node names, cookie, role and discovery come from the pod's environment); remove it"

func TestConfig(t *testing.T) {
	rows := []struct {
		name string
		data string
		want want
	}{
		// Nothing to parse.
		{"no data is valid", "", valid},
		{"whitespace only is valid", " \n\t\n", valid},
		{"a comment only is valid", "# tuned later", valid},

		// The HOCON must parse.
		{"HOCON EMQX can parse is valid", "listeners.tcp.default.max_connections = 1024000\nlog {\n  console.level = debug\n}", valid},
		{"an unclosed block is InvalidConfig", "listeners.tcp.default {\n  max_connections = 10\n",
			want{reason: ReasonInvalidConfig, msg: "spec.config.data is not valid HOCON: "}},
		{"two values without a separator are InvalidConfig", "a = 1 b = 2",
			want{reason: ReasonInvalidConfig, msg: "spec.config.data is not valid HOCON: missing comma"}},
		{"an unresolvable substitution is InvalidConfig", "a = ${b}",
			want{reason: ReasonInvalidConfig, msg: "spec.config.data is not valid HOCON: could not resolve substitution: ${b}"}},

		// The operator's keys must not be set.
		{"node.name is the operator's", `node.name = "emqx@elsewhere"`,
			want{reason: ReasonInvalidConfig, msg: "spec.config.data sets node.name" + managed}},
		{"node.name in block form is the operator's", "node {\n  name = \"emqx@elsewhere\"\n}",
			want{reason: ReasonInvalidConfig, msg: "spec.config.data sets node.name" + managed}},
		{"node.name set to null is the operator's", "node.name = null",
			want{reason: ReasonInvalidConfig, msg: "spec.config.data sets node.name" + managed}},
		{"node.cookie is the operator's", "node.cookie: secret",
			want{reason: ReasonInvalidConfig, msg: "spec.config.data sets node.cookie" + managed}},
		{"node.role is the operator's", "node.role = replicant",
			want{reason: ReasonInvalidConfig, msg: "spec.config.data sets node.role" + managed}},
		{"cluster.discovery_strategy is the operator's", "cluster {\n  discovery_strategy = static\n}",
			want{reason: ReasonInvalidConfig, msg: "spec.config.data sets cluster.discovery_strategy" + managed}},
		{"of several operator keys the first in the operator's list is named", "cluster.discovery_strategy = static\nnode.role = core",
			want{reason: ReasonInvalidConfig, msg: "sets node.role,"}},
		{"the parse error outranks an operator key", "node.name = x\nbroken {",
			want{reason: ReasonInvalidConfig, msg: "not valid HOCON"}},
		{"a quoted string cut off by the line end is refused (the parser would swallow the next line)", "log.file.path = \"/var/log\nnode.name = x",
			want{reason: ReasonInvalidConfig, msg: "line 1: a quoted string is not closed on its line"}},
		{"a substitution cut off by the line end is refused (the parser looped for ever)", "e.e = ${?E\nnode.x = 1",
			want{reason: ReasonInvalidConfig, msg: "line 1: a substitution ${...} is not closed on its line"}},
		{"an array left open is refused (the parser looped for ever)", "a = [1, pc ",
			want{reason: ReasonInvalidConfig, msg: "line 1: an array [ is not closed"}},
		{"a brace that closes a bracket is refused", "a = [1, 2}\n",
			want{reason: ReasonInvalidConfig, msg: `line 1: '}' closes what line 1 opened with "["`}},
		{"other node and cluster settings are valid", "node.process_limit = 2097152\ncluster.name = prod\ncluster.links = []", valid},
		{"a quoted key with dots is one key, not node.name", `"node.name" = x`, valid},
		{"an optional substitution left unset sets nothing", "node.name = ${?EMQX_NODE_NAME}", valid},

		// A scalar where the operator's keys would be nested is refused, not a panic.
		{"a scalar node root is refused", `node = "x"`,
			want{reason: ReasonInvalidConfig, msg: "node.name: a part of this path is set to a plain value"}},
		{"a scalar cluster root is refused", "cluster = 1",
			want{reason: ReasonInvalidConfig, msg: "cluster.discovery_strategy: a part of this path is set to a plain value"}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			e := newEMQX(r.data)
			check(t, func() *Problem { return Config(e) }, r.want)
		})
	}
}

func TestBootstrapKey(t *testing.T) {
	const keyRule, secretRule = `bootstrapAPIKeys[2]: the key from the Secret must match ^[a-zA-Z\d\-_]+$`,
		"bootstrapAPIKeys[2]: the secret from the Secret must be 3 to 128 characters"
	rows := []struct {
		name        string
		key, secret string
		want        want
	}{
		{"a plain key and secret are valid", "ci", "s3cr3t", valid},
		{"letters, digits, - and _ are valid in a key", "Key_1-a", "abc", valid},

		// The key must match the CRD's pattern.
		{"an empty key is refused", "", "abc", want{reason: ReasonInvalidBootstrapKey, msg: keyRule}},
		{"a dot in the key is refused", "ci.bot", "abc", want{reason: ReasonInvalidBootstrapKey, msg: keyRule}},
		{"a space in the key is refused", "ci bot", "abc", want{reason: ReasonInvalidBootstrapKey, msg: keyRule}},
		{"a trailing newline (a Secret made from a file) is refused", "ci\n", "abc", want{reason: ReasonInvalidBootstrapKey, msg: keyRule}},
		{"a non-ASCII letter in the key is refused", "clé", "abc", want{reason: ReasonInvalidBootstrapKey, msg: keyRule}},
		{"the key is checked before the secret", "bad key", "x", want{reason: ReasonInvalidBootstrapKey, msg: keyRule}},

		// The secret must be 3 to 128 long.
		{"an empty secret is refused", "ci", "", want{reason: ReasonInvalidBootstrapKey, msg: secretRule}},
		{"a secret of 2 is refused", "ci", "ab", want{reason: ReasonInvalidBootstrapKey, msg: secretRule}},
		{"a secret of 3 is valid", "ci", "abc", valid},
		{"a secret of 128 is valid", "ci", strings.Repeat("s", 128), valid},
		{"a secret of 129 is refused", "ci", strings.Repeat("s", 129), want{reason: ReasonInvalidBootstrapKey, msg: secretRule}},

		// Suspected bugs: the CRD also limits an inline key to 128 characters, and counts
		// characters, not bytes, in the secret.
		{"a key over 128 characters is not checked", strings.Repeat("k", 200), "abc", valid},
		{"a secret of 2 two-byte characters passes (bytes counted)", "ci", "éé", valid},
		{"a secret of 100 two-byte characters is refused (bytes counted)", "ci", strings.Repeat("é", 100),
			want{reason: ReasonInvalidBootstrapKey, msg: secretRule}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			check(t, func() *Problem { return BootstrapKey(r.key, r.secret, 2) }, r.want)
		})
	}
}

func TestProblemErrorIsReasonAndMessage(t *testing.T) {
	p := &Problem{Reason: ReasonSecretNotFound, Message: `secret "x" not found`, Retry: true}
	if got := p.Error(); got != `SecretNotFound: secret "x" not found` {
		t.Errorf("Error() = %q", got)
	}
}
