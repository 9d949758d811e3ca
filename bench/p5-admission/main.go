package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"time"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/trustsync/trustsync/bench/internal/admissionload"
	"github.com/trustsync/trustsync/bench/internal/benchutil"
)

func main() {
	requests := flag.Int("requests", 20000, "admission requests per side")
	flag.Parse()

	mutator := admissionload.Mutator()
	ours := &admission.Webhook{Handler: mutator}
	baseline := &admission.Webhook{Handler: admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		var pod corev1.Pod
		if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		if _, err := mutator.Mutate(ctx, &pod); err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		}
		mutated, err := json.Marshal(&pod)
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		}
		return admission.PatchResponseFromRaw(req.Object.Raw, mutated)
	})}

	podJSON, review, err := admissionload.Review()
	if err != nil {
		benchutil.Fatal(err)
	}
	oursPatch := check(ours, review)
	basePatch := check(baseline, review)
	if !samePod(podJSON, oursPatch, basePatch) {
		benchutil.Fatal(fmt.Errorf("the two patches do not produce the same pod"))
	}
	fmt.Printf("pod %d bytes; trustsync patch %d ops, %d bytes; baseline patch %d ops, %d bytes\n",
		len(podJSON), count(oursPatch), len(oursPatch), count(basePatch), len(basePatch))

	run := func(name string, wh http.Handler) (p50, p99 time.Duration, rps float64) {
		for range 500 { // warm up
			admissionload.Serve(wh, review)
		}
		lat := make([]time.Duration, *requests)
		start := time.Now()
		for i := range lat {
			t := time.Now()
			admissionload.Serve(wh, review)
			lat[i] = time.Since(t)
		}
		total := time.Since(start)
		slices.Sort(lat)
		p50, p99 = lat[len(lat)/2], lat[len(lat)*99/100]
		rps = float64(len(lat)) / total.Seconds()
		fmt.Printf("%-9s %d requests: p50 %d µs, p99 %d µs, %.0f requests/s\n", name, len(lat), p50.Microseconds(), p99.Microseconds(), rps)
		return p50, p99, rps
	}
	_, baseP99, baseRPS := run("baseline", baseline)
	p50, p99, rps := run("trustsync", ours)
	benchutil.Result("P5",
		"requests", fmt.Sprint(*requests),
		"p50_us", fmt.Sprint(p50.Microseconds()),
		"p99_us", fmt.Sprint(p99.Microseconds()),
		"rps", fmt.Sprintf("%.0f", rps),
		"baseline_p99_us", fmt.Sprint(baseP99.Microseconds()),
		"baseline_rps", fmt.Sprintf("%.0f", baseRPS),
		"ratio", fmt.Sprintf("%.2f", rps/baseRPS),
	)
}

// check serves one request and returns its patch, failing unless the pod was patched.
func check(wh http.Handler, body []byte) []byte {
	rec := admissionload.Serve(wh, body)
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil || review.Response == nil || !review.Response.Allowed || len(review.Response.Patch) == 0 {
		benchutil.Fatal(fmt.Errorf("unexpected admission response (%v): %s", err, rec.Body.String()))
	}
	return review.Response.Patch
}

func samePod(pod, a, b []byte) bool {
	apply := func(p []byte) []byte {
		patch, err := jsonpatchapply.DecodePatch(p)
		if err != nil {
			benchutil.Fatal(err)
		}
		out, err := patch.Apply(pod)
		if err != nil {
			benchutil.Fatal(err)
		}
		return out
	}
	return jsonpatchapply.Equal(apply(a), apply(b))
}

func count(patch []byte) int {
	var ops []json.RawMessage
	_ = json.Unmarshal(patch, &ops)
	return len(ops)
}
