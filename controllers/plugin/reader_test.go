package plugin

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	utilexec "k8s.io/client-go/util/exec"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/plugins"
)

// streamer is an Executor that answers Stream with fixed output or error and records the call.
type streamer struct {
	out   []byte
	err   error
	calls [][]string
}

func (s *streamer) Exec(context.Context, string, string, string, []string) (string, error) {
	return "", errors.New("not used")
}

func (s *streamer) Stream(_ context.Context, _, pod, container string, cmd []string, w io.Writer) error {
	s.calls = append(s.calls, append([]string{pod, container}, cmd...))
	if len(s.out) > 0 {
		if _, err := w.Write(s.out); err != nil {
			return err
		}
	}
	return s.err
}

func claimPlugin() *v2beta1.EMQXPlugin {
	return &v2beta1.EMQXPlugin{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "hello", UID: "uid-1"},
		Spec: v2beta1.EMQXPluginSpec{ClusterName: "emqx", NameVsn: "hello-1.0.0", Package: v2beta1.PluginPackage{
			PersistentVolumeClaim: &v2beta1.ClaimFileRef{ClaimName: "packages", Path: "plugins/hello-1.0.0.tar.gz"},
		}},
	}
}

func readerReconciler(t *testing.T, ex *streamer, objs ...client.Object) (*EMQXPluginReconciler, client.Client) {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v2beta1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
	return &EMQXPluginReconciler{Client: c, APIReader: c, Exec: ex, ReaderImage: "reader:1"}, c
}

func claim() *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "packages"}}
}

// runningReader is the reader pod as the kubelet reports it once its container runs.
func runningReader(t *testing.T, c client.Client, pl *v2beta1.EMQXPlugin) {
	t.Helper()
	pod := &corev1.Pod{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: readerPodName(pl)}, pod); err != nil {
		t.Fatalf("the reader pod: %v", err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: readerContainer, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
	}}}
	if err := c.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
}

func readerGone(t *testing.T, c client.Client, pl *v2beta1.EMQXPlugin) bool {
	t.Helper()
	err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: readerPodName(pl)}, &corev1.Pod{})
	return apierrors.IsNotFound(err)
}

func TestAPackageOnAClaimIsReadThroughAReaderPodThatGoesAfterwards(t *testing.T) {
	pl := claimPlugin()
	ex := &streamer{out: []byte("the package")}
	r, c := readerReconciler(t, ex, pl, claim())
	ctx := context.Background()

	_, err := r.readFromClaim(ctx, pl)
	var pending *packagePending
	if !errors.As(err, &pending) || !strings.Contains(pending.message, "starting pod hello-package-reader") {
		t.Fatalf("first pass: %v, want the reader pod starting", err)
	}
	_, err = r.readFromClaim(ctx, pl)
	if !errors.As(err, &pending) || len(ex.calls) != 0 {
		t.Fatalf("a reader pod not running yet is waited for, not exec'd into: %v, %d calls", err, len(ex.calls))
	}
	runningReader(t, c, pl)
	got, err := r.readFromClaim(ctx, pl)
	if err != nil || string(got) != "the package" {
		t.Fatalf("read %q, %v", got, err)
	}
	want := []string{"hello-package-reader", "reader", "cat", "--", "plugins/hello-1.0.0.tar.gz"}
	if strings.Join(ex.calls[0], " ") != strings.Join(want, " ") {
		t.Fatalf("exec %v, want %v", ex.calls[0], want)
	}
	if !readerGone(t, c, pl) {
		t.Fatal("the reader pod stays after the package was read")
	}
}

