// Package jobrunner plays the kubelet for Job pods on the local kwok cluster, where no container
// runs: the e2e suite (harness.RunJobs) and `make demo` (cmd/job-runner) use it, so that the
// backups and restores the operator starts as Jobs really run.
package jobrunner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// AnnotationExitCode finishes a Job pod with that exit code (see hack/kwok/stages.yaml).
const AnnotationExitCode = "sim.emqx.io/exit-code"

// AnnotationTerminationMessage carries what a Job pod's container wrote to its
// terminationMessagePath; the kwok stages copy it into the terminated state, as a kubelet would.
const AnnotationTerminationMessage = "sim.emqx.io/termination-message"

// Runner plays the kubelet for Job pods. kwok starts no containers, so for each running Job pod
// it takes the Job's pod template as the operator created it and executes that exact container
// command as a local process: environment resolved as a kubelet resolves it (values, Secret keys,
// fields), PersistentVolumeClaims bound to local directories, a service-account token from the
// TokenRequest API, every volume bind-mounted at the path the spec names inside a private mount
// namespace, a read-only root with only the static manager binary at /manager (the image's
// layout), run as the pod's user. The process's exit code and termination-log file then end the
// pod. It needs root (mount namespaces, chroot, switching to the pod's user).
type Runner struct {
	cfg Config
	// apiHost, apiPort and apiCA are how pods reach the API server (KUBERNETES_SERVICE_HOST/PORT
	// and the service-account volume's ca.crt), from the local cluster's kubeconfig.
	apiHost, apiPort string
	apiCA            []byte

	mu   sync.Mutex
	done map[types.UID]Run
	// away holds the pods whose setup met an API server that was away, until they run.
	away     map[types.UID]*retry
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// retry is a pod's setup tried again while the API server is away: since when, and when next.
type retry struct {
	since, next time.Time
	wait        time.Duration
}

// setupPatience is how long a pod's setup is tried again while the API server is away: longer
// than a restart of the rig's kube-apiserver (about 25 s), shorter than the Job's own deadline,
// so that a pod that never gets through ends with the reason.
const setupPatience = 90 * time.Second

// Config says what the runner runs and where.
type Config struct {
	Client client.Client
	// Kubeconfig of the local cluster: the API server address and CA the pods get.
	Kubeconfig string
	// ManagerStatic is the statically linked manager, mounted at /manager (the image's entry point).
	ManagerStatic string
	// Namespace limits the runner to one namespace; empty means every namespace.
	Namespace string
	// Volume returns the local directory standing for a PersistentVolumeClaim.
	Volume func(namespace, claim string) (string, error)
	// WorkDir holds each pod's root and files; LogDir (optional) gets a log per pod.
	WorkDir, LogDir string
	// OnError hears about pods that could not be run or finished (they end with exit code 128).
	OnError func(error)
}

// Run is one executed Job pod.
type Run struct {
	Job, Pod string
	// Command is what ran (the container's command and args).
	Command  []string
	ExitCode int
	// Message is the termination message; Log the process's output.
	Message, Log string
}

// Start runs Job pods until Stop.
func Start(cfg Config) (*Runner, error) {
	if _, err := os.Stat(cfg.ManagerStatic); err != nil {
		return nil, fmt.Errorf("%s is missing: `make e2e-binaries` builds it, as the Dockerfile does (CGO_ENABLED=0)", cfg.ManagerStatic)
	}
	if cfg.OnError == nil {
		cfg.OnError = func(error) {}
	}
	r := &Runner{cfg: cfg, done: map[types.UID]Run{}, away: map[types.UID]*retry{}, stop: make(chan struct{})}
	if err := r.readAPIServer(); err != nil {
		return nil, err
	}
	r.wg.Add(1)
	go r.loop()
	return r, nil
}

// Stop ends the loop and waits for a pod being run. Stopping again does nothing.
func (r *Runner) Stop() {
	r.stopOnce.Do(func() { close(r.stop) })
	r.wg.Wait()
}

// Runs lists the pods executed so far, in order of their Jobs' names.
func (r *Runner) Runs() []Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Run
	for _, run := range r.done {
		out = append(out, run)
	}
	slices.SortFunc(out, func(a, b Run) int { return strings.Compare(a.Job, b.Job) })
	return out
}

// Run returns the run of a Job's pod (false if it has not run).
func (r *Runner) Run(job string) (Run, bool) {
	for _, run := range r.Runs() {
		if run.Job == job {
			return run, true
		}
	}
	return Run{}, false
}

