// Package enrich names both ends of a flow record in Kubernetes terms: the
// pod, namespace, container, workload, node and zone of the process that owns
// the socket, and what the remote address is (a pod, a node, a Service, an
// unknown private address or the internet).
//
// It keeps informers over pods, nodes, services and endpointslices (typed,
// trimmed to the fields it reads) and over replicasets and jobs (metadata
// only: owner references are all it needs).
package enrich

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

// Resource names an informer of the enricher.
type Resource string

// Resources the enricher watches. Pods and nodes are what source names need;
// the others refine destinations and workloads.
const (
	Pods           Resource = "pods"
	Nodes          Resource = "nodes"
	Services       Resource = "services"
	EndpointSlices Resource = "endpointslices"
	ReplicaSets    Resource = "replicasets"
	Jobs           Resource = "jobs"
)

// AllResources lists every resource the enricher can watch.
var AllResources = []Resource{Pods, Nodes, Services, EndpointSlices, ReplicaSets, Jobs}

// GroupResource returns the API group and resource of r, as RBAC names them.
func (r Resource) GroupResource() schema.GroupResource {
	switch r {
	case EndpointSlices:
		return schema.GroupResource{Group: "discovery.k8s.io", Resource: string(r)}
	case ReplicaSets:
		return schema.GroupResource{Group: "apps", Resource: string(r)}
	case Jobs:
		return schema.GroupResource{Group: "batch", Resource: string(r)}
	default:
		return schema.GroupResource{Resource: string(r)}
	}
}

// ZoneLabel is the node label that names a node's zone.
const ZoneLabel = corev1.LabelTopologyZone

// Config configures an Enricher.
type Config struct {
	Client kubernetes.Interface
	// Metadata lists replicasets and jobs; nil leaves them out, and the
	// workload of their pods is then inferred from labels.
	Metadata metadata.Interface
	// Resources lists what to watch; nil watches all. Leave out what the
	// user may not list: a missing informer only makes names poorer.
	Resources []Resource
}

const (
	byContainerID = "containerID"
	byIP          = "ip"
)

// Enricher fills in the Kubernetes fields of flow records. Enrich is safe for
// concurrent use once Start returned.
type Enricher struct {
	factory  informers.SharedInformerFactory
	mfactory metadatainformer.SharedInformerFactory

	pods, nodes, services, slices cache.SharedIndexInformer
	replicaSets, jobs             cache.SharedIndexInformer
	synced                        []cache.InformerSynced

	sharedKernel atomic.Bool

	addrMu    sync.RWMutex
	nodeAddrs map[string][]string // interface address → the nodes that have it
}

// New returns an Enricher; Start fills its caches.
func New(cfg Config) (*Enricher, error) {
	want := map[Resource]bool{}
	if cfg.Resources == nil {
		cfg.Resources = AllResources
	}
	for _, r := range cfg.Resources {
		want[r] = true
	}
	e := &Enricher{}
	e.factory = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithTransform(trim))
	add := func(inf cache.SharedIndexInformer, idx cache.Indexers) (cache.SharedIndexInformer, error) {
		if idx != nil {
			if err := inf.AddIndexers(idx); err != nil {
				return nil, err
			}
		}
		e.synced = append(e.synced, inf.HasSynced)
		return inf, nil
	}
	var err error
	if want[Pods] {
		if e.pods, err = add(e.factory.Core().V1().Pods().Informer(), cache.Indexers{byContainerID: podContainerIDs, byIP: podIPs}); err != nil {
			return nil, fmt.Errorf("indexing pods: %w", err)
		}
	}
	if want[Nodes] {
		if e.nodes, err = add(e.factory.Core().V1().Nodes().Informer(), cache.Indexers{byIP: nodeIPs}); err != nil {
			return nil, fmt.Errorf("indexing nodes: %w", err)
		}
	}
	if want[Services] {
		if e.services, err = add(e.factory.Core().V1().Services().Informer(), cache.Indexers{byIP: serviceIPs}); err != nil {
			return nil, fmt.Errorf("indexing services: %w", err)
		}
	}
	if want[EndpointSlices] {
		if e.slices, err = add(e.factory.Discovery().V1().EndpointSlices().Informer(), cache.Indexers{byIP: sliceIPs}); err != nil {
			return nil, fmt.Errorf("indexing endpointslices: %w", err)
		}
	}
	if cfg.Metadata != nil && (want[ReplicaSets] || want[Jobs]) {
		e.mfactory = metadatainformer.NewSharedInformerFactoryWithOptions(cfg.Metadata, 0, metadatainformer.WithTransform(trim))
		if want[ReplicaSets] {
			e.replicaSets, _ = add(e.mfactory.ForResource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}).Informer(), nil)
		}
		if want[Jobs] {
			e.jobs, _ = add(e.mfactory.ForResource(schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}).Informer(), nil)
		}
	}
	return e, nil
}

