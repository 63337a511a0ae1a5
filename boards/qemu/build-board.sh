#!/bin/sh
# Build the emulated test board: a Debian kernel and a busybox initramfs for
# qemu-system-x86_64, console on the emulated UART (ttyS0).
#
#   build-board.sh OUTDIR
#
# Writes into OUTDIR:
#   vmlinuz            Debian's kernel image as shipped (bzImage)
#   vmlinux            the same kernel decompressed (ELF; qemu boots it directly
#                      through its PVH note, 2-3x faster to a prompt under TCG)
#   initramfs.cpio.gz  busybox-static, its applet links, /etc/passwd and /init
#   board.info         what was built from what; written last (= build complete)
#
# Needs: apt-get (with package lists: run `apt-get update` once), dpkg-deb,
# GNU tar, xz, gzip, cpio, sha256sum. No root needed, except that apt-get
# download may need network access.
#
# Environment:
#   DEB_CACHE=DIR   keep the downloaded .debs in DIR and reuse them
#
# Kernel command line arguments the board's /init understands (the kernel
# hands unknown name=value arguments to init as environment variables):
#   board_echo=0        stty -echo on ttyS0 (no echo, no line editor)
#   board_ps1=STRING    the shell prompt (default "board# "; quote it on the
#                       kernel command line if it has spaces: board_ps1="b> ")
#   board_loglevel=N    console log level for kernel messages (default 1)
#
# Running it again on a complete OUTDIR does nothing. A build made by a
# different version of this script is rebuilt.
set -eu

prog=build-board

say() {
    printf '%s: %s\n' "$prog" "$*"
}

die() {
    printf '%s: error: %s\n' "$prog" "$*" >&2
    exit 1
}

if [ $# -ne 1 ] || [ -z "$1" ]; then
    printf 'usage: %s OUTDIR\n' "$0" >&2
    exit 2
fi
out=$1

# A build records the checksum of the script that made it.
script_sum=$(sha256sum "$0" | cut -d' ' -f1)

build_complete() {
    [ -s "$out/board.info" ] && [ -s "$out/vmlinuz" ] && [ -s "$out/vmlinux" ] &&
        [ -s "$out/initramfs.cpio.gz" ] &&
        grep -qx "script_sha256=$script_sum" "$out/board.info"
}

if build_complete; then
    say "$out already holds a complete build; nothing to do"
    exit 0
fi

for tool in apt-get apt-cache dpkg-deb tar xz gzip cpio od tail sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (on Debian: apt-get install cpio xz-utils)"
done

start=$(date +%s)
mkdir -p "$out"
out=$(cd "$out" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/build-board.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
chmod 0755 "$tmp"

# --- which packages -----------------------------------------------------------
# One apt-cache call (each costs about 0.6 s): the kernel package that the
# linux-image-amd64 metapackage pins, its version, and busybox-static's version.
apt-cache show --no-all-versions linux-image-amd64 busybox-static >"$tmp/show" 2>"$tmp/show.err" || {
    cat "$tmp/show.err" >&2
    die "apt-cache does not know linux-image-amd64 or busybox-static; run 'apt-get update' first"
}
# "Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)" -> package, version
# shellcheck disable=SC2046 # two words, split on purpose
set -- $(sed -n '/^Package: linux-image-amd64$/,/^$/s/^Depends: *\(linux-image-[0-9][^ ,]*\) *(= *\([^) ]*\)).*/\1 \2/p' "$tmp/show" | head -n 1)
[ $# -eq 2 ] || die "cannot resolve linux-image-amd64 to a kernel package version (see apt-cache show linux-image-amd64)"
kpkg=$1
kdver=$2
kver=${kpkg#linux-image-}
bver=$(sed -n '/^Package: busybox-static$/,/^$/s/^Version: //p' "$tmp/show" | head -n 1)
[ -n "$bver" ] || die "apt-cache shows no version of busybox-static"

# fetch PKG VERSION: sets $deb to the path of PKG's .deb, downloading it
# unless DEB_CACHE already holds it
fetch() {
    pkg=$1
    ver=$2
    # apt-get download spells ':' in an epoch as %3a
    file="${pkg}_$(printf '%s' "$ver" | sed 's/:/%3a/g')_amd64.deb"
    if [ -n "${DEB_CACHE:-}" ] && [ -s "$DEB_CACHE/$file" ]; then
        say "using cached $DEB_CACHE/$file"
        deb="$DEB_CACHE/$file"
        return 0
    fi
    dl="$tmp/download"
    mkdir -p "$dl"
    chmod 0755 "$dl"
    # as root, apt drops to the _apt user for downloading: let it write here
    if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then
        chown _apt "$dl"
    fi
    say "downloading $pkg $ver"
    (cd "$dl" && apt-get download -q "$pkg=$ver" >"$tmp/apt.log" 2>&1) || {
        cat "$tmp/apt.log" >&2
        die "apt-get download $pkg=$ver failed (try 'apt-get update')"
    }
    [ -s "$dl/$file" ] || die "apt-get download did not produce $file"
    if [ -n "${DEB_CACHE:-}" ]; then
        mkdir -p "$DEB_CACHE"
        # copy then rename: a half-written file is never taken for a cached one
        cp "$dl/$file" "$DEB_CACHE/.$file.part"
        mv "$DEB_CACHE/.$file.part" "$DEB_CACHE/$file"
        rm -f "$dl/$file"
        deb="$DEB_CACHE/$file"
    else
        deb="$dl/$file"
    fi
}

# extract_member DEB MEMBER DIR: extract one file from DEB's data archive into
# DIR. tar stops reading at the member, so the rest of a big package is never
# decompressed (dpkg-deb then reports a broken pipe, which is expected).
extract_member() {
    dpkg-deb --fsys-tarfile "$1" 2>"$tmp/dpkg-deb.err" |
        tar -xf - -C "$3" --occurrence=1 "$2" 2>"$tmp/tar.err" || true
    if [ ! -s "$3/$2" ]; then
        cat "$tmp/dpkg-deb.err" "$tmp/tar.err" >&2
        die "$2 not found in $1"
    fi
}

fetch "$kpkg" "$kdver"
kdeb=$deb
fetch busybox-static "$bver"
bdeb=$deb

# --- kernel ---------------------------------------------------------------------
x="$tmp/x"
mkdir -p "$x"
say "extracting ./boot/vmlinuz-$kver from $(basename "$kdeb")"
extract_member "$kdeb" "./boot/vmlinuz-$kver" "$x"
cp "$x/boot/vmlinuz-$kver" "$tmp/vmlinuz"

# u8 FILE OFFSET / u32 FILE OFFSET: little-endian integers from a file
u8() {
    od -An -tu1 -j "$2" -N1 "$1" | tr -d ' \n'
}
u32() {
    # shellcheck disable=SC2046 # four numbers, split on purpose
    set -- $(od -An -tu1 -j "$2" -N4 "$1")
    echo $(($1 + $2 * 256 + $3 * 65536 + $4 * 16777216))
}

# Decompress the kernel out of the bzImage. The x86 boot protocol header says
# where the compressed payload starts: setup_sects (byte at 0x1f1) sectors of
# real-mode setup follow the boot sector, and payload_offset (u32 at 0x248)
# counts from the end of those. The payload is the compressed ELF vmlinux.
say "decompressing vmlinux (ELF, for PVH direct boot)"
z="$tmp/vmlinuz"
magic=$(od -An -c -j 514 -N4 "$z" | tr -d ' \n')
[ "$magic" = HdrS ] || die "vmlinuz is not an x86 bzImage (no HdrS header)"
setup_sects=$(u8 "$z" 497)
[ "$setup_sects" -ne 0 ] || setup_sects=4
payload=$(((setup_sects + 1) * 512 + $(u32 "$z" 584)))
head6=$(od -An -tx1 -j "$payload" -N6 "$z" | tr -d ' \n')
case $head6 in
fd377a585a00) # xz (Debian's choice); a size word follows the stream
    tail -c +$((payload + 1)) "$z" | xz -dc --single-stream >"$tmp/vmlinux" ||
        die "xz could not decompress the kernel payload" ;;
1f8b*)
    # gzip: a trailing size word makes gzip warn (status 2) after a good stream
    rc=0
    tail -c +$((payload + 1)) "$z" | gzip -dc >"$tmp/vmlinux" 2>/dev/null || rc=$?
    [ "$rc" -le 2 ] || die "gzip could not decompress the kernel payload" ;;
*)
    die "unsupported kernel compression (payload starts with $head6)" ;;
esac
[ "$(od -An -c -N4 "$tmp/vmlinux" | tr -d ' \n')" = '177ELF' ] ||
    die "the decompressed kernel is not an ELF file"

# --- initramfs ------------------------------------------------------------------
say "extracting busybox from $(basename "$bdeb")"
extract_member "$bdeb" ./bin/busybox "$x"

root="$tmp/root"
mkdir -p "$root"
cd "$root"
mkdir -p bin sbin usr/bin usr/sbin etc dev proc sys tmp root run var/log
chmod 1777 tmp
cp "$x/bin/busybox" bin/busybox
chmod 0755 bin/busybox

# one symlink per applet, at the path busybox itself lists (bin/sh, sbin/...)
napplets=0
set -f # applet names such as '[' are not patterns
for path in $(bin/busybox --list-full); do
    case $path in
    bin/busybox) continue ;;
    esac
    mkdir -p "${path%/*}"
    ln -sf /bin/busybox "$path"
    napplets=$((napplets + 1))
