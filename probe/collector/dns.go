package collector

import (
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsCache maps the addresses in DNS answers to the name that was asked,
// per container: two containers may resolve one address under different
// names. It is bounded, and entries expire with the answer's TTL.
type dnsCache struct {
	mu      sync.Mutex
	max     int
	entries map[dnsKey]dnsEntry
	now     func() time.Time
}

type dnsKey struct {
	container string
	addr      netip.Addr
}

type dnsEntry struct {
	name    string
	expires time.Time
}

func newDNSCache(max int) *dnsCache {
	if max <= 0 {
		max = 65536
	}
	return &dnsCache{max: max, entries: make(map[dnsKey]dnsEntry), now: time.Now}
}

// Lookup returns the name under which container last resolved addr, while
// the answer's TTL runs.
func (c *dnsCache) Lookup(container string, addr netip.Addr) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[dnsKey{container, addr}]
	if !ok {
		return ""
	}
	if c.now().After(e.expires) {
		delete(c.entries, dnsKey{container, addr})
		return ""
	}
	return e.name
}

// Len returns the number of entries, expired ones included.
func (c *dnsCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// AddMessage records the A and AAAA answers of a DNS response that a
// process of container received. It returns how many it recorded. A
// message cut short (the probe copies its first KiB) yields the answers
// before the cut.
func (c *dnsCache) AddMessage(container string, msg []byte) int {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || !h.Response || h.RCode != dnsmessage.RCodeSuccess {
		return 0
	}
	q, err := p.Question()
	if err != nil {
		return 0
	}
	// The name the process asked for, even when the answer went through
	// CNAMEs: that is the name it knows the destination by.
	name := strings.TrimSuffix(q.Name.String(), ".")
	if err := p.SkipAllQuestions(); err != nil {
		return 0
	}
	now := c.now()
	added := 0
	for {
		rh, err := p.AnswerHeader()
		if err != nil {
			break
		}
		var addr netip.Addr
		switch rh.Type {
		case dnsmessage.TypeA:
			r, err := p.AResource()
			if err != nil {
				return added
			}
			addr = netip.AddrFrom4(r.A)
		case dnsmessage.TypeAAAA:
			r, err := p.AAAAResource()
			if err != nil {
				return added
			}
			addr = netip.AddrFrom16(r.AAAA).Unmap()
		default:
			if err := p.SkipAnswer(); err != nil {
				return added
			}
			continue
		}
		c.add(dnsKey{container, addr}, dnsEntry{name: name, expires: now.Add(time.Duration(rh.TTL) * time.Second)})
		added++
	}
	return added
}

func (c *dnsCache) add(k dnsKey, e dnsEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		c.evict()
	}
	c.entries[k] = e
}

// evict drops the expired entries, and when that frees too little, an
// arbitrary tenth of the others.
func (c *dnsCache) evict() {
	now := c.now()
	for k, e := range c.entries {
		if now.After(e.expires) {
			delete(c.entries, k)
		}
	}
	drop := len(c.entries) - c.max*9/10
	for k := range c.entries {
		if drop <= 0 {
			break
		}
		delete(c.entries, k)
		drop--
	}
}
