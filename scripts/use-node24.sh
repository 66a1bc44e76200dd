# Source this (`. scripts/use-node24.sh`) where the machine's own Node is older than 22.12,
# the project's floor: it fetches Node 24 LTS from the npm registry (the package
# node-linux-<arch> carries bin/node and include/node, the headers native builds need),
# keeps it in ~/.cache/stitch-edge and puts it first on PATH for this shell.
# A Node that is new enough is left alone.
STITCH_NODE_VERSION=24.22.3

stitch_node_is_new_enough() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) ? 0 : 1)'
}

if stitch_node_is_new_enough; then
  echo "[stitch-edge] using Node $(node --version)"
else
  case "$(uname -m)" in
    x86_64) stitch_arch=x64 ;;
    aarch64 | arm64) stitch_arch=arm64 ;;
    *) stitch_arch="" ;;
  esac
  stitch_node_dir="${XDG_CACHE_HOME:-$HOME/.cache}/stitch-edge/node-v$STITCH_NODE_VERSION"
  if [ -z "$stitch_arch" ] || [ "$(uname -s)" != Linux ]; then
    echo "[stitch-edge] install Node >= 22.12 (24 LTS recommended) from nodejs.org for $(uname -sm)" >&2
  elif [ -x "$stitch_node_dir/bin/node" ] ||
    (stitch_tmp=$(mktemp -d) && cd "$stitch_tmp" &&
      npm pack --silent "node-linux-$stitch_arch@$STITCH_NODE_VERSION" >/dev/null &&
      tar xzf node-linux-*.tgz && mkdir -p "$(dirname "$stitch_node_dir")" &&
      rm -rf "$stitch_node_dir" && mv package "$stitch_node_dir" && cd / && rm -rf "$stitch_tmp"); then
    PATH="$stitch_node_dir/bin:$PATH"
    export PATH
    echo "[stitch-edge] using Node $(node --version) from $stitch_node_dir"
  else
    echo "[stitch-edge] could not fetch node-linux-$stitch_arch@$STITCH_NODE_VERSION from the npm registry" >&2
  fi
fi
unset -f stitch_node_is_new_enough
unset stitch_arch stitch_node_dir
