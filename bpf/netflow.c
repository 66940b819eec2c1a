//go:build ignore

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * netflow: IP-layer bytes and packets per flow, for every network namespace
 * of a node, attributed to the owning process and cgroup.
 *
 * Packet layer: cgroup_skb ingress/egress on the cgroup2 root parse each skb
 * and add its wire bytes to a per-interval flow map, or, for an established
 * TCP socket, to the socket's own slot (see Slots).
 * Ownership: cgroup/sock_create stores the creating process on the socket
 * (sk_storage, inherited by accepted sockets through BPF_F_CLONE); the socket
 * layer (tp_btf, classic tracepoints, fentry or kprobes, whichever loads) refreshes it
 * in process context on send and receive; a task_file iterator attributes
 * the sockets that existed before the probe started. The packet layer reads
 * a socket's owner when its flow enters the interval's map, not on every
 * packet: flows are told apart by their network namespace.
 * Reading: the packet programs come in pairs, one pair per flow map. User
 * space attaches the other map's pair in place of the running one, waits
 * for the programs still running, moves the slots' counters into the
 * previous map, then runs a drain program that moves its flows into a
 * memory-mapped array and deletes them.
 */

#include "headers/netflow_kernel.h"
#include "headers/bpf_helpers.h"
#include "headers/bpf_endian.h"
#include "headers/bpf_core_read.h"
#include "headers/bpf_tracing.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* owner flags */
#define OWNER_TASK 1 /* filled from a task: cgid_v1 is valid */

/* Who owns a socket. Cached on the socket, so the per-packet path reads it
 * with one sk_storage lookup. */
struct owner {
	__u32 pid;
	__u32 flags;
	__u64 cgid;    /* cgroup v2 id */
	__u64 cgid_v1; /* id of the cpu controller's cgroup (v1 hierarchy on hybrid hosts) */
	char comm[16];
};

/* A flow: both ends as the socket sees them, the protocol, and the network
 * namespace they belong to (the same tuple on loopback in two pods is two
 * flows). IPv4 addresses are stored v4-mapped (::ffff:a.b.c.d).
 * scope is the namespace's cookie; on kernels whose cgroup_skb programs
 * cannot read it (the pid_* programs), the owning process's pid, looked up
 * on every packet. */
struct flow_key {
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u8 proto;
	__u8 _pad[3];
	__u64 scope;
};

/* Counting on sockets. Most of the per-packet cost is the flow map's hash
 * lookup. An established TCP socket gets a slot of its own instead, where
 * the packets of its tuple add up: the socket carries the slot's index, so
 * a packet reaches its counters without hashing its tuple. The sockops
 * program hands out slots when sockets are established and takes them back
 * when they close; every interval, a program run from user space moves the
 * counters of every slot into the flow map being read. Sockets that existed
 * before the probe started, and packets of another tuple than the one their
 * socket's slot counts (say, rewritten by a DNAT rule on the way out), go
 * to the flow maps as before. */
enum slot_state {
	SLOT_FREE = 0,
	SLOT_ARMED = 1,    /* handed to an established socket */
	SLOT_CLAIMING = 2, /* its first packet is writing the tuple */
	SLOT_ON = 3,       /* counting the packets of key */
	SLOT_CLOSED = 4,   /* the socket closed and left it */
	SLOT_DEAD = 5,     /* read once since: free after the next switch */
};

#define NSLOTS 16384
#define SLOT_WORDS (NSLOTS / 64)

struct slot_counts {
	__u64 tx_bytes;
	__u64 rx_bytes;
	__u64 tx_packets;
	__u64 rx_packets;
};

/* A slot has a set of counters per flow map: the packet programs of
 * flows_a add to counts[0], those of flows_b to counts[1]. Once the
 * programs of one map are switched out and done, the flush reads that
 * map's set, so a slot's intervals end exactly where the map's do. */
struct slot {
	__u32 state;
	__u32 gen; /* counts the slot's uses: a socket holds the one it got */
	struct flow_key key;
	struct slot_counts counts[2];
	struct owner owner;
	__u32 idle; /* reads in a row that found nothing counted */
	__u32 _pad;
};

/* What a socket carries: its owner first, so a pointer to it is a pointer
 * to the owner. */
struct sock_state {
	struct owner owner;
	/* The socket's slot: its generation << 32 | its index + 1; 0: none.
	 * One 64-bit word, so a packet never sees one without the other. */
	__u64 slot;
};

/* The owner is looked up when the flow enters the interval's map, and
 * again only while it is unknown: the per-packet path is one hash lookup.
 * pid, read on every packet, shares a cache line with the counters. */
struct flow_val {
	__u32 pid;
	__u32 _pad;
	__u64 tx_bytes;
	__u64 rx_bytes;
	__u64 tx_packets;
	__u64 rx_packets;
	__u64 cgid;
	__u64 cgid_v1;
	char comm[16];
};

/* One flow as the drain programs hand it to user space. */
struct flow_rec {
	struct flow_key key;
	struct flow_val val;
};

/* A tuple seen by a socket-layer program that cannot use sk_storage
 * (classic tracepoints): cgroup_skb moves it onto the socket. */
struct tuple_key {
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u8 proto;
	__u8 _pad[3];
};

#define DNS_MAX 1024

struct dns_event {
	__u64 cgid;
	__u64 cgid_v1;
	__u32 pid;
	__u16 len;
	__u8 proto;
	__u8 _pad;
	__u8 data[DNS_MAX];
};

enum {
	STAT_LOST_FLOWS = 0,
	STAT_RING_DROPS = 1,
	STAT_MAX = 4,
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct sock_state);
} owners SEC(".maps");

/* Two flow maps, each with its own pair of packet programs: a program names
 * its map as a constant, so the per-packet path reads no map pointer. */
struct flows {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow_val);
};

