package main

import "testing"

func TestCheckClientLimits(t *testing.T) {
	cases := []struct {
		qps   float64
		burst int
		ok    bool
	}{
		{50, 100, true},
		{-1, 0, true}, // no client-side limit: the burst does not matter
		{0, 100, false},
		{20, 0, false},
	}
	for _, c := range cases {
		if err := checkClientLimits(c.qps, c.burst); (err == nil) != c.ok {
			t.Errorf("checkClientLimits(%g, %d) = %v, want ok=%v", c.qps, c.burst, err, c.ok)
		}
	}
}
