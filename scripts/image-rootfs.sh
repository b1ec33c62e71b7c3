#!/usr/bin/env bash
# The images' base root filesystem, distroless-style: `image-rootfs.sh DIR` fills DIR with the
# files of a few Debian packages (unpacked with dpkg-deb, never installed: no maintainer scripts,
# no dpkg database, no shell), what their maintainer scripts would have generated (the CA bundle),
# and the users. The packages are this machine's apt candidates (Debian 12, glibc 2.36: Node 24
# needs >= 2.28), cached as $QWEN_CACHE/debs/NAME_VERSION_ARCH.deb.
# Each package's control fields go to var/lib/dpkg/status.d/NAME, where image scanners (trivy,
# grype, syft) look for them in distroless images; the SBOM is generated from the same files.
. "$(dirname "$0")/lib.sh"
root="${1:?usage: image-rootfs.sh DIR}"

# Only what node and node-llama-cpp's CPU prebuilt link against (ldd: libc, libm, libdl,
# libpthread, libstdc++, libgcc_s; gcc-12-base holds the copyright the gcc libraries' docs link to),
# plus TLS roots, zoneinfo, /etc/services and os-release.
QWEN_IMAGE_DEBS=(base-files netbase tzdata ca-certificates libc6 libgcc-s1 libstdc++6 gcc-12-base)

debs="$QWEN_CACHE/debs"
mkdir -p "$debs"

# fetch_deb NAME: prints the cached .deb of the apt candidate version, downloading it once.
fetch_deb() {
  local name="$1" version arch file
  version="$(apt-cache show --no-all-versions "$name" 2>/dev/null | sed -n 's/^Version: //p' | head -1)"
  arch="$(apt-cache show --no-all-versions "$name" 2>/dev/null | sed -n 's/^Architecture: //p' | head -1)"
  [ -n "$version" ] || return 1
  file="$debs/${name}_${version//:/%3a}_${arch}.deb"
  if [ ! -s "$file" ]; then
    local tmp; tmp="$(mktemp -d)"; chmod 755 "$tmp"   # apt's _apt user writes there when run as root
    (cd "$tmp" && apt-get download -qq "$name=$version" >/dev/null 2>&1) || { rm -rf "$tmp"; return 1; }
    mv "$tmp"/*.deb "$file" && rm -rf "$tmp"
  fi
  printf '%s\n' "$file"
}

command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || die "apt-get and dpkg-deb are needed (Debian or Ubuntu)"
files=()
for name in "${QWEN_IMAGE_DEBS[@]}"; do
  f="$(fetch_deb "$name")" || {
    [ "$(id -u)" = 0 ] || die "no apt candidate for $name: run apt-get update"
    log "apt-get update (no candidate for $name)"; apt-get update -qq >/dev/null
    f="$(fetch_deb "$name")" || die "could not download $name"
  }
  files+=("$f")
done

rm -rf "$root" && mkdir -p "$root/var/lib/dpkg/status.d"
for f in "${files[@]}"; do
  dpkg-deb -x "$f" "$root"
  name="$(dpkg-deb -f "$f" Package)"
  dpkg-deb -f "$f" > "$root/var/lib/dpkg/status.d/$name"
done

cd "$root"
# What nothing at run time reads: docs (the copyright files stay: licences travel with binaries),
# manuals, translations, gdb/python helpers, iconv modules, and the packages' shell scripts.
find usr/share/doc -mindepth 2 ! -type d ! -regex 'usr/share/doc/[^/]*/copyright' -delete
rm -rf usr/share/man usr/share/info usr/share/locale usr/share/lintian usr/share/gcc usr/share/gdb \
  usr/share/base-files usr/lib/x86_64-linux-gnu/gconv usr/sbin/update-ca-certificates etc/update-motd.d
find . -depth -type d -empty -delete

# ca-certificates' postinst: every Mozilla root, concatenated in name order.
mkdir -p etc/ssl/certs
find usr/share/ca-certificates -name '*.crt' | LC_ALL=C sort | xargs cat > etc/ssl/certs/ca-certificates.crt
ln -sfn /usr/share/zoneinfo/Etc/UTC etc/localtime
echo "Etc/UTC" > etc/timezone

# The users of distroless images: the app runs as nonroot (65532), no login shell anywhere.
cat > etc/passwd <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat > etc/group <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n' > etc/nsswitch.conf
log "image-rootfs: ${#files[@]} packages -> $root ($(du -sh . | cut -f1))"
