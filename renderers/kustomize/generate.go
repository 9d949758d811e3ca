package kustomize

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	kustypes "sigs.k8s.io/kustomize/api/types"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/yaml"
)

// generateKustomization writes the kustomization Flux would generate for a directory
// without one: every YAML file below dir that holds Kubernetes objects, and every
// sub-directory that has a kustomization of its own (taken whole, not descended into).
//
// A directory reached twice through symbolic links is taken once, so links to an
// ancestor cannot make the walk loop or grow exponentially.
func generateKustomization(t *tree, dir string) ([]byte, error) {
	var resources []string
	visited := map[string]bool{}
	var walk func(rel string) error
	walk = func(rel string) error {
		real, err := t.real(virtual(path.Join(dir, rel)))
		if err != nil {
			return err
		}
		if visited[real] {
			return nil
		}
		visited[real] = true
		names, err := t.ReadDir(virtual(path.Join(dir, rel)))
		if err != nil {
			return err
		}
		for _, name := range names {
			if strings.HasPrefix(name, ".") {
				continue
			}
			child := path.Join(rel, name)
			full := path.Join(dir, child)
			if t.IsDir(virtual(full)) {
				if _, ok := kustomizationFile(t, full); ok {
					resources = append(resources, child)
					continue
				}
				if err := walk(child); err != nil {
					return err
				}
				continue
			}
			if ext := path.Ext(name); ext != ".yaml" && ext != ".yml" {
				continue
			}
			data, err := t.ReadFile(virtual(full))
			if err != nil {
				return err
			}
			real, err := t.real(virtual(full))
			if err != nil {
				return err
			}
			// Guarded before anything parses it: holdsObjects decodes the documents.
			if _, err := t.guard(real, data); err != nil {
				return err
			}
			isManifest, err := holdsObjects(data)
			if err != nil {
				return fmt.Errorf("%s: %w", full, err)
			}
			if isManifest {
				resources = append(resources, child)
			}
		}
		return nil
	}
	if err := walk("."); err != nil {
		if v := t.takeViolations(); len(v) > 0 {
			return nil, errors.Join(v...)
		}
		return nil, err
	}
	if len(resources) == 0 {
		return nil, fmt.Errorf("path %q: no %s and no Kubernetes manifests below it", dir, konfig.DefaultKustomizationFileName())
	}
	k := kustypes.Kustomization{
		TypeMeta:  kustypes.TypeMeta{APIVersion: kustypes.KustomizationVersion, Kind: kustypes.KustomizationKind},
		Resources: resources,
	}
	return yaml.Marshal(k)
}

// holdsObjects reports whether every document of a YAML file is a Kubernetes object;
// files of other YAML (values, settings) are left out of a generated kustomization.
func holdsObjects(data []byte) (bool, error) {
	dec := kyaml.NewDecoder(bytes.NewReader(data))
	found := false
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return found, nil
		}
		if err != nil {
			return false, err
		}
		if doc == nil {
			continue
		}
		if _, ok := doc["apiVersion"]; !ok {
			return false, nil
		}
		if _, ok := doc["kind"]; !ok {
			return false, nil
		}
		found = true
	}
}
