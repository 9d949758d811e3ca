package confine

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"
)

func TestResolve(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("x\n")}
	link := func(target string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
	}
	tests := []struct {
		name    string
		tree    fstest.MapFS
		path    string
		maxHops int // 40 when zero
		want    string
		wantErr error  // ErrOutside or ErrTooManyLinks
		wantMsg string // the whole error text
	}{
		{name: "plain path", tree: fstest.MapFS{"a/b.yaml": file}, path: "a/./b.yaml", want: "a/b.yaml"},
		{name: "the root", tree: fstest.MapFS{"a/b.yaml": file}, path: ".", want: "."},
		{name: "missing path is kept", tree: fstest.MapFS{"a/b.yaml": file}, path: "a/nope/c", want: "a/nope/c"},
		{name: "link to a file", tree: fstest.MapFS{"a/b.yaml": file, "l": link("a/b.yaml")}, path: "l", want: "a/b.yaml"},
		{name: "link to a dir, then a file", tree: fstest.MapFS{"a/b.yaml": file, "d/l": link("../a")}, path: "d/l/b.yaml", want: "a/b.yaml"},
		{
			name: "link to a dir, then .. from the real dir",
			tree: fstest.MapFS{"a/b/c.yaml": file, "l": link("a/b")},
			path: "l/..", want: "a",
		},
		{
			name: "link to link",
			tree: fstest.MapFS{"a/b.yaml": file, "l1": link("l2"), "l2": link("a/b.yaml")},
			path: "l1", want: "a/b.yaml",
		},
		{name: "dangling link", tree: fstest.MapFS{"a/b.yaml": file, "l": link("missing/file")}, path: "l", want: "missing/file"},
		{
			name: "absolute link",
			tree: fstest.MapFS{"a/l": link("/etc/passwd")},
			path: "a/l", wantErr: ErrOutside,
			wantMsg: `path "a/l": symlink "a/l" -> "/etc/passwd" points outside the tree`,
		},
		{
			name: "empty link target",
			tree: fstest.MapFS{"l": link("")},
			path: "l", wantErr: ErrOutside,
			wantMsg: `path "l": symlink "l" -> "" points outside the tree`,
		},
		{
			name: ".. escape",
			tree: fstest.MapFS{"a/up": link("../../etc"), "a/b.yaml": file},
			path: "a/up/passwd", wantErr: ErrOutside,
			wantMsg: `path "a/up/passwd": symlink "a/up" -> "../../etc" points outside the tree`,
		},
		{
			name: "the path itself climbs out",
			tree: fstest.MapFS{"a/b.yaml": file},
			path: "a/../..", wantErr: ErrOutside,
			wantMsg: `path "a/../.." is outside the tree`,
		},
		{
			name: "absolute path",
			tree: fstest.MapFS{"a/b.yaml": file},
			path: "/a/b.yaml", wantErr: ErrOutside,
			wantMsg: `path "/a/b.yaml" is outside the tree`,
		},
		{
			name: "link to link escape",
			tree: fstest.MapFS{"l1": link("l2"), "l2": link("../x")},
			path: "l1", wantErr: ErrOutside,
			wantMsg: `path "l1": symlink "l2" -> "../x" points outside the tree`,
		},
		{
			// Each link stays inside on its own; followed, m's own ".." climbs out.
			name: "escape through another link",
			tree: fstest.MapFS{"d/l": link(".."), "d/m": link("l/.."), "d/x": file},
			path: "d/m", wantErr: ErrOutside,
			wantMsg: `path "d/m": symlink "d/m" -> "l/.." points outside the tree`,
		},
		{
			// The missing element is not the end: the link after it is followed too.
			name: "escape past a missing element",
			tree: fstest.MapFS{"a/l": link("missing/../abs"), "a/abs": link("/etc/passwd")},
			path: "a/l", wantErr: ErrOutside,
			wantMsg: `path "a/l": symlink "a/abs" -> "/etc/passwd" points outside the tree`,
		},
		{
			name: "dangling link escape",
			tree: fstest.MapFS{"l": link("missing/../../x")},
			path: "l", wantErr: ErrOutside,
			wantMsg: `path "l": symlink "l" -> "missing/../../x" points outside the tree`,
		},
		{
			name: "loop",
			tree: fstest.MapFS{"loop": link("loop2"), "loop2": link("loop")},
			path: "loop/cm.yaml", wantErr: ErrTooManyLinks,
			wantMsg: `path "loop/cm.yaml": too many levels of symbolic links`,
		},
		{
			name: "hop bound reached",
			tree: fstest.MapFS{"a": link("b"), "b": link("c"), "c": link("f"), "f": file},
			path: "a", maxHops: 3, want: "f",
		},
		{
			name: "hop bound exceeded",
			tree: fstest.MapFS{"a": link("b"), "b": link("c"), "c": link("f"), "f": file},
			path: "a", maxHops: 2, wantErr: ErrTooManyLinks,
			wantMsg: `path "a": too many levels of symbolic links`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			maxHops := tt.maxHops
			if maxHops == 0 {
				maxHops = 40
			}
			got, err := Resolve(tt.tree, tt.path, maxHops)
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("Resolve(%q) = %q, %v; want %q", tt.path, got, err, tt.want)
				}
				return
			}
			var e *Error
			if !errors.Is(err, tt.wantErr) || !errors.As(err, &e) || e.Path != tt.path {
				t.Fatalf("Resolve(%q) = %q, %v; want an *Error for the path with %v", tt.path, got, err, tt.wantErr)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("error text\n got %s\nwant %s", err, tt.wantMsg)
			}
		})
	}
}

// brokenLinks is a tree whose links cannot be read.
type brokenLinks struct{ fstest.MapFS }

func (brokenLinks) ReadLink(name string) (string, error) {
	return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrPermission}
}

// TestResolveUnreadableLink: a link that cannot be read is an error, never taken as a
// plain file for the caller's lookup to follow.
func TestResolveUnreadableLink(t *testing.T) {
	tree := brokenLinks{fstest.MapFS{"l": &fstest.MapFile{Data: []byte("f"), Mode: fs.ModeSymlink}, "f": &fstest.MapFile{}}}
	_, err := Resolve(tree, "l", 40)
	if !errors.Is(err, fs.ErrPermission) || err.Error() != `symlink "l": readlink l: permission denied` {
		t.Fatalf("got %v", err)
	}
}
