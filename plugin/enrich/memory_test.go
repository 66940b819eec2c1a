package enrich

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

// realisticPod is a pod as an API server returns it: labels, annotations,
// managed fields, two containers with env and resources, full statuses.
func realisticPod(i int) *corev1.Pod {
	yes := true
	ns := fmt.Sprintf("team-%02d", i%40)
	app := fmt.Sprintf("service-%03d", i%400)
	container := func(name string) corev1.Container {
		return corev1.Container{
			Name: name, Image: "registry.example.com/" + app + ":v1.2.3",
			Env:       []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "two"}, {Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}},
			Ports:     []corev1.ContainerPort{{ContainerPort: 8080}},
		}
	}
	status := func(name string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, Ready: true, Image: "registry.example.com/" + app + ":v1.2.3",
			ImageID:     "registry.example.com/" + app + "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			ContainerID: fmt.Sprintf("containerd://%064x", i*2+len(name)),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: fmt.Sprintf("%s-7d9f8c6b5-%05d", app, i), UID: types.UID(fmt.Sprintf("uid-%08d", i)),
			Labels:          map[string]string{"app": app, "pod-template-hash": "7d9f8c6b5", "team": ns, "version": "v1.2.3"},
			Annotations:     map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090", "kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: app + "-7d9f8c6b5", UID: "rs", Controller: &yes}},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: "Update", APIVersion: "v1", FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(strings.Repeat("f", 2048))}},
		},
		Spec: corev1.PodSpec{NodeName: fmt.Sprintf("node-%03d", i%200), Containers: []corev1.Container{container("app"), container("sidecar")}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{status("app"), status("sidecar")}},
	}
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestMemory10kPods reports what the enricher's caches cost with 10,000
// pods on 200 nodes. The figure goes in the note.
func TestMemory10kPods(t *testing.T) {
	if os.Getenv("NETFLOW_LOAD_TEST") == "" {
		t.Skip("a memory measurement; NETFLOW_LOAD_TEST=1 runs it")
	}
	const pods = 10_000
	objs := make([]k8sruntime.Object, 0, pods+200)
	for i := 0; i < 200; i++ {
		objs = append(objs, node(fmt.Sprintf("node-%03d", i), fmt.Sprintf("zone-%d", i%3), fmt.Sprintf("192.168.%d.%d", i/250, i%250)))
	}
	h0 := heap()
	for i := 0; i < pods; i++ {
		objs = append(objs, realisticPod(i))
	}
	full := heap() - h0
	cs := fake.NewClientset(objs...)
	h1 := heap()
	e, err := New(Config{Client: cs, Resources: []Resource{Pods, Nodes}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); e.Shutdown() }()
	if err := e.Start(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	cached := heap() - h1
	t.Logf("FIGURE enricher memory with %d pods on 200 nodes: %.1f MiB in the caches and indexes (%.0f bytes/pod); the full pod objects take %.1f MiB",
		pods, float64(cached)/(1<<20), float64(cached)/pods, float64(full)/(1<<20))
	if n := len(e.pods.GetStore().List()); n != pods {
		t.Fatalf("%d pods cached", n)
	}
	runtime.KeepAlive(cs)
}
