#!/usr/bin/env bash
# nginx/check.sh — `nginx -t` on both nginx configurations, in a temporary
# directory, without touching /etc/nginx or binding a port:
#   1. production: nginx/sotto.conf installed as documented into a copy of
#      Debian's nginx.conf (a throwaway certificate, logs in the temporary
#      directory);
#   2. development: the nginx.conf scripts/stack.sh renders from
#      nginx/dev.conf.in.
# Exits non-zero when either is rejected. Needs Debian's nginx,
# libnginx-mod-nchan and openssl. Run it from anywhere, as any user.
set -euo pipefail

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
NGINX=/usr/sbin/nginx
[ -x "$NGINX" ] || { echo "nginx/check.sh: $NGINX not found" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT
chmod 755 "$tmp"

cert() { # dir
	mkdir -p "$1"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-days 1 -subj /CN=nginx-check -keyout "$1/key.pem" -out "$1/cert.pem" \
		>/dev/null 2>&1
}

nginx_t() { # name prefix-dir [conf]
	local out
	if out=$("$NGINX" -t -q -p "$2/" -c "${3:-nginx.conf}" -e "$tmp/check-error.log" 2>&1); then
		echo "nginx/check.sh: $1: ok"
	else
		printf '%s\n' "$out" >&2
		echo "nginx/check.sh: $1: REJECTED" >&2
		return 1
	fi
}

rc=0

# ---- production -----------------------------------------------------------
# Installed as the header of nginx/sotto.conf says, into a copy of Debian's
# /etc/nginx (nginx.conf, mime.types, fastcgi_params, the nchan module), with
# /etc/nginx, the log directory and the certificate paths pointing into the
# temporary directory.
p=$tmp/prod
e=$p/etc
mkdir -p "$e/snippets" "$e/sites-enabled" "$e/conf.d" "$e/modules-enabled" "$p/logs" "$p/nchan"
cert "$p/tls"
cp /etc/nginx/nginx.conf /etc/nginx/mime.types /etc/nginx/fastcgi_params "$e/"
cp /etc/nginx/modules-enabled/*nchan*.conf "$e/modules-enabled/"
cp "$REPO/nginx/sotto-http.conf" "$REPO/nginx/sotto-locations.conf" "$e/snippets/"
sed -i -e "s|/etc/nginx|$e|g" -e "s|/run/nginx.pid|$p/nginx.pid|" \
	-e "s|/var/log/nginx|$p/logs|g" "$e/nginx.conf"
sed -e "s|/etc/letsencrypt/live/sotto.example/fullchain.pem|$p/tls/cert.pem|" \
	-e "s|/etc/letsencrypt/live/sotto.example/privkey.pem|$p/tls/key.pem|" \
	-e "s|/var/log/nginx/|$p/logs/|g" \
	-e "s|/run/sotto-nchan/|$p/nchan/|g" \
	"$REPO/nginx/sotto.conf" >"$e/sites-enabled/sotto"
if grep -nE '^[^#]*(letsencrypt|/var/log/nginx|/run/sotto-nchan)' "$e/sites-enabled/sotto" >&2; then
	echo "nginx/check.sh: production paths changed; update the substitutions above" >&2
	exit 1
fi
# nginx -t binds the listening sockets (it only tolerates "address in use"):
# without root, move ports 80 and 443 out of the privileged range.
if [ "$(id -u)" != 0 ]; then
	sed -i -e 's/listen \(\[::\]:\)\{0,1\}80 /listen \118080 /' \
		-e 's/listen \(\[::\]:\)\{0,1\}443 /listen \118443 /' "$e/sites-enabled/sotto"
fi
# Debian's module snippets name the module relative to nginx's prefix.
nginx_t "production (nginx/sotto.conf in Debian's nginx.conf)" /usr/share/nginx "$e/nginx.conf" || rc=1

# ---- development ------------------------------------------------------------
d=$tmp/dev
mkdir -p "$d/var/log" "$d/var/run/nchan" "$d/var/nginx/tmp"
cert "$d/var/nginx"
SOTTO_VAR=$d/var bash "$REPO/scripts/stack.sh" nginx-conf >"$d/var/nginx/nginx.conf"
nginx_t "development (nginx/dev.conf.in)" "$d/var/nginx" || rc=1

exit "$rc"
