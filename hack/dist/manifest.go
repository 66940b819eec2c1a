package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"
)

// Plugin is the part of krew's plugin manifest (krew.googlecontainertools.github.com/v1alpha2)
// that kubectl-netflow uses. Decoding is strict, so a field the template adds
// without this tool knowing it is an error rather than lost; the field order
// is the order of the rendered manifest.
type Plugin struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec PluginSpec `yaml:"spec"`
}

// PluginSpec is the spec of a krew plugin manifest.
type PluginSpec struct {
	Version          string     `yaml:"version"`
	Homepage         string     `yaml:"homepage"`
	ShortDescription string     `yaml:"shortDescription"`
	Description      string     `yaml:"description"`
	Caveats          string     `yaml:"caveats,omitempty"`
	Platforms        []Platform `yaml:"platforms"`
}

// Platform is one downloadable archive of a krew plugin.
type Platform struct {
	Selector struct {
		MatchLabels struct {
			OS   string `yaml:"os"`
			Arch string `yaml:"arch"`
		} `yaml:"matchLabels"`
	} `yaml:"selector"`
	URI    string          `yaml:"uri"`
	SHA256 string          `yaml:"sha256"`
	Files  []FileOperation `yaml:"files"`
	Bin    string          `yaml:"bin"`
}

// FileOperation copies a file of the archive into the installation.
type FileOperation struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// OSArch returns the platform as GOOS/GOARCH.
func (p *Platform) OSArch() string {
	return p.Selector.MatchLabels.OS + "/" + p.Selector.MatchLabels.Arch
}

// semver is the form krew accepts for spec.version: a semantic version with
// a leading v.
var semver = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// readManifest decodes the manifest template.
func readManifest(file string) (*Plugin, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var p Plugin
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", file, err)
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decoding %s: want one YAML document", file)
	}
	if len(p.Spec.Platforms) == 0 {
		return nil, fmt.Errorf("%s lists no platforms", file)
	}
	seen := make(map[string]bool)
	for i := range p.Spec.Platforms {
		pl := &p.Spec.Platforms[i]
		if pl.Selector.MatchLabels.OS == "" || pl.Selector.MatchLabels.Arch == "" {
			return nil, fmt.Errorf("%s: spec.platforms[%d] needs selector.matchLabels os and arch", file, i)
		}
		if seen[pl.OSArch()] {
			return nil, fmt.Errorf("%s: %s is listed twice", file, pl.OSArch())
		}
		seen[pl.OSArch()] = true
	}
	return &p, nil
}

// templateData is what the manifest's {{ ... }} placeholders can use.
type templateData struct {
	// Version is the release tag, such as v0.1.0.
	Version string
	// SHA256 is the checksum of the platform's archive, in a platform's
	// fields only.
	SHA256 string
}

// render fills in the template for version and the built archives. Platforms
// without an archive are left out, so a build of some platforms renders a
// manifest of those. It checks that each archive holds what its platform
// installs.
func render(tmpl *Plugin, version string, archives map[string]*archive) (*Plugin, error) {
	p := *tmpl
	p.Spec.Platforms = nil
	var errs []error
	expand := func(field string, s *string, data templateData) {
		out, err := expandField(*s, data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
		*s = out
	}
	spec := templateData{Version: version}
	expand("spec.version", &p.Spec.Version, spec)
	expand("spec.homepage", &p.Spec.Homepage, spec)
	expand("spec.shortDescription", &p.Spec.ShortDescription, spec)
	expand("spec.description", &p.Spec.Description, spec)
	expand("spec.caveats", &p.Spec.Caveats, spec)
	if p.Spec.Version != version {
		errs = append(errs, fmt.Errorf("spec.version renders to %q; want {{ .Version }}", p.Spec.Version))
	}
	for _, pl := range tmpl.Spec.Platforms {
		a := archives[pl.OSArch()]
		if a == nil {
			continue
		}
		field := "platform " + pl.OSArch()
		platform := templateData{Version: version, SHA256: a.SHA256}
		pl.Files = append([]FileOperation(nil), pl.Files...)
		expand(field+" uri", &pl.URI, platform)
		expand(field+" sha256", &pl.SHA256, platform)
		if pl.SHA256 != a.SHA256 {
			errs = append(errs, fmt.Errorf("%s: sha256 renders to %q; want {{ .SHA256 }}", field, pl.SHA256))
		}
		if got := path.Base(pl.URI); got != a.Name {
			errs = append(errs, fmt.Errorf("%s: uri names %s, but the archive is %s", field, got, a.Name))
		}
		if !strings.Contains(pl.URI, "/"+version+"/") {
			errs = append(errs, fmt.Errorf("%s: uri %s does not name the release %s", field, pl.URI, version))
		}
		installed := false
		for _, f := range pl.Files {
			if !a.Has(f.From) {
				errs = append(errs, fmt.Errorf("%s: files from %q, which the archive lacks (it holds %s)", field, f.From, strings.Join(a.Entries, ", ")))
			}
			if f.From == pl.Bin && (f.To == "." || f.To == pl.Bin) {
				installed = true
			}
		}
		if !installed {
			errs = append(errs, fmt.Errorf("%s: bin %q is not among the files", field, pl.Bin))
		}
		p.Spec.Platforms = append(p.Spec.Platforms, pl)
	}
	for osArch := range archives {
		if !slices.ContainsFunc(tmpl.Spec.Platforms, func(pl Platform) bool { return pl.OSArch() == osArch }) {
			errs = append(errs, fmt.Errorf("archive for %s, which the manifest does not list", osArch))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &p, nil
}

// expandField executes s as a text/template over data. Placeholders that do
// not exist are errors.
func expandField(s string, data templateData) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	t, err := template.New("").Option("missingkey=error").Parse(s)
	if err != nil {
		return s, err
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return s, err
	}
	return b.String(), nil
}

// marshal renders the manifest in the layout of the krew index.
func (p *Plugin) marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	enc.CompactSeqIndent()
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
