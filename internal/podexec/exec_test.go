package podexec

import (
	"errors"
	"fmt"
	"testing"

	utilexec "k8s.io/client-go/util/exec"
)

func TestExitCodeReadsBothWaysAKubeletReportsAFailedCommand(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code int
		ran  bool
	}{
		{"on the stream's status", fmt.Errorf("cat in pod ns/p: %w", utilexec.CodeExitError{Err: errors.New("command terminated with non-zero exit code"), Code: 1}), 1, true},
		{"as an internal error (kwok)", errors.New("cat -- x in pod ns/p: Internal error occurred: error executing command in container: cmd wait: cat -- x: exit status 2: cat: x: No such file or directory"), 2, true},
		{"the API server could not reach the node", errors.New("error dialing backend: dial tcp 10.0.0.1:10250: connect: connection refused"), 0, false},
		{"no error", nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, ran := ExitCode(tc.err)
			if code != tc.code || ran != tc.ran {
				t.Fatalf("ExitCode = %d, %v; want %d, %v", code, ran, tc.code, tc.ran)
			}
		})
	}
}
