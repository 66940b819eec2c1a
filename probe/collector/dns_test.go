package collector

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func dnsAnswer(t *testing.T, name string, ttl uint32, addrs ...string) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 1, Response: true})
	_ = b.StartQuestions()
	q := dnsmessage.MustNewName(name + ".")
	_ = b.Question(dnsmessage.Question{Name: q, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	_ = b.StartAnswers()
	cname := dnsmessage.MustNewName("edge." + name + ".")
	_ = b.CNAMEResource(dnsmessage.ResourceHeader{Name: q, Class: dnsmessage.ClassINET, TTL: ttl}, dnsmessage.CNAMEResource{CNAME: cname})
	for _, a := range addrs {
		ip := netip.MustParseAddr(a)
		h := dnsmessage.ResourceHeader{Name: cname, Class: dnsmessage.ClassINET, TTL: ttl}
		if ip.Is4() {
			_ = b.AResource(h, dnsmessage.AResource{A: ip.As4()})
		} else {
			_ = b.AAAAResource(h, dnsmessage.AAAAResource{AAAA: ip.As16()})
		}
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestDNSCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newDNSCache(4)
	c.now = func() time.Time { return now }

	if n := c.AddMessage("ctr", dnsAnswer(t, "api.example.com", 30, "192.0.2.7", "2001:db8::7")); n != 2 {
		t.Fatalf("recorded %d answers, want 2", n)
	}
	for _, tc := range []struct {
		container, addr, want string
	}{
		{"ctr", "192.0.2.7", "api.example.com"},
		{"ctr", "2001:db8::7", "api.example.com"},
		{"other", "192.0.2.7", ""}, // per container
		{"ctr", "192.0.2.8", ""},
	} {
		if got := c.Lookup(tc.container, netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Lookup(%s, %s) = %q, want %q", tc.container, tc.addr, got, tc.want)
		}
	}

	// The TTL is honoured.
	now = now.Add(31 * time.Second)
	if got := c.Lookup("ctr", netip.MustParseAddr("192.0.2.7")); got != "" {
		t.Errorf("expired entry still answers %q", got)
	}

	// Bounded: more answers than room evict, never grow past the bound.
	for i := range 20 {
		c.AddMessage("ctr", dnsAnswer(t, "n.example.com", 300, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String()))
		if c.Len() > 4 {
			t.Fatalf("cache grew to %d entries, bound 4", c.Len())
		}
	}

	// Not a response, a failure, garbage: nothing recorded.
	if n := c.AddMessage("ctr", []byte{1, 2, 3}); n != 0 {
		t.Errorf("garbage recorded %d", n)
	}
	// Truncated by the kernel's copy: the answers before the cut count.
	msg := dnsAnswer(t, "cut.example.com", 60, "192.0.2.1", "192.0.2.2")
	if n := c.AddMessage("ctr", msg[:len(msg)-3]); n != 1 {
		t.Errorf("truncated message recorded %d answers, want 1", n)
	}
}
