// Command p7-memory is benchmark P7: the resident memory of the `trustsync controller`
// process, read from /proc, once it has synced a repository of 1,000 generated agents
// (about 6,700 objects) from a real Gitea into a real API server.
package main
