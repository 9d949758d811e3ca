// Command p5-admission is benchmark P5: AuthBridge injection admission requests handled
// in process — AdmissionReview decoded, pod mutated, patch built, response encoded —
// through controller-runtime's admission.Webhook exactly as the server runs it.
//
// The baseline in the same run makes the same mutation but builds its patch the common
// way: marshal the mutated pod and diff it against the pod as sent
// (admission.PatchResponseFromRaw, i.e. jsonpatch.CreatePatch). Both patches are checked
// to produce the same pod. ratio = trustsync requests/s ÷ baseline requests/s.
package main