struct flows flows_a SEC(".maps");
struct flows flows_b SEC(".maps");

/* The drain programs move flows here, a chunk at a time (the loader sizes
 * it); user space reads it through a memory mapping. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct flow_rec);
} drained SEC(".maps");

struct stats_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
};

struct stats_map stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NSLOTS);
	__type(key, __u32);
	__type(value, struct slot);
} slots SEC(".maps");

/* Where the search for a free slot starts. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} next_slot SEC(".maps");

/* A bit per slot that is not free, so the walk each interval reads 2 KiB
 * plus the slots in use, rather than a cache line per slot. */
struct slot_bits {
	__u64 w[SLOT_WORDS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slot_bits);
} slots_used SEC(".maps");

/* Replacing an element of a map-of-maps waits for every program that is
 * running (the kernel calls synchronize_rcu). User space does so after it
 * attached the other flow map's programs, so no update lands in a map
 * after it was drained: the deltas are exact. No program reads it; its
 * element is the stats map, the kind of map it is declared to hold. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct stats_map);
} barrier SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} dns_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tuple_key);
	__type(value, struct owner);
} tuple_owners SEC(".maps");

/* The socket layer's memory of the sockets it last found owned by the
 * calling process, per CPU: a hit spares the sk_storage lookup on every send
 * and receive. A socket is known by its address and its cookie, which no
 * other socket of this boot has, so a socket freed and another allocated at
 * the same address is not taken for it. Direct-mapped by address: a socket
 * has the same way on every CPU, and an entry holds while its way's
 * owner_epoch has not moved. That moves whenever a socket of the way
 * changes hands, as when another process, on another CPU, sends on a
 * socket this CPU remembers. And it holds for one interval at most: each
 * read moves seen_gen, so whatever race left an entry wrong (stores torn by
 * preemption, two processes on one socket at once, a weakly ordered CPU)
 * is undone within the interval after. */
#define SEEN_WAYS 64

struct seen_sock {
	__u64 sk;
	__u64 cookie;
	__u64 epoch;
	__u32 pid;
	__u32 gen;
};

/* Moved by user space at every read. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} seen_gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SEEN_WAYS);
	__type(key, __u32);
	__type(value, __u64);
} owner_epoch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SEEN_WAYS);
	__type(key, __u32);
	__type(value, struct seen_sock);
} seen_socks SEC(".maps");

/* Set by the loader when the tuple_owners fallback is in use. */
volatile const __u32 use_tuple_owners = 0;
/* Cleared by the loader on kernels whose helpers these features need are
 * missing: the verifier then never visits the calls (dead branches on a
 * read-only constant), so the programs still load. */
volatile const __u32 have_mptcp_helper = 1; /* bpf_skc_to_mptcp_sock in cgroup_skb, 5.19+ */
volatile const __u32 have_task_in_sock_create = 1; /* bpf_get_current_task_btf in cgroup/sock_create */
volatile const __u32 have_cookie_in_tracing = 1; /* bpf_get_socket_cookie in tp_btf and fentry, 5.12+ */
/* Set by the loader when the sockops program is attached and the slot
 * flush programs are loaded: the packet layer may then count on slots.
 * Unlike the helper calls above, the slot code's atomic compare-exchange
 * (5.12+) is checked by every verifier even where this is 0: only the
 * skb_* programs carry it (clang leaves it out of pid_*), and kernels
 * that load skb_* (bpf_get_netns_cookie in cgroup_skb) all have it. */
volatile const __u32 use_slots = 0;
/* A slot that counts nothing for this many reads in a row is taken back
 * from its socket, whose packets then go to the flow maps: idle sockets
 * do not keep slots from busy ones, and a slot whose close went unseen
 * comes back. Set by the loader (a minute at the default interval). */
volatile const __u32 slot_idle_reads = 60;

/* Keep the event type in the object, so bpf2go generates it. */
const struct dns_event *unused_dns_event __attribute__((unused));
const struct flow_rec *unused_flow_rec __attribute__((unused));
const struct drain_args *unused_drain_args __attribute__((unused));
const struct slot *unused_slot __attribute__((unused));
const enum slot_state *unused_slot_state __attribute__((unused));
const struct seen_sock *unused_seen_sock __attribute__((unused));
/* Structs the programs reach only through pointers: without these, clang
 * emits a forward declaration for each, in an order that moves with the
 * path of the checkout, and the object would not be reproducible. */
const struct bpf_iter_meta *unused_iter_meta __attribute__((unused));
const struct file *unused_file __attribute__((unused));
const struct bpf_sock *unused_bpf_sock __attribute__((unused));

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);
	if (v)
		*v += 1;
}

/* ---------------------------------------------------------------------------
 * Owners
 */

static __always_inline __u64 task_cgid_v1(struct task_struct *task)
{
	/* task->cgroups->subsys[cpu]->cgroup->kn->id: direct BTF reads. */
	struct css_set *cs = task->cgroups;
	if (!cs)
		return 0;
	struct cgroup_subsys_state *css = cs->subsys[bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id)];
	if (!css)
		return 0;
	struct cgroup *cg = css->cgroup;
	if (!cg)
		return 0;
	struct kernfs_node *kn = cg->kn;
	if (!kn)
		return 0;
	return kn->id;
}

/* Fill o from the current task (process context). */
static __always_inline void owner_from_current(struct owner *o, __u32 pid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	o->pid = pid;
	o->cgid = bpf_get_current_cgroup_id();
	o->cgid_v1 = task_cgid_v1(task);
	bpf_get_current_comm(o->comm, sizeof(o->comm));
	o->flags = OWNER_TASK;
}

