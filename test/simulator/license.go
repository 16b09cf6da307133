package simulator

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Test licences. EMQX licence keys are signed blobs the simulator cannot verify, so it accepts a
// documented test format instead and refuses anything else with EMQX's error:
//
//	base64("emqx-sim-license-v1\ncustomer=<name>\ntype=official|trial|community\nmax_sessions=<n>\nexpiry_at=YYYY-MM-DD\n")
//
// Blank lines and surrounding whitespace are ignored (EMQX strips whitespace from keys too).
const licenseMagic = "emqx-sim-license-v1"

// License is what GET /api/v5/license reports.
type License struct {
	Customer     string `json:"customer"`
	CustomerType int    `json:"customer_type"`
	Deployment   string `json:"deployment"`
	Email        string `json:"email"`
	Expiry       bool   `json:"expiry"`
	ExpiryAt     string `json:"expiry_at"`
	MaxSessions  int64  `json:"max_sessions"`
	MaxConns     int64  `json:"max_connections"`
	StartAt      string `json:"start_at"`
	Type         string `json:"type"`
	// Source is where the key came from ("file://..." is re-read periodically); not in the API.
	Source string `json:"-"`
}

// EncodeTestLicense makes a key in the test format.
func EncodeTestLicense(customer, typ string, maxSessions int64, expiry time.Time) string {
	raw := fmt.Sprintf("%s\ncustomer=%s\ntype=%s\nmax_sessions=%d\nexpiry_at=%s\n",
		licenseMagic, customer, typ, maxSessions, expiry.Format("2006-01-02"))
	return base64.StdEncoding.EncodeToString([]byte(raw))
}

// ErrBadLicense is EMQX's answer to a key it cannot parse.
var ErrBadLicense = fmt.Errorf("Bad license key")

// ParseLicense parses a test licence key, "default" or "evaluation" for an EMQX release.
func ParseLicense(key, version string, now time.Time) (License, error) {
	key = strings.Join(strings.Fields(key), "")
	switch key {
	case "default":
		return defaultLicense(version), nil
	case "evaluation":
		if !atLeast(version, 5, 9) {
			return License{}, ErrBadLicense
		}
		return License{Customer: "Evaluation", CustomerType: 10, Deployment: "trial", Email: "contact@emqx.io",
			StartAt: now.Format("2006-01-02"), ExpiryAt: now.AddDate(0, 1, 0).Format("2006-01-02"),
			MaxSessions: 25, MaxConns: 25, Type: "trial"}, nil
	}
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil || !strings.HasPrefix(string(raw), licenseMagic+"\n") {
		return License{}, ErrBadLicense
	}
	l := License{Deployment: "default", Email: "test@example.com", StartAt: "2026-01-01", CustomerType: 0}
	for _, line := range strings.Split(strings.TrimPrefix(string(raw), licenseMagic+"\n"), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch k {
		case "customer":
			l.Customer = v
		case "type":
			l.Type = v
		case "max_sessions":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return License{}, ErrBadLicense
			}
			l.MaxSessions, l.MaxConns = n, n
		case "expiry_at":
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				return License{}, ErrBadLicense
			}
			l.ExpiryAt = v
			l.Expiry = now.After(t)
		}
	}
	if l.Customer == "" || l.Type == "" || l.ExpiryAt == "" || l.MaxSessions == 0 {
		return License{}, ErrBadLicense
	}
	return l, nil
}

// defaultLicense is the built-in key: evaluation with clustering on e5.8, community single-node
// from 5.9 on (so clustering needs a real licence).
func defaultLicense(version string) License {
	if atLeast(version, 5, 9) {
		return License{Customer: "Developer", CustomerType: 11, Deployment: "Development", Email: "contact@emqx.io",
			StartAt: "2025-03-02", ExpiryAt: "2029-03-01", MaxSessions: 10000000, MaxConns: 10000000, Type: "community"}
	}
	return License{Customer: "Evaluation", CustomerType: 10, Deployment: "trial", Email: "contact@emqx.io",
		StartAt: "2024-04-18", ExpiryAt: "2029-04-17", MaxSessions: 25, MaxConns: 25, Type: "trial"}
}

// atLeast compares a release version ("5.8.6", "6.1.4") with major.minor.
func atLeast(version string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(version, "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}
