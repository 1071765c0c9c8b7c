#!/bin/sh
# Make a busybox base-image rootfs tarball from the host's busybox-static.
#   scripts/mkbusybox-rootfs.sh OUT.tar
# The tar holds /bin/busybox, a link for every applet (busybox --list-full),
# /etc/passwd and /etc/group like Docker Hub's busybox, and /tmp with mode 1777.
# Import it with: dockyard import OUT.tar busybox:latest --change 'CMD ["sh"]'
set -eu
out=${1:?usage: mkbusybox-rootfs.sh OUT.tar}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "mkbusybox-rootfs: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }
"$busybox" --list-full >/dev/null 2>&1 || { echo "mkbusybox-rootfs: $busybox is not a busybox binary" >&2; exit 1; }

root=$(mktemp -d)
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" \
         "$root/root" "$root/home" "$root/var/spool/mail" "$root/var/www" "$root/dev" "$root/proc" "$root/sys"
install -m 0755 "$busybox" "$root/bin/busybox"
"$busybox" --list-full | while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -f "$root/bin/busybox" "$root/$applet"
done
mkdir -m 1777 "$root/tmp"
chmod 0700 "$root/root"
cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
mail:x:12:
www-data:x:33:
operator:x:37:
staff:x:50:
users:x:100:
nogroup:x:65534:
GROUP
# Reproducible: the same busybox gives the same tar, hence the same layer digest.
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$out" .