func (r *Runner) loop() {
	defer r.wg.Done()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
		pods := &corev1.PodList{}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := r.cfg.Client.List(ctx, pods, client.InNamespace(r.cfg.Namespace), client.HasLabels{"batch.kubernetes.io/job-name"})
		cancel()
		if err != nil {
			continue
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			r.mu.Lock()
			_, seen := r.done[p.UID]
			r.mu.Unlock()
			if seen || p.Status.Phase != corev1.PodRunning || p.Annotations[AnnotationExitCode] != "" || !p.DeletionTimestamp.IsZero() {
				continue
			}
			if a := r.away[p.UID]; a != nil && time.Now().Before(a.next) {
				continue
			}
			run, err := r.execute(p)
			if errors.Is(err, errRetryLater) && r.tryAgain(p.UID, time.Now()) {
				continue // as a kubelet does: the pod's setup is tried again
			}
			if errors.Is(err, errRetryLater) {
				err = fmt.Errorf("gave up after %s: %w", setupPatience, err)
			}
			delete(r.away, p.UID)
			if err != nil {
				r.cfg.OnError(fmt.Errorf("running Job pod %s/%s: %w", p.Namespace, p.Name, err))
				run.ExitCode = 128
			}
			r.mu.Lock()
			r.done[p.UID] = run
			r.mu.Unlock()
			if err := r.finishRetrying(p, run); err != nil {
				r.cfg.OnError(fmt.Errorf("finishing Job pod %s/%s: %w", p.Namespace, p.Name, err))
			}
		}
	}
}

// tryAgain records a pod's setup that met an API server that was away and says whether to try
// it again (later, backing off up to 5 s); after setupPatience it is given up.
func (r *Runner) tryAgain(uid types.UID, now time.Time) bool {
	a := r.away[uid]
	if a == nil {
		a = &retry{since: now, wait: 200 * time.Millisecond}
		r.away[uid] = a
	}
	if now.Sub(a.since) > setupPatience {
		return false
	}
	a.next, a.wait = now.Add(a.wait), min(2*a.wait, 5*time.Second)
	return true
}

// finishRetrying reports the exit code as a kubelet does: while the API server is away (it may
// be down for a while, restarted by a test) it tries again, up to setupPatience; any other
// error, or a pod that is gone, ends it.
func (r *Runner) finishRetrying(p *corev1.Pod, run Run) error {
	deadline := time.Now().Add(setupPatience)
	for wait := 200 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := r.finish(p.DeepCopy(), run)
		if err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		if !transient(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-r.stop:
			return err
		case <-time.After(wait):
		}
	}
}

func (r *Runner) finish(p *corev1.Pod, run Run) error {
	patch := client.MergeFrom(p.DeepCopy())
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[AnnotationExitCode] = fmt.Sprint(run.ExitCode)
	if run.Message != "" {
		p.Annotations[AnnotationTerminationMessage] = run.Message
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return r.cfg.Client.Patch(ctx, p, patch)
}

// errRetryLater: the pod's setup met an API server that is away (restarted by a test); nothing
// ran, and a later round tries again.
var errRetryLater = errors.New("the API server is away")

// retryIfTransient turns an error a kubelet would retry into errRetryLater; any other error (a
// missing Secret, a refused request, a certificate the client does not trust) stays as it is.
func retryIfTransient(err error) error {
	if err == nil || !transient(err) {
		return err
	}
	return fmt.Errorf("%w: %w", errRetryLater, err)
}

// transient: the API server is away or overloaded — the connection refused, reset or cut, a
// timeout, or an answer of 429, 500, 502, 503 or 504 — rather than saying no.
func transient(err error) bool {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		switch status.Status().Code {
		case 429, 500, 502, 503, 504:
			return true
		}
		return false
	}
	var netErr net.Error
	return utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) ||
		errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout())
}

