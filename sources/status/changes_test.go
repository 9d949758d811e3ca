package status

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

const prNumber = 7

var testMarker = Marker("team-a/agents")

func TestMarker(t *testing.T) {
	if got, want := Marker("team-a/agents"), "<!-- trustsync-preview:team-a/agents -->"; got != want {
		t.Errorf("Marker = %q, want %q", got, want)
	}
	if err := checkMarker(Marker("team-a/agents")); err != nil {
		t.Errorf("Marker's own output rejected: %v", err)
	}
}

func TestUpsertComment(t *testing.T) {
	for _, hc := range changesCases {
		t.Run(hc.name, func(t *testing.T) {
			f, cr := newChangesFake(t, hc)
			ctx := context.Background()
			human := f.addComment(prNumber, "LGTM, but see the preview")

			res, err := cr.UpsertComment(ctx, prNumber, testMarker, "## Preview\n\n2 access changes")
			if err != nil {
				t.Fatal(err)
			}
			if res.Action != CommentCreated || res.ID == 0 || res.Truncated {
				t.Errorf("first upsert = %+v, want created with an id, not truncated", res)
			}
			if res.URL == "" || !strings.Contains(res.URL, fmt.Sprint(res.ID)) {
				t.Errorf("first upsert URL = %q, want the comment's web address", res.URL)
			}
			list := f.list(prNumber)
			if len(list) != 2 || list[0].ID != human {
				t.Fatalf("comments = %+v, want the human one and one more", list)
			}
			if want := testMarker + "\n## Preview\n\n2 access changes"; list[1].Body != want {
				t.Errorf("created body = %q, want %q (marker first)", list[1].Body, want)
			}
			created := res.ID

			res, err = cr.UpsertComment(ctx, prNumber, testMarker, "## Preview\n\n3 access changes")
			if err != nil {
				t.Fatal(err)
			}
			if res.Action != CommentUpdated || res.ID != created {
				t.Errorf("second upsert = %+v, want updated, id %d", res, created)
			}
			list = f.list(prNumber)
			if len(list) != 2 || list[1].ID != created || !strings.HasSuffix(list[1].Body, "3 access changes") {
				t.Fatalf("after update comments = %+v, want the same two, the second edited", list)
			}
			if list[0].Body != "LGTM, but see the preview" {
				t.Errorf("the human comment changed: %q", list[0].Body)
			}
			writes := f.writes()

			res, err = cr.UpsertComment(ctx, prNumber, testMarker, "## Preview\n\n3 access changes")
			if err != nil {
				t.Fatal(err)
			}
			if res.Action != CommentUnchanged || res.ID != created || res.URL == "" {
				t.Errorf("third upsert = %+v, want unchanged, id %d, with a URL", res, created)
			}
			if n := f.writes(); n != writes {
				t.Errorf("unchanged upsert sent %d writes", n-writes)
			}
			if n := f.count(http.MethodPost); n != 1 {
				t.Errorf("host got %d POSTs, want 1 (one comment per pull request)", n)
			}
		})
	}
}

// The host may hand back the body with \r\n or without a trailing newline; that is not a
// change worth a write.
func TestUpsertCommentIgnoresHostNormalisation(t *testing.T) {
	for _, hc := range changesCases {
		t.Run(hc.name, func(t *testing.T) {
			f, cr := newChangesFake(t, hc)
			f.addComment(prNumber, testMarker+"\r\n## Preview\r\nno changes")
			res, err := cr.UpsertComment(context.Background(), prNumber, testMarker, "## Preview\nno changes\n")
			if err != nil {
				t.Fatal(err)
			}
			if res.Action != CommentUnchanged || f.writes() != 0 {
				t.Errorf("upsert = %+v with %d writes, want unchanged and none", res, f.writes())
			}
		})
	}
}

func TestUpsertCommentMarkerOnSecondPage(t *testing.T) {
	for _, hc := range changesCases {
		t.Run(hc.name, func(t *testing.T) {
			f, cr := newChangesFake(t, hc)
			var marked int64
			for i := range 150 {
				if i == 120 {
					marked = f.addComment(prNumber, testMarker+"\nold report")
					continue
				}
				f.addComment(prNumber, fmt.Sprintf("comment %d", i))
				if hc.provider == GitLab && i%10 == 0 {
					f.addSystemNote(prNumber, "added 1 commit")
				}
			}
			res, err := cr.UpsertComment(context.Background(), prNumber, testMarker, "new report")
			if err != nil {
				t.Fatal(err)
			}
			if res.Action != CommentUpdated || res.ID != marked {
				t.Errorf("upsert = %+v, want updated, id %d", res, marked)
			}
			if n := f.count(http.MethodPost); n != 0 {
				t.Errorf("host got %d POSTs: a duplicate comment", n)
			}
			wantGets := 1 + 2 // GET /user, then the marked comment is at 121 of 150 (GitLab: 133 of 165), 100 a page
			if hc.provider == Gitea {
				wantGets = 1 + 1 // Gitea answers every comment at once
			}
			if n := f.count(http.MethodGet); n != wantGets {
				t.Errorf("host got %d GETs %v, want %d", n, f.gets, wantGets)
			}
			for _, c := range f.list(prNumber) {
				if c.ID == marked && c.Body != testMarker+"\nnew report" {
					t.Errorf("marked comment body = %q", c.Body)
				}
			}
		})
	}
}

