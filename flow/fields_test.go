package flow

import (
	"reflect"
	"strings"
	"testing"
)

func TestFieldsCoverRecord(t *testing.T) {
	rt := reflect.TypeFor[Record]()
	if rt.NumField() != len(Fields) {
		t.Fatalf("Record has %d fields, the field table %d: every record field needs a row", rt.NumField(), len(Fields))
	}
	seen := map[string]bool{}
	var r Record
	for i := range Fields {
		f := &Fields[i]
		if seen[f.Name] {
			t.Errorf("field %q declared twice", f.Name)
		}
		seen[f.Name] = true
		if f.Index != i {
			t.Errorf("field %q has index %d, want %d", f.Name, f.Index, i)
		}
		if f.Description == "" {
			t.Errorf("field %q has no description", f.Name)
		}
		// Each accessor must reach a distinct struct field.
		switch f.Type {
		case TypeString:
			f.SetStr(&r, f.Name)
		case TypeInt:
			f.SetNum(&r, int64(i+1))
		}
	}
	for i := range Fields {
		f := &Fields[i]
		switch f.Type {
		case TypeString:
			if got := f.Str(&r); got != f.Name {
				t.Errorf("field %q reads %q: two fields share a struct field", f.Name, got)
			}
		case TypeInt:
			if got := f.Num(&r); got != int64(i+1) {
				t.Errorf("field %q reads %d: two fields share a struct field", f.Name, got)
			}
		}
	}
}

func TestParseFields(t *testing.T) {
	tests := []struct {
		in      []string
		want    []string
		wantErr string
	}{
		{in: []string{"zone", "dst_zone"}, want: []string{"zone", "dst_zone"}},
		{in: []string{"process"}, want: []string{"process"}},
		{in: []string{" ns ", "ns", "dst_ns"}, want: []string{"ns", "dst_ns"}},
		{in: []string{"nss"}, wantErr: `unknown group-by field "nss" (did you mean "ns"?)`},
		{in: []string{"tx_bytes"}, wantErr: `unknown group-by field "tx_bytes"`},
		{in: []string{""}, wantErr: "no group-by field given"},
	}
	for _, tt := range tests {
		t.Run(reflect.ValueOf(tt.in).String(), func(t *testing.T) {
			fs, err := ParseFields(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "valid fields: protocol, process") {
					t.Errorf("error %q does not list the valid fields", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.Name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFormatBytes(t *testing.T) {
	tests := map[float64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 150 << 20: "150 MiB", 3 << 30: "3.0 GiB"}
	for in, want := range tests {
		if got := FormatBytes(in); got != want {
			t.Errorf("FormatBytes(%v) = %q, want %q", in, got, want)
		}
	}
}
