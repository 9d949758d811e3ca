package web

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var static embed.FS

// Static are the assets served under /static/.
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

// Templates parses every template once. Each view has a template of its name, the page's
// live part, and one of its name with "-controls", its filters; "layout" wraps them.
func Templates(now func() time.Time) (*template.Template, error) {
	return template.New("").Funcs(funcs(now)).ParseFS(templateFiles, "templates/*.html")
}

func funcs(now func() time.Time) template.FuncMap {
	return template.FuncMap{
		"ago": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return Ago(now().Sub(t))
		},
		"dur": func(d time.Duration) string {
			switch {
			case d <= 0:
				return "—"
			case d < time.Second:
				return fmt.Sprintf("%dms", d.Milliseconds())
			case d < time.Minute:
				return fmt.Sprintf("%.1fs", d.Seconds())
			}
			return d.Round(time.Second).String()
		},
		"rfc3339": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.RFC3339)
		},
		"path": url.PathEscape,
		"join": strings.Join,
		// query is a URL query of key, value pairs, empty values left out; already
		// encoded, it is marked so (else the template would encode its % again).
		"query": func(kv ...string) template.URL {
			v := url.Values{}
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i+1] != "" {
					v.Set(kv[i], kv[i+1])
				}
			}
			return template.URL(v.Encode()) //nolint:gosec // url.Values.Encode escapes every value
		},
		"pct": func(a, b int) int {
			if b == 0 {
				return 0
			}
			return a * 100 / b
		},
		"idx": func(s []string, i int) string { return s[i] },
	}
}

// Ago says a duration the way lists do: 45s, 12m, 3h, 5d.
func Ago(d time.Duration) string {
	switch {
	case d < 0:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
