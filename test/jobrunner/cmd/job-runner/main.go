// Command job-runner plays the kubelet for the Job pods of the local cluster (every namespace), so
// that the backups and restores `make demo` runs complete. Each PersistentVolumeClaim a Job mounts
// is a directory <volumes-dir>/<namespace>/<claim>, made on first use. It needs root. It runs
// until SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/broker-ops/emqx-operator/test/jobrunner"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "the local cluster's kubeconfig")
	manager := flag.String("manager-static", "bin/manager-static", "the statically linked manager (the image's /manager)")
	volumes := flag.String("volumes-dir", "", "where PersistentVolumeClaims live as directories (required)")
	work := flag.String("work-dir", "", "where each pod's root is assembled (required)")
	flag.Parse()
	if *volumes == "" || *work == "" {
		log.Fatal("job-runner: --volumes-dir and --work-dir are required")
	}
	if os.Geteuid() != 0 {
		log.Fatal("job-runner: needs root (a private mount namespace, bind mounts, chroot and the pod's user)")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatalf("job-runner: %v", err)
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		log.Fatalf("job-runner: %v", err)
	}
	r, err := jobrunner.Start(jobrunner.Config{
		Client: c, Kubeconfig: *kubeconfig, ManagerStatic: *manager, WorkDir: *work, LogDir: *work,
		Volume: func(ns, claim string) (string, error) {
			dir := filepath.Join(*volumes, ns, claim)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return "", fmt.Errorf("the directory for PersistentVolumeClaim %s/%s: %w", ns, claim, err)
			}
			return dir, nil
		},
		OnError: func(err error) { log.Printf("job-runner: %v", err) },
	})
	if err != nil {
		log.Fatalf("job-runner: %v", err)
	}
	log.Printf("job-runner: running Job pods of every namespace (volumes in %s)", *volumes)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	r.Stop()
	log.Print("job-runner: stopped")
}