SEC("cgroup/sock_create")
int sock_create(void *ctx)
{
	struct owner *o = bpf_sk_storage_get(&owners, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!o)
		return 1;
	if (have_task_in_sock_create) {
		owner_from_current(o, bpf_get_current_pid_tgid() >> 32);
		return 1;
	}
	/* No task here: the socket layer adds the v1 cgroup id on the first
	 * send or receive (flags stay 0 until then). */
	o->pid = bpf_get_current_pid_tgid() >> 32;
	o->cgid = bpf_get_current_cgroup_id();
	bpf_get_current_comm(o->comm, sizeof(o->comm));
	o->flags = 0;
	return 1;
}

/* slot_of returns the slot that handle names, while it is still the
 * socket's: a slot taken back and handed out again has another generation. */
static __always_inline struct slot *slot_of(__u64 handle)
{
	__u32 idx = (__u32)handle;
	if (!idx)
		return 0;
	idx--;
	struct slot *sl = bpf_map_lookup_elem(&slots, &idx);
	if (!sl || sl->gen != (__u32)(handle >> 32))
		return 0;
	return sl;
}

/* take_slot marks a free slot armed and returns it, or NULL when a few
 * tries from a moving start find none: the socket then counts in the flow
 * maps. */
static __always_inline struct slot *take_slot(__u32 *idxp)
{
	__u32 zero = 0;
	__u32 *next = bpf_map_lookup_elem(&next_slot, &zero);
	if (!next)
		return 0;
	__u32 start = __sync_fetch_and_add(next, 1);
#pragma unroll
	for (int i = 0; i < 4; i++) {
		__u32 idx = (start + i) % NSLOTS;
		struct slot *sl = bpf_map_lookup_elem(&slots, &idx);
		if (sl && __sync_val_compare_and_swap(&sl->state, SLOT_FREE, SLOT_ARMED) == SLOT_FREE) {
			*idxp = idx;
			return sl;
		}
	}
	return 0;
}

/* give_slot hands the armed slot idx to the socket of s. */
static __always_inline void give_slot(struct sock_state *s, struct slot *sl, __u32 idx)
{
	__u32 zero = 0;
	struct slot_bits *used = bpf_map_lookup_elem(&slots_used, &zero);
	if (!used) {
		sl->state = SLOT_FREE;
		return;
	}
	__u32 gen = sl->gen + 1;
	sl->gen = gen;
	sl->idle = 0;
	/* The walk sees a slot once it is marked: a fetching OR, ordered
	 * before the socket's handle is stored. */
	__u64 prev = __sync_fetch_and_or(&used->w[(idx / 64) & (SLOT_WORDS - 1)], 1ULL << (idx % 64));
	barrier_var(prev);
	s->slot = ((__u64)gen << 32) | (idx + 1);
}

/* seen_way is the way of seen_socks that remembers sk. Sockets are some
 * kilobytes apart: the bits above that tell them apart. */
static __always_inline __u32 seen_way(struct sock *sk)
{
	__u64 a = (__u64)sk;
	return (__u32)((a >> 10) ^ (a >> 16)) & (SEEN_WAYS - 1);
}

enum {
	NOT_OWNER = 0,	   /* a kernel thread, or no storage */
	OWNER = 1,	   /* the socket is the caller's */
	OWNER_TAKEN = 2,   /* and was another process's until now */
};

/* refresh_owner makes the calling process the owner of sk. On a change of
 * hands it moves epoch (when not NULL), after the owner is written: a CPU
 * that reads the moved epoch then reads the new owner. */
static __always_inline int refresh_owner(struct sock *sk, __u32 pid, __u64 *epoch)
{
	struct owner *o = bpf_sk_storage_get(&owners, sk, 0, 0);
	if (o && o->pid == pid && o->flags == OWNER_TASK)
		return OWNER;
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->flags & PF_KTHREAD)
		return NOT_OWNER;
	int taken = o && o->pid != pid;
	if (!o) {
		o = bpf_sk_storage_get(&owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!o)
			return NOT_OWNER;
	}
	owner_from_current(o, pid);
	/* The socket's slot keeps a copy, for its flush. */
	struct slot *sl = slot_of(((struct sock_state *)o)->slot);
	if (sl)
		__builtin_memcpy(&sl->owner, o, sizeof(sl->owner));
	if (!taken)
		return OWNER;
	/* A plain atomic add: tracing programs load it before 5.12. */
	if (epoch)
		__sync_fetch_and_add(epoch, 1);
	return OWNER_TAKEN;
}

/* Socket layer with BTF pointers (tp_btf, fentry): refresh the owner in
 * process context. The fast path is three array reads and some compares;
 * the slow one, an sk_storage lookup. Each path goes its own way to its
 * end, so no verifier has to follow a pointer that may be NULL through a
 * merge. */
