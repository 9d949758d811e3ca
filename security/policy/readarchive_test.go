package policy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// TestReadArchiveRoundTrip: Build → Archive → ReadArchive → NewDecider decides as the
// built bundle does, at every point, for callers the policies treat differently.
func TestReadArchiveRoundTrip(t *testing.T) {
	ctx := context.Background()
	a := Party{ID: idA, Host: "research-agent.team-a.svc:8080"}
	b := Party{ID: idB, Host: "planner-agent.team-b.svc:8000"}
	c := Party{ID: idC, Host: "calendar-tool.team-b.svc:9000"}
	outsider := Party{ID: "spiffe://example.org/ns/team-x/sa/x"}
	prober := Party{ID: "spiffe://example.org/ns/monitoring/sa/prober"}
	calls := []Call{
		{Caller: a, Callee: b, A2AMethod: "message/send"}, {Caller: a, Callee: b, A2AMethod: "tasks/cancel"},
		{Caller: c, Callee: b}, {Caller: outsider, Callee: b}, {Caller: prober, Callee: b},
		{Caller: b, Callee: c, StatusCode: 200}, {Caller: b, Callee: c, StatusCode: 502},
	}
	sets := map[string]*Set{
		"all tiers":              testSet(nsTeamB, clientPlanner),
		"global only":            testSet(),
		"no global policy":       NewSet(platformNS, []*agentv1.AuthorizationPolicy{clientPlanner}),
		"requireClientPolicy":    NewSet(platformNS, []*agentv1.AuthorizationPolicy{DefaultGlobalPolicy(platformNS, true), nsTeamB}),
		"two namespace policies": testSet(nsTeamB, ap("team-b", "a-freeze", agentv1.ScopeNamespace, "inbound/request.rego", "package authbridge.ns.inbound.request\nallow := true\n")),
		"policy's own reason":    NewSet(platformNS, []*agentv1.AuthorizationPolicy{ap(platformNS, "reasons", agentv1.ScopeGlobal, "inbound/request.rego", "package authbridge.inbound.request\ndecision := {\"allow\": false, \"reason\": \"closed for maintenance\"}\nallow := decision.allow\nreason := decision.reason\n")}),
	}
	for name, set := range sets {
		t.Run(name, func(t *testing.T) {
			built, err := Build(set.Tiers("team-b", "planner-agent"))
			if err != nil {
				t.Fatal(err)
			}
			archive, err := built.Archive()
			if err != nil {
				t.Fatal(err)
			}
			read, err := ReadArchive(archive, gitopsv1.Limits{})
			if err != nil {
				t.Fatalf("ReadArchive: %v", err)
			}
			if read.Revision != built.Revision || read.ETag() != built.ETag() {
				t.Fatalf("revision %s, want %s", read.Revision, built.Revision)
			}
			again, err := read.Archive()
			if err != nil || !bytes.Equal(again, archive) {
				t.Fatalf("the read bundle archives to other bytes (err %v)", err)
			}
			want, err := NewDecider(ctx, built, gitopsv1.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := NewDecider(ctx, read, gitopsv1.Limits{})
			if err != nil {
				t.Fatalf("NewDecider on the read bundle: %v", err)
			}
			for _, pt := range Points {
				for _, call := range calls {
					w, g := want.Decide(ctx, pt, call.Input(pt)), got.Decide(ctx, pt, call.Input(pt))
					// The archive carries no namespaces: reasons may name policies without them.
					if g.Allow != w.Allow || g.Reason == "" || (!strings.Contains(w.Reason, "/") && g.Reason != w.Reason) {
						t.Errorf("%s %s → %s: read bundle %v, built bundle %v", pt, call.Caller.ID, call.Callee.ID, g, w)
					}
				}
			}
		})
	}
}

// entry is one tar entry of a hand-made archive.
type entry struct {
	name     string
	typeflag byte
	content  string
	linkname string
}

// handArchive writes entries as a gzip tar; withManifest, a .manifest of the entries'
// revision (or manifestRevision, when set) comes first.
func handArchive(t *testing.T, manifestRevision string, withManifest bool, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if withManifest {
		if manifestRevision == "" {
			var files []File
			for _, e := range entries {
				files = append(files, File{Path: strings.TrimPrefix(e.name, "/"), Content: e.content})
			}
			sortFiles(files)
			manifestRevision = revision(files)
		}
		m, _ := json.Marshal(manifest{Revision: manifestRevision, Roots: []string{Root}})
		entries = append([]entry{{name: "/.manifest", content: string(m)}}, entries...)
	}
	for _, e := range entries {
		if e.typeflag == 0 {
			e.typeflag = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.name, Typeflag: e.typeflag, Linkname: e.linkname, Mode: 0o644, Size: int64(len(e.content))}
		if e.typeflag != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			if _, err := tw.Write([]byte(e.content)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sortFiles(files []File) {
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
}

// gzipBomb is a gzip of a tar whose one entry claims, and holds, n zero bytes.
func gzipBomb(t *testing.T, name string, n int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: n}); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for left := n; left > 0; left -= int64(len(zeros)) {
		if _, err := tw.Write(zeros[:min(int64(len(zeros)), left)]); err != nil {
			t.Fatal(err)
		}
	}
	_ = tw.Close()
	_ = gz.Close()
	return buf.Bytes()
}

func TestReadArchiveRefusesHostileArchives(t *testing.T) {
	built, err := Build(testSet(nsTeamB, clientPlanner).Tiers("team-b", "planner-agent"))
	if err != nil {
		t.Fatal(err)
	}
	var good []entry
	for _, f := range built.Files {
		good = append(good, entry{name: "/" + f.Path, content: f.Content})
	}
	with := func(extra ...entry) []entry { return append(append([]entry{}, good...), extra...) }
	module := "package authbridge.client.inbound.request\nallow := true\n"
	manyFiles := func() []entry {
		var es []entry
		for i := range MaxBundleFiles + 1 {
			es = append(es, entry{name: "/authbridge/client/f" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "/" + strings.Repeat("y", i/26) + ".rego", content: module})
		}
		return es
	}
	tests := []struct {
		name    string
		archive []byte
		want    string // in the error: the entry at fault
	}{
		{"not gzip", []byte("PK\x03\x04 a zip"), "bundle archive"},
		{"compressed size over the bound", make([]byte, MaxBundleSize+1), "over the limit"},
		{"gzip bomb: one entry claims more than a policy may hold", gzipBomb(t, "/authbridge/client/bomb.rego", 64<<20), "authbridge/client/bomb.rego: 67108864 bytes, over the limit"},
		{"gzip bomb: entries decompress past the archive bound", handArchive(t, "", true, bigEntries(MaxBundleUncompressedSize/(200<<10)+2, 200<<10)...), "decompresses to more than"},
		{"too many entries", handArchive(t, "", true, manyFiles()...), "more than 4096 entries"},
		{"traversal name", handArchive(t, "", true, with(entry{name: "/authbridge/client/../../etc/x.rego", content: module})...), "authbridge/client/../../etc/x.rego"},
		{"dot-dot name", handArchive(t, "", true, with(entry{name: "../x.rego", content: module})...), "../x.rego"},
		{"double-slash absolute name", handArchive(t, "", true, with(entry{name: "//etc/x.rego", content: module})...), "//etc/x.rego"},
		{"unclean name", handArchive(t, "", true, with(entry{name: "/authbridge/./client/x.rego", content: module})...), "authbridge/./client/x.rego"},
		{"symlink entry", handArchive(t, "", true, with(entry{name: "/authbridge/client/link.rego", typeflag: tar.TypeSymlink, linkname: "/etc/passwd"})...), "authbridge/client/link.rego"},
		{"hardlink entry", handArchive(t, "", true, with(entry{name: "/authbridge/client/hard.rego", typeflag: tar.TypeLink, linkname: "authbridge/client/inbound/request.rego"})...), "authbridge/client/hard.rego"},
		{"directory entry", handArchive(t, "", true, with(entry{name: "/authbridge/client/", typeflag: tar.TypeDir})...), "authbridge/client/"},
		{"duplicate entry", handArchive(t, "", true, with(good[0])...), good[0].name[1:] + ": a second entry"},
		{"wrong revision", handArchive(t, strings.Repeat("0", 64), true, good...), ".manifest: revision"},
		{"missing manifest", handArchive(t, "", false, good...), "no .manifest"},
		{"a module outside the roots", handArchive(t, "", true, with(entry{name: "/system/authz.rego", content: "package system.authz\nallow := true\n"})...), "system/authz.rego: outside the bundle's root"},
		{"non-Rego junk", handArchive(t, "", true, with(entry{name: "/authbridge/data.json", content: `{"allow": true}`})...), "authbridge/data.json: not a Rego file"},
		{"a file outside the tiers' directories", handArchive(t, "", true, with(entry{name: "/authbridge/inbound/request.rego", content: "package authbridge.inbound.request\nallow := true\n"})...), "authbridge/inbound/request.rego: not in a tier's directory"},
		{"a tier's module declaring the global decision", handArchive(t, "", true, with(entry{name: "/authbridge/client/evil.rego", content: "package authbridge.inbound.request\nallow := true\n"})...), "evil.rego: package authbridge.inbound.request is outside the client tier"},
		{"Rego that does not parse", handArchive(t, "", true, with(entry{name: "/authbridge/client/junk.rego", content: "\x00\x01 not rego {{{"})...), "junk.rego"},
		{"a fail-closed module where a global policy decides", handArchive(t, "", true, with(entry{name: "/authbridge/trustsync/failclosed/inbound/request.rego", content: "package authbridge.inbound.request\ndefault allow := true\n"})...), "authbridge/trustsync/failclosed/inbound/request.rego"},
		{"a file trustsync never adds", handArchive(t, "", true, with(entry{name: "/authbridge/trustsync/extra.rego", content: module})...), "authbridge/trustsync/extra.rego"},
		{"a test file", handArchive(t, "", true, with(entry{name: "/authbridge/client/inbound/request_test.rego", content: "package authbridge.client.inbound.request_test\ntest_x if true\n"})...), "authbridge/client/inbound/request_test.rego"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ReadArchive(tt.archive, gitopsv1.Limits{})
			if err == nil {
				t.Fatalf("read a bundle of revision %s", b.Revision)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

// bigEntries are n Rego entries of size bytes each (comments), under the per-file bound.
func bigEntries(n, size int) []entry {
	var es []entry
	body := "package authbridge.client.inbound.request\n#" + strings.Repeat("x", size-45) + "\n"
	for i := range n {
		es = append(es, entry{name: "/authbridge/client/big" + strings.Repeat("_", i) + ".rego", content: body})
	}
	return es
}

// TestReadUpstreamArchive: a bundle in the upstream bundle-service's layout (one
// directory per tier, its own revision, OPA's other manifest fields) decides as the same
// tiers built by trustsync do; what Build refuses, or a file outside the tiers, is refused.
func TestReadUpstreamArchive(t *testing.T) {
	upstream := func(extra ...entry) []byte {
		var entries []entry
		for _, f := range DefaultGlobalPolicy(platformNS, false).Spec.Policies {
			entries = append(entries, entry{name: "/authbridge/global/" + f.Path, content: f.Content})
		}
		entries = append(entries,
			entry{name: "/authbridge/ns/inbound/request.rego", content: nsAllow},
			entry{name: "/authbridge/client/inbound/request.rego", content: "package authbridge.client.inbound.request\n\nallow if input.method == \"POST\"\n"})
		entries = append(entries, extra...)
		m := `{"revision": "0f3c9a", "roots": ["authbridge"], "rego_version": 1}`
		return handArchive(t, "", false, append([]entry{{name: "/.manifest", content: m}}, entries...)...)
	}
	b, err := ReadUpstreamArchive(upstream(), gitopsv1.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDecider(context.Background(), b, gitopsv1.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		client, method string
		allow          bool
	}{{"x", "POST", true}, {"x", "GET", false}, {"y", "POST", false}} {
		in := map[string]any{"identity": map[string]any{"client_id": tc.client}, "method": tc.method}
		if got := d.Decide(context.Background(), Points[0], in); got.Allow != tc.allow {
			t.Errorf("%s %s: %v, want allow=%v", tc.client, tc.method, got, tc.allow)
		}
	}
	for _, tc := range []struct {
		name  string
		extra entry
		want  string
	}{
		{"outside the tiers", entry{name: "/authbridge/lib/x.rego", content: "package authbridge.lib\nx := 1\n"}, "authbridge/lib/x.rego: not in a tier's directory"},
		{"a tier's name as a file", entry{name: "/authbridge/client.rego", content: "package authbridge.client\nx := 1\n"}, "authbridge/client.rego: not in a tier's directory"},
		{"a built-in trustsync refuses", entry{name: "/authbridge/client/outbound/request.rego", content: "package authbridge.client.outbound.request\n\nallow if http.send({\"method\": \"GET\", \"url\": \"http://x\"}).status_code == 200\n"}, "http.send"},
		{"not Rego", entry{name: "/authbridge/client/data.json", content: "{}"}, "not a Rego file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadUpstreamArchive(upstream(tc.extra), gitopsv1.Limits{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}
