package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fluxcd/pkg/runtime/leaderelection"
	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/bench/internal/benchutil"
	"github.com/trustsync/trustsync/internal/stack"
)

// The repository every Sync and GitSource of both phases reads.
const repoName = "fleet"

func main() {
	binary := flag.String("trustsync", "bin/trustsync", "trustsync binary (make build)")
	syncs := flag.Int("syncs", 2000, "Syncs in each phase")
	namespaces := flag.Int("namespaces", 20, "namespaces each phase's Syncs are spread over, one GitSource each; even, half to each shard")
	timeout := flag.Duration("timeout", 15*time.Minute, "bound of each phase's wait for every Sync Ready")
	flag.Parse()
	log.SetLogger(logr.Discard())
	if *syncs < 1 || *namespaces < 2 || *namespaces%2 != 0 || *namespaces > *syncs {
		benchutil.Fatal(fmt.Errorf("-syncs %d -namespaces %d: want an even number of namespaces, at least 2 and at most the Syncs", *syncs, *namespaces))
	}
	if err := run(*binary, *syncs, *namespaces, *timeout); err != nil {
		benchutil.Fatal(err)
	}
}

// phase is one measured phase: the controllers reconciling it by the shard label they
// select ("" for the one replica that selects everything).
type phase struct {
	name   string // namespaces are <name>-00, <name>-01, …
	shards []string
	// selector selects the phase's GitSources and Syncs, for the watch and the lists.
	selector string
}

func (p phase) namespace(i int) string { return fmt.Sprintf("%s-%02d", p.name, i) }

// shard of namespace i: the shards take the namespaces in turn.
func (p phase) shard(i int) string {
	if len(p.shards) == 0 {
		return ""
	}
	return p.shards[i%len(p.shards)]
}

// outcome is a phase's time from creating its Syncs to all Ready, each controller's
// time to its own Syncs Ready, and the controllers' memory then.
type outcome struct {
	all     time.Duration
	byShard map[string]time.Duration
	count   map[string]int // Syncs by shard
	// cpu is the controllers' CPU seconds over the timed part, server the API server's
	// and etcd's, bench this program's (creating and polling), busy the machine's busy
	// share of its cores then (other work on the machine included).
	cpu, server, bench, busy float64
	idle, rss, peak          []float64
}