static __always_inline void attribute_sk(struct sock *sk)
{
	if (!sk)
		return;
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (!have_cookie_in_tracing) {
		refresh_owner(sk, pid, 0);
		return;
	}
	__u32 zero = 0, way = seen_way(sk);
	__u64 *epoch = bpf_map_lookup_elem(&owner_epoch, &way);
	__u32 *gen = bpf_map_lookup_elem(&seen_gen, &zero);
	struct seen_sock *seen = bpf_map_lookup_elem(&seen_socks, &way);
	if (!epoch || !gen || !seen) {
		refresh_owner(sk, pid, 0);
		return;
	}
	/* Read before the owner: a change of hands after this makes the
	 * entry written below stale. */
	__u64 e = *(volatile __u64 *)epoch;
	__u32 g = *(volatile __u32 *)gen;
	/* A socket's cookie is 0 until something asks for it: the slow path
	 * does, before it remembers the socket. */
	if (seen->sk == (__u64)sk && seen->pid == pid && seen->epoch == e && seen->gen == g && seen->cookie &&
	    seen->cookie == (__u64)sk->__sk_common.skc_cookie.counter)
		return;
	int r = refresh_owner(sk, pid, epoch);
	if (r == NOT_OWNER)
		return;
	/* When the epoch moved from e only by this change of hands, the
	 * entry holds at e + 1. */
	if (r == OWNER_TAKEN && *(volatile __u64 *)epoch == e + 1)
		e++;
	/* Two programs on one CPU (a task preempted in here) may interleave
	 * their stores: seen_gen bounds what a torn entry can do. */
	seen->pid = pid;
	seen->epoch = e;
	seen->gen = g;
	seen->cookie = bpf_get_socket_cookie(sk);
	seen->sk = (__u64)sk;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(tp_btf_send, struct sock *sk, int ret, int flags)
{
	attribute_sk(sk);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(tp_btf_recv, struct sock *sk, int ret, int flags)
{
	attribute_sk(sk);
	return 0;
}

SEC("fentry/sock_sendmsg")
int BPF_PROG(fentry_send, struct socket *sock)
{
	attribute_sk(sock->sk);
	return 0;
}

SEC("fentry/sock_recvmsg")
int BPF_PROG(fentry_recv, struct socket *sock)
{
	attribute_sk(sock->sk);
	return 0;
}

/* Classic tracepoints cannot use sk_storage: note the owner under the
 * socket's tuple, and let cgroup_skb move it onto the socket. */
static __always_inline void attribute_tuple(void *skp, __u16 family, __u16 protocol)
{
	struct sock *sk = skp;
	struct tuple_key k = {};
	if (protocol == IPPROTO_MPTCP)
		protocol = IPPROTO_TCP;
	if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP)
		return;
	k.proto = protocol;
	k.lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	k.rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		k.laddr[10] = 0xff;
		k.laddr[11] = 0xff;
		k.raddr[10] = 0xff;
		k.raddr[11] = 0xff;
		__be32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(&k.laddr[12], &l, 4);
		__builtin_memcpy(&k.raddr[12], &r, 4);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&k.laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&k.raddr, sk, __sk_common.skc_v6_daddr);
	} else {
		return;
	}
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct owner *cur = bpf_map_lookup_elem(&tuple_owners, &k);
	if (cur && cur->pid == pid)
		return;
	struct owner o = {};
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, flags) & PF_KTHREAD)
		return;
	o.pid = pid;
	o.cgid = bpf_get_current_cgroup_id();
	o.cgid_v1 = BPF_CORE_READ(task, cgroups, subsys[bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id)], cgroup, kn, id);
	bpf_get_current_comm(o.comm, sizeof(o.comm));
	o.flags = OWNER_TASK;
	bpf_map_update_elem(&tuple_owners, &k, &o, BPF_ANY);
}

SEC("tracepoint/sock/sock_send_length")
int tp_send(struct trace_event_raw_sock_msg_length *ctx)
{
	attribute_tuple(ctx->sk, ctx->family, ctx->protocol);
	return 0;
}

SEC("tracepoint/sock/sock_recv_length")
int tp_recv(struct trace_event_raw_sock_msg_length *ctx)
{
	attribute_tuple(ctx->sk, ctx->family, ctx->protocol);
	return 0;
}

/* kprobes, the last resort: the same tuple bookkeeping as the classic
 * tracepoints, from sock_sendmsg/sock_recvmsg's struct socket argument. */
static __always_inline struct socket *kprobe_socket(void *ctx)
{
	if (bpf_core_field_exists(((struct pt_regs___x86 *)0)->di))
		return (struct socket *)BPF_CORE_READ((struct pt_regs___x86 *)ctx, di);
	return (struct socket *)BPF_CORE_READ((struct pt_regs___arm64 *)ctx, regs[0]);
}

static __always_inline void attribute_kprobe(void *ctx)
{
	struct socket *sock = kprobe_socket(ctx);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return;
	attribute_tuple(sk, BPF_CORE_READ(sk, __sk_common.skc_family), BPF_CORE_READ(sk, sk_protocol));
}

SEC("kprobe/sock_sendmsg")
int kprobe_send(void *ctx)
{
	attribute_kprobe(ctx);
	return 0;
}

SEC("kprobe/sock_recvmsg")
int kprobe_recv(void *ctx)
{
	attribute_kprobe(ctx);
	return 0;
}

/* Sockets that existed before the probe started: walk every task's files
 * once and store the first owning process on each socket. */
SEC("iter/task_file")
int iter_task_file(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct task_struct *task = ctx->task;
	if (!file || !task)
		return 0;
	struct socket *sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	struct sock *sk = sock->sk;
	if (!sk)
		return 0;
	struct owner *o = bpf_sk_storage_get(&owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!o)
		return 0;
	/* An established TCP socket gets a slot too. Its close will go unseen
	 * (sockops can only ask for state changes from its own callbacks):
	 * the slot comes back once it has been idle for slot_idle_reads
	 * reads. */
	struct sock_state *s = (struct sock_state *)o;
	if (use_slots && sk->sk_protocol == IPPROTO_TCP && sk->sk_type == SOCK_STREAM &&
	    sk->__sk_common.skc_state == TCP_ESTABLISHED && !slot_of(s->slot)) {
		__u32 idx;
		struct slot *sl = take_slot(&idx);
		if (sl)
			give_slot(s, sl, idx);
	}
	if (o->pid)
		return 0;
	struct css_set *cs = task->cgroups;
	if (cs) {
		struct cgroup *dfl = cs->dfl_cgrp;
		if (dfl && dfl->kn)
			o->cgid = dfl->kn->id;
	}
	o->cgid_v1 = task_cgid_v1(task);
	__builtin_memcpy(o->comm, task->comm, sizeof(o->comm));
	o->flags = OWNER_TASK;
	o->pid = task->tgid;
	return 0;
}

/* ---------------------------------------------------------------------------
 * Packet layer
 */

