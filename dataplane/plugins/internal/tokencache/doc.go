// Package tokencache is the bounded cache of the token plugins: jwt-validation's
// verified tokens and token-exchange's exchanged ones, each kept until it expires.
// It imports nothing of trustsync.
package tokencache
