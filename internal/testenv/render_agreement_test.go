package testenv

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/renderers/schema"
)

// TestRenderAgreesWithTheAPIServer gives the same objects to the render-time checks
// (renderers/schema) and to a real kube-apiserver with trustsync's CRDs, as a strict
// server-side dry-run create: each must accept what the other accepts and refuse what
// it refuses, and every field the render names must be one the API server names.
func TestRenderAgreesWithTheAPIServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "agree"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	const (
		runtime = `apiVersion: agent.kagenti.dev/v1alpha1
kind: AgentRuntime
metadata: {name: chat, namespace: agree}
spec:
  type: agent
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: chat}
`
		policy = `apiVersion: agent.kagenti.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: p, namespace: agree}
spec:
  scope: namespace
  policies: [{path: inbound/request.rego, content: "package authbridge.ns.inbound.request\n"}]
`
		sync = `apiVersion: gitops.trustsync.dev/v1alpha1
kind: Sync
metadata: {name: s, namespace: agree}
spec:
  sourceRef: {name: src}
  path: ./deploy
`
		source = `apiVersion: gitops.trustsync.dev/v1alpha1
kind: GitSource
metadata: {name: src, namespace: agree}
spec:
  url: https://git.example/agents.git
  ref: {branch: main}
`
		deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: chat, namespace: agree}
spec:
  selector: {matchLabels: {app: chat}}
  template:
    metadata: {labels: {app: chat}}
    spec:
      containers:
      - name: agent
        image: example/chat:1
        ports: [{containerPort: 8080}]
`
		statefulSet = `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: cal, namespace: agree}
spec:
  selector: {matchLabels: {app: cal}}
  template:
    metadata: {labels: {app: cal}}
    spec:
      containers: [{name: tool, image: example/cal:1}]
`
		service = `apiVersion: v1
kind: Service
metadata: {name: chat, namespace: agree}
spec:
  selector: {app: chat}
  ports: [{port: 80, targetPort: 8080}]
