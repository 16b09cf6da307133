package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/backup"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/status"
	"github.com/broker-ops/emqx-operator/internal/values"
)

// BackupOptions says which cluster to back up and where to.
type BackupOptions struct {
	Namespace, Cluster string
	Storage            StorageOptions
	// Delete, when set, deletes that archive from the storage instead of taking a backup.
	Delete string
	// ResultFile receives the result as JSON too: the container's termination message, which
	// Kubernetes keeps in the pod's status for whoever started the Job.
	ResultFile string
	Timeout    time.Duration
}

// BackupResult is what `manager backup` prints (and writes to the result file).
type BackupResult = backup.Report

// Exit codes of `manager backup`.
const (
	BackupOK = 0
	// BackupFailed: the backup was tried and failed (EMQX error, storage error); nothing partial is kept.
	BackupFailed = 1
	// BackupUsage: wrong flags.
	BackupUsage = 2
	// BackupNotReady: no ready core node to ask; trying again later can succeed.
	BackupNotReady = 3
)

// Backup implements `manager backup --namespace NS --cluster NAME (--dir DIR | --s3-...)`, the
// command the backup Jobs run with the operator's own image. It finds the cluster's ready core
// nodes through the Kubernetes API and talks to them by pod IP, with the operator's API key.
// With --delete NAME it deletes that archive from the storage instead (what archive-delete Jobs run).
func Backup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := BackupOptions{}
	fs.StringVar(&o.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "namespace of the EMQX cluster")
	fs.StringVar(&o.Cluster, "cluster", "", "name of the EMQX cluster")
	fs.StringVar(&o.Delete, "delete", "", "delete this archive (and its checksum) from the storage instead")
	o.Storage.register(fs)
	fs.StringVar(&o.ResultFile, "result-file", "/dev/termination-log", "where the JSON result goes too (\"\" for nowhere)")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return BackupUsage
	}
	if !o.Storage.given() {
		fmt.Fprintln(stderr, "backup:", errNoStorage)
		return BackupUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	if o.Delete != "" {
		return RunDelete(ctx, o, stdout, stderr)
	}
	if o.Namespace == "" || o.Cluster == "" {
		fmt.Fprintln(stderr, "backup: --namespace and --cluster are required")
		return BackupUsage
	}
	kc, err := inClusterClient()
	if err != nil {
		fmt.Fprintln(stderr, "backup:", err)
		return BackupFailed
	}
	return RunBackup(ctx, kc, JobFactory, o, stdout, stderr)
}

// JobFactory makes EMQX clients for the Jobs: an archive download or upload may take minutes, so
// calls are bounded by the Job's --timeout rather than the operator's 5 s per call.
func JobFactory(baseURL string, creds emqxapi.Credentials) *emqxapi.Client {
	return emqxapi.New(baseURL, creds, &http.Client{Timeout: 5 * time.Minute})
}

func inClusterClient() (kubernetes.Interface, error) {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("no Kubernetes configuration: %w", err)
	}
	return kubernetes.NewForConfig(cfg)
}

// errNotReady: no ready core node answers for the cluster.
var errNotReady = errors.New("no ready core node")

// RunBackup is Backup with its Kubernetes client and EMQX client factory given.
func RunBackup(ctx context.Context, kc kubernetes.Interface, f emqxapi.Factory, o BackupOptions, stdout, stderr io.Writer) int {
	var res backup.Result
	store, err := o.Storage.store()
	if err == nil {
		res, err = takeBackup(ctx, kc, f, o.Namespace, o.Cluster, store)
	}
	out := BackupResult{Result: res}
	code := exitCode(err)
	if err != nil {
		out.Error = err.Error()
	}
	report("backup", out, out.Error, o.ResultFile, stdout, stderr)
	return code
}

// RunDelete deletes one archive (and its checksum) from the storage.
func RunDelete(ctx context.Context, o BackupOptions, stdout, stderr io.Writer) int {
	store, err := o.Storage.store()
	if err == nil {
		err = store.Delete(ctx, o.Delete)
	}
	out := backup.Report{Result: backup.Result{Filename: o.Delete}}
	if err != nil {
		out.Error = "deleting " + o.Delete + ": " + err.Error()
	}
	report("backup", out, out.Error, o.ResultFile, stdout, stderr)
	return exitCode(err)
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return BackupOK
	case errors.Is(err, errNotReady) || errors.Is(err, emqxapi.ErrNoEndpoint):
		return BackupNotReady
	default:
		return BackupFailed
	}
}

// report prints the JSON result and writes it to the result file (the container's termination
// message, which Kubernetes keeps in the pod's status for the operator to read).
func report(cmd string, out any, failure, resultFile string, stdout, stderr io.Writer) {
	b, err := json.Marshal(out)
	if err != nil {
		fmt.Fprintln(stderr, cmd+":", err)
		return
	}
	fmt.Fprintln(stdout, string(b))
	if resultFile != "" {
		if werr := os.WriteFile(resultFile, b, 0o644); werr != nil {
			fmt.Fprintln(stderr, cmd+": writing the result file:", werr)
		}
	}
	if failure != "" {
		fmt.Fprintln(stderr, cmd+" failed:", failure)
	}
}

func takeBackup(ctx context.Context, kc kubernetes.Interface, f emqxapi.Factory, ns, cluster string, store backup.Store) (backup.Result, error) {
	eps, creds, err := readyCores(ctx, kc, ns, cluster)
	if err != nil {
		return backup.Result{}, err
	}
	return backup.Take(ctx, f, creds, eps, store)
}

// readyCores finds the cluster's ready core nodes through the Kubernetes API, and the operator's
// API key to talk to them.
func readyCores(ctx context.Context, kc kubernetes.Interface, ns, cluster string) ([]emqxapi.Endpoint, emqxapi.Credentials, error) {
	e := &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: cluster}}
	pods, err := kc.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(e.RoleSelectorLabels(v2beta1.RoleCore)).String()})
	if err != nil {
		return nil, emqxapi.Credentials{}, fmt.Errorf("listing the core pods: %w", err)
	}
	// Exports and imports run on a core: only cores hold the cluster's tables (EMQX refuses
	// imports elsewhere), and a node that is not ready may have an incomplete view.
	var eps []emqxapi.Endpoint
	for i := range pods.Items {
		p := &pods.Items[i]
		if status.IsPodReady(p) && p.Status.PodIP != "" {
			eps = append(eps, emqxapi.Endpoint{Pod: p.Name, BaseURL: emqxapi.PodBaseURL(p.Status.PodIP)})
		}
	}
	if len(eps) == 0 {
		return nil, emqxapi.Credentials{}, fmt.Errorf("%w of EMQX cluster %s/%s is running", errNotReady, ns, cluster)
	}
	creds, err := operatorCredentials(ctx, kc, e)
	return eps, creds, err
}

func operatorCredentials(ctx context.Context, kc kubernetes.Interface, e *v2beta1.EMQX) (emqxapi.Credentials, error) {
	s, err := kc.CoreV1().Secrets(e.Namespace).Get(ctx, e.OperatorKeySecretName(), metav1.GetOptions{})
	if err != nil {
		return emqxapi.Credentials{}, fmt.Errorf("reading the operator's API key (Secret %s): %w", e.OperatorKeySecretName(), err)
	}
	return emqxapi.Credentials{Key: string(s.Data[values.OperatorKeyKey]), Secret: string(s.Data[values.OperatorSecretKey])}, nil
}
