package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

// refusedByTheAPIServer: each manifest is refused by `kubectl apply` with a message that names
// what is wrong, and nothing is stored. Every kind the operator serves, every rule its CRDs carry
// that a user can trip over: required fields, enums, bounds, patterns and the CEL rules.
var refusedByTheAPIServer = []struct{ name, kind, spec, want string }{
	// EMQX
	{"no-image", "EMQX", `{coreTemplate: {spec: {replicas: 1}}}`, "spec.image: Required value"},
	{"image-with-space", "EMQX", `{image: "emqx/emqx:5.8.6 latest"}`, "image must not contain spaces"},
	{"pull-policy", "EMQX", `{image: emqx/emqx:5.8.6, imagePullPolicy: Sometimes}`, `spec.imagePullPolicy: Unsupported value: "Sometimes"`},
	{"cluster-domain", "EMQX", `{image: emqx/emqx:5.8.6, clusterDomain: Cluster_Local}`, "spec.clusterDomain in body should match"},
	{"revision-history", "EMQX", `{image: emqx/emqx:5.8.6, revisionHistoryLimit: -1}`, "spec.revisionHistoryLimit in body should be greater than or equal to 0"},
	{"config-mode", "EMQX", `{image: emqx/emqx:5.8.6, config: {mode: Patch}}`, `spec.config.mode: Unsupported value: "Patch"`},
	{"update-type", "EMQX", `{image: emqx/emqx:5.8.6, updateStrategy: {type: RollingUpdate}}`, `spec.updateStrategy.type: Unsupported value: "RollingUpdate"`},
	{"initial-delay", "EMQX", `{image: emqx/emqx:5.8.6, updateStrategy: {initialDelaySeconds: -1}}`, "initialDelaySeconds in body should be greater than or equal to 0"},
	{"conn-evict-rate", "EMQX", `{image: emqx/emqx:5.8.6, updateStrategy: {evacuationStrategy: {connEvictRate: 0}}}`, "connEvictRate in body should be greater than or equal to 1"},
	{"sess-evict-rate", "EMQX", `{image: emqx/emqx:5.8.6, updateStrategy: {evacuationStrategy: {sessEvictRate: 0}}}`, "sessEvictRate in body should be greater than or equal to 1"},
	{"wait-takeover", "EMQX", `{image: emqx/emqx:5.8.6, updateStrategy: {evacuationStrategy: {waitTakeover: -1}}}`, "waitTakeover in body should be greater than or equal to 0"},
	{"api-key-pattern", "EMQX", `{image: emqx/emqx:5.8.6, bootstrapAPIKeys: [{key: "bad key", secret: abcdef}]}`, "spec.bootstrapAPIKeys[0].key in body should match"},
	{"api-secret-short", "EMQX", `{image: emqx/emqx:5.8.6, bootstrapAPIKeys: [{key: k1, secret: ab}]}`, "spec.bootstrapAPIKeys[0].secret in body should be at least 3 chars long"},
	{"api-key-both-ways", "EMQX", `{image: emqx/emqx:5.8.6, bootstrapAPIKeys: [{key: k1, secret: abc, secretRef: {key: {secretName: s, secretKey: k}, secret: {secretName: s, secretKey: v}}}]}`,
		"give either key and secret, or secretRef, not both"},
	{"api-key-half", "EMQX", `{image: emqx/emqx:5.8.6, bootstrapAPIKeys: [{key: k1}]}`, "an inline bootstrap API key needs both key and secret"},
	{"pdb-both", "EMQX", `{image: emqx/emqx:5.8.6, coreTemplate: {spec: {minAvailable: 1, maxUnavailable: 1}}}`, "set minAvailable or maxUnavailable"},
	{"cores-negative", "EMQX", `{image: emqx/emqx:5.8.6, coreTemplate: {spec: {replicas: -1}}}`, "spec.coreTemplate.spec.replicas in body should be greater than or equal to 0"},
	{"cores-too-many", "EMQX", `{image: emqx/emqx:5.8.6, coreTemplate: {spec: {replicas: 1001}}}`, "spec.coreTemplate.spec.replicas in body should be less than or equal to 1000"},
	{"replicants-without-cores", "EMQX", `{image: emqx/emqx:5.8.6, coreTemplate: {spec: {replicas: 0}}, replicantTemplate: {spec: {replicas: 2}}}`,
		"replicant nodes need at least one core node"},
	{"tls-neither", "EMQX", `{image: emqx/emqx:5.8.6, tls: {}}`, "tls needs exactly one of secretName"},
	{"tuning-too-few", "EMQX", `{image: emqx/emqx:5.8.6, tuning: {connectionsPerNode: 10}}`, "spec.tuning.connectionsPerNode in body should be greater than or equal to 1000"},
	{"scrape-mode", "EMQX", `{image: emqx/emqx:5.8.6, monitoring: {podMonitor: {mode: cluster}}}`, `spec.monitoring.podMonitor.mode: Unsupported value: "cluster"`},
	{"scrape-interval", "EMQX", `{image: emqx/emqx:5.8.6, monitoring: {podMonitor: {interval: 30 seconds}}}`, "spec.monitoring.podMonitor.interval in body should match"},
	// EMQXBackup
	{"backup-no-cluster", "EMQXBackup", `{pvc: {claimName: c}}`, "spec.clusterName: Required value"},
	{"backup-two-stores", "EMQXBackup", `{clusterName: a, pvc: {claimName: c}, s3: {endpoint: "http://127.0.0.1:9000", bucket: abc, credentialsSecretName: s}}`, "set exactly one of pvc and s3"},
	{"backup-no-store", "EMQXBackup", `{clusterName: a}`, "set exactly one of pvc and s3"},
	{"backup-archive-policy", "EMQXBackup", `{clusterName: a, pvc: {claimName: c}, archivePolicy: Keep}`, `spec.archivePolicy: Unsupported value: "Keep"`},
	{"backup-s3-endpoint", "EMQXBackup", `{clusterName: a, s3: {endpoint: "ftp://127.0.0.1", bucket: abc, credentialsSecretName: s}}`, "spec.s3.endpoint in body should match"},
	{"backup-s3-bucket", "EMQXBackup", `{clusterName: a, s3: {endpoint: "http://127.0.0.1:9000", bucket: ab, credentialsSecretName: s}}`, "spec.s3.bucket in body should be at least 3 chars long"},
	{"backup-subpath", "EMQXBackup", `{clusterName: a, pvc: {claimName: c, subPath: ../elsewhere}}`, "spec.pvc.subPath in body should match"},
	// EMQXBackupSchedule
	{"schedule-empty", "EMQXBackupSchedule", `{schedule: "", template: {clusterName: a, pvc: {claimName: c}}}`, "spec.schedule in body should be at least 1 chars long"},
	{"schedule-retention-empty", "EMQXBackupSchedule", `{schedule: "@daily", template: {clusterName: a, pvc: {claimName: c}}, retention: {}}`, "set keepLast, maxAge or both"},
	{"schedule-keep-none", "EMQXBackupSchedule", `{schedule: "@daily", template: {clusterName: a, pvc: {claimName: c}}, retention: {keepLast: 0}}`, "spec.retention.keepLast in body should be greater than or equal to 1"},
	{"schedule-two-stores", "EMQXBackupSchedule", `{schedule: "@daily", template: {clusterName: a, pvc: {claimName: c}, s3: {endpoint: "http://127.0.0.1:9000", bucket: abc, credentialsSecretName: s}}}`, "set exactly one of pvc and s3"},
	// EMQXRestore
	{"restore-both-sources", "EMQXRestore", `{clusterName: a, backupName: b, filename: x.tar.gz}`, "set either backupName or filename"},
	{"restore-file-no-store", "EMQXRestore", `{clusterName: a, filename: x.tar.gz}`, "a filename needs exactly one of pvc and s3"},
	{"restore-backup-with-store", "EMQXRestore", `{clusterName: a, backupName: b, pvc: {claimName: c}}`, "backupName brings its own storage"},
	{"restore-file-name", "EMQXRestore", `{clusterName: a, filename: x.zip, pvc: {claimName: c}}`, "spec.filename in body should match"},
	{"restore-sha256", "EMQXRestore", `{clusterName: a, backupName: b, sha256: xyz}`, "spec.sha256 in body should match"},
	// EMQXPlugin
	{"plugin-name-vsn", "EMQXPlugin", `{clusterName: a, nameVsn: 1plugin, package: {url: "http://127.0.0.1/p.tar.gz", sha256: "` + strings.Repeat("0", 64) + `"}}`, "spec.nameVsn in body should match"},
	{"plugin-url-no-sha", "EMQXPlugin", `{clusterName: a, nameVsn: p-1.0.0, package: {url: "http://127.0.0.1/p.tar.gz"}}`, "a package from a URL needs its sha256"},
	{"plugin-position", "EMQXPlugin", `{clusterName: a, nameVsn: p-1.0.0, position: middle, package: {url: "http://127.0.0.1/p.tar.gz", sha256: "` + strings.Repeat("0", 64) + `"}}`, "spec.position in body should match"},
	{"plugin-path-escape", "EMQXPlugin", `{clusterName: a, nameVsn: p-1.0.0, package: {persistentVolumeClaim: {claimName: c, path: a/../../b.tar.gz}}}`, "no '..' segments"},
	{"plugin-trimmed-name", "EMQXPlugin", `{clusterName: a, nameVsn: p-1.0.tar, package: {url: "http://127.0.0.1/p.tar.gz", sha256: "` + strings.Repeat("0", 64) + `"}}`, "EMQX trims trailing"},
	// The EMQX 4 kinds
	{"ee-plugin-name", "EmqxEnterprise", `{image: emqx/emqx-ee:4.4.19, emqxTemplate: {plugins: [{name: Bad-Name, enable: true}]}}`, "in body should match"},
	{"ee-acl-permission", "EmqxEnterprise", `{image: emqx/emqx-ee:4.4.19, emqxTemplate: {acl: [{permission: maybe}]}}`, `permission: Unsupported value: "maybe"`},
	{"broker-module-name", "EmqxBroker", `{image: emqx/emqx:4.4.19, emqxTemplate: {modules: [{name: "a b", enable: true}]}}`, "in body should match"},
}

