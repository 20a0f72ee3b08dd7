#!/usr/bin/env bash
# ipvs-vm.sh - boot Debian's stock kernel (IPVS + netfilter as modules) under QEMU with a
# busybox initramfs, run a command inside, propagate its exit code. kproxy's IPVS tests run
# here because the build machine's kernel has no IPVS (see tests/vm/run-ipvs-tests.sh).
# Needs root (apt-get). Debian packages only. Uses KVM only where the CPU has vmx/svm;
# on a PVM host (/dev/kvm from the kvm_pvm module, no vmx/svm) it uses TCG (~4-6 s boot).
# Adapted from the project's shared reference script (shared/vm/ipvs-vm.sh).
#
#   ipvs-vm.sh setup          apt-get install tools; download + unpack the kernel .deb (cached)
#   ipvs-vm.sh build          build the base initramfs (cached; FORCE=1 to rebuild)
#   ipvs-vm.sh run [opts] [--] 'shell command'
#       --script FILE         run FILE in the guest (after the command, if both are given)
#       --bin FILE            copy a host ELF (+ the libs ldd lists) to /usr/local/bin
#       --add SRC:DST         copy a host file/dir to DST in the guest
#       --share DIR           9p-share host DIR read-write at /mnt/host (and at DIR with --hostroot)
#       --hostroot            9p-share host / read-only; run the command chrooted into it,
#                             so host binaries (cargo test executables, iptables...) run as-is
#     Extra files travel in a small cpio appended to the base initramfs (no rebuild).
#     A command can also come on the kernel command line: KAPPEND="ivm_cmd=$(base64 -w0 <<<'cmd')".
#     Exit status = the guest command's status (125 = no status seen, e.g. guest crashed/timeout).
#   ipvs-vm.sh demo           IPVS / dummy / iptables smoke test
# Env: WORK=/var/tmp/kproxy-ipvs-vm MEM=512 SMP=1 ACCEL=auto|kvm|tcg TIMEOUT=900 IVM_CWD=dir-in-guest
#      KAPPEND='extra kernel args' QEMU_EXTRA='extra qemu args'
set -euo pipefail

# Outside the checkout and the cargo target dir: kernel + initramfs survive `cargo clean`.
WORK=${WORK:-/var/tmp/kproxy-ipvs-vm}
MEM=${MEM:-512}
SMP=${SMP:-1}
ACCEL=${ACCEL:-auto}
TIMEOUT=${TIMEOUT:-900}
KDIR=$WORK/kernel            # unpacked kernel .deb
BASE=$WORK/initramfs.cpio
ARCH_LIB=x86_64-linux-gnu

# Modules shipped in the initramfs (plus their modules.dep closure). Everything in
# these trees can be autoloaded by the kernel (request_module -> busybox modprobe).
MOD_TREES="kernel/net/netfilter kernel/net/ipv4/netfilter kernel/net/ipv6/netfilter
  kernel/net/bridge kernel/net/9p/9pnet.ko kernel/net/9p/9pnet_virtio.ko kernel/fs/9p kernel/fs/overlayfs kernel/fs/fuse
  kernel/drivers/virtio kernel/drivers/net/dummy.ko kernel/drivers/net/veth.ko
  kernel/drivers/net/virtio_net.ko kernel/drivers/net/macvlan.ko kernel/drivers/net/tun.ko
  kernel/crypto/crc32c_generic.ko kernel/arch/x86/crypto/crc32c-intel.ko"
# Modules loaded explicitly at boot (the rest are autoloaded on demand).
BOOT_MODULES="crc32c_generic ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh nf_conntrack nf_nat
  dummy veth x_tables ip_tables iptable_filter iptable_nat iptable_mangle nf_tables
  xt_comment xt_mark xt_conntrack xt_addrtype xt_MASQUERADE xt_nat xt_ipvs xt_multiport"
# Host userland copied in (with ldd closure).
HOST_BINS="/usr/bin/bash /usr/sbin/ipvsadm /usr/sbin/xtables-legacy-multi /usr/sbin/xtables-nft-multi /usr/sbin/ip
  /usr/bin/strace"
