// Command dist builds the release archives of kubectl-netflow and renders its
// krew manifest. `make dist` runs it; docs/release.md describes the release.
//
// For each platform of the manifest template it cross-compiles the plugin
// (CGO off, -trimpath, the Makefile's version-stamping -ldflags), packs
// dist/kubectl-netflow_<os>_<arch>.tar.gz (.zip on windows) with the binary,
// the kubectl_complete-netflow helper and LICENSE, and writes
// dist/netflow.yaml, the manifest with each archive's URL and sha256, plus
// dist/sha256sums.txt. Archives are reproducible: the same inputs and -mtime
// give the same bytes.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// completeHelper is the kubectl_complete-netflow script of unix archives.
//
//go:embed kubectl_complete-netflow
var completeHelper []byte

// completeHelperCmd is the same helper for windows, where kubectl finds it
// through PATHEXT.
const completeHelperCmd = "@echo off\r\n" +
	"rem kubectl (1.26 or newer) runs this helper to complete \"kubectl netflow ...\"\r\n" +
	"rem when it is on the PATH. Install it next to kubectl-netflow.exe.\r\n" +
	"kubectl-netflow.exe __complete %*\r\n"

// zipEpoch is the earliest time a zip file can hold; the default -mtime.
var zipEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// config is what one run builds.
type config struct {
	Version   string
	LDFlags   string
	Manifest  string
	License   string
	Package   string
	OutDir    string
	Platforms []string // GOOS/GOARCH; empty builds all of the manifest
	MTime     time.Time
	Go        string
	Log       io.Writer
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	return dist(ctx, cfg)
}

func parseFlags(args []string) (*config, error) {
	cfg := &config{Log: os.Stderr}
	fs := flag.NewFlagSet("dist", flag.ContinueOnError)
	fs.StringVar(&cfg.Version, "version", "", "Release `tag`, a semantic version such as v0.1.0 (required).")
	fs.StringVar(&cfg.LDFlags, "ldflags", "", "Linker flags of the plugin build, from the Makefile's LDFLAGS.")
	fs.StringVar(&cfg.Manifest, "manifest", "krew-manifest.yaml", "Krew manifest template.")
	fs.StringVar(&cfg.License, "license", "LICENSE", "License file to ship in each archive.")
	fs.StringVar(&cfg.Package, "pkg", "./cmd/kubectl-netflow", "Go package of the plugin.")
	fs.StringVar(&cfg.OutDir, "out", "dist", "Output `directory`.")
	fs.StringVar(&cfg.Go, "go", "go", "Go command.")
	platforms := fs.String("platforms", "", "Comma-separated GOOS/GOARCH subset of the manifest's platforms to build; empty builds all.")
	mtime := fs.String("mtime", os.Getenv("SOURCE_DATE_EPOCH"), "Modification `time` of archive entries, in Unix seconds; empty is 1980-01-01.")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if !semver.MatchString(cfg.Version) {
		return nil, fmt.Errorf("-version %q: krew needs a semantic version such as v0.1.0; build at a release tag, or pass VERSION=v0.1.0-rc.1 to make", cfg.Version)
	}
	for p := range strings.SplitSeq(*platforms, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.Platforms = append(cfg.Platforms, p)
		}
	}
	cfg.MTime = zipEpoch
	if *mtime != "" {
		sec, err := strconv.ParseInt(*mtime, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("-mtime %q: want Unix seconds: %w", *mtime, err)
		}
		if t := time.Unix(sec, 0).UTC(); t.After(zipEpoch) {
			cfg.MTime = t
		}
	}
	return cfg, nil
}

// dist builds the archives and the manifest.
func dist(ctx context.Context, cfg *config) error {
	tmpl, err := readManifest(cfg.Manifest)
	if err != nil {
		return err
	}
	var todo []*Platform
	for i := range tmpl.Spec.Platforms {
		if pl := &tmpl.Spec.Platforms[i]; len(cfg.Platforms) == 0 || slices.Contains(cfg.Platforms, pl.OSArch()) {
			todo = append(todo, pl)
		}
	}
	for _, p := range cfg.Platforms {
		if !slices.ContainsFunc(todo, func(pl *Platform) bool { return pl.OSArch() == p }) {
			return fmt.Errorf("-platforms: %s is not a platform of %s", p, cfg.Manifest)
		}
	}
	license, err := os.ReadFile(cfg.License)
	if err != nil {
		return fmt.Errorf("reading the license: %w", err)
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "kubectl-netflow-dist-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	archives := make(map[string]*archive)
	for _, pl := range todo {
		goos, goarch := pl.Selector.MatchLabels.OS, pl.Selector.MatchLabels.Arch
		fmt.Fprintf(cfg.Log, "dist: building %s/%s\n", goos, goarch)
		bin, helperName, helper, ext := "kubectl-netflow", "kubectl_complete-netflow", completeHelper, ".tar.gz"
		if goos == "windows" {
			bin, helperName, helper, ext = bin+".exe", helperName+".cmd", []byte(completeHelperCmd), ".zip"
		}
		out := filepath.Join(work, goos+"_"+goarch, bin)
		if err := build(ctx, cfg, goos, goarch, out); err != nil {
			return err
		}
		exe, err := os.ReadFile(out)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("kubectl-netflow_%s_%s%s", goos, goarch, ext)
		a, err := writeArchive(cfg.OutDir, name, []entry{
			{Name: bin, Mode: 0o755, Data: exe},
			{Name: helperName, Mode: 0o755, Data: helper},
			{Name: "LICENSE", Mode: 0o644, Data: license},
		}, cfg.MTime)
		if err != nil {
			return err
		}
		archives[pl.OSArch()] = a
	}

	p, err := render(tmpl, cfg.Version, archives)
	if err != nil {
		return fmt.Errorf("rendering %s: %w", cfg.Manifest, err)
	}
	manifest, err := p.marshal()
	if err != nil {
		return err
	}
	// krew wants the file named after the plugin.
	manifestFile := filepath.Join(cfg.OutDir, p.Metadata.Name+".yaml")
	if err := os.WriteFile(manifestFile, manifest, 0o644); err != nil {
		return err
	}
	var sums strings.Builder
	for _, pl := range p.Spec.Platforms {
		a := archives[pl.OSArch()]
		fmt.Fprintf(&sums, "%s  %s\n", a.SHA256, a.Name)
	}
	if err := os.WriteFile(filepath.Join(cfg.OutDir, "sha256sums.txt"), []byte(sums.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(cfg.Log, "dist: wrote %d archives, %s and sha256sums.txt to %s\n", len(archives), filepath.Base(manifestFile), cfg.OutDir)
	return nil
}

// build cross-compiles the plugin for goos/goarch into out.
func build(ctx context.Context, cfg *config, goos, goarch, out string) error {
	cmd := exec.CommandContext(ctx, cfg.Go, "build", "-trimpath", "-ldflags="+cfg.LDFlags, "-o", out, cfg.Package)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	cmd.Stdout = cfg.Log
	cmd.Stderr = cfg.Log
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("building %s for %s/%s failed (output above): %w", cfg.Package, goos, goarch, err)
		}
		return fmt.Errorf("building %s for %s/%s: %w", cfg.Package, goos, goarch, err)
	}
	return nil
}
