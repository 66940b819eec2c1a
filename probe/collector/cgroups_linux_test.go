//go:build linux

package collector

import "testing"

func TestContainerIDFromPath(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ path, want string }{
		{"/kubepods/besteffort/pod1234/" + id, id},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-pod12.slice/cri-containerd-" + id + ".scope", id},
		{"/system.slice/docker-" + id + ".scope", id},
		{"/kubepods/pod1234/crio-" + id + ".scope", id},
		{"/kubepods/pod1234/" + id + "/nested", id},
		{"/system.slice/sshd.service", ""},
		{"/", ""},
		{"/user.slice/" + id[:63], ""},
	} {
		if got := ContainerIDFromPath(tc.path); got != tc.want {
			t.Errorf("ContainerIDFromPath(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}