// Start starts the informers, which run until ctx ends, and waits until
// their caches are filled, at most syncTimeout (0: as long as ctx allows).
func (e *Enricher) Start(ctx context.Context, syncTimeout time.Duration) error {
	e.factory.Start(ctx.Done())
	if e.mfactory != nil {
		e.mfactory.Start(ctx.Done())
	}
	wctx := ctx
	if syncTimeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, syncTimeout)
		defer cancel()
	}
	if !cache.WaitForCacheSync(wctx.Done(), e.synced...) {
		return fmt.Errorf("filling the Kubernetes caches: %w", context.Cause(wctx))
	}
	return nil
}

// Shutdown waits for the informers to stop once the context given to Start
// ended.
func (e *Enricher) Shutdown() {
	e.factory.Shutdown()
	if e.mfactory != nil {
		e.mfactory.Shutdown()
	}
}

// Enrich fills in the source and destination names of r. The probe's fields
// (container id, addresses, node name) are kept; Kubernetes names replace
// whatever r held.
//
// It reports whether both ends are as named as they will get: false when
// the record's container or a private destination is not known yet, which
// happens to pods that only just started (the kubelet reports a container
// id and a pod IP a moment after they exist). Enriching such a record again
// a little later often names it.
func (e *Enricher) Enrich(r *flow.Record) (complete bool) {
	complete = e.source(r)
	e.destination(r)
	if r.DstWorkloadKind == flow.KindPrivate && !isLoopback(r.DstAddr) {
		complete = false
	}
	return complete
}

func isLoopback(addr string) bool {
	a, err := netip.ParseAddr(addr)
	return err == nil && a.Unmap().IsLoopback()
}

// source names the owner of the socket. A container is looked up by its
// runtime id; its pod's node becomes the record's node, which also puts
// flows right on nodes that share a kernel, where any probe sees every
// node's sockets. A process whose container is not known (yet: the kubelet
// reports a container id a moment after it started, and a short-lived one
// may be gone by then) or that has no container id, but whose local address
// is a pod's, lives in that pod's network namespace, so it is the pod's.
// Other processes belong to the node whose address they use, else to the
// node of the probe (on a shared kernel, to no node: the probe cannot tell
// which); they get workload kind "node".
func (e *Enricher) source(r *flow.Record) (complete bool) {
	if r.ContainerID != "" {
		if pod, container := e.podByContainerID(r.ContainerID); pod != nil {
			e.setPod(r, pod, container)
			return true
		}
	}
	if pod := e.podByIP(r.Addr); pod != nil {
		e.setPod(r, pod, soleContainer(pod))
		return true
	}
	complete = false
	if r.ContainerID == "" {
		if node := e.nodeByIP(r.Addr); node != nil {
			r.NodeName = node.Name
			complete = true
		} else {
			if e.sharedKernel.Load() {
				r.NodeName = ""
			}
			// A private address that is no node's may be a pod
			// the caches do not know yet: the probe could not
			// name the container of a process that already exited.
			complete = isLoopback(r.Addr) || AddressKind(r.Addr) == flow.KindInternet
		}
		r.WorkloadKind = flow.KindNode
		r.WorkloadName = r.NodeName
	}
	r.Zone = e.zone(r.NodeName)
	return complete
}

// SetSharedKernel tells the enricher that the probed nodes share one
// kernel, so a host process without a node's address cannot be placed on
// the node of the probe that saw it.
func (e *Enricher) SetSharedKernel(shared bool) { e.sharedKernel.Store(shared) }

// SetNodeAddrs records the addresses of node's interfaces, as its probe
// found them: bridges and tunnels that the Node object does not list (the
// address a kubelet's health checks come from, for one). An address several
// nodes have (a docker0 default) names the node of the record's own end.
func (e *Enricher) SetNodeAddrs(node string, addrs []string) {
	e.addrMu.Lock()
	defer e.addrMu.Unlock()
	if e.nodeAddrs == nil {
		e.nodeAddrs = map[string][]string{}
	}
	for _, a := range addrs {
		ip := canonicalIP(a)
		if !slices.Contains(e.nodeAddrs[ip], node) {
			e.nodeAddrs[ip] = append(e.nodeAddrs[ip], node)
		}
	}
}

