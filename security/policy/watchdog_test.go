package policy

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// TestWatchdog: bounded decisions start no goroutine of their own (OPA would start one
// per evaluation), concurrent ones are each stopped, and the watchdog sleeps once none
// is left.
func TestWatchdog(t *testing.T) {
	ctx := context.Background()
	p := ap("team-b", "planner-agent", agentv1.ScopeClient, "inbound/request.rego",
		"package authbridge.client.inbound.request\n\nimport rego.v1\n\nallow if {\n\t"+timeBomb+"\n}\n")
	b, err := Build(testSet(p).Tiers("team-b", "planner-agent"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDecider(ctx, b, gitopsv1.Limits{RegoTimeout: &metav1.Duration{Duration: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	// The watchdog itself, started once.
	d.Decide(ctx, Points[1], Call{}.Input(Points[1]))

	const n = 8
	before := runtime.NumGoroutine()
	var (
		wg      sync.WaitGroup
		started sync.WaitGroup
		most    int
		results = make([]Decision, n)
	)
	started.Add(n)
	for i := range n {
		wg.Go(func() {
			started.Done()
			results[i] = d.Decide(ctx, Points[0], Call{}.Input(Points[0]))
		})
	}
	started.Wait()
	// Count while they run (each for the 300 ms of its bound).
	for seen := false; ; time.Sleep(time.Millisecond) {
		dog.mu.Lock()
		watching := len(dog.watches)
		dog.mu.Unlock()
		if watching == n {
			seen = true
		}
		if seen && watching < n {
			break
		}
		most = max(most, runtime.NumGoroutine()-before)
	}
	wg.Wait()
	if most > n {
		t.Errorf("%d goroutines for %d decisions: want one each, no more", most, n)
	}
	for i, r := range results {
		if r.Allow || r.Exceeded == nil || r.Exceeded.Limit != "limits.regoTimeout" {
			t.Errorf("decision %d: %+v, want a deny at limits.regoTimeout", i, r)
		}
	}
	for {
		dog.mu.Lock()
		idle := dog.idle && len(dog.watches) == 0
		dog.mu.Unlock()
		if idle {
			break
		}
		time.Sleep(time.Millisecond) // the test's own timeout fails it if the watchdog never sleeps
	}
}

// TestWatchContext: a watch ends with its context, and a context's earlier deadline is
// not reported as the Rego bound.
func TestWatchContext(t *testing.T) {
	l := gitopsv1.Limits{}
	ctx, cancel := context.WithCancel(context.Background())
	w := startWatch(ctx, time.Now().Add(time.Hour), 0, nil)
	cancel()
	for !w.Cancelled() {
		time.Sleep(time.Millisecond)
	}
	w.done()
	if le := w.limitError(&l); le != nil {
		t.Errorf("a cancelled context reported as %v", le)
	}

	short, stop := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer stop()
	stopped := make(chan struct{})
	w = startWatch(short, time.Now().Add(20*time.Millisecond), 0, func() { close(stopped) })
	<-stopped
	w.done()
	if le := w.limitError(&l); le != nil {
		t.Errorf("the context's deadline reported as %v", le)
	}
}

// Bombs: a loop that would run for minutes and a comprehension that would reach
// gigabytes.
const (
	timeBomb   = "count({[a, b, c] | some a in numbers.range(1, 1000); some b in numbers.range(1, 1000); some c in numbers.range(1, 1000)}) > 0"
	memoryBomb = "count([{\"a\": i, \"b\": [i, i, i]} | some i in numbers.range(1, 100000000)]) > 0"
)

// slowLimits let a memory bomb run into its memory bound well before its time bound.
func slowLimits(memory int64) gitopsv1.Limits {
	return gitopsv1.Limits{RegoTimeout: &metav1.Duration{Duration: time.Minute}, RegoMemory: resource.NewQuantity(memory, resource.BinarySI)}
}

// TestDecisionBounds: a decision stopped at a bound is a deny that names the limit, the
// policy, the field and the file.
func TestDecisionBounds(t *testing.T) {
	ctx := context.Background()
	bomb := func(cond string) *agentv1.AuthorizationPolicy {
		return ap("team-b", "planner-agent", agentv1.ScopeClient, "inbound/request.rego",
			"package authbridge.client.inbound.request\n\nimport rego.v1\n\nallow if {\n\t"+cond+"\n}\n")
	}
	tests := []struct {
		name   string
		policy *agentv1.AuthorizationPolicy
		limits gitopsv1.Limits
		want   string
	}{
		{"time", bomb(timeBomb), gitopsv1.Limits{RegoTimeout: &metav1.Duration{Duration: 100 * time.Millisecond}},
			"the Rego evaluation did not finish in time, over the bound 100ms (Platform limits.regoTimeout)"},
		{"memory", bomb(memoryBomb), slowLimits(16 << 20), "over the bound 16Mi (Platform limits.regoMemory)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Build(testSet(tt.policy).Tiers("team-b", "planner-agent"))
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewDecider(ctx, b, tt.limits)
			if err != nil {
				t.Fatal(err)
			}
			input := Call{}.Input(Points[0])
			got := d.Decide(ctx, Points[0], input)
			if got.Allow || got.Exceeded == nil {
				t.Fatalf("got %+v, want a deny stopped at a bound", got)
			}
			if !strings.Contains(got.Reason, "the evaluation was stopped: the Rego evaluation ") || !strings.Contains(got.Reason, tt.want) {
				t.Errorf("reason %q, want it to contain %q", got.Reason, tt.want)
			}
			e := d.Locate(ctx, Points[0], input, got.Exceeded)
			if e.Namespace != "team-b" || e.Name != "planner-agent" || e.Field != "spec.policies[0].content" || e.Path != "inbound/request.rego" || e.Line != 6 {
				t.Errorf("stopped at %s/%s %s %s:%d, want team-b/planner-agent spec.policies[0].content inbound/request.rego:6", e.Namespace, e.Name, e.Field, e.Path, e.Line)
			}
			if !strings.HasPrefix(e.Error(), "AuthorizationPolicy team-b/planner-agent: spec.policies[0].content: inbound/request.rego:6: the Rego evaluation ") || !strings.Contains(e.Error(), tt.want) {
				t.Errorf("located %q, want it to contain %q", e, tt.want)
			}
		})
	}

	// A decision whose caller gave up is a deny, not a bound.
	b, err := Build(testSet(bomb(timeBomb)).Tiers("team-b", "planner-agent"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDecider(ctx, b, gitopsv1.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if got := d.Decide(cancelled, Points[0], Call{}.Input(Points[0])); got.Allow || got.Exceeded != nil || !strings.Contains(got.Reason, "context canceled") {
		t.Errorf("cancelled: %+v", got)
	}
}

// TestTestBounds: a render-time Rego test stopped at a bound fails naming the limit, and
// the tests of a revision are bounded in total.
func TestTestBounds(t *testing.T) {
	ctx := context.Background()
	withTest := func(name, body string) *agentv1.AuthorizationPolicy {
		p := ap("team-b", name, agentv1.ScopeClient, "inbound/request.rego", "package authbridge.client.inbound.request\n\nallow := true\n",
			"inbound/request_test.rego", "package authbridge.client.inbound.request_test\n\nimport rego.v1\n\ntest_fine if true\n\ntest_bomb if {\n\t"+body+"\n}\n\ntest_after if true\n\ntest_last if true\n")
		return p
	}
	tests := []struct {
		name   string
		limits gitopsv1.Limits
		body   string
		want   string
	}{
		{"time, each test", gitopsv1.Limits{RegoTimeout: &metav1.Duration{Duration: 100 * time.Millisecond}}, timeBomb,
			"inbound/request_test.rego:7: test test_bomb failed: the Rego evaluation did not finish in time, over the bound 100ms (Platform limits.regoTimeout)"},
		{"memory, each test", slowLimits(16 << 20), memoryBomb,
			"inbound/request_test.rego:7: test test_bomb failed: the Rego evaluation grew the heap by"},
		{"time, all tests", gitopsv1.Limits{RegoTimeout: &metav1.Duration{Duration: time.Minute}, RegoTestsTimeout: &metav1.Duration{Duration: 200 * time.Millisecond}}, timeBomb,
			"test test_bomb failed: the Rego tests of the revision did not finish in time, over the bound 200ms (Platform limits.regoTestsTimeout)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, after := withTest("planner-agent", tt.body), withTest("z-after", "true")
			results, errs := Test(ctx, testSet(p, after), []*agentv1.AuthorizationPolicy{p, after}, tt.limits)
			var failed []string
			for _, r := range results {
				if e := r.Err(); e != nil {
					failed = append(failed, e.Error())
				}
			}
			if len(failed) != 1 || !strings.Contains(failed[0], tt.want) {
				t.Errorf("failures %q, want one containing %q", failed, tt.want)
			}
			if strings.Contains(tt.want, "regoTestsTimeout") {
				// The tests after it, in its bundle, are not reported one by one; the
				// policy after it never ran: one error says so.
				if len(errs) != 1 || errs[0].Name != "z-after" || !strings.Contains(errs[0].Error(), "its tests (and any after them) did not run: the Rego tests of the revision did not finish in time") {
					t.Errorf("errors %v", errs)
				}
			} else {
				// A stopped test stops the rest of its bundle's (test_fine may not have
				// run); the next policy's tests run.
				ran := 0
				for _, r := range results {
					if r.Name == "z-after" && r.Pass {
						ran++
					}
				}
				if len(errs) > 0 || ran != 4 {
					t.Errorf("errors %v, results %+v: want z-after's four tests passed", errs, results)
				}
			}
		})
	}
}

// BenchmarkWatch is what a decision pays for its bounds: registering a watch and
// unregistering it, alone and with decisions running in parallel.
func BenchmarkWatch(b *testing.B) {
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			startWatch(ctx, time.Now().Add(time.Second), 1<<20, nil).done()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				startWatch(ctx, time.Now().Add(time.Second), 1<<20, nil).done()
			}
		})
	})
}
