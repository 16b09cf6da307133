package harness

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// LeakWatch records, for the whole run, every secret value any Secret of the cluster held and
// every text the operator writes where people look: Events, and the status and annotations of
// the custom resources. Namespaces are deleted as tests end, so it watches rather than lists at
// the end. Check then looks for each secret, as it is and base64-encoded, in those texts and in
// the operator's and its Jobs' logs.
type LeakWatch struct {
	cancel context.CancelFunc
	mu     sync.Mutex
	// secrets: value → where it was seen ("Secret ns/name[key]").
	secrets map[string]string
	// texts: where → every version of the text seen there (a condition message that leaked and
	// then changed still counts).
	texts map[string][]string
}

// minSecretLen: shorter values ("true", a port) are not worth calling a leak.
const minSecretLen = 8

// secretKey says whether a Secret key holds something secret: passwords, tokens, API secrets,
// cookies, licence keys, private keys. Certificates, user names, endpoints and bucket names are
// not secret and appear in messages on purpose.
func secretKey(key string) bool {
	k := strings.ToLower(key)
	if strings.HasSuffix(k, ".crt") || strings.HasSuffix(k, ".pem") && !strings.Contains(k, "key") {
		return false
	}
	for _, s := range []string{"secret", "password", "token", "cookie", "licen", "tls.key", "private"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// customResources are the kinds whose status and annotations the operator writes.
var customResources = []schema.GroupVersionKind{
	{Group: "apps.emqx.io", Version: "v2beta1", Kind: "EMQX"},
	{Group: "apps.emqx.io", Version: "v2beta1", Kind: "EMQXBackup"},
	{Group: "apps.emqx.io", Version: "v2beta1", Kind: "EMQXBackupSchedule"},
	{Group: "apps.emqx.io", Version: "v2beta1", Kind: "EMQXRestore"},
	{Group: "apps.emqx.io", Version: "v2beta1", Kind: "EMQXPlugin"},
	{Group: "apps.emqx.io", Version: "v1beta2", Kind: "EmqxEnterprise"},
	{Group: "apps.emqx.io", Version: "v1beta2", Kind: "EmqxBroker"},
}

// WatchForLeaks starts recording. Stop it with Check.
func (e *Env) WatchForLeaks() (*LeakWatch, error) {
	c, err := cache.New(e.restConfig, cache.Options{Scheme: Scheme()})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &LeakWatch{cancel: cancel, secrets: map[string]string{}, texts: map[string][]string{}}
	watch := func(obj client.Object, record func(any)) error {
		inf, err := c.GetInformer(ctx, obj)
		if err != nil {
			return err
		}
		_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    record,
			UpdateFunc: func(_, o any) { record(o) },
		})
		return err
	}
	go func() { _ = c.Start(ctx) }()
	if err := watch(&corev1.Secret{}, w.recordSecret); err != nil {
		cancel()
		return nil, err
	}
	if err := watch(&corev1.Event{}, w.recordEvent); err != nil {
		cancel()
		return nil, err
	}
	for _, gvk := range customResources {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		if err := watch(u, w.recordCustomResource); err != nil {
			cancel()
			return nil, fmt.Errorf("watching %s: %w", gvk.Kind, err)
		}
	}
	if !c.WaitForCacheSync(ctx) {
		cancel()
		return nil, fmt.Errorf("the leak watch's cache did not sync")
	}
	return w, nil
}

func (w *LeakWatch) recordSecret(o any) {
	s, ok := o.(*corev1.Secret)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, v := range s.Data {
		if secretKey(k) && len(strings.TrimSpace(string(v))) >= minSecretLen {
			w.secrets[strings.TrimSpace(string(v))] = fmt.Sprintf("Secret %s/%s[%s]", s.Namespace, s.Name, k)
		}
	}
}

func (w *LeakWatch) recordEvent(o any) {
	ev, ok := o.(*corev1.Event)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.add(fmt.Sprintf("Event %s/%s", ev.Namespace, ev.Name), ev.Reason+" "+ev.Message)
}

func (w *LeakWatch) recordCustomResource(o any) {
	u, ok := o.(*unstructured.Unstructured)
	if !ok {
		return
	}
	annotations := u.GetAnnotations()
	// The user's own manifest, spec and all, as kubectl apply keeps it: not the operator's text.
	delete(annotations, "kubectl.kubernetes.io/last-applied-configuration")
	b, _ := json.Marshal(map[string]any{"status": u.Object["status"], "annotations": annotations})
	w.mu.Lock()
	defer w.mu.Unlock()
	w.add(fmt.Sprintf("%s %s/%s status or annotations", u.GetKind(), u.GetNamespace(), u.GetName()), string(b))
}

// add records a version of the text at where (callers hold mu).
func (w *LeakWatch) add(where, text string) {
	versions := w.texts[where]
	if len(versions) == 0 || versions[len(versions)-1] != text {
		w.texts[where] = append(versions, text)
	}
}

// Check stops the watch and returns where a secret appeared: in the operator's and its Jobs'
// logs under logDir, in an Event, or in a custom resource's status or annotations. The secrets
// themselves are not printed, only where they came from.
func (w *LeakWatch) Check(logDir string) (secretsSeen int, leaks []string, err error) {
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	texts := map[string]string{}
	for k, v := range w.texts {
		texts[k] = strings.Join(v, "\n")
	}
	// The operator, the managers tests start of their own (replicas, other versions) and the
	// backup and restore Jobs: every process that runs the operator's code.
	var logs []string
	for _, pattern := range []string{"operator.log", "job-*.log", "replica-*.log", "manager-*.log"} {
		found, err := filepath.Glob(filepath.Join(logDir, pattern))
		if err != nil {
			return 0, nil, err
		}
		logs = append(logs, found...)
	}
	for _, f := range logs {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, nil, err
		}
		texts["log "+filepath.Base(f)] = string(b)
	}
	for value, from := range w.secrets {
		forms := []string{value, base64.StdEncoding.EncodeToString([]byte(value))}
		for where, text := range texts {
			for _, form := range forms {
				if strings.Contains(text, form) {
					leaks = append(leaks, fmt.Sprintf("the value of %s appears in %s", from, where))
					break
				}
			}
		}
	}
	sort.Strings(leaks)
	return len(w.secrets), leaks, nil
}