struct l3 {
	__u32 l4off;    /* offset of the L4 header */
	__u32 notwire;  /* bytes of the skb that no wire packet carries (jumbo hop-by-hop) */
	__u8 proto;
};

/* Copy n bytes at off: straight from the linear area when it holds them. */
#define LOAD(skb, off, dst, n)                                                        \
	({                                                                            \
		void *_d = (void *)(long)(skb)->data;                                 \
		void *_e = (void *)(long)(skb)->data_end;                             \
		long _r = 0;                                                          \
		if (_d + (off) + (n) <= _e)                                           \
			__builtin_memcpy((dst), _d + (off), (n));                     \
		else                                                                  \
			_r = bpf_skb_load_bytes((skb), (off), (dst), (n));            \
		_r;                                                                   \
	})

struct ip6_hdr {
	__be32 vtc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct ip4_hdr {
	__u8 ihl_version;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};

#define MAX_EXT_HDRS 6

/* parse fills key addresses (as src/dst of the packet) and l3. Returns 0 on
 * success, -1 for packets that are not TCP/UDP over IP. */
static __always_inline int parse_ip(struct __sk_buff *skb, struct flow_key *k, struct l3 *l, __u32 *frag)
{
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct ip4_hdr ip;
		if (LOAD(skb, 0, &ip, sizeof(ip)))
			return -1;
		k->laddr[10] = 0xff;
		k->laddr[11] = 0xff;
		k->raddr[10] = 0xff;
		k->raddr[11] = 0xff;
		__builtin_memcpy(&k->laddr[12], &ip.saddr, 4);
		__builtin_memcpy(&k->raddr[12], &ip.daddr, 4);
		l->l4off = (ip.ihl_version & 0x0f) * 4;
		l->proto = ip.protocol;
		/* A non-first fragment has no L4 header. */
		*frag = bpf_ntohs(ip.frag_off) & 0x1fff;
		return 0;
	}
	if (skb->protocol != bpf_htons(ETH_P_IPV6))
		return -1;

	struct ip6_hdr ip6;
	if (LOAD(skb, 0, &ip6, sizeof(ip6)))
		return -1;
	__builtin_memcpy(k->laddr, ip6.saddr, 16);
	__builtin_memcpy(k->raddr, ip6.daddr, 16);
	__u32 off = sizeof(ip6);
	__u8 nh = ip6.nexthdr;
	bool jumbo = ip6.payload_len == 0;

#pragma unroll
	for (int i = 0; i < MAX_EXT_HDRS; i++) {
		__u8 ext[2];
		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (LOAD(skb, off, ext, 2))
				return -1;
			/* BIG TCP: the jumbo hop-by-hop header lives only in
			 * the skb; segmentation removes it. */
			if (nh == IPPROTO_HOPOPTS && jumbo && i == 0)
				l->notwire = (ext[1] + 1) * 8;
			nh = ext[0];
			off += (ext[1] + 1) * 8;
			break;
		case IPPROTO_AH:
			if (LOAD(skb, off, ext, 2))
				return -1;
			nh = ext[0];
			off += (ext[1] + 2) * 4;
			break;
		case IPPROTO_FRAGMENT: {
			__u8 fh[4];
			if (LOAD(skb, off, fh, 4))
				return -1;
			nh = fh[0];
			*frag = ((fh[2] << 8) | fh[3]) & 0xfff8;
			off += 8;
			break;
		}
		default:
			goto done;
		}
	}
done:
	l->l4off = off;
	l->proto = nh;
	return 0;
}

/* owner_of returns who owns the socket of skb: stored on the socket, on the
 * MPTCP socket of a subflow, or (classic tracepoints) under its tuple k. */
