package fleetbench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ControlPlaneCPU is the CPU time, in seconds, the local cluster's own processes (etcd,
// kube-apiserver, controller-manager, scheduler, kwok) and the children they waited for have used:
// kwokctl runs them from the cluster's directory under the work dir (hack/cluster.sh's WORK_DIR),
// which their command lines name.
func ControlPlaneCPU(workDir, clusterName string) (float64, error) {
	marker := filepath.Join(workDir, "kwok", "clusters", clusterName, "bin") + "/"
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	ticks := 0.0
	found := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), marker) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // it just exited
		}
		t, err := cpuTicks(string(stat))
		if err != nil {
			return 0, fmt.Errorf("/proc/%s/stat: %w", e.Name(), err)
		}
		ticks += t
		found++
	}
	if found == 0 {
		return 0, fmt.Errorf("no process of the local cluster runs from %s", marker)
	}
	return ticks / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every Linux architecture Go
// runs on.
const clockTicks = 100.0

// cpuTicks is utime + stime + cutime + cstime of a /proc/PID/stat line (the process's own time
// and that of the children it waited for: kwok's `kubectl exec` commands). The command name
// (field 2) may hold spaces and parentheses, so the fields are counted after its closing
// parenthesis.
func cpuTicks(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name")
	}
	fields := strings.Fields(stat[i+1:])
	// After the name: state is field 3, utime, stime, cutime and cstime fields 14 to 17.
	if len(fields) < 15 {
		return 0, fmt.Errorf("%d fields", len(fields))
	}
	total := 0.0
	for _, f := range fields[11:15] {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return 0, fmt.Errorf("CPU time %q: %w", f, err)
		}
		total += v
	}
	return total, nil
}
