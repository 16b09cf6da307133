package simulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/broker-ops/emqx-operator/internal/backup"
	"github.com/broker-ops/emqx-operator/internal/cli"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/test/s3server"
)

// TestBackupAgainstTheSimulator (§7): a backup exports on the node, downloads the archive from
// that node, stores it verified, and deletes the node's copy; an export that fails leaves nothing
// in the store that could pass for a backup.
func TestBackupAgainstTheSimulator(t *testing.T) {
	w := newTestWorld(t)
	w.pod("a-0", 1, podOpts{})
	creds := emqxapi.Credentials{Key: testKey, Secret: testSecret}
	eps := []emqxapi.Endpoint{{Pod: "a-0", BaseURL: "http://127.77.0.1:18083"}}
	dir := t.TempDir()

	res, err := backup.Take(context.Background(), emqxapi.DefaultFactory, creds, eps, backup.DirStore{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Warning != "" || !strings.HasPrefix(res.Filename, "emqx-export-") || res.Node != "emqx@a-0.emqx-headless.ns.svc.cluster.local" {
		t.Errorf("result = %+v", res)
	}
	b, err := os.ReadFile(filepath.Join(dir, res.Filename))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != res.SHA256 || int64(len(b)) != res.Size || res.Size == 0 {
		t.Errorf("stored %d bytes with sha %x; result says %d, %s", len(b), sum, res.Size, res.SHA256)
	}
	if files := w.get(1, "/api/v5/data/files").json(t)["data"].([]any); len(files) != 0 {
		t.Errorf("the node still holds %v", files)
	}

	// A node that fails its export: an error, and the store holds only the good backup.
	if err := w.sim.SetFaults("emqx@a-0.emqx-headless.ns.svc.cluster.local", Faults{ServerError: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Take(context.Background(), emqxapi.DefaultFactory, creds, eps, backup.DirStore{Dir: dir}); err == nil ||
		!strings.Contains(err.Error(), "export") {
		t.Errorf("a failing export: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("store holds %d entries after a failed backup, want the first archive and its checksum", len(entries))
	}
}

// TestBackupCommandFindsACoreThroughKubernetes: `manager backup` finds a ready core of the cluster
// through the Kubernetes API, uses the operator's API key Secret, reaches the node by pod IP, and
// reports the result as JSON (stdout and the result file); with no ready core it says so with
// exit code 3, so the Job can be retried.
func TestBackupCommandFindsACoreThroughKubernetes(t *testing.T) {
	w := newTestWorld(t)
	w.pod("c-core-0", 1, podOpts{})
	p, err := w.kc.CoreV1().Pods("ns").Get(w.ctx, "c-core-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Labels = map[string]string{"apps.emqx.io/instance": "c", "apps.emqx.io/managed-by": "emqx-operator", "apps.emqx.io/db-role": "core"}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if _, err := w.kc.CoreV1().Pods("ns").Update(w.ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.secret("c-operator-api-key", map[string]string{"key": testKey, "secret": testSecret})

	dir, resultFile := t.TempDir(), filepath.Join(t.TempDir(), "termination-log")
	var stdout, stderr bytes.Buffer
	o := cli.BackupOptions{Namespace: "ns", Cluster: "c", Storage: cli.StorageOptions{Dir: dir}, ResultFile: resultFile}
	if code := cli.RunBackup(context.Background(), w.kc, emqxapi.DefaultFactory, o, &stdout, &stderr); code != cli.BackupOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var res cli.BackupResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, res.Filename)); err != nil || res.SHA256 == "" {
		t.Errorf("result %+v, stored: %v", res, err)
	}
	if b, _ := os.ReadFile(resultFile); !bytes.Equal(bytes.TrimSpace(b), bytes.TrimSpace(stdout.Bytes())) {
		t.Errorf("result file %q", b)
	}

	o.Cluster = "other"
	stdout.Reset()
	if code := cli.RunBackup(context.Background(), w.kc, emqxapi.DefaultFactory, o, &stdout, &stderr); code != cli.BackupNotReady ||
		!strings.Contains(stdout.String(), "no ready core node of EMQX cluster ns/other") {
		t.Errorf("exit %d, %s", code, stdout.String())
	}
}

// TestBackupToS3: the archive lands in the bucket under the prefix with its checksum object and
// reads back with that checksum; a failing export or an unusable store leaves no object and no
// file on the node.
func TestBackupToS3(t *testing.T) {
	w := newTestWorld(t)
	node := w.pod("a-0", 1, podOpts{})
	srv, err := s3server.Start("127.0.0.1:0", "AKIABACKUP", "backup-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.CreateBucket("emqx"); err != nil {
		t.Fatal(err)
	}
	creds := emqxapi.Credentials{Key: testKey, Secret: testSecret}
	eps := []emqxapi.Endpoint{{Pod: "a-0", BaseURL: "http://127.77.0.1:18083"}}
	store := func(c backup.S3Config) backup.Store {
		c.Endpoint, c.Prefix = srv.URL, "prod/"
		if c.Bucket == "" {
			c.Bucket = "emqx"
		}
		if c.AccessKeyID == "" {
			c.AccessKeyID, c.SecretAccessKey = "AKIABACKUP", "backup-secret"
		}
		s, err := backup.NewS3Store(c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	res, err := backup.Take(context.Background(), emqxapi.DefaultFactory, creds, eps, store(backup.S3Config{}))
	if err != nil {
		t.Fatal(err)
	}
	obj := srv.Object("emqx", "prod/"+res.Filename)
	if Checksum(obj) != res.SHA256 || int64(len(obj)) != res.Size || res.Location != "s3://emqx/prod/"+res.Filename {
		t.Errorf("object of %d bytes, sha %s; result %+v", len(obj), Checksum(obj), res)
	}
	if sum := string(srv.Object("emqx", "prod/"+res.Filename+".sha256")); sum != res.SHA256+"  "+res.Filename+"\n" {
		t.Errorf("checksum object %q", sum)
	}

	for name, tc := range map[string]struct {
		cfg    backup.S3Config
		faults Faults
		want   string
	}{
		"export 5xx":        {faults: Faults{ServerError: true}, want: "export"},
		"wrong credentials": {cfg: backup.S3Config{AccessKeyID: "AKIABACKUP", SecretAccessKey: "wrong"}, want: "refused the credentials"},
		"bucket missing":    {cfg: backup.S3Config{Bucket: "gone"}, want: "bucket gone does not exist"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := w.sim.SetFaults(node, tc.faults); err != nil {
				t.Fatal(err)
			}
			_, err := backup.Take(context.Background(), emqxapi.DefaultFactory, creds, eps, store(tc.cfg))
			if err := w.sim.SetFaults(node, Faults{}); err != nil {
				t.Fatal(err)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("backup: %v, want %q", err, tc.want)
			}
			if keys := srv.Keys("emqx"); len(keys) != 2 {
				t.Errorf("bucket holds %v, want the first archive and its checksum", keys)
			}
			if files := w.get(1, "/api/v5/data/files").json(t)["data"].([]any); len(files) != 0 {
				t.Errorf("the node holds %v", files)
			}
		})
	}
}
