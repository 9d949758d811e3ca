package health

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/trustsync/trustsync/engine/objcache"
	"github.com/trustsync/trustsync/internal/testenv"
	"github.com/trustsync/trustsync/manifest"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: health, labels: {owner: test}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: example/web:1}]}`

func TestWait(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cache, err := objcache.New(env.Config, objcache.Options{Scheme: env.Scheme, FieldOwner: "test", OwnerLabel: "owner"})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = cache.Start(ctx) }()
	cache.WaitForCacheSync(ctx)

	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "health"}}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "health", Labels: map[string]string{"owner": "test"}}}
	if err := env.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	d := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(deployment), &d.Object); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	objects := []Object{
		{Ref: manifest.Ref{Kind: "ConfigMap", Namespace: "health", Name: "cfg"}, Version: "v1"},
		{Ref: manifest.Ref{Group: "apps", Kind: "Deployment", Namespace: "health", Name: "web"}, Version: "v1"},
	}

	r, err := Wait(ctx, cache, objects, time.Second, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.Healthy() || len(r.NotReady) != 1 || r.NotReady[0].Object.Name != "web" || r.NotReady[0].Status != status.InProgressStatus {
		t.Fatalf("before the rollout: %+v", r.NotReady)
	}

	if err := testenv.MarkRolledOut(ctx, env.Client, d); err != nil {
		t.Fatal(err)
	}
	r, err = Wait(ctx, cache, objects, 10*time.Second, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Healthy() {
		t.Fatalf("after the rollout: %s", r.Summary(5))
	}

	missing := append(objects, Object{Ref: manifest.Ref{Kind: "ConfigMap", Namespace: "health", Name: "gone"}, Version: "v1"})
	if r, _ = Check(ctx, cache, missing); r.Healthy() || r.NotReady[0].Status != status.NotFoundStatus {
		t.Fatalf("missing object: %+v", r.NotReady)
	}

}
