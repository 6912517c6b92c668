#!/usr/bin/env bash
# Builds the newer servers some tests run against when they are there (Redis 8.6, Valkey 9.1), from
# the source tarballs Debian ships (experimental / unstable), into a folder of builds laid out as the
# testkit reads it:  FERRY_REDIS_BUILDS=<dir> pnpm test
#
#   bash tooling/scripts/build-servers.sh [dir]      (default: ~/ferry-builds; about 8 min on 2 cores)
#
# Debian removes a tarball from its pool once a newer release replaces it: the script then says
# which one is gone (the current one is listed in dists/sid/main/source/Sources.xz).
set -euo pipefail
dir="${1:-$HOME/ferry-builds}"
mkdir -p "$dir/src"
pool=http://deb.debian.org/debian/pool/main

# name  tarball  md5 (from Debian's Sources index)  folder the tarball unpacks to  programs' prefix
builds=(
  "8.6.3 r/redis/redis_8.6.3.orig.tar.gz 93ac83a5b8c1e0570270e1d960278fca redis-8.6.3 redis"
  "valkey-9.1.2 v/valkey/valkey_9.1.2.orig.tar.gz 2f87e9ed4a98c093d85e2f90474498a7 valkey-io-valkey-7f1dffe valkey"
)

for b in "${builds[@]}"; do
  read -r name path md5 folder prog <<<"$b"
  if [ -x "$dir/$name/$prog-server" ]; then
    echo "$name: built already ($dir/$name)"
    continue
  fi
  tarball="$dir/src/$(basename "$path")"
  if [ ! -f "$tarball" ]; then
    echo "$name: downloading $pool/$path"
    if ! curl -fsSL -o "$tarball.part" "$pool/$path"; then
      echo "$name: $pool/$path is gone from Debian's pool (a newer release replaced it): update this script" >&2
      exit 1
    fi
    mv "$tarball.part" "$tarball"
  fi
  echo "$md5  $tarball" | md5sum -c --quiet -
  tar -xzf "$tarball" -C "$dir/src"
  echo "$name: building (make, no TLS, libc malloc)"
  make -C "$dir/src/$folder" -j"$(nproc)" BUILD_TLS=no MALLOC=libc >"$dir/src/$name.build.log" 2>&1 ||
    {
      echo "$name: the build failed, see $dir/src/$name.build.log" >&2
      exit 1
    }
  mkdir -p "$dir/$name"
  cp "$dir/src/$folder/src/$prog-server" "$dir/src/$folder/src/$prog-cli" "$dir/$name/"
  "$dir/$name/$prog-server" --version
done
echo "FERRY_REDIS_BUILDS=$dir pnpm test   # runs the tests that need these builds too"
