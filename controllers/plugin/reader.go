package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/plugins"
	"github.com/broker-ops/emqx-operator/internal/podexec"
)

// A package on a PersistentVolumeClaim is read through a reader pod: a pod of the plugin that
// mounts the claim read-only and sleeps, into which the operator execs `cat` (the pods/exec right
// it already holds for the install permission). The operator never mounts users' volumes itself,
// and EMQX pods keep their spec: adding a volume to them would roll the whole cluster.
const (
	// DefaultReaderImage runs the reader pod; it needs `cat` and `sleep` (--package-reader-image).
	DefaultReaderImage = "busybox:1.37.0"
	readerContainer    = "reader"
	readerMountPath    = "/package"
	// readerLifetime ends a reader pod the operator did not delete (it stopped in between).
	readerLifetime = 600
	// LabelPluginReader marks reader pods with the name of their EMQXPlugin.
	LabelPluginReader = "apps.emqx.io/plugin-package-reader"
)

// readerPodName is the plugin's reader pod: one per plugin, so a pass finds the one it started.
func readerPodName(pl *v2beta1.EMQXPlugin) string {
	const suffix = "-package-reader"
	if len(pl.Name)+len(suffix) <= 253 {
		return pl.Name + suffix
	}
	sum := sha256.Sum256([]byte(pl.Name))
	return pl.Name[:253-len(suffix)-9] + "-" + hex.EncodeToString(sum[:4]) + suffix
}

// readerPod builds the reader pod of a plugin whose package is on a claim. It can do nothing but
// read the claim: no service-account token, no privileges, a read-only root, a bounded life.
func readerPod(pl *v2beta1.EMQXPlugin, image string) *corev1.Pod {
	ref := pl.Spec.Package.PersistentVolumeClaim
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: readerPodName(pl), Namespace: pl.Namespace,
			Labels: map[string]string{
				v2beta1.LabelManagedBy: v2beta1.ManagedByValue, // the operator's pod cache sees it
				LabelPluginReader:      valueOrHash(pl.Name),
			},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			ActiveDeadlineSeconds:         ptr.To[int64](readerLifetime),
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), RunAsGroup: ptr.To[int64](65532),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name: readerContainer, Image: image,
				Command:    []string{"sleep", fmt.Sprint(readerLifetime)},
				WorkingDir: readerMountPath,
				VolumeMounts: []corev1.VolumeMount{{
					Name: "package", MountPath: readerMountPath, ReadOnly: true,
				}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
			Volumes: []corev1.Volume{{
				Name: "package",
				VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
					ClaimName: ref.ClaimName, ReadOnly: true,
				}},
			}},
		},
	}
}

// valueOrHash fits a name into a label value.
func valueOrHash(name string) string {
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:16])
}

// packagePending: the package cannot be read yet (its reader pod is starting); the reader pod's
// changes bring the plugin back.
type packagePending struct{ message string }

func (e *packagePending) Error() string { return e.message }