# Debian packages the host needs: qemu + initramfs tools, and the userland the guest borrows
# (ipvsadm to cross-check kproxy's netlink client, strace to capture ipvsadm's netlink bytes).
HOST_PKGS="qemu-system-x86 busybox-static ipvsadm iptables iproute2 cpio xz-utils strace"

log() { printf '[ipvs-vm] %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2fs", b-a}'; }

kver() { ls "$KDIR/lib/modules" | head -n1; }

cmd_setup() {
  local t=$(now)
  if ! command -v qemu-system-x86_64 >/dev/null || ! command -v ipvsadm >/dev/null ||
     ! [ -x /bin/busybox ] || ! [ -x /usr/sbin/xtables-nft-multi ] || ! command -v cpio >/dev/null ||
     ! command -v strace >/dev/null || ! command -v xz >/dev/null; then
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $HOST_PKGS >/dev/null
  fi
  log "packages ready ($(since "$t"))"
  if [ -d "$KDIR/lib/modules" ] && [ -f "$KDIR/lib/modules/$(kver)/modules.dep" ]; then
    log "kernel already unpacked: $(kver)"; return
  fi
  t=$(now)
  [ -n "$(apt-cache policy linux-image-amd64 | awk '/Candidate/{print $2}' | grep -v none)" ] || apt-get update -qq
  # linux-image-amd64 is a metapackage; its Depends names the real kernel package.
  local pkg; pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  mkdir -p "$WORK/dl"; rm -f "$WORK"/dl/*.deb
  ( cd "$WORK/dl" && chmod 777 . && apt-get download -qq "$pkg" )
  log "downloaded $(ls "$WORK"/dl/*.deb | xargs -n1 basename) ($(since "$t"))"
  t=$(now)
  rm -rf "$KDIR"; mkdir -p "$KDIR"
  # only /boot and /lib/modules are needed (dpkg-deb -x would also do)
  dpkg-deb --fsys-tarfile "$WORK"/dl/*.deb | tar -x -C "$KDIR" --wildcards './boot/vmlinuz-*' './lib/modules/*'
  local kv; kv=$(kver)
  # Debian 12 ships plain .ko; later releases ship .ko.xz -> decompress for busybox insmod
  find "$KDIR/lib/modules/$kv" -name '*.ko.xz' -exec xz -d {} +
  busybox depmod -b "$KDIR" "$kv"   # .deb has no modules.dep (made by postinst)
  # Uncompressed ELF vmlinux (Debian: CONFIG_PVH=y, CONFIG_KERNEL_XZ=y): QEMU boots it via
  # PVH, skipping the real-mode stub and the xz decompression (~3.5 s under TCG).
  local bz off; bz=$(ls "$KDIR"/boot/vmlinuz-*)
  off=$(grep -abo $'\xfd7zXZ' "$bz" | head -n1 | cut -d: -f1 || true)
  [ -n "$off" ] && { tail -c +$((off + 1)) "$bz" | xz -dc --single-stream >"$KDIR/vmlinux" 2>/dev/null || true; }
  [ "$(head -c4 "$KDIR/vmlinux" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ] || rm -f "$KDIR/vmlinux"
  log "unpacked $kv, depmod done ($(since "$t"))"
}

# copy an ELF and the shared libraries ldd reports, keeping their paths
copy_elf() { # root file [dest]
  local root=$1 f=$2 dst=${3:-$2} lib
  install -D -m755 "$(readlink -f "$f")" "$root$dst"
  for lib in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*' || true); do
    [ -e "$root$lib" ] || install -D -m755 "$(readlink -f "$lib")" "$root$lib"
  done
}

make_root_skeleton() { # merged-/usr layout like the host, so host paths resolve
  local r=$1
  mkdir -p "$r"/{usr/bin,usr/sbin,usr/lib/$ARCH_LIB,usr/lib64,usr/local/bin,proc,sys,dev,run,tmp,mnt/host,host,etc,root,var}
  ln -s usr/bin "$r/bin"; ln -s usr/sbin "$r/sbin"; ln -s usr/lib "$r/lib"; ln -s usr/lib64 "$r/lib64"
}

write_init() {
  cat >"$1/init" <<'EOF'
#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /run
echo /sbin/modprobe >/proc/sys/kernel/modprobe
exec </dev/console >/dev/console 2>&1
for m in $(cat /etc/ivm/modules); do modprobe "$m" || echo "ivm: modprobe $m failed"; done
ip link set lo up
share=; hostroot=; b64=
for a in $(cat /proc/cmdline); do
  case "$a" in ivm_share=1) share=1;; ivm_hostroot=1) hostroot=1;; ivm_cmd=*) b64=${a#ivm_cmd=};; esac
done
[ -n "$b64" ] && { echo "$b64" | base64 -d >/etc/ivm/cmdline.sh; }
if [ -n "$share$hostroot" ]; then modprobe virtio_pci; modprobe 9pnet_virtio; modprobe 9p; fi
O9P=trans=virtio,version=9p2000.L,msize=262144
[ -n "$share" ] && mount -t 9p -o $O9P,cache=none host0 /mnt/host
if [ -n "$hostroot" ]; then
  mount -t 9p -o $O9P,ro,cache=loose hostroot /host
  mount -t proc proc /host/proc; mount -t sysfs sysfs /host/sys; mount -t devtmpfs devtmpfs /host/dev
  mkdir -p /host/dev/pts /host/dev/shm; mount -t devpts devpts /host/dev/pts
  mount -t tmpfs tmpfs /host/tmp; mount -t tmpfs tmpfs /host/run   # fresh, writable
  if [ -n "$share" ] && [ -f /etc/ivm/sharepath ]; then   # the share, rw, at its host path
    sp=$(cat /etc/ivm/sharepath); mkdir -p "/host$sp" 2>/dev/null; mount --bind /mnt/host "/host$sp"
  fi
  mkdir -p /host/run/.ivm; cp /etc/ivm/*.sh /host/run/.ivm/ 2>/dev/null
fi
[ -f /etc/ivm/env ] && . /etc/ivm/env
accel=tcg; dmesg | grep -q 'Hypervisor detected: KVM' && accel=kvm
echo "IVM_READY accel=$accel uptime=$(cut -d' ' -f1 /proc/uptime)"
rc=0
for s in /etc/ivm/cmdline.sh /etc/ivm/cmd.sh /etc/ivm/script.sh; do
  [ -f "$s" ] || continue
  if [ -n "$hostroot" ]; then
    chroot /host /bin/bash -c "cd \"\${IVM_CWD:-/}\" 2>/dev/null; exec bash /run/.ivm/$(basename $s)"; rc=$?
  else
    (cd "${IVM_CWD:-/}" 2>/dev/null; exec bash "$s"); rc=$?
  fi
  [ $rc -ne 0 ] && break
done
[ -n "$share" ] && sync
echo "IVM_EXIT=$rc uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
EOF
  chmod 755 "$1/init"
}

# The base initramfs is rebuilt when this script changes (its contents come from here).
stamp() { sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1; }
base_fresh() { [ -f "$BASE" ] && [ "$(cat "$BASE.stamp" 2>/dev/null)" = "$(stamp)" ]; }

cmd_build() {
  base_fresh && [ -z "${FORCE:-}" ] && { log "base initramfs is up to date: $BASE"; return; }
  [ -d "$KDIR/lib/modules" ] || cmd_setup
  local t=$(now) kv r m f
  kv=$(kver); r=$WORK/root; rm -rf "$r"; make_root_skeleton "$r"
  # busybox (static) + applet links
  install -m755 /bin/busybox "$r/usr/bin/busybox"
  for f in $(busybox --list-full); do
    case "$f" in */busybox) ;;
                 sbin/*|usr/sbin/*) ln -sf /usr/bin/busybox "$r/usr/sbin/${f##*/}";;
                 *) ln -sf /usr/bin/busybox "$r/usr/bin/${f##*/}";; esac
  done
  # host tools: ipvsadm, iptables (legacy + nft), iproute2 ip (replaces busybox ip)
  for f in $HOST_BINS; do rm -f "$r$f"; copy_elf "$r" "$f"; done
  for f in iptables ip6tables; do for x in "" -save -restore; do
    ln -sf xtables-legacy-multi "$r/usr/sbin/$f-legacy$x"
    ln -sf xtables-nft-multi "$r/usr/sbin/$f-nft$x"
    ln -sf xtables-nft-multi "$r/usr/sbin/$f$x"     # default: nft backend, like Debian 12
  done; done
  # iptables extensions are dlopen()ed (ldd cannot see them)
  mkdir -p "$r/usr/lib/$ARCH_LIB/xtables"
  cp -a /usr/lib/$ARCH_LIB/xtables/. "$r/usr/lib/$ARCH_LIB/xtables/"
  for f in "$r"/usr/lib/$ARCH_LIB/xtables/*.so; do
    for m in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*' || true); do
      [ -e "$r$m" ] || install -D -m755 "$(readlink -f "$m")" "$r$m"; done
  done
  # libgcc_s for Rust glibc binaries copied later with --bin
  install -D -m755 "$(readlink -f /lib/$ARCH_LIB/libgcc_s.so.1)" "$r/usr/lib/$ARCH_LIB/libgcc_s.so.1"
  for f in /etc/protocols /etc/services /etc/ethertypes; do [ -f "$f" ] && cp "$f" "$r/etc/"; done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"; echo 'root:x:0:' >"$r/etc/group"
  # kernel modules: chosen trees + modules.dep closure, then depmod for the subset
  local src=$KDIR/lib/modules/$kv dst=$r/usr/lib/modules/$kv list=$WORK/modlist
  ( cd "$src"; find $MOD_TREES -name '*.ko' 2>/dev/null ) | sort -u >"$list"
  awk -F': *' 'NR==FNR{want[$1]=1;next} ($1 in want){print $1; n=split($2,d," "); for(i=1;i<=n;i++) print d[i]}' \
      "$list" "$src/modules.dep" | sort -u >"$list.closure"
  ( cd "$src"; cpio -pdm --quiet "$dst" <"$list.closure" )
  cp "$src"/modules.builtin* "$src/modules.order" "$dst/"
  busybox depmod -b "$r" "$kv"
  mkdir -p "$r/etc/ivm"; echo $BOOT_MODULES | tr ' ' '\n' >"$r/etc/ivm/modules"
  write_init "$r"
  # uncompressed: the guest unpacks it 2x faster than gzip under TCG (22 MB, in RAM anyway)
  ( cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 ) >"$BASE.tmp"
  mv "$BASE.tmp" "$BASE"; stamp >"$BASE.stamp"
  if [ -f "$KDIR/vmlinux" ]; then ln -sf "$KDIR/vmlinux" "$WORK/kernel.img"; else ln -sf "$KDIR"/boot/vmlinuz-* "$WORK/kernel.img"; fi
  log "built $BASE ($(du -h "$BASE" | cut -f1), $(wc -l <"$list.closure") modules, $(since "$t"))"
}

cmd_run() {
  local share= hostroot= script= cmd= adds=() bins=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --share) share=$(readlink -f "$2"); shift 2;;
      --hostroot) hostroot=1; shift;;
      --script) script=$2; shift 2;;
      --bin) bins+=("$2"); shift 2;;
      --add) adds+=("$2"); shift 2;;
      --) shift; cmd="$*"; break;;
      *) cmd="$*"; break;;
    esac
  done
  base_fresh || cmd_build
  local t=$(now) x=$WORK/run.$$ f
  # same top-level symlinks as the base: the kernel's cpio unpacker replaces an existing
  # symlink (e.g. /lib -> usr/lib) by a directory of the same name, so never ship one
  rm -rf "$x"; make_root_skeleton "$x"; mkdir -p "$x/etc/ivm"
  [ -n "$cmd" ] && printf '%s\n' "$cmd" >"$x/etc/ivm/cmd.sh"
  [ -n "$script" ] && cp "$script" "$x/etc/ivm/script.sh"
  [ -n "${IVM_CWD:-}" ] && echo "export IVM_CWD='$IVM_CWD'" >"$x/etc/ivm/env"
  [ -n "$share" ] && echo "$share" >"$x/etc/ivm/sharepath"
  for f in "${bins[@]}"; do copy_elf "$x" "$f" "/usr/local/bin/$(basename "$f")"; done
  for f in "${adds[@]}"; do mkdir -p "$x$(dirname "${f#*:}")"; cp -a "${f%%:*}" "$x${f#*:}"; done
  # the kernel unpacks concatenated cpio archives in order; later files win
  ( cd "$x" && find . | cpio -o -H newc --quiet -R 0:0 ) | cat "$BASE" - >"$x.initrd"
  local accel=$ACCEL append qemu=(qemu-system-x86_64)
  if [ "$accel" = auto ]; then
    # /dev/kvm alone is not enough: a PVM host (kvm_pvm module, no vmx/svm in cpuinfo) only
    # runs PVM-enlightened guest kernels; Debian's kernel hangs there. Use TCG then.
    if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo && [ ! -d /sys/module/kvm_pvm ]; then accel=kvm; else accel=tcg; fi
  fi
  append="console=ttyS0 quiet panic=-1 no_timer_check ${KAPPEND:-}"
  [ -n "$share" ] && { append+=" ivm_share=1"; qemu+=(-virtfs "local,path=$share,mount_tag=host0,security_model=none,multidevs=remap"); }
  [ -n "$hostroot" ] && { append+=" ivm_hostroot=1"; qemu+=(-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"); }
  qemu+=(-accel "$accel" -cpu "$([ "$accel" = kvm ] && echo host || echo max)" -smp "$SMP" -m "$MEM"
         -nographic -no-reboot -nodefaults -no-user-config -serial stdio
         -kernel "$WORK/kernel.img" -initrd "$x.initrd" -append "$append" ${QEMU_EXTRA:-})
  local out=$x.log rc
  log "booting (accel=$accel) ..."
  t=$(now)
  set +e
  timeout "$TIMEOUT" "${qemu[@]}" </dev/null 2>&1 |
    sed -u 's/\r$//; s/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g' | tee "$out"
  set -e
  log "qemu exited after $(since "$t") wall (boot -> poweroff)"
  rc=$(sed -n 's/^IVM_EXIT=\([0-9]*\).*/\1/p' "$out" | tail -n1)
  rm -rf "$x" "$x.initrd" "$out"
  [ -n "$rc" ] || { log "no IVM_EXIT marker (guest crashed or timed out)"; return 125; }
  return "$rc"
}

