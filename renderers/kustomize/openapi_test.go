package kustomize

import (
	"testing"
	"testing/fstest"
)

// TestCustomOpenAPIStaysInItsBuild: a repository's own OpenAPI schema (kustomization
// field openapi) decides for its own build only. kustomize keeps the schema in global
// state, so without a reset a schema saying a custom kind is cluster-scoped would
// follow into the next repository's build, which then leaves that kind without its
// namespace.
func TestCustomOpenAPIStaysInItsBuild(t *testing.T) {
	schema := `{"swagger": "2.0", "info": {"title": "x", "version": "1"}, "paths": {"/apis/example.org/v1/widgets": {"get": {"x-kubernetes-group-version-kind": {"group": "example.org", "version": "v1", "kind": "Widget"}, "responses": {"200": {"description": "ok"}}}}}, "definitions": {}}`
	widget := "apiVersion: example.org/v1\nkind: Widget\nmetadata: {name: w}\n"
	hostile := fstest.MapFS{
		"kustomization.yaml": file("openapi: {path: schema.json}\nnamespace: mine\nresources: [widget.yaml]\n"),
		"schema.json":        file(schema),
		"widget.yaml":        file(widget),
	}
	objs, err := Build(hostile, ".", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if objs[0].GetNamespace() != "" {
		t.Fatalf("the schema did not make Widget cluster-scoped in its own build (namespace %q); the test proves nothing", objs[0].GetNamespace())
	}
	next := fstest.MapFS{
		"kustomization.yaml": file("namespace: team\nresources: [widget.yaml]\n"),
		"widget.yaml":        file(widget),
	}
	objs, err = Build(next, ".", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := objs[0].GetNamespace(); got != "team" {
		t.Fatalf("the next repository's Widget is in namespace %q: the other repository's schema followed it", got)
	}
}
