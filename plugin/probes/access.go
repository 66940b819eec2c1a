package probes

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// RBACDocs is where the ready Role and ClusterRole are.
const RBACDocs = "https://github.com/kubectl-netflow/kubectl-netflow/blob/main/docs/rbac.yaml"

// Permission is one thing a user must be allowed to do.
type Permission struct {
	Verb        string
	Group       string
	Resource    string
	Subresource string
	// Namespace is empty for cluster-wide access.
	Namespace string
	// Why says what it is needed for.
	Why string
}

// String writes p the way kubectl auth can-i reads it.
func (p Permission) String() string {
	r := p.Resource
	if p.Group != "" {
		r += "." + p.Group
	}
	if p.Subresource != "" {
		r += "/" + p.Subresource
	}
	where := "cluster-wide"
	if p.Namespace != "" {
		where = fmt.Sprintf("in namespace %q", p.Namespace)
	}
	return fmt.Sprintf("%s %s %s", p.Verb, r, where)
}

// Required lists what running probes in namespace ns takes.
func Required(ns string) []Permission {
	return []Permission{
		{Verb: "list", Resource: "nodes", Why: "pick the nodes to probe"},
		{Verb: "create", Resource: "pods", Namespace: ns, Why: "start the probes"},
		{Verb: "watch", Resource: "pods", Namespace: ns, Why: "wait for the probes to start"},
		{Verb: "get", Resource: "pods", Namespace: ns, Why: "see why a probe stopped"},
		{Verb: "delete", Resource: "pods", Namespace: ns, Why: "remove the probes on exit"},
		{Verb: "create", Resource: "pods", Subresource: "portforward", Namespace: ns, Why: "stream from the probes"},
	}
}

// ForbiddenError says which permission is missing and how to get it.
type ForbiddenError struct {
	Missing []Permission
	// User is who asked, when known.
	User string
}

func (e *ForbiddenError) Error() string {
	var b strings.Builder
	who := "you"
	if e.User != "" {
		who = e.User
	}
	fmt.Fprintf(&b, "RBAC: %s may not ", who)
	for i, p := range e.Missing {
		if i > 0 {
			b.WriteString("; nor ")
		}
		fmt.Fprintf(&b, "%s (needed to %s)", p, p.Why)
	}
	fmt.Fprintf(&b, ". Ask a cluster admin to bind the kubectl-netflow ClusterRole and Role of docs/rbac.yaml (%s); check with: kubectl auth can-i %s",
		RBACDocs, canI(e.Missing[0]))
	return b.String()
}

func canI(p Permission) string {
	r := p.Resource
	if p.Group != "" {
		r += "." + p.Group
	}
	if p.Subresource != "" {
		r += "/" + p.Subresource
	}
	s := p.Verb + " " + r
	if p.Namespace != "" {
		s += " -n " + p.Namespace
	}
	return s
}

// Check asks the API server, with SelfSubjectAccessReviews, whether the user
// may do each of perms, and returns those it may not.
func Check(ctx context.Context, client kubernetes.Interface, perms []Permission) ([]Permission, error) {
	// One review per permission, all at once: start-up waits for the
	// slowest, not for their sum.
	allowed := make([]bool, len(perms))
	errs := make([]error, len(perms))
	var wg sync.WaitGroup
	for i, p := range perms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			allowed[i], errs[i] = review(ctx, client, p)
		}()
	}
	wg.Wait()
	var missing []Permission
	for i, p := range perms {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if !allowed[i] {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

func review(ctx context.Context, client kubernetes.Interface, p Permission) (bool, error) {
	r := &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace:   p.Namespace,
				Verb:        p.Verb,
				Group:       p.Group,
				Resource:    p.Resource,
				Subresource: p.Subresource,
			},
		},
	}
	got, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, r, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("checking whether you may %s: %w", p, err)
	}
	return got.Status.Allowed, nil
}

// Preflight checks that the user may run probes in namespace ns and returns
// a ForbiddenError naming what is missing.
func Preflight(ctx context.Context, client kubernetes.Interface, ns string) error {
	missing, err := Check(ctx, client, Required(ns))
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return &ForbiddenError{Missing: missing}
	}
	return nil
}

// PodSecurityError is a probe pod rejected by Pod Security admission.
type PodSecurityError struct {
	Namespace string
	// Level is the enforced level, such as restricted or baseline.
	Level string
	// Detail is the API server's message.
	Detail string
}

func (e *PodSecurityError) Error() string {
	level := e.Level
	if level == "" {
		level = "a Pod Security level"
	} else {
		level = fmt.Sprintf("Pod Security level %q", level)
	}
	return fmt.Sprintf("namespace %q enforces %s, which rejects the probe (it needs read-only hostPath mounts and the BPF, PERFMON and NET_ADMIN capabilities). "+
		"Allow it with: kubectl label namespace %s pod-security.kubernetes.io/enforce=privileged --overwrite, "+
		"or run the probes in a namespace that allows privileged pods with --probe-namespace. API server said: %s",
		e.Namespace, level, e.Namespace, e.Detail)
}

var podSecurityLevel = regexp.MustCompile(`violates PodSecurity "([a-z]+)(:[^"]*)?"`)

// Explain turns an API error of a request into one that says what to do:
// a Pod Security rejection names the namespace label that allows the probe,
// a Forbidden error the verb and resource that are missing.
func Explain(err error, verb, group, resource, ns string) error {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !apierrors.IsForbidden(err) {
		return err
	}
	msg := status.Status().Message
	if m := podSecurityLevel.FindStringSubmatch(msg); m != nil {
		return &PodSecurityError{Namespace: ns, Level: m[1], Detail: msg}
	}
	res, sub, _ := strings.Cut(resource, "/")
	return &ForbiddenError{Missing: []Permission{{Verb: verb, Group: group, Resource: res, Subresource: sub, Namespace: ns, Why: whyOf(verb, resource)}}}
}

func whyOf(verb, resource string) string {
	for _, p := range Required("") {
		r := p.Resource
		if p.Subresource != "" {
			r += "/" + p.Subresource
		}
		if p.Verb == verb && r == resource {
			return p.Why
		}
	}
	return "run the probes"
}