func TestClaimReadFailures(t *testing.T) {
	tooLarge := make([]byte, plugins.MaxPackageSize+1)
	for _, tc := range []struct {
		name       string
		noClaim    bool
		ex         *streamer
		reason     string // PackageError's; "" = pending
		readerKept bool
	}{
		{name: "the claim does not exist", noClaim: true, ex: &streamer{}, reason: plugins.ReasonPackageNotFound},
		{name: "no such file on the claim", ex: &streamer{err: utilexec.CodeExitError{Err: errors.New("cat: can't open 'plugins/hello-1.0.0.tar.gz': No such file or directory"), Code: 1}},
			reason: plugins.ReasonPackageNotFound},
		{name: "larger than the operator reads", ex: &streamer{out: tooLarge}, reason: plugins.ReasonBadPackage},
		{name: "the API server could not run the command", ex: &streamer{err: errors.New("error dialing backend: EOF")}, readerKept: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl := claimPlugin()
			objs := []client.Object{pl}
			if !tc.noClaim {
				objs = append(objs, claim())
			}
			r, c := readerReconciler(t, tc.ex, objs...)
			ctx := context.Background()
			_, err := r.readFromClaim(ctx, pl)
			if !tc.noClaim {
				runningReader(t, c, pl)
				_, err = r.readFromClaim(ctx, pl)
			}
			var pe *plugins.PackageError
			var pending *packagePending
			switch {
			case tc.reason != "" && (!errors.As(err, &pe) || pe.Reason != tc.reason):
				t.Fatalf("got %v, want a PackageError %s", err, tc.reason)
			case tc.reason == "" && !errors.As(err, &pending):
				t.Fatalf("got %v, want a wait", err)
			}
			if readerGone(t, c, pl) == tc.readerKept {
				t.Fatalf("reader pod kept: %v, want %v", !readerGone(t, c, pl), tc.readerKept)
			}
		})
	}
}

func TestTheReaderPodCanOnlyReadTheClaim(t *testing.T) {
	pod := readerPod(claimPlugin(), "reader:1")
	spec := pod.Spec
	c := spec.Containers[0]
	switch {
	case *spec.AutomountServiceAccountToken, spec.RestartPolicy != corev1.RestartPolicyNever,
		spec.ActiveDeadlineSeconds == nil:
		t.Fatalf("no token, no restarts, a bounded life: %+v", spec)
	case !spec.Volumes[0].PersistentVolumeClaim.ReadOnly || !c.VolumeMounts[0].ReadOnly:
		t.Fatal("the claim is mounted read-only")
	case c.WorkingDir != c.VolumeMounts[0].MountPath:
		t.Fatal("the reader works in the claim, so the spec's relative path is read from it")
	case !*c.SecurityContext.ReadOnlyRootFilesystem || *c.SecurityContext.AllowPrivilegeEscalation ||
		len(c.SecurityContext.Capabilities.Drop) != 1 || !*spec.SecurityContext.RunAsNonRoot:
		t.Fatalf("unprivileged: %+v", c.SecurityContext)
	case pod.Labels[v2beta1.LabelManagedBy] != v2beta1.ManagedByValue || pod.Labels[LabelPluginReader] != "hello":
		t.Fatalf("labels %v: the operator's pod cache must see it", pod.Labels)
	case pod.Labels["apps.emqx.io/instance"] != "":
		t.Fatal("a reader pod is not an EMQX pod")
	}
	long := claimPlugin()
	long.Name = strings.Repeat("p", 253)
	if n := readerPodName(long); len(n) > 253 || !strings.HasSuffix(n, "-package-reader") {
		t.Fatalf("reader pod name %q (%d)", n, len(n))
	}
	if v := readerPod(long, "x").Labels[LabelPluginReader]; len(v) > 63 {
		t.Fatalf("label value %q is too long", v)
	}
}

func TestReaderWaitingSaysWhy(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Status: corev1.PodStatus{Phase: corev1.PodPending,
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Message: `0/4 nodes are available: persistentvolumeclaim "packages" not bound`}}}}
	if got := readerWaiting(pod); !strings.Contains(got, "not bound") {
		t.Fatalf("scheduling: %q", got)
	}
	pod.Status.Conditions = nil
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: readerContainer, State: corev1.ContainerState{
		Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image"}}}}
	if got := readerWaiting(pod); !strings.Contains(got, "ImagePullBackOff: Back-off pulling image") {
		t.Fatalf("image: %q", got)
	}
}
