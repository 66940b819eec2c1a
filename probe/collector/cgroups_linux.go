//go:build linux

package collector

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// detectCgroupRoot returns the cgroup2 mount: /sys/fs/cgroup on a unified
// host, /sys/fs/cgroup/unified on a hybrid one. In a container whose own
// cgroup2 mount shows only its subtree, it looks for another cgroup2 mount
// that shows the whole hierarchy (a hostPath volume of the host's), and
// falls back to the subtree (which New then rejects with advice). "" means
// no cgroup2 is mounted.
func detectCgroupRoot() string {
	first := ""
	for _, p := range append([]string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}, cgroup2Mounts()...) {
		if !isFS(p, unix.CGROUP2_SUPER_MAGIC) {
			continue
		}
		if inode(p) == 1 {
			return p
		}
		if first == "" {
			first = p
		}
	}
	return first
}

// cgroup2Mounts lists the mount points of cgroup2 file systems.
func cgroup2Mounts() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		// id parent major:minor root mountpoint options ... - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		if f := strings.Fields(pre); len(f) >= 5 {
			out = append(out, unescapeMountinfo(f[4]))
		}
	}
	return out
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// detectCPUV1Root returns the v1 hierarchy of the cpu controller, "" when the
// host has none.
func detectCPUV1Root() string {
	for _, p := range []string{"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"} {
		if isFS(p, unix.CGROUP_SUPER_MAGIC) {
			return p
		}
	}
	return ""
}

func isFS(path string, magic int64) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && int64(st.Type) == magic
}

// containerIDPattern matches the runtime's 64-hex container id as it
// appears in cgroup paths: ".../pod<uid>/<id>", "cri-containerd-<id>.scope",
// "docker-<id>.scope", "crio-<id>.scope".
var containerIDPattern = regexp.MustCompile(`(?:^|[-/:])([0-9a-f]{64})(?:\.scope)?$`)

// ContainerIDFromPath returns the container id that a cgroup path ends in,
// or "" for a path outside any container.
func ContainerIDFromPath(path string) string {
	for path != "" && path != "/" && path != "." {
		base := filepath.Base(path)
		if m := containerIDPattern.FindStringSubmatch(base); m != nil {
			return m[1]
		}
		path = filepath.Dir(path)
	}
	return ""
}

// cgroupResolver maps cgroup ids (the inode numbers of cgroup directories)
// to container ids by walking the cgroup trees, again when an id is new, at
// most once per rescanEvery.
type cgroupResolver struct {
	mu    sync.Mutex
	trees []*cgroupTree
}

type cgroupTree struct {
	root     string
	ids      map[uint64]string // id -> container id ("" for none)
	lastScan time.Time
}

// rescanEvery bounds how often a tree is walked: about once per interval
// when new containers appear.
const rescanEvery = 20 * time.Millisecond

func newCgroupResolver(v2Root, v1Root string) *cgroupResolver {
	r := &cgroupResolver{}
	for _, root := range []string{v2Root, v1Root} {
		if root != "" {
			t := &cgroupTree{root: root}
			t.scan()
			r.trees = append(r.trees, t)
		}
	}
	return r
}

// ContainerID returns the container of a socket whose owner was in cgroup v2
// id v2 and cpu cgroup id v1. final is false when an id is still unknown
// and the trees were scanned too recently to look again: ask later.
func (r *cgroupResolver) ContainerID(v2, v1 uint64) (id string, final bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	final = true
	// A process only in v1 hierarchies sits in the v2 root (id 1): then the
	// v1 id tells the container.
	for i, cg := range []uint64{v2, v1} {
		if cg <= 1 || i >= len(r.trees) {
			continue
		}
		c, ok := r.trees[i].lookup(cg)
		if c != "" {
			return c, true
		}
		final = final && ok
	}
	return "", final
}

// lookup returns the container id of cgroup id. An id the tree does not know
// triggers a rescan, at most one per rescanEvery; an id still unknown after
// a rescan belongs to a cgroup that is gone, and is remembered as "".
func (t *cgroupTree) lookup(id uint64) (string, bool) {
	if c, ok := t.ids[id]; ok {
		return c, true
	}
	if time.Since(t.lastScan) < rescanEvery {
		return "", false
	}
	t.scan()
	c, ok := t.ids[id]
	if !ok {
		t.ids[id] = ""
	}
	return c, true
}

func (t *cgroupTree) scan() {
	ids := make(map[uint64]string, len(t.ids))
	_ = filepath.WalkDir(t.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		ids[st.Ino] = ContainerIDFromPath(strings.TrimPrefix(path, t.root))
		return nil
	})
	t.ids = ids
	t.lastScan = time.Now()
}

// inode returns the inode number of path, 0 when it cannot be read.
func inode(path string) uint64 {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return 0
	}
	return st.Ino
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
