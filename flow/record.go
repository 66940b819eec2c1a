// Package flow defines the flow record that joins the probe, the plugin,
// recorded files, filters and the terminal UI, and the engine that filters,
// groups and sorts records.
package flow

import "time"

// Record is the traffic of one flow during one interval, seen from the local
// end: the process that owns the socket. Counters are IP-layer bytes and
// packets as they cross the wire.
//
// The JSON names of the fields are declared once, in Fields; NDJSON files,
// CEL filters, the fields command and the documentation all read that table.
type Record struct {
	// TS is the end of the interval the counters cover.
	TS       time.Time
	Protocol string
	Process  string
	PID      int64

	ContainerName string
	PodName       string
	NS            string
	Zone          string
	WorkloadName  string
	WorkloadKind  string
	NodeName      string
	Addr          string
	Port          int64

	DstAddr         string
	DstPort         int64
	DstDomain       string
	DstPodName      string
	DstNS           string
	DstZone         string
	DstWorkloadName string
	DstWorkloadKind string
	DstNodeName     string

	// ContainerID is the runtime's id of the container that owns the socket,
	// as the probe read it from the process's cgroup. The plugin resolves it
	// to a pod.
	ContainerID string
	// DstSvcAddr and DstSvcPort hold the address the process connected to
	// when the node's connection tracking translated it (a Service ClusterIP);
	// DstAddr and DstPort then hold the backend that really answered.
	DstSvcAddr string
	DstSvcPort int64

	TxBytes   int64
	RxBytes   int64
	TxPackets int64
	RxPackets int64
}

// Destination kinds that are not Kubernetes workload kinds.
const (
	KindNode     = "node"
	KindService  = "service"
	KindPrivate  = "private"
	KindInternet = "internet"
)

// Protocol names.
const (
	ProtocolTCP = "tcp"
	ProtocolUDP = "udp"
)

// Add adds the counters of o to r.
func (r *Record) Add(o *Record) {
	r.TxBytes += o.TxBytes
	r.RxBytes += o.RxBytes
	r.TxPackets += o.TxPackets
	r.RxPackets += o.RxPackets
}
