package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
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
	// Dir is the directory (a mounted PVC) the archive goes to.
	Dir string
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

// Backup implements `manager backup --namespace NS --cluster NAME --dir DIR`, the command the
// backup Jobs run with the operator's own image. It finds the cluster's ready core nodes through
// the Kubernetes API and talks to them by pod IP, with the operator's API key.
func Backup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := BackupOptions{}
	fs.StringVar(&o.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "namespace of the EMQX cluster")
	fs.StringVar(&o.Cluster, "cluster", "", "name of the EMQX cluster")
	fs.StringVar(&o.Dir, "dir", "", "directory the archive is stored in (a mounted PVC)")
	fs.StringVar(&o.ResultFile, "result-file", "/dev/termination-log", "where the JSON result goes too (\"\" for nowhere)")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return BackupUsage
	}
	if o.Namespace == "" || o.Cluster == "" || o.Dir == "" {
		fmt.Fprintln(stderr, "backup: --namespace, --cluster and --dir are required")
		return BackupUsage
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		fmt.Fprintln(stderr, "backup: no Kubernetes configuration:", err)
		return BackupFailed
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "backup:", err)
		return BackupFailed
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	return RunBackup(ctx, kc, emqxapi.DefaultFactory, o, stdout, stderr)
}

// errNotReady: no ready core node answers for the cluster.
var errNotReady = errors.New("no ready core node")

// RunBackup is Backup with its Kubernetes client and EMQX client factory given.
func RunBackup(ctx context.Context, kc kubernetes.Interface, f emqxapi.Factory, o BackupOptions, stdout, stderr io.Writer) int {
	res, err := takeBackup(ctx, kc, f, o)
	out := BackupResult{Result: res}
	code := BackupOK
	switch {
	case errors.Is(err, errNotReady) || errors.Is(err, emqxapi.ErrNoEndpoint):
		out.Error, code = err.Error(), BackupNotReady
	case err != nil:
		out.Error, code = err.Error(), BackupFailed
	}
	b, jerr := json.Marshal(out)
	if jerr != nil {
		fmt.Fprintln(stderr, "backup:", jerr)
		return BackupFailed
	}
	fmt.Fprintln(stdout, string(b))
	if o.ResultFile != "" {
		if werr := os.WriteFile(o.ResultFile, b, 0o644); werr != nil {
			fmt.Fprintln(stderr, "backup: writing the result file:", werr)
		}
	}
	if out.Error != "" {
		fmt.Fprintln(stderr, "backup failed:", out.Error)
	}
	return code
}

func takeBackup(ctx context.Context, kc kubernetes.Interface, f emqxapi.Factory, o BackupOptions) (backup.Result, error) {
	e := &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: o.Cluster}}
	pods, err := kc.CoreV1().Pods(o.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(e.RoleSelectorLabels(v2beta1.RoleCore)).String()})
	if err != nil {
		return backup.Result{}, fmt.Errorf("listing the core pods: %w", err)
	}
	// Exports run on a core: only cores hold the cluster's tables, and an export from a node
	// that is not ready may be incomplete.
	var eps []emqxapi.Endpoint
	for i := range pods.Items {
		p := &pods.Items[i]
		if status.IsPodReady(p) && p.Status.PodIP != "" {
			eps = append(eps, emqxapi.Endpoint{Pod: p.Name, BaseURL: emqxapi.PodBaseURL(p.Status.PodIP)})
		}
	}
	if len(eps) == 0 {
		return backup.Result{}, fmt.Errorf("%w of EMQX cluster %s/%s is running", errNotReady, o.Namespace, o.Cluster)
	}
	creds, err := operatorCredentials(ctx, kc, e)
	if err != nil {
		return backup.Result{}, err
	}
	return backup.Take(ctx, f, creds, eps, backup.DirStore{Dir: o.Dir})
}

func operatorCredentials(ctx context.Context, kc kubernetes.Interface, e *v2beta1.EMQX) (emqxapi.Credentials, error) {
	s, err := kc.CoreV1().Secrets(e.Namespace).Get(ctx, e.OperatorKeySecretName(), metav1.GetOptions{})
	if err != nil {
		return emqxapi.Credentials{}, fmt.Errorf("reading the operator's API key (Secret %s): %w", e.OperatorKeySecretName(), err)
	}
	return emqxapi.Credentials{Key: string(s.Data[values.OperatorKeyKey]), Secret: string(s.Data[values.OperatorSecretKey])}, nil
}
