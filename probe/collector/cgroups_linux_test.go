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

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/sys/fs/cgroup`:       "/sys/fs/cgroup",
		`/host\040root/cgroup`: "/host root/cgroup",
		`/odd\134name`:         `/odd\name`,
		`/trailing\04`:         `/trailing\04`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDetectCgroupRoot(t *testing.T) {
	root := detectCgroupRoot()
	if root == "" {
		t.Skip("no cgroup2 mount")
	}
	if ino := inode(root); ino != 1 {
		t.Logf("%s has inode %d: this test runs in a cgroup namespace", root, ino)
	}
}