// reportedByTheOperator: valid for the API server, refused by the operator's own checks: a
// condition with the reason, a Warning Event with it, and no workload made.
var reportedByTheOperator = []struct{ name, kind, spec, condition, reason, message string }{
	{"config-not-hocon", "EMQX", `{image: emqx/emqx:5.8.6, config: {data: "a = [1, 2"}}`, "ConfigValid", "InvalidConfig", "an array [ is not closed"},
	{"config-cut-string", "EMQX", `{image: emqx/emqx:5.8.6, config: {data: "log.file.path = \"/var/log\nnode.process_limit = 10"}}`, "ConfigValid", "InvalidConfig", "a quoted string is not closed on its line"},
	{"config-sets-node-name", "EMQX", `{image: emqx/emqx:5.8.6, config: {data: "node.name = \"emqx@x\""}}`, "ConfigValid", "InvalidConfig", "which the operator manages"},
	{"config-node-scalar", "EMQX", `{image: emqx/emqx:5.8.6, config: {data: "node = 1"}}`, "ConfigValid", "InvalidConfig", "set to a plain value"},
	{"ee-5x-image", "EmqxEnterprise", `{image: emqx/emqx-ee:5.0.0}`, "Failed", "ImageNotEMQX4", "the v1beta2 kinds run EMQX 4.4"},
	{"ee-owned-env", "EmqxEnterprise", `{image: emqx/emqx-ee:4.4.19, env: [{name: EMQX_NODE__COOKIE, value: mine}]}`, "Failed", "InvalidEnv", "EMQX_NODE__COOKIE"},
}