done
set +f

cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
EOF
cat >etc/group <<'EOF'
root:x:0:
EOF
echo board >etc/hostname

cat >init <<'EOF'
#!/bin/sh
# PID 1 of the emulated test board. board_* variables come from the kernel
# command line (unknown name=value arguments become init's environment).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts 2>/dev/null
exec </dev/console >/dev/console 2>&1
dmesg -n "${board_loglevel:-1}"
hostname board
export HOME=/root TERM="${TERM:-vt100}"
export PS1="${board_ps1:-board# }"
unset board_ps1
cd /root
# the console's shell: its own session with ttyS0 as controlling terminal,
# so job control is on and ^C reaches the foreground job; respawned on exit
while :; do
    if [ "${board_echo:-1}" = 0 ]; then
        stty -echo </dev/ttyS0
    fi
    setsid cttyhack sh
done
EOF
chmod 0755 init

say "packing initramfs ($napplets applet links)"
find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -9 -n >"$tmp/initramfs.cpio.gz"
cd "$tmp"

# --- install into OUTDIR ------------------------------------------------------------
rm -f "$out/board.info"
for f in vmlinuz vmlinux initramfs.cpio.gz; do
    mv "$tmp/$f" "$out/.$f.new"
    mv "$out/.$f.new" "$out/$f"
    say "wrote $out/$f ($(wc -c <"$out/$f" | tr -d ' ') bytes)"
done
cat >"$out/.board.info.new" <<EOF
kernel_package=$kpkg
kernel_version=$kdver
busybox_version=$bver
applet_links=$napplets
script_sha256=$script_sum
EOF
mv "$out/.board.info.new" "$out/board.info"
say "done in $(($(date +%s) - start)) s: $kpkg $kdver, busybox-static $bver"
