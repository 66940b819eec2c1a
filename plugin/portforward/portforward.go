// Package portforward opens Kubernetes port-forwards to pods through the API
// server: websockets first (Kubernetes 1.30 and later), SPDY as the fallback,
// as kubectl port-forward does. Probes are reached only this way, never
// through a node or pod address.
package portforward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"
)

// Forwarder opens port-forwards to pods.
type Forwarder struct {
	config *rest.Config
	client kubernetes.Interface
}

// New returns a Forwarder that talks to the API server of config.
func New(config *rest.Config, client kubernetes.Interface) *Forwarder {
	return &Forwarder{config: config, client: client}
}

// Tunnel is an open port-forward: a listener on a loopback port of this
// machine whose connections reach a port of the pod.
type Tunnel struct {
	// Addr is the local address to dial (127.0.0.1:port).
	Addr string

	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Done is closed when the tunnel has ended; Err then tells why.
func (t *Tunnel) Done() <-chan struct{} { return t.done }

// Err returns why the tunnel ended: nil after Close, else the lost
// connection to the pod.
func (t *Tunnel) Err() error {
	<-t.done
	return t.err
}

// Close ends the tunnel and waits until it has.
func (t *Tunnel) Close() {
	t.cancel()
	<-t.done
}

// Open forwards a free loopback port of this machine to port of pod ns/name
// and returns once it listens. The tunnel ends when ctx ends, on Close, or
// when the connection to the pod is lost.
func (f *Forwarder) Open(ctx context.Context, ns, name string, port int) (*Tunnel, error) {
	req := f.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(name).SubResource("portforward")
	dialer, err := f.dialer(req.URL())
	if err != nil {
		return nil, fmt.Errorf("port-forwarding to pod %s/%s: %w", ns, name, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{})
	pf, err := portforward.NewOnAddressesForStreamingWithContext(ctx, dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(port)}, ready, io.Discard, io.Discard)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("port-forwarding to pod %s/%s: %w", ns, name, err)
	}
	t := &Tunnel{cancel: cancel, done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		defer close(t.done)
		err := pf.ForwardPorts()
		errc <- err
		if errors.Is(err, portforward.ErrLostConnectionToPod) || ctx.Err() == nil {
			t.err = err
		}
		cancel()
	}()
	select {
	case <-ready:
	case err := <-errc:
		if err == nil {
			err = context.Cause(ctx)
		}
		return nil, fmt.Errorf("port-forwarding to pod %s/%s: %w", ns, name, err)
	}
	ports, err := pf.GetPorts()
	if err == nil && len(ports) == 0 {
		err = errors.New("none reported")
	}
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("port-forwarding to pod %s/%s: no local port: %w", ns, name, err)
	}
	t.Addr = "127.0.0.1:" + strconv.Itoa(int(ports[0].Local))
	return t, nil
}

// dialer prefers websockets and falls back to SPDY when the API server (or a
// proxy before it) does not upgrade them, as kubectl does.
func (f *Forwarder) dialer(u *url.URL) (httpstream.Dialer, error) {
	transport, upgrader, err := spdy.RoundTripperFor(f.config)
	if err != nil {
		return nil, err
	}
	spdyDialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	ws, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, f.config)
	if err != nil {
		return spdyDialer, nil
	}
	return portforward.NewFallbackDialerForStreaming(ws, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	}), nil
}
