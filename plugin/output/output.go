// Package output prints grouped flow traffic as tables, JSON and YAML.
package output

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

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

// Object is the JSON form of a group: keys in a fixed order, values of type
// string, int64 or float64.
type Object struct {
	Keys []string
	Vals []any
}

func (o *Object) set(k string, v any) {
	o.Keys = append(o.Keys, k)
	o.Vals = append(o.Vals, v)
}

// MarshalJSON encodes the object with its keys in order.
func (o Object) MarshalJSON() ([]byte, error) { return o.appendJSON(nil, "", ""), nil }

func (o *Object) appendJSON(b []byte, prefix, indent string) []byte {
	b = append(b, '{')
	for i, k := range o.Keys {
		if i > 0 {
			b = append(b, ',')
		}
		if indent != "" {
			b = append(b, '\n')
			b = append(b, prefix...)
			b = append(b, indent...)
		}
		b = appendString(b, k)
		b = append(b, ':')
		if indent != "" {
			b = append(b, ' ')
		}
		b = appendScalar(b, o.Vals[i])
	}
	if indent != "" && len(o.Keys) > 0 {
		b = append(b, '\n')
		b = append(b, prefix...)
	}
	return append(b, '}')
}

// appendYAML writes the object as an item of a YAML sequence. Strings are
// double-quoted JSON strings, which YAML reads as the same strings.
func (o *Object) appendYAML(b []byte) []byte {
	for i, k := range o.Keys {
		if i == 0 {
			b = append(b, "- "...)
		} else {
			b = append(b, "  "...)
		}
		b = append(b, k...)
		b = append(b, ": "...)
		b = appendScalar(b, o.Vals[i])
		b = append(b, '\n')
	}
	return b
}

func appendScalar(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return appendString(b, v)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case float64:
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	default:
		j, _ := json.Marshal(v)
		return append(b, j...)
	}
}

func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Objects returns the JSON form of each group: the group-by fields under
// their own names, then the summed counters, rates in bytes per second, the
// number of records and, when priced, est_cost.
func Objects(r *Result) []Object {
	out := make([]Object, 0, len(r.Groups))
	for _, g := range r.Groups {
		out = append(out, r.object(g))
	}
	return out
}

func (r *Result) object(g *query.Group) Object {
	o := Object{Keys: make([]string, 0, len(r.GroupBy)+8), Vals: make([]any, 0, len(r.GroupBy)+8)}
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
	return o
}

func round(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

// printStructured streams the groups one at a time, so a million groups
// never sit in memory as one document.
func printStructured(w io.Writer, format Format, r *Result) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var b []byte
	if format == JSON {
		if len(r.Groups) == 0 {
			b = append(b, "[]\n"...)
		} else {
			b = append(b, "[\n"...)
		}
	} else if len(r.Groups) == 0 {
		b = append(b, "[]\n"...)
	}
	for i, g := range r.Groups {
		o := r.object(g)
		if format == JSON {
			b = append(b, "  "...)
			b = o.appendJSON(b, "  ", "  ")
			if i < len(r.Groups)-1 {
				b = append(b, ',')
			}
			b = append(b, '\n')
		} else {
			b = o.appendYAML(b)
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
		b = b[:0]
	}
	if format == JSON && len(r.Groups) > 0 {
		b = append(b, "]\n"...)
	}
	if _, err := bw.Write(b); err != nil {
		return err
	}
	return bw.Flush()
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