func run(binary string, n, namespaces int, timeout time.Duration) error {
	ctx := context.Background()
	total := time.Now()
	s, err := stack.Start(ctx, binary)
	if err != nil {
		return err
	}
	defer s.Stop()
	// The benchmark's own client, not the stack's: creating thousands of objects at
	// client-go's default 5 requests a second would take longer than reconciling them.
	cfg := rest.CopyConfig(s.Env.Config)
	cfg.QPS, cfg.Burst = 2000, 2000
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: s.Env.Scheme})
	if err != nil {
		return err
	}

	cloneURL, err := s.Gitea.CreateRepo(ctx, repoName)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "trustsync-p12-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	for i := range n {
		// No namespace: each Sync's targetNamespace gives its own, so both phases apply
		// the same tree into namespaces of their own.
		cm := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\ndata: {index: %q}\n", syncName(i), fmt.Sprint(i))
		if err := os.MkdirAll(filepath.Join(work, syncName(i)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(work, syncName(i), "config.yaml"), []byte(cm), 0o644); err != nil {
			return err
		}
	}
	repo, err := stack.NewRepo(work, cloneURL, s.Gitea.User, s.Gitea.Token)
	if err != nil {
		return err
	}
	if _, err := repo.Commit(fmt.Sprintf("%d trees", n)); err != nil {
		return err
	}
	if err := repo.Push(); err != nil {
		return err
	}
	fmt.Printf("pushed %d directories of one ConfigMap each; %d namespaces of about %d Syncs a phase\n", n, namespaces, n/namespaces)

	// Phase 1: the stack's own controller, the only one running, selects everything.
	one := phase{name: "one", selector: "!" + gitopsv1.LabelShardKey}
	oneOut, err := measure(ctx, cfg, c, one, cloneURL, n, namespaces, timeout,
		[]int{s.Controller.Process.Pid}, func() string { return s.LogTail() })
	if err != nil {
		return fmt.Errorf("one replica: %w", err)
	}
	if err := s.KillController(); err != nil {
		return err
	}
	fmt.Printf("one replica: %d Syncs Ready in %.1f s; controller %.0f MiB (peak %.0f, %.0f before the Syncs); %s\n",
		n, oneOut.all.Seconds(), oneOut.rss[0], oneOut.peak[0], oneOut.idle[0], oneOut.cpuLine())

	// Phase 2: two shards, each its own Lease; phase 1's objects stay in the API server.
	two := phase{name: "shards", shards: []string{"shard1", "shard2"}, selector: gitopsv1.LabelShardKey}
	var pids []int
	var logs []string
	for _, shard := range two.shards {
		selector := gitopsv1.LabelShardKey + "=" + shard
		cmd, err := s.StartController(shard+".log", "--watch-label-selector", selector, "--leader-elect")
		if err != nil {
			return err
		}
		pids, logs = append(pids, cmd.Process.Pid), append(logs, shard+".log")
		if err := waitLease(ctx, c, leaderelection.GenerateID("trustsync-controller", selector), 2*time.Minute); err != nil {
			return fmt.Errorf("%s: %w\n%s's log: %s", shard, err, shard, s.LogTailOf(shard+".log"))
		}
	}
	twoOut, err := measure(ctx, cfg, c, two, cloneURL, n, namespaces, timeout, pids, func() string {
		var b strings.Builder
		for i, l := range logs {
			fmt.Fprintf(&b, "\n%s's log: %s", two.shards[i], s.LogTailOf(l))
		}
		return b.String()
	})
	if err != nil {
		return fmt.Errorf("two shards: %w", err)
	}
	for i, shard := range two.shards {
		fmt.Printf("%s: its %d Syncs Ready in %.1f s; controller %.0f MiB (peak %.0f, %.0f before the Syncs)\n",
			shard, twoOut.count[shard], twoOut.byShard[shard].Seconds(), twoOut.rss[i], twoOut.peak[i], twoOut.idle[i])
	}
	ratio := oneOut.all.Seconds() / twoOut.all.Seconds()
	fmt.Printf("two shards: %d Syncs Ready in %.1f s, one replica's %.1f s over %.2f; %s (the whole run took %.0f s)\n",
		n, twoOut.all.Seconds(), oneOut.all.Seconds(), ratio, twoOut.cpuLine(), time.Since(total).Seconds())

	kv := []string{"syncs", fmt.Sprint(n), "namespaces", fmt.Sprint(namespaces),
		"one_s", fmt.Sprintf("%.1f", oneOut.all.Seconds()), "shards_s", fmt.Sprintf("%.1f", twoOut.all.Seconds()),
		"ratio", fmt.Sprintf("%.2f", ratio)}
	for _, shard := range two.shards {
		kv = append(kv, shard+"_s", fmt.Sprintf("%.1f", twoOut.byShard[shard].Seconds()))
	}
	kv = append(kv, "one_rss_mb", fmt.Sprintf("%.0f", oneOut.rss[0]), "shard_rss_mb", fmt.Sprintf("%.0f", mean(twoOut.rss)),
		"one_peak_mb", fmt.Sprintf("%.0f", oneOut.peak[0]), "shard_peak_mb", fmt.Sprintf("%.0f", mean(twoOut.peak)),
		"one_idle_mb", fmt.Sprintf("%.0f", oneOut.idle[0]), "shard_idle_mb", fmt.Sprintf("%.0f", mean(twoOut.idle)),
		"one_cpu_s", fmt.Sprintf("%.1f", oneOut.cpu), "shards_cpu_s", fmt.Sprintf("%.1f", twoOut.cpu),
		"one_apiserver_cpu_s", fmt.Sprintf("%.1f", oneOut.server), "shards_apiserver_cpu_s", fmt.Sprintf("%.1f", twoOut.server),
		"one_busy_pct", fmt.Sprintf("%.0f", 100*oneOut.busy), "shards_busy_pct", fmt.Sprintf("%.0f", 100*twoOut.busy))
	benchutil.Result("P12", kv...)
	return nil
}

// cpuLine says where the phase's CPU went.
func (o outcome) cpuLine() string {
	return fmt.Sprintf("CPU: controllers %.1f s, API server and etcd %.1f s, this program %.1f s; the machine's %d cores %.0f%% busy",
		o.cpu, o.server, o.bench, runtime.NumCPU(), 100*o.busy)
}

