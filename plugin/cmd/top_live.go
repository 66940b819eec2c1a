package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/klog/v2"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/internal/version"
	"github.com/kubectl-netflow/kubectl-netflow/plugin/enrich"
	"github.com/kubectl-netflow/kubectl-netflow/plugin/live"
	"github.com/kubectl-netflow/kubectl-netflow/plugin/portforward"
	"github.com/kubectl-netflow/kubectl-netflow/plugin/probes"
	"github.com/kubectl-netflow/kubectl-netflow/probe"
)

// liveOptions holds the flags of live collection from the cluster, shared by
// top and flows.
type liveOptions struct {
	Nodes            []string
	NodeSelector     string
	MaxNodes         int
	ProbeNamespace   string
	Image            string
	ImagePullSecrets []string
	Privileged       bool
	ReceiveHook      string
	MaxDuration      time.Duration
	IdleTimeout      time.Duration
	StartTimeout     time.Duration
	Record           string
	ShowProbes       bool
}

func newLiveOptions() liveOptions {
	return liveOptions{
		MaxNodes:     probes.DefaultMaxNodes,
		ReceiveHook:  string(probe.ReceiveHookSampled),
		MaxDuration:  probes.DefaultMaxDuration,
		IdleTimeout:  probes.DefaultIdleTimeout,
		StartTimeout: probes.DefaultStartTimeout,
	}
}

func (o *TopOptions) addLiveFlags(cmd *cobra.Command) {
	o.live = newLiveOptions()
	o.live.addFlags(cmd.Flags())
}

func (o *TopOptions) validateLive() error { return o.live.validate() }

func (o *TopOptions) liveSource(ctx context.Context, progress io.Writer) (flow.Source, error) {
	return o.live.source(ctx, o.configFlags, progress)
}

func (o *liveOptions) addFlags(f *pflag.FlagSet) {
	f.StringSliceVar(&o.Nodes, "node", o.Nodes, "Probe these nodes (repeat the flag or separate with commas). Default: every Linux node, up to --max-nodes.")
	f.StringVarP(&o.NodeSelector, "node-selector", "l", o.NodeSelector, "Probe the nodes with these labels, for example topology.kubernetes.io/zone=eu-west-1a.")
	f.IntVar(&o.MaxNodes, "max-nodes", o.MaxNodes, "Refuse to start more probes than this; 0 means no limit.")
	f.StringVar(&o.ProbeNamespace, "probe-namespace", o.ProbeNamespace, "Namespace of the probe pods (default: the current namespace). It must allow privileged pods.")
	f.StringVar(&o.Image, "image", o.Image, "Probe image (default "+version.ProbeImage()+").")
	f.StringSliceVar(&o.ImagePullSecrets, "image-pull-secret", o.ImagePullSecrets, "Secret in the probe namespace to pull the probe image with (repeatable).")
	f.BoolVar(&o.Privileged, "privileged", o.Privileged, "Run the probes as privileged containers instead of with the capabilities they need (see docs/security.md).")
	f.StringVar(&o.ReceiveHook, "receive-hook", o.ReceiveHook, probe.ReceiveHookUsage)
	f.DurationVar(&o.MaxDuration, "max-duration", o.MaxDuration, "The probes stop after this long in any case; the cluster enforces it (activeDeadlineSeconds).")
	f.DurationVar(&o.IdleTimeout, "idle-timeout", o.IdleTimeout, "A probe whose plugin went away (killed, network lost) exits after this long without a client.")
	f.DurationVar(&o.StartTimeout, "start-timeout", o.StartTimeout, "How long a probe may take to start before its node is reported as failed.")
	f.StringVar(&o.Record, "record", o.Record, "Also write the enriched flow records to this NDJSON file, for --replay.")
	f.BoolVar(&o.ShowProbes, "show-probes", o.ShowProbes, "Also count the traffic of this session's own probe pods (their streams to the plugin), which is left out by default.")
}

func (o *liveOptions) validate() error {
	switch {
	case o.MaxNodes < 0:
		return errors.New("--max-nodes: must be 0 (no limit) or more")
	case o.MaxDuration < 10*time.Second:
		return errors.New("--max-duration: must be at least 10s")
	case o.IdleTimeout < 5*time.Second:
		return errors.New("--idle-timeout: must be at least 5s")
	case o.StartTimeout <= 0:
		return errors.New("--start-timeout: must be positive")
	}
	if _, err := probe.ParseReceiveHook(o.ReceiveHook); err != nil {
		return fmt.Errorf("--receive-hook: %w", err)
	}
	var nodes []string
	for _, n := range o.Nodes {
		for _, p := range strings.Split(n, ",") {
			if p = strings.TrimSpace(p); p != "" {
				nodes = append(nodes, p)
			}
		}
	}
	o.Nodes = nodes
	return nil
}

