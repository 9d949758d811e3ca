package tlsbridge

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RecordHeaderBytes is how many bytes IsHandshakeRecord needs: a TLS record header.
const RecordHeaderBytes = 5

// IsHandshakeRecord reports whether b starts as a TLS handshake record of TLS 1.0 to
// 1.3 (0x16 0x03 0x01..0x04): what a client's first flight is.
func IsHandshakeRecord(b []byte) bool {
	return len(b) >= RecordHeaderBytes && b[0] == 0x16 && b[1] == 0x03 && b[2] >= 0x01 && b[2] <= 0x04
}

// splitHost is the lower-cased host and the port of host:port; ok is false without a
// numeric port.
func splitHost(hostport string) (host string, port int, ok bool) {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", 0, false
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, false
	}
	return strings.ToLower(strings.TrimSuffix(h, ".")), n, true
}

// skipSet is the hosts whose client refused a minted leaf (it pins its certificate or
// does not trust the CA): their CONNECTs are tunnelled blind for ttl. At most max hosts;
// over it the expired ones go, then the one nearest its end.
type skipSet struct {
	ttl time.Duration
	max int

	mu    sync.Mutex
	until map[string]time.Time
}

func newSkipSet(ttl time.Duration, max int) *skipSet {
	return &skipSet{ttl: ttl, max: max, until: make(map[string]time.Time)}
}

func (s *skipSet) add(host string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.until[host]; !ok && len(s.until) >= s.max {
		for h, t := range s.until {
			if !now.Before(t) {
				delete(s.until, h)
			}
		}
		for len(s.until) >= s.max {
			var first string
			var at time.Time
			for h, t := range s.until {
				if first == "" || t.Before(at) {
					first, at = h, t
				}
			}
			delete(s.until, first)
		}
	}
	s.until[host] = now.Add(s.ttl)
}

func (s *skipSet) has(host string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.until[host]
	if ok && !now.Before(t) {
		delete(s.until, host)
		return false
	}
	return ok
}