func syncName(i int) string { return fmt.Sprintf("s%04d", i) }

func mean(v []float64) float64 {
	var sum float64
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// measure creates the phase's namespaces and GitSources and waits for every source's
// first fetch; then creates the Syncs and times them to all Ready, watching them, at
// most timeout. It reads the controllers' memory (pids) once the sources are fetched and
// once the Syncs are Ready, and what CPU and API requests the timed part took; logs is
// the controllers' logs' ends, for errors.
func measure(ctx context.Context, cfg *rest.Config, c client.WithWatch, p phase, url string, n, namespaces int, timeout time.Duration, pids []int, logs func() string) (outcome, error) {
	var out outcome
	shardLabels := func(i int) map[string]string {
		if shard := p.shard(i); shard != "" {
			return map[string]string{gitopsv1.LabelShardKey: shard}
		}
		return nil
	}
	for i := range namespaces {
		ns := p.namespace(i)
		for _, o := range []client.Object{
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			&gitopsv1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: repoName, Labels: shardLabels(i)},
				Spec: gitopsv1.GitSourceSpec{URL: url, Interval: metav1.Duration{Duration: time.Hour}}},
		} {
			if err := c.Create(ctx, o); err != nil {
				return out, err
			}
		}
	}
	selector, err := labels.Parse(p.selector)
	if err != nil {
		return out, err
	}
	inPhase := client.MatchingLabelsSelector{Selector: selector}
	if err := waitFetched(ctx, c, p, inPhase, namespaces, logs); err != nil {
		return out, err
	}
	for _, pid := range pids {
		rss, _, err := stack.ProcessMemory(pid)
		if err != nil {
			return out, err
		}
		out.idle = append(out.idle, rss)
	}

	// The watch starts before the first Sync exists, so it sees every Sync's every change.
	var list gitopsv1.SyncList
	if err := c.List(ctx, &list, inPhase); err != nil {
		return out, err
	}
	want := map[string]int{}
	for i := range n {
		want[p.shard(i%namespaces)]++
	}
	servers, err := children("kube-apiserver", "etcd")
	if err != nil {
		return out, err
	}
	before, err := snapshot(ctx, cfg, pids, servers)
	if err != nil {
		return out, err
	}
	start := time.Now()
	created := make(chan error, 1)
	go func() {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(32)
		for i := range n {
			g.Go(func() error {
				ns := p.namespace(i % namespaces)
				return c.Create(gctx, &gitopsv1.Sync{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: syncName(i), Labels: shardLabels(i % namespaces)},
					Spec: gitopsv1.SyncSpec{SourceRef: gitopsv1.SourceReference{Name: repoName}, Path: "./" + syncName(i), TargetNamespace: ns,
						Interval: metav1.Duration{Duration: time.Hour}, Prune: true, Wait: false},
				})
			})
		}
		created <- g.Wait()
	}()
	if out.all, out.byShard, err = waitReady(ctx, c, p, inPhase, list.ResourceVersion, want, start, timeout, created); err != nil {
		return out, fmt.Errorf("%w%s", err, logs())
	}
	out.count = want
	after, err := snapshot(ctx, cfg, pids, servers)
	if err != nil {
		return out, err
	}
	out.cpu, out.server, out.bench = after.controllers-before.controllers, after.servers-before.servers, after.bench-before.bench
	out.busy = (after.busy - before.busy) / (after.total - before.total)
	var requests []string
	for k, v := range after.requests {
		if d := v - before.requests[k]; d >= float64(n)/10 {
			requests = append(requests, fmt.Sprintf("%.0f %s", d, k))
		}
	}
	slices.Sort(requests)
	fmt.Printf("%s: the API server served, while timed (%d Syncs): %s\n", p.name, n, strings.Join(requests, ", "))
	for _, pid := range pids {
		rss, peak, err := stack.ProcessMemory(pid)
		if err != nil {
			return out, err
		}
		out.rss, out.peak = append(out.rss, rss), append(out.peak, peak)
	}
	return out, nil
}