// source builds the live flow source: it checks permissions, picks the
// nodes and wires probes, port-forwards and enrichment together. The probes
// start when the source is streamed.
func (o *liveOptions) source(ctx context.Context, configFlags *genericclioptions.ConfigFlags, errOut io.Writer) (flow.Source, error) {
	// client-go reports port-forward hiccups through klog; the source
	// reports them per node instead.
	klog.SetLogger(logr.Discard())

	restConfig, err := configFlags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	restConfig.QPS, restConfig.Burst = 50, 100
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	meta, err := metadata.NewForConfig(restConfig)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	ns := o.ProbeNamespace
	if ns == "" {
		if ns, _, err = configFlags.ToRawKubeConfigLoader().Namespace(); err != nil {
			return nil, fmt.Errorf("reading the current namespace: %w", err)
		}
	}
	name := "cluster"
	if raw, err := configFlags.ToRawKubeConfigLoader().RawConfig(); err == nil {
		name = raw.CurrentContext
		if configFlags.Context != nil && *configFlags.Context != "" {
			name = *configFlags.Context
		}
	}

	if err := probes.Preflight(ctx, client, ns); err != nil {
		return nil, err
	}
	resources, err := enrichResources(ctx, client, errOut)
	if err != nil {
		return nil, err
	}
	nodes, err := probes.SelectNodes(ctx, client, probes.Selection{Names: o.Nodes, LabelSelector: o.NodeSelector, MaxNodes: o.MaxNodes})
	if err != nil {
		return nil, err
	}
	names := make([]string, len(nodes))
	unusable := map[string]string{}
	for i, n := range nodes {
		names[i] = n.Name
		if n.NotReady != "" {
			unusable[n.Name] = n.NotReady
		}
	}
	mgr := probes.NewManager(client, probes.Config{
		Namespace:        ns,
		Image:            o.Image,
		ImagePullSecrets: o.ImagePullSecrets,
		Privileged:       o.Privileged,
		ReceiveHook:      probe.ReceiveHook(o.ReceiveHook),
		MaxDuration:      o.MaxDuration,
		IdleTimeout:      o.IdleTimeout,
		ImagePullPolicy:  pullPolicy(o.Image),
	})
	enricher, err := enrich.New(enrich.Config{Client: client, Metadata: meta, Resources: resources})
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	progress := func(node, msg string) {
		mu.Lock()
		defer mu.Unlock()
		if node == "" {
			fmt.Fprintln(errOut, msg)
			return
		}
		fmt.Fprintf(errOut, "%s: %s\n", node, msg)
	}
	var src flow.Source = live.New(live.Config{
		Name:         name,
		Nodes:        names,
		Unusable:     unusable,
		Probes:       mgr,
		Connect:      live.PortForwardConnector(portforward.New(restConfig, client), mgr),
		Enricher:     enricher,
		Progress:     progress,
		StartTimeout: o.StartTimeout,
	})
	if !o.ShowProbes {
		src = &skipPods{src: src, ns: ns, prefix: probes.SessionPodPrefix(mgr.Config().Session)}
	}
	if o.Record != "" {
		src = &recordSource{src: src, path: o.Record}
	}
	return src, nil
}

// pullPolicy follows Kubernetes' default for the image the user named:
// :latest is pulled every time, a fixed tag only when missing. The default
// image has a fixed tag (the plugin's version; lab clusters import it).
func pullPolicy(image string) corev1.PullPolicy {
	if strings.HasSuffix(image, ":latest") {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// enrichResources returns the resources the user may list and watch across
// the cluster, and warns about the others: they only make names poorer.
func enrichResources(ctx context.Context, client kubernetes.Interface, errOut io.Writer) ([]enrich.Resource, error) {
	var perms []probes.Permission
	for _, r := range enrich.AllResources {
		gr := r.GroupResource()
		for _, verb := range []string{"list", "watch"} {
			perms = append(perms, probes.Permission{Verb: verb, Group: gr.Group, Resource: gr.Resource, Why: "name pods, workloads and Services"})
		}
	}
	missing, err := probes.Check(ctx, client, perms)
	if err != nil {
		return nil, err
	}
	denied := map[string]bool{}
	for _, p := range missing {
		denied[p.Resource] = true
	}
	var ok []enrich.Resource
	var warn []string
	for _, r := range enrich.AllResources {
		if denied[r.GroupResource().Resource] {
			warn = append(warn, r.GroupResource().String())
			continue
		}
		ok = append(ok, r)
	}
	if len(warn) > 0 {
		fmt.Fprintf(errOut, "warning: RBAC: you may not list and watch %s cluster-wide; flows will lack the names they give (docs/rbac.yaml has the ClusterRole)\n", strings.Join(warn, ", "))
	}
	return ok, nil
}

// recordSource tees the records of a source into a file.
type recordSource struct {
	src  flow.Source
	path string
}

func (r *recordSource) Stream(ctx context.Context, fn func(*flow.Batch) error) error {
	f, err := os.Create(r.path)
	if err != nil {
		return fmt.Errorf("creating the --record file: %w", err)
	}
	err = live.Tee(r.src, f).Stream(ctx, fn)
	if cerr := f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("writing the --record file: %w", cerr)
	}
	return err
}

// skipPods leaves out the records of the pods in ns whose names begin with
// prefix: the session's own probes, whose streams to the plugin would
// otherwise rank among the top talkers they measure.
type skipPods struct {
	src        flow.Source
	ns, prefix string
}

func (s *skipPods) Stream(ctx context.Context, fn func(*flow.Batch) error) error {
	var kept []flow.Record
	return s.src.Stream(ctx, func(b *flow.Batch) error {
		kept = kept[:0]
		for i := range b.Records {
			r := &b.Records[i]
			if r.NS == s.ns && strings.HasPrefix(r.PodName, s.prefix) {
				continue
			}
			kept = append(kept, *r)
		}
		if len(kept) == len(b.Records) {
			return fn(b)
		}
		return fn(&flow.Batch{Records: kept, Status: b.Status})
	})
}
