package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/broker-ops/emqx-operator/internal/migrate"
)

// Exit codes of `manager migrate`.
const (
	MigrateOK = 0
	// MigrateActionNeeded: check found something to do before installing.
	MigrateActionNeeded = 1
	MigrateUsage        = 2
	// MigrateFailed: the cluster could not be read or changed.
	MigrateFailed = 3
)

// Migrate implements `manager migrate check` (what a cluster holds, before and after a switch
// from the vendor's operator; exit 1 when something must be done first) and `manager migrate
// crds` (take the shared CRDs over, keeping every resource). The cluster is $KUBECONFIG's.
func Migrate(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || (args[0] != "check" && args[0] != "crds") {
		fmt.Fprintln(stderr, "usage: manager migrate check|crds   (the cluster of $KUBECONFIG)")
		return MigrateUsage
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		fmt.Fprintln(stderr, "migrate: no Kubernetes configuration:", err)
		return MigrateFailed
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = apiextensionsv1.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(stderr, "migrate:", err)
		return MigrateFailed
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if args[0] == "check" {
		return RunMigrateCheck(ctx, c, stdout, stderr)
	}
	return RunMigrateCRDs(ctx, c, stdout, stderr)
}

// RunMigrateCheck prints one block per CRD of apps.emqx.io.
func RunMigrateCheck(ctx context.Context, c client.Client, stdout, stderr io.Writer) int {
	findings, err := migrate.Check(ctx, c)
	if err != nil {
		fmt.Fprintln(stderr, "migrate check:", err)
		return MigrateFailed
	}
	code := MigrateOK
	for _, f := range findings {
		verdict := "ok"
		if f.Action != "" {
			verdict, code = "ACTION", MigrateActionNeeded
		}
		fmt.Fprintf(stdout, "%s: %s\n", f.CRD, verdict)
		for _, n := range f.Notes {
			fmt.Fprintf(stdout, "  - %s\n", n)
		}
		if f.Action != "" {
			fmt.Fprintf(stdout, "  > %s\n", f.Action)
		}
	}
	if len(findings) == 0 {
		fmt.Fprintln(stdout, "no CRD of apps.emqx.io installed: a plain install will do")
	}
	return code
}

// RunMigrateCRDs takes over every CRD this operator installs that another installed first.
func RunMigrateCRDs(ctx context.Context, c client.Client, stdout, stderr io.Writer) int {
	ours, err := migrate.OurCRDs()
	if err != nil {
		fmt.Fprintln(stderr, "migrate crds:", err)
		return MigrateFailed
	}
	for _, crd := range ours {
		if err := migrate.TakeOver(ctx, c, crd, stdout); err != nil {
			fmt.Fprintln(stderr, "migrate crds:", err)
			return MigrateFailed
		}
	}
	return MigrateOK
}
