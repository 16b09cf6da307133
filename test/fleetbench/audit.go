package fleetbench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// AuditPolicy logs the reads (get and list; watches are verb watch) at Metadata level, once each
// (when the response is complete), and nothing else: the benchmark's kube-apiserver writes it to
// count the operator's uncached reads, which client-go's request metric cannot tell from a watch
// being set up again (both are an HTTP GET).
const AuditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted, Panic]
rules:
- level: Metadata
  verbs: [get, list]
- level: None
`

// auditEvent is the part of an audit.k8s.io/v1 Event the count needs.
type auditEvent struct {
	Verb       string    `json:"verb"`
	UserAgent  string    `json:"userAgent"`
	RequestURI string    `json:"requestURI"`
	Received   time.Time `json:"requestReceivedTimestamp"`
}

// AuditReads counts the get and list requests in the audit log at path made by a client whose
// user agent starts with userAgent (client-go's default is the binary's name and a slash), received
// in [from, to); by request URI without its query, for the report.
func AuditReads(path, userAgent string, from, to time.Time) (total int, byURI map[string]int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, fmt.Errorf("reading the audit log: %w", err)
	}
	defer f.Close()
	byURI = map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for line := 1; sc.Scan(); line++ {
		var ev auditEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return 0, nil, fmt.Errorf("audit log %s line %d: %w", path, line, err)
		}
		if ev.Verb != "get" && ev.Verb != "list" || !strings.HasPrefix(ev.UserAgent, userAgent) ||
			ev.Received.Before(from) || !ev.Received.Before(to) {
			continue
		}
		total++
		uri, _, _ := strings.Cut(ev.RequestURI, "?")
		byURI[ev.Verb+" "+uri]++
	}
	if err := sc.Err(); err != nil {
		return 0, nil, fmt.Errorf("reading the audit log: %w", err)
	}
	return total, byURI, nil
}