// waitFetched waits until each of the phase's GitSources has fetched, at most 2 min.
func waitFetched(ctx context.Context, c client.Client, p phase, inPhase client.ListOption, namespaces int, logs func() string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var list gitopsv1.GitSourceList
		if err := c.List(ctx, &list, inPhase); err != nil {
			return err
		}
		k := 0
		for _, src := range list.Items {
			if strings.HasPrefix(src.Namespace, p.name+"-") && src.Status.Artifact != nil {
				k++
			}
		}
		if k == namespaces {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after 2 min %d of %d GitSources fetched%s", k, namespaces, logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitReady watches the phase's Syncs from resource version rv until every one is Ready
// and created reports all created, at most timeout from start: a watch, not a List
// polled, because a List of 2,000 Syncs costs the API server, which shares the cores with
// the controllers, about as much as half a second of one core. It returns the time to all
// Ready and each shard's time to the last of its want[shard] Syncs Ready.
func waitReady(ctx context.Context, c client.WithWatch, p phase, inPhase client.ListOption, rv string, want map[string]int,
	start time.Time, timeout time.Duration, created <-chan error) (time.Duration, map[string]time.Duration, error) {
	total := 0
	for _, k := range want {
		total += k
	}
	ready := map[string]bool{}    // by namespace/name
	failed := map[string]string{} // Ready False: namespace/name to reason and message
	readyBy := map[string]int{}   // by shard
	byShard := map[string]time.Duration{}
	allCreated := false
	observe := func(sy *gitopsv1.Sync) {
		if !strings.HasPrefix(sy.Namespace, p.name+"-") {
			return
		}
		key, shard := sy.Namespace+"/"+sy.Name, sy.Labels[gitopsv1.LabelShardKey]
		cond := meta.FindStatusCondition(sy.Status.Conditions, gitopsv1.ReadyCondition)
		isReady := cond != nil && cond.Status == metav1.ConditionTrue
		if cond != nil && cond.Status == metav1.ConditionFalse {
			failed[key] = cond.Reason + ": " + cond.Message
		} else {
			delete(failed, key)
		}
		switch {
		case isReady && !ready[key]:
			ready[key] = true
			if readyBy[shard]++; readyBy[shard] == want[shard] {
				byShard[shard] = time.Since(start)
			}
		case !isReady && ready[key]:
			delete(ready, key)
			readyBy[shard]--
			delete(byShard, shard)
		}
	}
	progress := func() string {
		keys := slices.Sorted(maps.Keys(failed))
		first := "none"
		if len(keys) > 0 {
			first = keys[0] + ": " + failed[keys[0]]
		}
		return fmt.Sprintf("%d of %d Syncs Ready, %d Ready False (first: %s)", len(ready), total, len(failed), first)
	}
	deadline := time.NewTimer(time.Until(start.Add(timeout)))
	defer deadline.Stop()
	report := time.NewTicker(10 * time.Second)
	defer report.Stop()
	for {
		w, err := c.Watch(ctx, &gitopsv1.SyncList{}, inPhase, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
		if err != nil {
			return 0, nil, fmt.Errorf("watching the Syncs: %w", err)
		}
		closed := false
		for !closed {
			select {
			case ev, ok := <-w.ResultChan():
				switch {
				case !ok: // the API server ends watches now and then: go on from rv
					closed = true
				case ev.Type == watch.Error:
					w.Stop()
					err := apierrors.FromObject(ev.Object)
					if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
						return 0, nil, fmt.Errorf("watching the Syncs: %w", err)
					}
					// rv is too old to watch from: list again.
					var list gitopsv1.SyncList
					if err := c.List(ctx, &list, inPhase); err != nil {
						return 0, nil, err
					}
					for i := range list.Items {
						observe(&list.Items[i])
					}
					rv, closed = list.ResourceVersion, true
				default:
					if m, err := meta.Accessor(ev.Object); err == nil {
						rv = m.GetResourceVersion()
					}
					if sy, ok := ev.Object.(*gitopsv1.Sync); ok && ev.Type != watch.Deleted && ev.Type != watch.Bookmark {
						observe(sy)
					}
				}
			case err := <-created:
				if err != nil {
					w.Stop()
					return 0, nil, fmt.Errorf("creating the Syncs: %w", err)
				}
				allCreated = true
				fmt.Printf("%s: created %d Syncs in %.1f s\n", p.name, total, time.Since(start).Seconds())
			case <-report.C:
				fmt.Printf("%s: %3.0f s, %s\n", p.name, time.Since(start).Seconds(), progress())
			case <-deadline.C:
				w.Stop()
				return 0, nil, fmt.Errorf("after %s %s", timeout, progress())
			}
			if allCreated && len(ready) == total {
				w.Stop()
				return time.Since(start), byShard, nil
			}
		}
		w.Stop()
	}
}

// usage is what the timed part's CPU and API requests are read from.
type usage struct {
	// controllers, servers (the API server and etcd) and bench (this program) are CPU
	// seconds; busy and total the machine's ticks; requests by apiRequests.
	controllers, servers, bench float64
	busy, total                 float64
	requests                    map[string]float64
}

func snapshot(ctx context.Context, cfg *rest.Config, pids, servers []int) (usage, error) {
	var u usage
	var err error
	if u.controllers, err = processesCPU(pids); err != nil {
		return u, err
	}
	if u.servers, err = processesCPU(servers); err != nil {
		return u, err
	}
	if u.bench, err = processesCPU([]int{os.Getpid()}); err != nil {
		return u, err
	}
	if u.busy, u.total, err = machineCPU(); err != nil {
		return u, err
	}
	u.requests, err = apiRequests(ctx, cfg)
	return u, err
}

// waitLease waits until the Lease is held, at most d.
func waitLease(ctx context.Context, c client.Client, name string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		l := &coordinationv1.Lease{}
		err := c.Get(ctx, client.ObjectKey{Namespace: gitopsv1.DefaultPlatform().Namespace, Name: name}, l)
		if err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s the Lease %s is not held (last error: %v)", d, name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux
// architecture Go builds for.
const clockTicks = 100

// processesCPU is the CPU time, user and system, the processes have used, in seconds
// (/proc/<pid>/stat).
func processesCPU(pids []int) (float64, error) {
	var sum float64
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, err
		}
		// After the command's name in parentheses: state is field 3, utime 14, stime 15.
		i := strings.LastIndexByte(string(data), ')')
		f := strings.Fields(string(data[i+1:]))
		if i < 0 || len(f) < 13 {
			return 0, fmt.Errorf("/proc/%d/stat: %q", pid, data)
		}
		for _, v := range f[11:13] {
			t, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
			}
			sum += t / clockTicks
		}
	}
	return sum, nil
}

