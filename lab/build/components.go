// Package build pins the Kubernetes components the lab cluster runs. It is its
// own module, so the project's go.mod never carries k8s.io/kubernetes.
//
// The blank imports keep `go mod tidy` from dropping what the main packages
// under k8s.io/kubernetes/cmd need; lab/scripts/build.sh builds those.
package build

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
)