func TestUpsertCommentGitLabLinkPagination(t *testing.T) {
	f, cr := newChangesFake(t, changesCases[1])
	f.gitlabLinkOnly = true
	for i := range 130 {
		f.addComment(prNumber, fmt.Sprintf("comment %d", i))
	}
	marked := f.addComment(prNumber, testMarker+"\nold")
	res, err := cr.UpsertComment(context.Background(), prNumber, testMarker, "new")
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != CommentUpdated || res.ID != marked || f.count(http.MethodGet) != 3 {
		t.Errorf("upsert = %+v after %d GETs, want updated %d after 3 (GET /user and two pages)", res, f.count(http.MethodGet), marked)
	}
}

// Several previews may share a pull request (one per Sync); each owns only its marker. A
// comment that merely quotes the marker loses to the one that starts with it.
func TestUpsertCommentChoosesItsOwnMarker(t *testing.T) {
	for _, hc := range changesCases {
		t.Run(hc.name, func(t *testing.T) {
			f, cr := newChangesFake(t, hc)
			other := f.addComment(prNumber, Marker("team-b/agents")+"\nteam b report")
			quote := f.addComment(prNumber, "why does "+testMarker+" show up in the source?")
			own := f.addComment(prNumber, testMarker+"\nteam a report")
			res, err := cr.UpsertComment(context.Background(), prNumber, testMarker, "team a report v2")
			if err != nil {
				t.Fatal(err)
			}
			if res.ID != own || res.Action != CommentUpdated {
				t.Errorf("upsert = %+v, want updated %d", res, own)
			}
			for _, c := range f.list(prNumber) {
				if (c.ID == other || c.ID == quote) && strings.Contains(c.Body, "v2") {
					t.Errorf("comment %d that is not ours was edited: %q", c.ID, c.Body)
				}
			}
		})
	}
}

// TestUpsertCommentIgnoresOthersMarkers: the marker is no secret; a comment that someone
// else wrote with it, first, is neither edited nor taken for ours.
func TestUpsertCommentIgnoresOthersMarkers(t *testing.T) {
	for _, hc := range changesCases {
		t.Run(hc.name, func(t *testing.T) {
			f, cr := newChangesFake(t, hc)
			planted := f.addCommentBy(prNumber, "mallory", testMarker+"\nno new access, all fine")
			res, err := cr.UpsertComment(context.Background(), prNumber, testMarker, "the real report")
			if err != nil {
				t.Fatal(err)
			}
			if res.Action != CommentCreated || res.ID == planted {
				t.Errorf("upsert = %+v, want a new comment of our own", res)
			}
			for _, c := range f.list(prNumber) {
				if c.ID == planted && c.Body != testMarker+"\nno new access, all fine" {
					t.Errorf("the planted comment was edited: %q", c.Body)
				}
			}
			// The next upsert finds our comment, not the planted one.
			again, err := cr.UpsertComment(context.Background(), prNumber, testMarker, "the real report, v2")
			if err != nil || again.ID != res.ID || again.Action != CommentUpdated {
				t.Errorf("second upsert = %+v %v, want %d updated", again, err, res.ID)
			}
		})
	}
}