// nodeByAddr returns the node that has ip on one of its interfaces, from
// the view of a process on local.
func (e *Enricher) nodeByAddr(ip, local string) string {
	e.addrMu.RLock()
	defer e.addrMu.RUnlock()
	nodes := e.nodeAddrs[canonicalIP(ip)]
	switch {
	case len(nodes) == 1:
		return nodes[0]
	case slices.Contains(nodes, local):
		return local
	}
	return ""
}

// soleContainer names the container of a pod that has only one.
func soleContainer(pod *corev1.Pod) string {
	if len(pod.Status.ContainerStatuses) == 1 {
		return pod.Status.ContainerStatuses[0].Name
	}
	return ""
}

func (e *Enricher) setPod(r *flow.Record, pod *corev1.Pod, container string) {
	r.PodName = pod.Name
	r.NS = pod.Namespace
	r.ContainerName = container
	r.WorkloadKind, r.WorkloadName = e.Workload(pod)
	if pod.Spec.NodeName != "" {
		r.NodeName = pod.Spec.NodeName
	}
	r.Zone = e.zone(r.NodeName)
}

// destination names the remote end, in this order: a pod (the backend that
// answered when connection tracking translated a Service address), a node,
// a Service ClusterIP the probe could not translate, an endpoint of a
// Service that is no pod, an address on one of a node's interfaces, an
// unknown private address, the internet.
func (e *Enricher) destination(r *flow.Record) {
	if pod := e.podByIP(r.DstAddr); pod != nil {
		r.DstPodName = pod.Name
		r.DstNS = pod.Namespace
		r.DstWorkloadKind, r.DstWorkloadName = e.Workload(pod)
		r.DstNodeName = pod.Spec.NodeName
		r.DstZone = e.zone(r.DstNodeName)
		return
	}
	if node := e.nodeByIP(r.DstAddr); node != nil {
		r.DstWorkloadKind = flow.KindNode
		r.DstWorkloadName = node.Name
		r.DstNodeName = node.Name
		r.DstZone = node.Labels[ZoneLabel]
		return
	}
	if svc := e.serviceByIP(r.DstAddr); svc != nil {
		r.DstWorkloadKind = flow.KindService
		r.DstWorkloadName = svc.Name
		r.DstNS = svc.Namespace
		return
	}
	if ns, name := e.serviceByEndpoint(r.DstAddr); name != "" {
		r.DstWorkloadKind = flow.KindService
		r.DstWorkloadName = name
		r.DstNS = ns
		return
	}
	// After Services: IPVS puts every ClusterIP on an interface of the node.
	if name := e.nodeByAddr(r.DstAddr, r.NodeName); name != "" {
		r.DstWorkloadKind = flow.KindNode
		r.DstWorkloadName = name
		r.DstNodeName = name
		r.DstZone = e.zone(name)
		return
	}
	r.DstWorkloadKind = AddressKind(r.DstAddr)
}

// AddressKind classifies an address that is no pod, node or Service:
// private (RFC 1918, CGNAT 100.64.0.0/10, ULA fc00::/7, loopback, link-local,
// unspecified, multicast) or internet. An address that does not parse is
// private: it cannot be routed on the internet either.
func AddressKind(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return flow.KindPrivate
	}
	a = a.Unmap()
	if a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsMulticast() || a.IsUnspecified() || cgnat.Contains(a) {
		return flow.KindPrivate
	}
	return flow.KindInternet
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Workload returns the kind and name of the workload that owns pod:
// a Deployment through its ReplicaSet, a CronJob through its Job, a
// StatefulSet, DaemonSet, Job or bare ReplicaSet as such, any other owner by
// its own kind, and a pod without owner as a Pod.
func (e *Enricher) Workload(pod *corev1.Pod) (kind, name string) {
	owner := controllerOf(pod.OwnerReferences)
	if owner == nil {
		return "Pod", pod.Name
	}
	switch {
	case owner.Kind == "ReplicaSet" && isGroup(owner.APIVersion, "apps"):
		if m := e.meta(e.replicaSets, pod.Namespace, owner.Name); m != nil {
			if up := controllerOf(m.OwnerReferences); up != nil {
				return up.Kind, up.Name
			}
			return "ReplicaSet", owner.Name
		}
		// Without the ReplicaSet at hand: a Deployment names its
		// ReplicaSets <deployment>-<pod-template-hash>.
		if h := pod.Labels["pod-template-hash"]; h != "" && strings.HasSuffix(owner.Name, "-"+h) {
			return "Deployment", strings.TrimSuffix(owner.Name, "-"+h)
		}
		return "ReplicaSet", owner.Name
	case owner.Kind == "Job" && isGroup(owner.APIVersion, "batch"):
		if m := e.meta(e.jobs, pod.Namespace, owner.Name); m != nil {
			if up := controllerOf(m.OwnerReferences); up != nil {
				return up.Kind, up.Name
			}
		}
		return "Job", owner.Name
	}
	return owner.Kind, owner.Name
}

