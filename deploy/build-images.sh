#!/bin/sh
# Builds the four service images from the repository root (where a container engine exists).
#   deploy/build-images.sh [TAG]        default tag: the version in package.json
# ENGINE=podman deploy/build-images.sh  to use podman instead of docker.
set -eu
cd "$(dirname "$0")/.."
TAG="${1:-$(node -p "require('./package.json').version")}"
ENGINE="${ENGINE:-docker}"
for service in auth gateway push-core transport; do
  "$ENGINE" build -f "apps/$service/Dockerfile" -t "borealis/$service:$TAG" .
done