func TestUpsertCommentTruncates(t *testing.T) {
	// A report with an open code fence at the cut, several times any host's limit.
	row := "| team-b/planner-agent | team-a/weather-tool | deny → allow |\n"
	long := "## Preview\n\n```diff\n" + strings.Repeat(row, 20000) + "```\n"
	limits := map[Provider]int{GitHub: 65536, Gitea: 65536, GitLab: 1_000_000}
	for _, hc := range changesCases {
		t.Run(hc.name, func(t *testing.T) {
			f, cr := newChangesFake(t, hc)
			res, err := cr.UpsertComment(context.Background(), prNumber, testMarker, long)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Truncated || res.Action != CommentCreated {
				t.Errorf("upsert = %+v, want created and truncated", res)
			}
			body := f.list(prNumber)[0].Body
			limit := limits[hc.provider]
			if len(body) > limit || len(body) < limit-5000 {
				t.Errorf("stored %d bytes, want at most %d and not much less", len(body), limit)
			}
			if !strings.HasPrefix(body, testMarker+"\n## Preview") || !strings.Contains(body, "**Cut**") {
				t.Errorf("truncated body lacks the marker or the note: %q ... %q", body[:60], body[len(body)-200:])
			}
			if openFence(strings.SplitN(body, "**Cut**", 2)[0]) {
				t.Errorf("the cut left a code fence open, so the note renders as code")
			}
			// The same long report again matches what was stored.
			res, err = cr.UpsertComment(context.Background(), prNumber, testMarker, long)
			if err != nil || res.Action != CommentUnchanged || !res.Truncated {
				t.Errorf("repeat upsert = %+v, %v; want unchanged and truncated", res, err)
			}
		})
	}
}

func TestTruncateBody(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		limit   int
		wantCut bool
	}{
		{"fits", "short", 100, false},
		{"exactly", strings.Repeat("a", 300), 300, false},
		{"one over", strings.Repeat("a", 301), 300, true},
		{"multi-byte at the cut", strings.Repeat("日本語\n", 100), 300, true},
		{"no newline", strings.Repeat("ü", 400), 300, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cut := truncateBody(tt.in, tt.limit, "the test host")
			if cut != tt.wantCut {
				t.Errorf("cut = %v, want %v", cut, tt.wantCut)
			}
			if len(got) > tt.limit {
				t.Errorf("%d bytes, over the limit %d", len(got), tt.limit)
			}
			if !cut && got != tt.in {
				t.Errorf("changed a body that fits")
			}
			if cut && (!strings.Contains(got, "the test host") || !strings.HasPrefix(tt.in, strings.SplitN(got, "\n\n> **Cut**", 2)[0])) {
				t.Errorf("cut body %q is not a prefix plus the note", got)
			}
		})
	}
}

func TestUpsertCommentRejectsBadInput(t *testing.T) {
	tests := []struct {
		name   string
		number int
		marker string
		want   string
	}{
		{"zero number", 0, testMarker, "positive"},
		{"negative number", -3, testMarker, "positive"},
		{"empty marker", prNumber, "", "HTML comment"},
		{"plain text marker", prNumber, "trustsync-preview:a", "HTML comment"},
		{"marker ends early", prNumber, "<!-- a --> visible <!-- b -->", `"--"`},
		{"empty comment", prNumber, "<!-- -->", "empty"},
		{"newline", prNumber, "<!-- a\nb -->", "control"},
		{"too long", prNumber, Marker(strings.Repeat("x", 300)), "longer than"},
		{"id with --", prNumber, Marker("a--b"), `"--"`},
	}
	for _, hc := range changesCases {
		for _, tt := range tests {
			t.Run(hc.name+"/"+tt.name, func(t *testing.T) {
				f, cr := newChangesFake(t, hc)
				_, err := cr.UpsertComment(context.Background(), tt.number, tt.marker, "body")
				var ce *ChangeRequestError
				if !errors.As(err, &ce) || ce.Op != "check" || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("UpsertComment error = %v, want a check error mentioning %q", err, tt.want)
				}
				if n := f.count(http.MethodGet) + f.writes(); n != 0 {
					t.Errorf("host got %d requests, want none", n)
				}
			})
		}
	}
}

func TestChangeRequestErrorsNeverCarryToken(t *testing.T) {
	ops := []struct {
		method, op string
		seed       bool // a marked comment exists, so the write is an update
	}{
		{http.MethodGet, "list comments", false},
		{http.MethodPost, "create comment", false},
		{http.MethodPatch, "update comment", true},
		{http.MethodPut, "update comment", true},
	}
	for _, hc := range changesCases {
		for _, o := range ops {
			if (o.method == http.MethodPut) != (hc.provider == GitLab) && (o.method == http.MethodPut || o.method == http.MethodPatch) {
				continue // GitLab edits with PUT, the others with PATCH
			}
			t.Run(hc.name+"/"+o.op, func(t *testing.T) {
				f, cr := newChangesFake(t, hc)
				if o.seed {
					f.addComment(prNumber, testMarker+"\nold")
				}
				f.failOn = o.method
				_, err := cr.UpsertComment(context.Background(), prNumber, testMarker, "new")
				checkRedacted(t, err, hc, o.op, fmt.Sprintf("#%d", prNumber))
			})
		}
		t.Run(hc.name+"/list pull requests", func(t *testing.T) {
			f, cr := newChangesFake(t, hc)
			f.failOn = http.MethodGet
			_, err := cr.OpenPullRequests(context.Background())
			checkRedacted(t, err, hc, "list pull requests", "")
		})
	}
}

