# Network test tools (sourced by scripts/test): iproute2 (ip netns, veth, tc), nftables (the
# probes' tests hold SYN-ACKs in user space with `queue`, drop and reject packets), ethtool
# (offloads off where drops must map one-to-one to retransmits). The tests make and remove
# their own namespaces; nothing is left running.

for tool in ip:iproute2 nft:nftables ethtool:ethtool; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1 && [ ! -x "/usr/sbin/${tool%%:*}" ]; then
    say "installing ${tool#*:} (Debian)"
    sudo_cmd apt-get install -y --no-install-recommends "${tool#*:}" || {
      echo "error: missing: ${tool%%:*}: apt-get install ${tool#*:}" >&2; exit 1; }
  fi
done
