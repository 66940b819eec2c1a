// Package cost estimates what network traffic costs on a public cloud:
// bytes that cross an availability-zone boundary and bytes sent to the
// internet, priced per GiB from a price table.
//
// The model, also in docs/tui.md:
//
//   - Cross-zone: a flow whose source zone and destination zone are both
//     known and differ. Clouds bill such traffic on each side (AWS bills
//     $0.01/GB when it leaves a zone and $0.01/GB when it enters the other),
//     so every byte a probe sees crossing, sent or received, is priced at
//     CrossZone: the side that sent it pays its egress, the side that
//     received it its ingress. With both ends probed, a byte is seen twice
//     and priced twice, which is what the two bills add up to.
//   - Internet: a flow whose destination kind is internet. Only bytes sent
//     are priced, at Internet; ingress from the internet is free on AWS, GCP
//     and Azure.
//   - Everything else (same zone, an unknown zone, private addresses outside
//     the cluster) is not priced.
package cost

import (
	"errors"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/query"
)

// GiB is the unit prices are given in.
const GiB = 1 << 30

// Default prices, in dollars per GiB, from the AWS EC2 on-demand data
// transfer list prices (https://aws.amazon.com/ec2/pricing/on-demand/, data
// transfer section, as published in 2025): $0.01/GB in each direction
// between availability zones of one region, and $0.09/GB for the first 10 TB
// a month out to the internet (the first 100 GB a month are free; that
// allowance is not modelled). The estimate treats the billed GB as a GiB.
// GCP (between zones $0.01/GiB, premium-tier internet from $0.085/GiB) and
// Azure (internet from $0.087/GB) are close. Check your own rates and pass
// them with the flags or a price file.
const (
	DefaultCrossZone = 0.01
	DefaultInternet  = 0.09
)

// Prices is a price table in dollars per GiB. The price file holds the same
// keys, in YAML or JSON:
//
//	crossZone: 0.01  # per GiB, charged on each side of a zone boundary
//	internet: 0.09   # per GiB sent to the internet
type Prices struct {
	CrossZone float64 `json:"crossZone"`
	Internet  float64 `json:"internet"`
}

// Default returns the default price table.
func Default() Prices { return Prices{CrossZone: DefaultCrossZone, Internet: DefaultInternet} }

// Load reads a price table from a YAML or JSON file. Keys missing from the
// file keep the prices of base; unknown keys are an error, so a typo does
// not silently fall back to a default.
func Load(path string, base Prices) (Prices, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return base, fmt.Errorf("reading the price file: %w", err)
	}
	p := base
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		return base, fmt.Errorf("parsing the price file %s (keys: crossZone, internet, in $/GiB): %w", path, err)
	}
	return p, p.Validate()
}

// Validate rejects negative prices.
func (p Prices) Validate() error {
	if p.CrossZone < 0 || p.Internet < 0 {
		return errors.New("prices must not be negative")
	}
	return nil
}

// Class is how a flow's traffic is priced.
type Class int

// Classes of traffic.
const (
	// Unpriced traffic stays in a zone, or its zones are unknown.
	Unpriced Class = iota
	CrossZone
	Internet
)

// Classify tells how the traffic of r is priced.
func Classify(r *flow.Record) Class {
	switch {
	case r.DstWorkloadKind == flow.KindInternet:
		return Internet
	case r.Zone != "" && r.DstZone != "" && r.Zone != r.DstZone:
		return CrossZone
	default:
		return Unpriced
	}
}

// PerByte returns the price of one byte sent and one byte received by r.
func (p Prices) PerByte(r *flow.Record) (tx, rx float64) {
	switch Classify(r) {
	case Internet:
		return p.Internet / GiB, 0
	case CrossZone:
		return p.CrossZone / GiB, p.CrossZone / GiB
	default:
		return 0, 0
	}
}

// ForGroups returns the price of a group made by grouping on groupBy, and
// whether the group-by fields tell how the group's traffic is priced. They
// do when they include dst_workload_kind and the group's kind is internet,
// or when they include zone and dst_zone and both are known (differing
// zones are cross-zone, equal zones cost nothing). Otherwise the group may
// mix priced and unpriced flows, and no price is given.
func (p Prices) ForGroups(groupBy []*flow.Field) func(*query.Group) (float64, bool) {
	kind, zone, dstZone := -1, -1, -1
	for i, f := range groupBy {
		switch f.Name {
		case "dst_workload_kind":
			kind = i
		case "zone":
			zone = i
		case "dst_zone":
			dstZone = i
		}
	}
	return func(g *query.Group) (float64, bool) {
		if kind >= 0 && g.Values[kind] == flow.KindInternet {
			return float64(g.TxBytes) * p.Internet / GiB, true
		}
		if zone < 0 || dstZone < 0 {
			return 0, false
		}
		z, _ := g.Values[zone].(string)
		dz, _ := g.Values[dstZone].(string)
		switch {
		case z == "" || dz == "":
			return 0, false
		case z == dz:
			return 0, true
		default:
			return float64(g.TxBytes+g.RxBytes) * p.CrossZone / GiB, true
		}
	}
}
