package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"time"
)

// BinaryPath is where the probe lives in the image.
const BinaryPath = "/netflow-probe"

// Annotations that name the image when the layout is imported.
const (
	annotationRefName       = "org.opencontainers.image.ref.name"
	annotationContainerdRef = "io.containerd.image.name"
)

// Binary is the probe binary of one platform.
type Binary struct {
	OS, Arch, Path string
}

// Config describes the image to build.
type Config struct {
	// Name is the image reference, e.g. ghcr.io/kubectl-netflow/netflow-probe:dev.
	Name     string
	Binaries []Binary
	Version  string
	Revision string
	// Created is the creation time recorded in the image and the time of
	// every file, so that the same binaries give the same digests.
	Created time.Time
}

// Build returns the multi-arch index of the probe image.
func Build(cfg Config) (v1.ImageIndex, error) {
	if len(cfg.Binaries) == 0 {
		return nil, fmt.Errorf("no binary given")
	}
	if _, err := name.ParseReference(cfg.Name); err != nil {
		return nil, fmt.Errorf("image name %q: %w", cfg.Name, err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	seen := map[string]bool{}
	for _, b := range cfg.Binaries {
		plat := b.OS + "/" + b.Arch
		if seen[plat] {
			return nil, fmt.Errorf("two binaries for %s", plat)
		}
		seen[plat] = true
		img, err := platformImage(cfg, b)
		if err != nil {
			return nil, fmt.Errorf("building the %s image: %w", plat, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: platform(b)},
		})
	}
	return idx, nil
}

func platform(b Binary) *v1.Platform {
	p := &v1.Platform{OS: b.OS, Architecture: b.Arch}
	if b.Arch == "arm64" {
		p.Variant = "v8"
	}
	return p
}

func platformImage(cfg Config, b Binary) (v1.Image, error) {
	bin, err := os.ReadFile(b.Path)
	if err != nil {
		return nil, err
	}
	layerTar, err := binaryTar(bin, cfg.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(
		func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil },
		tarball.WithMediaType(types.OCILayer),
		tarball.WithCompressionLevel(gzip.BestCompression),
	)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		History:   v1.History{Created: v1.Time{Time: cfg.Created}, CreatedBy: "hack/image: netflow-probe binary", Comment: "static binary"},
		MediaType: types.OCILayer,
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	p := platform(b)
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: cfg.Created}
	cf.Config.Entrypoint = []string{BinaryPath}
	cf.Config.Cmd = []string{"serve"}
	// The probe loads eBPF programs: it runs as root, in a privileged pod.
	cf.Config.User = "0:0"
	cf.Config.WorkingDir = "/"
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":    "netflow-probe",
		"org.opencontainers.image.source":   "https://github.com/kubectl-netflow/kubectl-netflow",
		"org.opencontainers.image.version":  cfg.Version,
		"org.opencontainers.image.revision": cfg.Revision,
	}
	return mutate.ConfigFile(img, cf)
}

// binaryTar returns a tar with the probe binary at BinaryPath and nothing
// else: the binary is static and needs no libc, certificates or users.
func binaryTar(bin []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     BinaryPath[1:],
		Mode:     0o755,
		Size:     int64(len(bin)),
		ModTime:  mtime,
		Format:   tar.FormatPAX,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Size is the compressed size of one platform's image: what a node pulls.
type Size struct {
	Platform string
	Digest   v1.Hash
	Bytes    int64
}

// Sizes returns the size of each platform's image in idx.
func Sizes(idx v1.ImageIndex) ([]Size, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []Size
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		m, err := img.Manifest()
		if err != nil {
			return nil, err
		}
		n := d.Size + m.Config.Size
		for _, l := range m.Layers {
			n += l.Size
		}
		out = append(out, Size{Platform: d.Platform.String(), Digest: d.Digest, Bytes: n})
	}
	return out, nil
}

// WriteLayoutTar writes idx as an OCI image layout tarball at path. The
// index's entry carries the image name both as the OCI ref name and as
// containerd's image name, so `ctr images import` names it ref.
func WriteLayoutTar(idx v1.ImageIndex, ref, path string) error {
	dir, err := os.MkdirTemp("", "netflow-probe-oci-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("writing the image layout: %w", err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		annotationRefName:       ref,
		annotationContainerdRef: ref,
	})); err != nil {
		return fmt.Errorf("writing the image layout: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := tarDir(dir, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// tarDir writes the files under dir to a tar at path in a fixed order with
// fixed times, so the tarball depends only on the content.
func tarDir(dir, path string) error {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, p := range files {
		fi, err := os.Stat(p)
		if err != nil {
			f.Close()
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		hdr := &tar.Header{Name: filepath.ToSlash(rel), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if fi.IsDir() {
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, hdr.Name+"/", 0o755
		} else {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, fi.Size()
		}
		if err := tw.WriteHeader(hdr); err != nil {
			f.Close()
			return err
		}
		if !fi.IsDir() {
			if err := copyFile(tw, p); err != nil {
				f.Close()
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// Push publishes idx and its images under ref, with the credentials of
// docker login (the default keychain).
func Push(ctx context.Context, idx v1.ImageIndex, ref string) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return fmt.Errorf("image name %q: %w", ref, err)
	}
	if err := remote.WriteIndex(r, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
}
