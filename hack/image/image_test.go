package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const testRef = "ghcr.io/kubectl-netflow/netflow-probe:test"

// fakeBinaries writes a binary per platform whose content names it.
func fakeBinaries(t *testing.T, plats ...string) []Binary {
	t.Helper()
	dir := t.TempDir()
	var out []Binary
	for _, p := range plats {
		osName, arch, _ := strings.Cut(p, "/")
		path := filepath.Join(dir, osName+"_"+arch)
		if err := os.WriteFile(path, bytes.Repeat([]byte("probe for "+p+"\n"), 1000), 0o755); err != nil {
			t.Fatal(err)
		}
		out = append(out, Binary{OS: osName, Arch: arch, Path: path})
	}
	return out
}

func TestLayout(t *testing.T) {
	tests := []struct {
		name  string
		plats []string
	}{
		{name: "amd64 and arm64", plats: []string{"linux/amd64", "linux/arm64"}},
		{name: "one platform", plats: []string{"linux/amd64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bins := fakeBinaries(t, tt.plats...)
			idx, err := Build(Config{Name: testRef, Binaries: bins, Version: "v1.2.3", Revision: "abc", Created: time.Unix(0, 0)})
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "probe.oci.tar")
			if err := WriteLayoutTar(idx, testRef, out); err != nil {
				t.Fatal(err)
			}
			dir := untar(t, out)
			if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
				t.Fatal("no oci-layout file:", err)
			}
			root, err := layout.ImageIndexFromPath(dir)
			if err != nil {
				t.Fatal(err)
			}
			rm, err := root.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(rm.Manifests) != 1 {
				t.Fatalf("index.json has %d entries, want 1", len(rm.Manifests))
			}
			entry := rm.Manifests[0]
			if entry.MediaType != types.OCIImageIndex {
				t.Errorf("entry media type %s, want an OCI index", entry.MediaType)
			}
			for _, k := range []string{annotationRefName, annotationContainerdRef} {
				if entry.Annotations[k] != testRef {
					t.Errorf("annotation %s = %q, want %q", k, entry.Annotations[k], testRef)
				}
			}
			inner, err := root.ImageIndex(entry.Digest)
			if err != nil {
				t.Fatal(err)
			}
			im, err := inner.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(im.Manifests) != len(bins) {
				t.Fatalf("%d platforms, want %d", len(im.Manifests), len(bins))
			}
			for i, d := range im.Manifests {
				checkImage(t, inner, d, bins[i])
			}
		})
	}
}

func checkImage(t *testing.T, idx v1.ImageIndex, d v1.Descriptor, b Binary) {
	t.Helper()
	if d.Platform == nil || d.Platform.OS != b.OS || d.Platform.Architecture != b.Arch {
		t.Errorf("platform %v, want %s/%s", d.Platform, b.OS, b.Arch)
	}
	img, err := idx.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != b.OS || cf.Architecture != b.Arch {
		t.Errorf("config platform %s/%s, want %s/%s", cf.OS, cf.Architecture, b.OS, b.Arch)
	}
	if strings.Join(cf.Config.Entrypoint, " ") != BinaryPath || strings.Join(cf.Config.Cmd, " ") != "serve" {
		t.Errorf("entrypoint %q cmd %q", cf.Config.Entrypoint, cf.Config.Cmd)
	}
	if cf.Config.Labels["org.opencontainers.image.version"] != "v1.2.3" {
		t.Errorf("labels %v", cf.Config.Labels)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1", len(layers), err)
	}
	mt, _ := layers[0].MediaType()
	if mt != types.OCILayer {
		t.Errorf("layer media type %s", mt)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	want, _ := os.ReadFile(b.Path)
	tr := tar.NewReader(rc)
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(tr)
	if hdr.Name != "netflow-probe" || hdr.Mode != 0o755 || hdr.Uid != 0 || !bytes.Equal(got, want) {
		t.Errorf("layer file %s mode %o uid %d, %d bytes: want the binary at %s, 0755", hdr.Name, hdr.Mode, hdr.Uid, len(got), BinaryPath)
	}
	if _, err := tr.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("the layer holds more than the binary")
	}
}

func TestBuildIsReproducible(t *testing.T) {
	bins := fakeBinaries(t, "linux/amd64", "linux/arm64")
	digest := func() v1.Hash {
		idx, err := Build(Config{Name: testRef, Binaries: bins, Created: time.Unix(1700000000, 0)})
		if err != nil {
			t.Fatal(err)
		}
		h, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if a, b := digest(), digest(); a != b {
		t.Errorf("two builds of the same binaries: %s and %s", a, b)
	}
}

func TestRun(t *testing.T) {
	bins := fakeBinaries(t, "linux/amd64", "linux/arm64")
	var binArgs []string
	for _, b := range bins {
		binArgs = append(binArgs, "--binary", b.OS+"/"+b.Arch+"="+b.Path)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "writes the tarball", args: []string{"--image", testRef}},
		{name: "over the size limit", args: []string{"--image", testRef, "--max-size", "100"}, wantErr: "over the limit"},
		{name: "no image name", args: nil, wantErr: "--image"},
		{name: "bad image name", args: []string{"--image", "Not A Ref"}, wantErr: "image name"},
		{name: "bad binary flag", args: []string{"--image", testRef, "--binary", "amd64"}, wantErr: "os/arch=path"},
		{name: "same platform twice", args: []string{"--image", testRef, "--binary", "linux/amd64=" + bins[0].Path}, wantErr: "two binaries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "probe.oci.tar")
			args := append(append([]string{"--out", out}, binArgs...), tt.args...)
			err := run(context.Background(), args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(out); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func untar(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		if hdr.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