cmd_demo() {
  cmd_run "$@" -- '
set -x
uname -r
ipvsadm -A -t 10.96.0.10:80 -s rr
ipvsadm -a -t 10.96.0.10:80 -r 10.244.1.2:8080 -m -w 1
ipvsadm -A -u 10.96.0.10:53 -s wrr && ipvsadm -a -u 10.96.0.10:53 -r 10.244.1.3:53 -m -w 2
ipvsadm -Ln
ip link add kube-ipvs0 type dummy && ip addr add 10.96.0.10/32 dev kube-ipvs0 && ip link set kube-ipvs0 up
ip -br addr show kube-ipvs0
ip link add veth0 type veth peer name veth1 && ip -br link show type veth
iptables-legacy -t nat -N KUBE-SERVICES && iptables-legacy -t nat -A PREROUTING -j KUBE-SERVICES
iptables-legacy -t nat -A KUBE-SERVICES -d 10.96.0.10/32 -p tcp --dport 80 -m comment --comment "demo svc" -j ACCEPT
iptables-legacy -t nat -A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE
iptables-legacy-save -t nat
iptables-nft -t filter -N KUBE-FIREWALL && iptables-nft -A INPUT -m conntrack --ctstate INVALID -j DROP
iptables-nft -A KUBE-FIREWALL -m addrtype --dst-type LOCAL -j ACCEPT
iptables-nft-save -t filter
cat /proc/net/ip_vs
lsmod | cut -d" " -f1 | sort | tr "\n" " "; echo
'
}

case "${1:-}" in
  setup) shift; cmd_setup "$@";;
  build) shift; cmd_build "$@";;
  run) shift; cmd_run "$@";;
  demo) shift; cmd_demo "$@";;
  *) awk 'NR>1 && !/^#/{exit} NR>1' "$0"; exit 2;;
esac
