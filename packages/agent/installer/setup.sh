#!/usr/bin/env bash
# dc-agent installer, served by dc-api at GET /setup. The dashboard's one-liner runs it:
#
#   curl --proto '=https' -fsSL https://api.example.net/setup | bash -s -- \
#     --token apt_europe_… --api-url https://api.example.net --server-key 3b6a…
#
# It downloads the agent bundle from the same API and checks its SHA-256, makes sure Node.js 18+
# is there, creates the `dc-agent` system user, installs the agent, runs `dc-agent setup` (which
# generates the agent key on this host and writes /etc/dc-agent/config.toml, mode 0600), and
# installs and enables a systemd unit where systemd runs.
#
# Options (each also from the environment):
#   --token T          one-time setup token                      DC_SETUP_TOKEN
#   --token-file F     read the token from a file                 DC_SETUP_TOKEN_FILE
#   --api-url U        dc-api base URL (https; http only for loopback)   DC_API_URL
#   --server-key K     pin the API's server key (64 hex)          DC_SERVER_KEY
#   --label L          agent label shown in the dashboard         DC_AGENT_LABEL
#   --prefix DIR       install under DIR instead of /             DC_AGENT_PREFIX
#                      (DIR/usr/local/…, DIR/etc/…; systemctl is not called)
#   --force            register again although this host is set up   DC_AGENT_FORCE=1
#   --skip-user        do not create the dc-agent user or chown   DC_AGENT_SKIP_USER=1
#   --no-systemd       do not enable the systemd unit             DC_AGENT_NO_SYSTEMD=1
#
# The whole script is one function, called on the last line: a download cut short runs nothing.

