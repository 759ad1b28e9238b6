# tmux, groff and man-db for the CLI's tests (sourced by scripts/test): `top` is driven in a
# tmux pseudo-terminal (collector/tests/top.rs), and the generated man pages are rendered by
# groff with every warning on (collector/tests/admin.rs). Only the binaries are needed.

need_terminal=()
command -v tmux >/dev/null 2>&1 || need_terminal+=(tmux)
command -v groff >/dev/null 2>&1 || need_terminal+=(groff-base)
command -v man >/dev/null 2>&1 || need_terminal+=(man-db)
if [ ${#need_terminal[@]} -gt 0 ]; then
  say "installing ${need_terminal[*]} (Debian)"
  sudo_cmd apt-get install -y --no-install-recommends "${need_terminal[@]}" || {
    echo "error: missing: ${need_terminal[*]}: apt-get install ${need_terminal[*]}" >&2; exit 1; }
fi
