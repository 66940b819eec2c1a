package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// entry is one file of an archive.
type entry struct {
	Name string
	Mode os.FileMode
	Data []byte
}

// archive is a packed release archive.
type archive struct {
	// Name is the file name, such as kubectl-netflow_linux_amd64.tar.gz.
	Name string
	// SHA256 is the hex checksum of the file.
	SHA256 string
	// Entries are the names of the files inside, sorted.
	Entries []string
}

// Has reports whether the archive holds the file name.
func (a *archive) Has(name string) bool {
	_, ok := slices.BinarySearch(a.Entries, name)
	return ok
}

// writeArchive packs entries into dir/name: a zip file when name ends in
// .zip, a gzipped tar file otherwise. The bytes depend only on the entries
// and mtime: entries are sorted by name, every entry has the same time, no
// owner names, and the gzip header carries no time or file name.
func writeArchive(dir, name string, entries []entry, mtime time.Time) (*archive, error) {
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.Name, b.Name) })
	var buf bytes.Buffer
	var err error
	if strings.HasSuffix(name, ".zip") {
		err = writeZip(&buf, entries, mtime)
	} else {
		err = writeTarGz(&buf, entries, mtime)
	}
	if err != nil {
		return nil, fmt.Errorf("packing %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(buf.Bytes())
	a := &archive{Name: name, SHA256: hex.EncodeToString(sum[:])}
	for _, e := range entries {
		a.Entries = append(a.Entries, e.Name)
	}
	return a, nil
}

func writeTarGz(w io.Writer, entries []entry, mtime time.Time) error {
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     e.Name,
			Mode:     int64(e.Mode.Perm()),
			Size:     int64(len(e.Data)),
			ModTime:  mtime,
			Format:   tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(e.Data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func writeZip(w io.Writer, entries []entry, mtime time.Time) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestCompression)
	})
	for _, e := range entries {
		hdr := &zip.FileHeader{Name: e.Name, Method: zip.Deflate, Modified: mtime}
		hdr.SetMode(e.Mode.Perm())
		f, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		if _, err := f.Write(e.Data); err != nil {
			return err
		}
	}
	return zw.Close()
}
