package harness

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/broker-ops/emqx-operator/test/jobrunner"
)

// JobRunner plays the kubelet for the Job pods of one namespace (see package jobrunner).
type JobRunner = jobrunner.Runner

// JobRun is one executed Job pod.
type JobRun = jobrunner.Run

// RunJobs starts a JobRunner for ns; claims maps PVC names to local directories. It stops at the
// end of the test. Needs root (mount namespaces, chroot, switching to the pod's user).
func (e *Env) RunJobs(t *testing.T, ns string, claims map[string]string) *JobRunner {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running Job pods needs root: a private mount namespace, bind mounts, chroot and the pod's user (CI runs the e2e suite as root)")
	}
	r, err := jobrunner.Start(jobrunner.Config{
		Client: e.Client, Kubeconfig: e.Kubeconfig, ManagerStatic: filepath.Join(e.cfg.Bin, "manager-static"),
		Namespace: ns, WorkDir: t.TempDir(), LogDir: e.logDir,
		Volume: func(_, claim string) (string, error) {
			dir, ok := claims[claim]
			if !ok {
				return "", &missingClaim{claim}
			}
			return dir, nil
		},
		OnError: func(err error) { t.Error(err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

type missingClaim struct{ name string }

func (m *missingClaim) Error() string {
	return "no local directory stands for PersistentVolumeClaim " + m.name
}

// ClaimDir is the local directory that stands for a PersistentVolumeClaim in `kubectl exec`
// (the simulator runs commands of pods working in a claim there): what a test puts in it is on
// the volume, as if the user's pipeline had filled it.
func (e *Env) ClaimDir(namespace, claim string) string {
	return filepath.Join(e.workDir, "volumes", namespace, claim)
}