static __always_inline struct owner *owner_of(struct __sk_buff *skb, struct flow_key *k, __u8 proto)
{
	struct owner *o = 0;
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 0;
	sk = bpf_sk_fullsock(sk);
	if (sk) {
		o = bpf_sk_storage_get(&owners, sk, 0, 0);
		if (!o && have_mptcp_helper && proto == IPPROTO_TCP) {
			/* An MPTCP subflow: the process owns the MPTCP socket. */
			struct mptcp_sock *msk = bpf_skc_to_mptcp_sock(sk);
			if (msk)
				o = bpf_sk_storage_get(&owners, &msk->sk, 0, 0);
		}
	}
	if (!o && use_tuple_owners && sk) {
		struct tuple_key tk;
		__builtin_memcpy(&tk, k, sizeof(tk));
		struct owner *to = bpf_map_lookup_elem(&tuple_owners, &tk);
		if (!to) {
			/* Unconnected UDP: the socket had no peer. */
			__builtin_memset(tk.raddr, 0, 16);
			tk.rport = 0;
			to = bpf_map_lookup_elem(&tuple_owners, &tk);
		}
		if (to) {
			o = bpf_sk_storage_get(&owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
			if (o)
				__builtin_memcpy(o, to, sizeof(*o));
			else
				o = to;
		}
	}
	return o;
}

/* set_owner fills the owner fields of v from o, pid last: a flow whose pid
 * is set has its owner. */
static __always_inline void set_owner(struct flow_val *v, const struct owner *o)
{
	v->cgid = o->cgid;
	v->cgid_v1 = o->cgid_v1;
	__builtin_memcpy(v->comm, o->comm, sizeof(v->comm));
	v->pid = o->pid;
}

/* add_packet adds a packet, or a GSO buffer's packets, to one direction's
 * counters. */
static __always_inline void add_packet(__u64 *bytes_ctr, __u64 *pkts_ctr, __u64 bytes, __u64 pkts)
{
	__sync_fetch_and_add(bytes_ctr, bytes);
	__sync_fetch_and_add(pkts_ctr, pkts);
}

/* flush_slot moves what a slot's counters of set hold into its flow in
 * flows. Should the map be full, keep puts the counts back for a later
 * flush; without keep they are lost, and counted as a lost flow. */
static __always_inline bool flush_slot(void *flows, struct slot *sl, int set, bool keep)
{
	struct slot_counts *c = &sl->counts[set];
	__u64 txb = __sync_lock_test_and_set(&c->tx_bytes, 0);
	__u64 rxb = __sync_lock_test_and_set(&c->rx_bytes, 0);
	__u64 txp = __sync_lock_test_and_set(&c->tx_packets, 0);
	__u64 rxp = __sync_lock_test_and_set(&c->rx_packets, 0);
	if (!(txb | rxb | txp | rxp))
		return false;
	struct flow_key k;
	__builtin_memcpy(&k, &sl->key, sizeof(k));
	struct flow_val *v = bpf_map_lookup_elem(flows, &k);
	if (!v) {
		struct flow_val nv = {};
		nv.tx_bytes = txb;
		nv.rx_bytes = rxb;
		nv.tx_packets = txp;
		nv.rx_packets = rxp;
		set_owner(&nv, &sl->owner);
		long err = bpf_map_update_elem(flows, &k, &nv, BPF_NOEXIST);
		if (!err)
			return true;
		if (err == -EEXIST)
			v = bpf_map_lookup_elem(flows, &k);
		if (!v) {
			if (keep) {
				add_packet(&c->tx_bytes, &c->tx_packets, txb, txp);
				add_packet(&c->rx_bytes, &c->rx_packets, rxb, rxp);
			} else {
				stat_inc(STAT_LOST_FLOWS);
			}
			return true;
		}
	}
	add_packet(&v->tx_bytes, &v->tx_packets, txb, txp);
	add_packet(&v->rx_bytes, &v->rx_packets, rxb, rxp);
	return true;
}

/* count_on_slot adds a packet of tuple k to the slot of its socket when
 * the slot counts that tuple, claiming an armed slot for it first. False
 * sends the packet to the flow map. */
static __always_inline bool count_on_slot(struct __sk_buff *skb, int set, struct flow_key *k,
					  bool egress, __u64 bytes, __u64 pkts, struct owner **op)
{
	/* bpf_sk_storage_get finds nothing on a socket that is not full
	 * (request, time-wait): no bpf_sk_fullsock call needed first. */
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return false;
	struct sock_state *s = bpf_sk_storage_get(&owners, sk, 0, 0);
	if (!s)
		return false;
	struct slot *sl = slot_of(s->slot);
	if (!sl)
		return false;
	__u32 state = sl->state;
	if (state == SLOT_ARMED) {
		if (__sync_val_compare_and_swap(&sl->state, SLOT_ARMED, SLOT_CLAIMING) != SLOT_ARMED)
			return false;
		__builtin_memcpy(&sl->key, k, sizeof(sl->key));
		sl->key.scope = bpf_get_netns_cookie(skb);
		__builtin_memcpy(&sl->owner, &s->owner, sizeof(sl->owner));
		/* The socket may have closed meanwhile. */
		if (__sync_val_compare_and_swap(&sl->state, SLOT_CLAIMING, SLOT_ON) != SLOT_CLAIMING)
			return false;
	} else if (state != SLOT_ON) {
		return false;
	}
	/* Everything but the scope: a slot serves one socket at a time, and
	 * a socket never changes its network namespace. */
	const __u64 *a = (const __u64 *)&sl->key, *b = (const __u64 *)k;
	if ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4]))
		return false;
	/* Should the socket have closed since the state was read, the adds
	 * land in a closed slot, whose two sets are read before it is handed
	 * out again. */
	struct slot_counts *c = &sl->counts[set];
	if (egress)
		add_packet(&c->tx_bytes, &c->tx_packets, bytes, pkts);
	else
		add_packet(&c->rx_bytes, &c->rx_packets, bytes, pkts);
	*op = &s->owner;
	return true;
}

/* count adds skb to its flow in flows, or to the counters of set in its
 * socket's slot. netns (a constant, like egress and set: no per-packet
 * branch on a global) keys flows by the network namespace's cookie, else
 * by the owner's pid. */
