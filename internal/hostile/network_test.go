package hostile

import "testing"

// deployment is a plain workload to give a tree something to build.
const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: team-a}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web:1}]}
`

func kustomization(body string) map[string]string {
	return map[string]string{"kustomization.yaml": body, "deploy.yaml": deployment}
}

// TestRenderReachesNoNetwork: kustomize has doors to the network besides remote bases —
// generator sources, resources that only look local, scp-style addresses. A render
// opens none of them, whatever the string.
func TestRenderReachesNoNetwork(t *testing.T) {
	render := []string{"render", "{tree}"}
	run(t, []Case{
		{Name: "remote base", Files: kustomization("resources: [deploy.yaml, '{canaryURL}/base']\n"), Args: render,
			Stderr: []string{"kustomization.yaml", "resources", "{canaryURL}/base"}},
		{Name: "remote resource file", Files: kustomization("resources: [deploy.yaml, '{canaryURL}/x.yaml']\n"), Args: render,
			Stderr: []string{"kustomization.yaml", "{canaryURL}/x.yaml"}},
		{Name: "configMapGenerator file from a URL", Files: kustomization("resources: [deploy.yaml]\nconfigMapGenerator:\n- name: leak\n  files: ['{canaryURL}/latest/meta-data']\n"), Args: render,
			Stderr: []string{"kustomization.yaml", "configMapGenerator", "{canaryURL}/latest/meta-data"}},
		{Name: "configMapGenerator keyed file from a URL", Files: kustomization("resources: [deploy.yaml]\nconfigMapGenerator:\n- name: leak\n  files: ['key={canaryURL}/x']\n"), Args: render,
			Stderr: []string{"kustomization.yaml", "configMapGenerator"}},
		{Name: "secretGenerator env from a URL", Files: kustomization("resources: [deploy.yaml]\nsecretGenerator:\n- name: leak\n  envs: ['{canaryURL}/env']\n"), Args: render,
			Stderr: []string{"kustomization.yaml", "secretGenerator"}},
		{Name: "resource with a trailing space", Files: kustomization("resources: [deploy.yaml, 'http://{canary}/org/repo ']\n"), Args: render,
			Stderr: []string{"kustomization.yaml"}},
		{Name: "resource with a trailing newline", Files: kustomization("resources:\n- deploy.yaml\n- \"http://{canary}/org/repo\\n\"\n"), Args: render,
			Stderr: []string{"kustomization.yaml"}},
		{Name: "scp-style address", Files: kustomization("resources: [deploy.yaml, 'git@{canary}:org/repo.git']\n"), Args: render,
			Stderr: []string{"kustomization.yaml"}},
		{Name: "user@host scp-style address", Files: kustomization("resources: [deploy.yaml, 'user@127.0.0.1:org/repo.git']\n"), Args: render,
			Stderr: []string{"kustomization.yaml"}},
		{Name: "github shorthand", Files: kustomization("resources: [deploy.yaml, 'github.com/org/repo/base?ref=v1']\n"), Args: render,
			Stderr: []string{"kustomization.yaml"}},
		{Name: "git:: prefix", Files: kustomization("resources: [deploy.yaml, 'git::http://{canary}/org/repo']\n"), Args: render,
			Stderr: []string{"kustomization.yaml"}},
		{Name: "ssh URL in components", Files: kustomization("resources: [deploy.yaml]\ncomponents: ['ssh://git@{canary}/org/repo.git']\n"), Args: render,
			Stderr: []string{"kustomization.yaml", "components"}},
		{Name: "patch from a URL", Files: kustomization("resources: [deploy.yaml]\npatches:\n- path: '{canaryURL}/p.yaml'\n"), Args: render,
			Stderr: []string{"kustomization.yaml", "patches"}},
		{Name: "openapi from a URL", Files: kustomization("resources: [deploy.yaml]\nopenapi: {path: '{canaryURL}/schema.json'}\n"), Args: render,
			Stderr: []string{"kustomization.yaml", "openapi"}},
		{Name: "inline generator config with a URL", Files: kustomization("resources: [deploy.yaml]\ngenerators:\n- |\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n  metadata: {name: leak}\n  files: ['{canaryURL}/x']\n"), Args: render,
			Stderr: []string{"kustomization.yaml", "generators"}},
		{Name: "generator config file with a URL", Files: map[string]string{
			"kustomization.yaml": "resources: [deploy.yaml]\ngenerators: [gen.yaml]\n", "deploy.yaml": deployment,
			"gen.yaml": "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: leak}\nfiles: ['{canaryURL}/x']\n"}, Args: render,
			Stderr: []string{"gen.yaml"}},
		{Name: "generators built from a directory", Files: map[string]string{
			"kustomization.yaml": "resources: [deploy.yaml]\ngenerators: [gens]\n", "deploy.yaml": deployment,
			"gens/kustomization.yaml": "resources: [gen.yaml]\n",
			"gens/gen.yaml":           "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: leak}\nfiles: ['{canaryURL}/x']\n"}, Args: render,
			Stderr: []string{"kustomization.yaml", "generators"}},
		{Name: "helm chart", Files: kustomization("resources: [deploy.yaml]\nhelmCharts:\n- name: x\n  repo: '{canaryURL}'\n"), Args: render,
			Stderr: []string{"kustomization.yaml", "helmCharts"}},
		{Name: "exec function", Files: map[string]string{
			"kustomization.yaml": "resources: [deploy.yaml]\ntransformers: [fn.yaml]\n", "deploy.yaml": deployment,
			"fn.yaml": "apiVersion: example.org/v1\nkind: Fn\nmetadata:\n  name: fn\n  annotations:\n    config.kubernetes.io/function: |\n      exec: {path: /bin/sh}\n"}, Args: render,
			Stderr: []string{"fn.yaml"}},
		{Name: "a local directory named like a GitHub repository is still local", Files: map[string]string{
			"kustomization.yaml":                     "resources: [deploy.yaml, github.com/org/repo]\n",
			"deploy.yaml":                            deployment,
			"github.com/org/repo/kustomization.yaml": "resources: [cm.yaml]\n",
			"github.com/org/repo/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: local, namespace: team-a}\n"}, Args: render,
			Succeeds: true},
	})
}
