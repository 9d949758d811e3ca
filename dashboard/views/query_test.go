package views

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseQuery(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name string
		in   url.Values
		want Query
	}{
		{"empty", url.Values{}, Query{Page: 1, Size: DefaultPageSize}},
		{"all fields", url.Values{"ns": {"team-a"}, "state": {"Drifted"}, "q": {"agent"}, "page": {"3"}, "size": {"20"}},
			Query{Namespace: "team-a", State: Drifted, Text: "agent", Page: 3, Size: 20}},
		{"unknown state dropped", url.Values{"state": {"Exploded"}}, Query{Page: 1, Size: DefaultPageSize}},
		{"lower-case state dropped", url.Values{"state": {"ready"}}, Query{Page: 1, Size: DefaultPageSize}},
		{"page zero", url.Values{"page": {"0"}}, Query{Page: 1, Size: DefaultPageSize}},
		{"page negative", url.Values{"page": {"-4"}}, Query{Page: 1, Size: DefaultPageSize}},
		{"page not a number", url.Values{"page": {"two"}}, Query{Page: 1, Size: DefaultPageSize}},
		{"page huge", url.Values{"page": {"99999999999"}}, Query{Page: 1, Size: DefaultPageSize}},
		{"size capped", url.Values{"size": {"100000"}}, Query{Page: 1, Size: MaxPageSize}},
		{"size at max", url.Values{"size": {"500"}}, Query{Page: 1, Size: MaxPageSize}},
		{"size zero", url.Values{"size": {"0"}}, Query{Page: 1, Size: DefaultPageSize}},
		{"size negative", url.Values{"size": {"-10"}}, Query{Page: 1, Size: DefaultPageSize}},
		{"text trimmed", url.Values{"q": {"  planner \t\n"}}, Query{Text: "planner", Page: 1, Size: DefaultPageSize}},
		{"text only spaces", url.Values{"q": {"   "}}, Query{Page: 1, Size: DefaultPageSize}},
		{"text clipped", url.Values{"q": {long}}, Query{Text: long[:200], Page: 1, Size: DefaultPageSize}},
		{"text trimmed then clipped", url.Values{"q": {"   " + long}}, Query{Text: long[:200], Page: 1, Size: DefaultPageSize}},
		{"namespace clipped", url.Values{"ns": {long}}, Query{Namespace: long[:253], Page: 1, Size: DefaultPageSize}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseQuery(tt.in); got != tt.want {
				t.Errorf("ParseQuery(%v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestQueryValues(t *testing.T) {
	tests := []struct {
		name string
		q    Query
		page int
		want string
	}{
		{"defaults give nothing", Query{Page: 1, Size: DefaultPageSize}, 0, ""},
		{"zero size omitted", Query{Page: 1}, 0, ""},
		{"all fields", Query{Namespace: "team-a", State: Stalled, Text: "a b", Page: 2, Size: 10}, 0, "ns=team-a&page=2&q=a+b&size=10&state=Stalled"},
		{"page replaced", Query{Namespace: "team-a", Page: 2, Size: DefaultPageSize}, 5, "ns=team-a&page=5"},
		{"page 1 omitted", Query{Page: 4, Size: DefaultPageSize}, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.q.Values(tt.page).Encode(); got != tt.want {
				t.Errorf("Values(%d) = %q, want %q", tt.page, got, tt.want)
			}
		})
	}

	// Round trip: what a query writes, it reads back the same.
	for _, q := range []Query{
		{Page: 1, Size: DefaultPageSize},
		{Namespace: "team-b", State: Reconciling, Text: "planner agent", Page: 7, Size: 25},
		{Text: "ünïcode & = ?", Page: 2, Size: MaxPageSize},
	} {
		if got := ParseQuery(q.Values(0)); got != q {
			t.Errorf("round trip of %+v gave %+v", q, got)
		}
	}
}

func TestQueryMatches(t *testing.T) {
	tests := []struct {
		text   string
		fields []string
		want   bool
	}{
		{"", nil, true},
		{"", []string{"x"}, true},
		{"agent", []string{"research-agent"}, true},
		{"AGENT", []string{"research-agent"}, true},
		{"agent", []string{"Research-AGENT"}, true},
		{"planner", []string{"research", "team-b/planner-x"}, true},
		{"planner", []string{"research", "team-b"}, false},
		{"x", nil, false},
	}
	for _, tt := range tests {
		if got := (Query{Text: tt.text}).matches(tt.fields...); got != tt.want {
			t.Errorf("matches(%q, %v) = %v, want %v", tt.text, tt.fields, got, tt.want)
		}
	}
}

func TestQueryPage(t *testing.T) {
	tests := []struct {
		name   string
		q      Query
		n      int
		lo, hi int
		want   Paging
	}{
		{"empty list", Query{Page: 1, Size: 10}, 0, 0, 0,
			Paging{Page: 1, Pages: 1, Total: 0, First: 0, Last: 0}},
		{"empty list, page asked past it", Query{Page: 9, Size: 10}, 0, 0, 0,
			Paging{Page: 1, Pages: 1}},
		{"one partial page", Query{Page: 1, Size: 10}, 3, 0, 3,
			Paging{Page: 1, Pages: 1, Total: 3, First: 1, Last: 3}},
		{"exactly one page", Query{Page: 1, Size: 10}, 10, 0, 10,
			Paging{Page: 1, Pages: 1, Total: 10, First: 1, Last: 10}},
		{"first of three", Query{Page: 1, Size: 10}, 25, 0, 10,
			Paging{Page: 1, Pages: 3, Total: 25, First: 1, Last: 10, Next: "?page=2&size=10"}},
		{"middle", Query{Namespace: "team-a", Page: 2, Size: 10}, 25, 10, 20,
			Paging{Page: 2, Pages: 3, Total: 25, First: 11, Last: 20, Prev: "?ns=team-a&size=10", Next: "?ns=team-a&page=3&size=10"}},
		{"last, partial", Query{Page: 3, Size: 10}, 25, 20, 25,
			Paging{Page: 3, Pages: 3, Total: 25, First: 21, Last: 25, Prev: "?page=2&size=10"}},
		{"past the end clamps to the last", Query{Page: 99, Size: 10}, 25, 20, 25,
			Paging{Page: 3, Pages: 3, Total: 25, First: 21, Last: 25, Prev: "?page=2&size=10"}},
		{"page below 1 is the first", Query{Page: 0, Size: 10}, 25, 0, 10,
			Paging{Page: 1, Pages: 3, Total: 25, First: 1, Last: 10, Next: "?page=2&size=10"}},
		{"zero size uses the default", Query{Page: 2}, 120, 50, 100,
			Paging{Page: 2, Pages: 3, Total: 120, First: 51, Last: 100, Prev: "?", Next: "?page=3"}},
		{"default size, state kept", Query{State: Failed, Page: 2, Size: DefaultPageSize}, 51, 50, 51,
			Paging{Page: 2, Pages: 2, Total: 51, First: 51, Last: 51, Prev: "?state=Failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi, p := tt.q.page(tt.n)
			if lo != tt.lo || hi != tt.hi {
				t.Errorf("rows [%d:%d], want [%d:%d]", lo, hi, tt.lo, tt.hi)
			}
			if p != tt.want {
				t.Errorf("paging %+v\nwant   %+v", p, tt.want)
			}
		})
	}
}

func TestClipKeepsCharactersWhole(t *testing.T) {
	q := ParseQuery(url.Values{"q": {strings.Repeat("a", 199) + "é"}})
	if !utf8.ValidString(q.Text) || q.Text != strings.Repeat("a", 199) {
		t.Errorf("text %q", q.Text)
	}
}