static __always_inline int count(struct __sk_buff *skb, void *flows, int set, bool egress, bool netns)
{
	struct flow_key k = {};
	struct l3 l = {};
	__u32 frag = 0;

	if (parse_ip(skb, &k, &l, &frag))
		return 1;
	if (l.proto != IPPROTO_TCP && l.proto != IPPROTO_UDP)
		return 1;
	/* Keep the verifier's view of the offset small. */
	__u32 l4off = l.l4off;
	if (l4off > 512)
		return 1;

	__u16 sport = 0, dport = 0;
	__u32 l4len = 0;
	if (!frag) {
		if (l.proto == IPPROTO_TCP) {
			__u8 th[14];
			if (LOAD(skb, l4off, th, sizeof(th)))
				return 1;
			sport = (th[0] << 8) | th[1];
			dport = (th[2] << 8) | th[3];
			l4len = (th[12] >> 4) * 4;
		} else {
			__u8 uh[4];
			if (LOAD(skb, l4off, uh, sizeof(uh)))
				return 1;
			sport = (uh[0] << 8) | uh[1];
			dport = (uh[2] << 8) | uh[3];
			l4len = 8;
		}
	}

	/* Wire bytes: a GSO skb becomes gso_segs packets, each with the
	 * headers; the hop-by-hop jumbo header is on none of them. */
	__u64 len = skb->len;
	__u64 hdr = l4off + l4len;
	__u64 bytes = len - l.notwire;
	__u64 pkts = 1;
	__u32 gso_size = skb->gso_size;
	if (gso_size && len > hdr + gso_size) {
		__u64 segs = skb->gso_segs;
		__u64 payload = len - hdr;
		if (!segs)
			segs = (payload + gso_size - 1) / gso_size;
		pkts = segs;
		bytes = payload + segs * (hdr - l.notwire);
	}

	k.proto = l.proto;
	if (egress) {
		k.lport = sport;
		k.rport = dport;
	} else {
		/* Swap: the packet's destination is the local end. */
		__u8 tmp[16];
		__builtin_memcpy(tmp, k.laddr, 16);
		__builtin_memcpy(k.laddr, k.raddr, 16);
		__builtin_memcpy(k.raddr, tmp, 16);
		k.lport = dport;
		k.rport = sport;
	}

	struct owner *o = 0;
	bool looked = false;
	/* A fragment after the first has no ports: it must not claim a slot. */
	if (netns && use_slots && l.proto == IPPROTO_TCP && !frag && count_on_slot(skb, set, &k, egress, bytes, pkts, &o)) {
		looked = true;
		goto dns;
	}
	if (netns) {
		k.scope = bpf_get_netns_cookie(skb);
	} else {
		o = owner_of(skb, &k, l.proto);
		looked = true;
		if (o)
			k.scope = o->pid;
	}

	struct flow_val *v = bpf_map_lookup_elem(flows, &k);
	if (v && !v->pid) {
		/* Owner unknown so far this interval (the first packets had no
		 * full socket): try again. */
		if (!looked) {
			o = owner_of(skb, &k, l.proto);
			looked = true;
		}
		if (o)
			set_owner(v, o);
	}
	if (!v) {
		if (!looked) {
			o = owner_of(skb, &k, l.proto);
			looked = true;
		}
		struct flow_val nv = {};
		if (egress) {
			nv.tx_bytes = bytes;
			nv.tx_packets = pkts;
		} else {
			nv.rx_bytes = bytes;
			nv.rx_packets = pkts;
		}
		if (o) {
			set_owner(&nv, o);
		} else {
			nv.cgid = bpf_skb_cgroup_id(skb);
		}
		long err = bpf_map_update_elem(flows, &k, &nv, BPF_NOEXIST);
		if (!err)
			goto dns;
		if (err != -EEXIST) {
			stat_inc(STAT_LOST_FLOWS);
			goto dns;
		}
		v = bpf_map_lookup_elem(flows, &k);
		if (!v)
			goto dns;
	}
	if (egress)
		add_packet(&v->tx_bytes, &v->tx_packets, bytes, pkts);
	else
		add_packet(&v->rx_bytes, &v->rx_packets, bytes, pkts);

dns:
	/* DNS answers: hand the message to user space. */
	if (egress || k.rport != 53 || frag)
		return 1;
	__u32 off = l4off + l4len;
	if (off > 1024 || len <= off)
		return 1;
	__u32 n = len - off;
	if (n > DNS_MAX)
		n = DNS_MAX;
	if (n < 12)
		return 1;
	if (!looked)
		o = owner_of(skb, &k, l.proto);
	struct dns_event *ev = bpf_ringbuf_reserve(&dns_events, sizeof(*ev), 0);
	if (!ev) {
		stat_inc(STAT_RING_DROPS);
		return 1;
	}
	if (bpf_skb_load_bytes(skb, off, ev->data, n)) {
		bpf_ringbuf_discard(ev, 0);
		return 1;
	}
	ev->len = n;
	ev->proto = l.proto;
	ev->pid = o ? o->pid : 0;
	if (o) {
		ev->cgid = o->cgid;
		ev->cgid_v1 = o->cgid_v1;
	} else {
		ev->cgid = bpf_skb_cgroup_id(skb);
		ev->cgid_v1 = 0;
	}
	bpf_ringbuf_submit(ev, 0);
	return 1;
}

/* The packet programs: egress and ingress, for each flow map, keyed by the
 * network namespace (skb_*) or, where cgroup_skb cannot read its cookie, by
 * the owner's pid (pid_*). User space loads one of the two kinds. */
