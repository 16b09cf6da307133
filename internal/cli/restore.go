package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/broker-ops/emqx-operator/internal/backup"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// RestoreOptions says which archive to import into which cluster.
type RestoreOptions struct {
	Namespace, Cluster string
	Storage            StorageOptions
	// File is the archive's name in the storage; SHA256 the checksum it must have ("" to use the
	// store's checksum file).
	File, SHA256 string
	ResultFile   string
	Timeout      time.Duration
}

// RestoreReport is what `manager restore` prints and leaves as its termination message.
type RestoreReport = backup.RestoreReport

// Restore implements `manager restore --namespace NS --cluster NAME --file F (--dir DIR | --s3-...)`,
// the command restore Jobs run: it imports one stored archive into a ready core of the cluster.
// Exit codes are those of `manager backup`.
func Restore(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := RestoreOptions{}
	fs.StringVar(&o.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "namespace of the EMQX cluster")
	fs.StringVar(&o.Cluster, "cluster", "", "name of the EMQX cluster")
	fs.StringVar(&o.File, "file", "", "name of the archive in the storage")
	fs.StringVar(&o.SHA256, "sha256", "", "SHA-256 the archive must have (default: the .sha256 stored beside it)")
	o.Storage.register(fs)
	fs.StringVar(&o.ResultFile, "result-file", "/dev/termination-log", "where the JSON result goes too (\"\" for nowhere)")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return BackupUsage
	}
	if !o.Storage.given() || o.Namespace == "" || o.Cluster == "" || o.File == "" {
		fmt.Fprintln(stderr, "restore: --namespace, --cluster, --file and either --dir or --s3-endpoint with --s3-bucket are required")
		return BackupUsage
	}
	kc, err := inClusterClient()
	if err != nil {
		fmt.Fprintln(stderr, "restore:", err)
		return BackupFailed
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	return RunRestore(ctx, kc, JobFactory, o, stdout, stderr)
}

// RunRestore is Restore with its Kubernetes client and EMQX client factory given.
func RunRestore(ctx context.Context, kc kubernetes.Interface, f emqxapi.Factory, o RestoreOptions, stdout, stderr io.Writer) int {
	out := RestoreReport{Restored: backup.Restored{Filename: o.File}}
	store, err := o.Storage.store()
	if err == nil {
		var eps []emqxapi.Endpoint
		var creds emqxapi.Credentials
		if eps, creds, err = readyCores(ctx, kc, o.Namespace, o.Cluster); err == nil {
			out.Restored, err = backup.Restore(ctx, f, creds, eps, store, o.File, o.SHA256)
		}
	}
	if err != nil {
		out.Error = err.Error()
	}
	report("restore", out, out.Error, o.ResultFile, stdout, stderr)
	return exitCode(err)
}
