// Package output prints grouped flow traffic as tables, JSON and YAML.
package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/query"
)

// Format is an output format of `top`.
type Format string

// Output formats.
const (
	Table Format = "table"
	Wide  Format = "wide"
	JSON  Format = "json"
	YAML  Format = "yaml"
)

// Formats lists the formats ParseFormat accepts.
var Formats = []Format{Table, Wide, JSON, YAML}

// ParseFormat parses an -o value.
func ParseFormat(s string) (Format, error) {
	if slices.Contains(Formats, Format(s)) {
		return Format(s), nil
	}
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("unknown output format %q; valid formats: %s", s, strings.Join(names, ", "))
}

// Result is what `top` prints: sorted groups and the time they cover.
type Result struct {
	GroupBy []*flow.Field
	Groups  []*query.Group
	Window  time.Duration
	// Cost estimates the price of a group's traffic; nil leaves it out.
	Cost func(*query.Group) (float64, bool)
}

func (r *Result) rate(n int64) float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(n) / r.Window.Seconds()
}

// Print writes the result in the format.
func Print(w io.Writer, format Format, r *Result) error {
	switch format {
	case JSON, YAML:
		return printStructured(w, format, r)
	default:
		return printTable(w, format == Wide, r)
	}
}

// orderedObject marshals to a JSON object with keys in a fixed order.
type orderedObject struct {
	keys []string
	vals []any
}

func (o *orderedObject) set(k string, v any) {
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Objects returns the JSON form of each group: the group-by fields under
// their own names, then the summed counters, rates in bytes per second, the
// number of records and, when priced, est_cost.
func Objects(r *Result) []any {
	out := make([]any, 0, len(r.Groups))
	for _, g := range r.Groups {
		var o orderedObject
		for i, f := range r.GroupBy {
			o.set(f.Name, g.Values[i])
		}
		o.set("tx_bytes", g.TxBytes)
		o.set("rx_bytes", g.RxBytes)
		o.set("tx_packets", g.TxPackets)
		o.set("rx_packets", g.RxPackets)
		o.set("tx_rate", round(r.rate(g.TxBytes)))
		o.set("rx_rate", round(r.rate(g.RxBytes)))
		o.set("records", g.Records)
		if r.Cost != nil {
			if c, ok := r.Cost(g); ok {
				o.set("est_cost", c)
			}
		}
		out = append(out, o)
	}
	return out
}

func round(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

func printStructured(w io.Writer, format Format, r *Result) error {
	b, err := json.MarshalIndent(Objects(r), "", "  ")
	if err != nil {
		return err
	}
	if format == YAML {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
	} else {
		b = append(b, '\n')
	}
	_, err = w.Write(b)
	return err
}

func printTable(w io.Writer, wide bool, r *Result) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	var head []string
	for _, f := range r.GroupBy {
		head = append(head, strings.ToUpper(f.Name))
	}
	head = append(head, "TX", "RX", "TX/S", "RX/S")
	if wide {
		head = append(head, "TX PKTS", "RX PKTS", "RECORDS")
	}
	if r.Cost != nil {
		head = append(head, "EST COST")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, g := range r.Groups {
		row := make([]string, 0, len(head))
		for _, v := range g.Key() {
			if v == "" {
				v = "-"
			}
			row = append(row, v)
		}
		row = append(row,
			flow.FormatBytes(float64(g.TxBytes)), flow.FormatBytes(float64(g.RxBytes)),
			flow.FormatRate(r.rate(g.TxBytes)), flow.FormatRate(r.rate(g.RxBytes)))
		if wide {
			row = append(row, fmt.Sprint(g.TxPackets), fmt.Sprint(g.RxPackets), fmt.Sprint(g.Records))
		}
		if r.Cost != nil {
			c, ok := r.Cost(g)
			if ok {
				row = append(row, fmt.Sprintf("$%.4f", c))
			} else {
				row = append(row, "-")
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}
