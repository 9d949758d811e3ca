package dashboard

import (
	"net/http"

	"github.com/trustsync/trustsync/dashboard/web"
)

// staticFiles serves the embedded assets; they change only with the binary, so a
// browser revalidates them (no-cache) and gets 304s.
func staticFiles() http.Handler {
	fs := http.FileServerFS(web.Static())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		fs.ServeHTTP(w, r)
	})
}