func isGroup(apiVersion, group string) bool {
	return strings.HasPrefix(apiVersion, group+"/")
}

// controllerOf returns the controlling owner, else the first owner.
func controllerOf(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	if len(refs) > 0 {
		return &refs[0]
	}
	return nil
}

func (e *Enricher) meta(inf cache.SharedIndexInformer, ns, name string) *metav1.PartialObjectMetadata {
	if inf == nil {
		return nil
	}
	obj, ok, err := inf.GetStore().GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return nil
	}
	m, _ := obj.(*metav1.PartialObjectMetadata)
	return m
}

func (e *Enricher) zone(node string) string {
	if e.nodes == nil || node == "" {
		return ""
	}
	obj, ok, err := e.nodes.GetStore().GetByKey(node)
	if err != nil || !ok {
		return ""
	}
	return obj.(*corev1.Node).Labels[ZoneLabel]
}

func (e *Enricher) podByContainerID(id string) (*corev1.Pod, string) {
	if e.pods == nil {
		return nil, ""
	}
	objs, err := e.pods.GetIndexer().ByIndex(byContainerID, id)
	if err != nil || len(objs) == 0 {
		return nil, ""
	}
	pod := objs[0].(*corev1.Pod)
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for _, cs := range list {
			if runtimeID(cs.ContainerID) == id {
				return pod, cs.Name
			}
		}
	}
	return pod, ""
}

// podByIP returns the pod with IP ip. Finished pods may keep an address
// that a new pod already has: a running pod wins, then the newest.
func (e *Enricher) podByIP(ip string) *corev1.Pod {
	if e.pods == nil || ip == "" {
		return nil
	}
	objs, err := e.pods.GetIndexer().ByIndex(byIP, canonicalIP(ip))
	if err != nil || len(objs) == 0 {
		return nil
	}
	if len(objs) == 1 {
		return objs[0].(*corev1.Pod)
	}
	pods := make([]*corev1.Pod, len(objs))
	for i, o := range objs {
		pods[i] = o.(*corev1.Pod)
	}
	sort.Slice(pods, func(i, j int) bool {
		fi, fj := finished(pods[i]), finished(pods[j])
		if fi != fj {
			return !fi
		}
		return pods[j].CreationTimestamp.Before(&pods[i].CreationTimestamp)
	})
	return pods[0]
}

func finished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func (e *Enricher) nodeByIP(ip string) *corev1.Node {
	if e.nodes == nil || ip == "" {
		return nil
	}
	objs, err := e.nodes.GetIndexer().ByIndex(byIP, canonicalIP(ip))
	if err != nil || len(objs) == 0 {
		return nil
	}
	return objs[0].(*corev1.Node)
}

func (e *Enricher) serviceByIP(ip string) *corev1.Service {
	if e.services == nil || ip == "" {
		return nil
	}
	objs, err := e.services.GetIndexer().ByIndex(byIP, canonicalIP(ip))
	if err != nil || len(objs) == 0 {
		return nil
	}
	return objs[0].(*corev1.Service)
}

// serviceByEndpoint names the Service of an endpoint that is no pod, such as
// the API server behind the kubernetes Service.
func (e *Enricher) serviceByEndpoint(ip string) (ns, name string) {
	if e.slices == nil || ip == "" {
		return "", ""
	}
	objs, err := e.slices.GetIndexer().ByIndex(byIP, canonicalIP(ip))
	if err != nil || len(objs) == 0 {
		return "", ""
	}
	s := objs[0].(*discoveryv1.EndpointSlice)
	return s.Namespace, s.Labels[discoveryv1.LabelServiceName]
}

// canonicalIP writes ip the way the index keys are written, so that
// ::ffff:10.0.0.1 finds 10.0.0.1.
func canonicalIP(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	return a.Unmap().String()
}

// runtimeID strips the runtime scheme of a container status id:
// containerd://<id> → <id>.
func runtimeID(id string) string {
	if i := strings.Index(id, "://"); i >= 0 {
		return id[i+3:]
	}
	return id
}

func podContainerIDs(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	var ids []string
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for _, cs := range list {
			if cs.ContainerID != "" {
				ids = append(ids, runtimeID(cs.ContainerID))
			}
		}
	}
	return ids, nil
}

