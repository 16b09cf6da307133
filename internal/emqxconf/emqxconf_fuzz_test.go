package emqxconf

import (
	"testing"
)

// lookedUp are the paths the operator reads from a user's config.data (the restart-only roots,
// durable storage, the licence key).
var lookedUp = []string{"node", "rpc", "cluster", "dashboard.listeners", "dashboard.listeners.http.bind",
	"durable_storage.messages.replication_factor", "durable_sessions.enable", "license.key", "api_key.bootstrap_file"}

// FuzzConfigData: any config.data a user writes is parsed, looked up and hashed without a panic
// (the HOCON parser panics on some malformed input; Parse and Lookup turn that into errors), and
// the restart checksum depends on the config's meaning only: the same text hashes the same, and a
// trailing comment or blank lines change nothing.
func FuzzConfigData(f *testing.F) {
	for _, seed := range []string{
		"",
		"log.console.level = info\nnode.process_limit = 2097152\n",
		"node { process_limit = 2097152 }\nlog.console.level = info\n",
		"cluster.links = []\ncluster.autoclean = 5m\n",
		"dashboard.listeners.http.bind = 18084\n",
		"durable_sessions.enable = true\ndurable_storage.messages { replication_factor = 5 }\n",
		`license { key = "MjIwMTExCjAKMTAKRXZhbHVhdGlvbgpjb250YWN0QGVtcXguaW8KZGVmYXVsdAoyMDIzMDEwOQoxODI1CjEwMAo=" }`,
		"node = \"x\"\nnode.name = y\n",
		"a = [1, 2, {b = c}]\nrpc { port_discovery = manual, tcp_client_num = 10 }\n",
		"include \"other.conf\"\n",
		"x = ${y}\ny = 1\n",
		"node.name = ${?HOSTNAME}\n",
		"listeners.ssl.default { bind = \"0.0.0.0:8883\", ssl_options { verify = verify_peer } }\n",
		"a.b.c = \"\"\"multi\nline\"\"\"\n",
		"{ node { cookie = secret } }",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		conf, err := Parse(text)
		if err != nil {
			return
		}
		for _, path := range lookedUp {
			if _, err := Lookup(conf, path); err != nil {
				continue
			}
			if _, _, err := Scalar(conf, path); err != nil {
				t.Fatalf("Scalar(%s) failed where Lookup did not: %v", path, err)
			}
		}
		sum, err := RestartChecksum(text)
		if err != nil {
			return
		}
		if again, err := RestartChecksum(text); err != nil || again != sum {
			t.Fatalf("the same text hashed %s, then %s (%v)", sum, again, err)
		}
		commented := text + "\n\n# a comment the user added\n"
		if _, err := Parse(commented); err != nil {
			return // the text ended inside something a newline does not close
		}
		if other, err := RestartChecksum(commented); err != nil || other != sum {
			t.Fatalf("a trailing comment changed the restart checksum from %s to %s (%v)", sum, other, err)
		}
	})
}
