package webhook

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

func podCreation() admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "u", Kind: podInjection.kind, Resource: podInjection.resource, Operation: admissionv1.Create,
		Object: runtime.RawExtension{Raw: []byte(`{}`)},
	}}
}

// TestBoundedRefusesBeyondItsSlots: with every slot taken, a request is refused at once,
// and the slot frees when the work ends.
func TestBoundedRefusesBeyondItsSlots(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	b := bound(podInjection, admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		started <- struct{}{}
		<-release
		return admission.Allowed("")
	}), 2, time.Minute)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if resp := b.Handle(context.Background(), podCreation()); !resp.Allowed {
				t.Errorf("held request refused: %+v", resp.Result)
			}
		})
	}
	<-started
	<-started
	resp := b.Handle(context.Background(), podCreation())
	if resp.Allowed || resp.Result.Code != http.StatusTooManyRequests || !strings.Contains(resp.Result.Message, "2 requests in flight already") {
		t.Errorf("third request: allowed=%v %+v, want refused as busy", resp.Allowed, resp.Result)
	}
	close(release)
	wg.Wait()
	if resp := b.Handle(context.Background(), podCreation()); !resp.Allowed {
		t.Errorf("after the work ended: %+v, want admitted", resp.Result)
	}
}

// TestBoundedDeadline: a request not decided in time is refused with the reason, and its
// work keeps the slot until it ends, so slow requests cannot pile up.
func TestBoundedDeadline(t *testing.T) {
	release := make(chan struct{})
	var sawCancel bool
	done := make(chan struct{})
	b := bound(podInjection, admission.HandlerFunc(func(ctx context.Context, _ admission.Request) admission.Response {
		defer close(done)
		<-ctx.Done() // the handler's context ends at the deadline
		sawCancel = true
		<-release // and it may still take longer
		return admission.Allowed("")
	}), 1, 50*time.Millisecond)
	resp := b.Handle(context.Background(), podCreation())
	if resp.Allowed || resp.Result.Code != http.StatusGatewayTimeout || !strings.Contains(resp.Result.Message, "not decided within 50ms") {
		t.Fatalf("slow request: allowed=%v %+v, want refused at the deadline", resp.Allowed, resp.Result)
	}
	if again := b.Handle(context.Background(), podCreation()); again.Allowed || again.Result.Code != http.StatusTooManyRequests {
		t.Errorf("while the slow work runs: %+v, want busy", again.Result)
	}
	close(release)
	<-done
	if !sawCancel {
		t.Error("the handler's context was not cancelled at the deadline")
	}
}

func TestBoundedRecoversPanics(t *testing.T) {
	b := bound(podInjection, admission.HandlerFunc(func(context.Context, admission.Request) admission.Response { panic("boom") }), 1, time.Minute)
	resp := b.Handle(context.Background(), podCreation())
	if resp.Allowed || resp.Result.Code != http.StatusInternalServerError {
		t.Errorf("panicking handler: %+v, want refused", resp.Result)
	}
	if resp := b.Handle(context.Background(), podCreation()); resp.Result.Code != http.StatusInternalServerError {
		t.Errorf("the slot was not freed after a panic: %+v", resp.Result)
	}
}
