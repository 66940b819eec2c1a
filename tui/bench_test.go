//go:build unix

package tui

import (
	"syscall"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/flowtest"
)

// benchModel is a 160×48 UI over 100,000 distinct flows in about 1,000
// workload-pair groups, with 40 s of history.
func benchModel(b *testing.B) (*Model, []flow.Record) {
	b.Helper()
	flows := flowtest.Flows(100_000, 1)
	m := newTestModel(b)
	send(m, tea.WindowSizeMsg{Width: 160, Height: 48})
	for sec := range 40 {
		rs := flowtest.Records(flows, 1, uint64(sec))
		for i := range rs {
			rs[i].TS = rs[i].TS.Add(time.Duration(sec) * time.Second)
		}
		send(m, batchMsg{records: rs})
	}
	m.refresh()
	b.ReportMetric(float64(len(m.rows)), "groups")
	return m, flowtest.Records(flows, 1, 99)
}

// BenchmarkView is one frame: the table rendered from the groups.
func BenchmarkView(b *testing.B) {
	m, _ := benchModel(b)
	b.ResetTimer()
	for range b.N {
		_ = m.View()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/frame")
}

// BenchmarkRefresh is one refresh tick: regroup 100,000 flows, order the
// rows, render.
func BenchmarkRefresh(b *testing.B) {
	m, _ := benchModel(b)
	b.ResetTimer()
	for range b.N {
		m.refresh()
		_ = m.View()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/tick")
}

// BenchmarkLiveSecond is one second of a busy cluster: 50,000 records
// arriving in coalesced messages, four refresh ticks and the frames after
// each message. cpu% is the process CPU time (user+system, garbage
// collection included) per simulated second: the share of one core the UI
// needs at that rate, whatever else the machine runs.
func BenchmarkLiveSecond(b *testing.B) {
	m, next := benchModel(b)
	const perSecond = 50_000
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		for j := range next {
			next[j].TS = next[j].TS.Add(time.Second)
		}
		_ = i
		for off := 0; off < perSecond; off += maxPerMsg {
			end := min(off+maxPerMsg, perSecond, len(next))
			send(m, batchMsg{records: next[off:end]})
			_ = m.View()
		}
		for range 4 {
			m.refresh()
			_ = m.View()
		}
	}
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N)*100, "cpu%")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
