// Package probes runs the netflow probe as short-lived pods, one per node:
// it picks the nodes, checks the user's permissions, creates the pods, waits
// for them with a reason when one cannot start, and deletes them again.
package probes

import (
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"

	"github.com/kubectl-netflow/kubectl-netflow/internal/version"
	"github.com/kubectl-netflow/kubectl-netflow/probe"
)

// Labels and values that mark probe pods, so cleanup finds them.
const (
	NameLabel      = "app.kubernetes.io/name"
	NameValue      = "netflow-probe"
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "kubectl-netflow"
	SessionLabel   = "netflow.kubectl.io/session"
	NodeLabel      = "netflow.kubectl.io/node"
	// Selector selects every probe pod of every session.
	Selector = NameLabel + "=" + NameValue
)

// ContainerName is the name of the probe's container.
const ContainerName = "probe"

// MinPort and MaxPort bound the port a session's probes listen on, on the
// node's loopback. The probes share the node's network namespace, so each
// session picks its own port at random, and two users on one node do not
// collide. The range is unprivileged, below the NodePort range (30000-32767)
// and Linux's ephemeral ports (32768-60999), and above the ports of
// Kubernetes' own node components (kubelet 10250, kube-proxy 10249 and
// 10256, ...).
const (
	MinPort = 20000
	MaxPort = 29999
)

// Capabilities are what the probe needs instead of a privileged container,
// measured on the lab (kernel 6.18): without any one of them the probe does
// not load; SYS_ADMIN, SYS_PTRACE and hostPID changed nothing and are left
// out. docs/security.md says why each one is there.
var Capabilities = []corev1.Capability{
	"BPF",       // load programs, create maps
	"PERFMON",   // tracing programs (tp_btf, fentry, kprobes) and the helpers they use
	"NET_ADMIN", // attach cgroup_skb and cgroup/sock_create programs, read connection tracking over netlink
}

// Config describes the probe pods of a session.
type Config struct {
	// Namespace is where the pods run.
	Namespace string
	// Image is the probe image; empty means the image of this build.
	Image string
	// ImagePullPolicy; empty means IfNotPresent.
	ImagePullPolicy corev1.PullPolicy
	// ImagePullSecrets name Secrets in Namespace.
	ImagePullSecrets []string
	// Privileged runs the probe as a privileged container, for clusters
	// where the capabilities are not enough.
	Privileged bool
	// ReceiveHook is the probes' --receive-hook; empty leaves their
	// default (sampled).
	ReceiveHook probe.ReceiveHook
	// MaxDuration bounds the life of each pod (activeDeadlineSeconds and
	// the probe's --max-lifetime).
	MaxDuration time.Duration
	// IdleTimeout is how long a probe waits without a client before it
	// exits: it ends probes whose plugin was killed.
	IdleTimeout time.Duration
	// Port is where the probe listens on the node's loopback; 0 picks one
	// between MinPort and MaxPort at random.
	Port int
	// Token is the session's secret, which the probe requires of its
	// clients; empty makes a new one.
	Token string
	// Session labels the pods of one run; empty picks a random one.
	Session string
}

// Defaults of Config.
const (
	DefaultMaxDuration = time.Hour
	DefaultIdleTimeout = time.Minute
)

func (c *Config) setDefaults() {
	if c.Image == "" {
		c.Image = version.ProbeImage()
	}
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = corev1.PullIfNotPresent
	}
	if c.MaxDuration <= 0 {
		c.MaxDuration = DefaultMaxDuration
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.Port == 0 {
		c.Port = MinPort + mrand.IntN(MaxPort-MinPort+1)
	}
	if c.Token == "" {
		c.Token = newToken()
	}
	if c.Session == "" {
		c.Session = rand.String(6)
	}
}

// newToken returns 32 random bytes in hex.
func newToken() string {
	b := make([]byte, 32)
	// crypto/rand.Read does not fail (it panics if the kernel's random
	// source does).
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

// PodName returns the name of the probe pod of a session on a node. Node
// names can be 253 characters long; pod names too, but a readable prefix and
// a stable, unique name matter more than the full node name.
func PodName(session, node string) string {
	n := strings.ToLower(node)
	if len(n) > 40 {
		n = n[:40]
	}
	n = strings.Trim(strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			return r
		}
		return '-'
	}, n), "-")
	return SessionPodPrefix(session) + n
}

