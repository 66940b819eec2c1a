package flow_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/flowtest"
)

func encode(t testing.TB, rs []flow.Record) []byte {
	t.Helper()
	var b bytes.Buffer
	w := flow.NewWriter(&b)
	for i := range rs {
		if err := w.Write(&rs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readAll(t testing.TB, name string, data []byte) ([]flow.Record, error) {
	t.Helper()
	r, err := flow.NewReader(bytes.NewReader(data), name)
	if err != nil {
		return nil, err
	}
	var out []flow.Record
	err = r.ReadBatches(context.Background(), func(rs []flow.Record) error {
		out = append(out, rs...)
		return nil
	})
	return out, err
}

func TestRoundTrip(t *testing.T) {
	// Enough records for many chunks, so order across workers is checked.
	want := flowtest.Records(flowtest.Flows(2000, 1), 5, 2)
	want[0].Process = "we\"ird\\ \u00e9\t"
	want[1].DstSvcAddr, want[1].DstSvcPort = "10.96.0.10", 53
	data := encode(t, want)
	if len(data) < 3<<20 {
		t.Fatalf("test data is %d bytes; it must span several chunks", len(data))
	}
	for _, gz := range []bool{false, true} {
		in := data
		if gz {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(data)
			zw.Close()
			in = b.Bytes()
		}
		got, err := readAll(t, "f", in)
		if err != nil {
			t.Fatalf("gzip=%v: %v", gz, err)
		}
		if len(got) != len(want) {
			t.Fatalf("gzip=%v: read %d records, want %d", gz, len(got), len(want))
		}
		for i := range want {
			if !got[i].TS.Equal(want[i].TS) {
				t.Fatalf("record %d: ts %v, want %v", i, got[i].TS, want[i].TS)
			}
			got[i].TS = want[i].TS
			if got[i] != want[i] {
				t.Fatalf("gzip=%v: record %d:\n got %+v\nwant %+v", gz, i, got[i], want[i])
			}
		}
	}
}

func TestMissingFieldsReadEmpty(t *testing.T) {
	got, err := readAll(t, "f", []byte("\n{\"ns\":\"a\",\"tx_bytes\":7,\"future_field\":{\"x\":1}}\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].NS != "a" || got[0].TxBytes != 7 || got[0].PodName != "" || got[0].Port != 0 {
		t.Fatalf("got %+v", got)
	}
}

func TestMalformedLines(t *testing.T) {
	good := `{"ts":"2026-11-25T12:00:00Z","ns":"a","tx_bytes":1}`
	tests := []struct {
		name, line, want string
	}{
		{"not json", `{"ns":`, "invalid JSON"},
		{"not an object", `[1,2]`, "expected a JSON object, got array"},
		{"string field as number", `{"ns":1}`, `field "ns": expected a string, got number`},
		{"int field as string", `{"tx_bytes":"12"}`, `field "tx_bytes": expected an integer`},
		{"fractional counter", `{"tx_bytes":1.5}`, `field "tx_bytes": expected an integer`},
		{"bad time", `{"ts":"yesterday"}`, `field "ts": expected an RFC 3339 time, got "yesterday"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := strings.Repeat(good+"\n", 3) + tt.line + "\n" + good + "\n"
			_, err := readAll(t, "flows.ndjson", []byte(data))
			var pe *flow.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v, want a *ParseError", err)
			}
			if pe.Line != 4 || pe.File != "flows.ndjson" {
				t.Errorf("error at %s:%d, want flows.ndjson:4", pe.File, pe.Line)
			}
			if !strings.HasPrefix(err.Error(), "flows.ndjson:4: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want flows.ndjson:4: ...%s", err, tt.want)
			}
		})
	}
}

func TestMalformedLineDeepInFile(t *testing.T) {
	data := encode(t, flowtest.Records(flowtest.Flows(1000, 3), 10, 4))
	data = append(data, "{oops\n"...)
	_, err := readAll(t, "big", data)
	if err == nil || !strings.HasPrefix(err.Error(), "big:10001: ") {
		t.Fatalf("error = %v, want big:10001: ...", err)
	}
}

func TestLongLine(t *testing.T) {
	long := flow.Record{Process: strings.Repeat("p", 3<<20), TxBytes: 1}
	got, err := readAll(t, "f", encode(t, []flow.Record{{NS: "a"}, long, {NS: "b"}}))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1].Process != long.Process || got[2].NS != "b" {
		t.Fatalf("long line not read back intact (%d records)", len(got))
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.ndjson")
	if err := os.WriteFile(path, encode(t, []flow.Record{{NS: "x", TxBytes: 3}}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, file string }{{"file", path}, {"stdin", "-"}} {
		t.Run(tc.name, func(t *testing.T) {
			stdin, _ := os.Open(path)
			defer stdin.Close()
			r, err := flow.Open(tc.file, stdin)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			n := 0
			if err := r.ReadBatches(context.Background(), func(rs []flow.Record) error { n += len(rs); return nil }); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Fatalf("read %d records, want 1", n)
			}
		})
	}
	if _, err := flow.Open(filepath.Join(dir, "missing"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error = %v, want not exist", err)
	}
}

func TestReplayPace(t *testing.T) {
	rs := flowtest.Records(flowtest.Flows(3, 1), 4, 1) // 4 intervals, 1 s apart
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, encode(t, rs), 0o600)
	src := &flow.ReplaySource{Name: path, Speed: 20} // 3 gaps of 50 ms
	var batches []int
	start := time.Now()
	err := src.Stream(context.Background(), func(b *flow.Batch) error {
		batches = append(batches, len(b.Records))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{3, 3, 3, 3}; len(batches) != 4 || batches[0] != 3 || batches[3] != 3 {
		t.Fatalf("batches %v, want %v: one batch per interval", batches, want)
	}
	if el := time.Since(start); el < 140*time.Millisecond {
		t.Errorf("paced replay took %v; three 1 s gaps at 20x need at least 150 ms", el)
	}
}

func FuzzDecodeLine(f *testing.F) {
	f.Add([]byte(`{"ts":"2026-11-25T12:00:00Z","ns":"a","tx_bytes":1,"port":80}`))
	f.Add([]byte(`{"process":"a\u00e9\n","pid":-1}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"ts":null}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var r flow.Record
		if err := flow.DecodeLine(line, &r); err != nil {
			return
		}
		// What decodes must encode and decode to the same record.
		out := flow.AppendJSON(nil, &r)
		var back flow.Record
		if err := flow.DecodeLine(out, &back); err != nil {
			t.Fatalf("re-decoding %s: %v", out, err)
		}
		if !back.TS.Equal(r.TS) {
			t.Fatalf("ts changed: %v -> %v", r.TS, back.TS)
		}
		back.TS = r.TS
		if back != r {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", r, back)
		}
	})
}