dc_agent_install() {
  set -euo pipefail
  umask 077

  local token="${DC_SETUP_TOKEN:-}" token_file="${DC_SETUP_TOKEN_FILE:-}" api_url="${DC_API_URL:-}"
  local server_key="${DC_SERVER_KEY:-}" label="${DC_AGENT_LABEL:-}" prefix="${DC_AGENT_PREFIX:-}"
  local force="${DC_AGENT_FORCE:-0}" skip_user="${DC_AGENT_SKIP_USER:-0}" no_systemd="${DC_AGENT_NO_SYSTEMD:-0}"
  local agent_user="dc-agent"

  say() { printf '%s\n' "dc-agent installer: $*" >&2; }
  die() { say "error: $*"; exit 1; }
  need_value() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }

  while [ $# -gt 0 ]; do
    case "$1" in
      --token) need_value "$@"; token="$2"; shift 2 ;;
      --token=*) token="${1#*=}"; shift ;;
      --token-file) need_value "$@"; token_file="$2"; shift 2 ;;
      --token-file=*) token_file="${1#*=}"; shift ;;
      --api-url) need_value "$@"; api_url="$2"; shift 2 ;;
      --api-url=*) api_url="${1#*=}"; shift ;;
      --server-key) need_value "$@"; server_key="$2"; shift 2 ;;
      --server-key=*) server_key="${1#*=}"; shift ;;
      --label) need_value "$@"; label="$2"; shift 2 ;;
      --label=*) label="${1#*=}"; shift ;;
      --prefix) need_value "$@"; prefix="$2"; shift 2 ;;
      --prefix=*) prefix="${1#*=}"; shift ;;
      --force) force=1; shift ;;
      --skip-user) skip_user=1; shift ;;
      --no-systemd) no_systemd=1; shift ;;
      -h|--help)
        sed -n '2,30p' "${BASH_SOURCE[0]:-/dev/null}" 2>/dev/null || true
        say "usage: bash setup.sh --token T --api-url U [--server-key K] [--label L] [--prefix DIR] [--force]"
        return 0 ;;
      *) die "unknown option: $1 (see --help)" ;;
    esac
  done

  # ---- inputs -----------------------------------------------------------------------------
  [ -n "$api_url" ] || die "--api-url is required (the dc-api base URL from the setup command)"
  api_url="${api_url%/}"
  local curl_opts=(-fsSL --retry 3 --retry-delay 1)
  case "$api_url" in
    https://*) curl_opts+=(--proto '=https' --tlsv1.2) ;;
    http://127.*|http://localhost|http://localhost:*|http://\[::1\]|http://\[::1\]:*) ;;
    *) die "--api-url must use https (plain http only for loopback addresses): $api_url" ;;
  esac
  if [ -z "$token" ] && [ -z "$token_file" ]; then
    die "a setup token is required: --token, --token-file or DC_SETUP_TOKEN (dashboard: pool, Add agent)"
  fi
  if [ -n "$server_key" ] && ! printf '%s' "$server_key" | grep -Eq '^[0-9a-fA-F]{64}$'; then
    die "--server-key must be 64 hex characters"
  fi
  if [ -n "$prefix" ]; then
    mkdir -p "$prefix"
    prefix="$(cd "$prefix" && pwd)"
  fi

  local is_root=0
  [ "$(id -u)" -eq 0 ] && is_root=1
  local manage_user=1
  if [ "$is_root" -ne 1 ] || [ "$skip_user" = 1 ]; then manage_user=0; fi

  local lib_dir="$prefix/usr/local/lib/dc-agent"
  local bin="$prefix/usr/local/bin/dc-agent"
  local conf_dir="$prefix/etc/dc-agent"
  local config="$conf_dir/config.toml"
  local unit_dir="$prefix/etc/systemd/system"
  local unit="$unit_dir/dc-agent.service"

  # ---- Node.js ----------------------------------------------------------------------------
  local node_bin
  node_bin="$(command -v node || true)"
  if [ -z "$node_bin" ]; then
    die "Node.js 18 or newer is required and was not found. Install it first, for example:
    Debian 12 / Ubuntu 24.04 / Proxmox VE 8:  apt-get install -y nodejs
    other systems: https://nodejs.org/en/download (or your distribution's nodejs package)
  then run this command again."
  fi
  local node_major
  node_major="$("$node_bin" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [ "${node_major:-0}" -lt 18 ]; then
    die "Node.js $("$node_bin" --version 2>/dev/null || echo '?') at $node_bin is too old; dc-agent needs 18 or newer (apt-get install -y nodejs on Debian 12, or https://nodejs.org/en/download)."
  fi

  # ---- download and verify -------------------------------------------------------------------
  command -v curl >/dev/null 2>&1 || die "curl is required"
  # Global, not local: the EXIT trap runs after this function has returned.
  DC_AGENT_INSTALL_TMP="$(mktemp -d)"
  trap 'rm -rf "$DC_AGENT_INSTALL_TMP"' EXIT
  local tmp="$DC_AGENT_INSTALL_TMP"
  say "downloading the agent from $api_url"
  curl "${curl_opts[@]}" -o "$tmp/dc-agent.mjs" "$api_url/downloads/dc-agent.mjs" \
    || die "could not download $api_url/downloads/dc-agent.mjs"
  curl "${curl_opts[@]}" -o "$tmp/dc-agent.mjs.sha256" "$api_url/downloads/dc-agent.mjs.sha256" \
    || die "could not download $api_url/downloads/dc-agent.mjs.sha256"
  local want got
  want="$(cut -d' ' -f1 < "$tmp/dc-agent.mjs.sha256" | tr 'A-F' 'a-f')"
  if command -v sha256sum >/dev/null 2>&1; then
    got="$(sha256sum "$tmp/dc-agent.mjs" | cut -d' ' -f1)"
  elif command -v shasum >/dev/null 2>&1; then
    got="$(shasum -a 256 "$tmp/dc-agent.mjs" | cut -d' ' -f1)"
  else
    got="$("$node_bin" -e 'const c=require("crypto"),f=require("fs");process.stdout.write(c.createHash("sha256").update(f.readFileSync(process.argv[1])).digest("hex"))' "$tmp/dc-agent.mjs")"
  fi
  printf '%s' "$want" | grep -Eq '^[0-9a-f]{64}$' || die "the published checksum is not a SHA-256: $want"
  [ "$got" = "$want" ] || die "checksum mismatch for dc-agent.mjs (got $got, the API says $want); nothing was installed"
  say "checksum verified ($got)"

  # ---- user --------------------------------------------------------------------------------
  if [ "$manage_user" -eq 1 ]; then
    if ! id -u "$agent_user" >/dev/null 2>&1; then
      local nologin
      nologin="$(command -v nologin || echo /usr/sbin/nologin)"
      useradd --system --user-group --no-create-home --home-dir /nonexistent --shell "$nologin" "$agent_user" \
        || die "could not create the $agent_user user"
      say "created system user $agent_user"
    fi
  else
    say "not creating the $agent_user user (not root, or --skip-user)"
  fi

  # ---- install -----------------------------------------------------------------------------
  umask 022
  mkdir -p "$lib_dir" "$(dirname "$bin")"
  install -m 0755 "$tmp/dc-agent.mjs" "$lib_dir/dc-agent.mjs.new"
  mv -f "$lib_dir/dc-agent.mjs.new" "$lib_dir/dc-agent.mjs"
  cat > "$bin.new" <<EOF