// SessionPodPrefix is how the names of a session's probe pods begin.
func SessionPodPrefix(session string) string { return "netflow-probe-" + session + "-" }

// Pod returns the probe pod for node.
func Pod(cfg Config, node string) *corev1.Pod {
	cfg.setDefaults()
	hostPath := func(name, path string) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}}}
	}
	sc := &corev1.SecurityContext{
		RunAsUser:              ptr.To[int64](0),
		RunAsNonRoot:           ptr.To(false),
		ReadOnlyRootFilesystem: ptr.To(true),
		Capabilities:           &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: Capabilities},
	}
	if cfg.Privileged {
		sc.Privileged = ptr.To(true)
		sc.Capabilities = nil
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      PodName(cfg.Session, node),
			Namespace: cfg.Namespace,
			Labels: map[string]string{
				NameLabel:      NameValue,
				ManagedByLabel: ManagedByValue,
				SessionLabel:   cfg.Session,
				NodeLabel:      labelValue(node),
			},
			Annotations: map[string]string{
				"netflow.kubectl.io/node":    node,
				"netflow.kubectl.io/version": version.Version,
			},
		},
		Spec: corev1.PodSpec{
			NodeName: node,
			// The node's network namespace, so that connection tracking
			// is the node's: it knows which backend a Service address
			// was translated to. The probe listens on the node's
			// loopback, on the session's port, and requires the
			// session's token.
			HostNetwork:                   true,
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			ActiveDeadlineSeconds:         ptr.To(int64(cfg.MaxDuration.Seconds()) + 1),
			TerminationGracePeriodSeconds: ptr.To[int64](5),
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name:            ContainerName,
				Image:           cfg.Image,
				ImagePullPolicy: cfg.ImagePullPolicy,
				Args: []string{
					"serve",
					fmt.Sprintf("--listen=127.0.0.1:%d", cfg.Port),
					fmt.Sprintf("--idle-timeout=%s", cfg.IdleTimeout),
					fmt.Sprintf("--max-lifetime=%s", cfg.MaxDuration),
				},
				Env: []corev1.EnvVar{{
					Name:      "NODE_NAME",
					ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}},
				}, {
					// In the environment, not the arguments: every user
					// of the node can read a process's arguments, only
					// root its environment.
					Name:  probe.TokenEnv,
					Value: cfg.Token,
				}},
				// No container port: with the host network it would
				// reserve the port on the node as a hostPort, which the
				// probe does not need (the port-forward reaches its
				// loopback) and which could keep the pod from starting.
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("20m"),
						corev1.ResourceMemory: resource.MustParse("64Mi"),
					},
					Limits: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("1"),
						corev1.ResourceMemory: resource.MustParse("256Mi"),
					},
				},
				SecurityContext:          sc,
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				VolumeMounts: []corev1.VolumeMount{
					{Name: "cgroup", MountPath: "/sys/fs/cgroup", ReadOnly: true},
					{Name: "btf", MountPath: "/sys/kernel/btf", ReadOnly: true},
					{Name: "tracefs", MountPath: "/sys/kernel/tracing", ReadOnly: true},
				},
			}},
			Volumes: []corev1.Volume{
				hostPath("cgroup", "/sys/fs/cgroup"),
				hostPath("btf", "/sys/kernel/btf"),
				hostPath("tracefs", "/sys/kernel/tracing"),
			},
		},
	}
	if cfg.ReceiveHook != "" && cfg.ReceiveHook != probe.ReceiveHookSampled {
		c := &pod.Spec.Containers[0]
		c.Args = append(c.Args, "--receive-hook="+string(cfg.ReceiveHook))
	}
	for _, s := range cfg.ImagePullSecrets {
		pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	return pod
}

// labelValue makes a node name fit a label value (63 characters).
func labelValue(s string) string {
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "-_.")
}
