package egress

import (
	"net"
	"net/http"
	"time"
)

// NewClient is a client whose requests last at most timeout, keeping maxIdlePerHost
// idle connections to each host.
func NewClient(timeout time.Duration, maxIdlePerHost int) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil, // the sidecar's own egress never loops through a proxy
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSHandshakeTimeout: 5 * time.Second,
			MaxIdleConnsPerHost: maxIdlePerHost,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
