package flow

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Type is the type of a field's value, in JSON and in CEL.
type Type int

// Field types.
const (
	TypeString Type = iota
	TypeInt
	TypeTime
)

// String returns the name of t as the fields command and the docs print it.
func (t Type) String() string {
	switch t {
	case TypeInt:
		return "int"
	case TypeTime:
		return "timestamp"
	default:
		return "string"
	}
}

// Field describes one field of a Record: its JSON and CEL name, its type and
// how to reach it.
type Field struct {
	// Name is the JSON key and the CEL variable.
	Name string
	Type Type
	// Section groups fields in the docs: flow, source, destination, counters.
	Section     string
	Description string
	// Index is the field's position in Fields.
	Index int

	str  func(*Record) *string
	num  func(*Record) *int64
	time func(*Record) *time.Time
}

// Varies reports whether the field changes from one interval of a flow to
// the next (the timestamp and the counters). The other fields identify a flow.
func (f *Field) Varies() bool { return f.Section == sectionCounters || f.Type == TypeTime }

// Str returns the value of a string field of r.
func (f *Field) Str(r *Record) string { return *f.str(r) }

// Num returns the value of an int field of r.
func (f *Field) Num(r *Record) int64 { return *f.num(r) }

// Time returns the value of a timestamp field of r.
func (f *Field) Time(r *Record) time.Time { return *f.time(r) }

// SetStr sets a string field of r.
func (f *Field) SetStr(r *Record, v string) { *f.str(r) = v }

// SetNum sets an int field of r.
func (f *Field) SetNum(r *Record, v int64) { *f.num(r) = v }

// Value returns the value of the field of r as a Go value: string, int64 or
// time.Time.
func (f *Field) Value(r *Record) any {
	switch f.Type {
	case TypeInt:
		return *f.num(r)
	case TypeTime:
		return *f.time(r)
	default:
		return *f.str(r)
	}
}

// Format returns the value of the field of r as text, as tables show it.
func (f *Field) Format(r *Record) string {
	switch f.Type {
	case TypeInt:
		return strconv.FormatInt(*f.num(r), 10)
	case TypeTime:
		return f.time(r).UTC().Format(time.RFC3339)
	default:
		return *f.str(r)
	}
}

// AppendFormat appends Format's text to dst without allocating.
func (f *Field) AppendFormat(dst []byte, r *Record) []byte {
	switch f.Type {
	case TypeInt:
		return strconv.AppendInt(dst, *f.num(r), 10)
	case TypeTime:
		return f.time(r).UTC().AppendFormat(dst, time.RFC3339)
	default:
		return append(dst, *f.str(r)...)
	}
}

const (
	sectionFlow        = "flow"
	sectionSource      = "source"
	sectionDestination = "destination"
	sectionCounters    = "counters"
)

func strField(name, section, desc string, p func(*Record) *string) Field {
	return Field{Name: name, Type: TypeString, Section: section, Description: desc, str: p}
}

func intField(name, section, desc string, p func(*Record) *int64) Field {
	return Field{Name: name, Type: TypeInt, Section: section, Description: desc, num: p}
}