// podIPs indexes the addresses of pods with their own network namespace; a
// hostNetwork pod's address is its node's.
func podIPs(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.HostNetwork {
		return nil, nil
	}
	var ips []string
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, canonicalIP(ip.IP))
	}
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = append(ips, canonicalIP(pod.Status.PodIP))
	}
	return ips, nil
}

func nodeIPs(obj any) ([]string, error) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return nil, nil
	}
	var ips []string
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
			ips = append(ips, canonicalIP(a.Address))
		}
	}
	return ips, nil
}

func serviceIPs(obj any) ([]string, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, nil
	}
	var ips []string
	add := func(ip string) {
		if ip != "" && ip != corev1.ClusterIPNone {
			ips = append(ips, canonicalIP(ip))
		}
	}
	for _, ip := range svc.Spec.ClusterIPs {
		add(ip)
	}
	if len(svc.Spec.ClusterIPs) == 0 {
		add(svc.Spec.ClusterIP)
	}
	for _, ip := range svc.Spec.ExternalIPs {
		add(ip)
	}
	for _, in := range svc.Status.LoadBalancer.Ingress {
		add(in.IP)
	}
	return ips, nil
}

// sliceIPs indexes the endpoints of a Service that are not pods.
func sliceIPs(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelServiceName] == "" {
		return nil, nil
	}
	var ips []string
	for _, ep := range s.Endpoints {
		if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
			continue
		}
		for _, a := range ep.Addresses {
			ips = append(ips, canonicalIP(a))
		}
	}
	return ips, nil
}

// trim keeps only the fields the enricher reads, so that a cluster of ten
// thousand pods costs little memory in the plugin.
func trim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		p := &corev1.Pod{ObjectMeta: trimMeta(&o.ObjectMeta, "pod-template-hash")}
		p.Spec.NodeName = o.Spec.NodeName
		p.Spec.HostNetwork = o.Spec.HostNetwork
		p.Status.Phase = o.Status.Phase
		p.Status.PodIP = o.Status.PodIP
		p.Status.PodIPs = o.Status.PodIPs
		p.Status.ContainerStatuses = trimStatuses(o.Status.ContainerStatuses)
		p.Status.InitContainerStatuses = trimStatuses(o.Status.InitContainerStatuses)
		p.Status.EphemeralContainerStatuses = trimStatuses(o.Status.EphemeralContainerStatuses)
		return p, nil
	case *corev1.Node:
		n := &corev1.Node{ObjectMeta: trimMeta(&o.ObjectMeta, ZoneLabel)}
		n.Status.Addresses = o.Status.Addresses
		return n, nil
	case *corev1.Service:
		s := &corev1.Service{ObjectMeta: trimMeta(&o.ObjectMeta)}
		s.Spec.ClusterIP = o.Spec.ClusterIP
		s.Spec.ClusterIPs = o.Spec.ClusterIPs
		s.Spec.ExternalIPs = o.Spec.ExternalIPs
		s.Status.LoadBalancer = o.Status.LoadBalancer
		return s, nil
	case *discoveryv1.EndpointSlice:
		s := &discoveryv1.EndpointSlice{ObjectMeta: trimMeta(&o.ObjectMeta, discoveryv1.LabelServiceName)}
		for _, ep := range o.Endpoints {
			if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
				continue
			}
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: ep.Addresses, TargetRef: ep.TargetRef})
		}
		return s, nil
	case *metav1.PartialObjectMetadata:
		return &metav1.PartialObjectMetadata{TypeMeta: o.TypeMeta, ObjectMeta: trimMeta(&o.ObjectMeta)}, nil
	}
	return obj, nil
}

func trimMeta(m *metav1.ObjectMeta, keepLabels ...string) metav1.ObjectMeta {
	out := metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		CreationTimestamp: m.CreationTimestamp, DeletionTimestamp: m.DeletionTimestamp,
		OwnerReferences: m.OwnerReferences,
	}
	for _, k := range keepLabels {
		if v, ok := m.Labels[k]; ok {
			if out.Labels == nil {
				out.Labels = make(map[string]string, len(keepLabels))
			}
			out.Labels[k] = v
		}
	}
	return out
}

func trimStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i := range in {
		out[i] = corev1.ContainerStatus{Name: in[i].Name, ContainerID: in[i].ContainerID}
	}
	return out
}

// SyncTimeout is how long Start is usually given: the caches of a large
// cluster fill in a few seconds.
const SyncTimeout = 30 * time.Second
