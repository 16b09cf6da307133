// Command emqx-sim runs the EMQX simulator against a cluster: it serves every EMQX pod's API on
// <podIP>:18083 and a control API for tests on --control (loopback only).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/broker-ops/emqx-operator/test/simulator"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster to simulate EMQX in")
	control := flag.String("control", "127.0.0.1:0", "control API address (loopback only)")
	addrFile := flag.String("control-address-file", "", "write the control API's address here once it listens")
	timeScale := flag.Float64("time-scale", 1, "multiplier for simulated durations (0.1 = ten times faster than EMQX)")
	volumes := flag.String("volumes-dir", "", "where PersistentVolumeClaims live as directories <dir>/<namespace>/<claim>, for `kubectl exec` in pods that work in one (empty: no such exec)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*kubeconfig, *control, *addrFile, *volumes, *timeScale, log); err != nil {
		log.Error("emqx-sim", "error", err)
		os.Exit(1)
	}
}

func run(kubeconfig, control, addrFile, volumes string, timeScale float64, log *slog.Logger) error {
	host, _, err := net.SplitHostPort(control)
	if err != nil {
		return fmt.Errorf("--control: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("--control must be a loopback address")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// The control API listens first: its address goes into every pod's kwok Exec, through which
	// `kubectl exec <pod> -- emqx ctl …` reaches the pod's node.
	ln, err := net.Listen("tcp", control)
	if err != nil {
		return fmt.Errorf("control API: %w", err)
	}
	sim := simulator.New(kc, simulator.Options{TimeScale: timeScale, Log: log, ControlURL: "http://" + ln.Addr().String(), VolumesDir: volumes})
	if addrFile != "" {
		if err := os.WriteFile(addrFile, []byte(strings.TrimSpace(ln.Addr().String())+"\n"), 0o644); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: sim.ControlHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close() //nolint:errcheck
	log.Info("control API listening", "address", ln.Addr().String())
	return sim.Run(ctx)
}
