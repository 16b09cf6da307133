package simulator

import "testing"

// The API call count goes on past the bounded call log: the fleet benchmark counts a fleet's calls.
func TestCallCountOutlivesTheLog(t *testing.T) {
	s := &Simulator{}
	for range 5003 {
		s.record(Call{Method: "GET", Path: "/api/v5/nodes"})
	}
	// What the log holds besides API calls is not counted.
	s.record(Call{Method: "CTL", Path: "emqx ctl plugins list"})
	s.record(Call{Method: "REREAD", Path: "file:///mnt/license/license.key"})
	if n, kept := s.CallCount(), len(s.Calls()); n != 5003 || kept != 5000 {
		t.Errorf("count %d, log %d: want 5003 and 5000", n, kept)
	}
}
