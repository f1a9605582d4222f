#!/bin/sh
# remoterepl-sshd: the entry point of the compose test servers (also runs natively: the
# test suite starts it on the host with the variables below pointing at temporary files).
#
#   remoterepl-sshd keys       create the client key pair in $KEYS_DIR unless it exists
#   remoterepl-sshd sshd NAME  fresh host keys, authorize $KEYS_DIR/id_ed25519.pub for
#                              $LOGIN_USER, publish the host key as $KEYS_DIR/host-NAME.pub,
#                              then run sshd in the foreground, logging to stderr
#
# Files written to $KEYS_DIR get the owner of $KEYS_DIR, so that a bind-mounted directory
# stays usable by the person who created it.
set -eu

KEYS_DIR=${KEYS_DIR:-/keys}
SSH_DIR=${SSH_DIR:-/etc/ssh}
LOGIN_USER=${LOGIN_USER:-rr}
SSHD_CONFIG=${SSHD_CONFIG:-/etc/ssh/sshd_config}
SSHD_PORT=${SSHD_PORT:-22}
SSHD_LISTEN=${SSHD_LISTEN:-0.0.0.0}
AUTHORIZED_KEYS=${AUTHORIZED_KEYS:-}

say() { printf 'remoterepl-sshd: %s\n' "$*" >&2; }

give_to_keys_owner() {
    owner=$(stat -c '%u:%g' "$KEYS_DIR")
    chown "$owner" "$@"
}

make_client_key() {
    mkdir -p "$KEYS_DIR"
    if [ -f "$KEYS_DIR/id_ed25519" ]; then
        say "client key $KEYS_DIR/id_ed25519 exists"
        return
    fi
    ssh-keygen -q -t ed25519 -N '' -C remoterepl-compose -f "$KEYS_DIR/id_ed25519"
    give_to_keys_owner "$KEYS_DIR/id_ed25519" "$KEYS_DIR/id_ed25519.pub"
    say "created client key $KEYS_DIR/id_ed25519"
}

make_host_keys() {
    for type in ed25519 rsa; do
        rm -f "$SSH_DIR/ssh_host_${type}_key" "$SSH_DIR/ssh_host_${type}_key.pub"
        ssh-keygen -q -t "$type" -N '' -C "$1" -f "$SSH_DIR/ssh_host_${type}_key"
    done
}

authorize_client_key() {
    if [ ! -f "$KEYS_DIR/id_ed25519.pub" ]; then
        say "no client key in $KEYS_DIR: run the 'keys' service first"
        exit 1
    fi
    if [ -n "$AUTHORIZED_KEYS" ]; then
        file=$AUTHORIZED_KEYS
    else
        home=$(getent passwd "$LOGIN_USER" | cut -d: -f6)
        install -d -m 700 -o "$LOGIN_USER" "$home/.ssh"
        file=$home/.ssh/authorized_keys
    fi
    cp "$KEYS_DIR/id_ed25519.pub" "$file"
    chmod 644 "$file"
}

publish_host_key() {
    cp "$SSH_DIR/ssh_host_ed25519_key.pub" "$KEYS_DIR/host-$1.pub"
    give_to_keys_owner "$KEYS_DIR/host-$1.pub"
}

run_sshd() {
    name=${1:-$(hostname)}
    make_host_keys "$name"
    authorize_client_key
    publish_host_key "$name"
    set -- -D -e -f "$SSHD_CONFIG" \
        -o "HostKey=$SSH_DIR/ssh_host_ed25519_key" -o "HostKey=$SSH_DIR/ssh_host_rsa_key" \
        -o "Port=$SSHD_PORT" -o "ListenAddress=$SSHD_LISTEN" -o "PidFile=$SSH_DIR/sshd.pid"
    if [ -n "$AUTHORIZED_KEYS" ]; then
        set -- "$@" -o "AuthorizedKeysFile=$AUTHORIZED_KEYS"
    fi
    mkdir -p /run/sshd
    say "starting sshd as '$name' for user $LOGIN_USER"
    exec /usr/sbin/sshd "$@"
}

case "${1:-sshd}" in
    keys) make_client_key ;;
    sshd) shift $(($# > 0 ? 1 : 0)); run_sshd "$@" ;;
    *) say "usage: remoterepl-sshd keys | sshd [NAME]"; exit 2 ;;
esac
