package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// controllerPackage is what the shape test needs to know of a package that declares a
// ControllerName: where its Reconciler type is, its fields, its options constructor,
// and the parameters of its SetupWithManager.
type controllerPackage struct {
	dir             string
	reconcilerFile  string   // file declaring type Reconciler; "" when none
	reconcilerField []string // the Reconciler's field names
	optionsFunc     bool     // a func Default…Options() …Options
	setupParams     int      // parameters of (*Reconciler).SetupWithManager; -1 when none
}

// shapeProblems lists how c departs from the one controller shape (CONTRIBUTING.md).
func shapeProblems(c controllerPackage) []string {
	var out []string
	if c.reconcilerFile != "reconciler.go" {
		out = append(out, "type Reconciler is not declared in reconciler.go")
	}
	if !slices.Contains(c.reconcilerField, "Options") {
		out = append(out, "Reconciler has no Options field")
	}
	if !c.optionsFunc {
		out = append(out, "no DefaultOptions() (or Default…Options()) constructor")
	}
	if c.setupParams != 2 {
		out = append(out, "no SetupWithManager(ctx, mgr) method on *Reconciler")
	}
	return out
}

// readControllerPackage parses the non-test Go files of dir; ok is false when the
// package declares no ControllerName.
func readControllerPackage(dir string) (c controllerPackage, ok bool, err error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return c, false, err
	}
	c = controllerPackage{dir: dir, setupParams: -1}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return c, false, err
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.Name == "ControllerName" && d.Tok == token.CONST {
								ok = true
							}
						}
					case *ast.TypeSpec:
						if s.Name.Name != "Reconciler" {
							continue
						}
						c.reconcilerFile = filepath.Base(name)
						if st, isStruct := s.Type.(*ast.StructType); isStruct {
							for _, fld := range st.Fields.List {
								for _, n := range fld.Names {
									c.reconcilerField = append(c.reconcilerField, n.Name)
								}
							}
						}
					}
				}
			case *ast.FuncDecl:
				if d.Recv == nil && strings.HasPrefix(d.Name.Name, "Default") && strings.HasSuffix(d.Name.Name, "Options") &&
					d.Type.Params.NumFields() == 0 && d.Type.Results.NumFields() == 1 {
					c.optionsFunc = true
				}
				if d.Recv != nil && d.Name.Name == "SetupWithManager" && receiverIs(d, "Reconciler") {
					c.setupParams = d.Type.Params.NumFields()
				}
			}
		}
	}
	return c, ok, nil
}

func receiverIs(d *ast.FuncDecl, typ string) bool {
	if len(d.Recv.List) != 1 {
		return false
	}
	star, ok := d.Recv.List[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	id, ok := star.X.(*ast.Ident)
	return ok && id.Name == typ
}

// TestControllerShape: every package that declares a ControllerName has the one shape.
func TestControllerShape(t *testing.T) {
	root := filepath.Join("..", "..")
	found := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules") {
			return filepath.SkipDir
		}
		c, ok, err := readControllerPackage(path)
		if err != nil || !ok {
			return err
		}
		found++
		rel, _ := filepath.Rel(root, path)
		for _, p := range shapeProblems(c) {
			t.Errorf("%s: %s", rel, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 8 {
		t.Fatalf("found only %d controller packages", found)
	}
}

// TestControllerShapeCatchesDepartures: a controller in another shape is reported.
func TestControllerShapeCatchesDepartures(t *testing.T) {
	for name, tc := range map[string]struct {
		files map[string]string
		want  []string
	}{
		"the shape": {files: map[string]string{"reconciler.go": `package x
import "context"
const ControllerName = "x"
type Options struct{}
func DefaultOptions() Options { return Options{} }
type Reconciler struct{ Options Options }
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr any) error { return nil }`}},
		"the old GitSource reconciler": {files: map[string]string{"controller.go": `package x
const ControllerName = "x"
type GitSourceReconciler struct{}
func (r *GitSourceReconciler) SetupWithManager(mgr any) error { return nil }`},
			want: []string{"not declared in reconciler.go", "no Options field", "no DefaultOptions", "no SetupWithManager"}},
		"setup without a context": {files: map[string]string{"reconciler.go": `package x
const ControllerName = "x"
type Options struct{}
func DefaultOptions() Options { return Options{} }
type Reconciler struct{ Options Options }
func (r *Reconciler) SetupWithManager(mgr any) error { return nil }`},
			want: []string{"no SetupWithManager(ctx, mgr)"}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for n, src := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(src), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, ok, err := readControllerPackage(dir)
			if err != nil || !ok {
				t.Fatalf("readControllerPackage: ok=%v %v", ok, err)
			}
			got := strings.Join(shapeProblems(c), "; ")
			if len(tc.want) == 0 && got != "" {
				t.Errorf("problems %q, want none", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("problems %q, want one with %q", got, w)
				}
			}
		})
	}
}