`
		configMap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: agree}\ndata: {a: b}\n"
		long      = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" // 254
	)
	r := strings.NewReplacer
	docs := map[string]string{
		"good AgentRuntime":                  runtime,
		"good AuthorizationPolicy":           policy,
		"good Sync":                          sync,
		"good GitSource":                     source,
		"good Deployment":                    deployment,
		"good StatefulSet":                   statefulSet,
		"good Service":                       service,
		"good ConfigMap":                     configMap,
		"good ServiceAccount":                "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: chat, namespace: agree}\n",
		"ClusterRole with a colon":           "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: \"agree:reader\"}\nrules: []\n",
		"kind typo":                          r("kind: AgentRuntime", "kind: AgentRunTime").Replace(runtime),
		"British spelling":                   r("kind: AuthorizationPolicy", "kind: AuthorisationPolicy").Replace(policy),
		"unserved version":                   r("agent.kagenti.dev/v1alpha1", "agent.kagenti.dev/v1").Replace(runtime),
		"CRD enum":                           runtime + "  mtlsMode: mutual\n",
		"CRD minLength":                      r("name: chat}\n", "name: \"\"}\n").Replace(runtime),
		"CRD CEL rule":                       runtime + "  authBridgeMode: envoy-sidecar\n  tlsBridgeMode: enabled\n",
		"CRD CEL rule, one of refs":          r("ref: {branch: main}", "ref: {branch: main, tag: v1}").Replace(source),
		"CRD pattern":                        r("inbound/request.rego", "../x.rego").Replace(policy),
		"empty audience":                     runtime + "  identity: {allowedAudiences: [\"\"]}\n",
		"unknown field in a CR":              sync + "  prunne: true\n",
		"CR name":                            r("name: chat, namespace: agree", "name: Chat_1, namespace: agree").Replace(runtime),
		"254-character CR name":              r("name: chat, namespace: agree", "name: "+long+", namespace: agree").Replace(runtime),
		"254-character ConfigMap name":       r("name: c,", "name: "+long+",").Replace(configMap),
		"Service name starting with a digit": r("name: chat, namespace", "name: 1chat, namespace").Replace(service),
		"Service name with a dot":            r("name: chat, namespace", "name: chat.v1, namespace").Replace(service),
		"StatefulSet name with a dot":        r("name: cal, namespace", "name: cal.v1, namespace").Replace(statefulSet),
		"Namespace name with a dot":          "apiVersion: v1\nkind: Namespace\nmetadata: {name: agree.x}\n",
		"label value too long":               "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: agree, labels: {x: " + long[:64] + "}}\n",
		"bad annotation key":                 "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: agree, annotations: {\"/x\": v}}\n",
		"negative container port":            r("containerPort: 8080", "containerPort: -1").Replace(deployment),
		"host port too high":                 r("containerPort: 8080", "containerPort: 8080, hostPort: 70000").Replace(deployment),
		"negative replicas":                  r("  selector:", "  replicas: -1\n  selector:").Replace(deployment),
		"containers: null":                   r("      containers: [{name: tool, image: example/cal:1}]", "      containers: null").Replace(statefulSet),
		"containers: []":                     r("      containers: [{name: tool, image: example/cal:1}]", "      containers: []").Replace(statefulSet),
		"container without image":            r("image: example/cal:1", "image: \"\"").Replace(statefulSet),
		"container name not a label":         r("name: tool", "name: Tool_1").Replace(statefulSet),
		"duplicate container names":          r("[{name: tool, image: example/cal:1}]", "[{name: tool, image: a}, {name: tool, image: b}]").Replace(statefulSet),
		"mount of no volume":                 r("image: example/cal:1}", "image: example/cal:1, volumeMounts: [{name: v, mountPath: /v}]}").Replace(statefulSet),
		"empty env name":                     r("image: example/cal:1}", "image: example/cal:1, env: [{name: \"\", value: x}]}").Replace(statefulSet),
		"request over limit":                 r("image: example/cal:1}", "image: example/cal:1, resources: {requests: {cpu: 2}, limits: {cpu: 1}}}").Replace(statefulSet),
		"selector not matching":              r("selector: {matchLabels: {app: chat}}", "selector: {matchLabels: {app: other}}").Replace(deployment),
		"empty selector":                     r("selector: {matchLabels: {app: chat}}", "selector: {}").Replace(deployment),
		"restartPolicy Never":                r("    spec:\n      containers:", "    spec:\n      restartPolicy: Never\n      containers:").Replace(deployment),
		"serviceAccountName invalid":         r("    spec:\n      containers:", "    spec:\n      serviceAccountName: Not_Valid\n      containers:").Replace(deployment),
		"Service port 0":                     r("port: 80,", "port: 0,").Replace(service),
		"Service targetPort too high":        r("targetPort: 8080", "targetPort: 70000").Replace(service),
		"Service ports without names":        r("ports: [{port: 80, targetPort: 8080}]", "ports: [{port: 80}, {port: 81}]").Replace(service),
		"Service without ports":              r("  ports: [{port: 80, targetPort: 8080}]\n", "").Replace(service),
		"headless Service without port":      r("  ports: [{port: 80, targetPort: 8080}]\n", "  clusterIP: None\n").Replace(service),
		"ConfigMap key with a slash":         r("data: {a: b}", "data: {\"a/b\": c}").Replace(configMap),
		"unknown field in a Deployment":      r("spec:\n  selector", "spec:\n  replica: 2\n  selector").Replace(deployment),
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				t.Fatal(err)
			}
			renderErr := schema.Check([]*manifest.Object{manifest.New(u.DeepCopy(), "x.yaml")})
			serverErr := env.Client.Create(ctx, u, client.DryRunAll, client.FieldValidation(metav1.FieldValidationStrict))
			switch {
			case renderErr == nil && serverErr != nil:
				t.Fatalf("render accepts what the API server refuses: %v", serverErr)
			case renderErr != nil && serverErr == nil:
				t.Fatalf("render refuses what the API server accepts: %v", renderErr)
			case renderErr == nil:
				return
			}
			if meta.IsNoMatchError(serverErr) || strings.Contains(serverErr.Error(), "no matches for kind") {
				return // the API server knows no such kind or version; render said which field
			}
			for _, e := range manifest.Errors(renderErr) {
				var me *manifest.Error
				if !errors.As(e, &me) || me.Field == "" {
					t.Errorf("render error names no field: %v", e)
					continue
				}
				if !strings.Contains(serverErr.Error(), me.Field) {
					t.Errorf("render names field %s, the API server does not:\n  render: %v\n  server: %v", me.Field, e, serverErr)
				}
			}
		})
	}
}
