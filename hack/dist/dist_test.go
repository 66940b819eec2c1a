package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// manifestTemplate is the repository's krew manifest template.
const manifestTemplate = "../../krew-manifest.yaml"

// releasePlatforms are the platforms a release ships.
var releasePlatforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"}

// fakeArchives packs small stand-ins for every platform of the template into
// dir, with the entries dist would pack.
func fakeArchives(t *testing.T, dir string) map[string]*archive {
	t.Helper()
	tmpl, err := readManifest(manifestTemplate)
	if err != nil {
		t.Fatal(err)
	}
	archives := make(map[string]*archive)
	for _, pl := range tmpl.Spec.Platforms {
		goos, goarch := pl.Selector.MatchLabels.OS, pl.Selector.MatchLabels.Arch
		entries := []entry{
			{Name: "kubectl-netflow", Mode: 0o755, Data: []byte("binary for " + pl.OSArch())},
			{Name: "kubectl_complete-netflow", Mode: 0o755, Data: completeHelper},
			{Name: "LICENSE", Mode: 0o644, Data: []byte("license")},
		}
		ext := ".tar.gz"
		if goos == "windows" {
			entries[0].Name += ".exe"
			entries[1].Name += ".cmd"
			ext = ".zip"
		}
		a, err := writeArchive(dir, "kubectl-netflow_"+goos+"_"+goarch+ext, entries, zipEpoch)
		if err != nil {
			t.Fatal(err)
		}
		archives[pl.OSArch()] = a
	}
	return archives
}

func TestManifestTemplateListsTheReleasePlatforms(t *testing.T) {
	tmpl, err := readManifest(manifestTemplate)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, pl := range tmpl.Spec.Platforms {
		got = append(got, pl.OSArch())
	}
	if !slices.Equal(got, releasePlatforms) {
		t.Errorf("platforms = %q, want %q", got, releasePlatforms)
	}
	if n := len(tmpl.Spec.ShortDescription); n == 0 || n > 50 {
		t.Errorf("shortDescription has %d characters; the krew index asks for a short one", n)
	}
	if tmpl.Metadata.Name != "netflow" {
		t.Errorf("name = %q, want netflow", tmpl.Metadata.Name)
	}
}

func TestRender(t *testing.T) {
	archives := fakeArchives(t, t.TempDir())
	tmpl, err := readManifest(manifestTemplate)
	if err != nil {
		t.Fatal(err)
	}
	p, err := render(tmpl, "v1.2.3", archives)
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.Version != "v1.2.3" {
		t.Errorf("version = %q", p.Spec.Version)
	}
	if len(p.Spec.Platforms) != len(releasePlatforms) {
		t.Fatalf("rendered %d platforms, want %d", len(p.Spec.Platforms), len(releasePlatforms))
	}
	for _, pl := range p.Spec.Platforms {
		a := archives[pl.OSArch()]
		want := "https://github.com/kubectl-netflow/kubectl-netflow/releases/download/v1.2.3/" + a.Name
		if pl.URI != want {
			t.Errorf("%s uri = %s, want %s", pl.OSArch(), pl.URI, want)
		}
		if pl.SHA256 != a.SHA256 {
			t.Errorf("%s sha256 = %s, want %s", pl.OSArch(), pl.SHA256, a.SHA256)
		}
	}
	if !strings.Contains(p.Spec.Caveats, "/store/netflow/v1.2.3/kubectl_complete-netflow") {
		t.Errorf("caveats do not name the installed completion helper:\n%s", p.Spec.Caveats)
	}
	out, err := p.marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"{{", "}}"} {
		if bytes.Contains(out, []byte(s)) {
			t.Errorf("rendered manifest still holds %q:\n%s", s, out)
		}
	}
	if !bytes.HasPrefix(out, []byte("apiVersion: krew.googlecontainertools.github.com/v1alpha2\nkind: Plugin\n")) {
		t.Errorf("rendered manifest does not start with apiVersion and kind:\n%s", out)
	}

	t.Run("a subset of platforms", func(t *testing.T) {
		sub := map[string]*archive{"linux/arm64": archives["linux/arm64"]}
		p, err := render(tmpl, "v1.2.3", sub)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Spec.Platforms) != 1 || p.Spec.Platforms[0].OSArch() != "linux/arm64" {
			t.Errorf("platforms = %+v, want linux/arm64 only", p.Spec.Platforms)
		}
	})
	t.Run("an archive without the binary", func(t *testing.T) {
		broken := *archives["linux/amd64"]
		broken.Entries = []string{"LICENSE", "kubectl_complete-netflow"}
		_, err := render(tmpl, "v1.2.3", map[string]*archive{"linux/amd64": &broken})
		if err == nil || !strings.Contains(err.Error(), `files from "kubectl-netflow"`) {
			t.Errorf("err = %v, want one about the missing binary", err)
		}
	})
	t.Run("an unknown placeholder", func(t *testing.T) {
		bad := *tmpl
		bad.Spec.Homepage = "{{ .Homepage }}"
		if _, err := render(&bad, "v1.2.3", archives); err == nil {
			t.Error("rendered {{ .Homepage }} without an error")
		}
	})
}

func TestWriteArchiveIsReproducible(t *testing.T) {
	entries := []entry{
		{Name: "b", Mode: 0o755, Data: []byte("bee")},
		{Name: "a", Mode: 0o644, Data: []byte("ay")},
	}
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, name := range []string{"x.tar.gz", "x.zip"} {
		t.Run(name, func(t *testing.T) {
			d1, d2 := t.TempDir(), t.TempDir()
			a1, err := writeArchive(d1, name, entries, mtime)
			if err != nil {
				t.Fatal(err)
			}
			// The same entries in another order.
			a2, err := writeArchive(d2, name, []entry{entries[1], entries[0]}, mtime)
			if err != nil {
				t.Fatal(err)
			}
			if a1.SHA256 != a2.SHA256 {
				t.Errorf("two packs of the same entries differ: %s, %s", a1.SHA256, a2.SHA256)
			}
			if !slices.Equal(a1.Entries, []string{"a", "b"}) {
				t.Errorf("entries = %q, want sorted", a1.Entries)
			}
			got := readArchive(t, filepath.Join(d1, name))
			want := []string{"a 644 ay " + mtime.String(), "b 755 bee " + mtime.String()}
			if !slices.Equal(got, want) {
				t.Errorf("archive holds %q, want %q", got, want)
			}
		})
	}
}

// readArchive lists "name mode content mtime" for each file of a .tar.gz or .zip.
func readArchive(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	add := func(name string, mode os.FileMode, r io.Reader, mtime time.Time) {
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %o %s %s", name, mode.Perm(), data, mtime.UTC()))
	}
	if strings.HasSuffix(file, ".zip") {
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			add(f.Name, f.Mode(), rc, f.Modified)
			rc.Close()
		}
	} else {
		gz, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(gz)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			add(hdr.Name, hdr.FileInfo().Mode(), tr, hdr.ModTime)
		}
	}
	return out
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"release", []string{"-version", "v0.1.0"}, ""},
		{"pre-release", []string{"-version", "v0.1.0-rc.1"}, ""},
		{"dev build", []string{"-version", "dev"}, "krew needs a semantic version"},
		{"no v", []string{"-version", "0.1.0"}, "krew needs a semantic version"},
		{"bad mtime", []string{"-version", "v0.1.0", "-mtime", "yesterday"}, "-mtime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(tt.args)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
