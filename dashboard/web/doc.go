// Package web holds the dashboard's templates and static assets, embedded in the binary:
// no CDN, nothing fetched at run time. Templates are parsed once.
package web
