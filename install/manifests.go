package install

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/config"
	"github.com/trustsync/trustsync/renderers/kustomize"
)

// Namespace is where trustsync runs, as config/ installs it.
const Namespace = "trustsync-system"

// Repository is the image every trustsync container runs, as config/images names it.
const Repository = "ghcr.io/trustsync/trustsync"

// Options choose what is installed. The zero value is config/default: the CRDs, the
// controller and the webhook with its own CA.
type Options struct {
	// CertManager lets cert-manager issue the webhook's certificate and inject its CA
	// (config/cert-manager) instead of the webhook running its own CA.
	CertManager bool
	// BundleServer adds the policy bundle server (config/bundle-server); it needs SPIRE.
	BundleServer bool
	// Dashboard adds the read-only dashboard (config/dashboard).
	Dashboard bool
	// Image is the image reference every container runs; Repository:latest when empty.
	Image string
	// Families are the families whose CRDs, webhook selectors and RBAC are installed,
	// and the installed platform file's families; Kagenti alone when empty.
	Families []agentv1.Family
}

// imageRef is what an image reference may be: a repository with a tag or a digest.
var imageRef = regexp.MustCompile(`^[a-z0-9]+([._/:-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$`)

// releaseTag is a release's version, which its image is tagged with.
var releaseTag = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)

// Image is the image for a build of version: its release tag when it is one
// (v1.2.3), latest otherwise (a development build has no image of its own).
func Image(version string) string {
	if releaseTag.MatchString(version) {
		return Repository + ":" + version
	}
	return Repository + ":latest"
}

// Manifests renders the installation o chooses from the embedded config/ bases: the
// objects `kubectl apply -k` of the matching base gives, with the image set.
func Manifests(o Options) ([]*unstructured.Unstructured, error) {
	image := o.Image
	if image == "" {
		image = Repository + ":latest"
	}
	if !imageRef.MatchString(image) {
		return nil, fmt.Errorf("image %q is not an image reference (repository[:tag][@sha256:digest])", image)
	}
	families := o.Families
	if len(families) == 0 {
		families = []agentv1.Family{agentv1.Kagenti}
	}
	k := kustomization{APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization", Resources: []string{"../default"}}
	for _, f := range families {
		if f != agentv1.Kagenti { // config/default has Kagenti's
			k.Resources = append(k.Resources, "../crd/"+f.Name)
		}
	}
	if o.CertManager {
		k.Components = append(k.Components, "../webhook/cert-manager")
	}
	if o.BundleServer {
		k.Resources = append(k.Resources, "../bundle-server/bundle-server.yaml")
	}
	if o.Dashboard {
		k.Resources = append(k.Resources, "../dashboard/dashboard.yaml")
	}
	// config/images names the image; the components above bring containers of their
	// own, so it is included again for them.
	k.Components = append(k.Components, "../images")
	name, tag, digest := splitImage(image)
	k.Images = []kustomizeImage{{Name: Repository, NewName: name, NewTag: tag, Digest: digest}}

	tree, err := embedded()
	if err != nil {
		return nil, err
	}
	data, err := yaml.Marshal(k)
	if err != nil {
		return nil, err
	}
	// install/ is a directory config/ does not have, so nothing of config/ is shadowed.
	tree["install/kustomization.yaml"] = &fstest.MapFile{Data: data, Mode: 0o644}
	if !slices.Equal(families, []agentv1.Family{agentv1.Kagenti}) {
		// The platform file says the families too, so the controller and webhook read
		// what is installed; kustomize renames the ConfigMap after its new content.
		if err := setPlatformFamilies(tree, families); err != nil {
			return nil, err
		}
	}
	objs, err := kustomize.Build(tree, "install", kustomize.Options{})
	if err != nil {
		return nil, fmt.Errorf("rendering the installation: %w", err)
	}
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, obj := range objs {
		keep, err := forFamilies(obj.Unstructured, families)
		if err != nil {
			return nil, err
		}
		if keep {
			out = append(out, obj.Unstructured)
		}
	}
	return out, nil
}

type kustomization struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Resources  []string         `json:"resources"`
	Components []string         `json:"components,omitempty"`
	Images     []kustomizeImage `json:"images"`
}

type kustomizeImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName"`
	NewTag  string `json:"newTag,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

// splitImage splits repository[:tag][@digest]; a colon before the last slash is a
// registry's port, not a tag.
func splitImage(ref string) (name, tag, digest string) {
	name, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	return name, tag, digest
}

// embedded copies config/ into a tree kustomize builds from, so a generated
// kustomization can sit beside the bases it refers to.
func embedded() (fstest.MapFS, error) {
	tree := fstest.MapFS{}
	err := fs.WalkDir(config.Bases, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(config.Bases, p)
		if err != nil {
			return err
		}
		tree[p] = &fstest.MapFile{Data: data, Mode: 0o644}
		return nil
	})
	return tree, err
}

// IsCRD reports whether obj is a CustomResourceDefinition.
func IsCRD(obj *unstructured.Unstructured) bool {
	return obj.GetKind() == "CustomResourceDefinition" && obj.GroupVersionKind().Group == "apiextensions.k8s.io"
}

// CRDNames are the names of the CustomResourceDefinitions among objs, sorted.
func CRDNames(objs []*unstructured.Unstructured) []string {
	var names []string
	for _, o := range objs {
		if IsCRD(o) {
			names = append(names, o.GetName())
		}
	}
	slices.Sort(names)
	return names
}