// execute runs the pod's single container from its Job's template.
func (r *Runner) execute(p *corev1.Pod) (Run, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	jobName := p.Labels["batch.kubernetes.io/job-name"]
	job := &batchv1.Job{}
	if err := r.cfg.Client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: jobName}, job); err != nil {
		return Run{Job: jobName, Pod: p.Name}, retryIfTransient(err)
	}
	spec := job.Spec.Template.Spec
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
		return Run{Job: jobName, Pod: p.Name}, fmt.Errorf("the runner runs pods of exactly one container, not %d (+%d init)", len(spec.Containers), len(spec.InitContainers))
	}
	c := spec.Containers[0]
	run := Run{Job: jobName, Pod: p.Name, Command: append(slices.Clone(c.Command), c.Args...)}
	if len(run.Command) == 0 || run.Command[0] != "/manager" {
		return run, fmt.Errorf("command %v: the operator image's entry point is /manager", run.Command)
	}
	root := filepath.Join(r.cfg.WorkDir, p.Namespace, p.Name)
	env, mounts, err := r.prepare(ctx, p, spec, c, root)
	if err != nil {
		return run, retryIfTransient(err)
	}
	termLog := filepath.Join(root+"-files", "termination-log")
	// The kubelet's termination-log file is writable by the container, whatever its user.
	if err := os.WriteFile(termLog, nil, 0o666); err != nil {
		return run, err
	}
	if err := os.Chmod(termLog, 0o666); err != nil {
		return run, err
	}
	mounts = append(mounts, bind{src: r.cfg.ManagerStatic, dst: "/manager", ro: true},
		bind{src: "/dev/null", dst: "/dev/null"}, bind{src: termLog, dst: terminationPath(c)})
	uid, gid := int64(0), int64(0)
	if sc := spec.SecurityContext; sc != nil {
		uid, gid = ptr.Deref(sc.RunAsUser, 0), ptr.Deref(sc.RunAsGroup, ptr.Deref(sc.RunAsUser, 0))
	}
	if sc := c.SecurityContext; sc != nil && sc.RunAsUser != nil {
		uid = *sc.RunAsUser
	}
	script, err := mountScript(root, mounts)
	if err != nil {
		return run, err
	}
	ready := filepath.Join(root+"-files", "ready")
	script += "touch " + quote(ready) + "\n"
	chroot, err := exec.LookPath("chroot")
	if err != nil {
		return run, err
	}
	script += "exec env -i " + strings.Join(quoteAll(env), " ") + " " + quote(chroot) + " --userspec=" + fmt.Sprintf("%d:%d", uid, gid) + " " + quote(root) + " " +
		strings.Join(quoteAll(run.Command), " ") + "\n"
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "bash", "-ec", script)
	out, err := cmd.CombinedOutput()
	run.Log = string(out)
	if r.cfg.LogDir != "" {
		if err := os.WriteFile(filepath.Join(r.cfg.LogDir, "job-"+p.Namespace+"-"+p.Name+".log"), append([]byte(strings.Join(run.Command, " ")+"\n"), out...), 0o644); err != nil {
			r.cfg.OnError(fmt.Errorf("the log of Job pod %s/%s: %w", p.Namespace, p.Name, err))
		}
	}
	if _, serr := os.Stat(ready); serr != nil {
		return run, fmt.Errorf("setting up the pod's filesystem failed: %v\n%s", err, out)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		run.ExitCode = exit.ExitCode()
	case err != nil:
		return run, err
	}
	msg, _ := os.ReadFile(termLog)
	run.Message = string(msg)
	return run, nil
}

type bind struct {
	src, dst string
	ro       bool
}

func terminationPath(c corev1.Container) string {
	if c.TerminationMessagePath != "" {
		return c.TerminationMessagePath
	}
	return corev1.TerminationMessagePathDefault
}

// prepare resolves the container's environment and volumes the way a kubelet would.
func (r *Runner) prepare(ctx context.Context, p *corev1.Pod, spec corev1.PodSpec, c corev1.Container, root string) ([]string, []bind, error) {
	if err := os.MkdirAll(root+"-files", 0o755); err != nil {
		return nil, nil, err
	}
	env := []string{"PATH=/", "HOSTNAME=" + p.Name}
	for _, ev := range c.Env {
		v, err := r.envValue(ctx, p, ev)
		if err != nil {
			return nil, nil, err
		}
		env = append(env, ev.Name+"="+v)
	}
	var mounts []bind
	fsGroup := int64(-1)
	if spec.SecurityContext != nil && spec.SecurityContext.FSGroup != nil {
		fsGroup = *spec.SecurityContext.FSGroup
	}
	for _, m := range c.VolumeMounts {
		i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if i < 0 {
			return nil, nil, fmt.Errorf("volume mount %s names no volume", m.Name)
		}
		v := spec.Volumes[i]
		if v.PersistentVolumeClaim == nil {
			return nil, nil, fmt.Errorf("volume %s: the runner binds PersistentVolumeClaims only", v.Name)
		}
		dir, err := r.cfg.Volume(p.Namespace, v.PersistentVolumeClaim.ClaimName)
		if err != nil {
			return nil, nil, err
		}
		dir = filepath.Join(dir, m.SubPath)
		// The kubelet makes a subPath and hands the volume to the pod's fsGroup.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, nil, err
		}
		if fsGroup >= 0 {
			if err := os.Chown(dir, -1, int(fsGroup)); err != nil {
				return nil, nil, err
			}
			if err := os.Chmod(dir, 0o2775); err != nil {
				return nil, nil, err
			}
		}
		mounts = append(mounts, bind{src: dir, dst: m.MountPath, ro: m.ReadOnly})
	}
	if ptr.Deref(spec.AutomountServiceAccountToken, true) {
		sa, err := r.serviceAccount(ctx, p, spec, root+"-files")
		if err != nil {
			return nil, nil, err
		}
		env = append(env, "KUBERNETES_SERVICE_HOST="+r.apiHost, "KUBERNETES_SERVICE_PORT="+r.apiPort)
		mounts = append(mounts, bind{src: sa, dst: "/var/run/secrets/kubernetes.io/serviceaccount", ro: true})
	}
	return env, mounts, nil
}

