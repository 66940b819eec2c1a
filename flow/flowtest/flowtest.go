// Package flowtest makes realistic flow records for tests and benchmarks.
package flowtest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

// Start is the end of the first interval of generated records.
var Start = time.Date(2026, 11, 25, 12, 0, 1, 0, time.UTC)

var (
	namespaces = []string{"gitlab", "metrics", "kube-system", "shop", "payments", "search"}
	zones      = []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"}
	kinds      = []string{"Deployment", "StatefulSet", "DaemonSet", "CronJob"}
	dstKinds   = []string{"Deployment", "StatefulSet", "service", "node", "private", "internet"}
	processes  = []string{"ruby", "gitlab-runner", "prometheus", "node_exporter", "nginx", "java", "envoy", "coredns"}
	domains    = []string{"", "", "api.github.com", "registry.npmjs.org", "s3.eu-west-1.amazonaws.com"}
)

// Flows returns n distinct flows (identity fields only) drawn from a small
// cluster: six namespaces, three zones, a few workloads per namespace.
func Flows(n int, seed uint64) []flow.Record {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]flow.Record, n)
	for i := range out {
		ns := namespaces[rng.IntN(len(namespaces))]
		dstNS := namespaces[rng.IntN(len(namespaces))]
		wl := fmt.Sprintf("%s-app-%d", ns, rng.IntN(5))
		dstKind := dstKinds[rng.IntN(len(dstKinds))]
		r := flow.Record{
			Protocol:        []string{flow.ProtocolTCP, flow.ProtocolTCP, flow.ProtocolUDP}[rng.IntN(3)],
			Process:         processes[rng.IntN(len(processes))],
			PID:             int64(1000 + rng.IntN(5000)),
			ContainerName:   "main",
			PodName:         fmt.Sprintf("%s-%05d", wl, rng.IntN(20)),
			NS:              ns,
			Zone:            zones[rng.IntN(len(zones))],
			WorkloadName:    wl,
			WorkloadKind:    kinds[rng.IntN(len(kinds))],
			NodeName:        fmt.Sprintf("node-%d", rng.IntN(10)),
			Addr:            fmt.Sprintf("10.244.%d.%d", rng.IntN(10), rng.IntN(250)),
			Port:            int64(30000 + i%30000),
			DstAddr:         fmt.Sprintf("10.244.%d.%d", rng.IntN(10), rng.IntN(250)),
			DstPort:         []int64{443, 80, 5432, 6379, 9090, 53}[rng.IntN(6)],
			DstWorkloadKind: dstKind,
		}
		switch dstKind {
		case flow.KindInternet:
			r.DstAddr = fmt.Sprintf("203.0.113.%d", rng.IntN(250))
			r.DstDomain = domains[rng.IntN(len(domains))]
		case flow.KindPrivate:
			r.DstAddr = fmt.Sprintf("192.168.%d.%d", rng.IntN(10), rng.IntN(250))
		case flow.KindNode:
			r.DstNodeName = fmt.Sprintf("node-%d", rng.IntN(10))
			r.DstWorkloadName = r.DstNodeName
			r.DstZone = zones[rng.IntN(len(zones))]
		default:
			r.DstNS = dstNS
			r.DstWorkloadName = fmt.Sprintf("%s-app-%d", dstNS, rng.IntN(5))
			r.DstPodName = fmt.Sprintf("%s-%05d", r.DstWorkloadName, rng.IntN(20))
			r.DstZone = zones[rng.IntN(len(zones))]
			r.DstNodeName = fmt.Sprintf("node-%d", rng.IntN(10))
		}
		out[i] = r
	}
	return out
}

// Records returns intervals × len(flows) records: every flow once per
// one-second interval, with traffic counters that vary.
func Records(flows []flow.Record, intervals int, seed uint64) []flow.Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]flow.Record, 0, intervals*len(flows))
	for t := range intervals {
		ts := Start.Add(time.Duration(t) * time.Second)
		for _, f := range flows {
			r := f
			r.TS = ts
			r.TxPackets = int64(1 + rng.IntN(100))
			r.RxPackets = int64(1 + rng.IntN(100))
			r.TxBytes = r.TxPackets * int64(60+rng.IntN(1400))
			r.RxBytes = r.RxPackets * int64(60+rng.IntN(1400))
			out = append(out, r)
		}
	}
	return out
}