// readFromClaim reads the package through the plugin's reader pod, starting it when there is none
// and deleting it once the package was read (or could not be, for a reason the user must fix).
func (r *EMQXPluginReconciler) readFromClaim(ctx context.Context, pl *v2beta1.EMQXPlugin) ([]byte, error) {
	ref := pl.Spec.Package.PersistentVolumeClaim
	pod := &corev1.Pod{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: pl.Namespace, Name: readerPodName(pl)}, pod)
	if apierrors.IsNotFound(err) {
		return nil, r.startReader(ctx, pl)
	}
	if err != nil {
		return nil, err
	}
	if !metav1.IsControlledBy(pod, pl) {
		return nil, &plugins.PackageError{Reason: plugins.ReasonPackageNotFound,
			Message: fmt.Sprintf("pod %s is in the way of the package reader (it is not this plugin's); delete or rename it", pod.Name)}
	}
	if !pod.DeletionTimestamp.IsZero() {
		return nil, &packagePending{message: fmt.Sprintf("the package reader pod %s is going away; a new one follows", pod.Name)}
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		// Its life ended (activeDeadlineSeconds) before it was read: a new one.
		return nil, r.dropReader(ctx, pl, fmt.Sprintf("the package reader pod %s ended (%s); a new one follows", pod.Name, pod.Status.Phase))
	}
	if !readerReady(pod) {
		return nil, &packagePending{message: readerWaiting(pod)}
	}
	var buf limitedBuffer
	err = r.Exec.Stream(ctx, pod.Namespace, pod.Name, readerContainer, []string{"cat", "--", ref.Path}, &buf)
	switch {
	case buf.tooLarge:
		err = &plugins.PackageError{Reason: plugins.ReasonBadPackage, Message: fmt.Sprintf("the package is larger than %d MiB", plugins.MaxPackageSize>>20)}
	case err != nil:
		if _, ran := podexec.ExitCode(err); !ran {
			// The API server or the node could not run it (a node that restarts, a pod not
			// yet reachable): the reader stays and is asked again.
			return nil, &packagePending{message: "reading the package: " + err.Error()}
		}
		err = &plugins.PackageError{Reason: plugins.ReasonPackageNotFound,
			Message: fmt.Sprintf("%s on PersistentVolumeClaim %s cannot be read: %s", ref.Path, ref.ClaimName, lastLine(err))}
	}
	// Read, or failed for a reason the user must fix: the reader goes either way.
	if derr := r.Client.Delete(ctx, pod, client.Preconditions{UID: &pod.UID}); client.IgnoreNotFound(derr) != nil {
		return nil, derr
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// startReader checks the claim (a missing one is the user's to fix, not a pod that never starts)
// and starts the reader pod.
func (r *EMQXPluginReconciler) startReader(ctx context.Context, pl *v2beta1.EMQXPlugin) error {
	ref := pl.Spec.Package.PersistentVolumeClaim
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: pl.Namespace, Name: ref.ClaimName}, &corev1.PersistentVolumeClaim{}); err != nil {
		return notFound(err, "PersistentVolumeClaim", ref.ClaimName)
	}
	pod := readerPod(pl, r.readerImage())
	if err := controllerutil.SetControllerReference(pl, pod, r.Client.Scheme()); err != nil {
		return err
	}
	if err := r.Client.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("starting the package reader pod: %w", err)
	}
	return &packagePending{message: fmt.Sprintf("starting pod %s to read %s from PersistentVolumeClaim %s", pod.Name, ref.Path, ref.ClaimName)}
}

// dropReader deletes the plugin's reader pod, if there is one, and says why it waits.
func (r *EMQXPluginReconciler) dropReader(ctx context.Context, pl *v2beta1.EMQXPlugin, why string) error {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: pl.Namespace, Name: readerPodName(pl)}}
	if err := r.Client.Delete(ctx, pod); client.IgnoreNotFound(err) != nil {
		return err
	}
	return &packagePending{message: why}
}

// removeIdleReader deletes a reader pod left from an earlier pass (the operator stopped between
// reading and deleting it, or the install is no longer wanted). A cache read when there is none.
func (r *EMQXPluginReconciler) removeIdleReader(ctx context.Context, pl *v2beta1.EMQXPlugin) error {
	pod := &corev1.Pod{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: pl.Namespace, Name: readerPodName(pl)}, pod)
	if apierrors.IsNotFound(err) || (err == nil && (!metav1.IsControlledBy(pod, pl) || !pod.DeletionTimestamp.IsZero())) {
		return nil
	}
	if err != nil {
		return err
	}
	return client.IgnoreNotFound(r.Client.Delete(ctx, pod, client.Preconditions{UID: &pod.UID}))
}

func (r *EMQXPluginReconciler) readerImage() string {
	if r.ReaderImage != "" {
		return r.ReaderImage
	}
	return DefaultReaderImage
}

func readerReady(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range pod.Status.ContainerStatuses {
		if c.Name == readerContainer {
			return c.State.Running != nil
		}
	}
	return false
}

// readerWaiting says why a reader pod is not running: the scheduler's words (a claim not bound,
// a volume attached elsewhere) or the container's (an image that cannot be pulled).
func readerWaiting(pod *corev1.Pod) string {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" {
			return fmt.Sprintf("the package reader pod %s is not scheduled: %s", pod.Name, c.Message)
		}
	}
	for _, c := range pod.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil && w.Reason != "" {
			msg := fmt.Sprintf("the package reader pod %s waits: %s", pod.Name, w.Reason)
			if w.Message != "" {
				msg += ": " + w.Message
			}
			return msg
		}
	}
	return fmt.Sprintf("the package reader pod %s is starting", pod.Name)
}

// lastLine is the end of an error: what the command said, without the command line.
func lastLine(err error) string {
	s := strings.TrimSpace(err.Error())
	if i := strings.LastIndex(s, ": "); i >= 0 && i+2 < len(s) {
		return s[i+2:]
	}
	return s
}

var errTooLarge = errors.New("the package is too large")

// limitedBuffer holds at most plugins.MaxPackageSize bytes; a larger package stops the read
// (whether or not the stream passes the write's error on, tooLarge says so).
type limitedBuffer struct {
	bytes.Buffer
	tooLarge bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > plugins.MaxPackageSize {
		b.tooLarge = true
		return 0, errTooLarge
	}
	return b.Buffer.Write(p)
}
