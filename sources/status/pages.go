package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxPageBody bounds one decoded page of comments: 100 comments at GitHub's 65,536
// characters each fit, a runaway answer does not.
const maxPageBody = 16 << 20

// send is client.do that also returns the answer's headers, which carry pagination.
func (c *client) send(ctx context.Context, method, target string, in, out any) (http.Header, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, c.redactor.readLimit()))
		return nil, &responseError{StatusCode: resp.StatusCode, Body: c.redactor.errorBody(b)}
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return resp.Header, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBody+1))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if len(data) > maxPageBody {
		return nil, fmt.Errorf("answer larger than %d bytes", maxPageBody)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	return resp.Header, nil
}

// nextLink returns the rel="next" target of an RFC 8288 Link header, resolved against
// current, or "" when there is none. The target must stay on current's scheme and host:
// following it sends the credentials.
func nextLink(h http.Header, current string) (string, error) {
	for _, v := range h.Values("Link") {
		for part := range strings.SplitSeq(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			if !hasRel(params, "next") {
				continue
			}
			return sameOrigin(current, strings.TrimSuffix(strings.TrimPrefix(target, "<"), ">"))
		}
	}
	return "", nil
}

func hasRel(params, want string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "rel") {
			for rel := range strings.FieldsSeq(strings.Trim(strings.TrimSpace(v), `"`)) {
				if strings.EqualFold(rel, want) {
					return true
				}
			}
		}
	}
	return false
}

func sameOrigin(current, next string) (string, error) {
	base, err := url.Parse(current)
	if err != nil {
		return "", err
	}
	u, err := base.Parse(next)
	if err != nil {
		return "", fmt.Errorf("next page link: not a URL")
	}
	if u.Scheme != base.Scheme || u.Host != base.Host {
		return "", fmt.Errorf("next page link points to %s://%s, not %s://%s: credentials stay with the first host",
			u.Scheme, u.Host, base.Scheme, base.Host)
	}
	return u.String(), nil
}

// errTooManyPages ends a pagination that does not stop.
var errTooManyPages = errors.New("too many pages")

// paginate GETs first and follows next(header, url) until it returns "", calling page
// for every decoded page; page returns stop=true when it has what it needs.
func paginate[T any](ctx context.Context, c *client, first string, maxPages int,
	next func(h http.Header, current string) (string, error),
	page func([]T) (stop bool, err error),
) error {
	target := first
	for range maxPages {
		var items []T
		h, err := c.send(ctx, http.MethodGet, target, nil, &items)
		if err != nil {
			return err
		}
		stop, err := page(items)
		if err != nil || stop {
			return err
		}
		if len(items) == 0 {
			return nil // an empty page ends any pagination, whatever the headers say
		}
		if target, err = next(h, target); err != nil || target == "" {
			return err
		}
	}
	return fmt.Errorf("%w: more than %d", errTooManyPages, maxPages)
}

// withPage is current with its page query parameter set to n.
func withPage(current string, n int) (string, error) {
	u, err := url.Parse(current)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("page", strconv.Itoa(n))
	u.RawQuery = q.Encode()
	return u.String(), nil
}
