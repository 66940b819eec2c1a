// Command image builds the probe's container image without Docker: one
// layer holding the static netflow-probe binary, for each platform, gathered
// in a multi-arch index. It writes the index as an OCI image layout tarball
// that `ctr images import` and `docker load` take, and can push it to a
// registry.
//
//	go run ./hack/image --image ghcr.io/kubectl-netflow/netflow-probe:dev \
//	    --binary linux/amd64=bin/linux_amd64/netflow-probe \
//	    --binary linux/arm64=bin/linux_arm64/netflow-probe \
//	    --out bin/netflow-probe.oci.tar [--push]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// binaryFlags collects --binary os/arch=path flags.
type binaryFlags []Binary

func (b *binaryFlags) String() string { return fmt.Sprint(*b) }

func (b *binaryFlags) Set(v string) error {
	plat, path, ok := strings.Cut(v, "=")
	osName, arch, ok2 := strings.Cut(plat, "/")
	if !ok || !ok2 || path == "" || osName == "" || arch == "" {
		return fmt.Errorf("want os/arch=path, got %q", v)
	}
	*b = append(*b, Binary{OS: osName, Arch: arch, Path: path})
	return nil
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	var (
		cfg     Config
		bins    binaryFlags
		out     string
		push    bool
		maxSize int64
	)
	fs.StringVar(&cfg.Name, "image", "", "Image reference to name the image with (and push to).")
	fs.Var(&bins, "binary", "A platform's probe binary as os/arch=path; repeat for each platform.")
	fs.StringVar(&out, "out", "", "Write the OCI image layout tarball here.")
	fs.BoolVar(&push, "push", false, "Push the index to the registry of --image, with the credentials of docker login.")
	fs.StringVar(&cfg.Version, "version", "", "Version label of the image.")
	fs.StringVar(&cfg.Revision, "commit", "", "Source revision label of the image.")
	fs.Int64Var(&maxSize, "max-size", 25<<20, "Fail when one platform's image is larger than this many bytes, compressed.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Binaries = bins
	if cfg.Name == "" {
		return errors.New("--image is required")
	}
	if out == "" && !push {
		return errors.New("give --out, --push or both")
	}
	cfg.Created = time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		cfg.Created = time.Unix(sec, 0).UTC()
	}

	idx, err := Build(cfg)
	if err != nil {
		return err
	}
	sizes, err := Sizes(idx)
	if err != nil {
		return err
	}
	for _, s := range sizes {
		fmt.Fprintf(os.Stderr, "%s: %s compressed, %s\n", s.Platform, mib(s.Bytes), s.Digest)
		if s.Bytes > maxSize {
			return fmt.Errorf("the %s image is %s, over the limit of %s", s.Platform, mib(s.Bytes), mib(maxSize))
		}
	}
	if out != "" {
		if err := WriteLayoutTar(idx, cfg.Name, out); err != nil {
			return err
		}
		st, err := os.Stat(out)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s (%s): ctr -n k8s.io images import %s\n", out, mib(st.Size()), out)
	}
	if push {
		if err := Push(ctx, idx, cfg.Name); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "pushed %s\n", cfg.Name)
	}
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