func checkRedacted(t *testing.T, err error, hc hostCase, op, number string) {
	t.Helper()
	if err == nil {
		t.Fatal("succeeded against a failing host")
	}
	msg := err.Error()
	if strings.Contains(msg, testToken) {
		t.Errorf("error contains the token: %s", msg)
	}
	for _, want := range []string{string(hc.provider), hc.repository + number + ": " + op, "HTTP 500", "[REDACTED]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	var ce *ChangeRequestError
	if !errors.As(err, &ce) || ce.StatusCode != 500 || ce.Op != op || len(ce.Body) > maxErrorBody {
		t.Errorf("want a *ChangeRequestError %q with status 500 and at most %d body bytes, got %#v", op, maxErrorBody, err)
	}
}

func fakeSHA(i int) string { return fmt.Sprintf("%040x", 0xabc000+i) }

func TestOpenPullRequests(t *testing.T) {
	for _, hc := range changesCases {
		t.Run(hc.name, func(t *testing.T) {
			f, cr := newChangesFake(t, hc)
			for i := 1; i <= 130; i++ {
				f.pulls = append(f.pulls, fakePull{Number: i, Title: fmt.Sprintf("change %d", i), SHA: fakeSHA(i), Head: fmt.Sprintf("feature-%d", i), Base: "main"})
			}
			prs, err := cr.OpenPullRequests(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(prs) != 130 {
				t.Fatalf("got %d pull requests, want 130", len(prs))
			}
			wantGets := 2 // 100 a page
			if hc.provider == Gitea {
				wantGets = 3 // 50 a page
			}
			if n := f.count(http.MethodGet); n != wantGets {
				t.Errorf("%d GETs %v, want %d", n, f.gets, wantGets)
			}
			got := prs[116]
			want := PullRequest{Number: 117, Title: "change 117", HeadSHA: fakeSHA(117), HeadBranch: "feature-117", BaseBranch: "main",
				HeadRef: "refs/pull/117/head", URL: "https://forge.example/" + hc.repository + "/pull/117"}
			if hc.provider == GitLab {
				want.HeadRef = "refs/merge-requests/117/head"
				want.URL = "https://gitlab.example/group/sub/repo/-/merge_requests/117"
			}
			if got != want {
				t.Errorf("pull request 117 = %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestOpenPullRequestsBounded(t *testing.T) {
	for _, hc := range changesCases {
		t.Run(hc.name, func(t *testing.T) {
			f, cr := newChangesFake(t, hc)
			for i := 1; i <= maxOpenPullRequests+1; i++ {
				f.pulls = append(f.pulls, fakePull{Number: i, SHA: fakeSHA(i), Head: "f", Base: "main"})
			}
			_, err := cr.OpenPullRequests(context.Background())
			if err == nil || !errors.Is(err, errTooManyPages) {
				t.Errorf("error = %v, want too many pages", err)
			}
		})
	}
}

func TestOpenPullRequestsRejectsBadHead(t *testing.T) {
	for _, hc := range changesCases {
		t.Run(hc.name, func(t *testing.T) {
			f, cr := newChangesFake(t, hc)
			f.pulls = []fakePull{{Number: 1, SHA: fakeSHA(1), Head: "a", Base: "main"}, {Number: 2, SHA: "../../x", Head: "b", Base: "main"}}
			_, err := cr.OpenPullRequests(context.Background())
			if err == nil || !strings.Contains(err.Error(), "#2") || !strings.Contains(err.Error(), "head") {
				t.Errorf("error = %v, want one naming #2 and its head", err)
			}
		})
	}
}

// A next-page link to another host would carry the token there.
func TestNextPageOnOtherHostRefused(t *testing.T) {
	var leaked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Add(1)
		w.Write([]byte("[]"))
	}))
	defer other.Close()
	for _, hc := range changesCases[:2] {
		t.Run(hc.name, func(t *testing.T) {
			f, cr := newChangesFake(t, hc)
			f.nextHost = other.URL
			f.gitlabLinkOnly = true
			for i := 1; i <= 130; i++ {
				f.pulls = append(f.pulls, fakePull{Number: i, SHA: fakeSHA(i), Head: "f", Base: "main"})
			}
			_, err := cr.OpenPullRequests(context.Background())
			if err == nil || !strings.Contains(err.Error(), "credentials stay with the first host") {
				t.Errorf("error = %v, want a refused next page", err)
			}
		})
	}
	if n := leaked.Load(); n != 0 {
		t.Errorf("other host got %d requests", n)
	}
}

// Gitea builds its Link header from ROOT_URL, which may name a host other than the
// address the API is reached at; paging by number and X-Total-Count still lists all.
func TestGiteaPullsIgnoreRootURLLinks(t *testing.T) {
	f, cr := newChangesFake(t, changesCases[2])
	f.nextHost = "https://gitea.public.example"
	for i := 1; i <= 120; i++ {
		f.pulls = append(f.pulls, fakePull{Number: i, SHA: fakeSHA(i), Head: "f", Base: "main"})
	}
	prs, err := cr.OpenPullRequests(context.Background())
	if err != nil || len(prs) != 120 || prs[119].Number != 120 {
		t.Fatalf("OpenPullRequests = %d pull requests, %v; want 120", len(prs), err)
	}
	if n := f.count(http.MethodGet); n != 3 {
		t.Errorf("%d GETs %v, want 3", n, f.gets)
	}
}

func TestNewChangeRequestsProviders(t *testing.T) {
	tests := []struct {
		provider Provider
		want     string
	}{
		{Bitbucket, "not supported"},
		{BitbucketServer, "not supported"},
		{"gogs", "want github, gitlab or gitea"},
	}
	for _, tt := range tests {
		t.Run(string(tt.provider), func(t *testing.T) {
			_, err := NewChangeRequests(Options{Provider: tt.provider, RepoURL: "https://bitbucket.org/ws/repo.git", Token: testToken})
			var oe *OptionError
			if !errors.As(err, &oe) || oe.Option != "Provider" || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want an OptionError on Provider saying %q", err, tt.want)
			}
		})
	}
	// The checks are New's: every problem at once, the token never quoted.
	_, err := NewChangeRequests(Options{Provider: GitHub, RepoURL: "https://x:" + testToken + "@github.com/org", Token: "bad token " + testToken})
	if err == nil || strings.Contains(err.Error(), testToken) || !strings.Contains(err.Error(), "Token") || !strings.Contains(err.Error(), "RepoURL") {
		t.Errorf("error = %v, want RepoURL (a password in it) and Token problems without the token", err)
	}
}

func TestGitLabNoteURL(t *testing.T) {
	cr, err := NewChangeRequests(Options{Provider: GitLab, RepoURL: "https://gitlab.example/group/sub/repo.git", Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	api := cr.(*changeRequests).api.(*gitlabChanges)
	if got, want := api.noteURL(7, 42), "https://gitlab.example/group/sub/repo/-/merge_requests/7#note_42"; got != want {
		t.Errorf("note URL = %q, want %q", got, want)
	}
}

func TestUpsertCommentRespectsContext(t *testing.T) {
	f, cr := newChangesFake(t, changesCases[0])
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := cr.UpsertComment(ctx, prNumber, testMarker, "body")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("UpsertComment error = %v, want context.Canceled", err)
	}
	if n := f.count(http.MethodGet) + f.writes(); n != 0 {
		t.Errorf("host got %d requests, want none", n)
	}
}

func TestNextLink(t *testing.T) {
	const cur = "https://api.github.com/repos/o/r/pulls?state=open&per_page=100"
	tests := []struct {
		name, link, want, wantErr string
	}{
		{"none", "", "", ""},
		{"last page", `<https://api.github.com/repos/o/r/pulls?page=1>; rel="first", <https://api.github.com/repos/o/r/pulls?page=2>; rel="prev"`, "", ""},
		{"next among others", `<https://api.github.com/repos/o/r/pulls?page=3>; rel="next", <https://api.github.com/repos/o/r/pulls?page=9>; rel="last"`, "https://api.github.com/repos/o/r/pulls?page=3", ""},
		{"unquoted, several rels", `<https://api.github.com/x?page=2>; title="p"; rel=next`, "https://api.github.com/x?page=2", ""},
		{"relative", `</repos/o/r/pulls?page=2>; rel="next"`, "https://api.github.com/repos/o/r/pulls?page=2", ""},
		{"other host", `<https://evil.example/repos/o/r/pulls?page=2>; rel="next"`, "", "credentials stay"},
		{"downgrade to http", `<http://api.github.com/repos/o/r/pulls?page=2>; rel="next"`, "", "credentials stay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.link != "" {
				h.Set("Link", tt.link)
			}
			got, err := nextLink(h, cur)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("nextLink error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("nextLink = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
