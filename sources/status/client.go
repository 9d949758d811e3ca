package status

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// maxListBody bounds a decoded list answer; a page of 100 statuses is far below it.
const maxListBody = 4 << 20

// client sends JSON requests with one host's credentials.
type client struct {
	http     *http.Client
	header   http.Header // credentials and Accept, sent on every request
	redactor redactor
}

// newHTTPClient copies c so that credentials never follow a redirect to another host or
// scheme: Go drops Authorization on such redirects but keeps custom headers such as
// GitLab's PRIVATE-TOKEN.
func newHTTPClient(c *http.Client) *http.Client {
	if c == nil {
		c = http.DefaultClient
	}
	cp := *c
	next := c.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		first := via[0].URL
		if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
			return fmt.Errorf("refusing redirect from %s://%s to %s://%s: credentials stay with the first host",
				first.Scheme, first.Host, req.URL.Scheme, req.URL.Host)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return fmt.Errorf("stopped after %d redirects", len(via))
		}
		return nil
	}
	return &cp
}

// do sends in (when not nil) as JSON and decodes a 2xx answer into out (when not nil).
// A non-2xx answer becomes a *responseError.
func (c *client) do(ctx context.Context, method, url string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, c.redactor.readLimit()))
		return &responseError{StatusCode: resp.StatusCode, Body: c.redactor.errorBody(b)}
	}
	if out == nil {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxListBody)).Decode(out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}