var apiVersionOfKind = map[string]string{"EmqxEnterprise": "apps.emqx.io/v1beta2", "EmqxBroker": "apps.emqx.io/v1beta2"}

func badManifest(kind, name, spec string) string {
	apiVersion := apiVersionOfKind[kind]
	if apiVersion == "" {
		apiVersion = "apps.emqx.io/v2beta1"
	}
	return fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata: {name: %s}\nspec: %s\n", apiVersion, kind, name, spec)
}

// TestBadInputIsRefusedWithAClearMessage: over 50 invalid resources across every kind, each
// refused by the API server with a message naming the field and the rule, or reported by the
// operator (a condition and a Warning Event with the reason) with nothing applied.
func TestBadInputIsRefusedWithAClearMessage(t *testing.T) {
	ns := env.NewNamespace(t)
	// The operator's rows first: their waits overlap the kubectl calls below.
	for _, row := range reportedByTheOperator {
		kubectl(t, "-n", ns, "apply", "-f", writeTemp(t, badManifest(row.kind, row.name, row.spec)))
	}
	var wg sync.WaitGroup
	rows := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rows {
				row := refusedByTheAPIServer[i]
				out, err := env.KubectlOutput("-n", ns, "apply", "-f", writeTemp(t, badManifest(row.kind, row.name, row.spec)))
				switch {
				case err == nil:
					t.Errorf("%s: %s accepted: %s", row.name, row.kind, out)
				case !strings.Contains(err.Error(), row.want):
					t.Errorf("%s: kubectl said %v\nwant a message containing %q", row.name, err, row.want)
				}
			}
		}()
	}
	for i := range refusedByTheAPIServer {
		rows <- i
	}
	close(rows)
	wg.Wait()
	stored, err := env.KubectlOutput("-n", ns, "get", "emqx,emqxbackups,emqxbackupschedules,emqxrestores,emqxplugins,emqxenterprises,emqxbrokers", "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range refusedByTheAPIServer {
		if strings.Contains(stored+"\n", "/"+row.name+"\n") {
			t.Errorf("%s: a refused %s was stored", row.name, row.kind)
		}
	}

	for _, row := range reportedByTheOperator {
		harness.Eventually(t, 30*time.Second, row.name+" reported", func() error {
			got, err := env.KubectlOutput("-n", ns, "get", row.kind, row.name, "-o",
				`jsonpath={.status.conditions[?(@.type=="`+row.condition+`")].reason}|{.status.conditions[?(@.type=="`+row.condition+`")].message}`)
			if err != nil {
				return err
			}
			if !strings.HasPrefix(got, row.reason+"|") || !strings.Contains(got, row.message) {
				return fmt.Errorf("%s = %q, want %s and a message containing %q", row.condition, got, row.reason, row.message)
			}
			for _, ev := range eventsWithReason(t, ns, row.reason) {
				if ev.Regarding.Name == row.name && ev.Type == "Warning" {
					return nil
				}
			}
			return fmt.Errorf("no Warning Event %s for %s", row.reason, row.name)
		})
	}
	// Nothing was applied for any of them: no workload, no Service, no ConfigMap.
	out, err := env.KubectlOutput("-n", ns, "get", "statefulsets,services,configmaps", "-l", "apps.emqx.io/managed-by=emqx-operator", "-o", "name")
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("objects made for refused resources: %q %v", out, err)
	}
}