#!/bin/sh
# dc-agent launcher, written by the installer.
exec "$node_bin" "$lib_dir/dc-agent.mjs" "\$@"
EOF
  chmod 0755 "$bin.new"
  mv -f "$bin.new" "$bin"
  say "installed $("$bin" --version) to $lib_dir (launcher $bin)"

  # ---- setup -------------------------------------------------------------------------------
  # Parents (…/etc under a prefix) get the usual 0755; only the config directory itself is private.
  (umask 022 && mkdir -p "$(dirname "$conf_dir")")
  umask 077
  mkdir -p "$conf_dir"
  chmod 0700 "$conf_dir"
  if [ -f "$config" ] && [ "$force" != 1 ]; then
    say "$config exists: this host is already set up, so only the agent was upgraded (pass --force to register it again)"
  else
    local args=(setup --non-interactive --api-url "$api_url" --config "$config")
    [ -n "$server_key" ] && args+=(--server-key "$server_key")
    [ -n "$label" ] && args+=(--label "$label")
    [ "$force" = 1 ] && args+=(--force)
    # --skip-user: the files stay root's, whatever users exist.
    [ "$manage_user" -eq 1 ] || args+=(--service-user "")
    if [ -n "$token_file" ]; then
      args+=(--token-file "$token_file")
      env -u DC_SETUP_TOKEN "$bin" "${args[@]}" || die "dc-agent setup failed (see above)"
    else
      # The token goes through the environment, not argv: ps shows argv to every user.
      DC_SETUP_TOKEN="$token" "$bin" "${args[@]}" || die "dc-agent setup failed (see above)"
    fi
  fi
  chmod 0600 "$config" "$conf_dir/agent.key" 2>/dev/null || true
  if [ "$manage_user" -eq 1 ]; then
    chown -R "$agent_user:$agent_user" "$conf_dir"
  fi

  # ---- systemd -----------------------------------------------------------------------------
  umask 022
  mkdir -p "$unit_dir"
  cat > "$unit" <<EOF
[Unit]
Description=dc-agent: provisions contracts from dc-api on this host
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=$agent_user
Group=$agent_user
ExecStart=$bin run --config $config
Restart=on-failure
RestartSec=10
# 78: the provider revoked this agent; restarting cannot help.
RestartPreventExitStatus=78
# SIGTERM to the agent only: it lets running provisions finish (shutdown_grace_seconds,
# default 120) or tears them down and releases their leases, then exits 0.
KillMode=mixed
TimeoutStopSec=180
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=full
ReadWritePaths=$conf_dir

[Install]
WantedBy=multi-user.target
EOF
  chmod 0644 "$unit"
  if [ -z "$prefix" ] && [ "$no_systemd" != 1 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
    systemctl enable dc-agent.service >/dev/null 2>&1 || die "systemctl enable dc-agent failed"
    if "$bin" doctor --offline --config "$config" >/dev/null 2>&1; then
      systemctl restart dc-agent.service
      say "dc-agent is enabled and running: systemctl status dc-agent, dc-agent status"
    else
      say "dc-agent is enabled; fill in $config (see above), check it with 'dc-agent doctor', then: systemctl start dc-agent"
    fi
  else
    say "wrote $unit (systemctl not called: prefix install, --no-systemd, or no systemd here)"
    say "after filling in $config, run: $bin doctor --config $config && $bin run --config $config"
  fi
  say "done"
}

dc_agent_install "$@"