// machineCPU is the machine's busy and total CPU time so far, over all cores, in ticks
// (/proc/stat); idle and iowait count as not busy.
func machineCPU() (busy, total float64, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: %q", line)
	}
	for i, v := range f[1:] {
		t, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		if i >= 8 { // guest and guest_nice are counted in user and nice already
			break
		}
		total += t
		if i != 3 && i != 4 { // idle, iowait
			busy += t
		}
	}
	return busy, total, nil
}

// children are this program's child processes of the given command names: envtest's
// kube-apiserver and etcd.
func children(names ...string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone since the listing
		}
		open, end := strings.IndexByte(string(data), '('), strings.LastIndexByte(string(data), ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(string(data[end+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) && slices.Contains(names, string(data[open+1:end])) {
			out = append(out, pid)
		}
	}
	if len(out) != len(names) {
		return nil, fmt.Errorf("found %d processes of %v among this program's children, want one each", len(out), names)
	}
	return out, nil
}

// apiRequests scrapes the API server's apiserver_request_total: the requests it has
// served, by verb, resource and subresource (dry runs apart).
func apiRequests(ctx context.Context, cfg *rest.Config) (map[string]float64, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	samples, err := stack.Scrape(ctx, hc, strings.TrimSuffix(cfg.Host, "/")+"/metrics", 64<<20)
	if err != nil {
		return nil, fmt.Errorf("the API server's metrics: %w", err)
	}
	out := map[string]float64{}
	for sample, v := range samples {
		tail, ok := strings.CutPrefix(sample, "apiserver_request_total{")
		if !ok {
			continue
		}
		l := map[string]string{}
		for kv := range strings.SplitSeq(strings.TrimSuffix(tail, "}"), ",") {
			k, v, _ := strings.Cut(kv, "=")
			l[k] = strings.Trim(v, `"`)
		}
		key := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			key += "/" + l["subresource"]
		}
		if l["dry_run"] != "" {
			key += " (dry run)"
		}
		out[key] += v
	}
	return out, nil
}
