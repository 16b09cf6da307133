package harness

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The detector itself: each way a secret can leak is found, and what is not secret is not.
func TestLeakWatchFindsSecretsWhereTheyLeak(t *testing.T) {
	w := &LeakWatch{cancel: func() {}, secrets: map[string]string{}, texts: map[string][]string{}}
	w.recordSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "keys"}, Data: map[string][]byte{
		"secret": []byte("s3cr3t-in-log"), "password": []byte("pw-in-an-event"), "license.key": []byte("licence-in-status"),
		"tls.key": []byte("base64-in-a-job-log"), "token": []byte("short"), "ca.crt": []byte("public-certificate"),
		"endpoint": []byte("http://127.0.0.1:9000"),
	}})
	w.recordEvent(&corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "e1"}, Reason: "Oops", Message: "password pw-in-an-event refused"})
	w.recordEvent(&corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "e2"}, Message: "uploading to http://127.0.0.1:9000 with public-certificate"})
	cr := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{"message": "licence-in-status expired"}}}
	cr.SetKind("EMQX")
	cr.SetNamespace("ns")
	cr.SetName("a")
	cr.SetAnnotations(map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "s3cr3t-in-log"})
	w.recordCustomResource(cr)
	// The status changed afterwards: the leak that was there still counts.
	cr.Object["status"] = map[string]any{"message": "renewed"}
	w.recordCustomResource(cr)

	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("operator.log", `{"msg":"calling EMQX","secret":"s3cr3t-in-log"}`)
	write("job-x-backup.log", "key "+base64.StdEncoding.EncodeToString([]byte("base64-in-a-job-log")))
	write("emqx-sim.log", "pw-in-an-event") // the simulator is not the operator

	seen, leaks, err := w.Check(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"the value of Secret ns/keys[license.key] appears in EMQX ns/a status or annotations",
		"the value of Secret ns/keys[password] appears in Event ns/e1",
		"the value of Secret ns/keys[secret] appears in log operator.log",
		"the value of Secret ns/keys[tls.key] appears in log job-x-backup.log",
	}
	if seen != 4 || strings.Join(leaks, "\n") != strings.Join(want, "\n") {
		t.Errorf("%d secrets, leaks:\n%s\nwant 4 secrets and:\n%s", seen, strings.Join(leaks, "\n"), strings.Join(want, "\n"))
	}
}