// Fields is the one table of record fields. The NDJSON codec, the CEL
// environment, grouping, the fields command and the README's field reference
// are generated from it. Keep it stable: recorded files depend on the names.
var Fields = indexFields([]Field{
	{
		Name: "ts", Type: TypeTime, Section: sectionFlow,
		Description: "End of the interval the counters cover (RFC 3339).",
		time:        func(r *Record) *time.Time { return &r.TS },
	},
	strField("protocol", sectionFlow, "Transport protocol: tcp or udp.", func(r *Record) *string { return &r.Protocol }),
	strField("process", sectionFlow, "Name of the process that owns the socket.", func(r *Record) *string { return &r.Process }),
	intField("pid", sectionFlow, "Process id of the socket's owner, as the node sees it.", func(r *Record) *int64 { return &r.PID }),

	strField("container_name", sectionSource, "Container of the process.", func(r *Record) *string { return &r.ContainerName }),
	strField("pod_name", sectionSource, "Pod of the process.", func(r *Record) *string { return &r.PodName }),
	strField("ns", sectionSource, "Namespace of the pod.", func(r *Record) *string { return &r.NS }),
	strField("zone", sectionSource, "Zone of the node (label topology.kubernetes.io/zone).", func(r *Record) *string { return &r.Zone }),
	strField("workload_name", sectionSource, "Workload that owns the pod (Deployment, StatefulSet, DaemonSet, CronJob, Job, ...), or the node for host processes.", func(r *Record) *string { return &r.WorkloadName }),
	strField("workload_kind", sectionSource, "Kind of the workload: a Kubernetes kind such as Deployment, or node for host processes.", func(r *Record) *string { return &r.WorkloadKind }),
	strField("node_name", sectionSource, "Node the process runs on.", func(r *Record) *string { return &r.NodeName }),
	strField("addr", sectionSource, "Local IP address of the socket.", func(r *Record) *string { return &r.Addr }),
	intField("port", sectionSource, "Local port of the socket.", func(r *Record) *int64 { return &r.Port }),
	strField("container_id", sectionSource, "Container runtime id of the process's container, empty for host processes.", func(r *Record) *string { return &r.ContainerID }),

	strField("dst_addr", sectionDestination, "Remote IP address; for a Service, the backend that answered when the node's connection tracking knows it.", func(r *Record) *string { return &r.DstAddr }),
	intField("dst_port", sectionDestination, "Remote port.", func(r *Record) *int64 { return &r.DstPort }),
	strField("dst_domain", sectionDestination, "DNS name the process resolved to reach dst_addr, when the probe saw the answer (best effort).", func(r *Record) *string { return &r.DstDomain }),
	strField("dst_pod_name", sectionDestination, "Pod at the remote address.", func(r *Record) *string { return &r.DstPodName }),
	strField("dst_ns", sectionDestination, "Namespace of the remote pod or Service.", func(r *Record) *string { return &r.DstNS }),
	strField("dst_zone", sectionDestination, "Zone of the remote node.", func(r *Record) *string { return &r.DstZone }),
	strField("dst_workload_name", sectionDestination, "Workload of the remote pod, the node, or the Service name.", func(r *Record) *string { return &r.DstWorkloadName }),
	strField("dst_workload_kind", sectionDestination, "Kind of the remote end: a Kubernetes kind, node, service, private (an unknown private address) or internet (a public address).", func(r *Record) *string { return &r.DstWorkloadKind }),
	strField("dst_node_name", sectionDestination, "Node of the remote pod, or the remote node.", func(r *Record) *string { return &r.DstNodeName }),
	strField("dst_svc_addr", sectionDestination, "Service address the process connected to, when connection tracking translated it to dst_addr.", func(r *Record) *string { return &r.DstSvcAddr }),
	intField("dst_svc_port", sectionDestination, "Service port the process connected to, when translated.", func(r *Record) *int64 { return &r.DstSvcPort }),

	intField("tx_bytes", sectionCounters, "Bytes sent during the interval, IP headers included.", func(r *Record) *int64 { return &r.TxBytes }),
	intField("rx_bytes", sectionCounters, "Bytes received during the interval, IP headers included.", func(r *Record) *int64 { return &r.RxBytes }),
	intField("tx_packets", sectionCounters, "Packets sent during the interval.", func(r *Record) *int64 { return &r.TxPackets }),
	intField("rx_packets", sectionCounters, "Packets received during the interval.", func(r *Record) *int64 { return &r.RxPackets }),
})

var fieldsByName = func() map[string]*Field {
	m := make(map[string]*Field, len(Fields))
	for i := range Fields {
		m[Fields[i].Name] = &Fields[i]
	}
	return m
}()

func indexFields(fs []Field) []Field {
	for i := range fs {
		fs[i].Index = i
	}
	return fs
}

// LookupField returns the field with the given name.
func LookupField(name string) (*Field, bool) {
	f, ok := fieldsByName[name]
	return f, ok
}

// FieldNames returns the names of all fields in table order.
func FieldNames() []string {
	names := make([]string, len(Fields))
	for i := range Fields {
		names[i] = Fields[i].Name
	}
	return names
}

// GroupableFieldNames returns the names of the fields that identify a flow
// and can be grouped on.
func GroupableFieldNames() []string {
	var names []string
	for i := range Fields {
		if !Fields[i].Varies() {
			names = append(names, Fields[i].Name)
		}
	}
	return names
}

// ParseFields resolves a list of field names for grouping. An unknown or
// non-groupable name is an error that lists the valid ones, closest first.
func ParseFields(names []string) ([]*Field, error) {
	fs := make([]*Field, 0, len(names))
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		f, ok := LookupField(n)
		if !ok || f.Varies() {
			return nil, fmt.Errorf("unknown group-by field %q%s; valid fields: %s",
				n, didYouMean(n, GroupableFieldNames()), strings.Join(GroupableFieldNames(), ", "))
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		fs = append(fs, f)
	}
	if len(fs) == 0 {
		return nil, fmt.Errorf("no group-by field given; valid fields: %s", strings.Join(GroupableFieldNames(), ", "))
	}
	return fs, nil
}

// didYouMean returns ` (did you mean "x"?)` for the candidates closest to
// name, or "" when none is close.
func didYouMean(name string, candidates []string) string {
	close := Closest(name, candidates, 3)
	if len(close) == 0 {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", quoteJoin(close))
}

func quoteJoin(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	switch len(q) {
	case 1:
		return q[0]
	default:
		return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
	}
}

// Closest returns up to n candidates whose edit distance to name is small
// relative to its length, closest first.
func Closest(name string, candidates []string, n int) []string {
	type scored struct {
		s string
		d int
	}
	var best []scored
	limit := max(2, len(name)/3)
	for _, c := range candidates {
		d := levenshtein(name, c)
		if d <= limit || (len(name) >= 3 && strings.Contains(c, name)) {
			best = append(best, scored{c, d})
		}
	}
	sort.SliceStable(best, func(i, j int) bool { return best[i].d < best[j].d })
	out := make([]string, 0, n)
	for i := 0; i < len(best) && i < n; i++ {
		out = append(out, best[i].s)
	}
	return out
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