#define PACKET_PROGS(prefix, netns, map, set)                                 \
	SEC("cgroup_skb/egress")                                              \
	int prefix##_egress_##map(struct __sk_buff *skb)                      \
	{                                                                     \
		return count(skb, &flows_##map, set, true, netns);            \
	}                                                                     \
	SEC("cgroup_skb/ingress")                                             \
	int prefix##_ingress_##map(struct __sk_buff *skb)                     \
	{                                                                     \
		return count(skb, &flows_##map, set, false, netns);           \
	}

PACKET_PROGS(skb, true, a, 0)
PACKET_PROGS(skb, true, b, 1)
PACKET_PROGS(pid, false, a, 0)
PACKET_PROGS(pid, false, b, 1)

/* ---------------------------------------------------------------------------
 * Slots
 */

/* sockops: hand a slot to a TCP socket when it is established (asking for
 * its state changes), and take it back when the socket closes. Should
 * another sockops program set the socket's callback flags without keeping
 * ours, the close goes unseen: the slot comes back once it has been idle
 * for slot_idle_reads reads. */
SEC("sockops")
int sock_ops(struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk = ops->sk;
	if (!sk)
		return 1;
	switch (ops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB: {
		/* A socket whose slot was taken back for idleness gets none
		 * again until it connects anew. */
		struct sock_state *s = bpf_sk_storage_get(&owners, sk, 0, 0);
		if (!s || slot_of(s->slot))
			return 1;
		__u32 idx;
		struct slot *sl = take_slot(&idx);
		if (!sl)
			return 1;
		/* The slot is only given when its close will be seen. */
		if (bpf_sock_ops_cb_flags_set(ops, ops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG)) {
			sl->state = SLOT_FREE;
			return 1;
		}
		give_slot(s, sl, idx);
		return 1;
	}
	case BPF_SOCK_OPS_STATE_CB: {
		if (ops->args[1] != BPF_TCP_CLOSE)
			return 1;
		struct sock_state *s = bpf_sk_storage_get(&owners, sk, 0, 0);
		if (!s)
			return 1;
		/* The socket leaves the slot: its later packets, and those of a
		 * next connection, go to the flow maps or to a new slot. What
		 * the slot holds is read with the others. A slot already taken
		 * back for idleness may serve another socket by now: its
		 * generation tells. */
		struct slot *sl = slot_of(s->slot);
		s->slot = 0;
		if (sl)
			__sync_lock_test_and_set(&sl->state, SLOT_CLOSED);
		return 1;
	}
	}
	return 1;
}

/* walk_slot flushes the counters of set (those of the flow map just
 * switched out) of slot idx into flows, and frees a closed slot two reads
 * later, with both sets read: each read follows a wait for running
 * programs, so by then no packet program that took the slot's index from
 * its socket before the close can still add to it. */
static __always_inline void walk_slot(struct slot *sl, void *flows, int set, struct slot_bits *used, __u32 idx)
{
	switch (sl->state) {
	case SLOT_ARMED:
	case SLOT_ON: {
		struct slot_counts *next = &sl->counts[set ^ 1];
		if (flush_slot(flows, sl, set, true) || next->tx_packets || next->rx_packets) {
			sl->idle = 0;
			break;
		}
		if (++sl->idle < slot_idle_reads)
			break;
		/* Idle for long: take the slot back. The new generation keeps
		 * the socket out; a packet that got in before adds to a closed
		 * slot, which is read like any other. */
		sl->gen++;
		__sync_lock_test_and_set(&sl->state, SLOT_CLOSED);
		break;
	}
	case SLOT_CLOSED:
		flush_slot(flows, sl, set, true);
		sl->state = SLOT_DEAD;
		break;
	case SLOT_DEAD: {
		flush_slot(flows, sl, set, false);
		flush_slot(flows, sl, set ^ 1, false);
		/* The bit goes first, and the fetching AND orders it before the
		 * state (arm64 too): a slot handed out again gets it back. */
		__u64 prev = __sync_fetch_and_and(&used->w[(idx / 64) & (SLOT_WORDS - 1)], ~(1ULL << (idx % 64)));
		barrier_var(prev);
		sl->state = SLOT_FREE;
		break;
	}
	}
}

struct walk {
	struct slot_bits *used;
	__u64 word;
	__u32 base;
	__u32 into_b; /* flows_b, else flows_a */
};

static long walk_bit(__u64 bit, struct walk *w)
{
	if (!(w->word & (1ULL << bit)))
		return 0;
	__u32 idx = w->base + bit;
	struct slot *sl = bpf_map_lookup_elem(&slots, &idx);
	if (!sl)
		return 1;
	if (w->into_b)
		walk_slot(sl, &flows_b, 1, w->used, idx);
	else
		walk_slot(sl, &flows_a, 0, w->used, idx);
	return 0;
}

static long walk_word(__u64 i, struct walk *w)
{
	__u64 word = w->used->w[i & (SLOT_WORDS - 1)];
	if (!word)
		return 0;
	w->word = word;
	w->base = i * 64;
	bpf_loop(64, walk_bit, w, 0);
	return 0;
}

static __always_inline int flush_slots(bool into_b)
{
	__u32 zero = 0;
	struct walk w = {.into_b = into_b};
	w.used = bpf_map_lookup_elem(&slots_used, &zero);
	if (!w.used)
		return 0;
	bpf_loop(SLOT_WORDS, walk_word, &w, 0);
	return 0;
}

/* Run from user space (BPF_PROG_RUN) after the switch and before the
 * drain: moves every slot's counters into the flow map about to be read. */
SEC("syscall")
int flush_slots_a(void *ctx)
{
	return flush_slots(false);
}

SEC("syscall")
int flush_slots_b(void *ctx)
{
	return flush_slots(true);
}

/* ---------------------------------------------------------------------------
 * Reading an interval
 */

/* What user space passes to a drain program run: the run fills slots
 * [base, base + limit) of drained. */
struct drain_args {
	__u32 base;
	__u32 limit;
};

struct drain_state {
	__u32 base;
	__u32 limit;
	__u32 n;
};

/* drain_one moves one flow of a map that no program counts into any more to
 * the next slot of drained, and stops the walk when the run's slots are
 * full. */
static long drain_one(void *map, struct flow_key *k, struct flow_val *v, struct drain_state *st)
{
	if (st->n >= st->limit)
		return 1;
	__u32 i = st->base + st->n;
	struct flow_rec *r = bpf_map_lookup_elem(&drained, &i);
	if (!r)
		return 1;
	__builtin_memcpy(&r->key, k, sizeof(r->key));
	__builtin_memcpy(&r->val, v, sizeof(r->val));
	/* A flow that cannot be deleted stays in the map and is read the next
	 * time: late, never twice. */
	if (bpf_map_delete_elem(map, k))
		return 1;
	st->n++;
	return 0;
}

static __always_inline int drain(void *map, struct drain_args *args)
{
	struct drain_state st = {.base = args->base, .limit = args->limit};
	bpf_for_each_map_elem(map, drain_one, &st, 0);
	return st.n;
}

/* Run from user space (BPF_PROG_RUN) after the switch: each run moves up to
 * limit flows to drained and returns how many it moved. The walk costs a
 * copy and a delete per flow; the batched lookup syscall also copies to
 * user space once per hash bucket, which was most of a 50,000-flow read.
 * drained has two halves, so user space reads one while the next run fills
 * the other. */
SEC("syscall")
int drain_flows_a(struct drain_args *args)
{
	return drain(&flows_a, args);
}

SEC("syscall")
int drain_flows_b(struct drain_args *args)
{
	return drain(&flows_b, args);
}
