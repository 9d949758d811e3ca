// Package headless starts a headless Chromium for the dashboard's browser tests and its
// benchmark: Debian's chromium, or $CHROMIUM. There is no fallback: without a browser,
// what needs one fails and says what to install.
package headless
