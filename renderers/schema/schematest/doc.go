// Package schematest proves, in its tests, that the render-time checks of
// renderers/schema and a real kube-apiserver with trustsync's CRDs (internal/testenv)
// accept and refuse the same objects of trustsync's and Kagenti's kinds. It holds no
// code: the API server is a test dependency only, which renderers must not link.
package schematest