func (r *Runner) envValue(ctx context.Context, p *corev1.Pod, ev corev1.EnvVar) (string, error) {
	switch {
	case ev.ValueFrom == nil:
		return ev.Value, nil
	case ev.ValueFrom.SecretKeyRef != nil:
		ref := ev.ValueFrom.SecretKeyRef
		s := &corev1.Secret{}
		if err := r.cfg.Client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: ref.Name}, s); err != nil {
			return "", fmt.Errorf("env %s: %w (a kubelet would not start the container)", ev.Name, err)
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			return "", fmt.Errorf("env %s: Secret %s has no key %s", ev.Name, ref.Name, ref.Key)
		}
		return string(v), nil
	case ev.ValueFrom.FieldRef != nil:
		switch ev.ValueFrom.FieldRef.FieldPath {
		case "metadata.namespace":
			return p.Namespace, nil
		case "metadata.name":
			return p.Name, nil
		}
	}
	return "", fmt.Errorf("env %s: the runner does not resolve %+v", ev.Name, ev.ValueFrom)
}

// serviceAccount writes the token, CA and namespace files a kubelet projects into the pod.
func (r *Runner) serviceAccount(ctx context.Context, p *corev1.Pod, spec corev1.PodSpec, files string) (string, error) {
	name := spec.ServiceAccountName
	if name == "" {
		name = "default"
	}
	sa := &corev1.ServiceAccount{}
	if err := r.cfg.Client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: name}, sa); err != nil {
		return "", fmt.Errorf("service account %s: %w", name, err)
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600),
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID}}}
	if err := r.cfg.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		return "", fmt.Errorf("token for service account %s: %w", name, err)
	}
	dir := filepath.Join(files, "serviceaccount")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for f, b := range map[string][]byte{"token": []byte(tr.Status.Token), "ca.crt": r.apiCA, "namespace": []byte(p.Namespace)} {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func (r *Runner) readAPIServer() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", r.cfg.Kubeconfig)
	if err != nil {
		return err
	}
	hostport := strings.TrimPrefix(cfg.Host, "https://")
	i := strings.LastIndex(hostport, ":")
	if i < 0 {
		return fmt.Errorf("API server address %s has no port", cfg.Host)
	}
	r.apiHost, r.apiPort = hostport[:i], hostport[i+1:]
	if r.apiCA = cfg.CAData; len(r.apiCA) == 0 {
		r.apiCA, err = os.ReadFile(cfg.CAFile)
	}
	return err
}

// mountScript makes root a read-only root filesystem with the binds on it. Mount points are
// created inside root (a test directory), so nothing outside it changes; the mounts live only in
// the private mount namespace.
func mountScript(root string, mounts []bind) (string, error) {
	var b strings.Builder
	b.WriteString("mount --make-rprivate /\n")
	for _, m := range mounts {
		target := filepath.Join(root, m.dst)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return "", err
		}
		st, err := os.Stat(m.src)
		if err != nil {
			return "", err
		}
		if st.IsDir() {
			err = os.MkdirAll(target, 0o755)
		} else {
			err = os.WriteFile(target, nil, 0o644)
		}
		if err != nil {
			return "", err
		}
	}
	// The root first, read-only (the pod's readOnlyRootFilesystem), then the volumes on it.
	fmt.Fprintf(&b, "mount --bind %s %s\nmount -o remount,bind,ro %s\n", quote(root), quote(root), quote(root))
	for _, m := range mounts {
		target := quote(filepath.Join(root, m.dst))
		fmt.Fprintf(&b, "mount --bind %s %s\n", quote(m.src), target)
		if m.ro {
			fmt.Fprintf(&b, "mount -o remount,bind,ro %s\n", target)
		}
	}
	return b.String(), nil
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = quote(s)
	}
	return out
}
