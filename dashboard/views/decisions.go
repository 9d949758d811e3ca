package views

import (
	"cmp"
	"slices"
	"strings"

	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// DecisionSample is one series of the data plane's policy decision counter, summed per
// pod, decision point and result, as Prometheus has it.
type DecisionSample struct {
	Namespace, Pod, Point, Result string
	Count                         float64
}

// Decisions are the counters the agents page shows.
type Decisions struct {
	// Enabled is true when the dashboard has a metrics source to read.
	Enabled bool
	// Problem says why the counters could not be read; the page shows it instead.
	Problem string
	Samples []DecisionSample
}

// PointCount is one decision point's counts of one agent, over its pods.
type PointCount struct {
	Point                     string
	Allowed, Denied, NotReady int64
}

// AddDecisions gives the page's agents their pods' decision counts. A pod belongs to
// the agent whose workload made it, by the names controllers give pods: a
// Deployment's are <name>-<template hash>-<suffix>, a StatefulSet's <name>-<ordinal>,
// the other kinds' <name>-<suffix>.
func (p *AgentsPage) AddDecisions(d Decisions) {
	p.Decisions = d
	if !d.Enabled || d.Problem != "" {
		return
	}
	type workload struct{ namespace, kind, name string }
	rows := map[workload]int{}
	for i, r := range p.Rows {
		kind, name, _ := strings.Cut(r.Workload, "/")
		rows[workload{r.Namespace, kind, name}] = i
	}
	counts := map[int]map[string]*PointCount{}
	for _, s := range d.Samples {
		i, ok := -1, false
		for _, kind := range []string{"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"} {
			if name := workloadOfPod(kind, s.Pod); name != "" {
				if i, ok = rows[workload{s.Namespace, kind, name}]; ok {
					break
				}
			}
		}
		if !ok {
			continue
		}
		if counts[i] == nil {
			counts[i] = map[string]*PointCount{}
		}
		pc := counts[i][s.Point]
		if pc == nil {
			pc = &PointCount{Point: s.Point}
			counts[i][s.Point] = pc
		}
		n := int64(s.Count)
		switch s.Result {
		case sidecarconfig.ResultAllow:
			pc.Allowed += n
		case sidecarconfig.ResultDeny:
			pc.Denied += n
		case sidecarconfig.ResultNotReady:
			pc.NotReady += n
		}
	}
	for i, byPoint := range counts {
		for _, pc := range byPoint {
			p.Rows[i].Decisions = append(p.Rows[i].Decisions, *pc)
		}
		slices.SortFunc(p.Rows[i].Decisions, func(a, b PointCount) int { return cmp.Compare(a.Point, b.Point) })
	}
}

// workloadOfPod is the name of the kind's workload that pod would be a pod of, or ""
// when no workload of that kind names pods so.
func workloadOfPod(kind, pod string) string {
	rest, last, ok := cutLast(pod)
	if !ok {
		return ""
	}
	switch kind {
	case "Deployment":
		name, hash, ok := cutLast(rest)
		if !ok || len(last) != 5 || len(hash) > 10 || !alnum(hash) || !alnum(last) {
			return ""
		}
		return name
	case "StatefulSet":
		if strings.Trim(last, "0123456789") != "" {
			return ""
		}
		return rest
	default:
		if len(last) != 5 || !alnum(last) {
			return ""
		}
		return rest
	}
}

func cutLast(s string) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, '-')
	if i <= 0 || i == len(s)-1 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// alnum tells whether s is in the alphabet Kubernetes makes pod-template hashes and
// generated name suffixes of (k8s.io/apimachinery/pkg/util/rand): no vowels, so no
// word a user would name a workload with.
func alnum(s string) bool {
	return s != "" && strings.Trim(s, "bcdfghjklmnpqrstvwxz2456789") == ""
}
