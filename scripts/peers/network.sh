# Network test tools (sourced by scripts/test): iproute2 (ip netns, veth, tc), iptables (the
# probes' tests hold SYN-ACKs in user space with `-j NFQUEUE`, drop and reject packets: this
# kernel has the xtables targets but not nftables' own `queue` and `reject`), ethtool
# (offloads off where drops must map one-to-one to retransmits). The tests make and remove
# their own namespaces; nothing is left running.

for tool in ip:iproute2 iptables:iptables ethtool:ethtool; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1 && [ ! -x "/usr/sbin/${tool%%:*}" ]; then
    say "installing ${tool#*:} (Debian)"
    sudo_cmd apt-get install -y --no-install-recommends "${tool#*:}" || {
      echo "error: missing: ${tool%%:*}: apt-get install ${tool#*:}" >&2; exit 1; }
  fi
done
