// Package redact is the one place that removes credentials from text before it leaves
// trustsync: errors of Git fetches and of Git host APIs, GitSource conditions, events
// and logs, pull-request comments and commit statuses, and what the CLI prints.
//
// A Redactor is told the secret values of one request (a password, a token, an SSH key)
// and hides each of them in every encoding a host, a proxy or a library may quote it in:
// raw, URL-escaped, JSON- and Go-quoted, base64 (standard and URL, padded or not, and
// URL-escaped), hex, and inside any base64 text that decodes to something holding it
// (the value of an Authorization: Basic header, base64 of user:password or :password).
// It also recognises credential shapes it was not told about: Authorization and token
// headers, Basic and Bearer values, URL userinfo, token query and form parameters, JSON
// members named like secrets, PEM private keys, JSON Web Tokens and the token formats of
// the common Git hosts.
//
// It imports only the standard library, so every layer may use it.
package redact
