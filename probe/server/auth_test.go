package server_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	probev1 "github.com/kubectl-netflow/kubectl-netflow/probe/api/v1"
	"github.com/kubectl-netflow/kubectl-netflow/probe/server"
	"github.com/kubectl-netflow/kubectl-netflow/probe/server/servertest"
)

// TestToken opens raw streams, so that what the server accepts is tested
// apart from what the client sends.
func TestToken(t *testing.T) {
	const token = "5e55a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9"
	tests := []struct {
		name   string
		server string // the server's token
		auth   []string
		want   codes.Code
	}{
		{"right token", token, []string{"Bearer " + token}, codes.OK},
		{"right token among others", token, []string{"Bearer wrong", "Bearer " + token}, codes.OK},
		{"wrong token", token, []string{"Bearer " + token[:len(token)-1] + "0"}, codes.Unauthenticated},
		{"token of another length", token, []string{"Bearer " + token[:8]}, codes.Unauthenticated},
		{"token without Bearer", token, []string{token}, codes.Unauthenticated},
		{"missing token", token, nil, codes.Unauthenticated},
		{"no token configured: no check", "", nil, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := servertest.Start(t, &servertest.Source{}, server.Config{
				Interval: 10 * time.Millisecond, IdleTimeout: time.Minute, MaxLifetime: time.Hour, Token: tt.server,
			})
			pc, ctx := srv.RawClient(t)
			for _, a := range tt.auth {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", a)
			}
			stream, err := pc.Watch(ctx, &probev1.WatchRequest{ProtocolVersion: probev1.ProtocolVersion})
			var ev *probev1.Event
			if err == nil {
				ev, err = stream.Recv()
			}
			if got := status.Code(err); got != tt.want {
				t.Fatalf("got %v (%v), want %v", got, err, tt.want)
			}
			if tt.want == codes.OK && ev.GetHello() == nil {
				t.Errorf("first event %v, want the hello", ev)
			}
		})
	}
}
