package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubectl-netflow/kubectl-netflow/probe"
	"github.com/kubectl-netflow/kubectl-netflow/probe/server"
)

// ServeOptions are the options of netflow-probe serve.
type ServeOptions struct {
	streams   IOStreams
	newSource NewSourceFunc
	source    sourceFlags

	Listen        string
	Interval      time.Duration
	StatsInterval time.Duration
	IdleTimeout   time.Duration
	MaxLifetime   time.Duration
	QueueLength   int
	// Token is the secret clients must present; it comes from the
	// environment ($NETFLOW_TOKEN), never from a flag, because the node's
	// users can read every process's arguments.
	Token string
}

// NewServeOptions returns the options with their defaults.
func NewServeOptions(streams IOStreams, src NewSourceFunc) *ServeOptions {
	return &ServeOptions{
		streams:       streams,
		newSource:     src,
		source:        newSourceFlags(),
		Listen:        server.DefaultListen,
		Interval:      server.DefaultInterval,
		StatsInterval: server.DefaultStatsInterval,
		IdleTimeout:   server.DefaultIdleTimeout,
		MaxLifetime:   server.DefaultMaxLifetime,
		QueueLength:   server.DefaultQueueLength,
		Token:         os.Getenv(probe.TokenEnv),
	}
}

// NewCmdServe returns the serve command.
func NewCmdServe(streams IOStreams, src NewSourceFunc) *cobra.Command {
	o := NewServeOptions(streams, src)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Stream the node's flows to kubectl netflow",
		Long: `serve loads the probe and streams flow records to clients on a loopback port.
It exits by itself when no client has been connected for --idle-timeout, and after
--max-lifetime at the latest, detaching everything from the kernel.

When $NETFLOW_TOKEN is set, only clients that send it as "authorization: Bearer
<token>" get flows; kubectl netflow sets a new one for every session.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			return o.Run(cmd.Context())
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// AddFlags adds the flags of serve to fs.
func (o *ServeOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Listen, "listen", o.Listen, "Loopback address and port to serve on.")
	fs.DurationVar(&o.Interval, "interval", o.Interval, "How often to read the counters.")
	fs.DurationVar(&o.StatsInterval, "stats-interval", o.StatsInterval, "How often to send stats to clients.")
	fs.DurationVar(&o.IdleTimeout, "idle-timeout", o.IdleTimeout, "Exit when no client has been connected for this long.")
	fs.DurationVar(&o.MaxLifetime, "max-lifetime", o.MaxLifetime, "Exit after this long in any case.")
	fs.IntVar(&o.QueueLength, "queue-length", o.QueueLength, "Intervals a slow client may fall behind before its oldest are dropped.")
	o.source.addFlags(fs)
}

// Complete fills in what the flags leave open.
func (o *ServeOptions) Complete(*cobra.Command, []string) error { return nil }

// Validate checks the flags.
func (o *ServeOptions) Validate() error {
	if err := server.CheckListen(o.Listen); err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"interval", o.Interval}, {"stats-interval", o.StatsInterval},
		{"idle-timeout", o.IdleTimeout}, {"max-lifetime", o.MaxLifetime},
	} {
		if err := positive(d.flag, d.v); err != nil {
			return err
		}
	}
	if o.QueueLength <= 0 {
		return fmt.Errorf("--queue-length must be positive, got %d", o.QueueLength)
	}
	return o.source.validate()
}

// Run loads the probe and serves until the idle timeout, the maximum
// lifetime or ctx ends it. It listens before it loads, so that a port in use
// fails the probe at once, before anything is attached to the kernel.
func (o *ServeOptions) Run(ctx context.Context) error {
	log := slog.New(slog.NewTextHandler(o.streams.ErrOut, nil))
	lis, err := server.Listen(o.Listen)
	if err != nil {
		return err
	}
	src, err := o.newSource(o.source.config(log))
	if err != nil {
		return errors.Join(err, lis.Close())
	}
	srv, err := server.New(src, server.Config{
		Listen:        o.Listen,
		Interval:      o.Interval,
		StatsInterval: o.StatsInterval,
		IdleTimeout:   o.IdleTimeout,
		MaxLifetime:   o.MaxLifetime,
		NodeName:      o.source.nodeName,
		QueueLength:   o.QueueLength,
		Token:         o.Token,
		Logger:        log,
		NodeAddrs:     nodeAddrs(),
	})
	if err != nil {
		return errors.Join(err, lis.Close())
	}
	return srv.Serve(ctx, lis)
}

// nodeAddrs lists the addresses of the interfaces of the probe's network
// namespace, the node's, that can name the node to its peers.
func nodeAddrs() []string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []string
	for _, ifc := range ifaces {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ip, ok := nodeAddr(ifc.Name, a.String()); ok {
				out = append(out, ip)
			}
		}
	}
	return out
}

// nodeAddr reports whether an address (CIDR notation) of interface ifc
// names the node: not a loopback, link-local or multicast one, and none of
// kube-proxy's IPVS interface, which holds every Service address.
func nodeAddr(ifc, cidr string) (string, bool) {
	if ifc == "kube-ipvs0" {
		return "", false
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return "", false
	}
	ip := p.Addr().Unmap()
	if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
		return "", false
	}
	return ip.String(), true
}
