package views

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Query is what a list page is asked for: filters and a page. Every field is bounded, so
// a hostile query costs what a normal one does.
type Query struct {
	// Namespace matches exactly; empty for all.
	Namespace string
	// State filters Syncs by state; empty for all.
	State State
	// Text matches a substring of the name, namespace, revision or message, any case.
	Text string
	// Page counts from 1; Size is rows per page.
	Page, Size int
}

// Bounds of a query.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
	maxText         = 200
)

// ParseQuery reads a list page's URL query: ns, state, q, page, size. What it cannot use
// it drops (an unknown state, a page below 1), rather than failing the page.
func ParseQuery(v url.Values) Query {
	q := Query{Namespace: clip(v.Get("ns"), 253), Text: clip(strings.TrimSpace(v.Get("q")), maxText), Page: 1, Size: DefaultPageSize}
	if st, ok := ParseState(v.Get("state")); ok {
		q.State = st
	}
	if n, err := strconv.Atoi(v.Get("page")); err == nil && n > 0 && n < 1<<20 {
		q.Page = n
	}
	if n, err := strconv.Atoi(v.Get("size")); err == nil && n > 0 {
		q.Size = min(n, MaxPageSize)
	}
	return q
}

// Values are the query as URL parameters, without defaults; page replaced when > 0.
func (q Query) Values(page int) url.Values {
	v := url.Values{}
	if q.Namespace != "" {
		v.Set("ns", q.Namespace)
	}
	if q.State != "" {
		v.Set("state", string(q.State))
	}
	if q.Text != "" {
		v.Set("q", q.Text)
	}
	if page <= 0 {
		page = q.Page
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if q.Size != DefaultPageSize && q.Size > 0 {
		v.Set("size", strconv.Itoa(q.Size))
	}
	return v
}

// matches reports whether any of the fields holds the query's text, any case.
func (q Query) matches(fields ...string) bool {
	if q.Text == "" {
		return true
	}
	t := strings.ToLower(q.Text)
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), t) {
			return true
		}
	}
	return false
}

// Paging is one page of a filtered list.
type Paging struct {
	Page, Pages, Total int
	// First and Last are the 1-based positions of the page's rows; 0 when empty.
	First, Last int
	Prev, Next  string // URL queries of the neighbouring pages; "" at an end
}

// page cuts the n filtered rows to the query's page, clamping it to the last one.
func (q Query) page(n int) (lo, hi int, p Paging) {
	size := q.Size
	if size <= 0 {
		size = DefaultPageSize
	}
	p.Total, p.Pages = n, max(1, (n+size-1)/size)
	p.Page = min(max(q.Page, 1), p.Pages)
	lo, hi = (p.Page-1)*size, min(p.Page*size, n)
	if n > 0 {
		p.First, p.Last = lo+1, hi
	}
	if p.Page > 1 {
		p.Prev = "?" + q.Values(p.Page-1).Encode()
	}
	if p.Page < p.Pages {
		p.Next = "?" + q.Values(p.Page+1).Encode()
	}
	return lo, hi, p
}

// clip cuts s to at most n bytes, at a character's start.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
