package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// krewVersion is the krew release whose validator and installer the test
// runs. They are built from source in a throwaway module, so krew never
// enters this module's go.mod.
const krewVersion = "v0.4.3"

// TestKrewInstall builds the release archive of this machine's platform with
// `make dist`, validates dist/netflow.yaml with krew's own validator, installs
// the plugin with the real krew into a temporary KREW_ROOT and runs the
// installed `kubectl-netflow version`.
func TestKrewInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds krew and a release archive; skipped with -short")
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	if runtime.GOOS == "windows" || !slices.Contains(releasePlatforms, platform) {
		t.Skipf("krew installs on a unix release platform; this is %s", platform)
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	if out, err := exec.Command("go", "env", "GOPROXY").Output(); err != nil || strings.TrimSpace(string(out)) == "off" {
		t.Skip("krew builds from the Go module proxy, and GOPROXY is off")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	krew, validate := krewTools(ctx, t)

	const version = "v0.0.0-krewtest"
	dist := t.TempDir()
	start := time.Now()
	runCmd(ctx, t, nil, "make", "-C", "../..", "--no-print-directory", "dist",
		"VERSION="+version, "DIST_DIR="+dist, "DIST_PLATFORMS="+platform)
	t.Logf("make dist for %s took %s", platform, time.Since(start).Round(time.Second))

	manifest := filepath.Join(dist, "netflow.yaml")
	archiveName := "kubectl-netflow_" + strings.ReplaceAll(platform, "/", "_") + ".tar.gz"
	// -skip-install: the validator would download the archives of the
	// release, which does not exist; krew install --archive below does that
	// part with the local archive.
	runCmd(ctx, t, nil, validate, "-manifest", manifest, "-skip-install")

	// The full manifest, all five platforms, validated too; its archives are
	// stand-ins, as building them all would take minutes.
	full := t.TempDir()
	tmpl, err := readManifest(manifestTemplate)
	if err != nil {
		t.Fatal(err)
	}
	p, err := render(tmpl, version, fakeArchives(t, full))
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "netflow.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	runCmd(ctx, t, nil, validate, "-manifest", filepath.Join(full, "netflow.yaml"), "-skip-install")

	krewRoot := t.TempDir()
	env := []string{"KREW_ROOT=" + krewRoot, "KREW_NO_UPGRADE_CHECK=1"}
	stdout, stderr := runCmd(ctx, t, env, krew, "install", "--manifest="+manifest, "--archive="+filepath.Join(dist, archiveName))
	if !strings.Contains(stdout+stderr, "activeDeadlineSeconds") {
		t.Errorf("krew install did not show the caveats:\n%s%s", stdout, stderr)
	}

	got, _ := runCmd(ctx, t, nil, filepath.Join(krewRoot, "bin", "kubectl-netflow"), "version")
	want := fmt.Sprintf("kubectl-netflow %s (commit ", version)
	if !strings.HasPrefix(got, want) || !strings.Contains(got, "probe image: ghcr.io/kubectl-netflow/netflow-probe:"+version+"\n") {
		t.Errorf("installed kubectl-netflow version printed\n%s\nwant it to start with %q and name the probe image of %s", got, want, version)
	}

	store := filepath.Join(krewRoot, "store", "netflow", version)
	if _, err := os.Stat(filepath.Join(store, "LICENSE")); err != nil {
		t.Errorf("krew did not install the LICENSE: %v", err)
	}
	// The completion helper, installed as the caveats say, completes
	// through the plugin krew linked.
	helper := filepath.Join(krewRoot, "bin", "kubectl_complete-netflow")
	runCmd(ctx, t, nil, "install", "-m", "0755", filepath.Join(store, "kubectl_complete-netflow"), helper)
	path := []string{"PATH=" + filepath.Join(krewRoot, "bin") + string(os.PathListSeparator) + os.Getenv("PATH")}
	if got, _ := runCmd(ctx, t, path, helper, "top", "--sort", ""); !strings.HasPrefix(got, "total\ntx\nrx\n:4\n") {
		t.Errorf("kubectl_complete-netflow top --sort '' printed\n%s", got)
	}
}

// krewTools returns the paths of krew and validate-krew-manifest at
// krewVersion, built on first use into the user's cache directory
// (${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-netflow/krew-<version>).
func krewTools(ctx context.Context, t *testing.T) (krew, validate string) {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Skipf("no cache directory for the krew binaries: %v", err)
	}
	dir := filepath.Join(cache, "kubectl-netflow", "krew-"+krewVersion)
	krew, validate = filepath.Join(dir, "krew"), filepath.Join(dir, "validate-krew-manifest")
	if fileExists(krew) && fileExists(validate) {
		return krew, validate
	}

	start := time.Now()
	mod := t.TempDir()
	gomod := fmt.Sprintf("module netflow-krew-tools\n\ngo 1.22\n\nrequire sigs.k8s.io/krew %s\n", krewVersion)
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(mod, "bin")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin+string(os.PathSeparator),
		"sigs.k8s.io/krew/cmd/krew", "sigs.k8s.io/krew/cmd/validate-krew-manifest")
	cmd.Dir = mod
	// -mod=mod lets go resolve krew's dependencies into the throwaway
	// module; GOWORK=off keeps any workspace out of it.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building krew %s from the module proxy: %v\n%s", krewVersion, err, out)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Rename is atomic, so a concurrent run sees whole binaries or none.
	for _, name := range []string{"krew", "validate-krew-manifest"} {
		if err := os.Rename(filepath.Join(bin, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("built krew %s into %s in %s", krewVersion, dir, time.Since(start).Round(time.Second))
	return krew, validate
}

// runCmd runs a command with extra environment variables and returns its
// standard output and error; it fails the test, with both, when the command
// does.
func runCmd(ctx context.Context, t *testing.T, env []string, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}
